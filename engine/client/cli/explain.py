"""`pycompose container explain NAME`: the explain document as a rich tree, or `--format json`.

`explain_tree` is pure (a document in, a rich Tree out) so the compose verb and the tests share
it. Everything the container controls (commands, paths, names) enters the tree as `Text`, never
parsed as markup.
"""
from __future__ import annotations

import json
from typing import Any

import typer

from engine.client.cli.app import COMMAND_SETTINGS, get_client
from engine.client.cli.container import commands
from engine.client.cli.format import human_size
from engine.errors import PycomposeError

FORMATS = ("tree", "json")
_KIND = {0: "C", 1: "A", 2: "D"}


def _t(*parts: Any) -> Any:
    """A Text from (text, style) pairs and plain strings; nothing is parsed as markup."""
    from rich.text import Text

    return Text.assemble(*[(p if isinstance(p, tuple) else str(p)) for p in parts])


def _size(value: Any) -> str:
    return human_size(value) if isinstance(value, (int, float)) else "?"


def _limit(value: Any, fmt=_size) -> str:
    return "no limit" if value is None else fmt(value)


def _image(tree: Any, doc: dict) -> None:
    img = doc["Image"]
    node = tree.add(_t(("image ", "bold"), img.get("Name") or "", f"  {img['Id'][:19]}"))
    if img.get("Error"):
        node.add(_t(("error: ", "red"), img["Error"]))
    layers = img.get("Layers") or []
    for i, layer in enumerate(reversed(layers)):
        n = len(layers) - i
        step = layer.get("CreatedBy") or "(no history)"
        entry = node.add(_t(f"layer {n}  ", (layer["DiffID"][7:19], "cyan"),
                            f"  {_size(layer.get('Size'))}  ", (step, "dim")))
        entry.add(_t("lowerdir ", layer.get("Dir", "")))
    w = doc["WritableLayer"]
    up = tree.add(_t(("writable layer ", "bold"), f"{_size(w.get('Size'))}  ",
                     ("upperdir ", "dim"), w.get("UpperDir", "")))
    if w.get("Error"):
        up.add(_t(("error: ", "red"), w["Error"]))
        return
    counts = w.get("Counts") or {}
    up.add(_t(f"{counts.get('Added', 0)} added, {counts.get('Changed', 0)} changed, "
              f"{counts.get('Deleted', 0)} deleted"))
    for c in w.get("Changes") or []:
        up.add(_t((_KIND.get(c["Kind"], "?"), "yellow"), " ", c["Path"]))
    if w.get("Truncated"):
        up.add(_t(("… more (see container diff)", "dim")))


def _proc_node(parent: Any, p: dict) -> None:
    node = parent.add(_t(("pid ", "dim"), (str(p["Pid"]), "bold"), ("  host pid ", "dim"),
                         str(p["HostPid"]), "  ", p["Command"]))
    for child in p.get("Children") or []:
        _proc_node(node, child)


def _processes(tree: Any, doc: dict) -> None:
    pr = doc["Processes"]
    policy = pr["RestartPolicy"].get("Name") or "no"
    if pr["RestartPolicy"].get("MaximumRetryCount"):
        policy += f":{pr['RestartPolicy']['MaximumRetryCount']}"
    node = tree.add(_t(("processes ", "bold"), f"{pr['State']}  init: "
                       f"{'yes' if pr['Init'] else 'no'}  restart: {policy} "
                       f"(restarted {pr['RestartCount']}x)"))
    if not pr.get("Tree"):
        node.add(_t(("none: the container is not running", "dim")))
    for p in pr.get("Tree") or []:
        _proc_node(node, p)


def _isolation(tree: Any, doc: dict) -> None:
    iso = doc["Isolation"]
    node = tree.add(_t(("isolation ", "bold"), f"user {iso['User'] or 'root (default)'}",
                       f"  uid {iso['Uid']} gid {iso['Gid']}" if "Uid" in iso else ""))
    spaces = iso.get("Namespaces") or {}
    if spaces:
        ns = node.add(_t("namespaces"))
        for name, info in spaces.items():
            style = "green" if info["Shared"] == "private" else "yellow"
            ns.add(_t(f"{name:<7}", f"{info['Inode']}  ", (info["Shared"], style)))
    if "Capabilities" in iso:
        caps = iso["Capabilities"]
        node.add(_t(f"capabilities ({len(caps)}, CapEff {iso['CapEff']}): ",
                    (" ".join(c[4:] for c in caps) or "none", "dim")))
        node.add(_t(f"seccomp {iso['Seccomp']} ({iso['SeccompFilters']} filters), "
                    f"profile {iso['SeccompProfile']}; no_new_privs "
                    f"{'yes' if iso['NoNewPrivs'] else 'no'}"))
    node.add(_t("masked: ", (" ".join(iso["MaskedPaths"]) or "none", "dim")))
    node.add(_t("read-only: ", (" ".join(iso["ReadonlyPaths"]) or "none", "dim"),
                "  root fs read-only" if iso.get("ReadonlyRootfs") else ""))


def _resources(tree: Any, doc: dict) -> None:
    res = doc["Resources"]
    cg = res.get("Cgroup")
    node = tree.add(_t(("resources ", "bold"), f"cgroup {cg['Name']}" if cg else
                       "no cgroup: the container is not running"))
    if not cg:
        cfg = res["Configured"]
        node.add(_t(f"configured: memory {_limit(cfg.get('Memory'))}, cpus "
                    f"{_limit(cfg.get('Cpus'), str)}, pids {_limit(cfg.get('PidsLimit'), str)}"))
        return
    for path in cg["Paths"]:
        node.add(_t(("path ", "dim"), path))
    mem, pids, cpu = res["Memory"], res["Pids"], res["Cpu"]
    node.add(_t(f"memory {_size(mem.get('Usage'))} of {_limit(mem.get('Limit'))}"))
    node.add(_t(f"pids {pids.get('Current')} of {_limit(pids.get('Limit'), str)}"))
    used = cpu.get("UsageNs")
    limit = cpu.get("Limit")
    node.add(_t(f"cpu {used / 1e9 if used is not None else 0:.2f} s used, "
                + (f"limit {limit} cpus" if limit is not None else "no limit")))


def _network(tree: Any, doc: dict) -> None:
    net = doc["Network"]
    node = tree.add(_t(("network ", "bold"), f"mode {net['Mode']}"))
    for ep in net.get("Endpoints") or []:
        if not ep.get("HostVeth"):
            node.add(_t(ep["Network"], ("  not connected (stopped)", "dim")))
            continue
        e = node.add(_t((ep["Network"], "bold"), f"  {ep['IPAddress']}  {ep['MacAddress']}"))
        e.add(_t(f"veth {ep['ContainerIf']} (container) <-> {ep['HostVeth']} (host) on bridge "
                 f"{ep['Bridge']}"))
        e.add(_t("dns names: ", " ".join(ep.get("DnsNames") or [])))
    for p in net.get("Ports") or []:
        node.add(_t(f"port {p['HostIp']}:{p['HostPort']} -> {p['ContainerIp']}:"
                    f"{p['ContainerPort']}/{p['Protocol']}"))
    if net.get("Rules"):
        rules = node.add(_t("iptables rules"))
        for line in net["Rules"]:
            rules.add(_t((line, "dim")))


def _mounts(tree: Any, doc: dict) -> None:
    mounts = doc.get("Mounts") or []
    node = tree.add(_t(("mounts ", "bold"), f"{len(mounts)}"))
    for m in mounts:
        node.add(_t(f"{m['Type']:<6} ", m.get("Target") or "?", "  <- ", m.get("Source") or "",
                    "  (ro)" if m.get("ReadOnly") else ""))


def explain_tree(doc: dict) -> Any:
    """The explain document as a rich Tree (pure)."""
    from rich.tree import Tree

    tree = Tree(_t(("container ", "bold"), doc["Name"], f"  {doc['Id'][:12]}  ",
                   (doc["State"], "green" if doc["State"] == "running" else "yellow")))
    for section in (_image, _processes, _isolation, _resources, _network, _mounts):
        section(tree, doc)
    return tree


def print_explain(doc: dict, fmt: str, width: int | None = None) -> None:
    if fmt == "json":
        print(json.dumps(doc, indent=2))
        return
    from rich.console import Console

    Console(width=width).print(explain_tree(doc))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise PycomposeError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


@commands.command("explain", context_settings=COMMAND_SETTINGS)
def explain(name: str = typer.Argument(..., help="Container name or id."),
            format: str = typer.Option("tree", "--format", help="tree or json.")) -> None:
    """Show what makes a container: image layers, processes, namespaces, cgroup, network."""
    print_explain(get_client().explain(name), check_format(format))
