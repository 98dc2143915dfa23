"""`Client`: one method per Docker Engine API endpoint the engine serves.

Synchronous and cheap: creating a Client opens nothing; the first request connects and the
connection is kept alive for the next. A Client is not shared between threads: async callers
(trio) make one per worker thread (`trio.to_thread.run_sync(lambda: Client(...).inspect(x))`),
which costs one connect.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from engine.client.http import Body, Connection, ProtocolError, Response, StaleConnection
from engine.client.streams import Hijacked, json_messages, read_frames
from engine.errors import EngineError, EngineUnavailable, NotFound, error_for_status

API_VERSION = "1.41"


def _q(value: str) -> str:
    # as Docker's own clients: image references keep their "/", ":" and "@" readable
    return quote(value, safe="/:@")


def _params(params: dict[str, Any] | None) -> str:
    if not params:
        return ""
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"))
        if isinstance(value, (list, tuple)):
            items += [(key, str(v)) for v in value]
        else:
            items.append((key, str(value)))
    return "?" + urlencode(items) if items else ""


def engine_root(env: dict[str, str] | None = None) -> Path:
    """The engine's state root ($PYCOMPOSE_ROOT). Only the engine writes its own files there;
    a client tool may keep files of its own beside them, in a directory of its own."""
    from engine.config import EngineConfig

    return EngineConfig.from_env(os.environ if env is None else env).root


class Client:
    def __init__(self, socket_path: str | os.PathLike[str], timeout: float | None = None) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self._conn: Connection | None = None

    @classmethod
    def from_env(cls, autostart: bool = True, env: dict[str, str] | None = None,
                 timeout: float | None = None) -> Client:
        """The client for $PYCOMPOSE_HOST in `env` (None: this process's environment, for the
        commands that call it at their edge); with autostart, start the daemon if it is not up."""
        from engine.config import EngineConfig

        config = EngineConfig.from_env(os.environ if env is None else env)
        client = cls(config.socket_path, timeout=timeout)
        if autostart:
            # a connect is enough to know someone listens (no /_ping round trip per command),
            # and the connection is kept for the first request
            conn = Connection(client.socket_path, timeout)
            try:
                conn.connect()
                client._conn = conn
            except (FileNotFoundError, ConnectionRefusedError):
                from engine.client.autostart import start_daemon

                start_daemon(config, env)
            except OSError as e:
                raise EngineUnavailable(
                    f"cannot reach the engine at unix://{client.socket_path}: {e.strerror}") from None
        return client

    # -- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.busy:
            # a streaming response still owns the old one; it closes with that response
            self._conn = Connection(self.socket_path, self.timeout)
        return self._conn

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                json_body: Any = None, body: Body = None, headers: dict[str, str] | None = None,
                upgrade: bool = False) -> Response:
        """Send one request; raise the typed error for a 4xx/5xx answer."""
        target = f"/v{API_VERSION}{path}{_params(params)}"
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        if upgrade:
            hdrs["Connection"] = "Upgrade"
            hdrs["Upgrade"] = "tcp"
        replayable = body is None or isinstance(body, (bytes, bytearray))
        for attempt in (0, 1):
            conn = Connection(self.socket_path, self.timeout) if upgrade else self._connection()
            try:
                response = conn.request(method, target, hdrs, body, expect_upgrade=upgrade)
                break
            except StaleConnection:
                if attempt or not replayable:
                    raise EngineUnavailable(
                        f"the engine closed the connection ({self.socket_path})") from None
            except (FileNotFoundError, ConnectionRefusedError) as e:
                conn.close()
                raise EngineUnavailable(
                    f"cannot reach the engine at unix://{self.socket_path}: {e.strerror}") from None
            except (OSError, ProtocolError) as e:
                conn.close()
                raise EngineUnavailable(f"engine connection failed: {e}") from None
        if response.status >= 400:
            error = _error_from(response)
            if upgrade:
                response.conn.close()  # a one-off connection nobody else will use
            raise error
        return response

    def _json(self, method: str, path: str, params: dict[str, Any] | None = None,
              json_body: Any = None, body: Body = None) -> Any:
        response = self.request(method, path, params, json_body=json_body, body=body)
        data = response.read()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise EngineError(f"engine sent invalid JSON for {method} {path}") from None

    def _discard(self, method: str, path: str, params: dict[str, Any] | None = None,
                 json_body: Any = None) -> None:
        self.request(method, path, params, json_body=json_body).read()

    def _hijack(self, path: str, params: dict[str, Any] | None, json_body: Any,
                tty: bool) -> Hijacked:
        response = self.request("POST", path, params, json_body=json_body, upgrade=True)
        conn = response.conn
        if response.status != 101:
            # Docker also answers 200 and streams on the same connection without upgrading
            if response.headers.get("content-length") or "chunked" in response.headers.get(
                    "transfer-encoding", ""):
                conn.close()
                raise EngineError(f"engine did not upgrade the connection for {path}")
        assert conn.sock is not None and conn.reader is not None
        sock, pending = conn.sock, conn.reader.take_buffer()
        conn.sock = conn.reader = None  # the Hijacked object owns the socket now
        return Hijacked(sock, pending, tty)

    # -- system -------------------------------------------------------------------------------

    def ping(self) -> bool:
        conn = Connection(self.socket_path, timeout=2.0)
        try:
            response = conn.request("GET", "/_ping", {})
            return response.status == 200 and response.read().strip() == b"OK"
        except (OSError, ProtocolError, StaleConnection):
            return False
        finally:
            conn.close()

    def daemon_pid(self) -> int | None:
        """The pid of the process serving the socket (SO_PEERCRED), None if nobody listens."""
        import socket
        import struct

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return struct.unpack("3i", creds)[0]
        except OSError:
            return None
        finally:
            sock.close()

    def shutdown(self) -> None:
        """POST /pycompose/shutdown: the engine stops its containers and exits."""
        self._discard("POST", "/pycompose/shutdown")

    def version(self) -> dict:
        return self._json("GET", "/version")

    def info(self) -> dict:
        return self._json("GET", "/info")

    def events(self, filters: dict[str, list[str]] | None = None, since: str | None = None,
               until: str | None = None) -> Iterator[dict]:
        response = self.request("GET", "/events", {"filters": filters, "since": since,
                                                   "until": until})  # errors raise here
        return _events(response)

    # -- containers ---------------------------------------------------------------------------

    def containers(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[dict]:
        return self._json("GET", "/containers/json", {"all": all or None, "filters": filters})

    def create_container(self, config: dict, name: str | None = None) -> dict:
        """POST /containers/create; returns {"Id": ..., "Warnings": [...]}."""
        return self._json("POST", "/containers/create", {"name": name}, json_body=config)

    def inspect_container(self, ref: str) -> dict:
        return self._json("GET", f"/containers/{_q(ref)}/json")

    def start(self, ref: str) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/start")

    def stop(self, ref: str, timeout: int | None = None) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/stop", {"t": timeout})

    def restart(self, ref: str, timeout: int | None = None) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/restart", {"t": timeout})

    def kill(self, ref: str, signal: str | int | None = None) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/kill", {"signal": signal})

    def pause(self, ref: str) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/pause")

    def unpause(self, ref: str) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/unpause")

    def remove_container(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        self._discard("DELETE", f"/containers/{_q(ref)}", {"force": force or None,
                                                           "v": volumes or None})

    def rename(self, ref: str, name: str) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/rename", {"name": name})

    def wait(self, ref: str, condition: str | None = None) -> dict:
        """Blocks until the condition ("not-running", "next-exit", "removed"); {"StatusCode", "Error"}."""
        return self._json("POST", f"/containers/{_q(ref)}/wait", {"condition": condition})

    def top(self, ref: str, ps_args: str | None = None) -> dict:
        return self._json("GET", f"/containers/{_q(ref)}/top", {"ps_args": ps_args})

    def explain(self, ref: str) -> dict:
        """GET /pycompose/containers/{id}/explain: image, processes, isolation, resources,
        network and mounts of one container in one document."""
        return self._json("GET", f"/pycompose/containers/{_q(ref)}/explain")

    def resize(self, ref: str, height: int, width: int) -> None:
        self._discard("POST", f"/containers/{_q(ref)}/resize", {"h": height, "w": width})

    def logs(self, ref: str, *, follow: bool = False, stdout: bool = True, stderr: bool = True,
             timestamps: bool = False, tail: str | int | None = None, since: float | None = None,
             until: float | None = None, tty: bool | None = None) -> Iterator[tuple[int, bytes]]:
        """(stream, bytes) pieces of the container's log; raw for tty containers."""
        if tty is None:
            tty = bool(self.inspect_container(ref).get("Config", {}).get("Tty"))
        response = self.request("GET", f"/containers/{_q(ref)}/logs", {
            "follow": follow or None, "stdout": stdout, "stderr": stderr,
            "timestamps": timestamps or None, "tail": tail, "since": since, "until": until})
        return self._frames(response, tty)

    @staticmethod
    def _frames(response: Response, tty: bool) -> Iterator[tuple[int, bytes]]:
        ctype = response.headers.get("content-type", "")
        if "multiplexed" in ctype:
            tty = False
        elif "raw-stream" in ctype and tty:
            tty = True
        try:
            yield from read_frames(response.read_exact, tty, response.read_some)
        finally:
            response.close()

    def attach(self, ref: str, *, stdin: bool = False, stdout: bool = True, stderr: bool = True,
               logs: bool = False, tty: bool = False) -> Hijacked:
        """Hijacked attach connection; `tty` says how to read it (the container's Config.Tty)."""
        return self._hijack(f"/containers/{_q(ref)}/attach", {
            "stream": True, "stdin": stdin, "stdout": stdout, "stderr": stderr,
            "logs": logs or None}, None, tty)

    def port(self, ref: str) -> dict:
        return self.inspect_container(ref).get("NetworkSettings", {}).get("Ports") or {}

    def prune_containers(self) -> dict:
        return self._json("POST", "/containers/prune")

    # -- exec ---------------------------------------------------------------------------------

    def exec_create(self, ref: str, cmd: list[str], *, stdin: bool = False, stdout: bool = True,
                    stderr: bool = True, tty: bool = False, env: list[str] | None = None,
                    user: str | None = None, workdir: str | None = None,
                    privileged: bool = False) -> str:
        body: dict[str, Any] = {"AttachStdin": stdin, "AttachStdout": stdout,
                                "AttachStderr": stderr, "Tty": tty, "Cmd": cmd,
                                "Privileged": privileged}
        if env:
            body["Env"] = env
        if user:
            body["User"] = user
        if workdir:
            body["WorkingDir"] = workdir
        return self._json("POST", f"/containers/{_q(ref)}/exec", json_body=body)["Id"]

    def exec_start_detached(self, exec_id: str) -> None:
        self._discard("POST", f"/exec/{_q(exec_id)}/start", json_body={"Detach": True,
                                                                       "Tty": False})

    def exec_start(self, exec_id: str, tty: bool = False,
                   console_size: tuple[int, int] | None = None) -> Hijacked:
        body: dict[str, Any] = {"Detach": False, "Tty": tty}
        if console_size:
            body["ConsoleSize"] = list(console_size)  # (rows, cols) before the command runs
        return self._hijack(f"/exec/{_q(exec_id)}/start", None, body, tty)

    def exec_inspect(self, exec_id: str) -> dict:
        return self._json("GET", f"/exec/{_q(exec_id)}/json")

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self._discard("POST", f"/exec/{_q(exec_id)}/resize", {"h": height, "w": width})

    # -- images -------------------------------------------------------------------------------

    def images(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[dict]:
        return self._json("GET", "/images/json", {"all": all or None, "filters": filters})

    def inspect_image(self, ref: str) -> dict:
        return self._json("GET", f"/images/{_q(ref)}/json")

    def remove_image(self, ref: str, force: bool = False) -> list[dict]:
        return self._json("DELETE", f"/images/{_q(ref)}", {"force": force or None}) or []

    def tag_image(self, ref: str, repo: str, tag: str | None = None) -> None:
        self._discard("POST", f"/images/{_q(ref)}/tag", {"repo": repo, "tag": tag})

    def import_image(self, source: Body, repo: str | None = None, tag: str | None = None,
                     changes: list[str] | None = None) -> list[dict]:
        """POST /images/create?fromSrc=- with a rootfs tarball; the JSON progress messages."""
        response = self.request("POST", "/images/create", {
            "fromSrc": "-", "repo": repo, "tag": tag, "changes": changes or None},
            body=source, headers={"Content-Type": "application/x-tar"})
        return list(json_messages(response))

    def pull_image(self, ref: str, platform: str | None = None) -> list[dict]:
        """POST /images/create?fromImage=ref: pull from a registry; the progress messages."""
        response = self.request("POST", "/images/create", {"fromImage": ref,
                                                           "platform": platform})
        return list(json_messages(response))

    def load_images(self, source: Body) -> list[dict]:
        response = self.request("POST", "/images/load", {"quiet": True}, body=source,
                                headers={"Content-Type": "application/x-tar"})
        return list(json_messages(response))

    def login(self, server: str, username: str, password: str) -> str:
        """POST /auth: the engine checks the credentials with the registry and keeps them."""
        answer = self._json("POST", "/auth", json_body={
            "username": username, "password": password, "serveraddress": server})
        return (answer or {}).get("Status") or "Login Succeeded"

    def logout(self, server: str) -> tuple[str, bool]:
        """(registry host, whether credentials were stored for it), removing them."""
        answer = self._json("DELETE", "/pycompose/auth", {"serveraddress": server}) or {}
        return str(answer.get("ServerAddress") or server), bool(answer.get("Removed"))

    def save_images(self, refs: list[str]) -> Iterator[bytes]:
        response = self.request("GET", "/images/get", {"names": refs})  # errors raise here
        return _chunks(response)

    # -- volumes ------------------------------------------------------------------------------

    def volumes(self, filters: dict[str, list[str]] | None = None) -> list[dict]:
        return (self._json("GET", "/volumes", {"filters": filters}) or {}).get("Volumes") or []

    def create_volume(self, name: str | None = None, labels: dict[str, str] | None = None,
                      driver: str = "local", driver_opts: dict[str, str] | None = None) -> dict:
        body: dict[str, Any] = {"Driver": driver, "Labels": labels or {},
                                "DriverOpts": driver_opts or {}}
        if name:
            body["Name"] = name
        return self._json("POST", "/volumes/create", json_body=body)

    def inspect_volume(self, name: str) -> dict:
        return self._json("GET", f"/volumes/{_q(name)}")

    def remove_volume(self, name: str, force: bool = False) -> None:
        self._discard("DELETE", f"/volumes/{_q(name)}", {"force": force or None})

    def prune_volumes(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self._json("POST", "/volumes/prune", {"filters": filters})

    # -- networks -----------------------------------------------------------------------------

    def networks(self, filters: dict[str, list[str]] | None = None) -> list[dict]:
        return self._json("GET", "/networks", {"filters": filters})

    def create_network(self, config: dict) -> dict:
        return self._json("POST", "/networks/create", json_body=config)

    def inspect_network(self, ref: str) -> dict:
        return self._json("GET", f"/networks/{_q(ref)}")

    def remove_network(self, ref: str) -> None:
        self._discard("DELETE", f"/networks/{_q(ref)}")

    def connect_network(self, network: str, container: str,
                        endpoint_config: dict | None = None) -> None:
        self._discard("POST", f"/networks/{_q(network)}/connect",
                      json_body={"Container": container, "EndpointConfig": endpoint_config or {}})

    def prune_networks(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self._json("POST", "/networks/prune", {"filters": filters})

    def disconnect_network(self, network: str, container: str, force: bool = False) -> None:
        self._discard("POST", f"/networks/{_q(network)}/disconnect",
                      json_body={"Container": container, "Force": force})


def _events(response: Response) -> Iterator[dict]:
    try:
        for line in response.iter_lines():
            if line.strip():
                yield json.loads(line)
    finally:
        response.close()


def _chunks(response: Response) -> Iterator[bytes]:
    try:
        yield from response.iter_chunks()
    finally:
        response.close()


def _error_from(response: Response) -> EngineError:
    try:
        raw = response.read()
    except (OSError, ProtocolError):
        raw = b""
    message = ""
    try:
        message = json.loads(raw).get("message", "")
    except (ValueError, AttributeError):
        message = raw.decode("utf-8", "replace").strip()
    if not message:
        message = f"engine answered {response.status} {response.reason}".strip()
    if response.status == 404 and not message:
        return NotFound(message)
    return error_for_status(response.status, message)
