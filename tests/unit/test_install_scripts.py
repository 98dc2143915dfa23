"""install.sh and test.sh refuse what they must not touch, before installing anything; the
scripts CI and the README name parse. (Installing for real is .ci/run's fresh-clone job and
.ci/stock-debian: minutes of apt and pip, not a unit test.)"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run([str(REPO / script)], env={**base, **env}, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


def test_install_refuses_a_relative_prefix(tmp_path):
    r = run("install.sh", tmp_path, PYCOMPOSE_PREFIX="opt/pc", PYCOMPOSE_BIN="")
    assert r.returncode == 1
    assert r.stderr == "install: error: PYCOMPOSE_PREFIX must be an absolute path, not 'opt/pc'\n"
    assert r.stdout == ""


def test_install_leaves_a_directory_that_is_not_an_environment(tmp_path):
    prefix = tmp_path / "data"
    prefix.mkdir()
    (prefix / "precious").write_text("keep me")
    r = run("install.sh", tmp_path, PYCOMPOSE_PREFIX=str(prefix), PYCOMPOSE_BIN="")
    assert r.returncode == 1 and r.stdout == ""   # refused before apt or pip
    assert r.stderr == (f"install: error: {prefix} exists and is not a Python environment; "
                        "remove it or set PYCOMPOSE_PREFIX\n")
    assert [p.name for p in prefix.iterdir()] == ["precious"]


def test_install_leaves_someone_elses_command(tmp_path):
    other = tmp_path / "pycompose"
    other.write_text("#!/bin/sh\necho not ours\n")
    r = run("install.sh", tmp_path, PYCOMPOSE_PREFIX=str(tmp_path / "env"),
            PYCOMPOSE_BIN=str(other))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == (f"install: error: {other} exists and is not pycompose's; "
                        "remove it or set PYCOMPOSE_BIN\n")
    assert other.read_text() == "#!/bin/sh\necho not ours\n"
    assert not (tmp_path / "env").exists()


def test_test_sh_without_an_environment_says_how_to_get_one(tmp_path):
    r = run("test.sh", tmp_path, PYCOMPOSE_PREFIX=str(tmp_path / "none"))
    assert r.returncode == 2
    assert r.stderr == (f"test.sh: no pycompose environment at {tmp_path / 'none'}: run "
                        "./install.sh first (or set PYCOMPOSE_PREFIX)\n")


@pytest.mark.parametrize("script", ["install.sh", "test.sh", ".ci/run", ".ci/stock-debian"])
def test_scripts_parse_and_are_executable(script):
    path = REPO / script
    assert os.access(path, os.X_OK)
    r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
