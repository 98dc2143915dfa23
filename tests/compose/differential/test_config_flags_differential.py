"""`config --variables` and `config --no-interpolate` against the reference Docker Compose v2.

--variables: the same table rows (the reference lists them in Go's map order, we sort them).
--no-interpolate: both accept a file whose values only make sense after interpolation; the
document printed differs on purpose (DIFFERENCES.md), so only acceptance and the variables kept
verbatim are compared.
"""
from __future__ import annotations

import pytest

from tests.compose.differential import reference
from tests.compose.differential.test_config_differential import _ours, _write_case, docker_compose, workdir  # noqa: F401

CASE = {"files": {"compose.yaml": (
    "services:\n"
    "  web:\n"
    "    image: busybox:${TAG:-latest}\n"
    "    ports: [\"${P:-80}:80\"]\n"
    "    stop_grace_period: ${G:-10s}\n"
    "    environment:\n"
    "      A: ${A?must be set}\n"
    "      B: ${B:+alt}\n"
    "      C: $C\n")}}


def _env(workdir):
    return {"PATH": "/usr/bin:/bin", "HOME": str(workdir / "home")}


def test_variables_table_matches(docker_compose, workdir, capsys, monkeypatch):
    project = _write_case(workdir, CASE)
    args = ["config", "--variables"]
    ref = reference.run(args, project, _env(workdir))
    assert ref.code == 0, ref.err
    code, out, err = _ours(args, project, _env(workdir), capsys, monkeypatch)
    assert code == 0, err
    ours, theirs = out.splitlines(), ref.out.splitlines()
    assert ours[0] == theirs[0]
    assert sorted(ours[1:]) == sorted(theirs[1:])


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_no_interpolate_accepts_what_the_reference_accepts(fmt, docker_compose, workdir, capsys,
                                                          monkeypatch):
    project = _write_case(workdir, CASE)
    args = ["config", "--no-interpolate", "--format", fmt]
    ref = reference.run(args, project, _env(workdir))
    code, out, err = _ours(args, project, _env(workdir), capsys, monkeypatch)
    assert ref.code == 0 and code == 0, (ref.err, err)
    for text in ("${TAG:-latest}", "${P:-80}:80", "${G:-10s}", "${A?must be set}", "$C"):
        assert text in ref.out and text in out
