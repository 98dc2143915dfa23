"""/networks/... endpoints over netbridge's NetworkManager (Docker shapes)."""
from __future__ import annotations

import trio

from engine.api.context import Engine
from engine.api.http import Request, Response, empty_response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.containers.networking import _aliases, _ip
from engine.containers.unsupported import check_endpoint, check_network_create
from engine.errors import BadParameter, NotFound
from netbridge.shapes import network_json


def _label_ok(labels: dict, flt: str) -> bool:
    key, eq, value = flt.partition("=")
    return key in labels and (not eq or labels[key] == value)


def register(router: Router, engine: Engine) -> None:
    nets = engine.networks
    mgr = engine.manager

    async def create(req: Request) -> Response:
        body = req.json({}) or {}
        if not isinstance(body, dict) or not body.get("Name"):
            raise BadParameter("Name: a network name is required")
        check_network_create(body)
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise BadParameter(f"Driver: unsupported network driver {driver!r} (only bridge)")
        configs = ((body.get("IPAM") or {}).get("Config") or [{}])
        first = configs[0] if configs else {}
        net = await trio.to_thread.run_sync(lambda: nets.create(
            body["Name"], subnet=first.get("Subnet") or None,
            gateway=first.get("Gateway") or None, internal=bool(body.get("Internal")),
            labels=body.get("Labels") or {}))
        return json_response({"Id": net.id, "Warning": ""}, 201)

    async def list_(req: Request) -> Response:
        filters = req.filters()
        endpoints = await trio.to_thread.run_sync(nets.endpoints)
        out = []
        for net in await trio.to_thread.run_sync(nets.list):
            if filters.get("name") and not any(n in net.name for n in filters["name"]):
                continue
            if filters.get("id") and not any(net.id.startswith(i) for i in filters["id"]):
                continue
            if filters.get("label") and not all(_label_ok(net.labels, f)
                                                for f in filters["label"]):
                continue
            out.append(network_json(net, endpoints))
        return json_response(out)

    async def inspect(req: Request) -> Response:
        net = await trio.to_thread.run_sync(nets.get, req.params["id"])
        endpoints = await trio.to_thread.run_sync(nets.endpoints)
        return json_response(network_json(net, endpoints))

    async def remove(req: Request) -> Response:
        # the network is gone for every API call from here on; its rules and bridge finish
        # going on a background thread (NetworkManager.remove)
        await trio.to_thread.run_sync(lambda: nets.remove(req.params["id"], background=True))
        return empty_response(204)

    async def prune(req: Request) -> Response:
        endpoints = await trio.to_thread.run_sync(nets.endpoints)
        used = {ep.network_id for ep in endpoints}
        configured = {name for rec in mgr.store.all() for name in
                      [rec.config.network_mode, *rec.config.endpoints]}
        deleted = []
        for net in await trio.to_thread.run_sync(nets.list):
            if net.id in used or net.name in configured or net.name == "bridge":
                continue
            await trio.to_thread.run_sync(lambda: nets.remove(net.id, background=True))
            deleted.append(net.name)
        return json_response({"NetworksDeleted": deleted})

    async def connect(req: Request) -> Response:
        body = req.json({}) or {}
        net = await trio.to_thread.run_sync(nets.get, req.params["id"])
        rec = mgr.get(str(body.get("Container") or ""))
        cfg = body.get("EndpointConfig") or {}
        check_endpoint(cfg, "EndpointConfig", net.name)
        await mgr.connect_network(rec.id, net.name, cfg)
        return Response(200, b"", None)

    async def disconnect(req: Request) -> Response:
        body = req.json({}) or {}
        net = await trio.to_thread.run_sync(nets.get, req.params["id"])
        rec = mgr.get(str(body.get("Container") or ""))
        await mgr.disconnect_network(rec.id, net.name)
        return Response(200, b"", None)

    add = adder(router)
    add("POST", "/networks/create", create)
    add("POST", "/networks/prune", prune)
    add("GET", "/networks", list_)
    add("GET", "/networks/{id}", inspect)
    add("DELETE", "/networks/{id}", remove)
    add("POST", "/networks/{id}/connect", connect)
    add("POST", "/networks/{id}/disconnect", disconnect)
    _ = (_aliases, _ip, NotFound)
