from __future__ import annotations

import stat
from pathlib import Path

import pytest

from engine.errors import BadParameter, NotFound
from engine.images.auth import CredentialStore, basic_header, parse_challenge, registry_key
from engine.images.image import rfc3339_to_unix
from engine.images.platforms import Platform, choose_manifest
from engine.images.registry import _is_loopback


def test_parse_bearer_challenge() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                        'scope="repository:a/b:pull,push",error="insufficient_scope"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry.example",
                        "scope": "repository:a/b:pull,push", "error": "insufficient_scope"}


def test_parse_basic_challenge_and_escapes() -> None:
    assert parse_challenge('Basic realm="a \\"quoted\\" realm"').params == {
        "realm": 'a "quoted" realm'}
    assert parse_challenge("Basic realm=plain").params == {"realm": "plain"}
    assert parse_challenge("").scheme == ""


def test_credentials_file_is_private(tmp_path: Path) -> None:
    creds = CredentialStore(tmp_path / "cfg" / "auth.json")
    assert creds.get("r.example") is None
    creds.set("r.example:5000", "u", "p:with:colons")
    assert creds.get("r.example:5000") == ("u", "p:with:colons")
    assert stat.S_IMODE(creds.path.stat().st_mode) == 0o600
    creds.set("index.docker.io", "hub", "pw")
    assert creds.get("docker.io") == ("hub", "pw") == creds.get("registry-1.docker.io")
    assert creds.remove("r.example:5000") and not creds.remove("r.example:5000")
    assert stat.S_IMODE(creds.path.stat().st_mode) == 0o600
    assert basic_header("u", "p") == "Basic dTpw"
    assert registry_key("registry-1.docker.io") == "docker.io"


def test_malformed_credentials_file(tmp_path: Path) -> None:
    (tmp_path / "auth.json").write_text("{nope")
    with pytest.raises(BadParameter, match="not JSON"):
        CredentialStore(tmp_path / "auth.json").get("x")


@pytest.mark.parametrize("host, loop", [("127.0.0.1:5000", True), ("localhost", True),
                                        ("[::1]:5000", True), ("registry.example", False),
                                        ("10.0.0.1:5000", False)])
def test_loopback_registries_use_plain_http(host: str, loop: bool) -> None:
    assert _is_loopback(host) is loop


INDEX = {"manifests": [
    {"digest": "sha256:arm7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    {"digest": "sha256:arm64", "platform": {"os": "linux", "architecture": "arm64",
                                            "variant": "v8"}},
    {"digest": "sha256:amd64", "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:win", "platform": {"os": "windows", "architecture": "amd64"}},
]}


def test_choose_manifest() -> None:
    assert choose_manifest(INDEX, Platform.parse("linux/amd64"))["digest"] == "sha256:amd64"
    assert choose_manifest(INDEX, Platform.parse("linux/arm64"))["digest"] == "sha256:arm64"
    assert choose_manifest(INDEX, Platform.parse("linux/arm/v7"))["digest"] == "sha256:arm7"
    assert choose_manifest(INDEX, Platform.parse("x86_64"))["digest"] == "sha256:amd64"
    with pytest.raises(NotFound, match="linux/arm/v6 .*offers: linux/amd64, linux/arm/v7"):
        choose_manifest(INDEX, Platform.parse("linux/arm/v6"))
    with pytest.raises(BadParameter, match="invalid platform 'linux//x'"):
        Platform.parse("linux//x")


def test_times_and_summary() -> None:
    assert rfc3339_to_unix("2024-01-02T03:04:05Z") == 1704164645
    assert rfc3339_to_unix("2024-01-02T03:04:05.123456789Z") == 1704164645
    assert rfc3339_to_unix("2024-01-02T05:04:05+02:00") == 1704164645
    assert rfc3339_to_unix("0001-01-01T00:00:00Z") == 0
    assert rfc3339_to_unix("garbage") == 0


def test_manifest_classification_without_media_type() -> None:
    from engine.images import mediatypes
    from engine.images.transfer import _classify
    # umoci-built manifests omit mediaType in the body: the header decides, then the shape.
    assert _classify(mediatypes.OCI_MANIFEST, b"{}") == mediatypes.OCI_MANIFEST
    assert _classify("application/json", b'{"manifests": []}') == mediatypes.OCI_INDEX
    assert _classify("", b'{"config": {}, "layers": []}') == mediatypes.OCI_MANIFEST
    assert _classify("", b'{"mediaType": "%s"}' % mediatypes.DOCKER_LIST.encode()) == \
        mediatypes.DOCKER_LIST
    assert _classify("application/vnd.docker.distribution.manifest.v1+prettyjws",
                     b'{"schemaVersion": 1}') == \
        "application/vnd.docker.distribution.manifest.v1+prettyjws"


def test_registry_error_text() -> None:
    from engine.images.registry import _error_text
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    assert _error_text(body) == "manifest unknown: manifest unknown"
    assert _error_text(b"<html>gateway</html>") == "<html>gateway</html>"


def test_x_registry_auth_and_server_names() -> None:
    import base64
    import json

    from engine.images.auth import decode_registry_auth
    from engine.images.transfer import server_host
    header = base64.urlsafe_b64encode(json.dumps(
        {"username": "u", "password": "p", "serveraddress": "r"}).encode()).decode().rstrip("=")
    assert decode_registry_auth(header) == ("u", "p")
    assert decode_registry_auth(base64.urlsafe_b64encode(b"{}").decode()) is None
    assert decode_registry_auth("") is None
    with pytest.raises(BadParameter, match="X-Registry-Auth"):
        decode_registry_auth("!!!")
    assert server_host("https://index.docker.io/v1/") == "docker.io"
    assert server_host("") == "docker.io"
    assert server_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert server_host("http://localhost:5000/") == "localhost:5000"
    with pytest.raises(BadParameter, match="invalid registry address"):
        server_host("notahost")
