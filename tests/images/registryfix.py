"""A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1.

`run_registry` starts one on a free port with its own config and storage (optionally behind
htpasswd Basic auth or a Bearer token server this module also runs), and stops it by PID.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import yaml

REGISTRY = "/usr/bin/docker-registry"
USERS = {"alice": "secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt_hash(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))


@dataclass
class Registry:
    host: str            # "127.0.0.1:<port>"
    storage: Path

    def blob_file(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return (self.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart /
                "data")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Bearer tokens as the registry's `auth.token` expects: RS256 JWTs with an x5c header."""

    def __init__(self, workdir: Path, service: str, issuer: str) -> None:
        self.key, self.cert = workdir / "token.key", workdir / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(self.key), "-out", str(self.cert), "-days", "2", "-subj",
                        "/CN=pycompose-test-token"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.service, self.issuer = service, issuer

    def token(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}." \
                        f"{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True).stdout
        return f"{signing_input}.{_b64url(signature)}"


def _token_handler(issuer: TokenIssuer, requests: list[str]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            requests.append(self.path)
            subject, granted = "", False
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                if USERS.get(user) != password:
                    self.send_response(401)
                    self.end_headers()
                    return
                subject, granted = user, True
            access = []
            for scope in query.get("scope", []):
                kind, name, actions = scope.split(":")
                access.append({"type": kind, "name": name,
                               "actions": actions.split(",") if granted else []})
            body = json.dumps({"token": issuer.token(subject, access),
                               "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def run_registry(workdir: Path, auth: str | None = None) -> Iterator[Registry]:
    """auth: None (anonymous), "basic" (htpasswd, USERS) or "token" (Bearer, USERS)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = workdir / "storage"
    config: dict = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "pycompose-test",
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    token_server = None
    if auth == "basic":
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in USERS.items()))
        config["auth"] = {"htpasswd": {"realm": "pycompose-test", "path": str(htpasswd)}}
    elif auth == "token":
        issuer = TokenIssuer(workdir, "pycompose-registry", "pycompose-issuer")
        requests: list[str] = []
        token_server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(issuer, requests))
        threading.Thread(target=token_server.serve_forever, daemon=True).start()
        realm = f"http://127.0.0.1:{token_server.server_address[1]}/token"
        config["auth"] = {"token": {"realm": realm, "service": issuer.service,
                                    "issuer": issuer.issuer,
                                    "rootcertbundle": str(issuer.cert)}}
    (workdir / "config.yml").write_text(yaml.safe_dump(config))
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen([REGISTRY, "serve", str(workdir / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/v2/")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("registry did not start: " +
                                       (workdir / "registry.log").read_text()[-2000:])
                time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", storage)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if token_server is not None:
            token_server.shutdown()
            token_server.server_close()


def skopeo_push(source: str, registry: Registry, dest: str, creds: str | None = None,
                all_images: bool = False) -> None:
    cmd = ["skopeo", "copy", "--dest-tls-verify=false"]
    if all_images:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    subprocess.run([*cmd, source, f"docker://{registry.host}/{dest}"], check=True,
                   capture_output=True)


def skopeo_inspect(registry: Registry, name: str, creds: str | None = None) -> dict:
    cmd = ["skopeo", "inspect", "--tls-verify=false"]
    if creds:
        cmd += ["--creds", creds]
    out = subprocess.run([*cmd, f"docker://{registry.host}/{name}"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)
