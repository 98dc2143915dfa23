"""engine.netboundary: netbridge's own errors become the engine's API errors with the same
message, for every kind; attribute reads and writes reach the manager. Unit tests."""
from __future__ import annotations

import pytest
import trio

from engine.errors import BadParameter, Conflict, EngineError, NotFound
from engine.netboundary import Networks, engine_error
from netbridge import errors as nb
from netbridge.firewall import FirewallError
from netbridge.netlink import InterfaceNotFound


@pytest.mark.parametrize("theirs,ours,status", [
    (nb.InvalidRequest("invalid network name: name is empty"), BadParameter, 400),
    (nb.NotFound("network x not found"), NotFound, 404),
    (nb.Conflict("network with name x already exists"), Conflict, 409),
    (nb.HostFailure("cannot read network state /x: bad"), EngineError, 500),
    (FirewallError("iptables-restore failed: x"), EngineError, 500),
    (InterfaceNotFound("pcbr0123", "/proc/1/ns/net"), EngineError, 500),
])
def test_each_kind_keeps_its_message_and_status(theirs, ours, status):
    mapped = engine_error(theirs)
    assert type(mapped) is ours and mapped.status == status
    assert mapped.message == theirs.message


class FakeManager:
    def __init__(self) -> None:
        self.chains = "chains"
        self.container_links = None

    def get(self, name: str):
        raise nb.NotFound(f"network {name} not found")

    def create(self, name: str):
        raise nb.Conflict(f"network with name {name} already exists")

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED):
        raise nb.HostFailure("cannot bind the DNS server")


def test_calls_through_the_boundary_raise_engine_errors():
    nets = Networks(FakeManager())
    with pytest.raises(NotFound, match="network nope not found") as err:
        nets.get("nope")
    assert isinstance(err.value.__cause__, nb.NotFound)   # the original stays for the logs
    with pytest.raises(Conflict, match="already exists"):
        nets.create("a")
    with pytest.raises(EngineError, match="cannot bind the DNS server"):
        trio.run(nets.serve)


def test_attributes_read_and_written_reach_the_manager():
    inner = FakeManager()
    nets = Networks(inner)
    assert nets.chains == "chains" and nets.inner is inner
    nets.container_links = lambda cid: {"db": "x"}
    assert inner.container_links("c") == {"db": "x"}
    assert nets.container_links("c") == {"db": "x"}
