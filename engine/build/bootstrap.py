"""Debian base images made locally with mmdebstrap, since no public registry may be reachable.

`bootstrap(store, "debian:bookworm")` runs
    mmdebstrap --variant=minbase --mode=root --format=tar <suite> <tmpfile> <mirror>
with the mirror the host's apt uses (plain http, signatures checked against the host's
debian-archive-keyring by mmdebstrap), then imports the tar as one layer with the config
Docker's `debian` images have (PATH, CMD ["bash"]) and tags it. An existing tag is kept unless
`force`. SOURCE_DATE_EPOCH makes the tar reproducible, so two bootstraps of the same package
set give the same layer.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.errors import BadParameter, EngineError, NotFound
from engine.images import reference

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_CHANGES = ('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                   'CMD ["bash"]')
VARIANTS = ("extract", "custom", "essential", "apt", "required", "minbase", "buildd",
            "important", "debootstrap", "standard")
# Documentation, man pages and translations are left out (as Docker's -slim images do).
SLIM_DPKG_OPTS = ("path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*",
                  "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright")
SOURCE_DATE_EPOCH = "1700000000"


@dataclass(frozen=True)
class BootstrapPlan:
    ref: str
    suite: str
    mirror: str
    variant: str = "minbase"
    include: tuple[str, ...] = ()
    slim: bool = True

    def command(self, output: Path) -> list[str]:
        """The mmdebstrap command line (pure)."""
        cmd = ["mmdebstrap", f"--variant={self.variant}", "--mode=root", "--format=tar"]
        if self.include:
            cmd.append("--include=" + ",".join(self.include))
        if self.slim:
            cmd += [f"--dpkgopt={opt}" for opt in SLIM_DPKG_OPTS]
        # The build host's resolver and name do not belong in an image (the engine provides
        # both per container).
        cmd.append('--customize-hook=rm -f "$1/etc/resolv.conf" "$1/etc/hostname"')
        return [*cmd, self.suite, str(output), self.mirror]


def mirror_from_sources(text: str, *, deb822: bool) -> str | None:
    """The first plain Debian archive URI in an apt sources file (pure)."""
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no" or "deb" not in \
                    fields.get("types", "").split():
                continue
            suites = fields.get("suites", "").split()
            for uri in fields.get("uris", "").split():
                if any("security" in s for s in suites) or "security" in uri:
                    continue
                return uri
        return None
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "deb":
            uri = next((w for w in words[1:] if "://" in w), None)
            if uri and "security" not in line:
                return uri
    return None


def host_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt is configured with (default: deb.debian.org)."""
    candidates = sorted((apt_dir / "sources.list.d").glob("*.sources")) if \
        (apt_dir / "sources.list.d").is_dir() else []
    for path in candidates:
        mirror = mirror_from_sources(path.read_text(errors="replace"), deb822=True)
        if mirror and "debian" in mirror:
            return mirror
    lists = [apt_dir / "sources.list"]
    if (apt_dir / "sources.list.d").is_dir():
        lists += sorted((apt_dir / "sources.list.d").glob("*.list"))
    for path in lists:
        if path.is_file():
            mirror = mirror_from_sources(path.read_text(errors="replace"), deb822=False)
            if mirror and "debian" in mirror:
                return mirror
    return DEFAULT_MIRROR


def plan(ref: str = "debian:bookworm", suite: str | None = None, mirror: str | None = None,
         include: tuple[str, ...] | list[str] = (), variant: str = "minbase") -> BootstrapPlan:
    parsed = reference.parse(ref)
    if parsed.digest:
        raise BadParameter(f"cannot tag an image with a digest reference: {ref!r}")
    suite = suite or parsed.tag or "bookworm"
    if not re.fullmatch(r"[a-z][a-z0-9.-]*", suite):
        raise BadParameter(f"invalid suite {suite!r}")
    if variant not in VARIANTS:
        raise BadParameter(f"invalid variant {variant!r} (one of {', '.join(VARIANTS)})")
    for name in include:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*(?::[a-z0-9]+)?", name):
            raise BadParameter(f"invalid package name {name!r}")
    mirror = mirror or host_mirror()
    if not re.match(r"^(https?|file)://", mirror):
        raise BadParameter(f"invalid mirror {mirror!r} (an http:// URL)")
    return BootstrapPlan(str(reference.familiar(str(parsed))), suite, mirror, variant,
                         tuple(include))


def bootstrap(store, ref: str = "debian:bookworm", suite: str | None = None,
              mirror: str | None = None, include: tuple[str, ...] | list[str] = (), *,
              variant: str = "minbase", force: bool = False,
              progress: Callable[[dict], None] | None = None):
    """Build (or keep) the base image `ref`; returns the Image. Blocking: run in a thread."""
    emit = progress or (lambda msg: None)
    the_plan = plan(ref, suite, mirror, include, variant)
    # One bootstrap at a time per store: a second request for the same tag waits, then finds it.
    with store.lock("bootstrap"):
        if not force:
            try:
                image = store.get(the_plan.ref)
            except NotFound:
                pass
            else:
                emit({"stream": f"{the_plan.ref} exists already ({image.id[7:19]}); "
                                "use --force to bootstrap it again\n"})
                return image
        return _bootstrap(store, the_plan, emit)


def _bootstrap(store, the_plan: BootstrapPlan, emit: Callable[[dict], None]):
    tmpdir = store.tempdir()
    output = tmpdir / "rootfs.tar"
    started = time.monotonic()
    try:
        emit({"stream": f"Bootstrapping {the_plan.ref}: {the_plan.variant} {the_plan.suite} "
                        f"from {the_plan.mirror}\n"})
        _run_mmdebstrap(the_plan.command(output), emit)
        emit({"stream": f"mmdebstrap done in {time.monotonic() - started:.1f} s; importing\n"})
        with open(output, "rb") as f:
            image = store.import_rootfs(f, the_plan.ref, list(DEFAULT_CHANGES))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    emit({"stream": f"Bootstrapped {the_plan.ref} ({image.id[7:19]}) in "
                    f"{time.monotonic() - started:.1f} s\n"})
    return image


def _run_mmdebstrap(command: list[str], emit: Callable[[dict], None]) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "LC_ALL": "C.UTF-8",
           "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
    except FileNotFoundError:
        raise EngineError("mmdebstrap is not installed (apt-get install mmdebstrap)") from None
    tail: list[str] = []
    first_error = ""     # the first "E:" line names the cause; the last ones only the fallout
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            tail = (tail + [line.rstrip()])[-5:]
            if line.startswith("E: ") and not first_error:
                first_error = line[3:].strip()
            emit({"stream": line})
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        cause = first_error or next((line for line in reversed(tail) if line.strip()), "")
        raise EngineError(f"mmdebstrap failed with exit code {code}: {cause}")
