"""`GET /distribution/{name}/json`: what a registry holds for a reference, without pulling it.

The manifest (or index) is fetched once: its descriptor (media type, digest, size) and the
platforms it offers; a single-platform manifest's platform comes from its config blob. A
registry that cannot be reached is a one-line error naming it.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.images import mediatypes, reference
from engine.images.registry import RegistryClient


def _platform(doc: dict) -> dict:
    out = {"architecture": doc.get("architecture", ""), "os": doc.get("os", "")}
    for key in ("variant", "os.version", "os.features", "features"):
        if doc.get(key):
            out[key] = doc[key]
    return out


def inspect_distribution(ref: str, credentials: Any = None,
                         auth: tuple[str, str] | None = None) -> dict:
    """Docker's DistributionInspect shape: {"Descriptor": {...}, "Platforms": [...]}."""
    target = reference.parse(ref)
    if not target.tag and not target.digest:
        target = reference.parse(str(target) + ":latest")
    client = RegistryClient(target.domain, credentials, None, auth)
    scope = f"repository:{target.path}:pull"
    resp = client.request("GET", f"/v2/{target.path}/manifests/{target.digest or target.tag}",
                          scope=scope, headers={"Accept": mediatypes.ACCEPT},
                          what=f"manifest for {target.familiar()}")
    body = resp.body()
    doc = json.loads(body)
    media_type = doc.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0]
    descriptor = {"mediaType": media_type,
                  "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}
    if media_type in mediatypes.INDEX_TYPES or "manifests" in doc:
        platforms = [_platform(m.get("platform") or {}) for m in doc.get("manifests") or []]
    else:
        config_digest = (doc.get("config") or {}).get("digest", "")
        blob = client.request("GET", f"/v2/{target.path}/blobs/{config_digest}", scope=scope,
                              what=f"config of {target.familiar()}").body()
        platforms = [_platform(json.loads(blob))]
    return {"Descriptor": descriptor, "Platforms": platforms}
