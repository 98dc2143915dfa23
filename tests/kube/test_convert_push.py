"""convert --to kubernetes --push REGISTRY: the build services are built on a real engine,
pushed to a real docker-registry on 127.0.0.1, and the manifests name the pushed digests."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

from compose.kube.push import check_registry, pushed_reference
from compose.kube.context import ConversionError
from tests.daemon.conftest import module_daemon
from tests.images.registryfix import run_registry, skopeo_inspect


def test_pushed_reference_keeps_path_and_tag_and_replaces_the_registry():
    assert pushed_reference("127.0.0.1:5000", "webapp/web:latest") == ("127.0.0.1:5000/webapp/web", "latest")
    assert pushed_reference("reg.example/team/", "docker.io/library/nginx:1.25") == \
        ("reg.example/team/library/nginx", "1.25")
    assert pushed_reference("localhost:5000", "shop-api") == ("localhost:5000/shop-api", "latest")
    assert pushed_reference("h:1", "localhost:5000/a/b@sha256:" + "0" * 64) == ("h:1/a/b", "latest")


@pytest.mark.parametrize("bad", ["", "http://127.0.0.1:5000", "a b", "user@host"])
def test_a_registry_is_host_port_path(bad):
    with pytest.raises(ConversionError, match="--push"):
        check_registry(bad)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, request):
    with module_daemon(tmp_path_factory, request) as d:
        yield d


@pytest.mark.integration
def test_push_builds_pushes_and_names_digests(daemon, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "hello.txt").write_text("built for the cluster\n")
    (app / "Dockerfile").write_text("FROM busybox\nCOPY hello.txt /hello.txt\n"
                                    "CMD [\"cat\", \"/hello.txt\"]\n")
    (tmp_path / "compose.yaml").write_text(textwrap.dedent("""
        name: pcpush
        services:
          api:
            build: ./app
            image: shop/api:1
          worker:
            build: ./app
            image: shop/api:1
          plain:
            image: busybox
          nameless:
            build: ./app
    """))
    with run_registry(tmp_path / "registry") as registry:
        result = subprocess.run(
            [sys.executable, "-m", "compose.cli.main", "-f", str(tmp_path / "compose.yaml"),
             "convert", "--to", "kubernetes", "--push", registry.host],
            env=daemon.env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(result.stdout)
                if d and d["kind"] == "Deployment"}
        images = {n: d["spec"]["template"]["spec"]["containers"][0]["image"] for n, d in docs.items()}
        assert images["plain"] == "busybox"
        # built once, pushed once, named by digest for both services that run it
        assert images["api"] == images["worker"]
        repo, _, digest = images["api"].partition("@")
        assert repo == f"{registry.host}/shop/api" and digest.startswith("sha256:")
        assert skopeo_inspect(registry, "shop/api:1")["Digest"] == digest
        nameless_repo, _, nameless_digest = images["nameless"].partition("@")
        assert nameless_repo == f"{registry.host}/pcpush-nameless"
        assert skopeo_inspect(registry, "pcpush-nameless:latest")["Digest"] == nameless_digest
        assert result.stderr.count("Pushed ") == 2
        # pushed images are no longer "not built" entries in the unmapped table
        assert not [line for line in result.stderr.splitlines() if line.split()[1:2] == ["build"]]
