"""Mounts of a ContainerCreate body (pure): HostConfig.Binds (`src:dst[:opts]`), Mounts and
Tmpfs, each checked against the destinations no mount may take."""
from __future__ import annotations

from dataclasses import dataclass

from engine.containers.fields import NAME, obj, opt_int, parse_bytes
from engine.errors import BadParameter
from engine.runtime import destinations


@dataclass(frozen=True)
class MountSpec:
    type: str              # bind | volume | tmpfs
    target: str
    source: str = ""       # host path (bind), volume name ("" = anonymous), unused for tmpfs
    readonly: bool = False
    no_copy: bool = False
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    propagation: str = ""  # a bind's: "" (Docker's default, rprivate) or as asked


PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def check_target(target: object, field_name: str) -> str:
    if not isinstance(target, str) or not target.startswith("/"):
        raise BadParameter(f"{field_name}: mount target must be an absolute path, got {target!r}")
    return target.rstrip("/") or "/"


def allowed(m: MountSpec, field_name: str) -> MountSpec:
    """Refuse a destination no mount may take (/, /proc and below, a volume on /sys or /dev);
    the runtime checks again where the target resolves to inside the image."""
    reason = destinations.refusal(m.target, volume=m.type == "volume")
    if reason:
        raise BadParameter(f"{field_name}: invalid mount destination {m.target!r}: {reason}")
    return m


def parse_bind(spec: str, index: int) -> MountSpec:
    """Docker's `src:dst[:opts]` bind/volume syntax."""
    where = f"HostConfig.Binds[{index}]"
    parts = spec.split(":")
    if len(parts) == 1:  # just a container path: an anonymous volume
        return allowed(MountSpec("volume", check_target(parts[0], where)), where)
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise BadParameter(f"{where}: invalid volume specification {spec!r}")
    source, target = parts[0], check_target(parts[1], where)
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    unknown = [o for o in opts if o not in ("ro", "rw", "z", "Z", "nocopy", "rprivate", "private",
                                            "rshared", "shared", "rslave", "slave", "consistent",
                                            "cached", "delegated")]
    if unknown:
        raise BadParameter(f"{where}: invalid mode {unknown[0]!r} in {spec!r}")
    kind = "bind" if source.startswith("/") else "volume"
    if kind == "volume" and not NAME.match(source):
        raise BadParameter(f"{where}: invalid volume name {source!r} (a host path must be absolute)")
    props = [o for o in opts if o in PROPAGATIONS]
    if len(props) > 1 or (props and kind != "bind"):
        raise BadParameter(f"{where}: invalid mode {','.join(props)!r} in {spec!r} (one "
                           "propagation, for a bind)")
    return allowed(MountSpec(kind, target, source, readonly="ro" in opts,
                             no_copy="nocopy" in opts,
                             propagation=props[0] if props else ""), where)


def parse_mount(raw: object, index: int) -> MountSpec:
    where = f"HostConfig.Mounts[{index}]"
    m = obj(raw, where)
    kind = m.get("Type") or "volume"
    if kind not in ("bind", "volume", "tmpfs"):
        raise BadParameter(f"{where}.Type: unsupported mount type {kind!r}")
    target = check_target(m.get("Target"), f"{where}.Target")
    source = m.get("Source") or ""
    if not isinstance(source, str):
        raise BadParameter(f"{where}.Source: expected a string")
    if kind == "bind" and not source.startswith("/"):
        raise BadParameter(f"{where}.Source: bind source must be an absolute path, got {source!r}")
    if kind == "volume" and source and not NAME.match(source):
        raise BadParameter(f"{where}.Source: invalid volume name {source!r}")
    if kind == "tmpfs" and source:
        raise BadParameter(f"{where}.Source: must not be specified for tmpfs")
    tmpfs = obj(m.get("TmpfsOptions"), f"{where}.TmpfsOptions")
    volume_opts = obj(m.get("VolumeOptions"), f"{where}.VolumeOptions")
    prop = obj(m.get("BindOptions"), f"{where}.BindOptions").get("Propagation") or ""
    if prop not in ("", *PROPAGATIONS) or (prop and kind != "bind"):
        raise BadParameter(f"{where}.BindOptions.Propagation: invalid propagation {prop!r}")
    size = tmpfs.get("SizeBytes")
    return allowed(MountSpec(
        kind, target, source, readonly=bool(m.get("ReadOnly")),
        no_copy=bool(volume_opts.get("NoCopy")), propagation=prop,
        tmpfs_size=parse_bytes(size, f"{where}.TmpfsOptions.SizeBytes") if size else None,
        tmpfs_mode=opt_int(tmpfs.get("Mode"), f"{where}.TmpfsOptions.Mode")), f"{where}.Target")


def parse_tmpfs(target: str, options: str) -> MountSpec:
    where = f"HostConfig.Tmpfs[{target!r}]"
    target = check_target(target, where)
    size = mode = None
    readonly = False
    for opt in filter(None, (options or "").split(",")):
        key, _, value = opt.partition("=")
        if key == "size":
            size = parse_bytes(value, f"{where}.size")
        elif key == "mode":
            try:
                mode = int(value, 8)
            except ValueError:
                raise BadParameter(f"{where}: invalid mode {value!r}") from None
        elif key == "ro":
            readonly = True
        elif key not in ("rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev"):
            raise BadParameter(f"{where}: unsupported option {opt!r}")
    return allowed(MountSpec("tmpfs", target, readonly=readonly, tmpfs_size=size,
                              tmpfs_mode=mode), where)


def parse_mounts(body: dict, host: dict) -> tuple[MountSpec, ...]:
    mounts: list[MountSpec] = []
    for i, spec in enumerate(host.get("Binds") or []):
        if not isinstance(spec, str):
            raise BadParameter(f"HostConfig.Binds[{i}]: expected a string")
        mounts.append(parse_bind(spec, i))
    for i, raw in enumerate(host.get("Mounts") or []):
        mounts.append(parse_mount(raw, i))
    for target, options in obj(host.get("Tmpfs"), "HostConfig.Tmpfs").items():
        mounts.append(parse_tmpfs(target, options))
    seen: set[str] = set()
    for m in mounts:
        if m.target in seen:
            raise BadParameter(f"Duplicate mount point: {m.target}")
        seen.add(m.target)
    return tuple(mounts)
