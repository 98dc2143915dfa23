"""Client side of builds: pack a context directory the way the docker CLI does, send it to
POST /build, and stream the engine's JSON messages back (for the CLI and compose `build:`).

The context tar holds what .dockerignore lets through, plus the Dockerfile and .dockerignore
themselves (the builder needs them even when they are ignored). A Dockerfile outside the
context is added under a generated name, as docker does.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets as secrets_mod
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Iterator

from engine.contextdir import ContextDir
from engine.client.streams import json_messages
from engine.errors import BadParameter, EngineError, PycomposeError
from engine.images import reference

SECRETS_HEADER = "X-Pycompose-Build-Secrets"
# The classic builder (Docker's and ours) sends each chunk of a RUN's stderr as one `stream`
# message wrapped whole in these (bright red, then reset), for clients that print it raw.
STDERR_START, STDERR_END = "\x1b[91m", "\x1b[0m"


def unwrap_stderr(text: str) -> tuple[str, bool]:
    """A `stream` message's text without the stderr wrapping, and whether it was stderr. Only a
    message wrapped at both ends counts, so a program's own colour codes stay as written."""
    if len(text) >= len(STDERR_START) + len(STDERR_END) and text.startswith(STDERR_START) \
            and text.endswith(STDERR_END):
        return text[len(STDERR_START):-len(STDERR_END)], True
    return text, False


def pack_context(directory: str | Path, dockerfile: str | None = None) -> tuple[IO[bytes], str]:
    """(tar file positioned at 0, Dockerfile path inside it). The caller closes the file."""
    root = Path(directory)
    if not root.is_dir():
        raise BadParameter(f"unable to prepare context: path {str(directory)!r} not found")
    context = ContextDir(root)
    name = dockerfile or "Dockerfile"
    outside: Path | None = None
    candidate = Path(name) if os.path.isabs(name) else root / name   # relative: to the context
    try:
        inside = candidate.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        inside = ""
        outside = candidate
    if outside is not None and not outside.is_file():
        raise BadParameter(f"Cannot locate specified Dockerfile: {name}")
    out = tempfile.TemporaryFile()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in context.walk(""):
            if entry.rel:
                tar.add(entry.path, arcname=entry.rel, recursive=False)
        for extra in (inside, ".dockerignore"):
            if extra and context.matcher.ignored(extra) and (root / extra).is_file():
                tar.add(root / extra, arcname=extra, recursive=False)
        if outside is not None:
            inside = f".pycompose-dockerfile-{secrets_mod.token_hex(6)}"
            tar.add(outside, arcname=inside, recursive=False)
    out.seek(0)
    return out, inside


def secrets_header(secrets: dict[str, bytes]) -> dict[str, str]:
    """Secret contents by id -> the header the engine reads them from."""
    if not secrets:
        return {}
    doc = {ident: base64.b64encode(data).decode() for ident, data in secrets.items()}
    return {SECRETS_HEADER: base64.b64encode(json.dumps(doc).encode()).decode()}


def parse_secret(spec: str, env: Mapping[str, str]) -> tuple[str, bytes]:
    """buildx's --secret syntax: `id=tok,src=./token.txt` or `id=tok,env=TOKEN` -> (id, data);
    `env` is the environment of the command that was given the flag."""
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    ident = fields.get("id")
    if "env" in fields:
        value = env.get(fields["env"])
        if value is None:
            raise BadParameter(f"secret {ident or fields['env']}: environment variable "
                               f"{fields['env']} is not set")
        return ident or fields["env"], value.encode()
    source = fields.get("src") or fields.get("source")
    if not ident or not source:
        raise BadParameter(f"invalid secret {spec!r} (expected id=ID,src=PATH or id=ID,env=VAR)")
    try:
        return ident, Path(source).read_bytes()
    except OSError as exc:
        raise BadParameter(f"secret {ident}: cannot read {source}: {exc.strerror}") from None


def build(client, directory: str | Path, *, dockerfile: str | None = None,
          tags: list[str] = (), build_args: dict[str, str] | None = None,
          target: str | None = None, no_cache: bool = False, pull: bool = False,
          labels: dict[str, str] | None = None, secrets: dict[str, bytes] | None = None,
          extra_hosts: list[str] = (), network_mode: str | None = None,
          cache_from: list[str] = ()) -> Iterator[dict]:
    """Stream the build's JSON messages; an error message raises EngineError (after the
    messages before it were yielded). `extra_hosts` are `host:ip` (the RUN steps' /etc/hosts),
    `network_mode` the RUN steps' network (default, host, none or a network's name or id),
    `cache_from` images whose steps the build may take (then the only cache it asks)."""
    body, inside = pack_context(directory, dockerfile)
    params = {"t": list(tags) or None, "dockerfile": inside,
              "buildargs": json.dumps(build_args) if build_args else None,
              "target": target, "nocache": "1" if no_cache else None,
              "pull": "1" if pull else None,
              "labels": json.dumps(labels) if labels else None,
              # one parameter per entry, as the docker CLI sends them
              "extrahosts": list(extra_hosts) or None,
              "networkmode": network_mode or None,
              "cachefrom": json.dumps(list(cache_from)) if cache_from else None}
    headers = {"Content-Type": "application/x-tar", **secrets_header(secrets or {})}
    try:
        response = client.request("POST", "/build", params, body=body, headers=headers)
    finally:
        body.close()
    try:
        yield from json_messages(response)
    except EngineError as e:
        hint = base_image_hint(e.message)
        if hint is None:
            raise
        raise type(e)(f"{e.message} ({hint})") from None


# Debian's release names by version number, for tags like `debian:12` (the suite bootstrap needs).
DEBIAN_SUITES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie",
                 "14": "forky", "latest": "stable"}
_FROM_FAILED = re.compile(r"FROM (\S+): (?:cannot reach registry|.*pull access denied|"
                          r".*manifest unknown|.*not found)")


def base_image_hint(message: str) -> str | None:
    """A build that could not get its base image from a registry: for Debian bases, the
    `pycompose image bootstrap` command that makes it locally (no registry involved); for
    Ubuntu, which bootstrap cannot make (it builds from the host's Debian mirror and keyring),
    the Debian base to use instead. None for any other failure."""
    found = _FROM_FAILED.search(message)
    if found is None:
        return None
    try:
        ref = reference.parse(found.group(1))
    except PycomposeError:
        return None
    if ref.digest or ref.domain != "docker.io":
        return None
    tag = ref.tag or "latest"
    if ref.path == "library/debian":
        suite = tag.split("-")[0]
        suite = DEBIAN_SUITES.get(suite.split(".")[0], suite)
        command = f"pycompose image bootstrap debian:{tag}"
        if suite != tag:
            command += f" --suite {suite}"
        return f"make it locally with `{command}`"
    if ref.path == "library/ubuntu":
        return ("`pycompose image bootstrap` makes Debian base images only: bootstrap one, "
                "e.g. `pycompose image bootstrap debian:bookworm`, and build FROM it")
    return None


def bootstrap(client, ref: str = "debian:bookworm", *, suite: str | None = None,
              mirror: str | None = None, include: list[str] = (), variant: str = "minbase",
              force: bool = False) -> Iterator[dict]:
    response = client.request("POST", "/pycompose/images/bootstrap", {
        "ref": ref, "suite": suite, "mirror": mirror, "include": list(include) or None,
        "variant": variant, "force": "1" if force else None})
    yield from json_messages(response)


