"""`kube play` and `kube down`: the side of them that touches disk and engine.

A play writes its state under `<engine root>/kube/<project>/` (mode 0700: Secret files live
there): the compose file made from the manifests (`compose.yaml`) and the files of ConfigMap and
Secret volumes. It then runs `up -d` on that file, through the same command `pycompose up` is,
so loading, planning and convergence are the compose ones. `kube down` runs `down` on the same
file, removes the volumes that stood for emptyDirs, and the state directory.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from compose.errors import ComposeError
from compose.kube.play_fields import ManifestError
from compose.kube.play_manifests import read_manifests
from compose.kube.play_plan import OBJECT_LABEL, PlayPlan, plan_play
from compose.kube.play_volumes import EPHEMERAL_LABEL

COMPOSE_FILE = "compose.yaml"


def load_plan(paths: Sequence[str], project: str | None = None) -> PlayPlan:
    """The plan of the manifests in `paths` (files, directories, `-` for stdin)."""
    return plan_play(read_manifests(paths), project)


def state_root() -> Path:
    """Where plays keep their state: beside the engine's, so one machine has one place."""
    from engine.client import engine_root

    return engine_root() / "kube"


def state_dir(project: str, root: Path | None = None) -> Path:
    return (root or state_root()) / project


def render(plan: PlayPlan) -> str:
    import yaml

    header = (f"# made by `pycompose kube play` for project {plan.project}; rewritten by every "
              "play\n")
    return header + yaml.safe_dump(plan.document, sort_keys=False, default_flow_style=False)


class PlayStateError(ComposeError):
    """The play's state directory cannot be written."""


def write_state(plan: PlayPlan, directory: Path) -> Path:
    """Write the plan's files and compose file into `directory` (made afresh); returns the
    compose file's path."""
    try:
        return _write_state(plan, directory)
    except OSError as e:
        raise PlayStateError(f"cannot write the play's state in {directory}: "
                             f"{e.strerror or e}") from None


def _write_state(plan: PlayPlan, directory: Path) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / "volumes", ignore_errors=True)
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    for f in plan.files:
        target = _inside(directory, f.path)
        if f.path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, f.mode)
        with os.fdopen(fd, "wb") as out:
            out.write(f.content)
        os.chmod(target, f.mode)
    compose_file = directory / COMPOSE_FILE
    compose_file.write_text(render(plan))
    return compose_file


def _inside(directory: Path, relative: str) -> Path:
    """`relative` below `directory`; the plan's paths come from manifest keys and item paths,
    which are checked already, so this is a second line of defence."""
    target = (directory / relative).resolve()
    if not target.is_relative_to(directory.resolve()):
        raise ManifestError(f"refusing to write {relative!r} outside {directory}")
    return target


def compose_options(project: str, compose_file: Path):
    from compose.cli.main import GlobalOptions

    return GlobalOptions(files=[str(compose_file)], project_name=project,
                         project_directory=str(compose_file.parent))


def run_compose(verb: str, args: Iterable[str], options) -> int:
    """Run a compose verb's own command (errors propagate to the caller's boundary)."""
    from compose.cli.main import command_for

    result = command_for(verb).main(args=list(args), prog_name=f"pycompose {verb}",
                                    obj=options, standalone_mode=False)
    return result if isinstance(result, int) else 0


def play(plan: PlayPlan, up_args: Iterable[str] = ("-d",)) -> int:
    """Run the plan. The project becomes what the manifests say: containers of an earlier
    play that the manifests no longer have are removed (`--remove-orphans`)."""
    refuse_foreign(plan.project)
    compose_file = write_state(plan, state_dir(plan.project))
    return run_compose("up", [*up_args, "--remove-orphans"],
                       compose_options(plan.project, compose_file))


def refuse_foreign(project: str) -> None:
    """A project of that name made by `up` (not by a play) is not ours to converge or remove."""
    from compose.orchestrator.labels import PROJECT
    from engine.client import Client

    with Client.from_env(autostart=True) as client:
        rows = client.containers(all=True, filters={"label": [f"{PROJECT}={project}"]})
    foreign = sorted(name.lstrip("/") for c in rows
                     if OBJECT_LABEL not in (c.get("Labels") or {})
                     for name in c.get("Names") or [c.get("Id", "")[:12]])
    if foreign:
        raise PlayStateError(f"project {project!r} has containers kube play did not make "
                             f"({', '.join(foreign[:3])}); choose another name with -p")


def down(project: str, plan: PlayPlan | None = None, volumes: bool = False,
         timeout: int | None = None) -> int:
    """Remove what the play of `project` made: containers, network, the emptyDir volumes
    (with `volumes`: every volume), then its state directory. The compose file the play wrote
    says what that is; without it (state lost, played on another root), `plan` does."""
    refuse_foreign(project)
    directory = state_dir(project)
    compose_file = directory / COMPOSE_FILE
    if not compose_file.is_file():
        if plan is None:
            raise PlayStateError(f"no play of project {project!r} is known here ({directory} "
                                 "is missing); name its manifests: kube down FILE|DIR")
        compose_file = write_state(plan, directory)
    args = ["--remove-orphans"] + (["-v"] if volumes else [])
    if timeout is not None:
        args += ["-t", str(timeout)]
    code = run_compose("down", args, compose_options(project, compose_file))
    if code == 0:
        remove_ephemeral_volumes(project)
        shutil.rmtree(directory, ignore_errors=True)
    return code


def remove_ephemeral_volumes(project: str) -> list[str]:
    from compose.orchestrator.labels import PROJECT
    from engine.client import Client
    from engine.errors import NotFound

    removed = []
    with Client.from_env(autostart=True) as client:
        for v in client.volumes(filters={"label": [f"{PROJECT}={project}",
                                                   f"{EPHEMERAL_LABEL}=true"]}):
            try:
                client.remove_volume(v["Name"])
            except NotFound:
                continue
            removed.append(v["Name"])
    return removed
