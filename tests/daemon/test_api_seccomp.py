"""Docker's default confinement over the API (docker SDK): the seccomp filter, security_opt,
capabilities, privileged, read-only root — seen from inside real containers."""
from __future__ import annotations

import json
import re

import docker
import pytest

from engine.runtime.capabilities import DOCKER_DEFAULT_MASK, held_by_engine, mask_of

pytestmark = pytest.mark.integration

STATUS = "grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status"
DENY_MKDIR = json.dumps({
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})


def run(client, cmd: str, **kw) -> str:
    return client.containers.run("busybox", ["sh", "-c", cmd], remove=True,
                                 stderr=True, **kw).decode()


def status(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+):\s+(\S+)$", text, re.M))


def test_default_filter_refuses_what_capabilities_alone_would_allow(client):
    """`unshare -Urm` needs no capability (a user namespace first), so only the filter stops
    it: EPERM by default, success with seccomp=unconfined."""
    out = run(client, f"{STATUS}; unshare -Urm true; echo unshare=$?; "
                      "mkdir /tmp/d && echo mkdir=ok")
    fields = status(out)
    assert fields["Seccomp"] == "2" and fields["NoNewPrivs"] == "0"
    assert int(fields["CapEff"], 16) == DOCKER_DEFAULT_MASK
    assert "Operation not permitted" in out and "unshare=1" in out
    assert "mkdir=ok" in out
    out = run(client, f"{STATUS}; unshare -Urm true; echo unshare=$?",
              security_opt=["seccomp=unconfined"])
    assert status(out)["Seccomp"] == "0" and "unshare=0" in out


def test_a_file_profile_denies_mkdir_and_inspect_shows_it(client):
    out = run(client, "mkdir /tmp/x; echo rc=$?; touch /tmp/f && echo touch=ok",
              security_opt=[f"seccomp={DENY_MKDIR}"])
    assert "Operation not permitted" in out and "rc=1" in out and "touch=ok" in out
    c = client.containers.create("busybox", ["true"], security_opt=[f"seccomp={DENY_MKDIR}"])
    try:
        assert c.attrs["HostConfig"]["SecurityOpt"] == [f"seccomp={DENY_MKDIR}"]
    finally:
        c.remove()


def test_cap_sys_admin_opens_unshare_in_the_default_profile(client):
    """Docker's includes.caps: with CAP_SYS_ADMIN the default filter allows unshare/mount."""
    out = run(client, "unshare -m true && echo unshare=ok; mkdir /tmp/m; "
                      "mount -t tmpfs none /tmp/m && echo mount=ok", cap_add=["SYS_ADMIN"])
    assert "unshare=ok" in out and "mount=ok" in out


def test_no_new_privileges_and_capabilities(client):
    fields = status(run(client, STATUS, security_opt=["no-new-privileges"]))
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    assert status(run(client, STATUS, security_opt=["no-new-privileges:false"]))[
        "NoNewPrivs"] == "0"
    fields = status(run(client, STATUS, cap_drop=["ALL"], cap_add=["NET_ADMIN"]))
    assert int(fields["CapEff"], 16) == mask_of(["NET_ADMIN"])
    fields = status(run(client, STATUS, cap_drop=["CAP_CHOWN", "net_raw"]))
    assert int(fields["CapEff"], 16) == DOCKER_DEFAULT_MASK & ~mask_of(["CHOWN", "NET_RAW"])


def test_privileged_has_every_capability_no_filter_and_the_host_devices(client):
    out = run(client, f"{STATUS}; : < /dev/kmsg && echo kmsg=ok; grep ' /sys ' /proc/mounts",
              privileged=True)
    fields = status(out)
    assert int(fields["CapEff"], 16) == held_by_engine()  # the daemon's set, as ours
    assert fields["Seccomp"] == "0"
    assert "kmsg=ok" in out and " /sys sysfs rw," in out
    out = run(client, "ls /dev/kmsg; grep ' /sys ' /proc/mounts")
    assert "No such file" in out and " /sys sysfs ro," in out


def test_exec_runs_under_the_container_filter_and_privileged_exec_gets_all_caps(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        code, out = c.exec_run(["sh", "-c", STATUS])
        fields = status(out.decode())
        assert code == 0 and fields["Seccomp"] == "2"
        assert int(fields["CapEff"], 16) == DOCKER_DEFAULT_MASK
        code, out = c.exec_run(["sh", "-c", STATUS], privileged=True)
        fields = status(out.decode())
        assert int(fields["CapEff"], 16) == held_by_engine()  # the daemon's set, as ours
        assert fields["Seccomp"] == "2"  # exec --privileged keeps the container's filter
    finally:
        c.remove(force=True)


def test_read_only_root(client):
    out = run(client, "touch /x; echo rc=$?; touch /tmp/y; echo tmp=$?", read_only=True)
    assert "Read-only file system" in out and "rc=1" in out


@pytest.mark.parametrize("opt, words", [
    ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
    ("bogus", 'invalid --security-opt 1: "bogus"'),
    ("no-new-privileges=maybe", "invalid --security-opt 2"),
    ("seccomp={not json", "invalid seccomp profile: not JSON"),
])
def test_bad_security_opt_is_a_one_line_400(client, opt, words):
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", ["true"], security_opt=[opt])
    assert info.value.status_code == 400
    assert words in info.value.explanation and "\n" not in info.value.explanation


def test_unknown_capability_is_a_400(client):
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", ["true"], cap_add=["NOPE"])
    assert info.value.status_code == 400
    assert 'invalid CapAdd: unknown capability: "CAP_NOPE"' in info.value.explanation


def test_accepted_options_and_info(client):
    out = run(client, f"{STATUS}", security_opt=["label=disable", "apparmor=docker-default"])
    assert status(out)["Seccomp"] == "2"
    assert "name=seccomp,profile=builtin" in client.info()["SecurityOptions"]


def test_init_and_its_child_run_under_the_filter(client):
    out = run(client, f"{STATUS}; grep Seccomp: /proc/1/status", init=True)
    assert out.count("Seccomp:\t2") == 2
