"""Registry credentials and the HTTP authentication challenges of the registry API v2.

Challenge parsing is pure. Credentials live in a JSON file, `{"auths": {host: {"auth":
base64("user:password")}}}` as in Docker's config.json, kept at mode 0600 (written to a
0600 temp file first, so it is never readable by others, not even briefly).
"""
from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import BadParameter

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Challenge:
    scheme: str                      # "basic" | "bearer" (lowercased)
    params: dict = field(default_factory=dict)


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)')


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="https://x/token",service="reg",scope="repository:a:pull"` -> Challenge."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match or match.end() == pos:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value
        pos = match.end()
    return Challenge(scheme.lower(), params)


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def decode_registry_auth(header: str) -> tuple[str, str] | None:
    """Docker's `X-Registry-Auth` header (base64url JSON with username/password) -> creds."""
    if not header.strip():
        return None
    padded = header.strip() + "=" * (-len(header.strip()) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        raise BadParameter("X-Registry-Auth is not base64url-encoded JSON") from None
    if not isinstance(data, dict) or not data.get("username"):
        return None     # Docker sends "{}" when no login is known
    return str(data["username"]), str(data.get("password", ""))


def registry_key(host: str) -> str:
    """The key credentials are filed under: Docker Hub has several names."""
    return DOCKER_HUB if host in (DOCKER_HUB, DOCKER_HUB_API, "index.docker.io") else host


@dataclass
class CredentialStore:
    path: Path

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"auths": {}}
        except ValueError as exc:
            raise BadParameter(f"credentials file {self.path} is not JSON: {exc}") from None
        data.setdefault("auths", {})
        return data

    def get(self, host: str) -> tuple[str, str] | None:
        entry = self._read()["auths"].get(registry_key(host))
        if not entry or "auth" not in entry:
            return None
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise BadParameter(f"credentials for {host} in {self.path} are malformed") from None
        return user, password

    def set(self, host: str, username: str, password: str) -> None:
        data = self._read()
        data["auths"][registry_key(host)] = {
            "auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
        self._write(data)

    def remove(self, host: str) -> bool:
        data = self._read()
        found = data["auths"].pop(registry_key(host), None) is not None
        if found:
            self._write(data)
        return found

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".auth.")   # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent=1, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
