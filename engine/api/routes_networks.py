"""/networks/... endpoints over netbridge's NetworkManager (Docker shapes), and link removal.
Handlers are plain functions in a table; `engine.networks` is the NetworkManager seen through
engine.netboundary (its errors arrive as ours)."""
from __future__ import annotations

from typing import Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.http import Request, Response, empty_response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.containers.networking import network_create_args
from engine.containers.networking import remove_link as remove_link_of
from engine.containers.unsupported import check_endpoint, check_network_create
from engine.errors import BadParameter, NotFound
from netbridge.shapes import network_json
from netbridge.store import Network

Handler = Callable[[Engine, Request], Awaitable[Response]]


def _label_ok(labels: dict, flt: str) -> bool:
    key, eq, value = flt.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _selected(net: Network, filters: dict[str, list[str]]) -> bool:
    if filters.get("name") and not any(n in net.name for n in filters["name"]):
        return False
    if filters.get("id") and not any(net.id.startswith(i) for i in filters["id"]):
        return False
    return not filters.get("label") or all(_label_ok(net.labels, f) for f in filters["label"])


async def create(engine: Engine, req: Request) -> Response:
    body = req.json({}) or {}
    if not isinstance(body, dict) or not body.get("Name"):
        raise BadParameter("Name: a network name is required")
    check_network_create(body)
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise BadParameter(f"Driver: unsupported network driver {driver!r} (only bridge)")
    args = network_create_args(body)
    net = await trio.to_thread.run_sync(lambda: engine.networks.create(body["Name"], **args))
    return json_response({"Id": net.id, "Warning": ""}, 201)


async def list_networks(engine: Engine, req: Request) -> Response:
    filters = req.filters()
    nets = engine.networks
    endpoints = await trio.to_thread.run_sync(nets.endpoints)
    listed = await trio.to_thread.run_sync(nets.list)
    return json_response([network_json(net, endpoints) for net in listed
                          if _selected(net, filters)])


async def inspect(engine: Engine, req: Request) -> Response:
    net = await trio.to_thread.run_sync(engine.networks.get, req.params["id"])
    endpoints = await trio.to_thread.run_sync(engine.networks.endpoints)
    return json_response(network_json(net, endpoints))


async def remove(engine: Engine, req: Request) -> Response:
    # the network is gone for every API call from here on; its rules and bridge finish going
    # on a background thread (NetworkManager.remove)
    await trio.to_thread.run_sync(lambda: engine.networks.remove(req.params["id"],
                                                                 background=True))
    return empty_response(204)


async def prune(engine: Engine, req: Request) -> Response:
    nets = engine.networks
    endpoints = await trio.to_thread.run_sync(nets.endpoints)
    used = {ep.network_id for ep in endpoints}
    configured = {name for rec in engine.manager.store.all() for name in
                  [rec.config.network_mode, *rec.config.endpoints]}
    deleted = []
    for net in await trio.to_thread.run_sync(nets.list):
        if net.id in used or net.name in configured or net.name == "bridge":
            continue
        await trio.to_thread.run_sync(lambda: nets.remove(net.id, background=True))
        deleted.append(net.name)
    return json_response({"NetworksDeleted": deleted})


async def connect(engine: Engine, req: Request) -> Response:
    body = req.json({}) or {}
    net = await trio.to_thread.run_sync(engine.networks.get, req.params["id"])
    rec = engine.manager.get(str(body.get("Container") or ""))
    cfg = body.get("EndpointConfig") or {}
    check_endpoint(cfg, "EndpointConfig", net.name, at_create=False)
    await engine.manager.connect_network(rec.id, net.name, cfg)
    return Response(200, b"", None)


async def disconnect(engine: Engine, req: Request) -> Response:
    body = req.json({}) or {}
    net = await trio.to_thread.run_sync(engine.networks.get, req.params["id"])
    rec = engine.manager.get(str(body.get("Container") or ""))
    await engine.manager.disconnect_network(rec.id, net.name)
    return Response(200, b"", None)


async def remove_link(engine: Engine, req: Request) -> Response:
    """DELETE /containers/<parent>/<alias>?link=1 (the SDK does not escape the "/" of a link
    name): Docker's link removal. Without link=1 such a path names no container."""
    parent, alias = req.params["parent"], req.params["alias"]
    if not req.bool_arg("link"):
        raise NotFound(f"No such container: {parent}/{alias}")
    await remove_link_of(engine.manager.store, parent, alias)
    return empty_response(204)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks", list_networks),
    ("GET", "/networks/{id}", inspect),
    ("DELETE", "/networks/{id}", remove),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
    ("DELETE", "/containers/{parent}/{alias}", remove_link),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))
