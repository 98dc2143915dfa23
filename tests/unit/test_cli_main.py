from __future__ import annotations

import pytest

from compose.cli.main import UsageError, main, parse_globals


def test_global_flags_are_split_from_the_verb():
    opts, rest = parse_globals(["-f", "a.yml", "--file=b.yml", "-p", "demo", "--profile", "dev",
                                "up", "-d", "-f", "notglobal"])
    assert opts.files == ["a.yml", "b.yml"]
    assert opts.project_name == "demo"
    assert opts.profiles == ["dev"]
    assert rest == ["up", "-d", "-f", "notglobal"]


def test_missing_value_for_global_flag_is_a_usage_error():
    with pytest.raises(UsageError, match="-p needs a value"):
        parse_globals(["-p"])


def test_unknown_verb_exits_2_with_one_line(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "Error: unknown command 'frobnicate'; see 'pycompose --help'"


def test_unexpected_exception_is_one_line_not_a_traceback(capsys, monkeypatch):
    import compose.cli.main as cli_main

    def boom(verb):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli_main, "_load_app", boom)
    monkeypatch.setattr(cli_main, "_built", {})  # commands built by earlier tests are cached
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "Error: internal error: RuntimeError: kaboom (run with --debug for details)"


def test_usage_error_from_a_typer_command_is_shown_with_exit_2(capsys):
    assert main(["config", "--no-such-flag"]) == 2
    assert "no-such-flag" in capsys.readouterr().err
