"""netbridge's own errors. netbridge imports nothing of the engine: whoever uses it (the engine
daemon) maps these onto its own error types at the boundary (engine/netboundary.py does, keeping
message and meaning). Each carries a one-line message naming the thing at fault."""
from __future__ import annotations


class NetbridgeError(Exception):
    """Root of every netbridge error; `message` is one line, meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidRequest(NetbridgeError):
    """The caller asked for something that can never work (a bad name, subnet, port, MAC)."""


class NotFound(NetbridgeError):
    """No such network, endpoint or interface."""


class Conflict(NetbridgeError):
    """The request clashes with what exists (a name, subnet, address or host port in use)."""


class HostFailure(NetbridgeError):
    """The host refused: a netlink request, iptables, the state file."""
