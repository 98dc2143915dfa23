"""Image pull benchmark (root): our registry client + layer store vs skopeo + umoci.

    python3 bench/images_bench.py [--runs 3]

A two-layer image (a busybox rootfs, then the host's /usr/lib/python3.11, ~55 MB uncompressed,
gzip layers) is built with umoci and pushed with skopeo into a docker-registry on 127.0.0.1.
Each run pulls it into an empty place: ours = `ImageStore.pull` (download, digest checks,
unpack into per-layer overlay lower dirs); theirs = `skopeo copy docker://... oci:` followed by
`umoci unpack` (one flattened rootfs). Only loopback traffic; everything is removed afterwards.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.images import ImageStore  # noqa: E402
from tests.images.registryfix import run_registry, skopeo_push  # noqa: E402
from tests.support.busybox import make_busybox_tar  # noqa: E402

PAYLOAD = Path("/usr/lib/python3.11")


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def build_image(work: Path) -> tuple[Path, int]:
    base = make_busybox_tar(work / "base.tar")
    payload = work / "payload.tar"
    with tarfile.open(payload, "w") as tar:
        tar.add(PAYLOAD, arcname=str(PAYLOAD).lstrip("/"))
    layout = work / "oci"
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:bench")
    run("umoci", "raw", "add-layer", "--image", f"{layout}:bench", str(base))
    run("umoci", "raw", "add-layer", "--image", f"{layout}:bench", str(payload))
    run("umoci", "config", "--image", f"{layout}:bench", "--config.cmd", "/bin/sh")
    return layout, base.stat().st_size + payload.stat().st_size


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pc-images-bench-"))
    try:
        layout, size = build_image(work)
        with run_registry(work / "registry") as registry:
            skopeo_push(f"oci:{layout}:bench", registry, "bench/python:1")
            ref = f"{registry.host}/bench/python:1"
            ours, theirs = [], []
            for n in range(args.runs):
                root = work / f"store{n}"
                ours.append(timed(lambda: ImageStore(root).pull(ref)))
                shutil.rmtree(root)
                oci, bundle = work / f"oci{n}", work / f"bundle{n}"

                def incumbent() -> None:
                    run("skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}",
                        f"oci:{oci}:bench")
                    run("umoci", "unpack", "--image", f"{oci}:bench", str(bundle))

                theirs.append(timed(incumbent))
                shutil.rmtree(oci)
                shutil.rmtree(bundle)
        # Import of the big layer's plain tar vs GNU tar extracting it (owners and modes kept).
        imports, tars = [], []
        for n in range(args.runs):
            root = work / f"istore{n}"
            with (work / "payload.tar").open("rb") as f:
                imports.append(timed(lambda: ImageStore(root).import_rootfs(f, "bench", [])))
            shutil.rmtree(root)
            target = work / f"tar{n}"
            target.mkdir()
            tars.append(timed(lambda: run("tar", "-xpf", str(work / "payload.tar"), "-C",
                                          str(target))))
            shutil.rmtree(target)
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        import_s, tar_s = statistics.median(imports), statistics.median(tars)
        print(f"image: 2 gzip layers, {size / 1e6:.1f} MB uncompressed; {args.runs} runs, median")
        print(f"{'operation':<42}{'seconds':>10}")
        print(f"{'pull: pycompose ImageStore.pull':<42}{ours_s:>10.2f}")
        print(f"{'pull: skopeo copy + umoci unpack':<42}{theirs_s:>10.2f}")
        print(f"{'import: ImageStore.import_rootfs':<42}{import_s:>10.2f}")
        print(f"{'import: tar -xpf (extract only)':<42}{tar_s:>10.2f}")
        print(f"ratio pull pycompose / skopeo+umoci: {ours_s / theirs_s:.2f}")
        print(f"ratio import pycompose / tar -xpf:  {import_s / tar_s:.2f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
