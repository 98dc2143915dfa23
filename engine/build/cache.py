"""The layer cache: which image a build step produced from which parent.

Key = sha256 of the parent image id and the step's fingerprint: the instruction text after
substitution and what else decides the step's result, the build args in effect (RUN) or the
content hash of the copied files (COPY/ADD). The map lives in `<root>/build/cache/` (one
small file per key, written atomically), so concurrent builds and daemon restarts share it. A
hit whose image has been removed since is a miss.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def step_fingerprint(instruction: str, *, build_args: dict[str, str] | None = None,
                     content: str = "") -> str:
    """What decides one step's result apart from its parent (pure): the instruction text
    after substitution, the build args in effect, the content hash of what it copies. Kept in
    the step's history entry, so an image that travelled (save/load, a registry) still tells
    which step made each of its layers (cachefrom.py)."""
    doc = {"instruction": instruction, "args": sorted((build_args or {}).items()),
           "content": content}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def step_key(parent: str, instruction: str, *, build_args: dict[str, str] | None = None,
             content: str = "") -> str:
    """The cache key of one step (pure): its parent image and its fingerprint."""
    fingerprint = step_fingerprint(instruction, build_args=build_args, content=content)
    return hashlib.sha256(f"{parent}\n{fingerprint}".encode()).hexdigest()


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> str | None:
        try:
            return (self.dir / key).read_text().strip() or None
        except FileNotFoundError:
            return None

    def put(self, key: str, image_id: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(image_id)
            os.replace(tmp, self.dir / key)
        except BaseException:
            os.unlink(tmp)
            raise

    def forget(self, key: str) -> None:
        try:
            (self.dir / key).unlink()
        except FileNotFoundError:
            pass
