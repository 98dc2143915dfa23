"""What `docker load` reports: `Loaded image: <tag>` for each tag the archive itself names
(docker-archive manifest.json RepoTags, or an OCI index's name annotations), `Loaded image ID:`
for an image it names none for. The store says which images a load made, not which tags came
from the archive, so the archive's own index is read here (headers only when it is an
uncompressed, seekable tar, as `docker save` writes it)."""
from __future__ import annotations

import json
import tarfile
from typing import Any, BinaryIO

from engine.errors import BadParameter
from engine.images import reference
from engine.images.decompress import decompressed

INDEXES = ("manifest.json", "index.json")
MAX_INDEX = 16 << 20   # an index bigger than this is no index we wrote or read


def _familiar(name: str) -> str | None:
    try:
        return reference.familiar(str(reference.parse(name)))
    except (BadParameter, ValueError):
        return None


def tags_in_index(name: str, data: bytes) -> set[str]:
    """The tags one archive index names (pure)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return set()
    names: list[str] = []
    if name == "manifest.json" and isinstance(doc, list):
        for entry in doc:
            if isinstance(entry, dict) and isinstance(entry.get("RepoTags"), list):
                names += [t for t in entry["RepoTags"] if isinstance(t, str)]
    elif name == "index.json" and isinstance(doc, dict):
        for desc in doc.get("manifests") or []:
            notes = desc.get("annotations") if isinstance(desc, dict) else None
            for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
                value = notes.get(key) if isinstance(notes, dict) else None
                if isinstance(value, str) and ("/" in value or ":" in value):
                    names.append(value)
                    break
    return {f for f in map(_familiar, names) if f}


def archive_tags(fileobj: BinaryIO) -> set[str]:
    """The tags an image archive names (manifest.json wins over index.json, as the load)."""
    found: dict[str, bytes] = {}
    for mode in ("r:", "r|"):   # a plain tar: headers only (seeks over blobs); else streamed
        fileobj.seek(0)
        try:
            source = fileobj if mode == "r:" else decompressed(fileobj)
            with tarfile.open(fileobj=source, mode=mode) as tar:
                for member in tar:
                    name = member.name.lstrip("./")
                    if name in INDEXES and member.isfile() and member.size <= MAX_INDEX:
                        f = tar.extractfile(member)
                        found[name] = f.read() if f is not None else b""
            break
        except (tarfile.TarError, EOFError, OSError, BadParameter):
            found.clear()   # not a plain tar (or broken: the load said what is wrong)
    for name in INDEXES:
        if name in found:
            return tags_in_index(name, found[name])
    return set()


def loaded_lines(image: Any, named: set[str]) -> list[str]:
    """The report of one loaded image, given the tags the archive names."""
    tags = [t for t in image.repo_tags if t in named]
    if not tags:
        return [f"Loaded image ID: {image.id}\n"]
    return [f"Loaded image: {t}\n" for t in tags]
