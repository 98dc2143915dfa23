"""compose-go's dotenv fixtures and inline vectors."""
from __future__ import annotations

import re

import pytest

from compose.errors import ComposeError
from compose.loader.dotenv import parse_dotenv, read_env_files

from .conftest import CORPUS, load_corpus, skip_module_without_corpus

skip_module_without_corpus()

EXPECTED = load_corpus("dotenv/expected.yaml")
FIXTURE_CASES = [(name, exp) for name, expectations in EXPECTED.items() for exp in expectations]
CASES = load_corpus("dotenv/cases.yaml")["cases"]
EXPANSION = load_corpus("dotenv/expansion.yaml")["cases"]


def _check(result: dict, case: dict) -> None:
    if case.get("complete"):
        assert result == case["expected"]
    else:
        for key, value in case["expected"].items():
            assert result.get(key) == value, key
    for key in case.get("absent", []):
        assert key not in result


@pytest.mark.parametrize("fixture,case", FIXTURE_CASES,
                         ids=[f"{n}:{c['test']}" for n, c in FIXTURE_CASES])
def test_fixture_matches_compose_go(fixture, case):
    text = (CORPUS / "dotenv" / "fixtures" / fixture).read_bytes().decode("utf-8")
    if "error" in case:
        with pytest.raises(ComposeError) as caught:
            parse_dotenv(text, case["env"], fixture)
        assert case["error"] in str(caught.value)
        return
    if case["mode"] == "read":
        parsed = parse_dotenv(text, case["env"], fixture)
        # compose-go's Read() leaves out keys that start with a digit
        result = {k: v for k, v in parsed.items() if not re.match(r"\s*\d", k)}
    else:  # load: into a process environment that keeps what it already has
        parsed = parse_dotenv(text, None, fixture)
        result = {**{k: v.replace("\r\n", "\n") for k, v in parsed.items()}, **case["env"]}
    _check(result, case)


def test_every_fixture_with_expectations_is_covered():
    fixtures = {p.name for p in (CORPUS / "dotenv" / "fixtures").iterdir()}
    assert set(EXPECTED) <= fixtures
    assert fixtures - set(EXPECTED) == {"custom.format"}  # upstream reads it with its own parser


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_inline_case_matches_compose_go(case, tmp_path):
    def run():
        if "files" in case:
            paths = []
            for index, text in enumerate(case["files"]):
                path = tmp_path / f"{index}.env"
                path.write_text(text)
                paths.append(path)
            return read_env_files(paths, case.get("env", {}))
        return parse_dotenv(case["input"], case.get("env"), "test.env")

    if "error" in case:
        with pytest.raises(ComposeError) as caught:
            run()
        assert case["error"] in str(caught.value)
        return
    _check(run(), case)


@pytest.mark.parametrize("case", EXPANSION, ids=[c["name"] for c in EXPANSION])
def test_expansion_matches_compose_go(case):
    earlier = dict(case["env"])  # variables defined earlier in the same file
    if "error" in case:
        with pytest.raises(ComposeError) as caught:
            parse_dotenv(case["input"], None, "test.env", into=earlier)
        assert case["error"] in str(caught.value)
        return
    key, _, value = case["expected"].partition("=")
    assert parse_dotenv(case["input"], None, "test.env", into=earlier)[key] == value
