"""compose-go's template, interpolation and variable-extraction vectors."""
from __future__ import annotations

import pytest

from compose.errors import ComposeError
from compose.loader.interpolation import interpolate, substitute, variables

from .conftest import load_corpus, skip_module_without_corpus

skip_module_without_corpus()

CASES = load_corpus("interpolation/cases.yaml")["cases"]
VARIABLES = load_corpus("interpolation/variables.yaml")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_interpolation_matches_compose_go(case):
    warnings: list[str] = []

    def run():
        if isinstance(case["input"], str):
            return substitute(case["input"], case["env"], warn=warnings.append)
        return interpolate(case["input"], case["env"], casts=case.get("casts", {}),
                           warn=warnings.append)

    if "error" in case:
        with pytest.raises(ComposeError) as caught:
            run()
        assert case["error"] in str(caught.value)
        return
    assert run() == case["expected"]
    if "warnings" in case:
        assert len(warnings) == case["warnings"], warnings


@pytest.mark.parametrize("case", VARIABLES, ids=[c["name"] for c in VARIABLES])
def test_variables_match_compose_go(case):
    found = variables(case["input"])
    as_dicts = {name: {"name": v.name, "default": v.default, "presence": v.presence,
                       "required": v.required} for name, v in found.items()}
    assert as_dicts == case["expected"]
