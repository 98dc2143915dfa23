"""cp (archive GET/HEAD/PUT), diff, export, commit, update, system df over the docker SDK and the
docker CLI against a real engine: symlinks planted by the container (to /, ../.., a swapped
directory) never read or write the host."""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest


pytestmark = pytest.mark.integration

DOCKER_CLI = "/usr/local/bin/docker"


def make_tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def read_tar(chunks) -> dict[str, tarfile.TarInfo | bytes]:
    data = b"".join(chunks)
    out: dict = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            out[m.name] = tar.extractfile(m).read() if m.isreg() else m
    return out


@pytest.fixture
def running(client):
    made = []

    def run(cmd=("sleep", "300"), **kw):
        c = client.containers.run("busybox", list(cmd), detach=True, **kw)
        made.append(c)
        return c

    yield run
    for c in made:
        try:
            c.remove(force=True)
        except docker.errors.NotFound:
            pass


def sh(c, script: str, user: str = "root") -> bytes:
    code, out = c.exec_run(["sh", "-c", script], user=user)
    assert code == 0, out
    return out


def test_get_archive_of_a_file_has_path_stat_and_content(running):
    c = running()
    sh(c, "echo hello > /tmp/f.txt && chmod 640 /tmp/f.txt")
    chunks, st = c.get_archive("/tmp/f.txt")
    files = read_tar(chunks)
    assert files == {"f.txt": b"hello\n"}
    assert st["name"] == "f.txt" and st["size"] == 6 and st["mode"] == 0o640
    assert st["linkTarget"] == ""


def test_head_archive_reports_a_symlink_and_its_resolved_target(client, running):
    c = running()
    sh(c, "mkdir -p /data/real && ln -s /data/real /data/link")
    st = client.api.get_archive(c.id, "/data/link")[1]
    assert st["mode"] & (1 << 27) and st["linkTarget"] == "/data/real"
    resp = client.api.head(client.api._url("/containers/{0}/archive", c.id),
                           params={"path": "/data/real"})
    assert resp.status_code == 200
    doc = json.loads(base64.b64decode(resp.headers["X-Docker-Container-Path-Stat"]))
    assert doc["name"] == "real" and doc["mode"] & (1 << 31)
    with pytest.raises(docker.errors.NotFound):
        c.get_archive("/no/such/file")


def test_symlink_to_root_reads_the_containers_file_not_the_hosts(daemon, running, canary):
    c = running()
    sh(c, f"mkdir -p {canary} && echo container > {canary}/secret && ln -s / /evil "
          f"&& ln -s ../../../../.. /climb")
    sh(c, "echo container-shadow > /etc/shadow")
    out = subprocess.run([DOCKER_CLI, "cp", f"{c.id}:/evil/etc/shadow", "-"],
                         capture_output=True, env=cli_env(daemon), timeout=60)
    assert out.returncode == 0, out.stderr
    assert read_tar([out.stdout]) == {"shadow": b"container-shadow\n"}
    for path in (f"/evil{canary}/secret", f"/climb{canary}/secret"):
        chunks, st = c.get_archive(path)
        assert read_tar(chunks) == {"secret": b"container\n"}
    # the same through the real docker CLI
    out = subprocess.run([DOCKER_CLI, "cp", f"{c.id}:/evil{canary}/secret", "-"],
                         capture_output=True, env=cli_env(daemon), timeout=60)
    assert out.returncode == 0, out.stderr
    assert read_tar([out.stdout]) == {"secret": b"container\n"}
    assert (canary / "secret").read_text() == "host secret\n"


def test_put_through_a_symlinked_dir_lands_inside_the_container(running, canary):
    c = running()
    sh(c, f"mkdir -p {canary} && ln -s {canary} /linkdir && ln -s / /evil")
    assert c.put_archive("/linkdir", make_tar({"dropped": b"x\n"})) is True
    assert c.put_archive(f"/evil{canary}", make_tar({"dropped2": b"y\n"})) is True
    # members that are links, then a member written through them
    assert c.put_archive("/", make_tar({}, {"hop": str(canary)})) is True
    with pytest.raises(docker.errors.APIError):
        c.put_archive("/", make_tar({"../../outside": b"z"}))
    assert c.put_archive("/", make_tar({"hop/through": b"z\n"})) is True
    assert sorted(os.listdir(canary)) == ["secret"]
    assert sh(c, f"cat {canary}/dropped {canary}/dropped2 {canary}/through") == b"x\ny\nz\n"


def test_put_archive_options_and_errors(client, running):
    c = running(user="1000:1000")
    sh(c, "mkdir -p /srv/dir && echo f > /srv/file && chown 1000:1000 /srv")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("file")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    tar_dir_over_file = buf.getvalue()
    resp = client.api._put(client.api._url("/containers/{0}/archive", c.id),
                           params={"path": "/srv", "noOverwriteDirNonDir": "true"},
                           data=tar_dir_over_file)
    assert resp.status_code == 400 and "cannot overwrite non-directory" in resp.text
    resp = client.api._put(client.api._url("/containers/{0}/archive", c.id),
                           params={"path": "/srv", "copyUIDGID": "true"},
                           data=make_tar({"owned": b"o\n"}))
    assert resp.status_code == 200
    assert sh(c, "stat -c %u:%g /srv/owned") == b"1000:1000\n"
    with pytest.raises(docker.errors.NotFound):
        c.put_archive("/nope", make_tar({"a": b"1"}))
    with pytest.raises(docker.errors.APIError) as err:
        c.put_archive("/srv/file", make_tar({"a": b"1"}))
    assert err.value.status_code == 400 and "not a directory" in str(err.value)


def test_copy_works_on_a_stopped_container_with_its_volume(client, tmp_path):
    (tmp_path / "hostfile").write_text("bound\n")
    c = client.containers.create("busybox", ["sh", "-c", "echo made > /made; ln -sfn / /evil"],
                                 volumes={str(tmp_path): {"bind": "/bound", "mode": "rw"}})
    try:
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert read_tar(c.get_archive("/made")[0]) == {"made": b"made\n"}
        assert read_tar(c.get_archive("/bound/hostfile")[0]) == {"hostfile": b"bound\n"}
        assert read_tar(c.get_archive("/evil/bound/hostfile")[0]) == {"hostfile": b"bound\n"}
        exported = read_tar(c.export())   # the root file system only, not its mounts
        assert exported["made"] == b"made\n" and "bound/hostfile" not in exported
        assert {d["Path"]: d["Kind"] for d in c.diff()}["/made"] == 1
        assert c.put_archive("/bound", make_tar({"new": b"n\n"}))
        assert (tmp_path / "new").read_text() == "n\n"
        assert c.put_archive("/evil/", make_tar({"atroot": b"r\n"}))
        assert not Path("/atroot").exists()
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert read_tar(c.get_archive("/atroot")[0]) == {"atroot": b"r\n"}
    finally:
        c.remove(force=True)


def test_read_only_root_refuses_put_with_403(running):
    c = running(read_only=True)
    with pytest.raises(docker.errors.APIError) as err:
        c.put_archive("/tmp", make_tar({"a": b"1"}))
    assert err.value.status_code == 403


def test_swapping_dir_and_symlink_during_copies_never_touches_the_host(running, canary):
    """A loop in the container turns /race/d into a link to the canary and back while the host
    copies out of and into it: the canary is never read nor written."""
    c = running()
    sh(c, f"mkdir -p /race/real {canary} && echo inside > /race/real/secret "
          f"&& echo decoy > {canary}/secret")
    c.exec_run(["sh", "-c", f"cd /race; while true; do mv real d 2>/dev/null; mv d real; "
                            f"ln -sfn {canary} d; rm -f d; done"], detach=True)
    seen = set()
    deadline = time.monotonic() + 6
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            files = read_tar(c.get_archive("/race/d/secret")[0])
            seen.add(files.get("secret"))
        except docker.errors.NotFound:
            pass
        try:
            c.put_archive("/race/d", make_tar({f"w{n}": b"w"}))
        except docker.errors.APIError:
            pass
    assert b"host secret\n" not in seen
    assert seen & {b"inside\n", b"decoy\n"}   # copies did happen while the loop ran
    assert sorted(os.listdir(canary)) == ["secret"]
    assert (canary / "secret").read_text() == "host secret\n"
    assert n > 20


def test_diff_reports_added_changed_and_deleted(running):
    c = running()
    sh(c, "echo a > /added && rm /bin/true && echo x >> /etc/passwd && mkdir -p /newdir/sub")
    changes = {d["Path"]: d["Kind"] for d in c.diff()}
    assert changes["/added"] == 1 and changes["/bin/true"] == 2
    assert changes["/etc/passwd"] == 0 and changes["/etc"] == 0
    assert changes["/newdir"] == 1 and changes["/newdir/sub"] == 1
    assert "/etc/hosts" not in changes


def test_export_is_the_containers_filesystem(running):
    c = running()
    sh(c, "echo exported > /exported")
    names = read_tar(c.export())
    assert names["exported"] == b"exported\n"
    assert "bin/busybox" in names and "etc/passwd" in names


def test_commit_then_run_shows_the_file_and_the_changes(client, running):
    c = running()
    sh(c, "echo committed > /committed && rm /bin/true")
    img = c.commit(repository="pc-committed", tag="v1", message="a message", author="me",
                   changes=["ENV COMMITTED=yes", 'CMD ["cat", "/committed"]', "LABEL k=v",
                            "WORKDIR /tmp", "EXPOSE 8080"])
    try:
        attrs = client.api.inspect_image("pc-committed:v1")
        assert attrs["Id"] == img.id and attrs["Author"] == "me"
        assert client.api.history("pc-committed:v1")[0]["Comment"] == "a message"
        cfg = attrs["Config"]
        assert "COMMITTED=yes" in cfg["Env"] and cfg["Cmd"] == ["cat", "/committed"]
        assert cfg["Labels"] == {"k": "v"} and cfg["WorkingDir"] == "/tmp"
        assert "8080/tcp" in cfg["ExposedPorts"]
        out = client.containers.run("pc-committed:v1", remove=True)
        assert out == b"committed\n"
        out = client.containers.run("pc-committed:v1", ["sh", "-c", "test -e /bin/true; echo $?"],
                                    remove=True)
        assert out == b"1\n"
        # frozen for the commit, running again after it
        assert client.api.inspect_container(c.id)["State"]["Status"] == "running"
    finally:
        client.images.remove("pc-committed:v1", force=True)


def test_update_writes_limits_live_and_keeps_them(client, running):
    c = running()
    pid = client.api.inspect_container(c.id)["State"]["Pid"]
    resp = client.api.update_container(c.id, mem_limit="64m", memswap_limit="128m",
                                       cpu_shares=512, restart_policy={
                                           "Name": "on-failure", "MaximumRetryCount": 2})
    assert resp == {"Warnings": []}
    # fields the SDK has no argument for, as the docker CLI sends them
    raw = client.api._post_json(client.api._url("/containers/{0}/update", c.id),
                                data={"NanoCpus": 500_000_000, "PidsLimit": 50})
    assert raw.status_code == 200 and raw.json() == {"Warnings": []}
    host = client.api.inspect_container(c.id)["HostConfig"]
    assert host["Memory"] == 64 << 20 and host["PidsLimit"] == 50
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    cg = cgroup_files(pid)
    assert cg["memory.limit"] == str(64 << 20)
    assert cg["pids.max"] == "50"
    assert cg["cpu.quota"] in ("50000", "50000 100000")
    assert cg["cpu.shares"] in ("512", "20")   # v1 shares, or v2's weight for 512 shares
    with pytest.raises(docker.errors.APIError) as err:
        client.api.update_container(c.id, mem_limit="1k")
    assert err.value.status_code == 400


def cgroup_files(pid: int) -> dict[str, str]:
    """The limits of `pid`'s cgroup, read from the kernel (v1 or v2)."""
    out = {}
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if ctrls == "":
            base = Path("/sys/fs/cgroup/unified") if Path("/sys/fs/cgroup/unified").is_dir() \
                else Path("/sys/fs/cgroup")
            d = base / path.lstrip("/")
            for name, key in (("memory.max", "memory.limit"), ("pids.max", "pids.max"),
                              ("cpu.max", "cpu.quota"), ("cpu.weight", "cpu.shares")):
                if (d / name).exists():
                    out.setdefault(key, (d / name).read_text().strip())
            continue
        d = Path("/sys/fs/cgroup") / ctrls / path.lstrip("/")
        if "memory" in ctrls.split(","):
            out["memory.limit"] = (d / "memory.limit_in_bytes").read_text().strip()
        if "pids" in ctrls.split(","):
            out["pids.max"] = (d / "pids.max").read_text().strip()
        if "cpu" in ctrls.split(","):
            out["cpu.quota"] = (d / "cpu.cfs_quota_us").read_text().strip()
            out["cpu.shares"] = (d / "cpu.shares").read_text().strip()
    return out


def test_system_df_counts_images_containers_and_volumes(client, running):
    c = running(volumes=["/anon"])
    sh(c, "dd if=/dev/zero of=/big bs=1024 count=300 2>/dev/null")
    df = client.df()
    mine = [x for x in df["Containers"] if x["Id"] == c.id][0]
    assert mine["SizeRw"] >= 300 * 1024
    bb = [i for i in df["Images"] if "busybox:latest" in i["RepoTags"]][0]
    assert bb["Containers"] >= 1 and bb["Size"] > 0 and df["LayersSize"] > 0
    vols = {v["Name"]: v for v in df["Volumes"]}
    anon = [m["Name"] for m in client.api.inspect_container(c.id)["Mounts"]][0]
    assert vols[anon]["UsageData"]["RefCount"] == 1
    assert df["BuildCache"] == []


def test_distribution_of_an_unreachable_registry_is_a_one_line_error(client):
    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_distribution("127.0.0.1:9/nothing:latest")
    text = err.value.explanation or ""
    assert "127.0.0.1:9" in text and "\n" not in text.strip()


def cli_env(daemon) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{daemon.sock}"
    env["DOCKER_API_VERSION"] = "1.41"
    env["DOCKER_CONFIG"] = str(daemon.base / "docker-cli")
    return env


def test_docker_cli_cp_both_ways_diff_commit_export(daemon, client, running, tmp_path):
    c = running()
    env = cli_env(daemon)
    src = tmp_path / "in.txt"
    src.write_text("from host\n")

    def cli(*args):
        out = subprocess.run([DOCKER_CLI, *args], capture_output=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    cli("cp", str(src), f"{c.id}:/tmp/")
    assert sh(c, "cat /tmp/in.txt") == b"from host\n"
    cli("cp", str(src), f"{c.id}:/renamed.txt")
    assert sh(c, "cat /renamed.txt") == b"from host\n"
    sh(c, "mkdir -p /outdir/sub && echo deep > /outdir/sub/f")
    cli("cp", f"{c.id}:/outdir", str(tmp_path / "got"))
    assert (tmp_path / "got" / "sub" / "f").read_text() == "deep\n"
    diff = cli("diff", c.id).decode().splitlines()
    assert "A /renamed.txt" in diff and "A /outdir/sub/f" in diff
    cli("export", "-o", str(tmp_path / "fs.tar"), c.id)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert "renamed.txt" in tar.getnames()
    cli("commit", "-c", "ENV FROM_CLI=1", c.id, "pc-cli-commit:1")
    try:
        out = cli("run", "--rm", "--network", "none", "pc-cli-commit:1", "cat", "/renamed.txt")
        assert out == b"from host\n"
    finally:
        client.images.remove("pc-cli-commit:1", force=True)
    cli("update", "--memory", "96m", "--memory-swap", "192m", c.id)
    assert client.api.inspect_container(c.id)["HostConfig"]["Memory"] == 96 << 20
    df = cli("system", "df").decode()
    assert "Images" in df and "Containers" in df and "Local Volumes" in df


def test_distribution_of_a_local_registry_names_digest_and_platform(client, tmp_path):
    from tests.images.registryfix import run_registry

    with run_registry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/pc-dist/busybox:1"
        client.images.get("busybox:latest").tag(ref)
        try:
            client.images.push(ref)
            doc = client.api.inspect_distribution(ref)
            pushed = [d for d in client.images.get(ref).attrs["RepoDigests"]
                      if d.startswith(registry.host)]
        finally:
            client.images.remove(ref)
    assert doc["Descriptor"]["digest"] == pushed[0].split("@", 1)[1]
    assert doc["Descriptor"]["size"] > 0 and doc["Descriptor"]["mediaType"].endswith("+json")
    assert doc["Platforms"] and doc["Platforms"][0]["os"] == "linux"
    assert doc["Platforms"][0]["architecture"]


def test_copy_into_a_created_container_before_its_first_start(client):
    c = client.containers.create("busybox", ["cat", "/conf/app.conf"])
    try:
        assert c.put_archive("/", make_tar({"conf/app.conf": b"configured\n"}))
        files = read_tar(c.get_archive("/conf")[0])
        assert sorted(files) == ["conf", "conf/app.conf"] and files["conf"].isdir()
        assert files["conf/app.conf"] == b"configured\n"
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs() == b"configured\n"
        assert {d["Path"]: d["Kind"] for d in c.diff()}["/conf/app.conf"] == 1
    finally:
        c.remove(force=True)


def _last_layer(client, ref: str) -> dict[str, bytes | None]:
    """The newest layer of an image: entry name -> content (None for non-files)."""
    saved = io.BytesIO(b"".join(client.images.get(ref).save()))
    with tarfile.open(fileobj=saved) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        layer = outer.extractfile(manifest[0]["Layers"][-1]).read()
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:*") as tar:
        return {m.name.removeprefix("./").rstrip("/"):
                (tar.extractfile(m).read() if m.isreg() else None) for m in tar}


def _last_layer_names(client, ref: str) -> list[str]:
    return list(_last_layer(client, ref))


def test_engine_made_mount_stubs_are_neither_changes_nor_committed(client, running):
    c = running(volumes=["/newmnt/data"])
    sh(c, "echo mine > /mine")
    paths = [d["Path"] for d in c.diff()]
    assert paths == ["/mine"]
    img = c.commit("pc-stubs", "1")
    try:
        names = _last_layer_names(client, "pc-stubs:1")
        assert "mine" in names
        assert not {"etc/hosts", "etc/hostname", "etc/resolv.conf", "newmnt/data"} & set(names)
    finally:
        client.images.remove(img.id, force=True)


def test_commit_without_pause_while_the_container_swaps_links_takes_no_host_file(
        client, running, canary):
    c = running()
    sh(c, "mkdir -p /swap/d && echo inside > /swap/d/secret")
    c.exec_run(["sh", "-c", f"cd /swap; while true; do mv d real; ln -sfn {canary} d; rm d; "
                            f"mv real d; done"], detach=True)
    for n in range(5):
        img = c.commit("pc-swap", str(n), pause=False)
        try:
            layer = _last_layer(client, f"pc-swap:{n}")
            assert b"host secret\n" not in layer.values()
            assert any(name.startswith("swap") for name in layer)
        finally:
            client.images.remove(img.id, force=True)


def test_copy_into_volumes_of_a_created_container_reaches_them_at_start(client):
    name = f"pc-cpvol-{uuid.uuid4().hex[:8]}"
    c = client.containers.create("busybox", ["cat", "/anon/a", "/named/n"],
                                 volumes=["/anon", f"{name}:/named"])
    try:
        assert c.put_archive("/anon", make_tar({"a": b"anonymous\n"}))
        assert c.put_archive("/named", make_tar({"n": b"named\n"}))
        assert read_tar(c.get_archive("/named/n")[0]) == {"n": b"named\n"}
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs() == b"anonymous\nnamed\n"
        assert "/anon" not in {d["Path"] for d in (c.diff() or [])}
    finally:
        c.remove(force=True, v=True)
        client.volumes.get(name).remove()


def test_archive_of_the_root_shows_kernel_file_systems_as_empty_dirs(running, tmp_path,
                                                                     daemon):
    c = running()
    sh(c, "ln -s / /evil && echo r > /rootfile")
    files = read_tar(c.get_archive("/evil/")[0])
    assert files["evil/rootfile"] == b"r\n" and files["evil/proc"].isdir()
    assert not [n for n in files if n.startswith(("evil/proc/", "evil/sys/"))]
    out = subprocess.run([DOCKER_CLI, "cp", "-L", f"{c.id}:/evil", str(tmp_path / "root")],
                         capture_output=True, env=cli_env(daemon), timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "root" / "rootfile").read_text() == "r\n"
    assert os.listdir(tmp_path / "root" / "proc") == []


def test_commit_of_a_container_exiting_meanwhile(client):
    for n in range(5):
        c = client.containers.run("busybox", ["touch", "/test"], detach=True)
        try:
            img = c.commit("pc-exiting", str(n))
            client.images.remove(img.id, force=True)
        finally:
            c.remove(force=True)


def test_update_of_the_restart_policy_applies_to_the_next_exit(client, running):
    c = running(["sh", "-c", "sleep 1; exit 3"])
    client.api.update_container(c.id, restart_policy={"Name": "always"})
    deadline = time.monotonic() + 20
    while client.api.inspect_container(c.id)["RestartCount"] < 1:
        assert time.monotonic() < deadline, "the container was not restarted"
        time.sleep(0.2)
    client.api.update_container(c.id, restart_policy={"Name": "no"})
    assert client.api.inspect_container(c.id)["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")


def test_copies_leave_no_descriptor_open_in_the_engine(daemon, client, running):
    c = running()
    stopped = client.containers.create("busybox", ["true"])
    sh(c, "ln -s loop /loop && ln -s / /evil && mkdir -p /d && echo x > /d/f")

    def fds() -> int:
        return len(os.listdir(f"/proc/{daemon.proc.pid}/fd"))

    def burst() -> None:
        for target in (c, stopped):
            for path in ("/d", "/evil/d/f", "/no/such", "/loop/x", "/evil/etc/passwd"):
                try:
                    b"".join(target.get_archive(path)[0])
                except docker.errors.APIError:
                    pass
            for dest in ("/d", "/no/such", "/evil/d"):
                try:
                    target.put_archive(dest, make_tar({"n": b"1"}))
                except docker.errors.APIError:
                    pass
        c.diff()
        b"".join(stopped.export())

    try:
        burst()                      # warm up (connections, caches)
        before = fds()
        for _ in range(3):
            burst()
        assert fds() <= before + 2   # a pooled connection or two may come and go
    finally:
        stopped.remove(force=True)
