"""The cgroup v2 device allow-list (engine/runtime/devfilter.py).

Unit part: the compiled program, run by the module's interpreter, agrees with the reference meaning
of the rules for every kind of request. Integration part: on this hybrid machine the `unified`
hierarchy is a real cgroup2 without a devices controller, so the only thing that can refuse a
device there is our BPF program: a container in such a cgroup can still mknod, but opening a
device off the list fails with EPERM, while the same open succeeds in a cgroup without the program.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.runtime import cgroups, devfilter
from engine.runtime.spec import Resources

DOCKER_RULES = cgroups.V2_DEVICE_RULES


def test_parse_rule_reads_the_v1_syntax():
    assert devfilter.parse_rule("c 1:3 rwm") == devfilter.DeviceRule(2, 1, 3, 7)
    assert devfilter.parse_rule("b *:* m") == devfilter.DeviceRule(1, None, None, 1)
    assert devfilter.parse_rule("c 136:* rw") == devfilter.DeviceRule(2, 136, None, 6)
    assert devfilter.parse_rule("a") == devfilter.DeviceRule(None, None, None, 7)
    for bad in ("", "x 1:3 rwm", "c 1:3", "c 13 rwm", "c 1:3 rwx"):
        with pytest.raises(ValueError):
            devfilter.parse_rule(bad)


@pytest.mark.parametrize("request_, allowed", [
    ((2, 1, 3, 2), True),       # read /dev/null
    ((2, 1, 3, 6), True),       # read+write /dev/null
    ((2, 1, 11, 2), False),     # read /dev/kmsg: not on the list
    ((2, 10, 237, 2), False),   # /dev/loop-control
    ((2, 1, 11, 1), True),      # mknod of any char device
    ((1, 8, 0, 1), True),       # mknod of any block device
    ((1, 8, 0, 2), False),      # but never open a block device (a host disk)
    ((2, 136, 5, 6), True),     # a pts
    ((2, 10, 200, 2), True),    # /dev/net/tun
    ((2, 10, 229, 2), False),   # /dev/fuse: not Docker's default
])
def test_docker_rules_as_a_program(request_, allowed):
    prog = devfilter.compile_rules(DOCKER_RULES)
    assert devfilter.run(prog, *request_) == int(allowed)
    assert devfilter.allows(DOCKER_RULES, *request_) is allowed


rules_st = st.lists(st.builds(
    devfilter.DeviceRule, st.sampled_from([None, 1, 2]), st.one_of(st.none(), st.integers(0, 9)),
    st.one_of(st.none(), st.integers(0, 9)), st.integers(1, 7)), max_size=6)


@given(rules_st, st.sampled_from([1, 2]), st.integers(0, 9), st.integers(0, 9), st.integers(1, 7))
def test_program_agrees_with_the_rules(rules, dev_type, major, minor, access):
    prog = devfilter.compile_rules(rules)
    assert devfilter.run(prog, dev_type, major, minor, access) == int(
        devfilter.allows(rules, dev_type, major, minor, access))


def test_every_instruction_encodes_to_eight_bytes():
    prog = devfilter.compile_rules(DOCKER_RULES)
    assert all(len(i.encode()) == 8 for i in prog)


def _unified() -> Path:
    layout = cgroups.detect_layout(Path("/proc/self/cgroup").read_text(),
                                   Path("/proc/self/mountinfo").read_text())
    if layout.v2 is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    return layout.v2


# 10:237 is /dev/loop-control (opening it needs no capability beyond the device's permission)
_PROBE = ("mknod /tmp/ctl c 10 237 && echo mknod-ok; "
          "head -c 0 /tmp/ctl && echo ctl-open; "
          "mknod /tmp/disk b 7 0 && echo blk-mknod-ok; "
          "head -c 1 /tmp/disk >/dev/null && echo blk-open; "
          "echo x > /dev/null && echo null-ok")


@pytest.mark.integration
def test_a_container_in_a_v2_cgroup_opens_only_listed_devices(box):
    driver = cgroups.V2Driver(cgroups.CgroupLayout(cgroups.CgroupMode.V2, {}, _unified()))
    spec = box.spec("sh", "-c", _PROBE)
    cg = driver.create(f"pycompose-{spec.id[:12]}-1", Resources())
    box.cgroups.append(cg)
    status, out = box.run(lambda rt: box.capture(rt, spec, cg))
    lines = out.splitlines()
    assert "mknod-ok" in lines and "blk-mknod-ok" in lines and "null-ok" in lines, out
    assert "ctl-open" not in lines and "blk-open" not in lines, out
    assert "Operation not permitted" in out


@pytest.mark.integration
def test_without_the_program_the_same_opens_succeed(box):
    """The control: a bare cgroup2 directory (no program) lets the probe open both nodes, so the
    refusal above is the program's doing, not the v1 devices controller's or a missing node."""
    driver = cgroups.V2Driver(cgroups.CgroupLayout(cgroups.CgroupMode.V2, {}, _unified()))
    spec = box.spec("sh", "-c", _PROBE)
    (path,) = driver._fresh_dirs(f"pycompose-{spec.id[:12]}-1", [driver.own])
    cg = cgroups.V2Cgroup(path.name, path)
    box.cgroups.append(cg)
    status, out = box.run(lambda rt: box.capture(rt, spec, cg))
    assert "ctl-open" in out.splitlines() and "blk-open" in out.splitlines(), out


@pytest.mark.integration
def test_attach_to_something_that_is_not_a_cgroup_is_refused(tmp_path):
    with pytest.raises(EngineError, match="refusing to run a container"):
        devfilter.attach(tmp_path, DOCKER_RULES)

