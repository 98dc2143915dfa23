"""Images for services with `build:`: built by the engine (POST /build) from the service's
context, tagged with its `image:` or `<project>-<service>`."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from compose.orchestrator import naming


def image_of(project: str, config: Mapping[str, Any], service: str) -> str | None:
    """The image a service runs: its `image:`, else the one built for it."""
    if config.get("image"):
        return config["image"]
    if config.get("build"):
        return naming.built_image_name(project, service)
    return None


def run_build(client: Any, tag: str, build: Mapping[str, Any], *, no_cache: bool = False,
              pull: bool = False, extra_args: Mapping[str, str] | None = None) -> str:
    """Blocking: build `tag` from the canonical `build:` mapping; returns the last stream line
    the engine sent (for the progress line). Errors are the engine's, raised as EngineError."""
    from engine.build.client import build as build_stream   # client-side helper made for this

    args = {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None}
    args.update(extra_args or {})
    inline = build.get("dockerfile_inline")
    dockerfile = build.get("dockerfile")
    temp = None
    try:
        if inline:
            temp = tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False)
            temp.write(inline)
            temp.close()
            dockerfile = temp.name
        last = ""
        for message in build_stream(
                client, build.get("context") or ".", dockerfile=dockerfile,
                tags=[tag, *(build.get("tags") or [])], build_args=args or None,
                target=build.get("target"), no_cache=no_cache or bool(build.get("no_cache")),
                pull=pull or bool(build.get("pull")), labels=dict(build.get("labels") or {})):
            text = (message.get("stream") or "").strip()
            if text:
                last = text
        return last
    finally:
        if temp is not None:
            os.unlink(temp.name)
