"""`pycompose up`: create and start the project's containers, then stream their logs."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Create and start containers")
def up(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    detach: bool = typer.Option(False, "-d", "--detach", help="run in the background"),
    build: bool = typer.Option(False, "--build", help="build images before starting"),
    no_build: bool = typer.Option(False, "--no-build", help="don't build images"),
    pull: Optional[str] = typer.Option(None, "--pull", help="pull policy (always|missing|never)"),
    force_recreate: bool = typer.Option(False, "--force-recreate"),
    no_recreate: bool = typer.Option(False, "--no-recreate"),
    no_deps: bool = typer.Option(False, "--no-deps", help="don't start linked services"),
    no_start: bool = typer.Option(False, "--no-start", help="don't start after creating"),
    remove_orphans: bool = typer.Option(False, "--remove-orphans"),
    scale: Optional[List[str]] = typer.Option(None, "--scale", help="SERVICE=NUM"),
    abort_on_container_exit: bool = typer.Option(False, "--abort-on-container-exit"),
    exit_code_from: Optional[str] = typer.Option(None, "--exit-code-from"),
    wait: bool = typer.Option(False, "--wait", help="wait for services to be running|healthy"),
    wait_timeout: Optional[float] = typer.Option(None, "--wait-timeout"),
    timeout: Optional[int] = typer.Option(None, "-t", "--timeout", help="shutdown timeout (s)"),
    timestamps: bool = typer.Option(False, "--timestamps"),
    no_color: bool = typer.Option(False, "--no-color"),
    no_log_prefix: bool = typer.Option(False, "--no-log-prefix"),
    attach_services: Optional[List[str]] = typer.Option(None, "--attach"),
    no_attach: Optional[List[str]] = typer.Option(None, "--no-attach"),
    quiet_pull: bool = typer.Option(False, "--quiet-pull"),
    yes: bool = typer.Option(False, "-y", "--yes"),
    watch: bool = typer.Option(False, "-w", "--watch", help="watch files and apply the services' "
                               "develop.watch rules (see `watch`)"),
) -> int:
    from compose.orchestrator import session as S

    _check_flags(build=build, no_build=no_build, force_recreate=force_recreate,
                 no_recreate=no_recreate, detach=detach, wait=wait, watch=watch,
                 abort_on_container_exit=abort_on_container_exit,
                 attach=bool(attach_services), exit_code_from=exit_code_from, pull=pull)
    services = list(services or [])
    scales = S.parse_scale(scale)
    session = S.open_session(ctx.obj, tuple(services), environ=os.environ)
    spec = session.project
    for name in [*services, *scales, *(attach_services or []), *(no_attach or []),
                 *([exit_code_from] if exit_code_from else [])]:
        spec.service(name)
    if watch:   # the rules checked before anything is made
        from compose.orchestrator.watcher import load_rules

        rules = load_rules(spec, services, no_build=no_build)
    # The networks first, on a thread: their creation overlaps the imports below.
    session.start_networks(list(services) if no_deps and services
                           else spec.with_dependencies(services or list(spec.services)))
    from compose.logprinter import LogStyle, use_colour
    from compose.orchestrator.attach import AttachOptions
    from compose.orchestrator.executor import UpOptions
    from compose.orchestrator.plan import RecreatePolicy
    from compose.orchestrator.up import run_up

    policy = (RecreatePolicy.FORCE if force_recreate else
              RecreatePolicy.NEVER if no_recreate else RecreatePolicy.DIVERGED)
    up_opts = UpOptions(services=tuple(services), no_deps=no_deps, policy=policy,
                        start=not no_start,
                        remove_orphans=remove_orphans or S.env_flag(os.environ, "COMPOSE_REMOVE_ORPHANS"),
                        scale=scales,
                        timeout=timeout, build=True if build else False if no_build else None,
                        wait=wait, wait_timeout=wait_timeout,
                        ignore_orphans=S.env_flag(os.environ, "COMPOSE_IGNORE_ORPHANS"),
                        pull=None if pull in (None, "policy") else pull)
    colour = use_colour(no_color or ctx.obj.no_color, 1, os.environ)
    attach_opts = AttachOptions(style=LogStyle(colour=colour, prefix=not no_log_prefix),
                                timestamps=timestamps,
                                abort_on_exit=abort_on_container_exit or bool(exit_code_from),
                                exit_code_from=exit_code_from, timeout=timeout)
    attached = _attached(spec, services, attach_services, no_attach)
    try:
        if watch:
            from compose.orchestrator.watcher import run_up_watch

            return S.run(lambda: run_up_watch(session, rules, up_opts, attach_opts, attached,
                                              timeout))
        return S.run(lambda: run_up(session, up_opts, attach_opts,
                                    detach=detach or wait or no_start, attached=attached))
    finally:
        session.gateway.close()


def _check_flags(*, build: bool, no_build: bool, force_recreate: bool, no_recreate: bool,
                 detach: bool, wait: bool, watch: bool, abort_on_container_exit: bool,
                 attach: bool, exit_code_from: str | None, pull: str | None) -> None:
    """Flags that cannot go together, refused before the project is loaded."""
    from compose.orchestrator import session as S

    S.exclusive(build=build, no_build=no_build)
    S.exclusive(force_recreate=force_recreate, no_recreate=no_recreate)
    S.exclusive(detach=detach, abort_on_container_exit=abort_on_container_exit)
    S.exclusive(detach=detach, attach=attach)
    S.exclusive(wait=wait, abort_on_container_exit=abort_on_container_exit)
    S.exclusive(wait=wait, attach=attach)
    S.exclusive(detach=detach, watch=watch)
    S.exclusive(wait=wait, watch=watch)
    if exit_code_from and detach:
        raise S.UsageError("--exit-code-from and --detach are incompatible")
    if pull not in (None, "missing", "never", "always", "policy"):
        raise S.UsageError(f"invalid --pull value {pull!r}")


def _attached(spec, services: list[str], attach: list[str] | None,
              no_attach: list[str] | None) -> list[str]:
    """The services whose output an attached `up` shows: --attach, else those not opting out
    (`attach: false`), less --no-attach."""
    targets = services or list(spec.services)
    attached = list(attach or [s for s in targets if spec.services[s].model.attach])
    return [s for s in attached if s not in set(no_attach or [])]
