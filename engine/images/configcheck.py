"""The types an image config must have before an image is recorded (OCI image-spec
`config.json`, with Docker's leniency for Cmd/Entrypoint as a string).

A loaded or imported image is used long after it came in: a config whose Volumes is a list or
whose Labels is a string would fail every later `create` from it, far from its cause. It is
refused at the door instead, with the field named.
"""
from __future__ import annotations

import json

from engine.errors import BadParameter
from engine.jsonshape import (BOOL, EMPTY, HEALTHCHECK, STR_SLICE, STRING, STRING_MAP, STRINGS,
                              BadShape, ListOf, MapOf, Obj, check)

IMAGE_CONFIG = Obj("ocispec.Image", {
    "created": STRING, "author": STRING, "architecture": STRING, "os": STRING,
    "variant": STRING, "os.version": STRING, "os.features": STRINGS,
    "config": Obj("container.Config", {
        "User": STRING, "ExposedPorts": MapOf(EMPTY), "Env": STRINGS, "Entrypoint": STR_SLICE,
        "Cmd": STR_SLICE, "Volumes": MapOf(EMPTY), "WorkingDir": STRING,
        "Labels": STRING_MAP, "StopSignal": STRING, "ArgsEscaped": BOOL,
        "Healthcheck": HEALTHCHECK, "OnBuild": STRINGS, "Shell": STR_SLICE,
        "Hostname": STRING, "Domainname": STRING,
    }),
    "rootfs": Obj("ocispec.RootFS", {"type": STRING, "diff_ids": STRINGS}),
    "history": ListOf(Obj("ocispec.History", {
        "created": STRING, "created_by": STRING, "author": STRING, "comment": STRING,
        "empty_layer": BOOL})),
})


def check_image_config(config_bytes: bytes) -> None:
    """Raise BadParameter naming the first field of an image config of the wrong type."""
    try:
        doc = json.loads(config_bytes)
    except (ValueError, RecursionError) as exc:
        raise BadParameter(f"invalid image config: not JSON ({exc})") from None
    try:
        check(doc, IMAGE_CONFIG, IMAGE_CONFIG.go)
    except BadShape as exc:
        raise BadParameter(f"invalid image config: {exc.message}") from None
    if not isinstance(doc, dict):
        raise BadParameter("invalid image config: not a JSON object")
