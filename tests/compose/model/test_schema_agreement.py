"""The built-in schema checker decides exactly as jsonschema does, on real files and on many
mutated ones (random value swaps at random paths, fixed seed)."""
from __future__ import annotations

import copy
import random

import jsonschema
import yaml

from compose import schema

from .conftest import CORPUS, needs_corpus

STACKS = CORPUS / "awesome-compose"
REPLACEMENTS = [1, -3, 1.5, "x", "80:80", "", True, None, [], {}, ["a"], [1], {"bogus": 1},
                {"x-ext": 1}, "service_healthy", "10s", "on-failure:3", [{"target": 80}]]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@needs_corpus
def test_checker_agrees_with_jsonschema_on_mutations():
    s = schema.load_schema()
    validator = jsonschema.Draft7Validator(s)
    checker = schema._Checker(s)
    rng = random.Random(1234)
    docs = [yaml.safe_load(f.read_text()) for f in sorted(STACKS.glob("*/compose.y*"))]
    checked = invalid = 0
    for doc in docs:
        doc.pop("version", None)
        paths = [p for p in _paths(doc) if p]
        for _ in range(20):
            mutated = copy.deepcopy(doc)
            path = rng.choice(paths)
            _replace(mutated, path, copy.deepcopy(rng.choice(REPLACEMENTS)))
            expected = validator.is_valid(mutated)
            assert checker.valid(s, mutated) == expected, (path, mutated)
            checked += 1
            invalid += not expected
    assert checked == 20 * len(docs) and invalid > checked // 3


@needs_corpus
def test_schema_valid_mutations_load_or_fail_cleanly(tmp_path):
    """Anything the schema accepts either loads or fails with a ComposeError (one line), never
    with an internal error."""
    from compose.errors import ComposeError
    from compose.project import ProjectOptions, load

    s = schema.load_schema()
    checker = schema._Checker(s)
    rng = random.Random(99)
    loaded = 0
    for f in sorted(STACKS.glob("*/compose.y*")):
        doc = yaml.safe_load(f.read_text())
        doc.pop("version", None)
        paths = [p for p in _paths(doc) if p]
        for _ in range(10):
            mutated = copy.deepcopy(doc)
            _replace(mutated, rng.choice(paths), copy.deepcopy(rng.choice(REPLACEMENTS)))
            if not checker.valid(s, mutated):
                continue
            file = tmp_path / "compose.yaml"
            file.write_text(yaml.safe_dump(mutated))
            try:
                load(ProjectOptions(files=(str(file),), environment={}))
                loaded += 1
            except ComposeError as e:
                assert "\n" not in str(e)
    assert loaded > 50
