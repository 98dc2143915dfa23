"""Pull/push progress streams carry each trailer line once; /images/json hides intermediate
build images unless all=1."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.api.routes_images import intermediates
from tests.images.registryfix import run_registry


def test_intermediates_are_untagged_parents_only():
    img = lambda i, tags=(), parent="": SimpleNamespace(id=i, repo_tags=tags, parent=parent)  # noqa: E731
    images = [img("base", ("busybox:latest",)), img("step1", parent="base"),
              img("step2", parent="step1"), img("final", ("app:v1",), parent="step2"),
              img("dangling", parent="base")]
    # step1/step2 are build steps under app:v1; `dangling` (e.g. an old build) is still shown
    assert intermediates(images) == {"step1", "step2"}
    # a store without parent links hides nothing
    assert intermediates([SimpleNamespace(id="x", repo_tags=())]) == set()


@pytest.mark.integration
def test_push_and_pull_streams_say_digest_and_status_once(client, tmp_path):
    with run_registry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/api/bbx"
        client.images.get("busybox:latest").tag(ref, "v1")
        pushed = list(client.api.push(ref, tag="v1", stream=True, decode=True))
        statuses = [m.get("status", "") for m in pushed]
        assert sum(1 for s in statuses if s.startswith("v1: digest: ")) == 1, pushed
        aux = [m["aux"] for m in pushed if "aux" in m]
        assert len(aux) == 1 and aux[0]["Tag"] == "v1", pushed
        client.images.remove(f"{ref}:v1")
        pulled = list(client.api.pull(ref, tag="v1", stream=True, decode=True))
        statuses = [m.get("status", "") for m in pulled]
        assert sum(1 for s in statuses if s.startswith("Digest: ")) == 1, pulled
        assert sum(1 for s in statuses if s.startswith("Status: ")) == 1, pulled
        assert aux[0]["Digest"] in [s for s in statuses if s.startswith("Digest: ")][0]
        client.images.remove(f"{ref}:v1")
