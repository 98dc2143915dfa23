"""Through the API with the docker SDK: chosen MAC addresses, IPAM ranges and auxiliary
addresses, network names with spaces, and IPv6's refusal. The evidence is read inside the
containers (the kernel's view of eth0), not only from inspect."""
from __future__ import annotations

import ipaddress

import docker
import pytest

pytestmark = pytest.mark.integration


def run_out(client, cmd: list[str], **kw) -> str:
    return client.containers.run("busybox", cmd, remove=True, **kw).decode()


@pytest.fixture
def cleanup(client):
    made: list = []
    yield made
    containers = [o for o in made if isinstance(o, docker.models.containers.Container)]
    for obj in containers + [o for o in made if o not in containers]:   # containers first
        try:
            if obj in containers:
                obj.remove(force=True)
            else:
                obj.remove()
        except docker.errors.NotFound:
            pass


def test_a_chosen_mac_reaches_eth0_and_inspect(client, cleanup):
    net = client.networks.create("pcmacnet")
    cleanup.append(net)
    # Config.MacAddress (docker run --mac-address at API 1.41) on the primary network
    c = client.api.create_container("busybox", ["sleep", "60"], mac_address="92:d0:c6:0a:29:33",
                                    host_config=client.api.create_host_config(
                                        network_mode="pcmacnet"))
    cleanup.append(client.containers.get(c["Id"]))
    client.api.start(c["Id"])
    info = client.api.inspect_container(c["Id"])
    assert info["NetworkSettings"]["Networks"]["pcmacnet"]["MacAddress"] == "92:d0:c6:0a:29:33"
    assert info["NetworkSettings"]["MacAddress"] == "92:d0:c6:0a:29:33"
    out = client.api.exec_start(client.api.exec_create(c["Id"],
                                                       ["cat", "/sys/class/net/eth0/address"]))
    assert out.decode().strip() == "92:d0:c6:0a:29:33"
    # network connect's EndpointConfig.MacAddress on a running container: its eth1
    other = client.networks.create("pcmacnet2")
    cleanup.append(other)
    client.api.connect_container_to_network(c["Id"], other.id, mac_address="02:00:00:aa:bb:cc")
    out = client.api.exec_start(client.api.exec_create(c["Id"],
                                                       ["cat", "/sys/class/net/eth1/address"]))
    assert out.decode().strip() == "02:00:00:aa:bb:cc"
    nets = client.api.inspect_container(c["Id"])["NetworkSettings"]["Networks"]
    assert nets["pcmacnet2"]["MacAddress"] == "02:00:00:aa:bb:cc"
    assert client.api.inspect_network(other.id)["Containers"][c["Id"]]["MacAddress"] \
        == "02:00:00:aa:bb:cc"


def test_an_endpoint_mac_at_create_and_a_bad_one_refused(client, cleanup):
    net = client.networks.create("pcmacnet3")
    cleanup.append(net)
    config = client.api.create_networking_config({
        "pcmacnet3": client.api.create_endpoint_config()})
    config["EndpointsConfig"]["pcmacnet3"]["MacAddress"] = "02:11:22:33:44:55"
    c = client.api.create_container("busybox", ["cat", "/sys/class/net/eth0/address"],
                                    networking_config=config,
                                    host_config=client.api.create_host_config(
                                        network_mode="pcmacnet3"))
    cleanup.append(client.containers.get(c["Id"]))
    # before the start inspect shows the MAC asked for (as Docker), then the kernel has it
    nets = client.api.inspect_container(c["Id"])["NetworkSettings"]["Networks"]
    assert nets["pcmacnet3"]["MacAddress"] == "02:11:22:33:44:55"
    client.api.start(c["Id"])
    assert client.api.wait(c["Id"])["StatusCode"] == 0
    assert client.api.logs(c["Id"]).decode().strip() == "02:11:22:33:44:55"
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container("busybox", ["true"], mac_address="01:00:5e:00:00:01")
    assert err.value.status_code == 400
    assert "Config.MacAddress: invalid MAC address 01:00:5e:00:00:01" in err.value.explanation


def test_addresses_come_from_the_ip_range_and_skip_auxiliary_ones(client, cleanup):
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.239.40.0/24", iprange="10.239.40.64/30",
        aux_addresses={"router": "10.239.40.65"})])
    net = client.networks.create("pcranged", ipam=ipam)
    cleanup.append(net)
    cfg = client.api.inspect_network(net.id)["IPAM"]["Config"]
    assert cfg == [{"Subnet": "10.239.40.0/24", "IPRange": "10.239.40.64/30",
                    "Gateway": "10.239.40.1", "AuxiliaryAddresses": {"router": "10.239.40.65"}}]
    seen = []
    for _ in range(3):
        c = client.containers.run("busybox", ["sleep", "60"], detach=True, network="pcranged")
        cleanup.append(c)
        addr = c.exec_run(["ip", "-4", "-o", "addr", "show", "eth0"]).output.decode().split()[3]
        seen.append(addr)
    assert seen == ["10.239.40.64/24", "10.239.40.66/24", "10.239.40.67/24"]
    # the range is used up: the next start fails naming it, and leaves nothing behind
    full = client.containers.create("busybox", ["true"], network="pcranged")
    cleanup.append(full)
    with pytest.raises(docker.errors.APIError, match="no free address left in ip-range"):
        full.start()
    # a static address outside the range but inside the subnet is allowed (as Docker)
    config = client.api.create_networking_config({"pcranged": client.api.create_endpoint_config(
        ipv4_address="10.239.40.200")})
    c = client.api.create_container("busybox", ["ip", "-4", "-o", "addr", "show", "eth0"],
                                    networking_config=config,
                                    host_config=client.api.create_host_config(
                                        network_mode="pcranged"))
    cleanup.append(client.containers.get(c["Id"]))
    client.api.start(c["Id"])
    client.api.wait(c["Id"])
    assert "10.239.40.200/24" in client.api.logs(c["Id"]).decode()
    # one outside the subnet is refused in Docker's words
    config = client.api.create_networking_config({"pcranged": client.api.create_endpoint_config(
        ipv4_address="10.239.41.5")})
    bad = client.api.create_container("busybox", ["true"], networking_config=config,
                                      host_config=client.api.create_host_config(
                                          network_mode="pcranged"))
    cleanup.append(client.containers.get(bad["Id"]))
    with pytest.raises(docker.errors.APIError) as err:
        client.api.start(bad["Id"])
    assert err.value.status_code == 400
    assert "invalid address 10.239.41.5: It does not belong to any of this network's " \
           "subnets" in err.value.explanation


def test_an_ip_range_outside_the_subnet_is_refused(client):
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.239.42.0/24", iprange="10.239.43.0/25")])
    with pytest.raises(docker.errors.APIError) as err:
        client.networks.create("pcbadrange", ipam=ipam)
    assert err.value.status_code == 400
    assert "parent subnet 10.239.42.0/24 doesn't contain ip-range" in err.value.explanation
    assert not client.networks.list(names=["pcbadrange"])


def test_a_network_name_with_spaces_works_end_to_end(client, cleanup):
    net = client.networks.create("pc test net")
    cleanup.append(net)
    assert client.api.inspect_network("pc test net")["Id"] == net.id
    web = client.containers.run("busybox", ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                                detach=True, name="pcspacedweb", network="pc test net")
    cleanup.append(web)
    assert "pc test net" in client.api.inspect_container(web.id)["NetworkSettings"]["Networks"]
    out = run_out(client, ["wget", "-q", "-O", "-", "http://pcspacedweb:8080/"],
                  network="pc test net")
    assert out == "hello\n"
    other = client.containers.run("busybox", ["sleep", "60"], detach=True)
    cleanup.append(other)
    net.connect(other)
    assert other.exec_run(["wget", "-q", "-O", "-", "http://pcspacedweb:8080/"]).output \
        == b"hello\n"
    net.disconnect(other)
    web.remove(force=True)
    net.remove()
    assert not [n for n in client.networks.list() if n.name == "pc test net"]


def test_ipv6_is_refused_with_a_clear_message(client):
    with pytest.raises(docker.errors.APIError) as err:
        client.networks.create("pcsix", enable_ipv6=True)
    assert err.value.status_code == 400
    assert err.value.explanation == ("EnableIPv6: IPv6 is not supported: this engine's "
                                     "networks are IPv4 only (docs/compat.md, \"Deliberate "
                                     "differences\")")
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="fd00:1::/64")])
    with pytest.raises(docker.errors.APIError, match="IPv6 is not supported"):
        client.networks.create("pcsix", ipam=ipam)


def test_endpoint_driver_opts_are_kept_and_shown(client, cleanup):
    net = client.networks.create("pcoptsnet")
    cleanup.append(net)
    config = client.api.create_networking_config({"pcoptsnet": client.api.create_endpoint_config(
        driver_opt={"key1": "a"})})
    c = client.api.create_container("busybox", ["sleep", "60"], networking_config=config,
                                    host_config=client.api.create_host_config(
                                        network_mode="pcoptsnet"))
    cleanup.append(client.containers.get(c["Id"]))
    client.api.start(c["Id"])
    nets = client.api.inspect_container(c["Id"])["NetworkSettings"]["Networks"]
    assert nets["pcoptsnet"]["DriverOpts"] == {"key1": "a"}
    other = client.networks.create("pcoptsnet2")
    cleanup.append(other)
    client.api.connect_container_to_network(c["Id"], other.id, driver_opt={"key2": "b"})
    nets = client.api.inspect_container(c["Id"])["NetworkSettings"]["Networks"]
    assert nets["pcoptsnet2"]["DriverOpts"] == {"key2": "b"}
    # the bridge driver's own keys would change the interface: refused, naming the key
    with pytest.raises(docker.errors.APIError, match="com.docker.network.endpoint.ifname"):
        client.api.connect_container_to_network(
            c["Id"], "bridge", driver_opt={"com.docker.network.endpoint.ifname": "x"})


def test_a_static_address_needs_a_user_configured_subnet(client, cleanup):
    chosen = client.networks.create("pcautonet")     # the engine picks the subnet
    cleanup.append(chosen)
    subnet = chosen.attrs["IPAM"]["Config"][0]["Subnet"]
    inside = str(ipaddress.ip_network(subnet)[5])    # an address of that very subnet
    words = ("invalid config for network pcautonet: user specified IP address is supported "
             "only when connecting to networks with user configured subnets")
    config = client.api.create_networking_config({"pcautonet": client.api.create_endpoint_config(
        ipv4_address=inside)})
    before = {c["Id"] for c in client.api.containers(all=True)}
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container("busybox", ["true"], networking_config=config,
                                    host_config=client.api.create_host_config(
                                        network_mode="pcautonet"))
    assert err.value.status_code == 400 and err.value.explanation == words
    assert {c["Id"] for c in client.api.containers(all=True)} == before   # nothing created
    # connect of a running container, by the network's name and by its id
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    cleanup.append(c)
    for ref in ("pcautonet", chosen.id):
        with pytest.raises(docker.errors.APIError) as err:
            client.api.connect_container_to_network(c.id, ref, ipv4_address=inside)
        assert err.value.status_code == 400
        assert "supported only when connecting to networks with user configured subnets" \
            in err.value.explanation
    assert set(client.api.inspect_container(c.id)["NetworkSettings"]["Networks"]) == {"bridge"}
    # the default bridge's subnet is the engine's too: Docker's words for it
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container("busybox", ["true"], networking_config=client.api.
                                    create_networking_config({"bridge": client.api.
                                                              create_endpoint_config(
                                                                  ipv4_address=inside)}))
    assert err.value.status_code == 400
    assert err.value.explanation == ("invalid config for network bridge: user specified IP "
                                     "address is supported on user defined networks only")
    # without a static address the same network takes the container
    client.api.connect_container_to_network(c.id, "pcautonet")
    assert "pcautonet" in client.api.inspect_container(c.id)["NetworkSettings"]["Networks"]
