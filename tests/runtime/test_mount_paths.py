"""Mount targets resolved inside the container's root, and the destinations no mount may take.

Unit tests on temp dirs (no root needed except where marked): `sc.mount` is replaced by a
recorder that writes down where each mount would *really* land (the /proc/self/fd/N target
read back at call time), so a test sees exactly what the kernel would have been asked to cover.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.runtime import destinations, mounts, rootpath
from engine.runtime import syscalls as sc
from engine.runtime.mounts import MakeLink, MakeNode, MaskPath, MountOp, ReadonlyPath, TargetRule
from tests.runtime.mount_recorder import mode, recorded  # noqa: F401 - fixtures, used by name


@pytest.fixture
def tree(tmp_path):
    """A container root next to a host dir holding a canary the container must never reach."""
    root = tmp_path / "root"
    host = tmp_path / "host"
    for d in (root / "etc", root / "proc", root / "sys", root / "dev", host):
        d.mkdir(parents=True)
    (host / "shadow").write_text("host secret\n")
    return root, host


def _inside(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(f"{root}/")


# --- destinations (pure) ---------------------------------------------------------------------

@pytest.mark.parametrize("target, volume, refused", [
    ("/proc", False, "on or under /proc"),
    ("/proc/", False, "on or under /proc"),
    ("/proc/sys/kernel", False, "on or under /proc"),
    ("/proc/cpuinfo", False, "on or under /proc"),        # no lxcfs-style exceptions
    ("//proc", False, "on or under /proc"),
    ("/srv/../proc/sys", False, "on or under /proc"),
    ("/", False, "can't be '/'"),
    ("/data/..", False, "can't be '/'"),
    ("/sys", True, "replace the container's /sys"),
    ("/dev/", True, "replace the container's /dev"),
    ("/sys", False, None),                                # a host bind (-v /sys:/sys:ro)
    ("/dev", False, None),
    ("/dev/shm", True, None),
    ("/sys/fs/cgroup", True, None),
    ("/procfiles", False, None),
    ("/proc2/x", True, None),
])
def test_refused_destinations(target, volume, refused):
    reason = destinations.refusal(target, volume=volume)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason and "\n" not in reason


# --- resolution ------------------------------------------------------------------------------

def _open(root: Path, path: str, flags: int = os.O_PATH) -> str:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = rootpath.open_in_root(root_fd, str(root), path, flags)
    finally:
        os.close(root_fd)
    try:
        return rootpath.located(fd, str(root))
    finally:
        os.close(fd)


def test_links_resolve_inside_the_root(tree, mode):
    root, host = tree
    (root / "etc" / "abs").symlink_to(str(host))                   # absolute, at the host dir
    (root / "etc" / "rel").symlink_to("../../../../../../" + str(host).lstrip("/"))
    (root / "up").symlink_to("../../..")
    (root / str(host).lstrip("/")).mkdir(parents=True)
    (root / str(host).lstrip("/") / "shadow").write_text("container's own\n")
    inside = str(host)  # the same path, taken inside the root
    assert _open(root, "/etc/abs/shadow") == f"{inside}/shadow"
    assert _open(root, "/etc/rel/shadow") == f"{inside}/shadow"
    assert _open(root, "/up") == "/"
    assert _open(root, "/../../../etc") == "/etc"
    fd = os.open(root, os.O_PATH)
    try:
        inner = rootpath.open_in_root(fd, str(root), "/etc/abs/shadow", os.O_RDONLY)
    finally:
        os.close(fd)
    with os.fdopen(inner) as f:
        assert f.read() == "container's own\n"


def test_dangling_and_loops(tree, mode):
    root, host = tree
    (root / "gone").symlink_to(str(host / "shadow"))    # exists on the host, not in the root
    (root / "loop").symlink_to("loop")
    with pytest.raises(FileNotFoundError):
        _open(root, "/gone")
    with pytest.raises(OSError) as err:
        _open(root, "/loop/x")
    assert err.value.errno == errno.ELOOP


def test_nofollow_gives_the_link_itself(tree, mode):
    root, _host = tree
    os.rmdir(root / "proc")
    (root / "proc").symlink_to("/")
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = rootpath.open_in_root(root_fd, str(root), "/proc", os.O_PATH | os.O_NOFOLLOW)
    finally:
        os.close(root_fd)
    try:
        assert os.path.islink(os.readlink(f"/proc/self/fd/{fd}"))
        assert rootpath.located(fd, str(root)) == "/proc"
    finally:
        os.close(fd)


def test_fallback_refuses_an_fd_that_landed_outside(tree, monkeypatch):
    """A link swapped in between the user-space walk and the open (the race openat2 closes):
    the fd's real place is checked, so the open fails instead of returning the host file."""
    root, host = tree
    monkeypatch.setattr(rootpath, "use_openat2", False)
    (root / "etc" / "hosts").symlink_to(str(host / "shadow"))
    # the walk saw a plain file; by the open it is the planted link
    monkeypatch.setattr(rootpath, "resolve_parts", lambda *_a, **_k: ["etc", "hosts"])
    with pytest.raises(OSError) as err:
        _open(root, "/etc/hosts")
    assert err.value.errno == errno.EXDEV and "outside the container's root" in str(err.value)


def test_openat2_is_used_when_the_kernel_has_it(tree, monkeypatch):
    root, _host = tree
    seen = []
    real = sc.openat2
    monkeypatch.setattr(rootpath, "use_openat2", True)
    monkeypatch.setattr(sc, "openat2", lambda *a: seen.append(a[3]) or real(*a))
    _open(root, "/etc")
    assert seen == [sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS]


def test_enosys_switches_to_the_fallback(tree, monkeypatch):
    root, _host = tree
    monkeypatch.setattr(rootpath, "use_openat2", True)

    def no_openat2(*_a):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(sc, "openat2", no_openat2)
    assert _open(root, "/etc") == "/etc"
    assert rootpath.use_openat2 is False


def test_created_mount_points_stay_inside(tree, mode):
    root, host = tree
    (root / "data").symlink_to(str(host / "newdir" / "deep"))   # dangling: made inside
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = rootpath.open_or_create(root_fd, str(root), "/data/sub", "dir")
        try:
            assert rootpath.located(fd, str(root)) == f"{host}/newdir/deep/sub"
        finally:
            os.close(fd)
        fd = rootpath.open_or_create(root_fd, str(root), "/etc/x/file", "file")
        os.close(fd)
    finally:
        os.close(root_fd)
    assert not (host / "newdir").exists()
    assert (root / str(host).lstrip("/") / "newdir" / "deep" / "sub").is_dir()
    assert (root / "etc" / "x" / "file").is_file()


# --- applying ops ------------------------------------------------------------------------------

@pytest.mark.parametrize("link", ["/", "..", "/proc", "sys"])
def test_proc_sys_dev_must_be_real_directories(tree, recorded, mode, link):
    """An image shipping `/proc -> /` (CVE-2019-19921 class) gets no procfs over its root."""
    root, _host = tree
    for name, fstype in (("proc", "proc"), ("sys", "sysfs"), ("dev", "tmpfs")):
        (root / name).rmdir()
        (root / name).symlink_to(link)
        op = MountOp(f"/{name}", fstype, fstype, rule=TargetRule.REAL_DIR)
        with pytest.raises(OSError) as err:
            mounts.apply_op(str(root), op)
        assert err.value.errno == errno.ENOTDIR and "not a real directory" in str(err.value)
        (root / name).unlink()
        (root / name).mkdir()
    assert recorded == []
    (root / "proc" / "x").mkdir()   # a real directory is fine
    mounts.apply_op(str(root), MountOp("/proc", "proc", "proc", rule=TargetRule.REAL_DIR))
    assert recorded == [("proc", f"{root}/proc", "proc", 0)]


@pytest.mark.parametrize("target, link", [
    ("/data", "/proc"),
    ("/data", "../../../../proc/sys"),
    ("/data/kernel", "/proc/sys"),
    ("/etc/hosts", "/proc/self/root/etc/shadow"),
    ("/srv", "/"),
])
def test_caller_mount_resolving_into_proc_or_root_is_refused(tree, recorded, mode, target,
                                                             link):
    root, host = tree
    first = target.split("/")[1]
    path = root / first if first != "etc" else root / "etc" / "hosts"
    path.symlink_to(link)
    before = sorted(os.listdir(root / "proc"))
    op = MountOp(target, str(host), None, sc.MS_BIND, create="dir", rule=TargetRule.CALLER)
    with pytest.raises(OSError) as err:
        mounts.apply_op(str(root), op)
    assert err.value.errno == errno.EPERM and "refused" in str(err.value)
    assert recorded == [] and sorted(os.listdir(root / "proc")) == before


def test_caller_bind_through_host_links_lands_inside(tree, recorded, mode):
    """`/etc/hosts -> <host>/shadow`: the bind goes onto a new file inside the root."""
    root, host = tree
    (root / "etc" / "hosts").symlink_to(str(host / "shadow"))
    src = host / "hosts.src"
    src.write_text("10.0.0.1 a\n")
    mounts.apply_op(str(root), MountOp("/etc/hosts", str(src), None, sc.MS_BIND, None, "auto",
                                       TargetRule.CALLER))
    [(source, target, _fstype, _flags)] = recorded
    assert source == str(src)
    assert target == f"{root}{host}/shadow" and os.path.isfile(target)
    assert (host / "shadow").read_text() == "host secret\n"


def test_masks_and_readonly_paths_never_leave_the_root(tree, recorded, mode):
    root, host = tree
    (root / "proc" / "kcore").symlink_to(str(host / "shadow"))   # not inside: skipped
    (root / "proc" / "sys").symlink_to("/")
    (root / "sys" / "firmware").symlink_to("../../../../..")
    mounts.apply_op(str(root), MaskPath("/proc/kcore"))
    mounts.apply_op(str(root), ReadonlyPath("/proc/sys"))
    mounts.apply_op(str(root), MaskPath("/sys/firmware"))
    assert recorded and all(_inside(t, root) for _s, t, _f, _fl in recorded)
    assert all(s is None or s == "tmpfs" or _inside(s, root) for s, _t, _f, _fl in recorded)
    assert (host / "shadow").read_text() == "host secret\n"


def test_masking_a_file_needs_the_real_null_device(tree, recorded, mode):
    root, host = tree
    (root / "proc" / "kcore").write_text("")
    (root / "dev" / "null").symlink_to(str(host / "shadow"))
    with pytest.raises(OSError) as err:
        mounts.apply_op(str(root), MaskPath("/proc/kcore"))
    assert "not the null device" in str(err.value)
    assert recorded == []


def test_dev_links_are_made_inside(tree, mode):
    root, host = tree
    (root / "dev" / "input").symlink_to(str(host))
    mounts.apply_op(str(root), MakeLink("/dev/input/fd", "/proc/self/fd"))
    assert os.listdir(host) == ["shadow"]
    assert os.readlink(root / str(host).lstrip("/") / "fd") == "/proc/self/fd"


@pytest.mark.integration
def test_device_nodes_are_made_inside_with_their_mode(tree, mode):
    if os.geteuid() != 0:
        pytest.fail("mknod needs root (CI runs as root)")
    root, host = tree
    (root / "dev" / "net").symlink_to(str(host))
    mounts.apply_op(str(root), MakeNode("/dev/net/tun", 10, 200, 0o666))
    assert os.listdir(host) == ["shadow"]
    st = os.lstat(root / str(host).lstrip("/") / "tun")
    assert os.major(st.st_rdev) == 10 and st.st_mode & 0o777 == 0o666


def test_a_link_swapped_in_while_resolving_never_sends_a_mount_out(tree, recorded, mode):
    """CVE-2021-30465's shape: another container flips a volume's `x` between a directory and
    a link to the host (atomically, RENAME_EXCHANGE) while mounts are set up below `x`. Every
    mount the kernel is asked for lands inside the root; a lost race may only fail."""
    import ctypes
    import threading

    root, host = tree
    (host / "sub").mkdir()
    v = root / "v"
    (v / "x" / "sub").mkdir(parents=True)
    (v / "l").symlink_to(str(host))
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    stop = threading.Event()

    def flip() -> None:
        a, b = os.fsencode(v / "x"), os.fsencode(v / "l")
        while not stop.is_set():
            libc.renameat2(at_fdcwd, a, at_fdcwd, b, rename_exchange)

    flipper = threading.Thread(target=flip)
    flipper.start()
    failures = 0
    try:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        try:
            for _ in range(1500):
                op = MountOp("/v/x/sub", str(host), None, sc.MS_BIND, create="dir",
                             rule=TargetRule.CALLER)
                try:
                    mounts.apply_op(str(root), op, root_fd)
                except OSError:
                    failures += 1
        finally:
            os.close(root_fd)
    finally:
        stop.set()
        flipper.join()
    assert recorded, "no mount was ever attempted"
    outside = [t for _s, t, _f, _fl in recorded if not _inside(t, root)]
    assert outside == []
    assert sorted(os.listdir(host)) == ["shadow", "sub"] and os.listdir(host / "sub") == []
