"""Containers on netbridge networks through the API: addresses, names, published ports."""
from __future__ import annotations


import pytest

from tests.daemon.conftest import wait_for
from tests.support.net import http_get as _get

pytestmark = pytest.mark.integration


def test_user_network_names_and_published_port(client):
    net = client.networks.create("appnet")
    web = client.containers.run("busybox", ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                                detach=True, name="web", network="appnet",
                                ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        info = client.api.inspect_container(web.id)
        ip = info["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
        assert ip and info["NetworkSettings"]["Networks"]["appnet"]["NetworkID"] == net.id
        port = int(info["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
        body = wait_for(lambda: _get(f"http://127.0.0.1:{port}/index.html"), 10)
        assert body == b"hello\n"
        out = client.containers.run("busybox", ["wget", "-q", "-O", "-", "http://web:8080/"],
                                    network="appnet", remove=True)
        assert out == b"hello\n"
        hosts = client.containers.run("busybox", ["cat", "/etc/hosts"], network="appnet",
                                      remove=True)
        assert b"localhost" in hosts
        assert web.id in client.api.inspect_network(net.id)["Containers"]
    finally:
        web.remove(force=True)
        net.remove()


def test_network_none_has_only_loopback(client):
    out = client.containers.run("busybox", ["ls", "/sys/class/net"], network_mode="none",
                                remove=True)
    assert out.split() == [b"lo"]


