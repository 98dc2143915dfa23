"""Issue #11: after a RUN step the builder tidies the upper dir (mount stubs, directories copied
up only to hold a mount point). The step controls that tree: any component may have become a
symlink to a host path. Nothing on the host may be read, removed or changed through it.

Each build test plants a link to a host canary dir in a RUN step, shaped so that the old
string-joined code removed canary entries; the canary must come out byte for byte the same.
The unit tests do the same on hand-made upper/lower dirs (no build, no mounts).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.build.sandbox import Sandbox

pytestmark = pytest.mark.integration   # real builds (namespaces, overlay, cgroups); root


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below `root` (links not followed): kind, mode, owner, size, content."""
    out: dict[str, tuple] = {".": (os.lstat(root).st_mode,)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = b""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    data = f.read()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                                data)
    return out


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A host dir of exactly what the old code removed: empty files named like the /etc
    stubs and empty directories."""
    root = tmp_path / "pc-canary"
    root.mkdir()
    root.chmod(0o755)
    for name in ("resolv.conf", "hosts"):
        (root / name).write_text("")
    for name in ("b", "n"):
        (root / name).mkdir()
        (root / name).chmod(0o755)
    return root


# -- real builds -----------------------------------------------------------------------------

def test_etc_replaced_by_a_host_link_leaves_the_host_files(env, canary):
    # no /etc in the parent image: /etc, /etc/resolv.conf and /etc/hosts are mount stubs
    before = snapshot(canary)
    dockerfile = ("FROM busybox\nRUN --network=none rm -rf /etc\n"
                  f"RUN --network=none ln -s {canary} /etc\n")
    result, _ = env.build(dockerfile, tags=("esc:etc",))
    assert snapshot(canary) == before
    assert env.store.get("esc:etc").id == result.image_id
    env.assert_clean()


def test_stub_parent_swapped_for_a_host_link_leaves_the_host_dir(env, canary):
    # /m/n is a tmpfs mount stub in a dir /m the step itself then moves away
    before = snapshot(canary)
    dockerfile = ("FROM busybox\nRUN --network=none --mount=type=tmpfs,target=/m/n "
                  f"mv /m /m2 && ln -s {canary} /m\n")
    env.build(dockerfile, tags=("esc:stub",))
    assert snapshot(canary) == before
    env.assert_clean()


def test_copied_up_parent_through_host_links_is_not_removed(env, canary):
    # the image's /a points at the canary; the mount at /a/b/c makes the old code compare
    # "upper/a/b" with "lower/a/b" - both the host's canary/b - and rmdir it
    before = snapshot(canary)
    dockerfile = (f"FROM busybox\nRUN ln -s {canary} /a\n"
                  "RUN --network=none --mount=type=tmpfs,target=/a/b/c "
                  f"rm /a && ln -s {canary} /a\n")
    env.build(dockerfile, tags=("esc:up",))
    assert snapshot(canary) == before
    env.assert_clean()


def test_stubs_made_through_an_image_link_are_not_left_in_the_layer(env):
    # the runtime makes /lnk/t/u at /real/t/u (the link resolved inside the root); the
    # builder used to look for the stub at /lnk/t/u, found nothing, and kept /real/t/u
    dockerfile = ("FROM busybox\nRUN mkdir /real && ln -s /real /lnk\n"
                  "RUN --mount=type=tmpfs,target=/lnk/t/u true\n")
    env.build(dockerfile, tags=("esc:link",))
    code, out = env.run_image("esc:link", ("sh", "-c", "ls -A /real; readlink /lnk"))
    assert (code, out) == (0, "/real\n")
    env.assert_clean()


def test_image_still_gets_its_own_stubs_removed(env):
    # the fix must not keep the stubs in the normal case
    dockerfile = ("FROM busybox\nRUN --network=none rm -rf /etc\n"
                  "RUN --mount=type=tmpfs,target=/m/n true\n")
    env.build(dockerfile, tags=("esc:plain",))
    code, out = env.run_image("esc:plain", ("sh", "-c", "test -e /m || echo no-m; "
                                                   "test -e /etc || echo no-etc"))
    assert (code, out) == (0, "no-m\nno-etc\n")
    env.assert_clean()


# -- crafted upper and lower dirs ------------------------------------------------------------

def make_box(tmp_path: Path, lowers: list[Path]) -> Sandbox:
    box = Sandbox(lowers, tmp_path / "work")
    box.upper.mkdir(parents=True)
    return box


def test_stub_file_below_a_host_link_is_kept(tmp_path, canary):
    box = make_box(tmp_path, [])
    (box.upper / "etc").symlink_to(canary)
    before = snapshot(canary)
    box.remove_stubs(["/etc/resolv.conf", "/etc/hosts", "/etc"], ["/etc/resolv.conf"])
    assert snapshot(canary) == before
    assert (box.upper / "etc").is_symlink()


def test_stub_below_a_relative_link_climbing_out_is_kept(tmp_path, canary):
    box = make_box(tmp_path, [])
    (box.upper / "x").symlink_to(os.path.relpath(canary, box.upper))
    (box.upper / "y").symlink_to("../../../../../../../../../" + str(canary).lstrip("/"))
    before = snapshot(canary)
    box.remove_stubs(["/x/n", "/x/hosts", "/y/b", "/y/resolv.conf"], ["/x/n/q", "/y/b/q"])
    assert snapshot(canary) == before


def test_stub_behind_an_in_root_link_is_not_taken_for_the_stub(tmp_path):
    # the link stays inside the upper dir, but the stub was made at the literal path: an
    # empty file the step made elsewhere is the step's, not a stub
    box = make_box(tmp_path, [])
    (box.upper / "real").mkdir()
    (box.upper / "real" / "hosts").write_text("")
    (box.upper / "etc").symlink_to("/real")
    box.remove_stubs(["/etc/hosts"], [])
    assert (box.upper / "real" / "hosts").exists()


def test_copied_up_parent_compared_through_host_links_is_kept(tmp_path, canary):
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "a").symlink_to(canary)
    box = make_box(tmp_path, [lower])
    (box.upper / "a").symlink_to(canary)
    before = snapshot(canary)
    box.remove_stubs([], ["/a/b/c", "/a/n/c"])
    assert snapshot(canary) == before


def test_copied_up_parent_is_still_dropped_when_real(tmp_path):
    lower = tmp_path / "lower"
    (lower / "a" / "b").mkdir(parents=True)
    for p in (lower / "a", lower / "a" / "b"):
        p.chmod(0o755)
    box = make_box(tmp_path, [lower])
    (box.upper / "a" / "b").mkdir(parents=True)
    for p in (box.upper / "a", box.upper / "a" / "b"):
        p.chmod(0o755)
    box.remove_stubs([], ["/a/b/c"])
    assert list(box.upper.iterdir()) == []


def test_copied_up_parent_with_a_real_lower_but_a_linked_upper_is_kept(tmp_path, canary):
    # lower has a real /b; the upper's /b is replaced... by nothing we may follow
    lower = tmp_path / "lower"
    (lower / "q" / "b").mkdir(parents=True)
    for p in (lower / "q", lower / "q" / "b"):
        p.chmod(0o755)
    box = make_box(tmp_path, [lower])
    (box.upper / "q").symlink_to(canary)
    before = snapshot(canary)
    box.remove_stubs(["/q/b/c"], ["/q/b/c"])
    assert snapshot(canary) == before


def test_missing_does_not_probe_host_paths(tmp_path, canary):
    # "/w/resolv.conf" with /w -> canary: the host's canary/resolv.conf exists, but in the
    # root /w leads to the canary's path *inside the root*, where nothing exists yet: that
    # is where the runtime will make the mount point, so those are the stubs
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "w").symlink_to(canary)
    box = Sandbox([], tmp_path / "work")
    box.merged = merged
    parts = [p for p in str(canary).split("/") if p] + ["resolv.conf"]
    chain = ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    assert box.missing(["/w/resolv.conf"]) == chain


def test_stubs_are_where_the_runtime_makes_them_through_links(tmp_path):
    merged = tmp_path / "merged"
    (merged / "real").mkdir(parents=True)
    (merged / "lnk").symlink_to("/real")
    (merged / "rel").symlink_to("real/../real/sub")
    box = Sandbox([], tmp_path / "work")
    box.merged = merged
    assert box.missing(["/lnk/t/u", "/rel/x"]) == ["/real/sub/x", "/real/t/u", "/real/sub",
                                                   "/real/t"]


def test_layer_of_an_upper_dir_swapped_while_read_has_no_host_file(tmp_path, canary,
                                                                   monkeypatch):
    # `commit --pause=false` reads a live upper dir: the container swaps d for a link to the
    # host right after the layer writer listed d (made deterministic by swapping when d's own
    # entry is written); d's files must still come from d, never from the host
    import io
    import tarfile

    from engine.images.archive import write_diff
    upper = tmp_path / "upper"
    (upper / "d").mkdir(parents=True)
    (upper / "d" / "resolv.conf").write_text("inside\n")
    (upper / "d" / "zz-gone").write_text("removed after the listing\n")
    (canary / "resolv.conf").write_text("host secret\n")
    real_addfile = tarfile.TarFile.addfile

    def swap_after_dir_entry(self, info, fileobj=None):
        real_addfile(self, info, fileobj)
        if info.name == "d" and not (upper / "d").is_symlink():
            (upper / "d" / "zz-gone").unlink()     # listed, then gone: skipped, no error
            (upper / "d").rename(upper / "d.old")
            (upper / "d").symlink_to(canary)

    monkeypatch.setattr(tarfile.TarFile, "addfile", swap_after_dir_entry)
    out = io.BytesIO()
    write_diff(upper, out)
    monkeypatch.undo()
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        contents = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}
    assert b"host secret\n" not in contents.values()
    assert contents["d/resolv.conf"] == b"inside\n"
    assert "d/zz-gone" not in contents


def _tree(root: Path, *dirs: str) -> Path:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for p in [root, *root.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    return root


def test_a_lower_whiteout_on_the_way_hides_the_older_dir(tmp_path):
    # layer 2 deleted /a (a whiteout); the step's new, empty /a/b is not a copy-up of layer
    # 1's /a/b and stays (the old code stopped the build here with ENOTDIR)
    old = _tree(tmp_path / "l1", "a/b")
    newer = tmp_path / "l2"
    newer.mkdir()
    os.mknod(newer / "a", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    box = make_box(tmp_path, [old, newer])
    _tree(box.upper, "a/b")
    box.remove_stubs([], ["/a/b/c"])
    assert (box.upper / "a" / "b").is_dir()


def test_a_lower_opaque_dir_on_the_way_hides_the_older_dir(tmp_path):
    old = _tree(tmp_path / "l1", "a/b")
    newer = _tree(tmp_path / "l2", "a")
    os.setxattr(newer / "a", "trusted.overlay.opaque", b"y")
    box = make_box(tmp_path, [old, newer])
    _tree(box.upper, "a/b")
    box.remove_stubs([], ["/a/b/c"])
    assert (box.upper / "a" / "b").is_dir()
    # without the opaque marker the same dir is a copy-up and goes
    os.removexattr(newer / "a", "trusted.overlay.opaque")
    box.remove_stubs([], ["/a/b/c"])
    assert list(box.upper.iterdir()) == []
