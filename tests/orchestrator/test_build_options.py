"""`build.extra_hosts`, `build.network` and `build.cache_from` from the compose file to the
engine's POST /build query (issue #17): read by the loader into the model, made the project's
(a network key becomes the network's engine name), sent as Docker's classic-builder parameters.
Pure, or over a recording client; real builds are in test_build_options_integration.py."""
from __future__ import annotations

import io
import json
import urllib.parse

import trio
import trio.testing

from compose.model import Build
from compose.orchestrator.builds import (cache_refs, engine_extra_hosts, for_project,
                                         network_key, plan_builds, run_build)
from compose.orchestrator.executor import Orchestrator
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import from_canonical
from compose.project import ProjectOptions, load
from engine.client.api import _params

from .fake_engine import FakeEngine

NETS = {"backend": "shop_backend", "default": "shop_default", "outside": "corp-net"}


def test_a_project_network_key_becomes_its_engine_name():
    assert for_project(Build(context="/c", network="backend"), NETS).network == "shop_backend"
    assert for_project(Build(context="/c", network="outside"), NETS).network == "corp-net"
    assert network_key(Build(context="/c", network="backend"), NETS) == "backend"


def test_engine_modes_and_other_names_go_as_written():
    for net in (None, "default", "host", "none", "bridge", "some-engine-net", "container:x"):
        build = Build(context="/c", network=net)
        assert for_project(build, NETS) is build
        assert network_key(build, NETS) is None


def test_cache_from_keeps_images_and_registry_refs_and_leaves_out_other_types():
    assert cache_refs(["app:1", "type=registry,ref=reg.example/app:cache",
                       "type=local,src=/tmp/cache", "type=gha"]) == (
        ("app:1", "reg.example/app:cache"), ("type=local,src=/tmp/cache", "type=gha"))
    plan = plan_builds([("web", "w:1", Build(context="/c", cache_from=("a", "type=gha")))])
    assert plan.warnings == ('service "web": cache_from type=gha left out: the engine\'s '
                             'builder takes images only (an image name, or '
                             'type=registry,ref=IMAGE)',)
    assert plan_builds([("web", "w:1", Build(context="/c", cache_from=("a",)))]).warnings == ()


def test_extra_hosts_are_sent_host_colon_ip():
    assert engine_extra_hosts(["db.test=10.0.0.5", "v6.test=::1"]) == ["db.test:10.0.0.5",
                                                                       "v6.test:::1"]


def test_the_loader_reads_build_extra_hosts_cache_from_and_network(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "name: shop\nservices:\n  app:\n    build:\n      context: .\n"
        "      extra_hosts: ['b.test:10.0.0.2', 'a.test=10.0.0.1']\n"
        "      cache_from: [shop-app:cache]\n      network: backend\n"
        "  db:\n    image: busybox\n    networks: [backend]\n"
        "networks:\n  backend: {}\n")
    project = load(ProjectOptions(working_directory=str(tmp_path), environment={})).project
    build = project.services["app"].build
    assert build.extra_hosts == ("a.test=10.0.0.1", "b.test=10.0.0.2")
    assert build.cache_from == ("shop-app:cache",)
    assert build.network == "backend"
    assert project.networks["backend"].name == "shop_backend"


class _Response:
    def iter_lines(self):
        yield json.dumps({"stream": "Successfully built abc\n"}).encode()

    def close(self) -> None:
        pass


class _RecordingClient:
    def __init__(self) -> None:
        self.queries: list[list[tuple[str, str]]] = []

    def request(self, method, path, params=None, body=None, headers=None):
        # as the real client encodes them (engine.client.api._params)
        self.queries.append(urllib.parse.parse_qsl(_params(params)[1:]))
        return _Response()


def test_run_build_sends_dockers_classic_builder_parameters(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    client = _RecordingClient()
    build = Build(context=str(tmp_path), extra_hosts=("a.test=10.0.0.1", "b.test=::1"),
                  network="shop_backend", cache_from=("app:1", "type=registry,ref=app:2",
                                                      "type=local,src=x"))
    run_build(client, "shop-app", build)
    query = client.queries[0]
    assert [v for k, v in query if k == "extrahosts"] == ["a.test:10.0.0.1", "b.test:::1"]
    assert dict(query)["networkmode"] == "shop_backend"
    assert json.loads(dict(query)["cachefrom"]) == ["app:1", "app:2"]


def test_a_build_without_them_sends_none_of_them(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    client = _RecordingClient()
    run_build(client, "shop-app", Build(context=str(tmp_path)))
    assert not {"extrahosts", "networkmode", "cachefrom"} & {k for k, _ in client.queries[0]}


def test_build_makes_the_project_network_its_build_joins_first_and_sends_its_name(monkeypatch):
    from compose.orchestrator import builds

    sent: list[tuple[str, str | None, list[str]]] = []

    def fake_build(client, tag, build, **kw):
        sent.append((tag, build.network, sorted(engine.networks_by_name)))
        return ""

    monkeypatch.setattr(builds, "run_build", fake_build)
    engine = FakeEngine()
    data = {"services": {"app": {"build": {"context": "/src", "network": "backend"}},
                         "db": {"image": "busybox", "networks": ["backend"]}},
            "networks": {"backend": {"name": "shop_backend"}, "default": {"name": "shop_default"}}}
    progress = Progress(stream=io.StringIO(), colour=False)
    orch = Orchestrator(from_canonical("shop", data), Gateway(lambda: engine, threaded=False),
                        progress)

    async def main():
        await orch.build(["app"], always=True)
        await orch.ensure_networks(["backend", "default"])   # as up does after the builds

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert sent == [("shop-app", "shop_backend", ["shop_backend"])]   # made before the build
    assert progress.lines.count(" ✔ Network shop_backend  Created") == 1   # reported once
    assert sorted(engine.networks_by_name) == ["shop_backend", "shop_default"]
