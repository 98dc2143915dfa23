"""security_opt in the create body: a seccomp profile file is sent as its JSON, as Compose does."""
from __future__ import annotations

import json

import pytest

from compose.canonical import service_from
from compose.orchestrator.create_body import CreateContext, create_body
from compose.orchestrator.errors import OrchestratorError
from compose.orchestrator.labels import WORKING_DIR


def _ctx(project_dir) -> CreateContext:
    return CreateContext(project="p", service="web", name="p-web-1",
                         labels={WORKING_DIR: str(project_dir)})


def test_seccomp_file_relative_to_the_project_is_sent_compacted(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    (tmp_path / "seccomp.json").write_text(json.dumps(profile, indent=4))
    service = {"image": "busybox", "privileged": True, "cap_add": ["NET_ADMIN"],
               "security_opt": ["seccomp:./seccomp.json", "no-new-privileges:true",
                                "seccomp=unconfined", "apparmor=x"]}
    host = create_body(service_from("web", service), _ctx(tmp_path))["HostConfig"]
    assert host["SecurityOpt"] == ["seccomp=" + json.dumps(profile, separators=(",", ":")),
                                   "no-new-privileges:true", "seccomp=unconfined", "apparmor=x"]
    assert host["Privileged"] is True and host["CapAdd"] == ["NET_ADMIN"]


def test_missing_or_bad_seccomp_file_names_the_service_and_option(tmp_path):
    with pytest.raises(OrchestratorError, match="'web'.*seccomp=nope.json.*cannot read"):
        create_body(service_from("web", {"image": "busybox", "security_opt": ["seccomp=nope.json"]}),
                    _ctx(tmp_path))
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(OrchestratorError, match="not JSON"):
        create_body(service_from("web", {"image": "busybox", "security_opt": ["seccomp=bad.json"]}),
                    _ctx(tmp_path))
