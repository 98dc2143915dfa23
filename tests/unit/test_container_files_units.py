"""Pure and file-system-only logic behind cp/diff/commit/update/stats/df: path walking inside a
root (links to /, ../.., loops, a mount table), tars out and in, Go file modes, update and
commit bodies, stats and df rows."""
from __future__ import annotations

import errno
import io
import os
import stat
import tarfile

import pytest

from engine.client.cli import copy as cpmod
from engine.client.cli.stats_view import cpu_percent, memory_usage, stats_row
from engine.client.cli.system import df_rows
from engine.containers import archive
from engine.containers.commit import image_config, split_changes
from engine.containers.fsview import MountPoint, View, normalize
from engine.containers.update import merged_body
from engine.errors import BadParameter, NotFound


@pytest.fixture
def tree(tmp_path):
    """root/ is a container's root; outside/ is the host, which nothing may touch."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("container\n")
    (root / "data" / "real").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("host\n")
    os.symlink("/", root / "evil")
    os.symlink("../../../../../..", root / "data" / "climb")
    os.symlink(str(outside), root / "hostlink")
    os.symlink("loop", root / "loop")
    view = View(os.open(root, os.O_PATH | os.O_DIRECTORY))
    yield root, outside, view
    view.close()


def test_links_to_root_and_climbs_resolve_inside_the_root(tree):
    root, outside, view = tree
    for path in ("/evil/etc/shadow", "/data/climb/etc/shadow", "/../../etc/shadow",
                 "/evil/evil/data/climb/etc/shadow"):
        r = view.resolve(path)
        assert r.path == "/etc/shadow"
        assert os.read(os.open(f"/proc/self/fd/{r.fd}", os.O_RDONLY), 100) == b"container\n"
        r.close()
    with pytest.raises(FileNotFoundError):
        view.resolve("/hostlink/secret")   # the host path, looked up inside the root
    with pytest.raises(OSError) as err:
        view.resolve("/loop")
    assert err.value.errno == errno.ELOOP


def test_last_component_link_is_not_followed_unless_asked(tree):
    _root, _outside, view = tree
    r = view.resolve("/evil", follow_last=False)
    assert stat.S_ISLNK(r.st.st_mode) and r.path == "/evil"
    r.close()
    entry = archive.locate(view, "/evil", "c")
    assert entry.link_target == "/" and entry.stat_doc()["mode"] == (1 << 27) | 0o777
    entry.close()
    entry = archive.locate(view, "/evil/", "c")   # a trailing slash follows it
    assert entry.stat_doc()["mode"] & (1 << 31)
    entry.close()
    with pytest.raises(NotFound):
        archive.locate(view, "/nope/x", "c")


def test_mount_table_is_crossed_and_links_inside_a_mount_stay_in_the_root(tree, tmp_path):
    _root, outside, view = tree
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "v.txt").write_text("volume\n")
    os.symlink("/etc", vol / "etclink")
    view.mounts["/data/real"] = MountPoint("/data/real", str(vol))
    assert view.resolve("/data/real/v.txt").path == "/data/real/v.txt"
    assert view.resolve("/evil/data/real/etclink/shadow").path == "/etc/shadow"
    assert view.mount_of("/data/real/v.txt").source == str(vol)
    assert view.mount_of("/data/realx") is None


def test_archive_of_a_directory_keeps_links_as_links(tree):
    root, _outside, view = tree
    (root / "data" / "real" / "f").write_text("f\n")
    os.link(root / "data" / "real" / "f", root / "data" / "real" / "hard")
    entry = archive.locate(view, "/data", "c")
    out = io.BytesIO()
    archive.write_archive(view, entry, out)
    entry.close()
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar}
    assert members["data/climb"].issym() and members["data/climb"].linkname == "../../../../../.."
    assert members["data/real/f"].isreg()
    assert members["data/real/hard"].islnk() and members["data/real/hard"].linkname == "data/real/f"
    assert "data/climb/etc" not in members


def _tar(*members: tuple[str, str, bytes | str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, payload in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    buf.seek(0)
    return buf


def test_extraction_through_planted_links_lands_inside_the_root(tree):
    root, outside, view = tree
    opts = archive.ExtractOptions()
    archive.extract_archive(view, "/evil", "c", _tar(("file", "a", b"1")), opts)
    archive.extract_archive(view, "/data/climb/data", "c", _tar(("file", "b", b"2")), opts)
    # a member that is a link, then members written through it
    archive.extract_archive(view, "/", "c", _tar(("link", "hop", str(outside)),
                                                 ("file", "hop/c", b"3"),
                                                 ("link", "hop2", "../../../.."),
                                                 ("file", "hop2/d", b"4")), opts)
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (root / "a").read_bytes() == b"1" and (root / "data" / "b").read_bytes() == b"2"
    assert (root / outside.relative_to("/") / "c").read_bytes() == b"3"
    assert (root / "d").read_bytes() == b"4"
    with pytest.raises(BadParameter):
        archive.extract_archive(view, "/", "c", _tar(("file", "../x", b"5")), opts)


def test_extraction_replaces_a_planted_link_instead_of_writing_through_it(tree):
    root, outside, view = tree
    os.symlink(str(outside / "secret"), root / "data" / "target")
    archive.extract_archive(view, "/data", "c", _tar(("file", "target", b"new")),
                            archive.ExtractOptions())
    assert (outside / "secret").read_text() == "host\n"
    assert not (root / "data" / "target").is_symlink()
    assert (root / "data" / "target").read_bytes() == b"new"


def test_no_overwrite_dir_non_dir_and_read_only_check(tree):
    root, _outside, view = tree
    (root / "data" / "file").write_text("x")
    strict = archive.ExtractOptions(no_overwrite_dir_non_dir=True)
    with pytest.raises(BadParameter, match="non-directory"):
        archive.extract_archive(view, "/data", "c", _tar(("dir", "file", b"")), strict)
    with pytest.raises(BadParameter, match="with non-directory"):
        archive.extract_archive(view, "/data", "c", _tar(("file", "real", b"y")), strict)
    ro = archive.ExtractOptions(writable=lambda p: not p.startswith("/data"))
    with pytest.raises(archive.ReadOnlyPath):
        archive.extract_archive(view, "/data", "c", _tar(("file", "z", b"z")), ro)
    with pytest.raises(BadParameter, match="not a directory"):
        archive.extract_archive(view, "/etc/shadow", "c", _tar(("file", "z", b"z")), strict)


def test_go_file_modes_and_names():
    assert archive.go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert archive.go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert archive.go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert archive.go_file_mode(stat.S_IFIFO | 0o1644) == (1 << 25) | (1 << 20) | 0o644
    assert [archive.go_base(p) for p in ("/a/b", "/a/b/", "/", "/a/.")] == ["b", "b", "/", "."]
    assert archive.rfc3339(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert normalize("a/../../b/./c") == "/b/c"
    assert archive.member_parts("./a//b/../c") == ["a", "c"]


def test_update_body_rules():
    body = {"Image": "x", "HostConfig": {"Memory": 64 << 20, "AutoRemove": False}}
    out = merged_body(body, {"Memory": 0, "CpuShares": 512, "PidsLimit": 0, "CpuQuota": 0})
    assert out["HostConfig"] == {"Memory": 64 << 20, "AutoRemove": False, "CpuShares": 512,
                                 "PidsLimit": 0}
    assert body["HostConfig"] == {"Memory": 64 << 20, "AutoRemove": False}
    assert merged_body(body, {"CpusetCpus": "0-1", "CpusetMems": ""})["HostConfig"][
        "CpusetCpus"] == "0-1"    # "" is "not given", as 0 for the numbers
    assert "CpusetMems" not in merged_body(body, {"CpusetMems": ""})["HostConfig"]
    with pytest.raises(BadParameter, match="CpuRealtimeRuntime"):
        merged_body(body, {"CpuRealtimeRuntime": 5})
    with pytest.raises(BadParameter, match="AutoRemove"):
        merged_body({"HostConfig": {"AutoRemove": True}}, {"RestartPolicy": {"Name": "always"}})
    with pytest.raises(BadParameter, match="memoryswap"):
        merged_body({"HostConfig": {"Memory": 10 << 20, "MemorySwap": 20 << 20}},
                    {"Memory": 30 << 20})


def test_commit_config_from_container_request_and_changes():
    container = {"Cmd": ["sleep", "1"], "Env": ["A=1"], "Image": "busybox", "HostConfig": {}}
    cfg = image_config(container, {"Labels": {"l": "1"}, "Cmd": None},
                       split_changes(["ENV B=2\nCMD [\"true\"]", "WORKDIR /w"]))
    assert cfg["Cmd"] == ["true"] and cfg["Env"] == ["A=1", "B=2"]
    assert cfg["Labels"] == {"l": "1"} and cfg["WorkingDir"] == "/w"
    assert "HostConfig" not in cfg and "Image" not in cfg
    with pytest.raises(BadParameter):
        image_config(container, None, ["RUN true"])


def test_stats_rows_use_the_host_memory_when_unlimited():
    doc = {"id": "a" * 64, "name": "/web", "pids_stats": {"current": 3},
           "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 20_000,
                         "online_cpus": 2},
           "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000},
           "memory_stats": {"usage": 3 << 20, "limit": (1 << 63) - 4096,
                            "stats": {"total_inactive_file": 1 << 20}},
           "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}}}
    assert cpu_percent(doc) == pytest.approx(40.0)
    assert memory_usage(doc, 8 << 30) == (2 << 20, 8 << 30)
    row = stats_row(doc, 8 << 30, "web")
    assert row["MemUsage"] == "2MiB / 8GiB" and row["MemPerc"] == "0.02%"
    assert row["NetIO"] == "1.5kB / 0B" and row["PIDs"] == "3" and row["ID"] == "a" * 12
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) == 0.0


def test_df_rows():
    doc = {"LayersSize": 2000, "Images": [{"Size": 1500, "Containers": 1},
                                          {"Size": 500, "Containers": 0}],
           "Containers": [{"State": "running", "SizeRw": 10}, {"State": "exited", "SizeRw": 30}],
           "Volumes": [{"UsageData": {"Size": 100, "RefCount": 0}}], "BuildCache": []}
    rows = df_rows(doc)
    assert [r["TotalCount"] for r in rows] == [2, 2, 1, 0]
    assert rows[0]["Reclaimable"] == "500B (25%)" and rows[1]["Reclaimable"] == "30B (75%)"
    assert rows[2]["Active"] == 0 and rows[2]["Reclaimable"] == "100B (100%)"


def test_cp_endpoints_and_rebase():
    assert cpmod.parse_endpoint("web:/etc") == cpmod.Endpoint("/etc", "web")
    assert cpmod.parse_endpoint("./a:b") == cpmod.Endpoint("./a:b")
    assert cpmod.parse_endpoint("-") == cpmod.Endpoint("-")
    with pytest.raises(cpmod.CopyError):
        cpmod.parse_endpoint("web:")
    m = tarfile.TarInfo("src/sub/f")
    cpmod.rebase(m, "src", "dst")
    assert m.name == "dst/sub/f"
    m = tarfile.TarInfo("srcx/f")
    cpmod.rebase(m, "src", "dst")
    assert m.name == "srcx/f"


@pytest.mark.integration
def test_changes_from_an_upper_dir_with_whiteouts_and_opaque_dirs(tmp_path):
    """Needs root: whiteouts are char devices 0:0, opacity a trusted.* xattr."""
    from engine.containers.changes import Kind, container_changes

    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("etc", "bin", "opq/old", "var"):
        (lower / d).mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root\n")
    (lower / "bin" / "true").write_text("")
    os.symlink("/", lower / "var" / "up")        # a link in the image is never followed
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "passwd").write_text("root\nnew\n")
    (upper / "etc" / "hosts").write_text("stub\n")
    (upper / "bin").mkdir()
    os.mknod(upper / "bin" / "true", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "opq" / "new").mkdir(parents=True)
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "var" / "up" / "etc").mkdir(parents=True)   # the image's link replaced by a dir
    found = {c.path: c.kind for c in container_changes(upper, [lower],
                                                       frozenset({"/etc/hosts"}))}
    assert found == {"/bin": Kind.MODIFIED, "/bin/true": Kind.DELETED,
                     "/etc": Kind.MODIFIED, "/etc/passwd": Kind.MODIFIED,
                     "/opq": Kind.MODIFIED, "/opq/new": Kind.ADDED,
                     "/var": Kind.MODIFIED, "/var/up": Kind.MODIFIED,
                     "/var/up/etc": Kind.ADDED}


@pytest.mark.integration
def test_file_capabilities_travel_both_ways(tree):
    """Needs root (CAP_SETFCAP): security.capability is copied out and set on the way in."""
    root, _outside, view = tree
    (root / "ping").write_bytes(b"\x7fELF")
    cap = bytes.fromhex("0100000200200000000000000000000000000000")   # cap_net_raw, v2
    os.setxattr(root / "ping", "security.capability", cap)
    entry = archive.locate(view, "/ping", "c")
    out = io.BytesIO()
    archive.write_archive(view, entry, out)
    entry.close()
    out.seek(0)
    (root / "in").mkdir()
    archive.extract_archive(view, "/in", "c", out, archive.ExtractOptions())
    assert os.getxattr(root / "in" / "ping", "security.capability") == cap


@pytest.mark.integration
@pytest.mark.parametrize("lowerdir_plus", [True, False])
def test_detached_overlay_with_and_without_fsconfig_lowerdir_plus(tmp_path, monkeypatch,
                                                                  lowerdir_plus):
    """Needs root. Kernels before 6.8 take the mount-then-detach way: nothing stays mounted."""
    from engine.containers import fsview

    monkeypatch.setattr(fsview, "use_lowerdir_plus", lowerdir_plus)
    low, up, work, scratch = (tmp_path / n for n in ("low", "up", "work", "scratch"))
    for d in (low, up, work):
        d.mkdir()
    (low / "a").write_text("lower\n")
    (up / "b").write_text("upper\n")
    fd = fsview.detached_overlay([low, up], None, None, readonly=True, scratch=scratch)
    view = View(fd)
    try:
        names = sorted(os.listdir(f"/proc/self/fd/{fd}"))
        assert names == ["a", "b"]
        assert str(tmp_path) not in open("/proc/self/mountinfo").read()
    finally:
        view.close()
    fd = fsview.detached_overlay([low], up, work, readonly=False, scratch=scratch)
    try:
        with open(os.open("new", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("made\n")
    finally:
        os.close(fd)
    assert (up / "new").read_text() == "made\n"
    assert str(tmp_path) not in open("/proc/self/mountinfo").read()
