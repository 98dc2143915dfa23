"""Bind propagation through the API (docker SDK): `Binds` with `:rshared`/`:rslave` and
`Mounts[].BindOptions.Propagation` are honoured, inspect shows them, and a source that is not
on a shared mount is refused at start in Docker's words."""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import docker
import pytest

from engine.runtime import syscalls as sc

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def own_mount(base: Path, kind: int):
    """A directory that is its own mount with propagation `kind`; it and whatever was mounted
    below it are gone afterwards."""
    src = base / "pcsrc"
    (src / "hsub").mkdir(parents=True)
    sc.mount(str(src), str(src), None, sc.MS_BIND)
    try:
        sc.mount(None, str(src), None, kind)
        yield src
    finally:
        while os.path.ismount(src / "hsub"):
            sc.umount2(str(src / "hsub"), sc.MNT_DETACH)
        sc.umount2(str(src), sc.MNT_DETACH)


def _wait_for(container, text: str) -> str:
    deadline = time.monotonic() + 15
    logs = ""
    while time.monotonic() < deadline:
        logs = container.logs().decode()
        if text in logs:
            return logs
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the logs: {logs!r}")


WATCH = ["sh", "-c", "echo ready; while [ ! -e /data/hsub/hello ]; do sleep 0.05; done; "
         "cat /data/hsub/hello; sleep 60"]


@pytest.mark.parametrize("how", ["binds", "mounts"])
def test_a_hosts_mount_after_start_appears_through_rshared_and_rslave(daemon, tmp_path, how):
    client = daemon.client()
    with own_mount(tmp_path, sc.MS_SHARED) as src:
        prop = "rshared" if how == "binds" else "rslave"
        kw = ({"volumes": [f"{src}:/data:{prop}"]} if how == "binds" else
              {"mounts": [docker.types.Mount("/data", str(src), type="bind",
                                             propagation=prop)]})
        c = client.containers.run("busybox", WATCH, detach=True, network_mode="none", **kw)
        try:
            _wait_for(c, "ready")
            sc.mount("tmpfs", str(src / "hsub"), "tmpfs", 0, "size=1m")
            (src / "hsub" / "hello").write_text("mounted on the host after start\n")
            _wait_for(c, "mounted on the host after start")
            c.reload()
            mount = c.attrs["Mounts"][0]
            assert (mount["Type"], mount["Source"], mount["Destination"],
                    mount["Propagation"]) == ("bind", str(src), "/data", prop)
        finally:
            c.remove(force=True)


def test_a_default_bind_shows_rprivate_and_a_source_not_shared_is_refused(daemon, tmp_path):
    client = daemon.client()
    with own_mount(tmp_path, sc.MS_PRIVATE) as src:
        c = client.containers.create("busybox", ["true"], volumes=[f"{src}:/data"],
                                     network_mode="none")
        try:
            c.reload()
            assert c.attrs["Mounts"][0]["Propagation"] == "rprivate"
        finally:
            c.remove(force=True)
        for prop, says in [("rshared", "is not a shared mount"),
                           ("slave", "is not a shared or slave mount")]:
            c = client.containers.create("busybox", ["true"], volumes=[f"{src}:/data:{prop}"],
                                         network_mode="none")
            try:
                with pytest.raises(docker.errors.APIError) as err:
                    c.start()
                assert err.value.status_code == 400
                assert f"path {src} is mounted on {src} but it {says}" in str(err.value)
                assert "Traceback" not in str(err.value)
            finally:
                c.remove(force=True)
    with pytest.raises(docker.errors.APIError, match="invalid mode"):
        client.containers.create("busybox", ["true"], volumes=["pcvol:/data:rshared"])
