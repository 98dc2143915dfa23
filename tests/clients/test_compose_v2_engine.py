"""Engine behaviour that Docker Compose v2 (and the docker SDK) rely on, tested at the engine's
own level: each test here pins a fix the Compose v2 scenario suite (test_compose_v2.py) or the
docker SDK's integration suite found."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.containers.unsupported import DEFAULT_RUNTIME, RUNTIMES, check_create
from engine.errors import BadParameter
from engine.volumes import VolumeStore


def test_parallel_first_starts_on_one_new_volume_all_succeed(tmp_path):
    # Compose v2 starts the services sharing a new named volume at once; each start fills
    # the volume and then records it as filled. Both records went through one temporary file
    # name, so one start's rename found the other's file gone (ENOENT, a 500 to `up`).
    source = tmp_path / "image-dir"
    source.mkdir()
    (source / "seed").write_text("from the image\n")
    store = VolumeStore(tmp_path / "volumes")
    for round_ in range(15):
        vol = store.create(f"pcshared{round_}")
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def start() -> None:
            barrier.wait()
            try:
                store.populate(vol, source)
            except BaseException as exc:   # noqa: BLE001 - reported by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        again = store.get(vol.name)
        assert again.initialized
        assert (again.mountpoint / "seed").read_text() == "from the image\n"
        # no temporary record left behind beside the volume's data
        assert sorted(p.name for p in Path(store.root, vol.name).iterdir()) \
            == ["_data", "volume.json"]


def test_runtime_names_docker_default_and_our_alias():
    assert DEFAULT_RUNTIME == "runc"
    for name in ("", "runc", "pycompose", None):
        check_create({"Image": "busybox", "HostConfig": {"Runtime": name}})
    for name in ("crun", "io.containerd.runc.v2", "RUNC"):
        with pytest.raises(BadParameter, match=f"^HostConfig.Runtime: Unknown runtime "
                                               f"specified {name}$"):
            check_create({"Image": "busybox", "HostConfig": {"Runtime": name}})
    assert "runc" in RUNTIMES and "pycompose" in RUNTIMES


@pytest.mark.integration
def test_runtime_in_info_and_inspect(engine):
    import docker

    client = engine.client()
    try:
        info = client.info()
        assert info["DefaultRuntime"] == "runc"
        assert set(info["Runtimes"]) == {"runc", "pycompose"}
        api = client.api
        made = []
        try:
            for asked, shown in ((None, "runc"), ("runc", "runc"), ("pycompose", "pycompose")):
                c = api.create_container("busybox", ["true"], host_config=api.create_host_config(
                    runtime=asked) if asked else None)
                made.append(c["Id"])
                assert api.inspect_container(c["Id"])["HostConfig"]["Runtime"] == shown
            # the default runtime really runs it
            api.start(made[0])
            assert api.wait(made[0], timeout=30)["StatusCode"] == 0
            with pytest.raises(docker.errors.APIError) as refused:
                api.create_container("busybox", ["true"],
                                     host_config=api.create_host_config(runtime="crun"))
            assert refused.value.status_code == 400
            assert "Unknown runtime specified crun" in refused.value.explanation
            assert not [c for c in api.containers(all=True) if c["Id"] not in made]
        finally:
            for cid in made:
                api.remove_container(cid, force=True)
    finally:
        client.close()
