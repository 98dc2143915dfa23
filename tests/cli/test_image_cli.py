"""Unit tests of the image command line: progress rendering, argument handling, login input."""
from __future__ import annotations

import io
import json

import pytest

from compose.cli.main import main
from engine.client import Client
from engine.client.cli import image as image_cli
from engine.client.cli import login as login_cli
from engine.client.cli.progress import PlainDisplay, once_key, plain_line, show_all
from engine.client.streams import json_messages
from engine.errors import BadParameter, EngineError

PULL = [
    {"status": "Pulling from cli/busybox", "id": "v1"},
    {"status": "Pulling fs layer", "id": "aaaaaaaaaaaa", "progressDetail": {}},
    {"status": "Downloading", "id": "aaaaaaaaaaaa",
     "progressDetail": {"current": 1048576, "total": 2000000}},
    {"status": "Download complete", "id": "aaaaaaaaaaaa", "progressDetail": {}},
    {"status": "Pull complete", "id": "aaaaaaaaaaaa", "progressDetail": {}},
    {"status": "Digest: sha256:" + "1" * 64},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5000/cli/busybox:v1"},
    # the API route repeats both at the end of the stream
    {"status": "Digest: 127.0.0.1:5000/cli/busybox@sha256:" + "1" * 64},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5000/cli/busybox:v1"},
]


def test_piped_pull_progress_is_docker_plain_lines():
    out = io.StringIO()
    with PlainDisplay(out) as shown:
        for message in PULL:
            shown.show(message)
    assert out.getvalue().splitlines() == [
        "v1: Pulling from cli/busybox",
        "aaaaaaaaaaaa: Pulling fs layer",
        "aaaaaaaaaaaa: Download complete",
        "aaaaaaaaaaaa: Pull complete",
        "Digest: sha256:" + "1" * 64,
        "Status: Downloaded newer image for 127.0.0.1:5000/cli/busybox:v1",
    ]


def test_push_digest_line_is_shown_once():
    assert once_key("v1: digest: sha256:ab size: 527") == "v1: digest:"
    assert once_key("v1: digest: sha256:ab") == "v1: digest:"
    assert once_key("Pushed") is None
    assert once_key("The push refers to repository [x: digest: y]") is None
    assert plain_line({"status": "Pushing", "id": "abc", "progressDetail": {}}) == "abc: Pushing"
    assert plain_line({"stream": "Step 1/2\n"}) is None


def test_build_stream_text_is_written_as_it_comes():
    out = io.StringIO()
    with PlainDisplay(out) as shown:
        for message in ({"stream": "Step 1/2 : FROM busybox\n"}, {"stream": " ---> abc"},
                        {"stream": "def\n"}, {"aux": {"ID": "sha256:1"}}):
            shown.show(message)
    assert out.getvalue() == "Step 1/2 : FROM busybox\n ---> abcdef\n"


def test_terminal_display_uses_rich_bars():
    from engine.client.cli.progress import RichDisplay, display

    out = io.StringIO()
    shown = display(out, tty=True)
    assert isinstance(shown, RichDisplay)
    with shown:
        for message in PULL:
            shown.show(message)
    text = out.getvalue()
    assert "aaaaaaaaaaaa" in text and "Pull complete" in text
    assert text.count("Status: Downloaded newer image") == 1


class FakeResponse:
    def __init__(self, messages: list[dict]) -> None:
        self.lines = [json.dumps(m).encode() for m in messages]
        self.closed = False

    def iter_lines(self):
        yield from self.lines

    def close(self) -> None:
        self.closed = True


def test_error_message_raises_after_the_messages_before_it():
    response = FakeResponse([{"stream": "Step 1/1 : RUN false\n"},
                             {"errorDetail": {"message": "boom"}, "error": "boom"}])
    seen = []
    with pytest.raises(EngineError, match="^boom$"):
        for message in json_messages(response):
            seen.append(message)
    assert seen == [{"stream": "Step 1/1 : RUN false\n"}] and response.closed


def test_quiet_shows_nothing_but_keeps_aux(capsys):
    aux = show_all(iter([{"stream": "x\n"}, {"aux": {"ID": "sha256:9"}}]), quiet=True)
    assert aux == [{"ID": "sha256:9"}] and capsys.readouterr().out == ""


def test_build_args_take_the_environment_for_bare_keys():
    env = {"HTTP_PROXY": "http://p:3128"}
    assert image_cli.build_args(["A=1", "B=", "HTTP_PROXY", "UNSET", "C=x=y"], env) == {
        "A": "1", "B": "", "HTTP_PROXY": "http://p:3128", "C": "x=y"}
    with pytest.raises(BadParameter):
        image_cli.build_args(["=v"], env)


def test_history_rows_truncate_like_docker():
    entries = [{"Id": "sha256:" + "a" * 64, "Created": 0, "CreatedBy": "/bin/sh -c " + "x" * 60,
                "Size": 2048, "Comment": ""},
               {"Id": "<missing>", "Created": 0, "CreatedBy": "", "Size": 0, "Comment": "c"}]
    rows = image_cli.history_rows(entries, now=3600 * 24 * 3)
    assert rows[0][0] == "a" * 12 and len(rows[0][2]) == 45 and rows[0][2].endswith("\u2026")
    assert rows[0][3] == "2.05kB" and rows[1][0] == "<missing>" and rows[1][4] == "c"
    full = image_cli.history_rows(entries, now=0, no_trunc=True)
    assert full[0][0] == "sha256:" + "a" * 64 and full[0][2].endswith("x" * 60)


@pytest.fixture
def fake_bootstrap(monkeypatch):
    calls: list[dict] = []

    def bootstrap(client, ref="debian:bookworm", **kwargs):
        calls.append({"client": client, "ref": ref, **kwargs})
        yield {"stream": f"Bootstrapping {ref}\n"}
        yield {"aux": {"ID": "sha256:" + "b" * 64}}

    from engine.client import build as bc

    monkeypatch.setattr(bc, "bootstrap", bootstrap)
    monkeypatch.setattr(image_cli, "get_client", lambda: "the-client")
    return calls


def test_bootstrap_defaults(fake_bootstrap, capsys):
    assert main(["image", "bootstrap"]) == 0
    assert fake_bootstrap == [{"client": "the-client", "ref": "debian:bookworm", "suite": None,
                               "mirror": None, "include": [], "variant": "minbase",
                               "force": False}]
    assert capsys.readouterr().out == "Bootstrapping debian:bookworm\n"


def test_bootstrap_flags(fake_bootstrap):
    assert main(["image", "bootstrap", "local/deb:12", "--suite", "bookworm", "--mirror",
                 "http://127.0.0.1:3142/debian", "--include", "curl,ca-certificates",
                 "--include", "jq", "--variant", "apt", "--force"]) == 0
    assert fake_bootstrap[0]["include"] == ["curl", "ca-certificates", "jq"]
    assert (fake_bootstrap[0]["ref"], fake_bootstrap[0]["suite"], fake_bootstrap[0]["variant"],
            fake_bootstrap[0]["force"]) == ("local/deb:12", "bookworm", "apt", True)
    assert fake_bootstrap[0]["mirror"] == "http://127.0.0.1:3142/debian"


# (an unknown --variant is the engine's to refuse: tests/build/test_bootstrap.py)
@pytest.mark.parametrize("args, message", [
    (["--mirror", "ftp://x/debian"], "invalid mirror 'ftp://x/debian'"),
    (["debian@sha256:" + "0" * 64], "cannot bootstrap into a digest reference"),
    (["Not A Ref"], "invalid reference"),
])
def test_bootstrap_bad_flags_are_one_line_errors(fake_bootstrap, capsys, args, message):
    code = main(["image", "bootstrap", *args])
    err = capsys.readouterr().err
    assert code != 0 and fake_bootstrap == []
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


def test_password_from_stdin_and_flags():
    assert login_cli.read_password(None, True, io.StringIO("s3cret\n")) == "s3cret"
    assert login_cli.read_password(None, True, io.StringIO("a b\r\n")) == "a b"
    assert login_cli.read_password("p", False) == "p"
    assert login_cli.read_password(None, False) is None
    with pytest.raises(BadParameter, match="mutually exclusive"):
        login_cli.read_password("p", True, io.StringIO("x\n"))
    with pytest.raises(BadParameter, match="empty password"):
        login_cli.read_password(None, True, io.StringIO("\n"))


class RecordingClient(Client):
    """A real Client whose requests are recorded and answered here instead of by an engine."""

    def __init__(self, answer) -> None:
        super().__init__("/nonexistent/engine.sock")
        self.answer, self.requests = answer, []

    def request(self, method, path, params=None, *, json_body=None, **_):
        self.requests.append((method, path, params, json_body))
        if isinstance(self.answer, Exception):
            raise self.answer
        return type("R", (), {"read": lambda _self: json.dumps(self.answer).encode()})()


def test_login_asks_the_engine_which_checks_and_keeps_the_credentials(monkeypatch, capsys):
    from engine.client.cli import app as cli_app

    client = RecordingClient({"Status": "Login Succeeded", "IdentityToken": ""})
    monkeypatch.setattr(cli_app, "get_client", lambda: client)
    assert main(["login", "127.0.0.1:5000", "-u", "alice", "-p", "pw"]) == 0
    assert capsys.readouterr().out == "Login Succeeded\n"
    assert client.requests == [("POST", "/auth", None, {
        "username": "alice", "password": "pw", "serveraddress": "127.0.0.1:5000"})]


def test_a_refused_login_is_one_line_naming_the_registry(monkeypatch, capsys):
    from engine.client.cli import app as cli_app
    client = RecordingClient(EngineError("unauthorized: wrong password"))
    monkeypatch.setattr(cli_app, "get_client", lambda: client)
    assert main(["login", "https://127.0.0.1:5000/v2/", "-u", "alice", "-p", "pw"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "Error: login to 127.0.0.1:5000 failed: unauthorized: wrong password"


@pytest.mark.parametrize("answer, printed", [
    ({"ServerAddress": "127.0.0.1:5999", "Removed": False}, "Not logged in to 127.0.0.1:5999\n"),
    ({"ServerAddress": "127.0.0.1:5999", "Removed": True},
     "Removing login credentials for 127.0.0.1:5999\n"),
])
def test_logout_asks_the_engine_to_forget_the_credentials(monkeypatch, capsys, answer, printed):
    from engine.client.cli import app as cli_app

    client = RecordingClient(answer)
    monkeypatch.setattr(cli_app, "get_client", lambda: client)
    assert main(["logout", "127.0.0.1:5999"]) == 0
    assert capsys.readouterr().out == printed
    assert client.requests == [("DELETE", "/pycompose/auth", {"serveraddress": "127.0.0.1:5999"},
                                None)]


def test_cli_modules_import_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, engine.client.cli.image, engine.client.cli.login, "
            "engine.client.cli.progress;"
            "print(sorted(m for m in ('rich', 'trio', 'pyroute2', 'pydantic') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == "[]\n"
