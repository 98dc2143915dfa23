"""`run` and `exec` on a real terminal: the container's pty has our window size before its
command starts, and its output comes back through the terminal."""
from __future__ import annotations

import pytest

from tests.orchestrator.conftest import CLI
from tests.support.terminal import Terminal

pytestmark = pytest.mark.integration


def _on_terminal(engine, project, args: list[str], rows: int, cols: int, token: bytes) -> int:
    term = Terminal(CLI + args, engine.env, cwd=str(project), rows=rows, cols=cols)
    try:
        term.expect(token, timeout=60)
        return term.exit_code()
    finally:
        term.close()


def test_run_and_exec_get_our_window_size_from_the_start(engine, project):
    (project / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox:latest\n    command: [sleep, '600']\n"
        "    stop_signal: SIGKILL\n")
    assert _on_terminal(engine, project, ["run", "--rm", "web", "stty", "size"], 42, 102,
                        b"42 102") == 0
    engine.cli("up", "-d", cwd=project, check=True)
    assert _on_terminal(engine, project, ["exec", "web", "stty", "size"], 43, 103, b"43 103") == 0
    assert _on_terminal(engine, project, ["exec", "web", "sh", "-c", "tty; exit 5"], 24, 80,
                        b"/dev/pts/") == 5
