"""Pure decisions behind what real docker clients send: no engine, no kernel."""
from __future__ import annotations

from pathlib import Path

from engine.containers import setup
from engine.containers.model import parse_create
from engine.containers.networking import wanted_networks
from engine.containers.store import ContainerRecord
from netbridge import dns


def _cfg(**body):
    return parse_create({"Image": "busybox", "Cmd": ["true"], **body})


def test_default_network_and_its_endpoint_key_mean_the_bridge():
    cfg = _cfg(HostConfig={"NetworkMode": "default"},
               NetworkingConfig={"EndpointsConfig": {"default": {"Aliases": ["x"]}}})
    rec = ContainerRecord("a" * 64, "n", "", "sha256:0", cfg, Path("/nonexistent"))
    assert wanted_networks(rec) == [("bridge", {"Aliases": ["x"]})]


def test_bare_env_name_unsets_the_variable():
    cfg = _cfg(Env=["PCUNSET", "KEEP=1", "PATH"])
    env = setup.container_env(cfg, "host")
    assert "KEEP=1" in env
    assert not any(e.split("=", 1)[0] in ("PCUNSET", "PATH") for e in env)
    assert cfg.env == ("PCUNSET", "KEEP=1", "PATH")  # the config keeps what was asked


def test_publish_all_adds_each_exposed_port_without_a_binding():
    cfg = _cfg(ExposedPorts={"80/tcp": {}, "53/udp": {}, "443/tcp": {}},
               HostConfig={"PublishAllPorts": True,
                           "PortBindings": {"443/tcp": [{"HostPort": "8443"}]}})
    got = {(b.container_port, b.protocol, b.host_port) for b in cfg.ports_to_publish()}
    assert got == {(443, "tcp", 8443), (80, "tcp", 0), (53, "udp", 0)}
    assert _cfg(ExposedPorts={"80/tcp": {}}).ports_to_publish() == ()


def test_resolver_answers_from_the_asking_containers_other_networks():
    own, other = dns.NameTable(), dns.NameTable()
    own.add("e1", ["web"], "10.0.1.2")
    other.add("e2", ["db"], "10.0.2.2")
    query = dns.build_query(3, "db")
    assert dns.decide(query, own, can_forward=False).reply is not None
    assert dns.parse_message(dns.decide(query, own, can_forward=False).reply).rcode \
        == dns.RCODE_SERVFAIL
    reply = dns.parse_message(dns.decide(query, own, can_forward=False, also=[other]).reply)
    assert reply.addresses() == ["10.0.2.2"]
    # the server's own network wins over the others
    other.add("e3", ["web"], "10.0.2.9")
    reply = dns.parse_message(dns.decide(dns.build_query(4, "web"), own, can_forward=False,
                                         also=[other]).reply)
    assert reply.addresses() == ["10.0.1.2"]
