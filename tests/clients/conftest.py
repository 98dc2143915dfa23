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


@dataclass
class DockerCli:
    """The docker CLI on our socket. Its own config dir keeps a user's contexts and credential
    helpers out of the test."""
    exe: str
    env: dict

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
        # SIGKILL on timeout: `docker run` passes SIGTERM on to the container and keeps waiting
        proc = subprocess.Popen([self.exe, *args], env=self.env, stdin=subprocess.PIPE
                                if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"docker {' '.join(args)} did not finish in {timeout}s")
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: "
                                 f"{err.decode(errors='replace')}")
        return result

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
