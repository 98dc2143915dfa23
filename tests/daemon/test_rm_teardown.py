"""`rm -f` and `network rm` answer before the kernel's slow parts are done (overlay release,
veth/bridge deletes, firewall commits) yet everything still goes, and nothing after them can see
the remains: the overlay leaves the mount table at once, a host port is published again only
once the old DNAT is gone, a new network gets the freed subnet."""
from __future__ import annotations

import json
import os
import threading

import pytest

from tests.daemon.conftest import mounts_under, wait_for
from tests.support.net import free_port as _free_port, http_get as _get, port_free as _port_free

pytestmark = pytest.mark.integration


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _rules() -> str:
    return os.popen("iptables-save -t filter; iptables-save -t nat").read()


def _state(daemon) -> dict:
    return json.loads((daemon.root / "network" / "netbridge.json").read_text())


def test_rm_f_of_a_stack_then_network_rm_leaves_nothing(daemon, client):
    net = client.networks.create("rmstack")
    port = _free_port()
    web = client.containers.run("busybox", ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                                detach=True, network="rmstack",
                                ports={"8080/tcp": ("127.0.0.1", port)})
    workers = [client.containers.run("busybox", ["sleep", "3600"], detach=True,
                                     network="rmstack") for _ in range(2)]
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/"), 10) == b"hello\n"
    state = _state(daemon)
    veths = {e["host_veth"] for e in state["endpoints"] if e["network_id"] == net.id}
    bridge = next(n["bridge"] for n in state["networks"] if n["id"] == net.id)
    assert len(veths) == 3 and veths | {bridge} <= _links()
    ids = [web.id] + [w.id for w in workers]

    errors = []

    def remove(cid: str) -> None:
        try:
            client.api.remove_container(cid, force=True)
        except Exception as exc:   # reported below
            errors.append(exc)

    threads = [threading.Thread(target=remove, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    for cid in ids:   # gone from the API and from the mount table when rm answers
        assert mounts_under(daemon.root / "containers" / cid) == []
        assert cid not in {c.id for c in client.containers.list(all=True)}
    client.api.remove_network(net.id)
    assert "rmstack" not in {n.name for n in client.networks.list()}

    # the rest goes in the background, promptly
    chains = {f"PC-N-{net.id[:12]}", f"PC-P-{web.id[:12]}"}
    assert wait_for(lambda: not ((veths | {bridge}) & _links()), 10)
    assert wait_for(lambda: not any(c in _rules().split() for c in chains), 10)
    assert wait_for(lambda: _port_free(port), 10)
    assert wait_for(lambda: not any((daemon.root / "containers" / cid).exists()
                                    for cid in ids), 10)


def test_the_same_port_and_subnet_right_after_rm(daemon, client):
    """A new container publishing the same host port at once gets the traffic (never the old,
    dead DNAT); a network created right after rm gets the subnet it freed."""
    client.networks.create("again")
    subnet = client.api.inspect_network("again")["IPAM"]["Config"][0]["Subnet"]
    port = _free_port()
    for _ in range(3):
        c = client.containers.run("busybox", ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                                  detach=True, network="again",
                                  ports={"8080/tcp": ("127.0.0.1", port)})
        assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/"), 10) == b"hello\n"
        client.api.remove_container(c.id, force=True)
    client.api.remove_network("again")
    client.networks.create("again")
    assert client.api.inspect_network("again")["IPAM"]["Config"][0]["Subnet"] == subnet
    client.api.remove_network("again")


def test_a_daemon_stopped_right_after_rm_and_network_rm_leaves_nothing(tmp_path_factory):
    """The background work finishes before the daemon exits (or the next start cleans up)."""
    from tests.daemon.conftest import (assert_clean, import_busybox, make_daemon,
                                       remove_test_root)

    d = make_daemon(tmp_path_factory, "rmstop")
    d.start()
    try:
        client = d.client()
        import_busybox(client, d.base)
        net = client.networks.create("quick")
        port = _free_port()
        c = client.containers.run("busybox", ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                                  detach=True, network="quick",
                                  ports={"8080/tcp": ("127.0.0.1", port)})
        assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/"), 10) == b"hello\n"
        state = _state(d)
        links = {e["host_veth"] for e in state["endpoints"]} | {
            n["bridge"] for n in state["networks"] if n["id"] == net.id}
        client.api.remove_container(c.id, force=True)
        client.api.remove_network(net.id)
        client.close()
        assert d.stop() == 0, d.output()
        assert_clean(d)
        assert not (links & _links())
        assert not any(ch in _rules().split()
                       for ch in (f"PC-N-{net.id[:12]}", f"PC-P-{c.id[:12]}"))
        assert _port_free(port)
        assert not (d.root / "containers" / c.id).exists()
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.kill9()
        remove_test_root(d)
