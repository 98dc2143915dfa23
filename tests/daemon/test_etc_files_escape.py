"""Issue #11: the engine writes a container's hosts, hostname and resolv.conf in the container's
state dir (never in its root) and bind-mounts them onto /etc/... resolved inside the root. A
container that turned its /etc into a link to a host dir must, on its next start, get those
files inside its own root; the host dir stays as it was."""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def canary():
    d = Path("/tmp") / f"pc-canary-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    for name in ("hosts", "hostname", "resolv.conf"):
        (d / name).write_text(f"host {name}\n")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def no_etc_image(client, daemon):
    """busybox without /etc: the runtime makes /etc in the container's own upper dir, so the
    container may rename it and put a link in its place (a lower dir could not be renamed)."""
    from tests.support.busybox import make_busybox_tar
    src = make_busybox_tar(daemon.base / "bb-etc.tar")
    out = io.BytesIO()
    with tarfile.open(src) as tin, tarfile.open(fileobj=out, mode="w") as tout:
        for m in tin:
            if m.name == "etc" or m.name.startswith("etc/"):
                continue
            tout.addfile(m, tin.extractfile(m) if m.isreg() else None)
    client.api.import_image_from_data(out.getvalue(), repository="pc-noetc", tag="1")
    try:
        yield "pc-noetc:1"
    finally:
        client.images.remove("pc-noetc:1", force=True)


def test_etc_turned_into_a_host_link_gets_its_files_inside_the_root_on_restart(
        client, no_etc_image, canary):
    before = {n: (canary / n).read_text() for n in sorted(os.listdir(canary))}
    script = (f"if [ -L /etc ]; then cat /etc/hosts /etc/hostname; "
              f"else mv /etc /etc.old && ln -s {canary} /etc && echo swapped; fi")
    c = client.containers.create(no_etc_image, ["sh", "-c", script], hostname="pcetc")
    try:
        c.start()
        assert c.wait(timeout=60)["StatusCode"] == 0
        assert c.logs() == b"swapped\n"
        c.start()                               # hosts etc. written and mounted again
        assert c.wait(timeout=60)["StatusCode"] == 0
        out = c.logs().decode()
        assert "127.0.0.1\tlocalhost" in out and "pcetc\n" in out
        assert "host hosts" not in out
        assert {n: (canary / n).read_text() for n in sorted(os.listdir(canary))} == before
    finally:
        try:
            c.remove(force=True)
        except docker.errors.NotFound:
            pass
