"""The types an image config must have before an image is recorded (OCI image-spec
`config.json`, with Docker's leniency for Cmd/Entrypoint as a string).

A loaded or imported image is used long after it came in: a config whose Volumes is a list or
whose Labels is a string would fail every later `create` from it, far from its cause. It is
refused at the door instead, with the field named.
"""
from __future__ import annotations

import json

from engine.errors import BadParameter, EngineError
from engine.jsonshape import (BOOL, EMPTY, HEALTHCHECK, STR_SLICE, STRING, STRING_MAP, STRINGS,
                              BadShape, ListOf, MapOf, Obj, check)


class UnreadableConfig(EngineError):
    """An image in the store whose config cannot be used: written by an older version (before
    configs were checked at the door), or damaged on disk. The store is at fault, not the
    request: a 500, naming the image as the caller named it."""

    def __init__(self, ref: str, why: str) -> None:
        super().__init__(f"image {ref} has an unreadable config: {why}")

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


def check_container_config(config: dict) -> None:
    """BadShape naming the first field of an image's `config` object (Env, Cmd, Volumes, ...)
    of the wrong type: what a container create merges into its body. A few microseconds."""
    check(config, _CONTAINER_CONFIG, IMAGE_CONFIG.go, ("config",))


def why_unreadable(config_bytes: bytes, error: BaseException) -> str:
    """The reason a stored config failed to load, in the words of the check made at the door
    when it says more than the error did."""
    try:
        check_image_config(config_bytes)
    except BadParameter as exc:
        return exc.message.removeprefix("invalid image config: ")
    return str(error) or type(error).__name__


_CONTAINER_CONFIG = IMAGE_CONFIG.fields["config"]
