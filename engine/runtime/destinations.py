"""Where a caller's mount may land in a container: pure rules, no file system access.

Used twice: by the daemon on the create body (the path as written, so `docker create -v x:/proc`
fails at once with a 400), and by the runtime on the path a target *resolved to* inside the
container's root (an image or volume symlink `/data -> /proc` cannot smuggle a mount there).

Refused:
- `/` itself (Docker: "destination can't be '/'"): the mount would replace the root.
- `/proc` and anything below it. The engine mounts a fresh procfs there and then hides or
  write-protects parts of it (masked / read-only paths). A mount over /proc would replace that
  procfs with container-controlled contents (a volume holding `sys -> /`, and the engine's own
  later mounts onto /proc/sys would follow it on the host); a mount below it could uncover
  or shadow what is masked. runc lets a few proc files be overmounted (/proc/cpuinfo and co.,
  for lxcfs); we allow none: nothing in compose needs them and every exception would be a
  container-chosen target inside the engine's own procfs.
- A *volume* onto `/sys` or `/dev` itself: it would replace the read-only sysfs or the
  engine-made device directory with contents other containers can write. Host binds there
  (`-v /sys:/sys:ro`, `-v /dev:/dev`) are the operator's explicit choice and stay allowed.
- Any mount that only a symlink (the image's or a volume's) takes into `/sys` or `/dev`:
  `/data -> /sys` with a volume at `/data/x`. Whoever wrote the target asked for `/data`; the
  image's author would choose what lands in sysfs or on the engine's device nodes (a bind over
  /sys/fs/cgroup, a file over /dev/null that masking later binds over /proc files). A target
  written under /sys or /dev is the operator's choice and keeps the rules above.
"""
from __future__ import annotations

import posixpath

PROC = "/proc"
_VOLUME_FORBIDDEN = ("/sys", "/dev")
_NOT_THROUGH_LINKS = ("/sys", "/dev")


def normalize(path: str) -> str:
    """An absolute container path with ".", ".." and repeated slashes applied lexically."""
    clean = posixpath.normpath("/" + path)
    return "/" + clean.lstrip("/")


def is_under(path: str, top: str) -> bool:
    """`path` is `top` or below it (both normalized)."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def refusal(target: str, *, volume: bool = False) -> str | None:
    """Why a mount on container path `target` is refused (a reason that does not repeat the
    path; callers name it), or None if allowed."""
    path = normalize(target)
    if path == "/":
        return "destination can't be '/'"
    if is_under(path, PROC):
        return "no mount is allowed on or under /proc"
    if volume and path in _VOLUME_FORBIDDEN:
        return f"a volume cannot replace the container's {path}"
    return None


def redirect_refusal(written: str, resolved: str) -> str | None:
    """Why a mount whose target, written `written`, resolved inside the container's root to
    `resolved` is refused because of where a link took it (None if it is not): a target not
    written under /sys or /dev that resolved there."""
    path, where = normalize(written), normalize(resolved)
    for top in _NOT_THROUGH_LINKS:
        if is_under(where, top) and not is_under(path, top):
            return f"a symlink in the container leads it into {top}"
    return None
