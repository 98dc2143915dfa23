"""Pure pieces of #11's runtime hardening: HOME, the zygote's boot line, messages, fd closing."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.runtime import child, protocol, sealed_exe
from engine.runtime.runtime import failure_error
from engine.runtime.users import PasswdEntry, home_of, parse_passwd

PASSWD = parse_passwd("root:x:0:0:root:/root:/bin/sh\n"
                      "app:x:1000:1000:app:/home/app:/bin/sh\n"
                      "alias:x:1000:1000::/home/alias:/bin/sh\n"
                      "nohome:x:2000:2000:nohome::/bin/sh\n"
                      "short:x:3000:3000\n")


@pytest.mark.parametrize("uid,home", [(0, "/root"), (1000, "/home/app"), (4242, "/"),
                                      (2000, "/"), (3000, "/")])
def test_home_is_the_first_passwd_entry_of_the_uid_else_slash(uid, home):
    assert home_of(PASSWD, uid) == home


def test_home_of_no_passwd_at_all_is_slash():
    assert home_of([], 0) == "/"
    assert home_of([PasswdEntry("x", 5, 5, "")], 5) == "/"


def test_import_path_makes_cwd_absolute_and_puts_our_package_first():
    ours = str(Path(sealed_exe.__file__).resolve().parents[2])
    path = sealed_exe.import_path(["", "/usr/lib/python311.zip", ours, "/site"], "/srv/daemon")
    assert path == [ours, "/srv/daemon", "/usr/lib/python311.zip", "/site"]


def test_zygote_argv_runs_isolated_and_hands_over_path_socket_and_daemon():
    argv = sealed_exe.zygote_argv("/venv/bin/python", ["/a", "/b"], 7, 1234)
    assert argv[:4] == ["/venv/bin/python", "-I", "-S", "-c"]  # argv[0]: the venv is found
    assert "zygote.main_after_exec" in argv[4]
    assert json.loads(argv[5]) == ["/a", "/b"] and argv[6:] == ["7", "1234"]


def test_overlay_lowerdir_escapes_the_layer_separator_and_the_escape():
    assert sealed_exe._overlay_lowerdir("/usr/bin") == "/usr/bin"
    assert sealed_exe._overlay_lowerdir("/a:b\\c") == "/a\\:b\\\\c"


def test_forked_message_round_trips():
    msg = protocol.Forked(4321)
    assert protocol.decode(protocol.encode(msg)) == msg


def test_an_aborted_start_is_an_engine_error_and_not_the_cause():
    err = failure_error(protocol.Failed(3, 125, "start aborted", "aborted"))
    assert isinstance(err, EngineError) and err.message == "start aborted"


def test_close_fds_except_keeps_exactly_the_given_fds():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # in a child: the test process keeps its own fds
        code = 1
        try:
            extra = [os.open("/dev/null", os.O_RDONLY) for _ in range(6)]
            keep = [extra[1], extra[4], w]
            child.close_fds_except(keep)
            left = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
            os.write(w, json.dumps({"left": left, "keep": keep}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    got = json.loads(data)
    # 0-2, the three kept ones, and the one listdir had open on /proc/self/fd
    extra = set(got["left"]) - {0, 1, 2, *got["keep"]}
    assert set(got["left"]) >= {0, 1, 2, *got["keep"]} and len(extra) == 1
