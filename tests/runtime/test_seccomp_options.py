"""security_opt as the daemon reads it, and what a container's options make of its process spec
(capabilities, no_new_privileges, the seccomp program) — pure, no kernel."""
from __future__ import annotations

import json

import pytest

from engine.containers import setup
from engine.containers.model import parse_create
from engine.errors import BadParameter
from engine.runtime.capabilities import DOCKER_DEFAULT_MASK, held_by_engine, mask_of
from engine.runtime.seccomp import cache
from engine.runtime.seccomp.options import SecurityOptions, parse_security_opts

DENY = json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})


@pytest.mark.parametrize("opts, want", [
    ([], SecurityOptions()),
    (["no-new-privileges"], SecurityOptions(no_new_privileges=True)),
    (["no-new-privileges:true"], SecurityOptions(no_new_privileges=True)),
    (["no-new-privileges=false"], SecurityOptions()),
    (["no-new-privileges=1", "no-new-privileges=0"], SecurityOptions()),   # the last one wins
    (["seccomp=unconfined"], SecurityOptions(seccomp="unconfined")),
    (["seccomp:builtin"], SecurityOptions(seccomp="builtin")),
    ([f"seccomp={DENY}"], SecurityOptions(seccomp=DENY)),
    (["apparmor=docker-default"], SecurityOptions(apparmor="docker-default")),
    (["label=disable", "disable", "label:user:u"],
     SecurityOptions(labels=("disable", "disable", "user:u"))),
    (["writable-cgroups", "writable-cgroups=false"], SecurityOptions()),
])
def test_accepted_security_opts(opts, want):
    assert parse_security_opts(opts) == want


@pytest.mark.parametrize("opt, message", [
    ("foo", 'invalid --security-opt 1: "foo"'),
    ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
    ("no-new-privileges=yes", 'invalid --security-opt 2: "no-new-privileges=yes"'),
    ("systempaths=unconfined", 'invalid --security-opt 2: "systempaths=unconfined"'),
    ("bogus=" + "x" * 200, 'invalid --security-opt 2: "bogus=xxx'),
])
def test_refused_security_opts_are_one_short_line(opt, message):
    with pytest.raises(BadParameter) as info:
        parse_security_opts([opt])
    assert str(info.value).startswith(message) and len(str(info.value)) < 120


def _cfg(**host):
    return parse_create({"Image": "busybox", "Cmd": ["true"], "HostConfig": host})


def test_a_bad_profile_or_capability_is_refused_at_create():
    with pytest.raises(BadParameter, match="invalid seccomp profile"):
        _cfg(SecurityOpt=['seccomp={"defaultAction": "SCMP_ACT_NOPE"}'])
    with pytest.raises(BadParameter, match='invalid CapDrop: unknown capability: "CAP_NOPE"'):
        _cfg(CapDrop=["nope"])
    assert _cfg(CapAdd=["cap_net_admin", "SYS_TIME", "ALL"]).cap_add == (
        "cap_net_admin", "SYS_TIME", "ALL")


def test_default_container_gets_docker_caps_and_the_builtin_filter():
    fields = setup.confinement(_cfg())
    assert fields["seccomp_filter"] == cache.filter_for("", DOCKER_DEFAULT_MASK)
    assert fields["seccomp_filter"] and not fields["no_new_privileges"]
    assert (fields["cap_add"], fields["cap_drop"]) == ((), ())


def test_filter_follows_the_capabilities():
    fields = setup.confinement(_cfg(CapAdd=["SYS_ADMIN"], CapDrop=["CHOWN"],
                                    SecurityOpt=["no-new-privileges"]))
    caps = (DOCKER_DEFAULT_MASK | mask_of(["SYS_ADMIN"])) & ~mask_of(["CHOWN"]) & held_by_engine()
    assert fields["seccomp_filter"] == cache.filter_for("", caps)
    assert fields["no_new_privileges"]


def test_privileged_and_unconfined():
    fields = setup.confinement(_cfg(Privileged=True, CapDrop=["ALL"]))
    assert fields["seccomp_filter"] == "" and fields["cap_add"] == ("ALL",)
    assert fields["cap_drop"] == ()  # --privileged ignores --cap-drop, as Docker
    named = setup.confinement(_cfg(Privileged=True, SecurityOpt=[f"seccomp={DENY}"]))
    assert named["seccomp_filter"] == cache.filter_for(DENY, held_by_engine())
    assert setup.confinement(_cfg(SecurityOpt=["seccomp=unconfined"]))["seccomp_filter"] == ""


def test_privileged_exec_widens_caps_but_keeps_the_container_filter():
    cfg = _cfg(CapDrop=["ALL"])
    plain, wide = setup.confinement(cfg), setup.confinement(cfg, privileged_exec=True)
    assert wide["seccomp_filter"] == plain["seccomp_filter"] == cache.filter_for("", 0)
    assert wide["cap_add"] == ("ALL",) and plain["cap_drop"] == ("ALL",)
