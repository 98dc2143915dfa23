from __future__ import annotations

import pytest

from compose.graph import DependencyCycleError
from compose.orchestrator.errors import NoSuchService
from compose.canonical import service_from
from compose.model import config_hash
from compose.orchestrator.project_view import Dependency, from_canonical

DATA = {
    "services": {
        "db": {"image": "b", "volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
        "cache": {"image": "b", "networks": {"back": None}},
        "api": {"image": "b", "depends_on": {
            "db": {"condition": "service_healthy", "required": True},
            "cache": {"condition": "service_started", "required": False, "restart": True}}},
        "web": {"image": "b", "depends_on": ["api"], "deploy": {"replicas": 2}},
        "vpn": {"image": "b", "network_mode": "service:web", "volumes_from": ["db:ro"]},
    },
    "networks": {"back": {"name": "custom_back"}, "ext": {"external": True, "name": "shared"}},
    "volumes": {"data": {}},
}


def test_dependencies_and_generations():
    p = from_canonical("demo", DATA)
    assert p.services["api"].depends_on == (
        Dependency("db", "service_healthy", True, False),
        Dependency("cache", "service_started", False, True))
    assert p.with_dependencies(["web"]) == ["db", "cache", "api", "web"]
    assert p.start_generations() == [["db", "cache"], ["api"], ["web"], ["vpn"]]
    assert p.stop_generations(["api", "db"]) == [["api"], ["db"]]
    assert p.services["vpn"].namespace_parents == ("web", "db")
    assert p.services["web"].replicas == 2


def test_resources_names_and_usage():
    p = from_canonical("demo", DATA)
    assert {k: r.name for k, r in p.networks.items()} == {
        "back": "custom_back", "ext": "shared", "default": "demo_default"}
    assert p.networks["ext"].external and not p.networks["back"].external
    assert p.volumes["data"].name == "demo_data"
    assert p.services["cache"].networks() == ["back"]
    assert p.services["vpn"].networks() == []
    assert p.services["db"].named_volumes() == ["data"]


def test_errors():
    p = from_canonical("demo", DATA)
    with pytest.raises(NoSuchService, match="no such service: nope"):
        p.with_dependencies(["nope"])
    cyclic = {"services": {"a": {"image": "b", "depends_on": ["b"]},
                           "b": {"image": "b", "depends_on": ["a"]}}}
    with pytest.raises(DependencyCycleError, match="dependency cycle detected: a -> b -> a"):
        from_canonical("demo", cyclic).start_generations()


def test_config_hash_ignores_what_compose_ignores():
    def h(data):
        return config_hash(service_from("s", data))

    base = {"image": "b", "command": ["x"]}
    assert h(base) == h({**base, "depends_on": {"z": {}}, "scale": 3, "deploy": {"replicas": 4}})
    assert h(base) != h({**base, "command": ["y"]})


def test_the_view_carries_the_models_hash():
    p = from_canonical("demo", DATA)
    assert p.services["db"].config_hash == config_hash(p.services["db"].model)
