"""Host files behind `content:` secrets and configs: the engine bind-mounts them read-only.

They live in a root-only directory under /run (tmpfs: gone at reboot, never in the project dir),
one per project, and `down` removes the project's directory."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_BASE = "/run/pycompose/compose"


def project_dir(base: str, project: str) -> Path:
    """`base`: DEFAULT_BASE, or PYCOMPOSE_FILES_DIR as the CLI found it (tests use their own)."""
    return Path(base) / project


def write_file_object(base: str, project: str, kind: str, key: str, content: str) -> str:
    directory = project_dir(base, project) / kind
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / key
    tmp = path.with_name(f".{key}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400 if kind == "secrets" else 0o444)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.replace(tmp, path)
    return str(path)


def remove_project_files(base: str, project: str) -> None:
    shutil.rmtree(project_dir(base, project), ignore_errors=True)
