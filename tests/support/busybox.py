"""Tiny test images made from Debian's busybox-static: fast, offline, and real.

`make_busybox_rootfs(dir)` lays out a root filesystem with the static busybox binary, a
symlink per applet, /etc/passwd and /etc/group (root, nobody and an `app` user 1000:1000),
and /var/www/index.html ("hello"). `make_busybox_tar(path)` packs it as a rootfs tarball
that `pycompose image import` (or the image store's importer) accepts.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n"


def applets() -> list[str]:
    """Applet paths relative to the root (e.g. `bin/sh`), as busybox itself lists them."""
    out = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def make_busybox_rootfs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home/app", "var/www",
              "proc", "sys", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in applets():
        link = root / applet
        if link.name == "busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "var/www/index.html").write_text("hello\n")
    return root


def make_busybox_tar(path: Path) -> Path:
    """A rootfs tarball (like `docker export` output) of the busybox rootfs."""
    staging = path.parent / (path.name + ".rootfs")
    make_busybox_rootfs(staging)
    with tarfile.open(path, "w") as tar:
        for entry in sorted(staging.rglob("*")):
            tar.add(entry, arcname=str(entry.relative_to(staging)), recursive=False)
    shutil.rmtree(staging)
    return path


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """A small tarball of regular files, for tests that need a layer."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
