"""compose.errors.nearest_line: the line an error about a key path points at, which every
loader stage (reader, interpolation, schema, project, kube play) asks the same way."""
from __future__ import annotations

from compose.errors import nearest_line

LINES = {("services",): 1, ("services", "web"): 2, ("services", "web", "ports"): 4,
         ("services", "web", "ports", 0): 5}


def test_the_paths_own_line_first():
    assert nearest_line(LINES.get, ("services", "web", "ports", 0)) == 5
    assert nearest_line(LINES.get, ["services", "web"]) == 2   # any sequence


def test_a_missing_key_points_at_its_closest_ancestor():
    assert nearest_line(LINES.get, ("services", "web", "ports", 3, "target")) == 4
    assert nearest_line(LINES.get, ("services", "db", "image")) == 1


def test_no_line_at_all_is_none():
    assert nearest_line(LINES.get, ("volumes", "data")) is None
    assert nearest_line(LINES.get, ()) is None
