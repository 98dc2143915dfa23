"""Manifests as text: one YAML stream, or one file per object named `<kind>-<name>.yaml`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml


# libyaml's emitter when present: three times faster than the pure-Python one on a project
_Base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[valid-type,misc]
    # one object must never come out as an anchor and an alias: kubectl reads them, but a
    # reader of the manifest should not have to
    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: Any, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_str(data)


_Dumper.add_representer(str, _str)


def to_yaml(manifest: dict) -> str:
    return yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=10_000)


def yaml_stream(manifests: Iterable[dict]) -> str:
    return "".join(f"---\n{to_yaml(m)}" for m in manifests)


def file_name(manifest: dict) -> str:
    return f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"


def write_files(manifests: list[dict], directory: Path) -> list[Path]:
    """Write each manifest to `directory/<kind>-<name>.yaml` (made if missing); the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for manifest in manifests:
        path = directory / file_name(manifest)
        path.write_text(to_yaml(manifest), encoding="utf-8")
        out.append(path)
    return out
