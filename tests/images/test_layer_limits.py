"""Decompression bombs, broken compressed streams, sparse files in layers, and hostile
docker-archive/OCI metadata: each refused with one BadParameter line or stored compactly."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from engine.errors import BadParameter
from engine.images import ImageStore
from engine.images.archive import extract_layer, tar_digest
from engine.images.decompress import DecompressionBomb, DecompressionLimits, decompressed
from tests.images.tarbuild import file, make_tar

MIB = 1 << 20
SMALL = DecompressionLimits(max_bytes=64 * MIB, max_ratio=500, ratio_after=1 * MIB)


def _tar_head(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def gzip_bomb(size: int) -> bytes:
    """A gzip'd tar holding one file of `size` zero bytes, built from concatenated gzip members
    (valid gzip) so a 2 GiB bomb costs ~2 MB and no time to make."""
    zeros = gzip.compress(bytes(MIB), 9)
    assert size % MIB == 0
    return (gzip.compress(_tar_head("zeros", size)) + zeros * (size // MIB)
            + gzip.compress(bytes(1024)))


# -- bombs and broken streams (pure) --------------------------------------------------------


def test_a_two_gib_gzip_bomb_is_refused_by_default_limits_early():
    bomb = gzip_bomb(2048 * MIB)
    assert len(bomb) < 3 * MIB
    reader = decompressed(io.BytesIO(bomb))
    with pytest.raises(DecompressionBomb, match=r"expands more than 500:1") as info:
        while reader.read(MIB):
            pass
    assert "\n" not in info.value.message
    # refused soon after the ratio floor, long before the 2 GiB
    assert reader.total < DecompressionLimits().ratio_after + 8 * MIB


def test_bomb_refused_when_digesting_and_extracting(tmp_path: Path):
    bomb = gzip_bomb(16 * MIB)
    with pytest.raises(DecompressionBomb):
        tar_digest(io.BytesIO(bomb), SMALL)
    (tmp_path / "x").mkdir()
    with pytest.raises(DecompressionBomb):
        extract_layer(io.BytesIO(bomb), tmp_path / "x", limits=SMALL)


def test_ordinary_compressed_layers_pass_and_total_size_is_bounded():
    data = make_tar([file(f"f{i}", os.urandom(64 * 1024)) for i in range(40)])
    assert tar_digest(io.BytesIO(gzip.compress(data)), SMALL).tar_size == len(data)
    # zeros below the ratio floor are fine (a small empty file compresses ~1000:1 too)
    tar_digest(io.BytesIO(gzip.compress(make_tar([file("z", bytes(MIB // 2))]))), SMALL)
    with pytest.raises(DecompressionBomb, match="larger than 1048576 bytes"):
        tar_digest(io.BytesIO(data), DecompressionLimits(max_bytes=MIB))


def test_limits_come_from_the_environment():
    limits = DecompressionLimits.from_env({"PYCOMPOSE_LAYER_MAX_RATIO": "50",
                                           "PYCOMPOSE_LAYER_MAX_BYTES": "1000"})
    assert (limits.max_ratio, limits.max_bytes) == (50, 1000)
    assert DecompressionLimits.from_env({}) == DecompressionLimits()
    with pytest.raises(BadParameter, match="must be integers"):
        DecompressionLimits.from_env({"PYCOMPOSE_LAYER_MAX_RATIO": "lots"})


def test_truncated_and_corrupt_gzip_are_one_line_errors():
    good = gzip.compress(make_tar([file("a", os.urandom(300_000))]))
    for broken in (good[: len(good) // 2], good[:-6],
                   good[:10] + bytes(b ^ 0x55 for b in good[10:200]) + good[200:]):
        with pytest.raises(BadParameter, match=r"^broken gzip stream|^broken layer tarball"):
            tar_digest(io.BytesIO(broken))


# -- sparse files (extraction needs root: owners) -------------------------------------------


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.mark.integration
def test_zero_runs_of_a_dense_member_become_holes(tmp_path: Path):
    content = b"head" + bytes(8 * MIB) + b"middle" + bytes(8 * MIB) + b"tail"
    out = tmp_path / "out"
    out.mkdir()
    stats = extract_layer(io.BytesIO(make_tar([file("big", content)])), out)
    assert (out / "big").read_bytes() == content
    assert stats.size == len(content)
    assert _allocated(out / "big") < 1 * MIB


@pytest.mark.integration
def test_a_file_ending_in_zeros_keeps_its_length(tmp_path: Path):
    content = os.urandom(5000) + bytes(3 * MIB)
    out = tmp_path / "out"
    out.mkdir()
    extract_layer(io.BytesIO(make_tar([file("f", content), file("z", bytes(100))])), out)
    assert (out / "f").read_bytes() == content
    assert (out / "z").read_bytes() == bytes(100)


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_sparse_members_are_written_sparse(tmp_path: Path, fmt: str):
    src = tmp_path / "src"
    src.mkdir()
    sparse = src / "disk.img"
    with sparse.open("wb") as f:
        f.truncate(4 << 30)                   # 4 GiB apparent, three small data runs
        for offset, data in ((0, b"boot"), (1 << 30, b"x" * 10_000), ((4 << 30) - 3, b"end")):
            f.seek(offset)
            f.write(data)
    archive = tmp_path / "layer.tar"
    subprocess.run(["tar", f"--format={fmt}", "-S", "-C", str(src), "-cf", str(archive),
                    "disk.img"], check=True)
    assert archive.stat().st_size < 1 * MIB   # tar stored it sparse
    out = tmp_path / "out"
    out.mkdir()
    with archive.open("rb") as f:
        stats = extract_layer(f, out)
    result = out / "disk.img"
    assert result.stat().st_size == 4 << 30
    assert _allocated(result) < 1 * MIB
    with result.open("rb") as f:
        assert f.read(4) == b"boot"
        f.seek(1 << 30)
        assert f.read(10_000) == b"x" * 10_000
        f.seek((1 << 30) - 4)
        assert f.read(4) == bytes(4)
        f.seek((4 << 30) - 3)
        assert f.read() == b"end"
    assert stats.diff_id == "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()


# -- hostile archive metadata (store: root, for layer owners) -------------------------------

LAYER = make_tar([file("hello", b"hi")])
LAYER_ID = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def docker_archive(manifest: object, config: object, members: dict[str, object]) -> bytes:
    """A docker-archive; member values are bytes (a file) or ("sym"|"lnk", target) or "dir"."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name: str, value: object) -> None:
            info = tarfile.TarInfo(name)
            if isinstance(value, bytes):
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                return
            if value == "dir":
                info.type = tarfile.DIRTYPE
            else:
                kind, target = value  # type: ignore[misc]
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = target
            tar.addfile(info)
        for name, value in members.items():
            add(name, value)
        add("config.json", json.dumps(config).encode())
        add("manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()


CONFIG = {"architecture": "amd64", "os": "linux",
          "rootfs": {"type": "layers", "diff_ids": [LAYER_ID]}}


def _entry(layers: object = ("l/layer.tar",), **extra) -> list:
    return [{"Config": "config.json", "RepoTags": ["t/x:1"], "Layers": list(layers)
             if isinstance(layers, tuple) else layers, **extra}]


@pytest.mark.integration
def test_a_layer_symlinked_to_another_member_loads(store: ImageStore):
    # what legacy `docker save` wrote for a layer two images share
    data = docker_archive(_entry(("dup/layer.tar",)), CONFIG,
                          {"l/layer.tar": LAYER, "dup/layer.tar": ("sym", "../l/layer.tar")})
    (image,) = store.load(io.BytesIO(data))
    assert (store.layer_paths(image)[0] / "hello").read_bytes() == b"hi"


@pytest.mark.integration
@pytest.mark.parametrize("members, words", [
    ({"l/layer.tar": ("sym", "nowhere.tar")}, "is missing"),
    ({"l/layer.tar": ("sym", "../../etc/passwd")}, "links outside the archive"),
    ({"l/layer.tar": ("sym", "/etc/passwd")}, "links outside the archive"),
    ({"l/layer.tar": ("sym", "layer.tar")}, "link chain longer"),
    ({"l/layer.tar": ("lnk", "l/other")}, "is missing"),
    ({"l/layer.tar": "dir"}, "not a regular file"),
])
def test_a_layer_member_that_is_no_file_is_refused(store: ImageStore, members, words):
    with pytest.raises(BadParameter, match=words):
        store.load(io.BytesIO(docker_archive(_entry(), CONFIG, members)))
    assert store.list() == []


@pytest.mark.integration
@pytest.mark.parametrize("manifest, config, words", [
    (_entry(), {**CONFIG, "rootfs": {"diff_ids": LAYER_ID[:1]}},
     "cannot unmarshal string into Go struct field Image.rootfs.diff_ids of type []string"),
    (_entry(), {**CONFIG, "rootfs": {"diff_ids": [7]}}, "rootfs.diff_ids of type"),
    (_entry("l/layer.tar"), CONFIG, "Layers is not a list of strings"),
    ([{"Config": 5, "Layers": ["l/layer.tar"]}], CONFIG, "Config is not a string"),
    (_entry(RepoTags="t/x:1"), CONFIG, "RepoTags is not a list"),
    (["x"], CONFIG, "lacks Config or Layers"),
    ({"Config": "config.json"}, CONFIG, "manifest.json is not a list"),
])
def test_manifest_and_config_fields_of_the_wrong_type(store: ImageStore, manifest, config,
                                                       words):
    data = docker_archive(manifest, config, {"l/layer.tar": LAYER})
    with pytest.raises(BadParameter, match=re.escape(words)):
        store.load(io.BytesIO(data))
    assert store.list() == []


@pytest.mark.integration
@pytest.mark.parametrize("index, words", [
    ([], "no manifests list"), ({"manifests": {"a": 1}}, "no manifests list"),
    ({"manifests": ["x"]}, "no digest string"), ({"manifests": [{"digest": 5}]}, "no digest"),
    ({"manifests": [{"digest": "sha256:" + "0" * 64, "annotations": ["x"]}]}, "annotations"),
    ({"manifests": [{"digest": "sha256:zz"}]}, "invalid digest"),
])
def test_oci_index_of_the_wrong_shape(store: ImageStore, index, words):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                           ("index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BadParameter, match=words):
        store.load(io.BytesIO(buf.getvalue()))


@pytest.mark.integration
def test_truncated_gzip_import_and_load_are_bad_parameters(store: ImageStore):
    good = gzip.compress(make_tar([file("a", os.urandom(200_000))]))
    with pytest.raises(BadParameter, match="broken gzip stream"):
        store.import_rootfs(io.BytesIO(good[: len(good) // 2]), "t/trunc:1")
    archive = gzip.compress(docker_archive(_entry(), CONFIG, {"l/layer.tar": LAYER}))
    with pytest.raises(BadParameter, match="broken gzip stream|invalid image archive"):
        store.load(io.BytesIO(archive[: len(archive) - 40]))
    assert store.list() == []
    assert list((store.root / "blobs/sha256").iterdir()) == []


def test_zlib_errors_are_mapped():
    # a gzip header followed by garbage that is no deflate stream
    bad = gzip.compress(b"")[:10] + b"\xff" * 64
    with pytest.raises(BadParameter, match="broken gzip stream"):
        tar_digest(io.BytesIO(bad))
    assert issubclass(zlib.error, Exception)


@pytest.mark.integration
@pytest.mark.parametrize("config, words", [
    ({"Volumes": ["/x"]}, "Image.config.Volumes of type map[string]struct {}"),
    ({"Labels": ["a"]}, "Image.config.Labels of type map[string]string"),
    ({"Env": "A=1"}, "Image.config.Env of type []string"),
    ({"ExposedPorts": ["80/tcp"]}, "Image.config.ExposedPorts"),
    ({"Healthcheck": {"Test": "x", "Interval": "5s"}}, "Healthcheck.Interval of type int64"),
])
def test_image_configs_of_the_wrong_type_are_refused_before_any_layer(store: ImageStore,
                                                                       config, words):
    data = docker_archive(_entry(), {**CONFIG, "config": config}, {"l/layer.tar": LAYER})
    with pytest.raises(BadParameter, match="invalid image config: json: cannot unmarshal") \
            as info:
        store.load(io.BytesIO(data))
    assert words in info.value.message
    assert store.list() == []
    assert list((store.root / "layers").iterdir()) == []


@pytest.mark.integration
def test_docker_leniencies_in_image_configs_are_kept(store: ImageStore):
    config = {"Cmd": "sh -c true", "Entrypoint": None, "Volumes": {"/data": {}},
              "Labels": {"a": "b"}, "Unknown": [1]}
    data = docker_archive(_entry(), {**CONFIG, "config": config}, {"l/layer.tar": LAYER})
    (image,) = store.load(io.BytesIO(data))
    assert image.config["Cmd"] == "sh -c true"


@pytest.mark.integration
def test_oversized_metadata_is_refused_unread(store: ImageStore):
    from engine.images.importer import MAX_METADATA_BYTES
    big = b" " * (MAX_METADATA_BYTES + 1)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(big)
        tar.addfile(info, io.BytesIO(big))
    with pytest.raises(BadParameter, match="larger than .* not image metadata"):
        store.load(io.BytesIO(buf.getvalue()))


def _pax_sparse_tar(realsize: int, runs: list[tuple[int, int]]) -> bytes:
    """A PAX 1.0 sparse member (what GNU tar --format=posix -S writes), crafted: its map block
    then the data runs."""
    sparse_map = f"{len(runs)}\n" + "".join(f"{o}\n{n}\n" for o, n in runs)
    data = sparse_map.encode().ljust(512, b"\0") + b"".join(b"x" * n for _, n in runs)
    info = tarfile.TarInfo("GNUSparseFile.0/big")
    info.size = len(data)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": "big", "GNU.sparse.realsize": str(realsize)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.integration
def test_a_sparse_file_beyond_the_filesystems_limit_is_bad_input(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BadParameter, match="cannot extract layer entry 'big': File too large"):
        extract_layer(io.BytesIO(_pax_sparse_tar(1 << 62, [(0, 10), (1 << 40, 5)])), out)


@pytest.mark.integration
def test_a_crafted_sparse_member_lands_at_its_offsets(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    extract_layer(io.BytesIO(_pax_sparse_tar(3 << 30, [(0, 10), (2 << 30, 5)])), out)
    big = out / "big"
    assert big.stat().st_size == 3 << 30 and _allocated(big) < MIB
    with big.open("rb") as f:
        assert f.read(11) == b"x" * 10 + b"\0"
        f.seek((2 << 30) - 1)
        assert f.read(7) == b"\0" + b"x" * 5 + b"\0"
