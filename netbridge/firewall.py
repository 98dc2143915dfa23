"""iptables rules for our networks: rule generation (pure) and applying it (iptables-restore).

Layout (every rule carries `-m comment --comment pycompose`):

    filter FORWARD      -> PC-FWD-<inst>  -> PC-N-<net12>   intra-bridge / egress / isolation
    filter INPUT        -> PC-IN-<inst>                     no new traffic to 127/8 from bridges
    nat    POSTROUTING  -> PC-POST-<inst> -> PC-N-<net12>   MASQUERADE
    nat    PREROUTING,
           OUTPUT (dst LOCAL) -> PC-DNAT-<inst> -> PC-P-<ctr12>   published ports

`<inst>` identifies one engine instance (its state dir), so a test engine and a real one never
touch each other's chains. Each network and each publishing container owns a chain; removing it
is flush + delete + unlink, which removes exactly what was added. The accepts live in iptables'
FORWARD (not an nft table of our own) because a DROP policy there — Docker sets one — would
otherwise drop our bridge traffic whatever our own table says (a packet must pass every base
chain on its hook: an ACCEPT in one table does not undo a DROP in another).

Rules are written in iptables-save's canonical form (option order included), so whether a rule
is present can be decided by comparing lines.

Why iptables-restore: one exec applies a whole batch atomically (a failed batch changes nothing),
so a network's rules appear all at once or not at all (per table: each COMMIT is its own
transaction; iptables-nft makes the whole input one transaction).

Reading the tables (iptables-save, 20-80 ms per table on a host with ~2800 rules) is needed
only to decide about rules in built-in chains and to repair state that disagrees with the
tables. Adding a network's or container's own chain and removing it are written blind from our
state (`fresh_script`, `drop_script`); if the state is wrong the restore fails, changing
nothing, and the manager falls back to read-then-write.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Iterable

from .errors import HostFailure

TAG = "pycompose"
_COMMENT = ("-m", "comment", "--comment", TAG)


class FirewallError(HostFailure):
    pass


@dataclass(frozen=True)
class Rule:
    table: str              # "filter" | "nat"
    chain: str
    args: tuple[str, ...]   # matches and target, in iptables-save's canonical order

    def line(self, op: str = "-A") -> str:
        return " ".join((op, self.chain) + self.args)


@dataclass(frozen=True)
class Chains:
    forward: str
    postrouting: str
    dnat: str
    input: str

    @classmethod
    def for_instance(cls, instance: str) -> Chains:
        return cls(f"PC-FWD-{instance}", f"PC-POST-{instance}", f"PC-DNAT-{instance}",
                   f"PC-IN-{instance}")


def network_chain(network_id: str) -> str:
    return f"PC-N-{network_id[:12]}"


def port_chain(container_id: str) -> str:
    return f"PC-P-{container_id[:12]}"


def _r(table: str, chain: str, *args: str, target: tuple[str, ...]) -> Rule:
    return Rule(table, chain, tuple(args) + _COMMENT + target)


def base_rules(chains: Chains) -> list[Rule]:
    """Jumps from the built-in chains into ours, plus the rule admitting published-port traffic."""
    local = ("-m", "addrtype", "--dst-type", "LOCAL")
    return [
        _r("filter", "FORWARD", target=("-j", chains.forward)),
        # DNAT'd traffic to a published port may come from anywhere, including another of our
        # networks whose isolation rule would otherwise drop it.
        _r("filter", chains.forward, "-o", "pcbr+", "-m", "conntrack", "--ctstate", "DNAT",
           target=("-j", "ACCEPT")),
        _r("nat", "POSTROUTING", target=("-j", chains.postrouting)),
        # route_localnet (needed for published ports on 127.0.0.1) would also let a container
        # send to the host's loopback services through the bridge; only replies may pass
        _r("filter", "INPUT", target=("-j", chains.input)),
        _r("filter", chains.input, "-d", "127.0.0.0/8", "-i", "pcbr+", "-m", "conntrack", "!",
           "--ctstate", "RELATED,ESTABLISHED,DNAT", target=("-j", "DROP")),
        _r("nat", "PREROUTING", *local, target=("-j", chains.dnat)),
        _r("nat", "OUTPUT", *local, target=("-j", chains.dnat)),
    ]


def network_rules(chains: Chains, network_id: str, bridge: str, subnet: str,
                  internal: bool) -> list[Rule]:
    """Rules for one network; the first two are the jumps into its chains."""
    ch = network_chain(network_id)
    rules = [
        _r("filter", chains.forward, target=("-j", ch)),
        _r("nat", chains.postrouting, target=("-j", ch)),
        _r("filter", ch, "-i", bridge, "-o", bridge, target=("-j", "ACCEPT")),
        # isolation: nothing from this network into another of our bridges
        _r("filter", ch, "-i", bridge, "-o", "pcbr+", target=("-j", "DROP")),
    ]
    if internal:
        rules += [
            _r("filter", ch, "-i", bridge, target=("-j", "DROP")),
            _r("filter", ch, "-o", bridge, target=("-j", "DROP")),
        ]
    else:
        rules += [
            _r("filter", ch, "-i", bridge, target=("-j", "ACCEPT")),
            _r("filter", ch, "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
               target=("-j", "ACCEPT")),
            _r("nat", ch, "-s", subnet, "!", "-o", bridge, target=("-j", "MASQUERADE")),
            # published ports reached via 127.0.0.1 leave with a loopback source: rewrite it
            _r("nat", ch, "-s", "127.0.0.0/8", "-o", bridge, target=("-j", "MASQUERADE")),
            # hairpin: a container using a published port of its own network; without this the
            # reply would go straight back over the bridge, bypassing the un-DNAT
            _r("nat", ch, "-s", subnet, "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT",
               target=("-j", "MASQUERADE")),
        ]
    return rules


def port_rules(chains: Chains, container_id: str, bindings: list) -> list[Rule]:
    """DNAT rules for a container's published ports (bindings: ports.PortBinding)."""
    ch = port_chain(container_id)
    rules = [_r("nat", chains.dnat, target=("-j", ch))]
    for b in bindings:
        dest = ("-d", f"{b.host_ip}/32") if b.host_ip else ()
        rules.append(_r("nat", ch, *dest, "-p", b.protocol, "-m", b.protocol,
                        "--dport", str(b.host_port),
                        target=("-j", "DNAT", "--to-destination",
                                f"{b.container_ip}:{b.container_port}")))
    return rules


BUILTIN = {"filter": {"INPUT", "FORWARD", "OUTPUT"},
           "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}}


def _owned_chains(rules: list[Rule]) -> dict[str, list[str]]:
    """Our chains that `rules` jump into, per table: the rule set creates and owns them."""
    out: dict[str, list[str]] = {}
    for r in rules:
        target = r.args[r.args.index("-j") + 1]
        if target.startswith("PC-") and target not in out.setdefault(r.table, []):
            out[r.table].append(target)
    return out


def _chains_by_table(text: str) -> dict[str, set[str]]:
    """Chain names per table in iptables-save text."""
    out: dict[str, set[str]] = {}
    table = ""
    for ln in text.splitlines():
        if ln.startswith("*"):
            table = ln[1:].strip()
        elif ln.startswith(":"):
            out.setdefault(table, set()).add(ln[1:].split()[0])
    return out


def add_script(rules: list[Rule], existing: str, *, reset: bool = True) -> str:
    """iptables-restore --noflush input adding `rules`.

    Chains the rules live in are created if missing; with `reset` an existing one is emptied
    first, so re-applying is idempotent. Without `reset`, rules already present in `existing`
    (iptables-save text) are skipped. Rules in built-in chains go to the top, ahead of rules
    such as Docker's, and are never duplicated.
    """
    present = set(existing.splitlines())
    chains = _chains_by_table(existing)
    lines: list[str] = []
    owned = _owned_chains(rules)
    for table in ("filter", "nat"):
        trules = [r for r in rules if r.table == table]
        if not trules:
            continue
        lines.append(f"*{table}")
        flushed = set()
        for c in owned.get(table, []):
            if c not in chains.get(table, set()):
                lines.append(f":{c} - [0:0]")
                flushed.add(c)
            elif reset:
                lines.append(f"-F {c}")
                flushed.add(c)
        for r in trules:
            if r.chain not in flushed and r.line("-A") in present:
                continue
            if r.chain in BUILTIN[table]:
                lines.append(" ".join(("-I", r.chain, "1") + r.args))
            else:
                lines.append(r.line("-A"))
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def remove_script(rules: list[Rule], existing: str) -> str:
    """iptables-restore --noflush input removing `rules`: jumps deleted, owned chains dropped.

    Only what `existing` (iptables-save text) shows is touched, so removing twice is harmless.
    """
    all_lines = existing.splitlines()
    chains = _chains_by_table(existing)
    return _drop_lines(rules, lambda r: all_lines.count(r.line("-A")),   # duplicates too
                       lambda table, c: c in chains.get(table, set()))


def drop_script(rules: list[Rule]) -> str:
    """remove_script without reading the tables first: for rules our own state says exist once.

    If they do not (someone flushed them), iptables-restore fails and changes nothing; the
    caller then falls back to remove(), which reads the tables.
    """
    return _drop_lines(rules, lambda r: 1, lambda table, c: True)


def _drop_lines(rules: list[Rule], copies, exists) -> str:
    lines: list[str] = []
    owned = _owned_chains(rules)
    for table in ("filter", "nat"):
        trules = [r for r in rules if r.table == table]
        body = [r.line("-D") for r in trules if r.chain not in owned.get(table, [])
                for _ in range(copies(r))]
        drops = [c for c in owned.get(table, []) if exists(table, c)]
        body += [f"-F {c}" for c in drops] + [f"-X {c}" for c in drops]
        if body:
            lines += [f"*{table}"] + body + ["COMMIT"]
    return "\n".join(lines) + "\n" if lines else ""


def fresh_script(rules: list[Rule], present: Iterable[Rule] = (), *,
                 builtin: bool = False) -> str:
    """iptables-restore --noflush input adding `rules` without reading the tables first.

    For rules our own state says are absent, in chains of ours: each owned chain is declared,
    which creates it or empties it (`:chain` under --noflush), and every rule is appended once.
    `present` rules (the state says they are installed, e.g. a jump into a chain being
    refilled) are not added again. Rules in built-in chains go to the top, and are refused
    unless `builtin` (the caller knows they are absent): only a read could tell whether such
    a jump is there, and a duplicate would not make the restore fail. A missing parent chain
    makes iptables-restore fail without changing anything.
    """
    lines: list[str] = []
    owned = _owned_chains(rules)
    skip = set(present)
    for table in ("filter", "nat"):
        trules = [r for r in rules if r.table == table and r not in skip]
        if not trules:
            continue
        if not builtin and any(r.chain in BUILTIN[table] for r in trules):
            raise ValueError("fresh_script cannot add rules to built-in chains")
        lines += [f"*{table}"] + [f":{c} - [0:0]" for c in owned.get(table, [])]
        lines += [" ".join(("-I", r.chain, "1") + r.args) if r.chain in BUILTIN[table]
                  else r.line("-A") for r in trules] + ["COMMIT"]
    return "\n".join(lines) + "\n" if lines else ""


def _run(args: list[str], stdin: str | None = None) -> str:
    try:
        proc = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FirewallError(f"{args[0]} is not installed; pycompose networks need iptables") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise FirewallError(f"{args[0]} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout


def save() -> str:
    """The current filter and nat tables in iptables-save form."""
    return _run(["iptables-save", "-t", "filter"]) + _run(["iptables-save", "-t", "nat"])


def restore(script: str) -> None:
    if script.strip():
        _run(["iptables-restore", "-w", "--noflush"], script)


def apply(rules: list[Rule], *, reset: bool = True) -> None:
    restore(add_script(rules, save(), reset=reset))


def apply_with_base(base: list[Rule], rules: list[Rule]) -> None:
    """`apply(base, reset=False)` then `apply(rules)` with one read and one atomic restore."""
    existing = save()
    restore(add_script(base, existing, reset=False) + add_script(rules, existing))


def remove(rules: list[Rule]) -> None:
    restore(remove_script(rules, save()))


def tagged_lines(text: str | None = None) -> list[str]:
    """Every rule carrying our comment (for cleanup checks and tests)."""
    text = save() if text is None else text
    return [ln for ln in text.splitlines() if ln.startswith("-A ") and f"--comment {TAG}" in ln]


def chains_jumped_from(chain: str, text: str) -> list[str]:
    """Targets of `-j` in rules of `chain` (to find a dead container's port chain)."""
    out = []
    for ln in text.splitlines():
        parts = ln.split()
        if ln.startswith(f"-A {chain} ") and "-j" in parts:
            out.append(parts[parts.index("-j") + 1])
    return out
