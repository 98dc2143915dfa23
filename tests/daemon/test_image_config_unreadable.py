"""A container create from an image whose stored config cannot be used (#11) answers a one-line
500 naming the image as the request named it, logs no traceback and leaves no container; the
image can still be removed. The store's side: tests/images/test_unreadable_config.py.
"""
from __future__ import annotations

import json

import docker
import pytest

from tests.support.busybox import make_busybox_tar

pytestmark = pytest.mark.integration


@pytest.fixture
def imported(client, daemon):
    """A busybox image under a repo of the test's own; (ref, its config file in the store)."""
    names: list[str] = []

    def make(repo: str):
        tar = daemon.base / "pcbadcfg.tar"
        if not tar.exists():
            make_busybox_tar(tar)
        client.api.import_image_from_data(tar.read_bytes(), repository=repo, tag="latest",
                                          changes=['CMD ["true"]', f"LABEL pc.repo={repo}"])
        names.append(repo)
        image_id = client.images.get(repo).id
        return daemon.root / "images" / "blobs" / "sha256" / image_id.split(":", 1)[1]

    try:
        yield make
    finally:
        for repo in names:
            try:
                client.images.remove(repo, force=True)
            except docker.errors.ImageNotFound:
                pass  # the test removed it


def _create_fails(client, daemon, ref: str, why: str) -> None:
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.create(ref, ["true"])
    assert err.value.status_code == 500
    assert err.value.explanation == f"image {ref} has an unreadable config: {why}"
    assert client.containers.list(all=True) == []
    assert "Traceback" not in daemon.output()


def test_a_damaged_config_file(client, daemon, imported):
    blob = imported("pcdamaged")
    blob.write_bytes(b'{"config": {"Cmd": ')
    _create_fails(client, daemon, "pcdamaged",
                  "not JSON (Expecting value: line 1 column 20 (char 19))")
    # by id too, named as it was asked for
    _create_fails(client, daemon, blob.name[:12],
                  "not JSON (Expecting value: line 1 column 20 (char 19))")
    # inspect says the same; rmi still removes it
    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_image("pcdamaged")
    assert err.value.explanation.startswith("image pcdamaged has an unreadable config: not JSON")
    client.images.remove("pcdamaged")
    assert "pcdamaged:latest" not in [t for i in client.images.list() for t in i.tags]


def test_a_config_with_fields_of_the_wrong_type(client, daemon, imported):
    blob = imported("pcoldconfig")
    doc = json.loads(blob.read_bytes())
    doc["config"]["Env"] = "PATH=/bin"          # an older version kept what a load gave it
    blob.write_bytes(json.dumps(doc).encode())
    _create_fails(client, daemon, "pcoldconfig:latest",
                  "json: cannot unmarshal string into Go struct field Image.config.Env of "
                  "type []string")
    # `docker run` (the SDK's run: create, and no pull on a 500)
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.run("pcoldconfig:latest", ["true"], remove=True)
    assert err.value.status_code == 500
    assert err.value.explanation.startswith("image pcoldconfig:latest has an unreadable config")


def test_removing_an_image_a_container_uses_is_still_a_conflict(client, daemon, imported):
    """The removal route reads only the id and tags now (store.identify); its rules stay."""
    imported("pcinuse")
    c = client.containers.create("pcinuse", ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.images.remove("pcinuse")
        assert err.value.status_code == 409
        assert f"container {c.id[:12]} is using its referenced image" in err.value.explanation
    finally:
        c.remove(force=True)
