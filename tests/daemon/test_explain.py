"""explain against a real engine: every fact in its JSON is checked against what the kernel says
(/proc/<pid>/ns/*, /proc/<pid>/status, the cgroup files, `ip link` on the host and in the
container's netns, the nat table), for a running and a stopped container; the engine, compose
and JSON/tree forms of the command."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from engine.client import Client
from engine.errors import NotFound

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "compose.cli.main"]


@pytest.fixture
def made(client):
    """Containers and volumes a test makes, removed even when it fails."""
    containers: list = []
    volumes: list[str] = []
    yield containers, volumes
    for c in reversed(containers):
        try:
            c.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
    for v in volumes:
        try:
            client.volumes.get(v).remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def api(daemon):
    c = Client(daemon.sock)
    yield c
    c.close()


def status_of(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def link(args: list[str]) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def walk(nodes: list[dict]):
    for n in nodes:
        yield n
        yield from walk(n["Children"])


def start_web(client, made, name: str):
    containers, volumes = made
    vol = f"pcexv{os.getpid()}"
    volumes.append(vol)
    c = client.containers.run(
        "busybox", ["sh", "-c", "echo hi > /added; rm /bin/true; sleep 300 & sleep 301"],
        detach=True, name=name, ports={"80/tcp": ("127.0.0.1", None)}, mem_limit="64m",
        pids_limit=50, nano_cpus=500_000_000, volumes={vol: {"bind": "/data", "mode": "rw"}},
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 3})
    containers.append(c)
    # both sleeps started and the file written: the shell forked its children
    deadline = time.monotonic() + 15
    while True:
        top = c.top()["Processes"] or []
        if len(top) >= 2 and any("301" in " ".join(p) for p in top):
            break
        assert time.monotonic() < deadline, top
        time.sleep(0.05)
    return c


def test_running_container_matches_the_kernel(client, api, made):
    c = start_web(client, made, "pcex-web")
    doc = api.explain("pcex-web")
    c.reload()
    pid = c.attrs["State"]["Pid"]
    assert doc["Id"] == c.id and doc["State"] == "running"

    # processes: PID 1 first, both PID views as /proc/<pid>/status NSpid says
    procs = doc["Processes"]
    assert procs["Tree"][0]["Pid"] == 1 and procs["Tree"][0]["HostPid"] == pid
    assert procs["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert procs["RestartCount"] == 0 and procs["Init"] is False
    nodes = list(walk(procs["Tree"]))
    assert len(nodes) >= 2
    for n in nodes:
        nspid = status_of(n["HostPid"])["NSpid"].split()
        assert (int(nspid[0]), int(nspid[-1])) == (n["HostPid"], n["Pid"])
    # busybox sh execs its last command: PID 1 is that, the backgrounded sleep its child
    assert nodes[0]["Command"] == "sleep 301"
    assert [n["Command"] for n in procs["Tree"][0]["Children"]] == ["sleep 300"]

    # isolation: inode numbers of /proc/<pid>/ns/*, shared exactly where ours are the same
    iso = doc["Isolation"]
    for name, info in iso["Namespaces"].items():
        assert info["Inode"] == os.stat(f"/proc/{pid}/ns/{name}").st_ino
        ours = os.stat(f"/proc/self/ns/{name}").st_ino
        assert info["Shared"] == ("host" if ours == info["Inode"] else "private")
    for name in ("mnt", "net", "pid", "uts", "ipc"):
        assert iso["Namespaces"][name]["Shared"] == "private"
    status = status_of(pid)
    assert int(iso["CapEff"], 16) == int(status["CapEff"], 16)
    assert len(iso["Capabilities"]) == bin(int(status["CapEff"], 16)).count("1")
    assert "CAP_SYS_ADMIN" not in iso["Capabilities"] and "CAP_CHOWN" in iso["Capabilities"]
    assert iso["Seccomp"] == {"0": "disabled", "1": "strict", "2": "filter"}[status["Seccomp"]]
    assert iso["NoNewPrivs"] == (status["NoNewPrivs"] == "1")
    # masked and read-only as the container finds them
    # masked and read-only as the container finds them: every path of the list this kernel
    # has (the container's /proc and /sys are the host's kernel's) is masked, and shows empty
    from engine.runtime.mounts import MASKED_PATHS, READONLY_PATHS
    assert iso["MaskedPaths"] == [p for p in MASKED_PATHS if os.path.exists(p)]
    assert iso["ReadonlyPaths"] == [p for p in READONLY_PATHS if os.path.exists(p)]
    for path in iso["MaskedPaths"]:
        r = c.exec_run(["sh", "-c", f"if [ -d {path} ]; then ls -A {path}; else cat {path}; fi"])
        assert r.exit_code == 0 and r.output == b"", (path, r.output[:100])
    code, out = c.exec_run(["sh", "-c", "echo pcex > /proc/sys/kernel/hostname"])
    assert code != 0 and b"Read-only" in out

    # resources: the cgroup dirs hold PID 1, the limits are the files' values
    res = doc["Resources"]
    paths = [Path(p) for p in res["Cgroup"]["Paths"]]
    for p in paths:
        assert str(pid) in (p / "cgroup.procs").read_text().split()
    files = {f.name: f for p in paths for f in p.iterdir()}
    if "memory.limit_in_bytes" in files:            # cgroup v1
        assert res["Memory"]["Limit"] == int(files["memory.limit_in_bytes"].read_text())
        quota = int(files["cpu.cfs_quota_us"].read_text())
        period = int(files["cpu.cfs_period_us"].read_text())
    else:                                           # v2
        assert res["Memory"]["Limit"] == int(files["memory.max"].read_text())
        quota, period = map(int, files["cpu.max"].read_text().split())
    assert res["Memory"]["Limit"] == 64 << 20 and res["Cpu"]["Limit"] == quota / period == 0.5
    assert res["Pids"]["Limit"] == int(files["pids.max"].read_text()) == 50
    assert res["Pids"]["Current"] == len(nodes)
    assert 0 < res["Memory"]["Usage"] <= 64 << 20

    # network: the host veth is on the bridge, its peer is eth0 in PID 1's netns
    (ep,) = doc["Network"]["Endpoints"]
    host_link = link(["ip", "-o", "link", "show", ep["HostVeth"]])
    assert f"master {ep['Bridge']}" in host_link
    peer_index = int(re.search(r"@if(\d+)", host_link).group(1))
    inside = link(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-o", "link", "show",
                   ep["ContainerIf"]])
    assert inside.startswith(f"{peer_index}: {ep['ContainerIf']}@")
    assert f"link/ether {ep['MacAddress']}" in inside
    addrs = link(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-o", "-4", "addr", "show",
                  ep["ContainerIf"]])
    assert f"inet {ep['IPAddress']}" in addrs
    assert set(ep["DnsNames"]) >= {"pcex-web", c.id[:12]}
    (port,) = doc["Network"]["Ports"]
    published = c.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]
    assert (port["HostIp"], str(port["HostPort"])) == (published["HostIp"], published["HostPort"])
    nat = link(["iptables-save", "-t", "nat"])
    dnat = [r for r in doc["Network"]["Rules"] if "-j DNAT" in r]
    assert len(dnat) == 1 and f"--to-destination {ep['IPAddress'].split('/')[0]}:80" in dnat[0]
    for rule in doc["Network"]["Rules"]:    # each rule is in the kernel's table as shown
        assert rule.startswith("-t nat ") and rule.removeprefix("-t nat ") in nat.splitlines()

    # the image and the writable layer, as the image store and `diff` say
    image = client.images.get("busybox")
    layers = doc["Image"]["Layers"]
    assert [x["DiffID"] for x in layers] == image.attrs["RootFS"]["Layers"]
    assert all(Path(x["Dir"]).is_dir() for x in layers)
    w = doc["WritableLayer"]
    diff = {(d["Path"], d["Kind"]) for d in c.diff()}
    assert {(d["Path"], d["Kind"]) for d in w["Changes"]} == diff
    assert ("/added", 1) in diff and ("/bin/true", 2) in diff
    assert w["Counts"]["Added"] == sum(1 for _, k in diff if k == 1)
    assert (Path(w["UpperDir"]) / "added").read_text() == "hi\n" and w["Size"] > 0

    # mounts: the named volume where the volume store keeps it
    vol = next(m for m in doc["Mounts"] if m["Target"] == "/data")
    assert vol["Type"] == "volume" and Path(vol["Source"]).is_dir()
    assert vol["Source"] == client.volumes.get(vol["Name"]).attrs["Mountpoint"]


def test_joined_namespace_names_the_container_it_comes_from(client, api, made):
    containers, _ = made
    # a joiner created before its owner: sorted by creation alone it would be taken for it
    early = client.containers.create("busybox", ["sleep", "300"], name="pcex-ns0",
                                     network_mode="container:pcex-ns1")
    containers.append(early)
    first = client.containers.run("busybox", ["sleep", "300"], detach=True, name="pcex-ns1")
    containers.append(first)
    early.start()
    second = client.containers.run("busybox", ["sleep", "300"], detach=True, name="pcex-ns2",
                                   network_mode="container:pcex-ns1")
    containers.append(second)
    doc = api.explain("pcex-ns2")
    spaces = doc["Isolation"]["Namespaces"]
    assert spaces["net"]["Shared"] == "container:pcex-ns1"
    first.reload()
    assert spaces["net"]["Inode"] == os.stat(f"/proc/{first.attrs['State']['Pid']}/ns/net").st_ino
    assert spaces["pid"]["Shared"] == "private"
    assert doc["Network"]["Mode"] == "container:pcex-ns1" and doc["Network"]["Endpoints"] == []


def test_stopped_container_keeps_its_layer_and_has_no_processes(client, api, made):
    c = start_web(client, made, "pcex-stopped")
    running = api.explain("pcex-stopped")
    cgroup_dirs = running["Resources"]["Cgroup"]["Paths"]
    veth = running["Network"]["Endpoints"][0]["HostVeth"]
    c.stop(timeout=1)
    doc = api.explain("pcex-stopped")
    assert doc["State"] == "exited"
    assert doc["Processes"]["Tree"] == [] and doc["Isolation"]["Namespaces"] == {}
    assert doc["Resources"]["Cgroup"] is None
    assert doc["Resources"]["Configured"]["Memory"] == 64 << 20
    assert not any(Path(p).exists() for p in cgroup_dirs)
    assert subprocess.run(["ip", "link", "show", veth], capture_output=True).returncode != 0
    assert doc["Network"]["Endpoints"] == [{"Network": "bridge", "Connected": False}]
    assert doc["Network"]["Ports"] == [] and doc["Network"]["Rules"] == []
    # the writable layer outlives the process: what `diff` shows is still there
    assert ("/added", 1) in {(d["Path"], d["Kind"]) for d in doc["WritableLayer"]["Changes"]}


def test_unknown_container_is_a_404_naming_it(api):
    with pytest.raises(NotFound, match="pcex-nothere"):
        api.explain("pcex-nothere")
    for ref in ("../../etc", "a b", "\u00e9t\u00e9"):      # odd names: a 404, not a 500
        with pytest.raises(NotFound) as info:
            api.explain(ref)
        assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_cli_forms_engine_compose_service_and_container(daemon, client, made, tmp_path):
    start_web(client, made, "pcex-cli")
    env = {**daemon.env, "NO_COLOR": "1", "COLUMNS": "120"}

    def cli(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run(CLI + list(args), env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=60)

    r = cli("container", "explain", "pcex-cli", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Name"] == "pcex-cli"
    # no compose file here: the compose verb takes the name as a container's
    r = cli("explain", "pcex-cli")
    assert r.returncode == 0, r.stderr
    assert "container pcex-cli" in r.stdout and "pid 1  host pid" in r.stdout
    r = cli("explain", "pcex-cli", "--format", "yaml")
    assert r.returncode != 0 and "--format 'yaml'" in r.stderr and "Traceback" not in r.stderr
    r = cli("container", "explain", "pcex-missing")
    assert r.returncode != 0 and "pcex-missing" in r.stderr and "Traceback" not in r.stderr

    # a service name means that service's container
    proj = tmp_path / "pcexproj"
    proj.mkdir()
    (proj / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    command: [sleep, '300']\n")
    try:
        assert cli("up", "-d", cwd=proj).returncode == 0
        r = cli("explain", "app", "--format", "json", cwd=proj)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["Name"] == "pcexproj-app-1" and doc["Processes"]["Tree"][0]["Pid"] == 1
        assert doc["Network"]["Endpoints"][0]["Network"] == "pcexproj_default"
        assert "app" in doc["Network"]["Endpoints"][0]["DnsNames"]
    finally:
        r = cli("down", "-t", "0", cwd=proj)
        assert r.returncode == 0, r.stderr


def test_init_is_pid1_and_the_command_its_child(client, api, made):
    containers, _ = made
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, init=True,
                              name="pcex-init")
    containers.append(c)
    c.reload()
    doc = api.explain("pcex-init")
    (pid1,) = doc["Processes"]["Tree"]
    assert doc["Processes"]["Init"] is True
    assert pid1["HostPid"] == c.attrs["State"]["Pid"] and pid1["Command"].startswith("/dev/init")
    (child,) = pid1["Children"]
    assert child["Pid"] == 2 and child["Command"].endswith("sleep 300")
    assert status_of(child["HostPid"])["NSpid"].split()[-1] == "2"


def test_restart_count_is_the_engines(client, api, made):
    containers, _ = made
    c = client.containers.run("busybox", ["sh", "-c", "exit 3"], detach=True, name="pcex-rs",
                              restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    containers.append(c)
    deadline = time.monotonic() + 30
    while True:      # two restarts, then it stays exited
        c.reload()
        if c.attrs["State"]["Status"] == "exited" and c.attrs["RestartCount"] == 2:
            break
        assert time.monotonic() < deadline, c.attrs["State"]
        time.sleep(0.1)
    doc = api.explain("pcex-rs")
    assert doc["Processes"]["RestartCount"] == 2 and doc["State"] == "exited"
    assert doc["Processes"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}


def test_paused_and_created_containers(client, api, made):
    containers, _ = made
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name="pcex-paused")
    containers.append(c)
    c.pause()
    doc = api.explain("pcex-paused")
    c.reload()
    assert doc["State"] == "paused"
    assert doc["Processes"]["Tree"][0]["HostPid"] == c.attrs["State"]["Pid"]
    assert doc["Resources"]["Cgroup"] is not None
    c.unpause()
    created = client.containers.create("busybox", ["true"], name="pcex-created")
    containers.append(created)
    doc = api.explain("pcex-created")
    assert doc["State"] == "created" and doc["Processes"]["Tree"] == []
    assert doc["WritableLayer"]["Counts"] == {"Added": 0, "Changed": 0, "Deleted": 0}
    assert len(doc["Image"]["Layers"]) == len(client.images.get("busybox").attrs["RootFS"]["Layers"])
