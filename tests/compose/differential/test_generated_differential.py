"""Random valid service definitions (generated.py, from compose.schema.json) through both
`pycompose config` and the reference Docker Compose v2; derandomized, so CI runs the same
examples every time and a failure reproduces."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings

from tests.compose.differential import generated
from tests.compose.differential.test_config_differential import check_case, docker_compose  # noqa: F401


@settings(max_examples=int(os.environ.get("PYCOMPOSE_DIFF_EXAMPLES", "60")), deadline=None,
          derandomize=not os.environ.get("PYCOMPOSE_DIFF_RANDOM"), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                   HealthCheck.too_slow])
@given(generated.service())
def test_generated_services_agree(docker_compose, capsys, monkeypatch, svc):
    root = Path(tempfile.mkdtemp(prefix="pcdiff-"))
    os.chmod(root, 0o755)
    try:
        case = {"files": {"compose.yaml": yaml.safe_dump({"services": {"web": svc}})}}
        check_case(case, root, capsys, monkeypatch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
