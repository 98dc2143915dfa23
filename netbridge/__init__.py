"""Host networking for the engine: bridges, veth pairs, IPAM, DNS, published ports, egress."""
from __future__ import annotations

from typing import Any

__all__ = ["NetworkManager"]


def __getattr__(name: str) -> Any:
    # `from netbridge import NetworkManager` without paying for trio when only the pure modules
    # (ports, ipam, shapes) are wanted; pyroute2 is imported later still, on first netlink use
    if name == "NetworkManager":
        from .manager import NetworkManager

        return NetworkManager
    raise AttributeError(f"module 'netbridge' has no attribute {name!r}")
