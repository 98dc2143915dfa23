"""A RUN step's network as data: networkmode, RUN --network, extrahosts, the /etc files."""
from __future__ import annotations

import pytest

from engine.build import stepnet
from engine.build.stepnet import HOST, NETWORK, NONE, StepNetwork
from engine.errors import BadParameter, PycomposeError


@pytest.mark.parametrize("value", [None, "", "default", "bridge", "host"])
def test_default_bridge_and_host_networkmodes_run_in_the_hosts_namespace(value):
    assert stepnet.build_network(value) == StepNetwork(HOST)


def test_none_and_a_user_network_name():
    assert stepnet.build_network("none") == StepNetwork(NONE)
    assert stepnet.build_network("pcnet_a") == StepNetwork(NETWORK, "pcnet_a")


def test_a_containers_network_is_refused_with_a_typed_error():
    with pytest.raises(BadParameter, match="networkmode 'container:x' is not supported"):
        stepnet.build_network("container:x")


def test_run_network_flag_over_the_builds_mode():
    user = StepNetwork(NETWORK, "n1")
    assert stepnet.step_network(None, user) == user
    assert stepnet.step_network("default", user) == user
    assert stepnet.step_network("none", user) == StepNetwork(NONE)
    assert stepnet.step_network("host", user) == StepNetwork(HOST)
    assert stepnet.step_network("n2", user) is None      # BuildKit's three only


def test_the_cache_key_word_tells_none_apart_only():
    assert StepNetwork(NONE).cache_word == "none"
    assert StepNetwork(HOST).cache_word == StepNetwork(NETWORK, "n").cache_word == "host"


def test_extra_hosts_repeated_comma_separated_and_both_separators():
    got = stepnet.parse_extra_hosts(["a.test:10.0.0.1,b.test=10.0.0.2", "c.test:::1"])
    assert got == (("a.test", "10.0.0.1"), ("b.test", "10.0.0.2"), ("c.test", "::1"))
    assert stepnet.parse_extra_hosts([]) == ()
    assert stepnet.parse_extra_hosts(["", " , "]) == ()


@pytest.mark.parametrize("entry,words", [
    ("nohost", "invalid entry 'nohost'"),
    (":1.2.3.4", "invalid entry"),
    ("h:not-an-ip", "invalid IP address in 'h:not-an-ip'"),
    ("h:host-gateway", "host-gateway is not supported"),
    ("a b:1.2.3.4", "invalid entry"),
])
def test_bad_extra_hosts_are_one_line_errors_naming_the_entry(entry, words):
    with pytest.raises(BadParameter, match=words) as err:
        stepnet.parse_extra_hosts([entry])
    assert isinstance(err.value, PycomposeError) and "\n" not in err.value.message


def test_hosts_file_on_the_hosts_file_or_dockers_localhost_lines():
    extra = (("a.test", "10.0.0.1"),)
    assert stepnet.hosts_content("127.0.0.1 localhost\n10.9.9.9 me\n", extra) == \
        "127.0.0.1 localhost\n10.9.9.9 me\n10.0.0.1\ta.test\n"
    own = stepnet.hosts_content(None, extra, ("10.1.0.2", "abc123"))
    lines = own.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[-2:] == ["10.0.0.1\ta.test", "10.1.0.2\tabc123"]


def test_resolv_conf_asks_the_networks_resolver_and_keeps_search_and_options():
    host = "# c\nnameserver 127.0.0.53\nsearch example.test\noptions ndots:2\n"
    assert stepnet.resolv_content(host, "10.1.0.1") == \
        "nameserver 10.1.0.1\nsearch example.test\noptions ndots:2\n"
    assert stepnet.resolv_content("", "10.1.0.1") == "nameserver 10.1.0.1\n"


def test_run_output_is_decoded_across_reads_and_stderr_is_red():
    from engine.build.builder import _stream
    messages: list[dict] = []
    out, err = _stream(messages.append), _stream(messages.append, stderr=True)
    out(b"caf\xc3")            # a character split between two reads stays whole
    out(b"\xa9\n")
    err(b"oops\n")
    out(b"\xff\n")             # not UTF-8: replaced, never an exception
    assert messages == [{"stream": "caf"}, {"stream": "\u00e9\n"},
                        {"stream": "\x1b[91moops\n\x1b[0m"}, {"stream": "\ufffd\n"}]
