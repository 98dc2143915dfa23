"""Garbage collection of the image store: what no image refers to is deleted, and what crashed
imports left in tmp/ is swept.

The store decides what is referenced (it owns the record format); this module owns the deleting,
which must never let a reader see half of a layer directory. Callers hold the store's `gc` and
`meta` locks.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from engine.pids import pid_exists


def collect(root: Path, keep_layers: set[str], keep_blobs: set[str],
            tempdir: Callable[[], Path]) -> None:
    """Delete layers (hex of their diff_id) and blobs (hex of their digest) not in the keep sets,
    then sweep tmp/."""
    for entry in (root / "layers").iterdir():
        if entry.name.removesuffix(".json") in keep_layers:
            continue
        if entry.is_dir():
            # Out of sight first, so nobody sees a half-deleted lower dir.
            doomed = tempdir() / "layer"
            os.rename(entry, doomed)
            shutil.rmtree(doomed.parent, ignore_errors=True)
        else:
            unlink(entry)
    for blob in (root / "blobs" / "sha256").iterdir():
        if blob.name not in keep_blobs:
            unlink(blob)
    sweep_tmp(root)


def sweep_tmp(root: Path) -> None:
    """Remove tmp/ entries of processes that no longer run (a crash mid-import). Our own
    process's entries belong to work in progress in some thread (a bootstrap writing its
    rootfs tarball, say); every operation removes its own when it ends."""
    for debris in (root / "tmp").iterdir():
        owner = debris.name.split("-", 1)[0]
        if owner.isdigit() and pid_exists(int(owner)):
            continue
        if debris.is_dir() and not debris.is_symlink():
            shutil.rmtree(debris, ignore_errors=True)
        else:
            unlink(debris)


def unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
