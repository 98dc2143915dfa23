"""engine.durations.parse_go_duration: what Go's time.ParseDuration takes and refuses, and the
three readers built on it (Dockerfile HEALTHCHECK flags, engine CLI flags, compose values)."""
from __future__ import annotations

import pytest

from compose.values import parse_duration as compose_duration
from engine.build.metadata import duration as dockerfile_duration
from engine.client.cli.parse import FlagError, parse_duration as flag_duration
from engine.durations import parse_go_duration


@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("-0", 0), ("+0", 0),
    ("1m30s", 90 * 10**9), ("500ms", 500 * 10**6), ("1.5h", 5400 * 10**9),
    (".5s", 500 * 10**6), ("1.s", 10**9), ("-1.5h", -5400 * 10**9),
    ("0.29s", 290 * 10**6),                       # exact: no float rounding down to ...999
    ("1h2m3s4ms5us6ns", 3723_004_005_006),
    ("2\u00b5s", 2000), ("2\u03bcs", 2000),         # both micro signs, as Go
])
def test_go_durations(text, ns):
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "1x", "s", " 1s", "1s ", "--1s", ".s", "1.2.3s", "-",
                                  "1d"])
def test_what_go_refuses_is_a_value_error_naming_it(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


def test_each_reader_words_its_own_errors_and_keeps_its_rules():
    class Fail(Exception):
        pass

    assert dockerfile_duration("1m30s", Fail, "interval") == 90 * 10**9
    for bad in ("5", "-1s"):      # no interval or timeout may be negative
        with pytest.raises(Fail, match=r"invalid duration for --interval"):
            dockerfile_duration(bad, Fail, "interval")
    assert flag_duration(" 1.5s ", "--since") == 1.5
    with pytest.raises(FlagError, match="--since"):
        flag_duration("soon", "--since")
    assert compose_duration("") == 0 and compose_duration(" 1m ") == 60 * 10**9
    with pytest.raises(ValueError, match=r"invalid duration: 5"):
        compose_duration(5)
