"""The networking side of a container create, without a daemon: legacy-link targets resolved
(Docker's words and statuses), static addresses only on user-configured subnets, and the link
names a target is listed under. Records and networks are plain stand-ins."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from engine.containers import networking
from engine.containers.model import parse_create
from engine.errors import BadParameter, NotFound


@dataclass
class Rec:
    id: str
    name: str
    body: dict = field(default_factory=dict)

    @property
    def config(self):
        return parse_create({"Image": "busybox", "Cmd": ["true"], **self.body})


class Store:
    def __init__(self, *recs: Rec) -> None:
        self.recs = list(recs)

    def all(self):
        return list(self.recs)

    def get(self, ref: str):
        for r in self.recs:
            if ref in (r.id, r.name) or (len(ref) >= 3 and r.id.startswith(ref)):
                return r
        raise NotFound(f"No such container: {ref}")


def links(*items: str, mode: str = "default") -> dict:
    return {"HostConfig": {"Links": list(items), "NetworkMode": mode}}


def test_a_missing_link_target_is_a_400_naming_it():
    store = Store(Rec("a" * 64, "db"))
    networking.check_link_targets(store, links("db:database"), "default")
    with pytest.raises(BadParameter) as err:
        networking.check_link_targets(store, links("db", "nosuch:x"), "default")
    assert err.value.message == "could not get container for nosuch: No such container: nosuch"
    assert err.value.status == 400


def test_links_on_a_user_defined_network_are_not_legacy_and_need_no_target():
    networking.check_link_targets(Store(), links("later:x", mode="mynet"), "mynet")


def test_a_target_in_another_netns_is_followed_to_its_owner():
    owner = Rec("o" * 64, "host-one", {"HostConfig": {"NetworkMode": "host"}})
    sidecar = Rec("s" * 64, "side", {"HostConfig": {"NetworkMode": "container:host-one"}})
    with pytest.raises(BadParameter, match="host type networking can't be used with links"):
        networking.check_link_targets(Store(owner, sidecar), links("side:x"), "default")
    gone = Rec("g" * 64, "orphan", {"HostConfig": {"NetworkMode": "container:vanished"}})
    with pytest.raises(BadParameter, match="could not get container for vanished"):
        networking.check_link_targets(Store(gone), links("orphan"), "default")


def _wiring(*nets):
    return SimpleNamespace(networks=SimpleNamespace(list=lambda: list(nets)))


def test_static_addresses_need_a_user_configured_subnet():
    chosen = SimpleNamespace(name="auto", id="1" * 64, user_subnet=False)
    given = SimpleNamespace(name="pinned", id="2" * 64, user_subnet=True)
    mgr = _wiring(chosen, given)
    static = {"IPAMConfig": {"IPv4Address": "10.1.0.5"}}
    networking.check_static_address(mgr, "pinned", static)
    networking.check_static_address(mgr, "auto", {"Aliases": ["x"]})   # no address: fine
    networking.check_static_address(mgr, "later", static)   # unknown yet: the start says so
    for ref in ("auto", "1" * 64):
        with pytest.raises(BadParameter) as err:
            networking.check_static_address(mgr, ref, static)
        assert err.value.message == (
            f"invalid config for network {ref}: user specified IP address is supported only "
            "when connecting to networks with user configured subnets")
    for ref in ("bridge", "default"):
        with pytest.raises(BadParameter, match="supported on user defined networks only"):
            networking.check_static_address(mgr, ref, static)


def test_link_names_are_per_target_and_only_for_legacy_links():
    db = Rec("d" * 64, "db")
    web = Rec("w" * 64, "web", links("db:database", "nosuch:x"))
    api = Rec("a" * 64, "api", links("dddd:db"))
    user = Rec("u" * 64, "user", links("db:x", mode="mynet"))    # not legacy: no name
    names = networking.link_names(Store(db, web, api, user))
    assert names == {db.id: ["/web/database", "/api/db"]}
