"""Through the API, on a real image: a mount whose target only the image's symlinks take into
/sys or /dev fails the start (#11), as a mount into /proc does. The create body looks fine
(/data/x); where it leads is known once the image and its volumes are in place, so the start
answers a one-line 500 naming the target and where it resolved to, and nothing runs.
Targets written under /sys or /dev (`--tmpfs /dev/shm`) still run; so does a mount through a
link that stays elsewhere.
"""
from __future__ import annotations

import io
import tarfile

import docker
import pytest

pytestmark = pytest.mark.integration

LINKS = {"data": "/sys", "devlink": "../dev", "kernel": "/srv/../sys/kernel", "srvlink": "/srv"}


@pytest.fixture(scope="module")
def image(client, daemon):
    """busybox plus the links, and `VOLUME /data/vol` (an anonymous volume through the link)."""
    from tests.support.busybox import make_busybox_tar
    path = make_busybox_tar(daemon.base / "pclinksysdev.tar")
    with tarfile.open(path, "a") as tar:
        for name, target in LINKS.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info, io.BytesIO(b""))
    client.api.import_image_from_data(path.read_bytes(), repository="pclinksysdev", tag="latest")
    try:
        yield "pclinksysdev:latest"
    finally:
        client.images.remove("pclinksysdev:latest", force=True)


def _start_fails(client, image, match: str, **kw) -> None:
    c = client.containers.create(image, ["sh", "-c", "sleep 30"], **kw)
    try:
        with pytest.raises(docker.errors.APIError) as err:
            c.start()
        message = err.value.explanation
        assert err.value.status_code == 500, message
        assert "\n" not in message and "Traceback" not in message
        assert match in message, message
        c.reload()
        assert c.status != "running"
    finally:
        c.remove(force=True, v=True)


@pytest.mark.parametrize("kw, match", [
    ({"volumes": {"pclinkvol": {"bind": "/data/x", "mode": "rw"}}},
     "destination /data/x (it resolves to /sys/x) refused: a symlink in the container leads "
     "it into /sys"),
    ({"volumes": {"pclinkvol": {"bind": "/data", "mode": "rw"}}},
     "destination /data (it resolves to /sys) refused"),
    ({"tmpfs": {"/devlink/x": "size=1m"}},
     "destination /devlink/x (it resolves to /dev/x) refused: a symlink in the container leads "
     "it into /dev"),
    ({"mounts": [docker.types.Mount("/devlink/shm", "pclinkvol", type="volume")]},
     "destination /devlink/shm (it resolves to /dev/shm) refused"),
    ({"volumes": {"/tmp": {"bind": "/kernel/x", "mode": "ro"}}},
     "destination /kernel/x (it resolves to /sys/kernel/x) refused"),
])
def test_a_mount_through_an_image_link_into_sys_or_dev_fails_the_start(client, image, kw,
                                                                        match):
    try:
        _start_fails(client, image, match, **kw)
    finally:
        for v in client.volumes.list():
            if v.name == "pclinkvol":
                v.remove(force=True)


def test_the_images_own_volume_through_a_link_fails_the_start(client, daemon):
    """`VOLUME /data/vol` with `/data -> /sys`: the anonymous volume would land in sysfs."""
    from tests.support.busybox import make_busybox_tar
    path = make_busybox_tar(daemon.base / "pclinkvolume.tar")
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("data")
        info.type, info.linkname = tarfile.SYMTYPE, "/sys"
        tar.addfile(info, io.BytesIO(b""))
    client.api.import_image_from_data(path.read_bytes(), repository="pclinkvolume",
                                      tag="latest", changes=["VOLUME /data/vol"])
    before = {v.name for v in client.volumes.list()}
    try:
        _start_fails(client, "pclinkvolume:latest",
                     "destination /data/vol (it resolves to /sys/vol) refused")
        # the anonymous volume went with the container (rm -v)
        assert {v.name for v in client.volumes.list()} == before
    finally:
        client.images.remove("pclinkvolume:latest", force=True)


def test_targets_written_under_dev_and_links_elsewhere_still_run(client, image):
    c = client.containers.run(
        image, ["sh", "-c", "grep -c ' /dev/shm tmpfs' /proc/mounts; "
                            "grep -c ' /srv/x tmpfs' /proc/mounts"],
        detach=True, tmpfs={"/dev/shm": "size=1m", "/srvlink/x": "size=1m"})
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs() == b"1\n1\n"
    finally:
        c.remove(force=True)
