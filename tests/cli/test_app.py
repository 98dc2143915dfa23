"""The typer plumbing: argument parsing of the real commands, usage errors, start-up cost."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import typer.main

from engine.client.cli import container
from engine.client.cli.app import PlainCoercion, UsageError


def parse(*args: str) -> dict:
    group = typer.main.get_command(container.app)
    command = group.get_command(None, args[0])
    return command.make_context(args[0], list(args[1:])).params


def test_everything_after_the_image_is_the_container_command():
    params = parse("run", "--rm", "-it", "-e", "A=1", "-e", "B", "busybox", "ls", "-l", "--rm")
    assert params["image"] == "busybox" and list(params["command"]) == ["ls", "-l", "--rm"]
    assert params["rm"] and params["interactive"] and params["tty"]
    assert list(params["env"]) == ["A=1", "B"]


def test_option_values_are_converted():
    # typer 0.29 would validate them with pydantic; app.PlainCoercion does it without
    assert parse("stop", "-t", "3", "web")["time_"] == 3
    assert list(parse("ps", "-a", "--filter", "a=b", "--filter", "c=d")["filter_"]) == ["a=b",
                                                                                   "c=d"]
    assert PlainCoercion.for_annotation(float).coerce("0.5") == 0.5
    assert PlainCoercion.for_annotation(dict) is None


def test_bad_int_is_a_usage_error_with_exit_125():
    group = typer.main.get_command(container.app)
    with pytest.raises(UsageError) as e:
        group.main(args=["stop", "-t", "soon", "web"], prog_name="pycompose container")
    assert e.value.exit_code == 125 and "'soon' is not a valid int" in e.value.message


def test_cli_start_imports_neither_pydantic_nor_rich_nor_trio():
    code = textwrap.dedent("""
        import sys
        from compose.cli.main import main
        code = main(["container", "run", "--memory", "nonsense", "busybox", "true"])
        heavy = [m for m in ("pydantic", "rich", "trio", "pyroute2", "http.client", "ssl")
                 if m in sys.modules]
        print(code, heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "125 []", out.stderr
    assert out.stderr.strip() == (
        'Error: invalid value "nonsense" for --memory: expected a size such as 512m or 1g')
