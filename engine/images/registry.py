"""A registry API v2 client over the stdlib (http.client): auth, redirects, clear errors.

Authentication follows the registry's 401 challenge: Basic (credentials from the store) or
Bearer (a token fetched from the challenge's realm for the scope the request needs, cached per
scope). Every failure becomes one line naming the registry and what was asked.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field

from engine.errors import EngineError, NotFound
from engine.images.auth import (DOCKER_HUB, DOCKER_HUB_API, Challenge, CredentialStore,
                                basic_header, parse_challenge)

TIMEOUT = 60.0
USER_AGENT = "pycompose/0.1"


class RegistryError(EngineError):
    """The registry answered with an error, or could not be reached."""


class Unauthorized(RegistryError):
    status = 401


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _error_text(body: bytes) -> str:
    """The registry's `{"errors": [{"code", "message"}]}` as one line."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code', '').lower().replace('_', ' ')}: {e.get('message', '')}"
                         .strip(": ") for e in errors) or body[:200].decode(errors="replace")
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace").strip()


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    conn: http.client.HTTPConnection
    raw: http.client.HTTPResponse

    def read(self, n: int = -1) -> bytes:
        return self.raw.read(n) if n is not None and n >= 0 else self.raw.read()

    def body(self) -> bytes:
        try:
            return self.raw.read()
        finally:
            self.close()

    def close(self) -> None:
        self.conn.close()


@dataclass
class RegistryClient:
    host: str                              # as in the reference: "docker.io", "127.0.0.1:5000"
    credentials: CredentialStore | None = None
    insecure: bool | None = None           # None: plain HTTP for loopback registries only
    auth: tuple[str, str] | None = None    # explicit credentials, before the store's
    _auth: dict = field(default_factory=dict)   # scope -> Authorization header value

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def scheme(self) -> str:
        plain = _is_loopback(self.api_host) if self.insecure is None else self.insecure
        return "http" if plain else "https"

    # -- transport -----------------------------------------------------------------------

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=TIMEOUT,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(netloc, timeout=TIMEOUT)

    def _send(self, method: str, url: str, headers: dict, body=None) -> Response:
        parts = urllib.parse.urlsplit(url)
        conn = self._connect(parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers={"User-Agent": USER_AGENT, **headers})
            raw = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, socket.timeout):
                reason = "timed out"
            raise RegistryError(f"cannot reach registry {parts.netloc}: {reason}") from None
        return Response(raw.status, raw.headers, conn, raw)

    def request(self, method: str, path: str, *, scope: str, headers: dict | None = None,
                body=None, ok: tuple[int, ...] = (200,), what: str = "") -> Response:
        """One API call (path below /v2/ or a full upload URL), authenticating on a 401."""
        url = path if "://" in path else f"{self.scheme}://{self.api_host}{path}"
        headers = dict(headers or {})
        for attempt in range(2):
            # Credentials go to the registry itself only (an upload Location may point away).
            if scope in self._auth and urllib.parse.urlsplit(url).netloc == self.api_host:
                headers["Authorization"] = self._auth[scope]
            resp = self._send(method, url, headers, body)
            if resp.status == 401 and attempt == 0:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.body()
                self._auth.pop(scope, None)     # an expired token is replaced
                self._authenticate(parse_challenge(challenge), scope)
                if hasattr(body, "seek"):
                    body.seek(0)
                continue
            # Blob downloads may be redirected to object storage: no credentials go there.
            hops = 0
            while resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = urllib.parse.urljoin(url, resp.headers.get("Location", ""))
                resp.body()
                hops += 1
                if hops > 5:
                    raise RegistryError(f"registry {self.host}: too many redirects for {what}")
                same = urllib.parse.urlsplit(location).netloc == urllib.parse.urlsplit(url).netloc
                resp = self._send(method, location,
                                  headers if same else {k: v for k, v in headers.items()
                                                        if k != "Authorization"})
                url = location
            if resp.status in ok:
                return resp
            self._fail(resp, what or f"{method} {path}")
        raise AssertionError("unreachable")

    def _fail(self, resp: Response, what: str) -> None:
        text = _error_text(resp.body())
        if resp.status == 401:
            raise Unauthorized(f"{what}: unauthorized: authentication required "
                               f"(registry {self.host})")
        if resp.status == 403:
            raise Unauthorized(f"{what}: denied: requested access to the resource is denied "
                               f"(registry {self.host})")
        if resp.status == 404:
            raise NotFound(f"{what}: not found in registry {self.host}"
                           + (f" ({text})" if text else ""))
        raise RegistryError(f"{what}: registry {self.host} answered {resp.status}"
                            + (f": {text}" if text else ""))

    # -- authentication ------------------------------------------------------------------

    def _authenticate(self, challenge: Challenge, scope: str) -> None:
        creds = self.auth or (self.credentials.get(self.host) if self.credentials else None)
        if challenge.scheme == "basic":
            if creds is None:
                raise Unauthorized(f"registry {self.host} requires a login "
                                   f"(unauthorized: authentication required)")
            self._auth[scope] = basic_header(*creds)
        elif challenge.scheme == "bearer":
            self._auth[scope] = "Bearer " + self._token(challenge, scope, creds)
        else:
            raise Unauthorized(f"registry {self.host} asks for unsupported authentication "
                               f"{challenge.scheme!r}")

    def _token(self, challenge: Challenge, scope: str, creds: tuple[str, str] | None) -> str:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise Unauthorized(f"registry {self.host} sent a bearer challenge without a realm")
        query = {"service": challenge.params.get("service", "")}
        wanted = scope or challenge.params.get("scope", "")
        if wanted:
            query["scope"] = wanted
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": basic_header(*creds)} if creds else {}
        resp = self._send("GET", url, headers)
        if resp.status != 200:
            text = _error_text(resp.body())
            raise Unauthorized(f"token server {urllib.parse.urlsplit(realm).netloc} refused "
                               f"{'the credentials' if creds else 'anonymous access'} for "
                               f"{self.host} ({resp.status}{': ' + text if text else ''})")
        try:
            data = json.loads(resp.body())
            return data.get("token") or data["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise Unauthorized(f"token server for {self.host} sent no token") from None

    def ping(self) -> None:
        """GET /v2/ (checks reachability and credentials)."""
        self.request("GET", "/v2/", scope="", what="ping").body()
