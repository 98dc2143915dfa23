"""POST /build and POST /pycompose/images/bootstrap through the router (real builds)."""
from __future__ import annotations

import base64
import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from engine.api import routes_build
from engine.api.http import Request
from engine.api.router import Router
from engine.errors import BadParameter

pytestmark = pytest.mark.integration


def context_tar(files: dict[str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def call(env, path: str, query: dict, body: io.BytesIO, headers: dict | None = None
         ) -> list[dict]:
    engine = SimpleNamespace(config=SimpleNamespace(root=env.root), images=env.store,
                             manager=SimpleNamespace(runtime=env.runtime, cgroups=env.driver))
    router = Router()
    routes_build.register(router, engine)
    request = Request("POST", path, {k: v if isinstance(v, list) else [v]
                                     for k, v in query.items()}, headers or {}, body)

    async def go():
        response = await router.dispatch(request)
        chunks = [chunk async for chunk in response.body]
        return b"".join(chunks)

    raw = env.run_trio(go)
    return [json.loads(line) for line in raw.split(b"\r\n") if line]


def test_post_build_streams_docker_json_and_tags(env):
    body = context_tar({"Dockerfile": "FROM busybox\nARG V\nRUN echo v=$V && echo x > /x\n",
                        "dir/Custom": "FROM busybox\n"
                                      "RUN --mount=type=secret,id=k cat /run/secrets/k\n"})
    lines = call(env, "/v1.41/build", {"t": ["api:1", "api:latest"],
                                       "buildargs": json.dumps({"V": "42"}),
                                       "labels": json.dumps({"l": "1"})}, body)
    streams = "".join(line.get("stream", "") for line in lines)
    assert "Step 1/3 : FROM busybox" in streams and "v=42" in streams
    aux = [line["aux"]["ID"] for line in lines if "aux" in line]
    assert env.store.get("api:1").id == aux[0] == env.store.get("api:latest").id
    assert env.store.get("api:1").config["Labels"] == {"l": "1"}
    secrets = base64.b64encode(json.dumps(
        {"k": base64.b64encode(b"top-secret").decode()}).encode()).decode()
    body.seek(0)
    lines = call(env, "/build", {"dockerfile": "dir/Custom"}, body,
                 {"x-pycompose-build-secrets": secrets})
    assert "top-secret" in "".join(line.get("stream", "") for line in lines)
    body.seek(0)
    lines = call(env, "/build", {"q": "1", "networkmode": "none", "t": "quiet:1"}, body)
    assert lines == [{"stream": env.store.get("quiet:1").id + "\n"}]
    env.assert_clean()


def test_post_build_failure_is_an_error_line(env):
    body = context_tar({"Dockerfile": "FROM busybox\nRUN exit 3\n"})
    lines = call(env, "/build", {"t": "bad:1"}, body)
    # the command's exit code as errorDetail.code, as Docker's classic builder sends it
    assert lines[-1] == {"errorDetail": {"code": 3, "message": "The command '/bin/sh -c exit 3'"
                                                               " returned a non-zero code: 3"},
                         "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}
    body = context_tar({"Dockerfile": "FROM busybox\nBOGUS x\n"})
    lines = call(env, "/build", {}, body)
    assert lines[-1]["error"] == "Dockerfile:2: unknown instruction: BOGUS"
    assert "code" not in lines[-1]["errorDetail"]
    env.assert_clean()


def test_bad_query_is_a_400_before_streaming(env):
    with pytest.raises(BadParameter, match="invalid buildargs: '{nope' is not JSON"):
        call(env, "/build", {"buildargs": "{nope"}, context_tar({}))
    with pytest.raises(BadParameter, match="networkmode 'container:x' is not supported"):
        call(env, "/build", {"networkmode": "container:x"}, context_tar({}))


def test_bootstrap_keeps_an_existing_tag(env):
    env.store.tag("busybox:latest", "debian:bookworm")
    lines = call(env, "/pycompose/images/bootstrap", {"ref": "debian:bookworm"}, io.BytesIO())
    assert "exists already" in lines[0]["stream"]
    assert lines[-1] == {"aux": {"ID": env.store.get("busybox:latest").id}}


class RouterClient:
    """What engine.client.build needs of engine.client.Client (`request`), answered by the
    real route handlers in-process."""

    def __init__(self, env) -> None:
        self.env = env

    def request(self, method, path, params=None, *, body=None, headers=None):
        query = {k: v if isinstance(v, list) else [v] for k, v in (params or {}).items()
                 if v is not None}
        data = body.read() if hasattr(body, "read") else (body or b"")
        lines = call(self.env, path, query, io.BytesIO(data),
                     {k.lower(): v for k, v in (headers or {}).items()})
        return SimpleNamespace(iter_lines=lambda: [json.dumps(x).encode() for x in lines],
                               close=lambda: None)


def test_client_build_packs_a_directory_and_streams(env, tmp_path):
    from engine.client import build as bc
    from engine.errors import EngineError
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.txt").write_text("main\n")
    (project / "junk.tmp").write_text("junk")
    (project / ".dockerignore").write_text("*.tmp\n")
    (project / "build.Dockerfile").write_text(
        "FROM busybox\nCOPY . /ctx/\nRUN --mount=type=secret,id=s cat /run/secrets/s\n")
    messages = list(bc.build(RouterClient(env), project, dockerfile="build.Dockerfile",
                             tags=["client:1"], secrets={"s": b"shh"}))
    assert "shh" in "".join(m.get("stream", "") for m in messages)
    code, out = env.run_image("client:1", ("ls", "/ctx"))
    assert code == 0 and out.split() == ["build.Dockerfile", "src"]
    (project / "build.Dockerfile").write_text("FROM busybox\nRUN exit 4\n")
    with pytest.raises(EngineError, match="returned a non-zero code: 4"):
        list(bc.build(RouterClient(env), project, dockerfile="build.Dockerfile"))
    env.assert_clean()
