"""The Image value and its Docker API shapes (pure).

An image is its OCI config JSON (id = sha256 of those bytes, as Docker computes it) plus what the
store knows about it: tags, digests, unpacked sizes. `inspect_shape` / `summary_shape` render the
Docker Engine API v1.41 JSON for `GET /images/{name}/json` and `GET /images/json`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

# Every key Docker's inspect output carries in "Config", with Docker's empty values.
_CONFIG_DEFAULTS: dict = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}
# Present in Docker's output only when set.
_CONFIG_OPTIONAL = ("ExposedPorts", "StopSignal", "Healthcheck", "Shell", "ArgsEscaped")
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Image:
    id: str                          # "sha256:<config digest>"
    repo_tags: tuple[str, ...]       # familiar form: "busybox:latest"
    repo_digests: tuple[str, ...]    # familiar form: "busybox@sha256:..."
    config: dict                     # the OCI config's "config" object (Env, Cmd, ...)
    diff_ids: tuple[str, ...]        # lowest layer first
    created: str                     # RFC 3339
    size: int                        # bytes of file content over all layers
    architecture: str = "amd64"
    os: str = "linux"
    variant: str = ""
    author: str = ""
    comment: str = ""
    manifest_digest: str = ""        # of the manifest it came with ("" for `import`)
    parent: str = ""                 # id of the image this one was committed on (builds)

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]


def config_digest(config_bytes: bytes) -> str:
    return "sha256:" + hashlib.sha256(config_bytes).hexdigest()


def canonical_json(value) -> bytes:
    """Deterministic JSON bytes: the same content always gives the same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def image_from_config(config_bytes: bytes, *, repo_tags=(), repo_digests=(), size: int = 0,
                      manifest_digest: str = "", parent: str = "") -> Image:
    doc = json.loads(config_bytes)
    rootfs = doc.get("rootfs") or {}
    return Image(
        id=config_digest(config_bytes),
        repo_tags=tuple(repo_tags),
        repo_digests=tuple(repo_digests),
        config=dict(doc.get("config") or {}),
        diff_ids=tuple(rootfs.get("diff_ids") or ()),
        created=doc.get("created") or ZERO_TIME,
        size=size,
        architecture=doc.get("architecture", ""),
        os=doc.get("os", ""),
        variant=doc.get("variant", ""),
        author=doc.get("author", ""),
        comment=doc.get("comment", ""),
        manifest_digest=manifest_digest,
        parent=parent,
    )


def rfc3339_to_unix(text: str) -> int:
    """Seconds since the epoch of an RFC 3339 time, fractions of any length allowed."""
    if not text or text.startswith("0001-"):
        return 0
    text = text.replace("Z", "+00:00")
    if "." in text:
        # Python parses at most 6 fractional digits; Go writes up to 9.
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def docker_config(config: dict) -> dict:
    """An OCI config object in the shape Docker's inspect prints it."""
    shaped = dict(_CONFIG_DEFAULTS)
    for key in _CONFIG_DEFAULTS:
        if config.get(key) is not None:
            shaped[key] = config[key]
    for key in _CONFIG_OPTIONAL:
        if config.get(key) is not None:
            shaped[key] = config[key]
    return shaped


def inspect_shape(image: Image, *, layer_dirs: list[str] | None = None,
                  last_tag_time: str = "") -> dict:
    """Docker's `GET /images/{name}/json` body."""
    shape = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": image.parent,
        "Comment": image.comment,
        "Created": image.created,
        "Container": "",
        "ContainerConfig": docker_config({}),
        "DockerVersion": "",
        "Author": image.author,
        "Config": docker_config(image.config),
        "Architecture": image.architecture,
        "Os": image.os,
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(reversed(layer_dirs or [])),   # overlay order: top first
        }},
        "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
        "Metadata": {"LastTagTime": last_tag_time or ZERO_TIME},
    }
    if image.variant:
        shape["Variant"] = image.variant
    return shape


def summary_shape(image: Image) -> dict:
    """One item of Docker's `GET /images/json` body."""
    return {
        "Containers": -1,
        "Created": rfc3339_to_unix(image.created),
        "Id": image.id,
        "Labels": image.config.get("Labels") or None,
        "ParentId": image.parent,
        "RepoDigests": list(image.repo_digests) or (["<none>@<none>"] if not image.repo_tags
                                                     else []),
        "RepoTags": list(image.repo_tags) or ["<none>:<none>"],
        "SharedSize": -1,
        "Size": image.size,
        "VirtualSize": image.size,
    }


def history_shape(image: Image, history: list[dict], layer_sizes: list[int]) -> list[dict]:
    """Docker's `GET /images/{name}/history` body, newest first.

    Steps marked `empty_layer` made no layer; the others take the layers in order. The newest
    step carries the image id and tags, older ones "<missing>" (we keep no parent images).
    """
    sizes = iter(layer_sizes)
    rows = []
    for step in history:
        size = 0 if step.get("empty_layer") else next(sizes, 0)
        rows.append({"Id": "<missing>", "Created": rfc3339_to_unix(step.get("created", "")),
                     "CreatedBy": step.get("created_by", ""), "Tags": None, "Size": size,
                     "Comment": step.get("comment", "")})
    leftover = list(sizes)
    if not rows or leftover:   # no (or incomplete) history: one row per remaining layer
        for size in leftover or [0]:
            rows.append({"Id": "<missing>", "Created": rfc3339_to_unix(image.created),
                         "CreatedBy": "", "Tags": None, "Size": size, "Comment": ""})
    rows.reverse()
    rows[0]["Id"] = image.id
    rows[0]["Tags"] = list(image.repo_tags) or None
    return rows
