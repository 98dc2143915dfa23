from __future__ import annotations

import json
import os
import sys
import textwrap
import time

import pytest

from engine.client import Client
from engine.client.autostart import start_daemon
from engine.client.streams import FrameDecoder, encode_frame
from engine.config import EngineConfig
from engine.errors import BadParameter, Conflict, EngineError, EngineUnavailable, NotFound

from .fake_server import FakeEngine, chunked_reply, json_reply


@pytest.fixture
def engine(tmp_path):
    servers = []

    def make(handler):
        server = FakeEngine(tmp_path / "engine.sock", handler)
        servers.append(server)
        return server, Client(server.path, timeout=5)

    yield make
    for s in servers:
        s.close()


def test_json_requests_reuse_one_connection(engine):
    def handler(method, target, headers, body, sock):
        if target.endswith("/_ping"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
        return json_reply(200, json.dumps({"target": target, "method": method}).encode())

    server, client = engine(handler)
    assert client.version() == {"target": "/v1.41/version", "method": "GET"}
    assert client.inspect_container("a b")["target"] == "/v1.41/containers/a%20b/json"
    assert client.inspect_image("localhost:5000/app:v1@x")["target"] == (
        "/v1.41/images/localhost:5000/app:v1@x/json")
    assert client.containers(all=True, filters={"status": ["exited"]})["target"] == (
        "/v1.41/containers/json?all=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D")
    assert server.connections == 1
    client.close()


def test_errors_are_typed_with_the_engine_message(engine):
    def handler(method, target, headers, body, sock):
        status = {"nf": 404, "bad": 400, "busy": 409, "boom": 500}[target.split("/")[3]]
        return json_reply(status, json.dumps({"message": f"msg {status}"}).encode())

    _, client = engine(handler)
    for ref, cls in (("nf", NotFound), ("bad", BadParameter), ("busy", Conflict),
                     ("boom", EngineError)):
        with pytest.raises(cls) as e:
            client.inspect_container(ref)
        assert e.value.message == f"msg {e.value.status}"


def test_create_sends_json_body_and_name(engine):
    def handler(method, target, headers, body, sock):
        assert headers["content-type"] == "application/json"
        return json_reply(201, json.dumps({"Id": "c" * 64, "Warnings": [],
                                           "echo": json.loads(body)}).encode())

    server, client = engine(handler)
    created = client.create_container({"Image": "busybox"}, name="web")
    assert created["echo"] == {"Image": "busybox"}
    assert server.requests[0][1] == "/v1.41/containers/create?name=web"


def test_chunked_multiplexed_logs_are_demultiplexed(engine):
    frames = encode_frame(1, b"out 1\n") + encode_frame(2, b"err\n") + encode_frame(1, b"x" * 70000)

    def handler(method, target, headers, body, sock):
        # split the frames at awkward places across chunks
        return chunked_reply([frames[:3], frames[3:11], frames[11:5000], frames[5000:]],
                             "application/vnd.docker.multiplexed-stream")

    _, client = engine(handler)
    pieces = list(client.logs("c", follow=True, tty=False))
    assert pieces[0] == (1, b"out 1\n") and pieces[1] == (2, b"err\n")
    assert b"".join(d for s, d in pieces[2:]) == b"x" * 70000


def test_a_new_request_while_streaming_uses_a_second_connection(engine):
    def handler(method, target, headers, body, sock):
        if "logs" in target:
            return chunked_reply([encode_frame(1, b"a"), encode_frame(1, b"b")])
        return json_reply(200, b"{}")

    server, client = engine(handler)
    stream = client.logs("c", tty=False)
    assert next(stream) == (1, b"a")
    assert client.inspect_container("c") == {}
    assert next(stream) == (1, b"b")
    assert server.connections == 2


def test_hijacked_attach_keeps_bytes_sent_with_the_101(engine):
    def handler(method, target, headers, body, sock):
        assert headers["upgrade"] == "tcp" and headers["connection"] == "Upgrade"
        # the first frame arrives in the same packet as the response head
        sock.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream"
                     b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                     + encode_frame(1, b"hello\n"))
        data = sock.recv(100)  # echo stdin back on stderr, then end the stream
        sock.sendall(encode_frame(2, data))
        sock.shutdown(2)
        return None

    _, client = engine(handler)
    with client.attach("c", stdin=True) as hijacked:
        hijacked.send(b"typed")
        assert list(hijacked.frames()) == [(1, b"hello\n"), (2, b"typed")]


def test_import_streams_a_pipe_with_chunked_encoding(engine):
    def handler(method, target, headers, body, sock):
        assert headers.get("transfer-encoding") == "chunked"
        return chunked_reply([json.dumps({"status": f"sha256:{len(body)}"}).encode() + b"\n"])

    _, client = engine(handler)
    r, w = os.pipe()
    os.write(w, b"t" * 1000)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        assert client.import_image(pipe, "busybox", "latest") == [{"status": "sha256:1000"}]


def test_import_error_in_progress_stream_is_raised(engine):
    def handler(method, target, headers, body, sock):
        return chunked_reply([b'{"status":"working"}\n', b'{"error":"not a tarball"}\n'])

    _, client = engine(handler)
    with pytest.raises(EngineError, match="not a tarball"):
        client.import_image(b"junk")


def test_stale_keepalive_connection_is_retried_once(engine):
    def handler(method, target, headers, body, sock):
        # answers, then closes as servers do after their idle timeout
        sock.sendall(json_reply(200, b'{"n": 1}'))
        return None

    server, client = engine(handler)
    assert client.version() == {"n": 1}
    time.sleep(0.05)
    assert client.version() == {"n": 1}
    assert server.connections == 2


def test_unreachable_engine_is_a_one_line_error(tmp_path):
    with pytest.raises(EngineUnavailable, match="cannot reach the engine at unix://"):
        Client(tmp_path / "nothing.sock").version()
    assert Client(tmp_path / "nothing.sock").ping() is False


def test_frame_decoder_handles_partial_input():
    data = encode_frame(1, b"abc") + encode_frame(2, b"") + encode_frame(2, b"de")
    decoder = FrameDecoder()
    out = []
    for i in range(len(data)):
        out += decoder.feed(data[i:i + 1])
    assert out == [(1, b"abc"), (2, b""), (2, b"de")] and decoder.pending == 0
    assert FrameDecoder(tty=True).feed(b"raw") == [(1, b"raw")]


FAKE_DAEMON = textwrap.dedent("""
    import os, socket, sys
    path = os.environ["PYCOMPOSE_HOST"][len("unix://"):]
    print("fake daemon up", flush=True)
    s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(4)
    while True:
        c, _ = s.accept()
        if c.recv(4096).startswith(b"GET /_ping"):
            c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nOK")
        c.close()
""")


def test_autostart_starts_the_daemon_detached_and_waits_for_ping(tmp_path):
    script = tmp_path / "fake_daemon.py"
    script.write_text(FAKE_DAEMON)
    env = {"PYCOMPOSE_ROOT": str(tmp_path / "root"),
           "PYCOMPOSE_HOST": f"unix://{tmp_path / 'd.sock'}", "PATH": os.environ["PATH"]}
    config = EngineConfig.from_env(env)
    pid = start_daemon(config, env, timeout=10, argv=[sys.executable, str(script)])
    try:
        assert pid and Client(config.socket_path).ping()
        assert os.getsid(pid) == pid  # its own session: our terminal's signals do not reach it
        assert Client(config.socket_path).daemon_pid() == pid
        assert "fake daemon up" in (tmp_path / "root" / "engine.log").read_text()
        # a second start finds it running
        assert start_daemon(config, env, argv=[sys.executable, str(script)]) is None
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_autostart_failure_names_the_log_file(tmp_path):
    env = {"PYCOMPOSE_ROOT": str(tmp_path / "root"),
           "PYCOMPOSE_HOST": f"unix://{tmp_path / 'd.sock'}"}
    config = EngineConfig.from_env(env)
    with pytest.raises(EngineUnavailable) as e:
        start_daemon(config, env, argv=[sys.executable, "-c", "raise SystemExit(3)"])
    assert e.value.message == (f"the engine exited with code 3 while starting; "
                               f"see {tmp_path / 'root' / 'engine.log'}")


def test_streaming_calls_raise_errors_at_call_time(engine):
    def handler(method, target, headers, body, sock):
        if "/events" in target:
            return chunked_reply([b'{"Type":"container","Action":"start"}\n',
                                  b'{"Type":"container","Action":"die"}\n'])
        return json_reply(404, b'{"message": "No such image: nope"}')

    _, client = engine(handler)
    with pytest.raises(NotFound, match="No such image: nope"):
        client.save_images(["nope"])  # before any iteration
    assert [e["Action"] for e in client.events()] == ["start", "die"]
