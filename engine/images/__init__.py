"""The image store: content-addressed blobs, unpacked layers, tags (see docs/contracts.md).

Module map (pure modules first):
    reference   parse/normalize image references (`busybox` -> docker.io/library/busybox:latest)
    tarpath     layer entry names, whiteouts, compression magic
    changes     `--change` instructions applied to a config
    image       the Image value; Docker's inspect/summary/history shapes
    mediatypes, platforms   OCI/Docker media types; index platform choice
    archive     safe layer extraction (openat2 RESOLVE_IN_ROOT) and overlay-upper -> diff tar
    store       ImageStore: blobs, layers, records, tags, locks, rmi/prune/GC
    importer    import / load (docker-archive, OCI) / save / commit
    auth, registry, transfer   credentials, registry v2 HTTP client, pull/push/login
"""
from __future__ import annotations

__all__ = ["Image", "ImageStore"]


def __getattr__(name: str):
    # Lazy: CLI commands import engine.images.<pure module> and must not pay for the store.
    if name == "Image":
        from engine.images.image import Image
        return Image
    if name == "ImageStore":
        from engine.images.store import ImageStore
        return ImageStore
    raise AttributeError(name)
