"""Field names in request bodies match without case, as Docker's Go decoder matches them (#17):
`{"image": "busybox", "cmd": [...]}` creates a container on Docker, so it must on ours.

Go's encoding/json takes a key that names a struct field exactly, else one that names it without
case (bytes.EqualFold: ASCII letters, plus the long s and the Kelvin sign); map keys are data.
The renaming is done once, where bodies are checked (engine.jsonshape.conform, called by
engine.api.validate.check_request), so no handler ever sees "cmd".
"""
from __future__ import annotations

import io
import json

import pytest
import trio
from hypothesis import given, settings, strategies as st

from engine.api import shapes
from engine.api.http import Request
from engine.api.validate import Endpoint, checked
from engine.jsonshape import (ANY, INT, STRING, STRINGS, BadShape, ListOf, MapOf, Obj, check,
                              conform, fold_name)

TOP = "container.Config"


def _create(body: dict) -> dict:
    return conform(body, shapes.CONTAINER_CREATE, TOP)


def test_fold_name_is_gos_equal_fold_for_ascii_field_names():
    assert fold_name("cmd") == fold_name("CMD") == fold_name("Cmd") == "CMD"
    assert fold_name("\u017fhell") == fold_name("Shell")           # long s is an s
    assert fold_name("\u212aernelMemory") == fold_name("KernelMemory")  # Kelvin sign is a K
    # str.upper() would make these ASCII; Go's fold does not
    assert fold_name("\u0131mage") != fold_name("Image")            # dotless i
    assert fold_name("addre\u00df") != fold_name("Address")         # sharp s is not "ss"


def test_a_lower_case_create_body_reads_as_dockers_field_names_at_every_depth():
    body = {"image": "busybox", "CMD": ["echo", "hi"], "workingdir": "/w",
            "hostconfig": {"memory": "32m", "BINDS": ["/a:/b"],
                           "mounts": [{"type": "tmpfs", "target": "/t",
                                       "tmpfsoptions": {"sizebytes": 1024}}],
                           "portbindings": {"80/tcp": [{"hostport": "8080"}]},
                           "logconfig": {"type": "json-file", "config": {"max-size": "1m"}}},
            "networkingconfig": {"endpointsconfig": {"MyNet": {"aliases": ["x"]}}},
            "labels": {"cmd": "kept", "Image": "kept too"},
            "exposedports": {"80/tcp": {}}}
    assert _create(body) == {
        "Image": "busybox", "Cmd": ["echo", "hi"], "WorkingDir": "/w",
        "HostConfig": {"Memory": "32m", "Binds": ["/a:/b"],
                       "Mounts": [{"Type": "tmpfs", "Target": "/t",
                                   "TmpfsOptions": {"SizeBytes": 1024}}],
                       "PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                       "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}},
        # map keys (network names, labels, ports, log options) are data: as sent
        "NetworkingConfig": {"EndpointsConfig": {"MyNet": {"Aliases": ["x"]}}},
        "Labels": {"cmd": "kept", "Image": "kept too"},
        "ExposedPorts": {"80/tcp": {}}}


def test_an_exactly_named_body_is_returned_as_it_is_not_copied():
    body = {"Image": "busybox", "Cmd": ["true"], "Undeclared": {"cmd": 1},
            "HostConfig": {"Binds": ["/a:/b"], "Mounts": [{"Type": "bind"}]}}
    assert _create(body) is body


def test_undeclared_keys_and_any_values_stay_as_sent():
    shape = Obj("T", {"Spec": ANY, "Name": STRING})
    body = {"name": "a", "spec": {"cmd": 1}, "Other": 2}
    assert conform(body, shape, "T") == {"Name": "a", "Spec": {"cmd": 1}, "Other": 2}


def test_an_exact_field_is_preferred_and_the_first_declared_takes_a_fold():
    """Go's rule for fields alike but for case: the exact one, else the first (dominant)."""
    shape = Obj("T", {"Foo": INT, "FOO": STRING})
    assert conform({"FOO": "s"}, shape, "T") == {"FOO": "s"}
    assert conform({"foo": 1}, shape, "T") == {"Foo": 1}
    with pytest.raises(BadShape, match="T.Foo of type int64"):
        conform({"fOO": "s"}, shape, "T")


def test_two_keys_for_one_field_apply_in_order_as_go_decodes_them():
    # the later wins, whichever of the two is spelt exactly
    assert _create({"Cmd": ["a"], "cmd": ["b"]}) == {"Cmd": ["b"]}
    assert _create({"cmd": ["b"], "Cmd": ["a"]}) == {"Cmd": ["a"]}
    # an object merges into the one before (Go decodes into the struct it already has)
    assert _create({"HostConfig": {"Memory": 1, "CpuShares": 5},
                    "hostconfig": {"cpushares": 2, "Privileged": True}}) == {
        "HostConfig": {"Memory": 1, "CpuShares": 2, "Privileged": True}}
    # a map adds its entries, a list replaces
    assert _create({"Labels": {"a": "1"}, "labels": {"b": "2"},
                    "Env": ["A=1"], "env": ["B=2"]}) == {
        "Labels": {"a": "1", "b": "2"}, "Env": ["B=2"]}
    # null leaves a plain value as it was, and unsets a list, map or object
    assert _create({"User": "u", "user": None, "Env": ["A=1"], "ENV": None}) == {
        "User": "u", "Env": None}


def test_a_misfit_under_another_case_is_named_by_dockers_field_name():
    with pytest.raises(BadShape) as err:
        _create({"image": "x", "hostconfig": {"portbindings": {"80/tcp": [{"hostport": 80}]}}})
    assert err.value.message == ("json: cannot unmarshal number 80 into Go struct field "
                                 "Config.HostConfig.PortBindings.HostPort of type string")
    with pytest.raises(BadShape, match="Config.Cmd of type strslice.StrSlice"):
        check({"cmd": 5}, shapes.CONTAINER_CREATE, TOP)


def test_lists_and_maps_of_objects_fold_each_item():
    shape = Obj("T", {"Items": ListOf(Obj("I", {"Name": STRING})),
                      "ByKey": MapOf(Obj("V", {"Value": STRINGS}))})
    assert conform({"items": [{"name": "a"}, {"NAME": "b"}], "bykey": {"k": {"value": ["v"]}}},
                   shape, "T") == {"Items": [{"Name": "a"}, {"Name": "b"}],
                                   "ByKey": {"k": {"Value": ["v"]}}}


def test_the_checked_handler_reads_the_renamed_body():
    seen = []

    async def handler(req):
        seen.append(req.json())
        return "ok"

    wrapped = checked(Endpoint(body=shapes.VOLUME_CREATE), handler)
    req = Request("POST", "/volumes/create", {}, {},
                  io.BytesIO(b'{"name": "pcv", "labels": {"k": "v"}, "DRIVER": "local"}'))
    assert trio.run(wrapped, req) == "ok"
    assert seen == [{"Name": "pcv", "Labels": {"k": "v"}, "Driver": "local"}]
    # the registry auth body of /auth has lower-case fields; Docker's clients also send them so
    auth = checked(Endpoint(body=shapes.AUTH), handler)
    trio.run(auth, Request("POST", "/auth", {}, {},
                           io.BytesIO(json.dumps({"Username": "u", "ServerAddress": "r"})
                                      .encode())))
    assert seen[-1] == {"username": "u", "serveraddress": "r"}


RICH_BODY = {
    "Image": "busybox", "Cmd": ["sh"], "Env": ["A=1"], "Labels": {"Cmd": "x"}, "Tty": True,
    "ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Test": ["CMD", "true"], "Retries": 3},
    "HostConfig": {"Binds": ["/a:/b"], "Memory": "32m", "Tmpfs": {"/t": ""},
                   "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                   "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                   "Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                               "VolumeOptions": {"NoCopy": True, "Labels": {"k": "v"}}}],
                   "Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}]},
    "NetworkingConfig": {"EndpointsConfig": {"Net": {"Aliases": ["a"],
                                                     "IPAMConfig": {"IPv4Address": "10.0.0.2"}}}},
}


def _recase(value, shape, flips):
    """`value` with each declared field's name in the case `flips` draws (map keys kept)."""
    if isinstance(shape, Obj) and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            sub = shape.fields.get(key)
            if sub is None:
                out[key] = item
                continue
            mask = flips.draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
            name = "".join(c.swapcase() if m else c for c, m in zip(key, mask))
            out[name] = _recase(item, sub, flips)
        return out
    if isinstance(shape, ListOf) and isinstance(value, list):
        return [_recase(v, shape.item, flips) for v in value]
    if isinstance(shape, MapOf) and isinstance(value, dict):
        return {k: _recase(v, shape.value, flips) for k, v in value.items()}
    return value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_casing_of_the_field_names_reads_as_the_exact_body(data):
    recased = _recase(RICH_BODY, shapes.CONTAINER_CREATE, data)
    assert _create(recased) == RICH_BODY
    assert _create(RICH_BODY) is RICH_BODY


def test_the_registry_auth_header_is_read_as_go_reads_it():
    import base64

    from engine.api.routes_images import _registry_auth

    def header(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()

    assert _registry_auth(header({"Username": "u", "PASSWORD": "p"})) == ("u", "p")
    assert _registry_auth(header({"username": "u", "password": "p"})) == ("u", "p")


@pytest.mark.integration
def test_docker_sdk_low_level_create_with_lower_case_fields_runs_the_command(client):
    """Through the SDK's HTTP session: a body spelt as a Go client might spell it creates the
    container Docker would, command, environment, labels and a tmpfs included."""
    body = {"image": "busybox", "cmd": ["sh", "-c", "echo $GREETING; grep -c ' /scratch ' "
                                                 "/proc/mounts"],
            "env": ["GREETING=hello"], "labels": {"pc.case": "lower"},
            "hostconfig": {"tmpfs": {"/scratch": "size=1m"}}}
    response = client.api._post_json(client.api._url("/containers/create"), data=body)
    cid = client.api._result(response, json=True)["Id"]
    try:
        client.api.start(cid)
        assert client.api.wait(cid, timeout=30)["StatusCode"] == 0
        assert client.api.logs(cid) == b"hello\n1\n"
        attrs = client.api.inspect_container(cid)
        assert attrs["Config"]["Cmd"][0] == "sh"
        assert attrs["Config"]["Labels"] == {"pc.case": "lower"}
        assert attrs["HostConfig"]["Tmpfs"] == {"/scratch": "size=1m"}
    finally:
        client.api.remove_container(cid, force=True)
