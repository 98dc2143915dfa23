"""`pycompose --help` and `--version`: every verb with a summary, grouped; both fast (no typer,
rich or engine)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from compose.cli import main as cli_main
from compose.cli.version import VERSION

REPO = Path(__file__).resolve().parents[2]


def _sections(text: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = out.setdefault(line[:-1], [])
        elif line.startswith("  ") and current is not None:
            name, _, summary = line.strip().partition("  ")
            current.append((name, summary.strip()))
        elif not line:
            current = None
    return out


def test_every_verb_has_a_one_line_summary_in_its_group(capsys):
    assert cli_main.main(["--help"]) == 0
    sections = _sections(capsys.readouterr().out)
    compose = dict(sections["Compose commands"])
    engine = dict(sections["Engine commands"])
    # a verb added to COMMANDS without a line in COMPOSE_VERBS/ENGINE_VERBS fails here
    assert "Other commands" not in sections
    assert set(compose) | set(engine) == set(cli_main.COMMANDS)
    assert not set(compose) & set(engine)
    assert {"up", "down", "run", "config", "version"} <= set(compose)
    assert {"container", "image", "network", "volume", "engine"} <= set(engine)
    for verb, summary in {**compose, **engine}.items():
        assert summary and "\n" not in summary, verb
    assert compose["up"].startswith("Create and start")
    assert dict(sections["Options"])["--version"]


def test_help_lines_fit_a_terminal():
    assert max(len(line) for line in cli_main.help_text().splitlines()) <= 100


def test_help_and_no_arguments_print_the_same(capsys):
    cli_main.main([])
    bare = capsys.readouterr().out
    cli_main.main(["-h"])
    assert capsys.readouterr().out == bare
    assert bare.startswith("Usage: pycompose [OPTIONS] COMMAND [ARGS]...")


def _imports_after(args: list[str]) -> tuple[str, list[str]]:
    code = textwrap.dedent(f"""
        import sys
        from compose.cli.main import main
        main({args!r})
        heavy = [m for m in ("typer", "rich", "click", "trio", "dataclasses", "importlib.metadata",
                             "engine.client") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    text, _, heavy = out.stdout.rpartition("HEAVY ")
    return text, eval(heavy)


def test_help_imports_no_command_module_nor_typer():
    text, heavy = _imports_after(["--help"])
    assert "Compose commands:" in text
    assert heavy == []


def test_version_flag_is_one_line_without_engine_or_typer():
    text, heavy = _imports_after(["--version"])
    assert text == f"pycompose version {VERSION}\n"
    assert heavy == []


def test_version_flag_after_global_options(capsys):
    assert cli_main.main(["-p", "demo", "--version"]) == 0
    assert capsys.readouterr().out == f"pycompose version {VERSION}\n"


def test_the_package_version_is_read_from_version_module():
    # pyproject.toml takes the version from compose.cli.version.VERSION, so they cannot differ
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "compose.cli.version.VERSION"}


def test_installed_metadata_agrees_with_version_module():
    from importlib import metadata

    try:
        installed = metadata.version("pycompose")
    except metadata.PackageNotFoundError:
        # running from a bare checkout: nothing installed to disagree with
        return
    assert installed == VERSION


def test_command_help_is_plain_without_rich_markdown():
    # typer's rich help imports rich's markdown stack (~0.2-1 s per --help): plain help instead
    code = textwrap.dedent("""
        import os, sys
        os.environ.pop("TYPER_USE_RICH", None)
        from compose.cli.main import main
        for args in (["container", "--help"], ["container", "run", "--help"], ["up", "--help"]):
            main(args)
        print("HEAVY", [m for m in ("rich.markdown", "typer.rich_utils") if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    text, _, heavy = out.stdout.rpartition("HEAVY ")
    assert eval(heavy) == []
    assert "Usage: pycompose container [OPTIONS] COMMAND [ARGS]..." in text
    assert "Usage: pycompose up [OPTIONS]" in text
    assert "╭" not in text and "\nCommands:\n" in text
