"""POST /build's query as BuildOptions (pure: no build runs)."""
from __future__ import annotations

import io

import pytest

from engine.api.http import Request
from engine.api.routes_build import build_options
from engine.build.stepnet import NETWORK, NONE, StepNetwork
from engine.errors import BadParameter


def options(**query):
    req = Request("POST", "/build", {k: v if isinstance(v, list) else [v]
                                     for k, v in query.items()}, {}, io.BytesIO())
    return build_options(req)


def test_extrahosts_repeated_as_docker_py_sends_them_or_comma_separated():
    assert options(extrahosts=["a.test:10.0.0.1", "b.test:10.0.0.2"]).extra_hosts == \
        (("a.test", "10.0.0.1"), ("b.test", "10.0.0.2"))
    assert options(extrahosts="a.test:10.0.0.1,b.test:10.0.0.2").extra_hosts == \
        (("a.test", "10.0.0.1"), ("b.test", "10.0.0.2"))
    assert options().extra_hosts == ()


def test_networkmode_names_a_user_network():
    assert options(networkmode="pcnet").network == StepNetwork(NETWORK, "pcnet")
    assert options(networkmode="none").network == StepNetwork(NONE)
    assert options().network == StepNetwork()


def test_cachefrom_is_a_json_array_of_image_names():
    assert options(cachefrom='["app:1", "", "other"]').cache_from == ("app:1", "other")
    assert options().cache_from == ()
    with pytest.raises(BadParameter, match="invalid JSON in query parameter 'cachefrom'"):
        options(cachefrom="[app")
    with pytest.raises(BadParameter, match="'cachefrom' must be a JSON array of strings"):
        options(cachefrom='{"a": 1}')


def test_a_bad_extra_host_is_a_400_naming_it():
    with pytest.raises(BadParameter, match="extrahosts: invalid IP address in 'a:b'"):
        options(extrahosts="a:b")
