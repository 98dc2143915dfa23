"""Platforms and choosing a manifest from an index / manifest list (pure)."""
from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from engine.errors import BadParameter, NotFound

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
         "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/amd64`, `linux/arm64/v8`, `amd64` (Docker's --platform)."""
        parts = [p for p in text.strip().lower().split("/")]
        if not all(parts) or not 1 <= len(parts) <= 3:
            raise BadParameter(f"invalid platform {text!r} (expected os/arch[/variant])")
        if len(parts) == 1:
            return cls("linux", _ARCH.get(parts[0], parts[0]))
        return cls(parts[0], _ARCH.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine()
        arch = _ARCH.get(machine, machine)
        return cls("linux", arch, "v8" if arch == "arm64" else "")


def choose_manifest(index: dict, wanted: Platform) -> dict:
    """The descriptor of `index` for `wanted`; a variant is matched only when both name one."""
    candidates = []
    for descriptor in index.get("manifests") or []:
        plat = descriptor.get("platform") or {}
        if plat.get("os", "") != wanted.os or plat.get("architecture", "") != wanted.architecture:
            continue
        variant = plat.get("variant", "")
        if wanted.variant and variant and variant != wanted.variant:
            continue
        # Prefer an exact variant match, then the entry without a variant.
        candidates.append((0 if variant == wanted.variant else 1, descriptor))
    if not candidates:
        offered = sorted({"/".join(p for p in (d.get("platform", {}).get("os", "?"),
                                                d.get("platform", {}).get("architecture", "?"),
                                                d.get("platform", {}).get("variant", "")) if p)
                          for d in index.get("manifests") or []})
        raise NotFound(f"no image for platform {wanted} (the index offers: "
                       f"{', '.join(offered) or 'nothing'})")
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1]
