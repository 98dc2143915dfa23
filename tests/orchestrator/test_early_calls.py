"""The network head start: networks ensured on a thread before the executor runs, and the
executor taking those outcomes instead of asking the engine again."""
from __future__ import annotations

import io

import pytest

from compose.orchestrator import networks
from compose.orchestrator.errors import OrchestratorError
from compose.orchestrator.executor import Orchestrator, UpOptions
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.early_calls import CREATED, PRESENT, NetworkHeadStart
from compose.orchestrator.progress import Progress

from .fake_engine import FakeEngine
from .test_executor import STACK, project, run

NETS = {
    "services": {
        "web": {"image": "busybox", "networks": {"front": {}, "back": {}}},
        "db": {"image": "busybox", "networks": {"back": {}}},
        "tool": {"image": "busybox", "networks": {"ext": {}}},
    },
    "networks": {"front": {"ipam": {"config": [{"subnet": "10.9.0.0/24"}]}},
                 "back": {"internal": True},
                 "ext": {"name": "shared", "external": True}},
}


class CountingEngine(FakeEngine):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.inspected: list[str] = []

    def inspect_network(self, ref: str) -> dict:
        self.inspected.append(ref)
        return super().inspect_network(ref)


def _orch(engine, data, head):
    progress = Progress(stream=io.StringIO(), colour=False)
    return Orchestrator(project(data), Gateway(lambda: engine, threaded=False), progress, head)


def _head(engine, data, services):
    spec = project(data)
    gw = Gateway(lambda: engine, threaded=False)
    return NetworkHeadStart(gw, spec, networks.needed(spec, services)).start()


def test_needed_networks_in_first_use_order_once_each():
    spec = project(NETS)
    assert networks.needed(spec, ["web", "db", "tool"]) == ["front", "back", "ext"]
    assert networks.needed(project(), ["db", "api"]) == ["default"]


def test_create_body_is_dockers_shape_with_project_labels():
    spec = project(NETS)
    body = networks.create_body(spec, spec.networks["front"])
    assert body["Name"] == "demo_front" and body["Driver"] == "bridge"
    assert body["IPAM"] == {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24"}]}
    assert body["Labels"]["com.docker.compose.project"] == "demo"
    assert body["Labels"]["com.docker.compose.network"] == "front"
    assert networks.create_body(spec, spec.networks["back"])["Internal"] is True


def test_head_start_creates_missing_networks_and_the_executor_does_not_ask_again():
    engine = CountingEngine()
    engine.networks_by_name["demo_back"] = {"Name": "demo_back"}   # present already
    data = {**NETS, "services": {k: v for k, v in NETS["services"].items() if k != "tool"}}
    head = _head(engine, data, ["web", "db"])
    assert head.outcome("front") == CREATED and head.outcome("back") == PRESENT
    assert engine.names("create_network") == ["demo_front"]
    engine.inspected.clear()
    orch = _orch(engine, data, head)
    result = run(lambda: orch.up(UpOptions()))
    assert not result.failures
    assert engine.inspected == []                                 # taken from the head start
    assert engine.names("create_network") == ["demo_front"]       # once, not twice
    assert " ✔ Network demo_front  Created" in orch.progress.lines
    assert not any("demo_back" in line for line in orch.progress.lines)


def test_external_networks_are_left_to_the_executor():
    engine = CountingEngine()
    head = _head(engine, NETS, ["tool"])
    assert head.outcome("ext") is None and engine.inspected == []
    with pytest.raises(OrchestratorError, match="network shared declared as external"):
        run(lambda: _orch(engine, NETS, head).ensure_networks(["ext"]))


def test_engine_without_networks_seen_by_the_head_start_is_still_a_warning():
    engine = FakeEngine(networks=False)
    head = _head(engine, STACK, ["db"])
    assert isinstance(head.outcome("default"), Exception)
    orch = _orch(engine, STACK, head)
    result = run(lambda: orch.up(UpOptions()))
    assert not result.failures
    assert any("no network support" in line for line in orch.progress.lines)
    assert "NetworkMode" not in engine._get("demo-db-1")["Config"]["HostConfig"]


def test_an_engine_error_of_the_head_start_fails_up_with_its_message():
    from engine.errors import Conflict

    engine = FakeEngine()

    def create_network(config):
        raise Conflict("subnet overlaps with network x")

    engine.create_network = create_network
    head = _head(engine, STACK, ["db"])
    with pytest.raises(Conflict, match="subnet overlaps"):
        run(lambda: _orch(engine, STACK, head).ensure_networks(["default"]))


def _removal(engine, data=STACK, **kw):
    from compose.orchestrator.early_calls import RemovalHeadStart

    gw = Gateway(lambda: engine, threaded=False)
    kw.setdefault("remove_orphans", False)
    kw.setdefault("volumes", False)
    return RemovalHeadStart(gw, project(data), **kw).start()


def _down_with(engine, head, data=STACK, **kw):
    progress = Progress(stream=io.StringIO(), colour=False)
    o = Orchestrator(project(data), Gateway(lambda: engine, threaded=False), progress,
                     removal=head)
    run(lambda: o.down(timeout=0, **kw))
    return o


def test_down_head_start_removes_the_containers_and_the_executor_reports_them():
    engine = FakeEngine()
    run(lambda: _orch(engine, STACK, None).up(UpOptions()))
    head = _removal(engine)
    head.existing()
    assert not engine.containers_by_id            # removed before the executor ran,
    assert not engine.networks_by_name            # and the network after them
    engine.calls.clear()
    o = _down_with(engine, head)
    assert engine.calls == []                     # nothing removed twice
    assert sorted(line for line in o.progress.lines if "Container" in line) == [
        f" ✔ Container demo-{s}-1  Removed" for s in ("api", "db", "web")]
    assert o.progress.lines[-1] == " ✔ Network demo_default  Removed"


def test_down_head_start_network_refusals_are_warnings_and_no_network_support_is_silent():
    from engine.errors import Conflict

    engine = FakeEngine()
    run(lambda: _orch(engine, STACK, None).up(UpOptions()))

    def remove_network(ref):
        raise Conflict("network demo_default has active endpoints")

    engine.remove_network = remove_network
    o = _down_with(engine, _removal(engine))
    assert o.progress.lines[-1] == "WARN[0000] network demo_default: network demo_default " \
                                   "has active endpoints"
    engine = FakeEngine(networks=False)
    run(lambda: _orch(engine, STACK, None).up(UpOptions()))
    o = _down_with(engine, _removal(engine))
    assert not engine.containers_by_id
    assert not any("etwork" in line for line in o.progress.lines)


def test_down_head_start_leaves_orphans_unless_asked():
    engine = FakeEngine()
    run(lambda: _orch(engine, STACK, None).up(UpOptions()))
    smaller = {**STACK, "services": {"db": STACK["services"]["db"]}}
    o = _down_with(engine, _removal(engine, smaller), smaller)
    assert sorted(c["Name"] for c in engine.containers_by_id.values()) == [
        "demo-api-1", "demo-web-1"]
    assert any("orphan containers" in line for line in o.progress.lines)
    _down_with(engine, _removal(engine, smaller, remove_orphans=True), smaller,
               remove_orphans=True)
    assert not engine.containers_by_id


def test_down_head_start_errors_are_reported_per_container():
    engine = FakeEngine()
    run(lambda: _orch(engine, STACK, None).up(UpOptions()))
    engine.refuse_removal("demo-api-1")
    with pytest.raises(OrchestratorError, match="container is stuck"):
        _down_with(engine, _removal(engine))
    assert [c["Name"] for c in engine.containers_by_id.values()] == ["demo-api-1"]


def test_down_head_start_listing_error_surfaces_in_down():
    from engine.errors import EngineError

    engine = FakeEngine()

    def containers(all=False, filters=None):
        raise EngineError("engine exploded")

    engine.containers = containers
    with pytest.raises(EngineError, match="engine exploded"):
        _down_with(engine, _removal(engine))
