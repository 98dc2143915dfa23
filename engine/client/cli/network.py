"""`pycompose network ...`: create, list, inspect, remove, connect and disconnect networks."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from engine.client.cli import format as fmt
from engine.client.cli import prune as pruning
from engine.client.cli.app import Commands, get_client, make_app, print_inspected
from engine.errors import PycomposeError

commands = Commands()
app = make_app("Manage networks.", commands)


def create_body(name: str, driver: str, subnet: str | None, gateway: str | None,
                internal: bool, labels: dict[str, str], *, ip_range: str | None = None,
                aux_addresses: list[str] | tuple[str, ...] = ()) -> dict:
    """POST /networks/create body (pure); bad addresses are flag errors. `aux_addresses` are
    `name=address` (--aux-address); a range or an auxiliary address needs the --subnet that
    holds it, as with the docker CLI."""
    import ipaddress

    from engine.client.cli.parse import FlagError

    body: dict = {"Name": name, "Driver": driver, "Internal": internal, "Labels": labels,
                  "CheckDuplicate": True}
    if subnet or gateway or ip_range or aux_addresses:
        config: dict = {}
        net = None
        if subnet:
            try:
                net = ipaddress.ip_network(subnet, strict=True)
            except ValueError as e:
                raise FlagError("--subnet", subnet, str(e)) from None
            config["Subnet"] = str(net)
        if ip_range:
            try:
                pool = ipaddress.ip_network(ip_range, strict=True)
            except ValueError as e:
                raise FlagError("--ip-range", ip_range, str(e)) from None
            if net is None or not pool.subnet_of(net):   # type: ignore[arg-type]
                raise FlagError("--ip-range", ip_range, "no matching subnet for range")
            config["IPRange"] = str(pool)
        if gateway:
            try:
                gw = ipaddress.ip_address(gateway)
            except ValueError:
                raise FlagError("--gateway", gateway, "not an IP address") from None
            if subnet and gw not in ipaddress.ip_network(subnet):
                raise FlagError("--gateway", gateway, f"not inside --subnet {subnet}")
            config["Gateway"] = str(gw)
        if gateway and not subnet:
            raise FlagError("--gateway", gateway, "needs --subnet")
        aux = _aux_addresses(aux_addresses, net)
        if aux:
            config["AuxiliaryAddresses"] = aux
        body["IPAM"] = {"Driver": "default", "Config": [config]}
    return body


def _aux_addresses(values: list[str] | tuple[str, ...], net: object) -> dict[str, str]:
    import ipaddress

    from engine.client.cli.parse import FlagError

    out: dict[str, str] = {}
    for value in values:
        key, eq, address = value.partition("=")
        if not key or not eq:
            raise FlagError("--aux-address", value, "expected name=address")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise FlagError("--aux-address", value, "not an IP address") from None
        if net is None or ip not in net:   # type: ignore[operator]
            raise FlagError("--aux-address", value, "no matching subnet for aux-address")
        out[key] = str(ip)
    return out


@commands.command("create")
def create(name: str = typer.Argument(..., help="Network name."),
           driver: str = typer.Option("bridge", "-d", "--driver", help="Network driver."),
           subnet: Optional[str] = typer.Option(None, "--subnet", help="CIDR, e.g. 10.9.0.0/24."),
           gateway: Optional[str] = typer.Option(None, "--gateway", help="Gateway address."),
           internal: bool = typer.Option(False, "--internal", help="No outside access."),
           label: Optional[List[str]] = typer.Option(None, "-l", "--label", help="K=V label."),
           ip_range: Optional[str] = typer.Option(
               None, "--ip-range", help="Allocate container addresses from this sub-range."),
           aux_address: Optional[List[str]] = typer.Option(
               None, "--aux-address", help="name=address the engine must never hand out.")
           ) -> None:
    """Create a network; prints its id."""
    from engine.client.cli.parse import parse_labels

    body = create_body(name, driver, subnet, gateway, internal, parse_labels(list(label or ())),
                       ip_range=ip_range, aux_addresses=list(aux_address or ()))
    print(get_client().create_network(body).get("Id", ""))


@commands.command("ls")
def ls(quiet: bool = typer.Option(False, "-q", "--quiet", help="Only ids."),
       filter_: Optional[List[str]] = typer.Option(None, "-f", "--filter", help="KEY=VALUE."),
       no_trunc: bool = typer.Option(False, "--no-trunc", help="Full ids.")) -> None:
    """List networks."""
    from engine.client.cli.parse import parse_filters

    filters = parse_filters(list(filter_ or ()))
    networks = sorted(get_client().networks(filters or None), key=lambda n: n.get("Name", ""))
    ident = (lambda n: n["Id"]) if no_trunc else (lambda n: n["Id"][:12])
    if quiet:
        for n in networks:
            print(ident(n))
        return
    print(fmt.table(("NETWORK ID", "NAME", "DRIVER", "SCOPE"),
                    [[ident(n), n.get("Name", ""), n.get("Driver", ""), n.get("Scope", "local")]
                     for n in networks]))


@commands.command("inspect")
def inspect_(names: List[str] = typer.Argument(..., help="Network names or ids."),
             format_: Optional[str] = typer.Option(None, "-f", "--format", help="Template.")) -> None:
    """Show low-level information on networks (JSON)."""
    print_inspected(names, get_client().inspect_network, format_)


@commands.command("rm")
def rm(names: List[str] = typer.Argument(..., help="Network names or ids.")) -> None:
    """Remove networks."""
    client = get_client()
    failed = False
    for name in names:
        try:
            client.remove_network(name)
            print(name)
        except PycomposeError as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    raise typer.Exit(1 if failed else 0)


@commands.command("connect")
def connect(network: str = typer.Argument(..., help="Network."),
            container: str = typer.Argument(..., help="Container."),
            alias: Optional[List[str]] = typer.Option(None, "--alias", help="DNS alias."),
            ip: Optional[str] = typer.Option(None, "--ip", help="IPv4 address.")) -> None:
    """Connect a container to a network."""
    from engine.client.cli.parse import parse_ip

    endpoint: dict = {}
    if alias:
        endpoint["Aliases"] = list(alias)
    if ip:
        endpoint["IPAMConfig"] = {"IPv4Address": parse_ip(ip)}
    get_client().connect_network(network, container, endpoint)


@commands.command("disconnect")
def disconnect(network: str = typer.Argument(..., help="Network."),
               container: str = typer.Argument(..., help="Container."),
               force: bool = typer.Option(False, "-f", "--force", help="Force.")) -> None:
    """Disconnect a container from a network."""
    get_client().disconnect_network(network, container, force)


@commands.command("prune")
def prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask.")) -> None:
    """Remove networks no container uses."""
    if not pruning.confirmed("network", "all custom networks not used by at least one container",
                             force):
        return
    result = get_client().prune_networks() or {}
    pruning.report("Networks", result.get("NetworksDeleted") or [])

