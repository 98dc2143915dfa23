"""Engine behaviour that Docker Compose v2 (and the docker SDK) rely on, tested at the engine's
own level: each test here pins a fix the Compose v2 scenario suite (test_compose_v2.py) or the
docker SDK's integration suite found."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine.containers.unsupported import DEFAULT_RUNTIME, RUNTIMES, check_create
from engine.errors import BadParameter
from engine.volumes import VolumeStore


def test_parallel_first_starts_on_one_new_volume_all_succeed(tmp_path):
    # Compose v2 starts the services sharing a new named volume at once; each start fills
    # the volume and then records it as filled. Both records went through one temporary file
    # name, so one start's rename found the other's file gone (ENOENT, a 500 to `up`).
    source = tmp_path / "image-dir"
    source.mkdir()
    (source / "seed").write_text("from the image\n")
    store = VolumeStore(tmp_path / "volumes")
    for round_ in range(15):
        vol = store.create(f"pcshared{round_}")
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def start() -> None:
            barrier.wait()
            try:
                store.populate(vol, source)
            except BaseException as exc:   # noqa: BLE001 - reported by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        again = store.get(vol.name)
        assert again.initialized
        assert (again.mountpoint / "seed").read_text() == "from the image\n"
        # no temporary record left behind beside the volume's data
        assert sorted(p.name for p in Path(store.root, vol.name).iterdir()) \
            == ["_data", "volume.json"]


def test_runtime_names_docker_default_and_our_alias():
    assert DEFAULT_RUNTIME == "runc"
    for name in ("", "runc", "pycompose", None):
        check_create({"Image": "busybox", "HostConfig": {"Runtime": name}})
    for name in ("crun", "io.containerd.runc.v2", "RUNC"):
        with pytest.raises(BadParameter, match=f"^HostConfig.Runtime: Unknown runtime "
                                               f"specified {name}$"):
            check_create({"Image": "busybox", "HostConfig": {"Runtime": name}})
    assert "runc" in RUNTIMES and "pycompose" in RUNTIMES


@pytest.mark.integration
def test_runtime_in_info_and_inspect(engine):
    import docker

    client = engine.client()
    try:
        info = client.info()
        assert info["DefaultRuntime"] == "runc"
        assert set(info["Runtimes"]) == {"runc", "pycompose"}
        api = client.api
        made = []
        try:
            for asked, shown in ((None, "runc"), ("runc", "runc"), ("pycompose", "pycompose")):
                c = api.create_container("busybox", ["true"], host_config=api.create_host_config(
                    runtime=asked) if asked else None)
                made.append(c["Id"])
                assert api.inspect_container(c["Id"])["HostConfig"]["Runtime"] == shown
            # the default runtime really runs it
            api.start(made[0])
            assert api.wait(made[0], timeout=30)["StatusCode"] == 0
            with pytest.raises(docker.errors.APIError) as refused:
                api.create_container("busybox", ["true"],
                                     host_config=api.create_host_config(runtime="crun"))
            assert refused.value.status_code == 400
            assert "Unknown runtime specified crun" in refused.value.explanation
            assert not [c for c in api.containers(all=True) if c["Id"] not in made]
        finally:
            for cid in made:
                api.remove_container(cid, force=True)
    finally:
        client.close()


# --- ulimits and shm_size: Compose v2 sends HostConfig.Ulimits and ShmSize; both were stored
# and shown by inspect but not applied ---------------------------------------------------------

def test_ulimits_and_shm_size_are_parsed_and_checked():
    from engine.containers.model import parse_create
    from engine.runtime.spec import Rlimit

    cfg = parse_create({"Image": "busybox", "HostConfig": {
        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048},
                    {"Name": "core", "Soft": -1, "Hard": -1}], "ShmSize": 32 << 20}})
    assert cfg.ulimits == (Rlimit("nofile", 1024, 2048), Rlimit("core", -1, -1))
    assert cfg.shm_size == 32 << 20
    assert parse_create({"Image": "busybox", "HostConfig": {"ShmSize": 0}}).shm_size is None
    for host, says in [
            ({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]},
             r"HostConfig.Ulimits\[0\]: invalid ulimit type: nofiles"),
            ({"Ulimits": [{"Name": "nproc", "Soft": 20, "Hard": 10}]},
             r"HostConfig.Ulimits\[0\]: ulimit soft limit must be less than hard limit"),
            ({"Ulimits": "nofile=1"}, "HostConfig.Ulimits: expected a list"),
            ({"ShmSize": -1}, "HostConfig.ShmSize: SHM size can not be less than 0")]:
        with pytest.raises(BadParameter, match=says):
            parse_create({"Image": "busybox", "HostConfig": host})


def test_a_mount_at_dev_shm_replaces_the_default_one():
    from engine.runtime.mounts import MountOp, plan_mounts
    from engine.runtime.spec import ContainerSpec, Mount, ProcessSpec

    def shm_ops(mounts):
        spec = ContainerSpec(id="a" * 64, rootfs="/r", hostname="h",
                             process=ProcessSpec(args=("sh",)), mounts=mounts)
        return [op for op in plan_mounts(spec)
                if isinstance(op, MountOp) and op.target == "/dev/shm"]

    (default,) = shm_ops(())
    assert "size=65536k" in default.data
    (own,) = shm_ops((Mount("/dev/shm", "", "tmpfs", ("mode=1777", "size=1048576")),))
    assert "size=1048576" in own.data
    # the other default /dev mounts stay
    spec = ContainerSpec(id="a" * 64, rootfs="/r", hostname="h",
                         process=ProcessSpec(args=("sh",)),
                         mounts=(Mount("/dev/shm", "", "tmpfs", ()),))
    targets = [op.target for op in plan_mounts(spec) if isinstance(op, MountOp)]
    assert {"/dev", "/dev/pts", "/dev/mqueue"} <= set(targets)


@pytest.mark.integration
def test_ulimits_and_shm_size_apply_to_the_container(engine):
    import docker

    client = engine.client()
    try:
        out = client.containers.run(
            "busybox", ["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u; df -k /dev/shm | tail -1; "
                        "grep -c ' /dev/shm ' /proc/self/mounts"],
            remove=True, shm_size="32m",
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048),
                     docker.types.Ulimit(name="nproc", soft=300, hard=400)])
        lines = out.decode().splitlines()
        assert lines[:3] == ["1024", "2048", "300"], lines
        assert lines[3].split()[1] == str(32 * 1024), lines      # 1K-blocks of /dev/shm
        assert lines[4] == "1", lines                            # replaced, not stacked
        # without ShmSize: Docker's 64 MiB
        plain = client.containers.run("busybox", ["df", "-k", "/dev/shm"], remove=True)
        assert plain.decode().splitlines()[-1].split()[1] == str(64 * 1024)
        # an exec gets its container's limits too (it is started by the engine, not PID 1)
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, init=True,
                                  ulimits=[docker.types.Ulimit(name="nofile", soft=512,
                                                               hard=1024)])
        try:
            got = c.exec_run(["sh", "-c", "ulimit -n; ulimit -Hn"])
            assert got.output.decode().split() == ["512", "1024"]
        finally:
            c.remove(force=True)
    finally:
        client.close()


@pytest.mark.integration
def test_docker_info_and_run_runtime_as_docker_shows_them(docker):
    info = docker.out("info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}").split(" ", 1)
    assert info[0] == "runc"
    assert set(json.loads(info[1])) == {"runc", "pycompose"}
    assert docker.out("run", "--rm", "--runtime", "runc", "busybox", "echo", "ran") == "ran\n"
    r = docker.run("run", "--rm", "--runtime", "io.containerd.runc.v2", "busybox", "true",
                   check=False)
    assert r.returncode == 125
    assert b"Unknown runtime specified io.containerd.runc.v2" in r.stderr


# --- sysctls and the domain name: Compose v2 sends HostConfig.Sysctls and Config.Domainname;
# both were stored and shown by inspect, and not applied ---------------------------------------

def test_sysctls_of_the_container_namespaces_only():
    from engine.containers.sysctls import parse_sysctls

    asked = {"net.core.somaxconn": "1024", "net.ipv4.conf.all.rp_filter": "0",
             "kernel.shmmax": "68719476736", "fs.mqueue.msg_max": "20"}
    assert parse_sysctls(asked, "default") == tuple(asked.items())
    assert parse_sysctls(None, "default") == ()
    for raw, mode, says in [
            ({"vm.swappiness": "10"}, "default", "'vm.swappiness' is not in a separate kernel "
                                                 "namespace"),
            ({"kernel.hostname": "x"}, "default", "not in a separate kernel namespace"),
            ({"net.core.somaxconn": "1"}, "host", "not allowed with the host's network"),
            ({"net..core": "1"}, "default", "invalid sysctl name"),
            ({"net/../../kernel/x": "1"}, "default", "invalid sysctl name"),
            ({"net.core.somaxconn": 1024}, "default", "must be a string"),
            ({"net.core.somaxconn": "1\n2"}, "default", "must be a string on one line"),
            (["net.core.somaxconn=1"], "default", "expected a map")]:
        with pytest.raises(BadParameter, match=says):
            parse_sysctls(raw, mode)


def test_the_runtime_refuses_a_sysctl_key_that_leaves_proc_sys():
    from engine.runtime.spec import ContainerSpec, ProcessSpec, validate_spec

    def spec(**kw):
        return ContainerSpec(id="a" * 64, rootfs="/r", hostname="h",
                             process=ProcessSpec(args=("sh",)), **kw)

    validate_spec(spec(sysctls=(("net.core.somaxconn", "5"),), domainname="example.org"))
    for bad in ("net/../../x", "../x", "net..x", ""):
        with pytest.raises(BadParameter, match="invalid sysctl"):
            validate_spec(spec(sysctls=((bad, "1"),)))
    with pytest.raises(BadParameter, match="invalid domain name"):
        validate_spec(spec(domainname="d" * 65))
    # net.* never in the engine's own network namespace, also reached through another's path
    net = (("net.core.somaxconn", "5"),)
    for network in ("host", "ns:/proc/self/ns/net"):
        with pytest.raises(BadParameter, match="host's network namespace"):
            validate_spec(spec(sysctls=net, network=network))
    validate_spec(spec(sysctls=(("kernel.shmmni", "5"),), network="host"))


@pytest.mark.integration
def test_sysctls_and_domainname_apply_inside_and_not_on_the_host(engine):
    import docker

    def host(key: str) -> str:
        return Path("/proc/sys", key.replace(".", "/")).read_text().strip()

    keys = ("net.core.somaxconn", "net.ipv4.ip_forward", "kernel.shmmni", "fs.mqueue.msg_max")
    before = {k: host(k) for k in keys}
    asked = {"net.core.somaxconn": "777", "net.ipv4.ip_forward": "0", "kernel.shmmni": "1234",
             "fs.mqueue.msg_max": "17"}
    assert all(before[k] != v for k, v in asked.items()), before   # else the test proves nothing
    client = engine.client()
    try:
        out = client.containers.run(
            "busybox", ["sh", "-c", "for k in " + " ".join(k.replace(".", "/") for k in keys)
                        + "; do cat /proc/sys/$k; done; cat /proc/sys/kernel/domainname; "
                        "hostname"], remove=True, sysctls=asked, domainname="example.org",
            hostname="pcweb")
        assert out.decode().split() == [asked[k] for k in keys] + ["example.org", "pcweb"]
        assert {k: host(k) for k in keys} == before
        for kw, says in [({"sysctls": {"vm.swappiness": "1"}}, "not in a separate kernel"),
                         ({"sysctls": {"net.core.somaxconn": "1"}, "network_mode": "host"},
                          "host's network namespace")]:
            with pytest.raises(docker.errors.APIError) as refused:
                client.containers.create("busybox", ["true"], **kw)
            assert refused.value.status_code == 400 and says in refused.value.explanation
        # a setting the kernel does not have fails the start, naming it
        with pytest.raises(docker.errors.APIError) as failed:
            client.containers.run("busybox", ["true"], remove=True,
                                  sysctls={"net.core.pc_no_such_setting": "1"})
        assert "net.core.pc_no_such_setting" in failed.value.explanation
        # joined to a container on the host's network: refused at start
        on_host = client.containers.run("busybox", ["sleep", "1000"], detach=True,
                                        network_mode="host", init=True)
        try:
            with pytest.raises(docker.errors.APIError) as refused:
                client.containers.run("busybox", ["true"], remove=True,
                                      network_mode=f"container:{on_host.id}",
                                      sysctls={"net.core.somaxconn": "1"})
            assert "host's network namespace" in refused.value.explanation
            assert {k: host(k) for k in keys} == before
        finally:
            on_host.remove(force=True)
    finally:
        for c in client.containers.list(all=True):   # those whose start failed
            c.remove(force=True)
        client.close()


# --- oom_score_adj: stored and shown by inspect, not applied ------------------------------------

def test_oom_score_adj_is_checked():
    from engine.containers.model import parse_create

    assert parse_create({"Image": "b", "HostConfig": {"OomScoreAdj": -17}}).oom_score_adj == -17
    assert parse_create({"Image": "b", "HostConfig": {"OomScoreAdj": 0}}).oom_score_adj is None
    with pytest.raises(BadParameter, match=r"range for oom score adj is \[-1000, 1000\]"):
        parse_create({"Image": "b", "HostConfig": {"OomScoreAdj": 1001}})


@pytest.mark.integration
def test_oom_score_adj_reaches_pid1_and_execs(engine):
    client = engine.client()
    try:
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, init=True,
                                  oom_score_adj=345)
        try:
            c.reload()
            pid = c.attrs["State"]["Pid"]
            assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "345"
            got = c.exec_run(["cat", "/proc/self/oom_score_adj"])
            assert got.output.decode().strip() == "345"
        finally:
            c.remove(force=True)
    finally:
        client.close()


# --- volumes_from: stored and shown by inspect, not applied --------------------------------------

def test_volumes_from_is_parsed_and_checked():
    from engine.containers.model import parse_create

    cfg = parse_create({"Image": "b", "HostConfig": {"VolumesFrom": ["a", "b:ro", "c:rw"]}})
    assert cfg.volumes_from == (("a", ""), ("b", "ro"), ("c", "rw"))
    for bad in (["a:rx"], [":ro"], "a b"):
        with pytest.raises(BadParameter, match="HostConfig.VolumesFrom"):
            parse_create({"Image": "b", "HostConfig": {"VolumesFrom": bad if bad != "a b"
                                                      else 5}})


@pytest.mark.integration
def test_volumes_from_shares_binds_and_volumes(engine, tmp_path):
    import docker

    bind = tmp_path / "bound"
    bind.mkdir()
    (bind / "f").write_text("from the host\n")
    client = engine.client()
    made = []
    try:
        src = client.containers.create(
            "busybox", ["sh", "-c", "echo named > /named/f"],
            volumes={"pcvfnamed": {"bind": "/named", "mode": "rw"},
                     str(bind): {"bind": "/bound", "mode": "ro"}},
            name="pcvfsrc")
        made.append(src)
        # an anonymous volume, from Config.Volumes
        api = client.api
        cid = api.create_container("busybox", ["sh", "-c", "echo anon > /anon/f"],
                                   volumes=["/anon"], name="pcvfanon",
                                   host_config=api.create_host_config(
                                       volumes_from=["pcvfsrc"]))["Id"]
        made.append(client.containers.get(cid))
        api.start(cid)
        assert api.wait(cid, timeout=30)["StatusCode"] == 0
        src.start()
        assert src.wait(timeout=30)["StatusCode"] == 0
        # the consumer sees the source's named volume and bind (the bind read-only, as there),
        # and, through pcvfanon, that one's anonymous volume; `:ro` makes all of it read-only
        out = client.containers.run(
            "busybox", ["sh", "-c", "cat /named/f /bound/f; touch /bound/x 2>&1 | grep -c "
                        "Read-only; touch /named/x && echo rw"],
            volumes_from=["pcvfanon"], remove=True)
        assert out.decode().split("\n")[:4] == ["named", "from the host", "1", "rw"]
        out = client.containers.run(
            "busybox", ["sh", "-c", "cat /anon/f; touch /named/y /anon/y 2>&1 | grep -c "
                        "Read-only"], volumes_from=["pcvfanon:ro"], remove=True)
        assert out.decode().split() == ["anon", "2"]
        with pytest.raises(docker.errors.APIError) as failed:
            client.containers.run("busybox", ["true"], volumes_from=["pcnosuchsource"],
                                  remove=True)
        assert "pcnosuchsource" in failed.value.explanation
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True, v=True)
        for name in ("pcvfnamed",):
            try:
                client.volumes.get(name).remove()
            except docker.errors.NotFound:
                pass
        client.close()


# --- cpu_period/cpu_quota and mem_reservation: stored and shown by inspect, not applied ----------

def test_cfs_limits_and_memory_reservation_are_checked():
    from engine.containers.model import parse_create

    def host(**h):
        return parse_create({"Image": "b", "HostConfig": h})

    cfg = host(CpuPeriod=50000, CpuQuota=25000, MemoryReservation="16m")
    assert (cfg.cpu_period, cfg.cpu_quota, cfg.memory_reservation) == (50000, 25000, 16 << 20)
    assert host(CpuQuota=-1).cpu_quota == -1
    for h, says in [({"NanoCpus": 500_000_000, "CpuQuota": 50000}, "Nano CPUs and CPU Quota"),
                    ({"NanoCpus": 500_000_000, "CpuPeriod": 50000}, "Nano CPUs and CPU Period"),
                    ({"CpuPeriod": 999}, "CPU cfs period can not be less than 1ms"),
                    ({"CpuPeriod": 1_000_001}, "larger than 1s"),
                    ({"CpuQuota": 999}, "CPU cfs quota can not be less than 1ms"),
                    ({"MemoryReservation": "1m"}, "Minimum memory reservation allowed is 6MB"),
                    ({"MemoryReservation": "64m", "Memory": "32m"},
                     "memory limit can not be less than memory reservation")]:
        with pytest.raises(BadParameter, match=says):
            host(**h)


def _cgroup_file(pid: int, controller: str, name: str) -> Path:
    """A file of the cgroup `pid` is in, for a v1 controller or the v2 unified tree."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            for mount in (f"/sys/fs/cgroup/{ctrls}", f"/sys/fs/cgroup/{controller}"):
                if Path(mount, path.lstrip("/"), name).exists():
                    return Path(mount, path.lstrip("/"), name)
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup", line[3:].lstrip("/"), name)
    raise AssertionError(f"no cgroup file {name} for {pid}")


@pytest.mark.integration
def test_cfs_limits_and_memory_reservation_reach_the_cgroup(engine):
    client = engine.client()
    try:
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, init=True,
                                  cpu_period=50000, cpu_quota=20000, mem_reservation="24m",
                                  mem_limit="64m")
        try:
            c.reload()
            pid = c.attrs["State"]["Pid"]
            v1 = _cgroup_file(pid, "cpu", "cpu.cfs_quota_us")
            if v1.name == "cpu.cfs_quota_us" and v1.exists():
                assert v1.read_text().strip() == "20000"
                assert (v1.parent / "cpu.cfs_period_us").read_text().strip() == "50000"
                soft = _cgroup_file(pid, "memory", "memory.soft_limit_in_bytes")
                assert int(soft.read_text()) == 24 << 20
            else:
                assert (v1.parent / "cpu.max").read_text().split() == ["20000", "50000"]
                assert int((v1.parent / "memory.low").read_text()) == 24 << 20
            # inspect shows them as asked
            host = c.attrs["HostConfig"]
            assert (host["CpuPeriod"], host["CpuQuota"], host["MemoryReservation"]) \
                == (50000, 20000, 24 << 20)
        finally:
            c.remove(force=True)
    finally:
        client.close()


# --- devices and device_cgroup_rules: stored and shown by inspect, not applied ------------------

def test_devices_and_rules_are_parsed_and_checked():
    from engine.containers.devicemap import DeviceMapping, parse_devices, parse_rules

    assert parse_devices([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/f",
                           "CgroupPermissions": "rw"}, {"PathOnHost": "/dev/fuse"}]) \
        == (DeviceMapping("/dev/fuse", "/dev/f", "rw"), DeviceMapping("/dev/fuse", "/dev/fuse",
                                                                     "rwm"))
    assert parse_rules(["c 10:* rwm", "b *:* m", "a *:* r"]) == ("c 10:* rwm", "b *:* m",
                                                                 "a *:* r")
    for raw, says in [([{"PathOnHost": "dev/fuse"}], "must be an absolute path"),
                      ([{"PathOnHost": "/dev/fuse", "PathInContainer": "/etc/fuse"}],
                       "must be a path below /dev"),
                      ([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/../etc/x"}],
                       "must be a path below /dev"),
                      ([{"PathOnHost": "/dev/fuse", "CgroupPermissions": "rx"}],
                       "invalid CgroupPermissions")]:
        with pytest.raises(BadParameter, match=says):
            parse_devices(raw)
    for rule in ("c 10:229", "x 1:1 r", "c 1:1 rwx", "c a:1 r"):
        with pytest.raises(BadParameter, match="invalid device cgroup rule"):
            parse_rules([rule])


@pytest.mark.integration
def test_devices_and_rules_reach_the_container(engine):
    import docker

    host_dev = "/dev/loop-control"           # 10:237, not among the defaults every container has
    assert Path(host_dev).is_char_device()
    opens = ("(: < /dev/pcdev) 2>/dev/null && echo r-ok || echo r-no; "
             "(: > /dev/pcdev) 2>/dev/null && echo w-ok || echo w-no")
    client = engine.client()
    try:
        out = client.containers.run("busybox", ["sh", "-c", "ls -l /dev/pcdev; " + opens],
                                    devices=[f"{host_dev}:/dev/pcdev:r"], remove=True)
        lines = out.decode().splitlines()
        assert lines[0].startswith("crw") and "10, 237" in lines[0], lines
        assert lines[1:] == ["r-ok", "w-no"]            # the cgroup lets it read only
        # without it: the node can be made (mknod is allowed for any device) but not opened;
        # a rule lets it be
        make = "mknod /dev/pcdev c 10 237 && "
        out = client.containers.run("busybox", ["sh", "-c", make + opens], remove=True)
        assert out.decode().split() == ["r-no", "w-no"]
        out = client.containers.run("busybox", ["sh", "-c", make + opens], remove=True,
                                    device_cgroup_rules=["c 10:237 rw"])
        assert out.decode().split() == ["r-ok", "w-ok"]
        with pytest.raises(docker.errors.APIError) as failed:
            client.containers.run("busybox", ["true"], remove=True,
                                  devices=["/dev/pc-no-such-device:/dev/x"])
        assert "/dev/pc-no-such-device" in failed.value.explanation
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True)
        client.close()


# --- mem_swappiness (cgroup v1 only, as Docker) -------------------------------------------------

def test_memory_swappiness_is_checked():
    from engine.containers.model import parse_create

    def host(**h):
        return parse_create({"Image": "b", "HostConfig": h})

    assert host(MemorySwappiness=40).memory_swappiness == 40
    assert host(MemorySwappiness=-1).memory_swappiness is None
    assert host(MemorySwappiness=None).memory_swappiness is None
    with pytest.raises(BadParameter, match="valid memory swappiness range is 0-100"):
        host(MemorySwappiness=101)


@pytest.mark.integration
def test_memory_swappiness_reaches_a_v1_memory_cgroup(engine):
    client = engine.client()
    try:
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, init=True,
                                  mem_swappiness=17)
        try:
            c.reload()
            knob = _cgroup_file(c.attrs["State"]["Pid"], "memory", "memory.swappiness")
            if knob.exists():        # cgroup v1; v2 has none (Docker discards it there too)
                assert knob.read_text().strip() == "17"
            assert c.attrs["HostConfig"]["MemorySwappiness"] == 17
        finally:
            c.remove(force=True)
    finally:
        client.close()


# --- namespace modes and cgroup placement we do not offer: refused, not ignored ------------------

def test_namespace_modes_and_cgroup_placement_we_do_not_offer_are_refused():
    # what the docker CLI 28 sends by default for each passes
    check_create({"Image": "busybox", "HostConfig": {
        "PidMode": "", "IpcMode": "", "UTSMode": "", "CgroupnsMode": "", "UsernsMode": "",
        "CpusetCpus": "", "CpusetMems": "", "CgroupParent": "", "VolumeDriver": "",
        "Isolation": "", "StorageOpt": None, "MaskedPaths": None, "ReadonlyPaths": None}})
    # and what is what we do anyway
    check_create({"Image": "busybox", "HostConfig": {
        "IpcMode": "shareable", "CgroupnsMode": "host", "UsernsMode": "host",
        "Isolation": "default", "VolumeDriver": "local"}})
    # namespace sharing and cpusets (tests/runtime/test_sharing.py, tests/daemon/
    # test_api_sharing.py)
    for host in ({"PidMode": "host"}, {"PidMode": "container:abc"}, {"IpcMode": "host"},
                 {"IpcMode": "container:abc"}, {"IpcMode": "none"}, {"UTSMode": "host"},
                 {"CpusetCpus": "0"}, {"CpusetMems": "0"}):
        check_create({"Image": "busybox", "HostConfig": host})
    # a volume driver is only asked for the container's volumes (as Docker)
    check_create({"Image": "busybox", "HostConfig": {"VolumeDriver": "nfs",
                                                     "Binds": ["/tmp:/mnt"]}})
    for body in ({"Volumes": {"/data": {}}}, {"HostConfig": {"Binds": ["vol:/data"]}},
                 {"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/d"}]}}):
        host = {**body.get("HostConfig", {}), "VolumeDriver": "nfs"}
        with pytest.raises(BadParameter, match="HostConfig.VolumeDriver: 'nfs'"):
            check_create({"Image": "busybox", **body, "HostConfig": host})
    for host, says in [
            ({"PidMode": "vm"}, "HostConfig.PidMode: invalid PID mode 'vm'"),
            ({"IpcMode": "container:"}, "HostConfig.IpcMode: invalid IPC mode"),
            ({"UTSMode": "private"}, "HostConfig.UTSMode: invalid UTS mode"),
            ({"CgroupnsMode": "private"}, "HostConfig.CgroupnsMode: 'private'"),
            ({"UsernsMode": "private"}, "HostConfig.UsernsMode"),
            ({"CpusetCpus": "0-x"}, "Invalid value 0-x for cpuset cpus: invalid format"),
            ({"CgroupParent": "/mine"}, "HostConfig.CgroupParent"),
            ({"Isolation": "hyperv"}, "Invalid isolation: 'hyperv' - linux only supports"),
            ({"StorageOpt": {"size": "1G"}}, "HostConfig.StorageOpt"),
            ({"MaskedPaths": []}, "HostConfig.MaskedPaths"),
            ({"ReadonlyPaths": ["/proc/x"]}, "HostConfig.ReadonlyPaths")]:
        with pytest.raises(BadParameter, match=says):
            check_create({"Image": "busybox", "HostConfig": host})


@pytest.mark.integration
def test_a_namespace_mode_we_do_not_offer_is_a_400_and_makes_nothing(engine):
    import docker

    client = engine.client()
    try:
        for kw, field in [({"cgroupns": "private"}, "CgroupnsMode"),
                          ({"cgroup_parent": "/mine"}, "CgroupParent")]:
            with pytest.raises(docker.errors.APIError) as refused:
                client.containers.create("busybox", ["true"], **kw)
            assert refused.value.status_code == 400
            assert f"HostConfig.{field}" in refused.value.explanation
        assert client.containers.list(all=True) == []
    finally:
        client.close()


# --- network_mode container:X (Compose's service:x): X's host name and /etc files --------------

@pytest.mark.integration
def test_a_container_on_anothers_network_has_its_name_and_etc_files(engine):
    import docker

    client = engine.client()
    try:
        owner = client.containers.run("busybox", ["sleep", "1000"], detach=True, init=True,
                                      hostname="pcowner", extra_hosts={"pcextra": "10.9.8.7"})
        try:
            mine = f"container:{owner.id}"
            out = client.containers.run("busybox", ["sh", "-c", "hostname; cat /etc/hostname; "
                                        "grep -c pcextra /etc/hosts"],
                                        network_mode=mine, remove=True)
            assert out.decode().split() == ["pcowner", "pcowner", "1"]
            with pytest.raises(docker.errors.APIError) as refused:
                client.containers.create("busybox", ["true"], network_mode=mine,
                                         hostname="pcmine")
            assert refused.value.status_code == 400
            assert "conflicting options: hostname and the network mode" \
                in refused.value.explanation
        finally:
            owner.remove(force=True)
    finally:
        client.close()


# --- fields Docker discards where the kernel lacks them: its warnings, not silence --------------

def test_discarded_fields_get_dockers_warnings():
    from engine.containers.discarded import warnings

    assert warnings({"BlkioWeight": 0, "BlkioWeightDevice": [], "OomKillDisable": False}) == []
    assert warnings(None) == []
    got = warnings({"BlkioWeight": 300, "OomKillDisable": True,
                    "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1024}]})
    assert got == ["Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                   "Weight discarded.",
                   "Your kernel does not support BPS Block I/O read limit or the cgroup is not "
                   "mounted. Block I/O BPS read limit discarded.",
                   "Your kernel does not support OomKillDisable. OomKillDisable discarded."]


@pytest.mark.integration
def test_create_answers_with_the_warnings_and_the_docker_cli_prints_them(docker):
    r = docker.run("create", "--name", "pcwarn", "--blkio-weight", "300", "busybox", "true")
    try:
        assert b"WARNING: Your kernel does not support Block I/O weight" in r.stderr
        clean = docker.run("create", "--name", "pcnowarn", "busybox", "true")
        assert b"WARNING" not in clean.stderr
    finally:
        docker.run("rm", "-f", "pcwarn", "pcnowarn", check=False)
