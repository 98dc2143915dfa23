"""A stopped engine leaves no bridge, veth, firewall rule or held port behind, yet keeps its
networks: the next start re-creates them with the same subnets. Also after a SIGKILL."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket

import pytest

from tests.daemon.conftest import assert_clean, import_busybox, make_daemon, wait_for
from tests.support.net import http_get as _get

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("integration tests need root")
    d = make_daemon(tmp_path_factory, "netlife")
    d.start()
    try:
        yield d
    finally:
        try:
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
            elif d.proc is not None and d.proc.returncode != 0:
                d.start()   # a test failed after a kill: a new engine cleans mounts, cgroups
                d.stop()
        finally:
            # whatever an assertion left: remove this root's objects (only its own chains)
            from netbridge.manager import NetworkManager
            NetworkManager(d.root / "network", d.env["PYCOMPOSE_ADDRESS_POOL"]).purge()
            shutil.rmtree(d.base, ignore_errors=True)


def _state(d) -> dict:
    return json.loads((d.root / "network" / "netbridge.json").read_text())


def _footprint(d) -> tuple[set[str], set[str]]:
    """(links, chain names) the engine of `d` made, read from its netbridge state."""
    state = _state(d)
    inst = hashlib.sha256(str((d.root / "network").resolve()).encode()).hexdigest()[:6]
    chains = {f"PC-{kind}-{inst}" for kind in ("FWD", "POST", "DNAT", "IN")}
    chains |= {f"PC-N-{n['id'][:12]}" for n in state["networks"]}
    chains |= {f"PC-P-{cid[:12]}" for cid in state["ports"]}
    links = {n["bridge"] for n in state["networks"]} | {e["host_veth"] for e in state["endpoints"]}
    return links, chains


def _links() -> set[str]:
    out = os.popen("ip -br link").read()
    return {line.split()[0].split("@")[0] for line in out.splitlines() if line.strip()}


def _rules_naming(chains: set[str]) -> list[str]:
    text = os.popen("iptables-save -t filter; iptables-save -t nat").read()
    return [ln for ln in text.splitlines()
            if "pycompose" in ln and any(c in ln.split() for c in chains)]


def _port_free(port: int) -> bool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _run_web(client, network: str):
    web = client.containers.run("busybox", ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                                detach=True, network=network,
                                ports={"8080/tcp": ("127.0.0.1", None)})
    info = client.api.inspect_container(web.id)
    port = int(info["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
    ip = info["NetworkSettings"]["Networks"][network]["IPAddress"]
    # Docker's endpoint id: 64 hex, the same in the container's and the network's view
    endpoint = info["NetworkSettings"]["Networks"][network]["EndpointID"]
    assert re.fullmatch(r"[0-9a-f]{64}", endpoint)
    assert client.api.inspect_network(network)["Containers"][web.id]["EndpointID"] == endpoint
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/index.html"), 10) == b"hello\n"
    return web, ip, port


def _assert_gone(links: set[str], chains: set[str], port: int) -> None:
    assert links and not (links & _links())
    assert _rules_naming(chains) == []
    assert _port_free(port)


def test_stop_removes_kernel_objects_and_start_restores_networks(fresh):
    client = fresh.client()
    import_busybox(client, fresh.base)
    net = client.networks.create("keepnet", labels={"k": "v"})
    subnet = client.api.inspect_network(net.id)["IPAM"]["Config"][0]["Subnet"]
    client.containers.run("busybox", ["true"], remove=True)   # makes the default `bridge`
    _run_web(client, "keepnet")
    links, chains = _footprint(fresh)
    assert len(links) >= 3 and links <= _links()              # two bridges and a veth
    assert _rules_naming(chains)
    port = _run_web(client, "keepnet")[2]
    links, chains = _footprint(fresh)
    client.close()

    assert fresh.stop() == 0, fresh.output()
    _assert_gone(links, chains, port)
    assert_clean(fresh)
    kept = _state(fresh)
    assert {n["name"] for n in kept["networks"]} == {"keepnet", "bridge"}
    assert kept["endpoints"] == [] and kept["ports"] == {} and kept["live"] is False

    # debris of a crashed image import, collected at the next start
    orphans = [fresh.root / "images" / "blobs" / "sha256" / ("e" * 64),
               fresh.root / "images" / "layers" / ("e" * 64)]
    orphans[0].write_bytes(b"x")
    orphans[1].mkdir()
    fresh.start()
    wait_for(lambda: not any(p.exists() for p in orphans), 10)
    client = fresh.client()
    assert client.images.get("busybox")   # what images use stays
    again = client.api.inspect_network("keepnet")
    assert again["Id"] == net.id and again["Labels"] == {"k": "v"}
    assert again["IPAM"]["Config"][0]["Subnet"] == subnet
    web, ip, port = _run_web(client, "keepnet")
    import ipaddress
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(subnet)
    links, chains = _footprint(fresh)
    client.close()
    assert fresh.stop() == 0, fresh.output()
    _assert_gone(links, chains, port)


def test_objects_of_a_killed_engine_go_at_next_start_and_stop(fresh):
    client = fresh.client()
    import_busybox(client, fresh.base)
    client.networks.create("crashnet")
    _run_web(client, "crashnet")
    links, chains = _footprint(fresh)
    client.close()
    fresh.kill9()
    # a dead engine cleans nothing (its containers die with it, and their veths with them)...
    assert {name for name in links if name.startswith("pcbr")} <= _links()
    assert _rules_naming(chains) and _state(fresh)["live"] is True
    fresh.start()                       # ...the next one does, at start and at its stop
    client = fresh.client()
    assert client.networks.get("crashnet").name == "crashnet"
    web, _, port = _run_web(client, "crashnet")
    links2, chains2 = _footprint(fresh)
    client.close()
    assert fresh.stop() == 0, fresh.output()
    _assert_gone(links | links2, chains | chains2, port)
