"""security_opt, cap_add/cap_drop, privileged and read_only through the real CLI: `pycompose up`,
`run`, `exec [--privileged]`, and `pycompose container run` with a seccomp profile file."""
from __future__ import annotations

import json
import re

import pytest

from engine.runtime.capabilities import held_by_engine, mask_of

pytestmark = pytest.mark.integration

STATUS = "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status"
DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
STACK = """
services:
  locked:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    read_only: true
    cap_drop: [ALL]
    cap_add: [NET_ADMIN]
    security_opt: ["seccomp:./deny-mkdir.json", "no-new-privileges:true"]
  open:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    privileged: true
"""


def status(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+):\s+(\S+)$", text, re.M))


def test_compose_up_run_and_exec_honour_the_security_settings(engine, project):
    (project / "compose.yaml").write_text(STACK)
    (project / "deny-mkdir.json").write_text(json.dumps(DENY_MKDIR, indent=2))
    engine.cli("up", "-d", cwd=project, check=True)

    r = engine.cli("exec", "-T", "locked", "sh", "-c",
                   f"{STATUS}; mkdir /tmp/x; echo mkdir=$?; touch /y; echo touch=$?", cwd=project)
    fields = status(r.stdout)
    assert fields["Seccomp"] == "2" and fields["NoNewPrivs"] == "1"
    assert int(fields["CapEff"], 16) == mask_of(["NET_ADMIN"])
    assert "mkdir=1" in r.stdout and "Operation not permitted" in r.stderr + r.stdout
    assert "touch=1" in r.stdout and "Read-only file system" in r.stderr + r.stdout

    r = engine.cli("exec", "-T", "--privileged", "locked", "sh", "-c", STATUS, cwd=project)
    fields = status(r.stdout)
    assert int(fields["CapEff"], 16) == held_by_engine() and fields["Seccomp"] == "2"

    r = engine.cli("exec", "-T", "open", "sh", "-c", STATUS, cwd=project)
    fields = status(r.stdout)
    assert int(fields["CapEff"], 16) == held_by_engine() and fields["Seccomp"] == "0"

    r = engine.cli("run", "--rm", "-T", "locked", "sh", "-c", f"{STATUS}; mkdir /tmp/z; "
                   "echo mkdir=$?", cwd=project)
    fields = status(r.stdout)
    assert fields["Seccomp"] == "2" and "mkdir=1" in r.stdout, r.stdout + r.stderr


def test_compose_names_a_missing_profile(engine, project):
    (project / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox:latest\n    security_opt: [seccomp=nope.json]\n")
    r = engine.cli("up", "-d", cwd=project)
    assert r.returncode != 0
    assert "nope.json" in r.stderr and "Traceback" not in r.stderr


def test_engine_cli_run_with_a_profile_file_and_privileged(engine, tmp_path):
    profile = tmp_path / "deny.json"
    profile.write_text(json.dumps(DENY_MKDIR))
    r = engine.cli("container", "run", "--rm", "--security-opt", f"seccomp={profile}",
                   "busybox", "sh", "-c", "mkdir /tmp/q; echo mkdir=$?")
    assert "mkdir=1" in r.stdout and "Operation not permitted" in r.stdout + r.stderr
    r = engine.cli("container", "run", "--rm", "--privileged", "busybox", "sh", "-c", STATUS)
    fields = status(r.stdout)
    assert fields["Seccomp"] == "0" and int(fields["CapEff"], 16) == held_by_engine()
    r = engine.cli("container", "run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
    assert r.returncode != 0 and 'invalid --security-opt 2: "bogus=1"' in r.stderr
