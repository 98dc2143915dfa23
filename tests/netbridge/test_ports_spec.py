from __future__ import annotations

import pytest

from netbridge.errors import InvalidRequest
from netbridge.ports import PortSpec, parse_port_spec, specs_from_docker


@pytest.mark.parametrize("text,expected", [
    ("80", [PortSpec(80, "tcp", "", 0)]),
    ("8080:80", [PortSpec(80, "tcp", "", 8080)]),
    ("127.0.0.1:8080:80/udp", [PortSpec(80, "udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortSpec(80, "tcp", "127.0.0.1", 0)]),
    ("0.0.0.0:8080:80", [PortSpec(80, "tcp", "", 8080)]),
    ("8000-8001:80-81/TCP", [PortSpec(80, "tcp", "", 8000), PortSpec(81, "tcp", "", 8001)]),
    ("53-54/udp", [PortSpec(53, "udp", "", 0), PortSpec(54, "udp", "", 0)]),
])
def test_port_specs(text, expected):
    assert parse_port_spec(text) == expected


@pytest.mark.parametrize("text,message", [
    ("80/sctp", "protocol"),
    ("x:80", "invalid port"),
    ("70000", "out of range"),
    ("0", "out of range"),
    ("300.1.1.1:80:80", "host address"),
    ("8000-8002:80-81", "differ in size"),
    ("82-80", "invalid port range"),
    ("1:2:3:4", "invalid port specification"),
    ("8080:", "invalid port specification"),
    ("[::1]:80:80", "IPv6"),
])
def test_bad_port_specs_name_the_problem(text, message):
    with pytest.raises(InvalidRequest, match=message):
        parse_port_spec(text)


def test_docker_port_bindings():
    specs = specs_from_docker({
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}],
        "53/udp": [{}],
    })
    assert specs == [PortSpec(80, "tcp", "", 8080), PortSpec(80, "tcp", "127.0.0.1", 0),
                     PortSpec(53, "udp", "", 0)]
