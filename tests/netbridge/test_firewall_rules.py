from __future__ import annotations

from netbridge import firewall as fw
from netbridge.ports import PortBinding

CH = fw.Chains.for_instance("abc123")
NET = "a" * 64


def lines(rules):
    return [r.line() for r in rules]


def test_every_rule_carries_the_tag():
    rules = (fw.base_rules(CH) + fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", False)
             + fw.port_rules(CH, "b" * 64, [PortBinding(80, "tcp", "", 8080, "10.231.0.2")]))
    assert all("-m comment --comment pycompose" in ln for ln in lines(rules))


def test_internal_network_gets_no_masquerade_and_drops_egress():
    internal = lines(fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", True))
    assert not any("MASQUERADE" in ln for ln in internal)
    assert "-A PC-N-aaaaaaaaaaaa -i pcbrx -m comment --comment pycompose -j DROP" in internal
    normal = lines(fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", False))
    assert ("-A PC-N-aaaaaaaaaaaa -s 10.231.0.0/24 ! -o pcbrx -m comment --comment pycompose "
            "-j MASQUERADE") in normal


def test_intra_bridge_accept_precedes_isolation_drop():
    rules = lines(fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", False))
    accept = rules.index("-A PC-N-aaaaaaaaaaaa -i pcbrx -o pcbrx -m comment --comment pycompose "
                         "-j ACCEPT")
    drop = rules.index("-A PC-N-aaaaaaaaaaaa -i pcbrx -o pcbr+ -m comment --comment pycompose "
                       "-j DROP")
    assert accept < drop


def test_port_rules_dnat_with_optional_host_address():
    rules = lines(fw.port_rules(CH, "c" * 64, [PortBinding(80, "tcp", "", 8080, "10.231.0.2"),
                                               PortBinding(53, "udp", "127.0.0.1", 5353,
                                                           "10.231.0.2")]))
    assert rules[0] == "-A PC-DNAT-abc123 -m comment --comment pycompose -j PC-P-cccccccccccc"
    assert rules[1] == ("-A PC-P-cccccccccccc -p tcp -m tcp --dport 8080 -m comment --comment "
                        "pycompose -j DNAT --to-destination 10.231.0.2:80")
    assert rules[2].startswith("-A PC-P-cccccccccccc -d 127.0.0.1/32 -p udp -m udp --dport 5353")


def test_add_script_creates_chains_and_inserts_builtin_jumps_first():
    script = fw.add_script(fw.base_rules(CH), "", reset=False)
    assert ":PC-FWD-abc123 - [0:0]" in script and ":PC-DNAT-abc123 - [0:0]" in script
    assert "-I FORWARD 1 -m comment --comment pycompose -j PC-FWD-abc123" in script


def test_add_script_skips_present_jumps_and_resets_owned_chain():
    rules = fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", False)
    existing = "\n".join(["*filter", ":PC-N-aaaaaaaaaaaa - [0:0]", ":PC-FWD-abc123 - [0:0]",
                          rules[0].line(), "COMMIT"])
    script = fw.add_script(rules, existing)
    assert rules[0].line() not in script          # jump already there: not duplicated
    assert "-F PC-N-aaaaaaaaaaaa" in script        # owned chain emptied, then refilled
    assert rules[2].line() in script


def test_remove_script_only_touches_what_exists():
    rules = fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", False)
    assert fw.remove_script(rules, "") == ""
    existing = "\n".join(["*filter", ":PC-N-aaaaaaaaaaaa - [0:0]", rules[0].line(),
                          rules[0].line(), "COMMIT"])
    script = fw.remove_script(rules, existing)
    assert script.count("-D PC-FWD-abc123 -m comment --comment pycompose -j PC-N-aaaaaaaaaaaa") == 2
    assert "-X PC-N-aaaaaaaaaaaa" in script
    assert "*nat" not in script   # nothing of the network exists there


def test_jump_targets_are_found():
    text = "-A PC-DNAT-abc123 -m comment --comment pycompose -j PC-P-cccccccccccc\n-A X -j Y"
    assert fw.chains_jumped_from("PC-DNAT-abc123", text) == ["PC-P-cccccccccccc"]
    assert fw.tagged_lines(text) == [text.splitlines()[0]]


def test_fresh_script_declares_owned_chains_and_skips_present_rules():
    rules = fw.port_rules(CH, "c" * 64, [PortBinding(80, "tcp", "", 18080, "10.231.0.2")])
    script = fw.fresh_script(rules, present=rules[:1])
    # the chain is declared (created or emptied) even though its jump is already there
    assert script.splitlines()[:2] == ["*nat", ":PC-P-cccccccccccc - [0:0]"]
    assert rules[0].line() not in script and rules[1].line() in script
    assert fw.fresh_script(rules).count(rules[0].line()) == 1


def test_fresh_script_refuses_builtin_chains():
    import pytest

    with pytest.raises(ValueError, match="built-in"):
        fw.fresh_script(fw.base_rules(CH))


def test_drop_script_deletes_each_jump_once_and_drops_owned_chains():
    rules = fw.base_rules(CH) + fw.network_rules(CH, NET, "pcbrx", "10.231.0.0/24", False)
    script = fw.drop_script(rules).splitlines()
    assert script.count("-D FORWARD -m comment --comment pycompose -j PC-FWD-abc123") == 1
    # a jump inside a chain being dropped needs no -D: the flush removes it
    assert not [ln for ln in script if ln.startswith("-D PC-FWD-abc123")]
    filt = script[:script.index("COMMIT")]
    assert filt.index("-F PC-N-aaaaaaaaaaaa") < filt.index("-X PC-FWD-abc123")
    assert "-X PC-N-aaaaaaaaaaaa" in filt and "-X PC-IN-abc123" in filt


def test_fresh_script_puts_known_absent_builtin_jumps_on_top():
    script = fw.fresh_script(fw.base_rules(CH), builtin=True).splitlines()
    assert "-I FORWARD 1 -m comment --comment pycompose -j PC-FWD-abc123" in script
    assert script.index(":PC-FWD-abc123 - [0:0]") < script.index(
        "-A PC-FWD-abc123 -o pcbr+ -m conntrack --ctstate DNAT -m comment --comment pycompose "
        "-j ACCEPT")
