"""Every compose-go merge/unicity vector in ../shared/corpus/merge."""
from __future__ import annotations


import pytest
import yaml

from compose.merge import merge_all, unicity

from .conftest import CORPUS as SHARED, skip_module_without_corpus

skip_module_without_corpus()
CORPUS = SHARED / "merge"


def _cases():
    for file in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text())["cases"]:
            yield pytest.param(file.stem, case, id=f"{file.stem}:{case['name']}")


CASES = list(_cases())


def test_corpus_is_complete():
    assert len(CASES) == 71


@pytest.mark.parametrize("kind,case", CASES)
def test_merge_vector(kind, case):
    expected = yaml.safe_load(case["expected"])
    if kind == "unicity":
        result = unicity(yaml.safe_load(case["input"]))
    else:
        result = merge_all([yaml.safe_load(case["base"]), yaml.safe_load(case["override"])])
        if kind != "merge":
            result = unicity(result)
    assert result == expected
