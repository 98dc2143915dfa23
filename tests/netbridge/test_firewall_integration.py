"""Our generated rules against the real iptables (root)."""
from __future__ import annotations

import secrets

import pytest

from netbridge import firewall as fw
from netbridge.ports import PortBinding

pytestmark = pytest.mark.integration


def test_rules_are_canonical_idempotent_and_removed_exactly():
    """Presence checks compare lines with iptables-save, so every generated rule must come back
    verbatim; applying twice adds nothing; removal leaves nothing of ours."""
    ch = fw.Chains.for_instance(secrets.token_hex(3))
    net_id, cid = secrets.token_hex(32), secrets.token_hex(32)
    rules = {
        "base": fw.base_rules(ch),
        "net": fw.network_rules(ch, net_id, "pcbrfwtest0", "10.231.250.0/24", False),
        "internal": fw.network_rules(ch, secrets.token_hex(32), "pcbrfwtest1",
                                     "10.231.251.0/24", True),
        "ports": fw.port_rules(ch, cid, [PortBinding(80, "tcp", "", 18080, "10.231.250.2"),
                                         PortBinding(53, "udp", "127.0.0.1", 15353,
                                                     "10.231.250.2")]),
    }
    everything = [r for rs in rules.values() for r in rs]

    def ours() -> list[str]:
        words = {ch.forward, ch.postrouting, ch.dnat, ch.input, "pcbrfwtest0", "pcbrfwtest1",
                 fw.port_chain(cid)}
        return [ln for ln in fw.save().splitlines()
                if ln.startswith("-A ") and words & set(ln.split())]

    try:
        fw.apply(rules["base"], reset=False)
        for key in ("net", "internal", "ports"):
            fw.apply(rules[key])
        first = ours()
        assert sorted(first) == sorted(r.line() for r in everything)
        fw.apply(rules["base"], reset=False)
        fw.apply(rules["net"])
        fw.apply(rules["ports"])
        assert sorted(ours()) == sorted(first)
    finally:
        for key in ("ports", "internal", "net", "base"):
            fw.remove(rules[key])
    assert ours() == []
    assert not [ln for ln in fw.save().splitlines() if ch.forward in ln or net_id[:12] in ln]
