"""The layer cache: which image a build step produced from which parent.

Key = sha256 of the parent image id, the instruction text after substitution, and what else
decides the step's result: the build args in effect (RUN) or the content hash of the copied
files (COPY/ADD). The map lives in `<root>/build/cache/` (one small file per key, written
atomically), so concurrent builds and daemon restarts share it. A hit whose image has been
removed since is a miss.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def step_key(parent: str, instruction: str, *, build_args: dict[str, str] | None = None,
             content: str = "") -> str:
    """The cache key of one step (pure)."""
    doc = {"parent": parent, "instruction": instruction,
           "args": sorted((build_args or {}).items()), "content": content}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


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
