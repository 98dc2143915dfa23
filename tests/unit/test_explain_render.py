"""explain's pure parts: /proc parsing, capability decoding, the PID forest, and the rich tree
(rendered at a pinned width; untrusted text stays literal)."""
from __future__ import annotations

import io

import pytest

from engine.client.cli.explain import check_format, explain_tree
from engine.containers import explain as ex
from engine.containers.changes import Change, Kind
from engine.errors import PycomposeError
from engine.runtime.capabilities import DOCKER_DEFAULT_CAPS

STATUS = """Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
PPid:\t20001
Uid:\t1000\t1000\t1000\t1000
Gid:\t100\t100\t100\t100
NSpid:\t20007\t1
CapEff:\t00000000a80425fb
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
"""


def test_parse_status_reads_the_fields_explain_uses():
    st = ex.parse_status(STATUS)
    assert st["NSpid"].split() == ["20007", "1"]
    assert st["CapEff"] == "00000000a80425fb"
    assert ex.first_int(st["Uid"]) == 1000 and ex.first_int(st["Gid"]) == 100
    assert ex.first_int("") is None


def test_docker_default_capability_mask_decodes_to_the_default_names():
    names = ex.cap_names(0xa80425fb)
    assert sorted(names) == sorted("CAP_" + c for c in DOCKER_DEFAULT_CAPS)
    assert ex.cap_names(0) == []
    assert ex.cap_names(1 << 63) == ["CAP_63"]      # a bit newer than our table


def test_ns_inode_parses_the_link_text():
    assert ex.ns_inode("net:[4026532393]") == 4026532393


def _p(host: int, ppid: int, ns: int, cmd: str) -> ex.ProcInfo:
    return ex.ProcInfo(host, ppid, ns, cmd.split()[0], cmd)


def test_pid_tree_puts_pid1_first_and_exec_processes_as_their_own_roots():
    procs = [_p(30, 5, 7, "sh -c top"),       # exec'd: its parent is the engine, outside
             _p(11, 10, 3, "sleep 2"),
             _p(10, 1, 1, "sh -c init"),      # PID 1: its parent is outside too
             _p(12, 10, 2, "sleep 1"),
             _p(31, 30, 8, "top")]
    tree = ex.pid_tree(procs)
    assert [n["Pid"] for n in tree] == [1, 7]
    assert [c["Pid"] for c in tree[0]["Children"]] == [2, 3]
    assert tree[0]["HostPid"] == 10 and tree[1]["Children"][0]["Command"] == "top"


def test_proc_info_uses_the_innermost_pid_and_the_cmdline():
    info = ex.proc_info(20007, ex.parse_status(STATUS), b"sleep\x00300\x00")
    assert (info.host_pid, info.host_ppid, info.ns_pid, info.command) == (20007, 20001, 1,
                                                                          "sleep 300")
    assert ex.proc_info(5, {"Name": "kworker"}, b"").command == "[kworker]"


MOUNTINFO = """\
600 500 0:50 / / rw,relatime - overlay overlay rw
601 600 0:51 / /proc rw,nosuid,nodev,noexec - proc proc rw
602 601 0:5 /null /proc/kcore rw,nosuid - devtmpfs udev rw
603 601 0:51 /sys /proc/sys ro,nosuid,nodev,noexec - proc proc rw
604 601 0:51 /bus /proc/bus rw,nosuid - proc proc rw
605 604 0:51 /bus /proc/bus ro,nosuid - proc proc rw
606 600 0:52 / /my\\040dir rw - tmpfs tmpfs rw
"""


def test_confined_paths_are_read_from_the_mount_table():
    masked, readonly = ex.confined_paths(MOUNTINFO, ("/proc/kcore", "/proc/acpi", "/my dir"),
                                         ("/proc/sys", "/proc/bus", "/proc/irq"))
    assert masked == ["/proc/kcore", "/my dir"]     # /proc/acpi: nothing mounted there
    assert readonly == ["/proc/sys", "/proc/bus"]   # the last mount at /proc/bus is ro


def test_cpu_and_memory_limits():
    assert ex.cpu_limit(50000, 100000) == 0.5
    assert ex.cpu_limit(-1, 100000) is None and ex.cpu_limit(None, None) is None
    assert ex.limit_or_none(9223372036854771712) is None
    assert ex.limit_or_none(64 << 20) == 64 << 20


def test_layer_steps_skip_empty_layers_and_pad_missing_history():
    history = [{"created_by": "ADD rootfs"}, {"created_by": "ENV A=1", "empty_layer": True},
               {"created_by": "RUN make"}]
    assert ex.layer_steps(history, 2) == ["ADD rootfs", "RUN make"]
    assert ex.layer_steps([], 2) == ["", ""]


def test_change_counts():
    found = [Change("/a", Kind.ADDED), Change("/b", Kind.ADDED), Change("/etc", Kind.MODIFIED),
             Change("/x", Kind.DELETED)]
    assert ex.change_counts(found) == {"Added": 2, "Changed": 1, "Deleted": 1}


def sample_doc(running: bool = True) -> dict:
    proc = {"Pid": 1, "HostPid": 4242, "Name": "sh", "Command": "sh -c [red]boom[/red]",
            "Children": [{"Pid": 7, "HostPid": 4250, "Name": "sleep", "Command": "sleep 300",
                          "Children": []}]}
    return {
        "Id": "ab" * 32, "Name": "web", "State": "running" if running else "exited",
        "Image": {"Id": "sha256:" + "cd" * 32, "Name": "busybox", "Tags": [], "Size": 100,
                  "Layers": [{"DiffID": "sha256:" + "ef" * 32, "Digest": "", "Size": 2048,
                              "CreatedBy": "RUN echo hi", "Dir": "/root/images/layers/ef"}]},
        "WritableLayer": {"UpperDir": "/c/upper", "WorkDir": "/c/work", "MergedDir": "/c/m",
                          "Size": 3, "Counts": {"Added": 1, "Changed": 0, "Deleted": 1},
                          "Changes": [{"Path": "/new", "Kind": 1}, {"Path": "/gone", "Kind": 2}],
                          "Truncated": False},
        "Processes": {"State": "running", "Init": False,
                      "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                      "RestartCount": 2, "AutoRemove": False, "StopSignal": "SIGTERM",
                      "Tree": [proc] if running else []},
        "Isolation": {"User": "", "Privileged": False, "ReadonlyRootfs": False,
                      "MaskedPaths": ["/proc/kcore"], "ReadonlyPaths": ["/proc/sys"],
                      "SeccompProfile": "builtin",
                      **({"Namespaces": {"net": {"Inode": 4026532393, "Shared": "private"},
                                         "ipc": {"Inode": 4026532391,
                                                 "Shared": "container:db"}},
                          "Uid": 0, "Gid": 0, "CapEff": "00000000a80425fb",
                          "Capabilities": ["CAP_CHOWN", "CAP_KILL"], "Seccomp": "filter",
                          "SeccompFilters": 1, "NoNewPrivs": False}
                         if running else {"Namespaces": {}})},
        "Resources": ({"Configured": {}, "Cgroup": {"Name": "pycompose-abab", "Paths": ["/cg"]},
                       "Memory": {"Limit": 64 << 20, "Usage": 1 << 20, "MaxUsage": 2 << 20},
                       "Pids": {"Limit": None, "Current": 2},
                       "Cpu": {"Limit": 0.5, "UsageNs": 20_000_000, "ThrottledPeriods": 0}}
                      if running else {"Configured": {"Memory": None, "Cpus": 0.5,
                                                      "PidsLimit": 50}, "Cgroup": None}),
        "Network": {"Mode": "default", "Endpoints": [
            {"Network": "app_default", "Bridge": "pcbr123", "HostVeth": "pcv456",
             "ContainerIf": "eth0", "IPAddress": "10.1.0.2/24", "Gateway": "10.1.0.1",
             "MacAddress": "02:42:0a:01:00:02", "DnsNames": ["web", "abab", "www"],
             "DnsServer": "10.1.0.1"}] if running else [{"Network": "app_default",
                                                          "Connected": False}],
            "Ports": [{"ContainerPort": 80, "Protocol": "tcp", "HostIp": "0.0.0.0",
                       "HostPort": 8080, "ContainerIp": "10.1.0.2"}] if running else [],
            "Rules": ["-t nat -A PC-P-abab -p tcp -j DNAT"] if running else []},
        "Mounts": [{"Type": "volume", "Name": "data", "Source": "/v/data/_data",
                    "Target": "/data", "ReadOnly": True}],
    }


def render(doc: dict) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=120, force_terminal=False, color_system=None).print(explain_tree(doc))
    return out.getvalue()


def test_tree_of_a_running_container_shows_every_section():
    text = render(sample_doc())
    for expected in ("container web  abababababab  running", "layer 1  efefefefefef",
                     "RUN echo hi", "lowerdir /root/images/layers/ef",
                     "1 added, 0 changed, 1 deleted", "A /new", "D /gone",
                     "restart: on-failure:3 (restarted 2x)", "pid 1  host pid 4242",
                     "pid 7  host pid 4250  sleep 300", "net    4026532393  private",
                     "ipc    4026532391  container:db", "CapEff 00000000a80425fb",
                     "CHOWN KILL", "seccomp filter (1 filters)", "masked: /proc/kcore",
                     "memory 1.05MB of 67.1MB", "pids 2 of no limit",
                     "limit 0.5 cpus", "veth eth0 (container) <-> pcv456 (host) on bridge pcbr123",
                     "dns names: web abab www", "port 0.0.0.0:8080 -> 10.1.0.2:80/tcp",
                     "-t nat -A PC-P-abab", "/data  <- /v/data/_data  (ro)"):
        assert expected in text, expected
    # a command is the container's text: shown as typed, never read as markup
    assert "sh -c [red]boom[/red]" in text
    # the child is drawn below its parent
    assert text.index("pid 1  host pid") < text.index("pid 7  host pid")


def test_tree_of_a_stopped_container_says_what_is_absent():
    text = render(sample_doc(running=False))
    assert "none: the container is not running" in text
    assert "no cgroup: the container is not running" in text
    assert "configured: memory no limit, cpus 0.5, pids 50" in text
    assert "app_default  not connected (stopped)" in text
    assert "namespaces" not in text
    assert "isolation user root (default)" in text


def test_unknown_format_is_a_one_line_error():
    assert check_format("json") == "json"
    with pytest.raises(PycomposeError, match="--format 'yaml'"):
        check_format("yaml")
