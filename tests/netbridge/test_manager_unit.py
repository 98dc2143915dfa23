"""NetworkManager's bookkeeping with netlink and iptables replaced by recording fakes (no root)."""
from __future__ import annotations

import pytest

from netbridge.errors import Conflict, InvalidRequest, NotFound
from netbridge import manager as manager_mod
from netbridge import recovery as recovery_mod
from netbridge import rules as rules_mod
from netbridge.manager import NetworkManager
from netbridge.ports import PortSpec


class FakeKernel:
    def __init__(self) -> None:
        self.links: set[str] = set()
        self.rules: list[str] = []
        self.calls: list[tuple] = []
        self.host_prefixes = ["192.0.2.0/24", "10.231.0.0/24"]   # pretend the host uses .0/24
        self.fail_veth = False

    # netlink
    def host_routes_and_addresses(self):
        return list(self.host_prefixes)

    def ensure_bridge(self, name, address, prefixlen):
        self.calls.append(("bridge", name, address, prefixlen))
        self.links.add(name)

    def delete_link(self, name):
        existed = name in self.links
        self.links.discard(name)
        return existed

    def set_sysctl(self, path, value):
        self.calls.append(("sysctl", path, value))

    def connect_veth(self, bridge, host_ifname, netns_path, ifname, address, prefixlen, gw, mac):
        if self.fail_veth:
            raise manager_mod.netlink.NetlinkFailure("open netns", netns_path, "", 2)
        self.calls.append(("veth", bridge, host_ifname, ifname, address, gw))
        self.links.add(host_ifname)

    def list_host_links(self, prefix):
        return []

    # firewall
    def apply(self, rules, reset=True):
        for r in rules:
            if r.line() not in self.rules:
                self.rules.append(r.line())

    def remove(self, rules):
        gone = {r.line() for r in rules}
        chains = {r.args[-1] for r in rules if r.args[-1].startswith("PC-")}
        self.rules = [ln for ln in self.rules
                      if ln not in gone and ln.split()[1] not in chains]

    def save(self):
        return "\n".join(self.rules)

    def apply_with_base(self, base, rules):
        self.apply(base, reset=False)
        self.apply(rules)

    def restore(self, script):
        """The subset of iptables-restore --noflush that fresh_script/drop_script write; a
        missing rule fails the whole script, as the real one does."""
        rules = list(self.rules)
        for ln in script.splitlines():
            op, *rest = ln.split()
            if op.startswith(":") or op == "-F":
                chain = op[1:] if op.startswith(":") else rest[0]
                rules = [r for r in rules if r.split()[1] != chain]
            elif op == "-A":
                rules.append(ln)
            elif op == "-D":
                if "-A " + ln[3:] not in rules:
                    raise manager_mod.firewall.FirewallError("iptables-restore failed: no rule")
                rules.remove("-A " + ln[3:])
        self.rules = rules
        self.calls.append(("restore",))


@pytest.fixture
def kernel(monkeypatch):
    k = FakeKernel()
    for name in ("host_routes_and_addresses", "ensure_bridge", "delete_link", "set_sysctl",
                 "connect_veth", "list_host_links"):
        monkeypatch.setattr(manager_mod.netlink, name, getattr(k, name))
    for name in ("apply", "remove", "save", "apply_with_base", "restore"):
        monkeypatch.setattr(manager_mod.firewall, name, getattr(k, name))

    def no_host_iptables(args, stdin=None):   # a path the fake misses must not touch the host
        raise AssertionError(f"unit test ran {args[0]} for real")
    monkeypatch.setattr(manager_mod.firewall, "_run", no_host_iptables)
    # every module that reserves host ports: connect's parallel install (rules) and the
    # re-reservation after a restart (recovery) too, so no unit test binds a real port
    for module in (manager_mod, rules_mod, recovery_mod):
        monkeypatch.setattr(module, "reserve", lambda spec: _FakeReservation(spec))
    return k


class _FakeReservation:
    def __init__(self, spec: PortSpec) -> None:
        from netbridge.ports import PortBinding

        if spec.host_port == 9999:
            raise Conflict("host port 0.0.0.0:9999/tcp is already in use")
        self.binding = PortBinding(spec.container_port, spec.protocol, spec.host_ip,
                                   spec.host_port or 40000 + spec.container_port)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_subnets_skip_the_host_and_persist_across_restart(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    a = m.create("a", labels={"x": "1"})
    assert a.subnet == "10.231.1.0/24"           # 10.231.0.0/24 is the host's
    ep = m.connect("a", "c" * 64, "/proc/1/ns/net", container_name="web", aliases=["w"])
    again = NetworkManager(tmp_path, "10.231.0.0/16")
    assert again.get("a") == a and again.endpoints("a") == [ep]
    assert again.create("b").subnet == "10.231.2.0/24"
    ep2 = again.connect("a", "d" * 64, "/proc/2/ns/net", container_name="db")
    assert ep2.ip == "10.231.1.3"


def test_internal_network_gets_no_gateway_route_and_no_forwarding_sysctl(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    m.create("sealed", internal=True)
    ep = m.connect("sealed", "c" * 64, "/proc/1/ns/net", container_name="x")
    assert ep.gateway == "" and ep.dns_server.endswith(".1")
    assert not [c for c in kernel.calls if c[0] == "sysctl"]
    assert not [r for r in kernel.rules if "MASQUERADE" in r]


def test_failed_veth_allocates_nothing(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    m.create("a")
    kernel.fail_veth = True
    with pytest.raises(manager_mod.netlink.NetlinkFailure, match="netns"):
        m.connect("a", "c" * 64, "/nope", container_name="x")
    kernel.fail_veth = False
    assert m.endpoints("a") == []
    assert m.connect("a", "c" * 64, "/proc/1/ns/net", container_name="x").ip.endswith(".2")


def test_publish_is_all_or_nothing(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    m.create("a")
    ep = m.connect("a", "c" * 64, "/proc/1/ns/net", container_name="x")
    with pytest.raises(Conflict, match="9999"):
        m.publish("c" * 64, ["8080:80", "9999:81"])
    assert m.ports("c" * 64) == [] and not [r for r in kernel.rules if "DNAT --to" in r]
    (b,) = m.publish("c" * 64, ["80"])
    assert (b.host_port, b.container_ip) == (40080, ep.ip)
    assert any(f"--to-destination {ep.ip}:80" in r for r in kernel.rules)
    m.disconnect("a", "c" * 64)   # the endpoint the ports point at is gone: so are the ports
    assert m.ports("c" * 64) == [] and not [r for r in kernel.rules if "DNAT --to" in r]


def test_cleanup_drops_dead_containers_only(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    m.create("a")
    live = m.connect("a", "1" * 64, "/proc/1/ns/net", container_name="live")
    dead = m.connect("a", "2" * 64, "/proc/2/ns/net", container_name="dead")
    m.publish("2" * 64, [PortSpec(80)])
    restarted = NetworkManager(tmp_path, "10.231.0.0/16")
    restarted.cleanup({"1" * 64})
    assert restarted.endpoints() == [live]
    assert dead.host_veth not in kernel.links and restarted.ports("2" * 64) == []


def test_lookup_errors(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    net = m.create("a")
    assert m.get(net.id[:6]) == net
    with pytest.raises(NotFound, match="network zz not found"):
        m.get("zz")
    with pytest.raises(InvalidRequest, match="--gateway needs --subnet"):
        m.create("b", gateway="10.231.9.1")
    m.connect("a", "c" * 64, "/proc/1/ns/net", container_name="x")
    with pytest.raises(Conflict, match="network a id .* has active endpoints"):
        m.remove("a")


def test_default_network_is_made_on_first_use(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    assert m.list() == []
    assert m.get("bridge").name == "bridge"
    assert [n.name for n in m.list()] == ["bridge"]


def test_corrupt_state_is_a_clear_error(tmp_path):
    from netbridge.errors import HostFailure

    (tmp_path / "netbridge.json").write_text("{not json")
    with pytest.raises(HostFailure, match="cannot read network state .*netbridge.json"):
        NetworkManager(tmp_path, "10.231.0.0/16")


def test_stop_removes_every_kernel_object_but_keeps_the_networks(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    a = m.create("a", labels={"x": "1"})
    m.connect("a", "c" * 64, "/proc/1/ns/net", container_name="web")
    m.publish("c" * 64, ["8080"])
    held = [r for rs in m._reservations.values() for r in rs]
    m.stop()
    assert kernel.links == set() and kernel.rules == []
    assert held and all(r.closed for r in held)
    again = NetworkManager(tmp_path, "10.231.0.0/16")
    assert again.list() == [a] and again.endpoints() == [] and again.ports("c" * 64) == []
    again.cleanup(set())                         # the next start re-creates bridge and rules
    assert kernel.links == {a.bridge} and any(a.bridge in r for r in kernel.rules)
    again.stop()
    assert kernel.links == set() and kernel.rules == []


def test_cleanup_after_a_graceful_stop_with_nothing_recorded_touches_no_kernel(tmp_path,
                                                                             monkeypatch):
    def forbidden(*a, **kw):
        raise AssertionError("kernel touched")

    for name in ("save", "apply", "remove", "restore"):
        monkeypatch.setattr(manager_mod.firewall, name, forbidden)
    for name in ("list_host_links", "delete_link", "ensure_bridge", "host_routes_and_addresses"):
        monkeypatch.setattr(manager_mod.netlink, name, forbidden)
    NetworkManager(tmp_path / "new", "10.231.0.0/16").cleanup(set())   # no state file yet
    NetworkManager(tmp_path / "new", "10.231.0.0/16").stop()


def test_a_crashed_engine_is_recognised_and_cleaned_even_without_networks(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    m.create("a")
    m.remove("a")
    assert kernel.rules == [] and not m._state.live   # the last network took the base chains
    # a crash after the base chains were made but before the network was recorded
    m._mark_live()
    manager_mod.firewall.apply(manager_mod.firewall.base_rules(m.chains))
    again = NetworkManager(tmp_path, "10.231.0.0/16")
    assert again._state.live and again.list() == []
    again.cleanup(set())
    assert kernel.rules == [] and not again._state.live
    NetworkManager(tmp_path, "10.231.0.0/16").cleanup(set())   # and from then on: cheap


def test_restore_falls_back_to_one_network_at_a_time(tmp_path, kernel, monkeypatch):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    a, b = m.create("a"), m.create("b")
    m.stop()
    real = kernel.apply

    def picky(rules, reset=True):   # the batch of both networks' rules fails
        if any(a.bridge in r.args for r in rules) and any(b.bridge in r.args for r in rules):
            raise manager_mod.firewall.FirewallError("iptables-restore failed: line 3")
        real(rules, reset)

    monkeypatch.setattr(manager_mod.firewall, "apply", picky)
    again = NetworkManager(tmp_path, "10.231.0.0/16")
    again.cleanup(set())
    assert kernel.links == {a.bridge, b.bridge}
    assert any(a.bridge in r for r in kernel.rules) and any(b.bridge in r for r in kernel.rules)


def test_range_and_auxiliary_addresses_survive_a_restart(tmp_path, kernel):
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    net = m.create("ranged", subnet="10.231.9.0/24", ip_range="10.231.9.64/30",
                   aux_addresses={"gw2": "10.231.9.64"})
    first = m.connect("ranged", "a" * 64, "/proc/1/ns/net", container_name="a")
    again = NetworkManager(tmp_path, "10.231.0.0/16")
    back = again.get("ranged")
    assert (back.ip_range, back.aux_addresses) == ("10.231.9.64/30", {"gw2": "10.231.9.64"})
    second = again.connect(net.id, "b" * 64, "/proc/1/ns/net", container_name="b")
    assert (first.ip, second.ip) == ("10.231.9.65", "10.231.9.66")


def test_a_chosen_mac_is_recorded_and_given_to_the_veth(tmp_path, kernel, monkeypatch):
    seen = []
    monkeypatch.setattr(manager_mod.netlink, "connect_veth",
                        lambda *args: seen.append(args[-1]))
    m = NetworkManager(tmp_path, "10.231.0.0/16")
    m.create("n")
    ep = m.connect("n", "a" * 64, "/proc/1/ns/net", container_name="a", mac="02-AA-bb-00-00-01")
    assert ep.mac == "02:aa:bb:00:00:01" and seen == ["02:aa:bb:00:00:01"]
    assert NetworkManager(tmp_path, "10.231.0.0/16").endpoints("n")[0].mac == ep.mac
    with pytest.raises(InvalidRequest, match="MAC address"):
        m.connect("n", "b" * 64, "/proc/1/ns/net", container_name="b", mac="ff:ff:ff:ff:ff:ff")
    assert len(m.endpoints("n")) == 1


def test_whose_subnet_it_is_is_recorded_and_survives_a_restart(tmp_path, kernel):
    import json

    m = NetworkManager(tmp_path, "10.231.0.0/16")
    assert m.create("chosen").user_subnet is False
    assert m.create("given", subnet="10.231.40.0/24").user_subnet is True
    again = NetworkManager(tmp_path, "10.231.0.0/16")
    assert (again.get("chosen").user_subnet, again.get("given").user_subnet) == (False, True)
    # a record written before the field existed keeps taking static addresses
    state = tmp_path / "netbridge.json"
    raw = json.loads(state.read_text())
    for net in raw["networks"]:
        del net["user_subnet"]
    state.write_text(json.dumps(raw))
    assert NetworkManager(tmp_path, "10.231.0.0/16").get("chosen").user_subnet is True
