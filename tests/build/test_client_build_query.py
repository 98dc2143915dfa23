"""The client's POST /build query for extra hosts, the RUN steps' network and cachefrom, read
back by the engine's own parser: the two ends agree on the encoding (pure)."""
from __future__ import annotations

import json
import urllib.parse

from engine.api.http import Request
from engine.api.routes_build import build_options
from engine.build.stepnet import HOST, NETWORK, NONE, StepNetwork
from engine.client import build as client_build
from engine.client.api import _params


class _Capture:
    def __init__(self) -> None:
        self.params: dict | None = None

    def request(self, method, path, params=None, body=None, headers=None):
        self.params = params

        class _Done:
            def iter_lines(self):
                yield json.dumps({"aux": {"ID": "sha256:0"}}).encode()

            def close(self):
                pass
        return _Done()


def _engine_reads(tmp_path, **kw):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    capture = _Capture()
    list(client_build.build(capture, tmp_path, **kw))
    query: dict[str, list[str]] = {}
    for key, value in urllib.parse.parse_qsl(_params(capture.params)[1:]):
        query.setdefault(key, []).append(value)
    return build_options(Request("POST", "/build", query, {}, None))


def test_extra_hosts_network_and_cachefrom_reach_the_engines_build_options(tmp_path):
    opts = _engine_reads(tmp_path, extra_hosts=["a.test:10.0.0.1", "v6.test:::1"],
                         network_mode="shop_backend", cache_from=["app:1", "app:2"])
    assert opts.extra_hosts == (("a.test", "10.0.0.1"), ("v6.test", "::1"))
    assert opts.network == StepNetwork(NETWORK, "shop_backend")
    assert opts.cache_from == ("app:1", "app:2")


def test_engine_modes_and_nothing_given(tmp_path):
    assert _engine_reads(tmp_path, network_mode="none").network == StepNetwork(NONE)
    plain = _engine_reads(tmp_path)
    assert plain.network == StepNetwork(HOST)
    assert plain.extra_hosts == () and plain.cache_from == ()
