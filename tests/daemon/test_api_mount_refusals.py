"""Mount destinations the engine refuses at create (#11): /, /proc and below (any mount type),
a volume on /sys or /dev itself, an image's VOLUME /proc. One-line 400s naming the field and
the path; host binds on /sys and /dev stay allowed."""
from __future__ import annotations

import docker
import pytest

from engine.containers.model import parse_create
from engine.errors import BadParameter


@pytest.mark.parametrize("host, field", [
    ({"Binds": ["data:/proc"]}, "HostConfig.Binds[0]"),
    ({"Binds": ["/srv:/proc/sys:ro"]}, "HostConfig.Binds[0]"),
    ({"Binds": ["/proc/cpuinfo"]}, "HostConfig.Binds[0]"),          # anonymous volume
    ({"Binds": ["data:/sys"]}, "HostConfig.Binds[0]"),
    ({"Binds": ["/srv:/"]}, "HostConfig.Binds[0]"),
    ({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/dev"}]},
     "HostConfig.Mounts[0].Target"),
    ({"Mounts": [{"Type": "tmpfs", "Target": "/proc/../proc/kcore"}]},
     "HostConfig.Mounts[0].Target"),
    ({"Tmpfs": {"/proc/sys": "size=1m"}}, "HostConfig.Tmpfs['/proc/sys']"),
])
def test_refused_destinations_name_the_field(host, field):
    with pytest.raises(BadParameter) as err:
        parse_create({"Image": "busybox", "HostConfig": host})
    message = str(err.value)
    assert message.startswith(f"{field}: invalid mount destination") and "\n" not in message
    assert err.value.status == 400


def test_image_volume_on_proc_is_refused():
    with pytest.raises(BadParameter, match="Config.Volumes: invalid mount destination '/proc'"):
        parse_create({"Image": "busybox", "Volumes": {"/proc": {}}})


def test_host_binds_on_sys_and_dev_are_allowed():
    cfg = parse_create({"Image": "busybox",
                        "HostConfig": {"Binds": ["/sys:/sys:ro", "/dev:/dev", "v:/dev/shm"]}})
    assert [m.target for m in cfg.mounts] == ["/sys", "/dev", "/dev/shm"]


@pytest.mark.integration
def test_api_refuses_proc_mounts_with_a_400(client):
    for kw in ({"volumes": {"pcdata": {"bind": "/proc", "mode": "rw"}}},
               {"volumes": {"pcdata": {"bind": "/dev", "mode": "rw"}}},
               {"tmpfs": {"/proc/sys/kernel": ""}}):
        with pytest.raises(docker.errors.APIError) as err:
            client.containers.create("busybox", ["true"], **kw)
        assert err.value.status_code == 400
        assert "invalid mount destination" in str(err.value.explanation)
    assert "pcdata" not in [v.name for v in client.volumes.list()]
    assert client.containers.list(all=True) == []


@pytest.mark.integration
def test_image_declaring_volume_proc_cannot_be_created(client, daemon):
    from tests.support.busybox import make_busybox_tar
    tar = make_busybox_tar(daemon.base / "volproc.tar")
    client.api.import_image_from_data(tar.read_bytes(), repository="pcvolproc", tag="latest",
                                      changes=["VOLUME /proc"])
    try:
        assert client.images.get("pcvolproc:latest").attrs["Config"]["Volumes"] == {"/proc": {}}
        with pytest.raises(docker.errors.APIError) as err:
            client.containers.create("pcvolproc:latest", ["ls", "/proc/.."])
        assert err.value.status_code == 400
        assert "Config.Volumes: invalid mount destination '/proc'" in err.value.explanation
        assert client.containers.list(all=True) == []
    finally:
        client.images.remove("pcvolproc:latest", force=True)


@pytest.mark.integration
def test_host_bind_on_sys_still_runs(client):
    c = client.containers.run("busybox", ["sh", "-c", "test -d /sys/class && echo ok"],
                              detach=True, volumes={"/sys": {"bind": "/sys", "mode": "ro"}})
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs() == b"ok\n"
    finally:
        c.remove(force=True)


def _image_with_links(client, daemon, repo: str, links: dict[str, str], changes=()) -> str:
    """busybox plus symlinks, imported as `repo:latest`."""
    import io
    import tarfile

    from tests.support.busybox import make_busybox_tar
    path = make_busybox_tar(daemon.base / f"{repo}.tar")
    with tarfile.open(path, "a") as tar:
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info, io.BytesIO(b""))
    client.api.import_image_from_data(path.read_bytes(), repository=repo, tag="latest",
                                      changes=list(changes))
    return f"{repo}:latest"


@pytest.mark.integration
def test_a_mount_through_an_image_link_into_proc_fails_the_start(client, daemon):
    """The create body looks fine (/data); the image's `/data -> /proc/sys` makes it a mount
    into /proc: the start fails with one line naming both, nothing keeps running."""
    image = _image_with_links(client, daemon, "pclinkproc",
                              {"data": "/proc/sys", "cache": "../../proc"},
                              changes=["VOLUME /cache"])
    try:
        for kw in ({"volumes": {"pclinkvol": {"bind": "/data", "mode": "rw"}}}, {}):
            c = client.containers.create(image, ["ls", "/data/.."], **kw)
            try:
                with pytest.raises(docker.errors.APIError) as err:
                    c.start()
                message = err.value.explanation
                assert err.value.status_code == 500 and "\n" not in message
                assert "Traceback" not in message
                assert "(it resolves to /proc" in message and "refused" in message, message
                c.reload()
                assert c.status != "running"
            finally:
                c.remove(force=True, v=True)
    finally:
        client.images.remove(image, force=True)
        for v in client.volumes.list():
            if v.name == "pclinkvol":
                v.remove(force=True)
