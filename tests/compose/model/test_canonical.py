"""The canonical document read into the model (compose/canonical.py): each notation has one
reader, and what the orchestrator needs is in typed fields. Pure."""
from __future__ import annotations

import pytest

from compose.canonical import parse_ports, parse_restart, service_from
from compose.errors import ComposeError
from compose.model import Condition, Port, Project, Restart, RestartPolicy
from compose.orchestrator import networks
from compose.orchestrator.project_view import from_model


def test_restart_policy_is_read_once_and_refused_in_one_line():
    assert parse_restart("on-failure:3") == Restart(RestartPolicy.ON_FAILURE, 3)
    assert parse_restart(None) == Restart()
    with pytest.raises(ComposeError) as e:
        parse_restart("sometimes")
    assert str(e.value) == ("invalid restart policy 'sometimes': expected no, always, "
                            "on-failure[:N] or unless-stopped")


def test_engine_restart_policy_follows_compose():
    assert service_from("s", {"restart": "always"}).restart_policy == Restart(RestartPolicy.ALWAYS)
    deploy = {"deploy": {"restart_policy": {"condition": "on-failure", "max_attempts": 2}}}
    assert service_from("s", deploy).restart_policy == Restart(RestartPolicy.ON_FAILURE, 2)
    assert service_from("s", {}).restart_policy is None
    with pytest.raises(ComposeError, match="condition 'sometimes'"):
        service_from("s", {"deploy": {"restart_policy": {"condition": "sometimes"}}})


def test_short_ports_use_the_loaders_parser():
    assert parse_ports("127.0.0.1:8000-8001:80-81/udp") == (
        Port(80, "8000", "udp", "127.0.0.1"), Port(81, "8001", "udp", "127.0.0.1"))
    assert service_from("s", {"ports": [9000]}).ports == (Port(9000),)
    with pytest.raises(ComposeError, match="^--publish: port 70000 is out of range"):
        parse_ports("70000", "--publish")


def test_hand_made_forms_read_as_the_canonical_ones():
    s = service_from("s", {"depends_on": ["db"], "networks": ["back"], "command": "sh -c 'a b'",
                           "extra_hosts": {"db": "10.0.0.2"}, "cpus": "1.5", "mem_limit": "1g",
                           "configs": ["conf"], "secrets": [{"source": "pw", "target": "x"}]})
    assert s.depends_on[0].service == "db" and s.depends_on[0].condition is Condition.STARTED
    assert [n.network for n in s.networks] == ["back"]
    assert s.command == ("sh", "-c", "a b") and s.extra_hosts == ("db=10.0.0.2",)
    assert s.cpus == 1.5 and s.mem_limit == 1 << 30
    assert s.configs[0].target == "/conf" and s.secrets[0].target == "/run/secrets/x"
    with pytest.raises(ComposeError, match="unknown condition 'service_ready'"):
        service_from("s", {"depends_on": {"db": {"condition": "service_ready"}}})


def test_network_ipam_reaches_the_create_body():
    project = Project.from_canonical({"name": "p", "services": {"s": {"image": "b"}}, "networks": {
        "default": {"attachable": True, "ipam": {"driver": "default", "config": [
            {"subnet": "10.5.0.0/16", "ip_range": "10.5.1.0/24", "gateway": "10.5.0.1",
             "aux_addresses": {"router": "10.5.0.2"}}]}},
        "ext": {"external": True}}}, working_dir="/p")
    spec = from_model(project)
    assert spec.networks["default"].name == "p_default"       # a name the document left out
    assert spec.networks["ext"].name == "ext" and spec.networks["ext"].external
    body = networks.create_body(spec, spec.networks["default"])
    assert body["Attachable"] is True
    assert body["IPAM"] == {"Driver": "default", "Config": [
        {"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1",
         "AuxiliaryAddresses": {"router": "10.5.0.2"}}]}
