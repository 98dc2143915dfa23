"""How compose errors render: one line, location pieces only when known."""
from __future__ import annotations

import pytest

from compose.errors import ComposeError, InterpolationError, YamlError, format_path
from engine.errors import PycomposeError


def test_format_path():
    assert format_path(("services", "web", "ports", 0, "target")) == "services.web.ports[0].target"
    assert format_path(()) == ""


@pytest.mark.parametrize("kwargs,text", [
    ({}, "bad thing"),
    ({"filename": "compose.yaml"}, "compose.yaml: bad thing"),
    ({"filename": "compose.yaml", "line": 12}, "compose.yaml:12: bad thing"),
    ({"filename": "compose.yaml", "line": 12, "path": ("services", "web", "ports", 0)},
     "compose.yaml:12: services.web.ports[0]: bad thing"),
    ({"path": ("services", "web")}, "services.web: bad thing"),
    ({"line": 3}, "line 3: bad thing"),
])
def test_rendering(kwargs, text):
    error = ComposeError("bad thing", **kwargs)
    assert str(error) == text and error.message == text and error.args == (text,)
    assert isinstance(error, PycomposeError) and error.detail == "bad thing"


def test_located_fills_only_missing_pieces():
    error = YamlError("oops", line=4).located(filename="a.yml", line=9, path=("x",))
    assert str(error) == "a.yml:4: x: oops"
    assert error.located(filename="b.yml").filename == "a.yml"


def test_interpolation_errors_do_not_repeat_the_path():
    error = InterpolationError("error while interpolating a.b: x", filename="c.yml", line=2,
                               path=("a", "b"))
    assert str(error) == "c.yml:2: error while interpolating a.b: x"
    assert error.path == ("a", "b")
