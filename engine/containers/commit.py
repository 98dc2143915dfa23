"""`docker commit`: a container's writable layer becomes a new image layer on top of its image.

The layer is the overlay upper dir in OCI form (images.archive.write_diff: whiteouts and opaque
dirs translated); the new image's config is the container's own (its Cmd, Env, ... as created),
with the request's config fields over it and then the `changes` (Dockerfile instructions).
"""
from __future__ import annotations

import tarfile
import tempfile
from typing import TYPE_CHECKING, Any, BinaryIO

import trio

from engine.containers.changes import engine_made, present_in
from engine.containers.model import ContainerState, anonymous_targets
from engine.errors import BadParameter, Conflict, NotFound
from engine.images.archive import write_diff
from engine.images.changes import apply_changes

if TYPE_CHECKING:
    from engine.containers.manager import ContainerManager
    from engine.containers.store import ContainerRecord

# the fields of a container's create body that an image config carries
CONFIG_FIELDS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
                 "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
                 "ArgsEscaped", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels",
                 "StopSignal", "StopTimeout", "Shell")


def image_config(container_body: dict, request_config: Any, changes: list[str]) -> dict:
    """The new image's config (pure): the container's config, the request's over it, then the
    changes."""
    config = {k: container_body[k] for k in CONFIG_FIELDS if container_body.get(k) is not None}
    if request_config is not None:
        if not isinstance(request_config, dict):
            raise BadParameter("body: expected a JSON object (container.Config)")
        for key, value in request_config.items():
            if key in CONFIG_FIELDS and value not in (None, "", [], {}):
                config[key] = value
    return apply_changes(config, changes)


def split_changes(values: list[str]) -> list[str]:
    """`changes` query values; the docker CLI sends one per value, older clients one string
    with newlines."""
    out: list[str] = []
    for value in values:
        out += [line for line in value.splitlines() if line.strip()]
    return out


async def commit_container(mgr: ContainerManager, ref: str, *, repo: str | None, tag: str | None,
                           comment: str, author: str, changes: list[str], pause: bool,
                           config: Any) -> str:
    """The new image's id. `pause` is accepted for Docker's sake; a running container is
    always frozen while its layer is written (see below)."""
    del pause
    rec = mgr.get(ref)
    new_config = image_config(rec.config.body, config, changes)
    name = None
    if repo:
        name = f"{repo}:{tag}" if tag else repo
    elif tag:
        raise BadParameter("tag given without repo")
    paused_here = False
    if mgr.running(rec.id) is not None and rec.state.status is ContainerState.RUNNING:
        # Frozen while the upper dir is read, also with pause=false (Docker would not pause):
        # the layer writer (images.archive.write_diff) walks the upper dir by path names, and
        # a running container could swap a directory there for a link to a host path.
        try:
            await mgr.pause(rec.id)
            paused_here = True
        except Conflict:
            pass   # it exited (or was paused) meanwhile: nothing runs that could race us
    stubs = engine_made_paths(rec)
    try:
        def work() -> str:
            upper = rec.dir / "upper"
            present = present_in(upper, stubs)
            with tempfile.TemporaryFile(dir=mgr.root) as tmp, \
                    tempfile.TemporaryFile(dir=mgr.root) as filtered:
                write_diff(upper, tmp)
                tmp.seek(0)
                layer = tmp
                if present:
                    without_paths(tmp, filtered, present)
                    filtered.seek(0)
                    layer = filtered
                image = mgr.images.commit(rec.image_id, layer, new_config, name,
                                          created_by=_created_by(rec.config.body),
                                          comment=comment, author=author)
                return image.id
        image_id = await trio.to_thread.run_sync(work)
    finally:
        if paused_here:
            with trio.CancelScope(shield=True):
                try:
                    await mgr.unpause(rec.id)
                except (Conflict, NotFound):
                    pass   # it exited while frozen (a process already on its way out)
    mgr.events.emit(_commit_event(mgr, rec, image_id))
    return image_id


def engine_made_paths(rec: Any) -> frozenset[str]:
    cfg = rec.config
    return engine_made([m.target for m in cfg.mounts] + anonymous_targets(cfg))


def without_paths(src: BinaryIO, out: BinaryIO, paths: list[str]) -> None:
    """Copy layer tar `src` to `out` without the entries at (or below) container `paths`."""
    drop = [p.strip("/") for p in paths]
    with tarfile.open(fileobj=src, mode="r|") as tin, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tout:
        for member in tin:
            name = member.name.removeprefix("./").strip("/")
            if any(name == d or name.startswith(d + "/") for d in drop):
                continue
            tout.addfile(member, tin.extractfile(member) if member.isreg() else None)


def _created_by(body: dict) -> str:
    args = [*(body.get("Entrypoint") or []), *(body.get("Cmd") or [])]
    return " ".join(args)


def _commit_event(mgr: ContainerManager, rec: ContainerRecord, image_id: str) -> dict:
    from engine.containers.events import event
    return event("container", "commit", rec.id, {"image": rec.config.image,
                                                 "name": rec.name.lstrip("/"),
                                                 "comment": image_id})
