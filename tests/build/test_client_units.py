"""Client-side packing of contexts and secrets (pure; temp dirs only)."""
from __future__ import annotations

import tarfile

import pytest

from engine.api.http import Request
from engine.api.routes_build import _secrets, build_options
from engine.client.build import pack_context, parse_secret, secrets_header
from engine.errors import BadParameter


def test_pack_context_applies_dockerignore_but_keeps_the_dockerfile(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x")
    (tmp_path / "big.log").write_text("y")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("*.log\nDockerfile\n.dockerignore\n")
    body, inside = pack_context(tmp_path)
    with tarfile.open(fileobj=body) as tar:
        names = sorted(tar.getnames())
    assert inside == "Dockerfile"
    assert names == [".dockerignore", "Dockerfile", "src", "src/app.py"]


def test_dockerfile_outside_the_context_is_added_under_a_generated_name(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    other = tmp_path / "Other.dockerfile"
    other.write_text("FROM scratch\n")
    body, inside = pack_context(ctx, str(other))
    with tarfile.open(fileobj=body) as tar:
        assert tar.extractfile(inside).read() == b"FROM scratch\n"
    with pytest.raises(BadParameter, match="Cannot locate specified Dockerfile"):
        pack_context(ctx, str(tmp_path / "missing"))
    with pytest.raises(BadParameter, match="unable to prepare context"):
        pack_context(tmp_path / "nope")


def test_secrets_round_trip_through_the_header(tmp_path, monkeypatch):
    (tmp_path / "tok").write_bytes(b"\x00binary\xff")
    monkeypatch.setenv("MY_TOKEN", "not this one: the environment given wins")
    env = {"MY_TOKEN": "from-env"}
    secrets = dict([parse_secret(f"id=file,src={tmp_path / 'tok'}", env),
                    parse_secret("id=e,env=MY_TOKEN", env)])
    header = secrets_header(secrets)
    req = Request("POST", "/build", {}, {k.lower(): v for k, v in header.items()}, None)
    assert _secrets(req) == {"file": b"\x00binary\xff", "e": b"from-env"}
    with pytest.raises(BadParameter, match="invalid secret"):
        parse_secret("id=x", env)
    with pytest.raises(BadParameter, match="environment variable UNSET is not set"):
        parse_secret("id=u,env=UNSET", env)
    with pytest.raises(BadParameter, match="invalid X-Pycompose-Build-Secrets header"):
        _secrets(Request("POST", "/build", {}, {"x-pycompose-build-secrets": "!!"}, None))


def test_build_query_options():
    req = Request("POST", "/build", {"t": ["a:1", "b"], "buildargs": ['{"A": "1", "N": null}'],
                                     "nocache": ["1"], "target": ["t"], "labels": ['{"l": "v"}']},
                  {}, None)
    opts = build_options(req)
    assert opts.tags == ("a:1", "b") and opts.build_args == {"A": "1"}
    assert opts.no_cache and opts.target == "t" and opts.labels == {"l": "v"}
    with pytest.raises(BadParameter, match="must be a JSON object"):
        build_options(Request("POST", "/build", {"labels": ["[1]"]}, {}, None))
