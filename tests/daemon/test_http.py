"""The API server's HTTP layer over a real unix socket (no containers): routing, errors,
chunked streams, hijacking, socket mode."""
from __future__ import annotations

import json
import os
import stat

import trio

from engine.api.http import (HijackResponse, Request, Response, StreamResponse, json_response,
                             serve_unix)
from engine.api.router import Router
from engine.errors import Conflict, NotFound


def make_router() -> Router:
    router = Router()

    async def hello(req: Request) -> Response:
        return json_response({"id": req.params["id"], "all": req.bool_arg("all"),
                              "filters": req.filters()})

    async def missing(req: Request) -> Response:
        raise NotFound("No such container: nope")

    async def conflict(req: Request) -> Response:
        raise Conflict("already in use")

    async def boom(req: Request) -> Response:
        raise RuntimeError("kaput")

    async def stream(req: Request) -> StreamResponse:
        async def body():
            for i in range(3):
                yield f"chunk{i}\n".encode()
        return StreamResponse(body(), "text/plain")

    async def echo(req: Request) -> HijackResponse:
        async def run(conn):
            data = await conn.receive_some()
            await conn.send_all(b"echo:" + data)
        return HijackResponse(run)

    router.add("GET", "/things/{id}/json", hello)
    router.add("GET", "/missing", missing)
    router.add("POST", "/conflict", conflict)
    router.add("GET", "/boom", boom)
    router.add("GET", "/stream", stream)
    router.add("POST", "/echo", echo)
    return router


async def _exchange(path: str, raw: bytes, *, until_close: bool = True) -> bytes:
    stream = await trio.open_unix_socket(path)
    await stream.send_all(raw)
    out = b""
    with trio.move_on_after(2):
        while True:
            data = await stream.receive_some(65536)
            if not data:
                break
            out += data
            if not until_close and b"\r\n\r\n" in out:
                break
    await stream.aclose()
    return out


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


def _body(resp: bytes) -> dict:
    return json.loads(resp.split(b"\r\n\r\n", 1)[1])


def test_http_server(tmp_path):
    sock = tmp_path / "sub" / "engine.sock"

    async def main():
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_unix, sock, make_router().dispatch)
            assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
            flt = '{"name":["web"],"label":{"a=b":true}}'
            from urllib.parse import quote
            r = await _exchange(str(sock), _get(f"/v1.41/things/abc/json?all=1&filters={quote(flt)}"))
            assert r.startswith(b"HTTP/1.1 200")
            assert _body(r) == {"id": "abc", "all": True,
                                "filters": {"name": ["web"], "label": ["a=b"]}}
            r = await _exchange(str(sock), _get("/missing"))
            assert r.startswith(b"HTTP/1.1 404") and _body(r) == {"message": "No such container: nope"}
            r = await _exchange(str(sock), b"POST /conflict HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            assert r.startswith(b"HTTP/1.1 409")
            r = await _exchange(str(sock), _get("/boom"))
            assert r.startswith(b"HTTP/1.1 500") and b"kaput" in r
            r = await _exchange(str(sock), _get("/nowhere"))
            assert r.startswith(b"HTTP/1.1 404")
            r = await _exchange(str(sock), b"DELETE /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert r.startswith(b"HTTP/1.1 405")
            expect = (b"POST /conflict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
            stream = await trio.open_unix_socket(str(sock))
            await stream.send_all(expect)
            with trio.fail_after(2):
                assert (await stream.receive_some(100)).startswith(b"HTTP/1.1 100")
            await stream.send_all(b"{}")
            with trio.fail_after(2):
                assert (await stream.receive_some(100)).startswith(b"HTTP/1.1 409")
            await stream.aclose()
            # the server survived the 500 and serves keep-alive requests in a row
            two = _get("/things/1/json").replace(b"Connection: close\r\n", b"") + _get("/things/2/json")
            r = await _exchange(str(sock), two)
            assert r.count(b"HTTP/1.1 200") == 2
            r = await _exchange(str(sock), _get("/stream"))
            assert b"transfer-encoding: chunked" in r.lower()
            assert b"chunk0\n" in r and b"chunk2\n" in r and r.endswith(b"0\r\n\r\n")
            # hijack with Upgrade: 101 then raw bytes both ways
            up = b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nping"
            r = await _exchange(str(sock), up)
            assert r.startswith(b"HTTP/1.1 101") and r.endswith(b"echo:ping")
            # without Upgrade: a bare 200 and the raw stream
            plain = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\npong"
            r = await _exchange(str(sock), plain)
            assert r.startswith(b"HTTP/1.1 200") and r.endswith(b"echo:pong")
            nursery.cancel_scope.cancel()
        assert not sock.exists()

    trio.run(main)
