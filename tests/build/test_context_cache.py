"""Build context (sources, path safety, content hashes) and cache keys (no kernel objects)."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from engine.build.cache import LayerCache, step_key
from engine.build.context import BuildContext, ContextError
from engine.build.layers import Ownership, target_for, write_copy


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "a.py").write_text("a")
    (root / "src" / "b.py").write_text("b")
    (root / "notes.md").write_text("n")
    (root / "README.md").write_text("r")
    (root / "secret.env").write_text("s")
    (root / "link").symlink_to("src")
    (root / "outside").symlink_to("/etc")
    (root / ".dockerignore").write_text("*.env\n*.md\n!README.md\n")
    (root / "Dockerfile").write_text("FROM scratch\n")
    return BuildContext(root)


def test_globs_and_dockerignore(ctx):
    assert ctx.matches("*.md") == ["README.md"]
    assert ctx.matches("secret.env") == []
    assert ctx.matches("src/*.py") == ["src/b.py"]
    assert ctx.matches("src") == ["src"]
    assert ctx.matches("nope") == []


def test_sources_cannot_leave_the_context(ctx):
    with pytest.raises(ContextError, match="forbidden path outside the build context"):
        ctx.matches("../etc/passwd")
    assert ctx.clean("/src/../src/b.py") == "src/b.py"
    # a symlink on the way is followed inside the context only: /etc is re-rooted
    assert ctx.resolve("outside/passwd") is None          # never the host's /etc/passwd
    (ctx.root / "etc").mkdir()
    (ctx.root / "etc" / "passwd").write_text("context copy")
    assert ctx.resolve("outside/passwd").read_text() == "context copy"
    assert ctx.resolve("link/b.py") == ctx.root / "src" / "b.py"


def test_device_nodes_are_refused(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    os.mknod(root / "null", 0o600 | 0o020000, os.makedev(1, 3))
    with pytest.raises(ContextError, match="device node: null"):
        BuildContext(root).content_hash([""])


def test_content_hash_follows_contents_and_ignores(ctx):
    before = ctx.content_hash(["src"])
    assert ctx.content_hash(["src"]) == before
    (ctx.root / "src" / "pkg" / "a.py").write_text("changed")
    assert ctx.content_hash(["src"]) != before
    whole = ctx.content_hash([""])
    (ctx.root / "secret.env").write_text("ignored change")
    assert ctx.content_hash([""]) == whole
    os.chmod(ctx.root / "src" / "b.py", 0o700)
    assert ctx.content_hash([""]) != whole


def test_context_from_tar(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"FROM scratch\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    ctx = BuildContext.from_tar(buf, tmp_path / "x")
    assert ctx.read_dockerfile() == "FROM scratch\n"
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile: Other"):
        ctx.read_dockerfile("Other")


def test_cache_keys():
    base = step_key("sha256:aa", "RUN echo hi")
    assert base == step_key("sha256:aa", "RUN echo hi")
    assert base != step_key("sha256:bb", "RUN echo hi")
    assert base != step_key("sha256:aa", "RUN echo ho")
    assert base != step_key("sha256:aa", "RUN echo hi", build_args={"V": "1"})
    assert step_key("sha256:aa", "RUN x", build_args={"A": "1", "B": "2"}) == \
        step_key("sha256:aa", "RUN x", build_args={"B": "2", "A": "1"})
    assert step_key("p", "COPY a b", content="h1") != step_key("p", "COPY a b", content="h2")


def test_layer_cache_store(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    assert cache.get("k") is None
    cache.put("k", "sha256:1")
    assert LayerCache(tmp_path / "cache").get("k") == "sha256:1"
    cache.forget("k")
    assert cache.get("k") is None


def test_copy_destination_rules():
    assert target_for("src/b.py", False, "/app/", True) == "/app/b.py"
    assert target_for("src/b.py", False, "/app/x.py", False) == "/app/x.py"
    assert target_for("src", True, "/app", False) == "/app"


def test_copy_tar_maps_directory_contents_and_owner(ctx):
    out = io.BytesIO()
    write_copy(out, ctx, ["src", "README.md"], "/app", True, Ownership(5, 6, None),
               lambda p: None)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"app", "app/pkg", "app/pkg/a.py", "app/b.py", "app/README.md"}
    assert {(m.uid, m.gid) for m in members.values()} == {(5, 6)}


def test_a_source_that_is_a_link_copies_its_target(ctx):
    assert ctx.matches("link") == ["link"]
    names = [e.rel for e in ctx.walk("link")]
    assert names == ["link", "link/b.py", "link/pkg", "link/pkg/a.py"]
    (ctx.root / "dangling").symlink_to("nowhere")
    assert ctx.matches("dangling") == []


def test_a_dockerfile_or_dockerignore_linking_out_of_the_context_is_not_read(tmp_path):
    """`Dockerfile -> /host/secret`: the engine must not read (and echo in a parse error) a host
    file; a link inside the context is followed."""
    secret = tmp_path / "host-secret"
    secret.write_text("FROM host-secret-content\n")
    ctx_dir = tmp_path / "ctx"
    (ctx_dir / "sub").mkdir(parents=True)
    (ctx_dir / "Dockerfile").symlink_to(secret)
    ignore_all = tmp_path / "host-ignore"
    ignore_all.write_text("*\n")                  # read, it would ignore every file
    (ctx_dir / ".dockerignore").symlink_to(ignore_all)
    (ctx_dir / "sub" / "real.Dockerfile").write_text("FROM busybox\n")
    (ctx_dir / "Inner").symlink_to("sub/real.Dockerfile")
    (ctx_dir / "Climbing").symlink_to("../../host-secret")
    ctx = BuildContext(ctx_dir)
    assert not ctx.matcher.ignored("anything")   # the linked-out .dockerignore was not read
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile"):
        ctx.read_dockerfile("Dockerfile")        # an absolute link re-roots: /host-secret is not there
    assert ctx.read_dockerfile("Inner") == "FROM busybox\n"
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile"):
        ctx.read_dockerfile("Climbing")
