"""--push REGISTRY: build the images of services with `build:` on our engine, push them to
REGISTRY with the engine's own push, and name each pushed image by digest for the manifests.

The side-effect half of conversion; `pushed_reference` (where an image goes) is pure.
"""
from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from compose.kube.context import ConversionError

if TYPE_CHECKING:
    from compose.model import Project

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_registry(registry: str) -> str:
    """`host[:port][/path]`, as a reference would start; no scheme."""
    registry = registry.rstrip("/")
    if not registry or "://" in registry or any(c.isspace() for c in registry) \
            or "@" in registry:
        raise ConversionError(f"--push {registry!r}: give a registry as HOST[:PORT][/PATH]")
    return registry


def pushed_reference(registry: str, image: str) -> tuple[str, str]:
    """(repository, tag) under `registry` for a local image name: its own registry host, if
    it names one, is replaced; its path and tag are kept (`latest` when it has none)."""
    name = image.split("@", 1)[0]
    head, _, rest = name.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        name = rest
    path, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        path, tag = name, "latest"
    return f"{check_registry(registry)}/{path}", tag


def push_images(obj: Any, project: Project, registry: str) -> dict[str, str]:
    """service -> `REGISTRY/path@sha256:...` for every service with `build:` (each image built
    and pushed once, however many services run it). Build output goes to stderr: stdout
    carries the manifests."""
    from compose.orchestrator.builds import image_of, plan_builds, run_build
    from engine.client import Client
    from engine.client.build import unwrap_stderr

    registry = check_registry(registry)
    wanted = [(s.name, image_of(project.name, s), s.build)
              for s in project.services.values() if s.build is not None]
    plan = plan_builds(wanted)
    for warning in plan.warnings:
        sys.stderr.write(f"WARN[0000] {warning}\n")
    if not plan.jobs:
        return {}
    client = Client.from_env(autostart=True)
    out: dict[str, str] = {}
    try:
        for job in plan.jobs:
            sys.stderr.write(f"Building {job.name} ({job.tag})\n")
            # a RUN's stderr comes wrapped in red escape codes: the log gets the text alone
            run_build(client, job.tag, job.build,
                      on_text=lambda text: sys.stderr.write(unwrap_stderr(text)[0]))
            repo, tag = pushed_reference(registry, job.tag)
            client.tag_image(job.tag, repo, tag)
            digest = _push(client, repo, tag)
            sys.stderr.write(f"Pushed {repo}:{tag}@{digest}\n")
            for service in job.services:
                out[service] = f"{repo}@{digest}"
    finally:
        client.close()
    return out


def _push(client: Any, repo: str, tag: str) -> str:
    from urllib.parse import quote

    from engine.client.streams import json_messages

    response = client.request("POST", f"/images/{quote(repo, safe='/:@')}/push", {"tag": tag})
    digest = None
    for message in json_messages(response):
        aux = message.get("aux") or {}
        if aux.get("Digest"):
            digest = str(aux["Digest"])
    if digest is None or not _DIGEST.match(digest):
        raise ConversionError(f"pushing {repo}:{tag}: the engine reported no digest")
    return digest
