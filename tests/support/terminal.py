"""The real CLI on a real terminal (pty.fork), for tests of `-it` paths: type, expect, resize."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time


class Terminal:
    """`argv` run on a fresh pty of rows x cols (in `cwd`), read and written from our side."""

    def __init__(self, argv: list[str], env: dict[str, str], *, cwd: str | None = None,
                 rows: int = 33, cols: int = 101) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            if cwd is not None:
                os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        # our side of the terminal has a size; the container's pty must follow it
        self.resize(rows, cols)
        self.out = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def expect(self, token: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while token not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"did not see {token!r} in {self.out[-500:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    raise AssertionError(f"terminal closed before {token!r}: "
                                         f"{self.out[-500:]!r}") from None

    def exit_code(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 4096)  # keep draining so the CLI never blocks on output
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the CLI did not exit")

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
