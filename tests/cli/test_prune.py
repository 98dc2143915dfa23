"""engine.client.cli.prune: the confirmation every `<object> prune` asks and the report of what
went, without an engine (stdin and input() stood in for)."""
from __future__ import annotations

import io

import pytest

from engine.client.cli import prune
from engine.errors import PycomposeError


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_force_goes_on_without_asking(monkeypatch):
    monkeypatch.setattr("builtins.input", lambda _prompt: pytest.fail("asked despite -f"))
    assert prune.confirmed("volume", "anonymous local volumes", True)


@pytest.mark.parametrize("answer, go", [("y", True), (" YES\n", True), ("", False), ("n", False),
                                        ("yesss", False)])
def test_a_terminal_is_asked_in_the_docker_clis_words(monkeypatch, answer, go):
    prompts = []
    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or answer)
    assert prune.confirmed("container", "all stopped containers", False) is go
    assert prompts == ["WARNING! This will remove all stopped containers.\n"
                       "Are you sure you want to continue? [y/N] "]


def test_without_a_terminal_and_without_force_it_is_an_error_naming_the_verb(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    with pytest.raises(PycomposeError, match=r"^network prune needs -f when stdin is not a "
                                             r"terminal$"):
        prune.confirmed("network", "all custom networks", False)


def test_report_lists_what_went_then_the_space(capsys):
    prune.report("Volumes", iter(["a", "b"]), 2_500_000)
    assert capsys.readouterr().out == "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 2.5MB\n"
    prune.report("Containers", [], 0)
    assert capsys.readouterr().out == "Total reclaimed space: 0B\n"
    prune.report("Networks", ["pcnet"])
    assert capsys.readouterr().out == "Deleted Networks:\npcnet\n\n"
