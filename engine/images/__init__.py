"""The image store: content-addressed blobs, unpacked layers, tags (see docs/contracts.md)."""
from __future__ import annotations

from engine.images.image import Image
from engine.images.store import ImageStore

__all__ = ["Image", "ImageStore"]
