"""The real `pycompose container|image|volume|engine` CLI against a real engine daemon."""
from __future__ import annotations

import json
import signal
import time
import uuid

import pytest

from tests.support.terminal import Terminal

from .conftest import CLI

pytestmark = pytest.mark.integration


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def ids(engine) -> set[str]:
    return set(engine.cli("container", "ps", "-a", "-q", "--no-trunc", check=True).stdout.split())


def test_run_rm_echo(engine):
    before = ids(engine)
    r = engine.cli("container", "run", "--rm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", "")
    assert ids(engine) == before  # --rm removed it


def test_everything_after_the_image_is_the_command(engine):
    r = engine.cli("container", "run", "--rm", "busybox", "ls", "-d", "/etc")
    assert (r.returncode, r.stdout) == (0, "/etc\n")


def test_stdout_and_stderr_stay_apart(engine):
    r = engine.cli("container", "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


@pytest.mark.parametrize("cmd,code", [
    (["sh", "-c", "exit 3"], 3),
    (["false"], 1),
    (["true"], 0),
    (["/no/such/command"], 127),
    (["/etc/passwd"], 126),
])
def test_exit_codes(engine, cmd, code):
    before = ids(engine)
    r = engine.cli("container", "run", "--rm", "busybox", *cmd)
    assert r.returncode == code, r.stderr
    if code >= 126:
        assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1
    assert ids(engine) == before


def test_unknown_image_is_125(engine):
    # --pull never: nothing may go to a public registry from a test
    r = engine.cli("container", "run", "--rm", "--pull", "never", "nosuchimage:1", "true")
    assert r.returncode == 125
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "nosuchimage" in r.stderr


@pytest.mark.parametrize("args,flag", [
    (["-m", "32x"], "--memory"), (["--cpus", "lots"], "--cpus"),
    (["--restart", "sometimes"], "--restart"), (["-p", "99999:80"], "--publish"),
    (["-v", "relative:dir"], "--volume"), (["--bogus"], "--bogus"),
])
def test_bad_flag_values_are_one_line_errors(engine, args, flag):
    before = ids(engine)
    r = engine.cli("container", "run", "--rm", *args, "busybox", "true")
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr
    assert "Traceback" not in r.stderr
    assert ids(engine) == before


def test_stdin_is_relayed_with_i(engine):
    r = engine.cli("container", "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done",
                   input=b"line one\nline two\n")
    assert (r.returncode, r.stdout) == (0, "line one\nline two\ndone\n")


def test_detached_run_logs_follow_and_ps_exit_code(engine):
    n = name()
    r = engine.cli("container", "run", "-d", "--name", n, "busybox", "sh", "-c",
                   "echo one; sleep 1; echo two >&2; exit 4")
    assert r.returncode == 0 and len(r.stdout.strip()) == 64
    cid = r.stdout.strip()
    try:
        started = time.monotonic()
        logs = engine.cli("container", "logs", "-f", n)
        assert logs.returncode == 0
        assert (logs.stdout, logs.stderr) == ("one\n", "two\n")
        assert time.monotonic() - started >= 0.5  # it really followed until the exit
        assert engine.cli("container", "wait", n).stdout == "4\n"
        ps = engine.cli("container", "ps", "-a", "--filter", f"name={n}")
        lines = ps.stdout.splitlines()
        assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                    "PORTS", "NAMES"]
        assert cid[:12] in lines[1] and "Exited (4)" in lines[1] and lines[1].endswith(n)
        js = engine.cli("container", "ps", "-a", "--filter", f"name={n}", "--format", "json")
        row = json.loads(js.stdout.splitlines()[0])
        assert row["Names"] == n and row["State"] == "exited" and row["Status"].startswith(
            "Exited (4)")
        assert engine.cli("container", "inspect", "-f", "{{.State.ExitCode}} {{.Name}}",
                          n).stdout == f"4 /{n}\n"
        # options may follow the names, as in docker
        assert engine.cli("container", "inspect", n, "--format",
                          "{{.State.ExitCode}}").stdout == "4\n"
        tail = engine.cli("container", "logs", "--tail", "1", n)
        assert tail.stdout + tail.stderr == "two\n"
    finally:
        engine.cli("container", "rm", "-f", n)
    assert cid not in ids(engine)


def test_exec_stop_kill_rm(engine):
    n = name()
    engine.cli("container", "run", "-d", "--name", n, "busybox", "sleep", "300", check=True)
    try:
        assert engine.cli("container", "exec", n, "echo", "hi").stdout == "hi\n"
        assert engine.cli("container", "exec", "-e", "A=1", "-w", "/tmp", n, "sh", "-c",
                          "echo $A $(pwd)").stdout == "1 /tmp\n"
        assert engine.cli("container", "exec", n, "sh", "-c", "exit 7").returncode == 7
        r = engine.cli("container", "exec", "-i", n, "cat", input=b"piped\n")
        assert r.stdout == "piped\n"
        ps = engine.cli("container", "ps", "--filter", f"name={n}").stdout
        assert "Up " in ps
        started = time.monotonic()
        assert engine.cli("container", "stop", n, "-t", "1").stdout == f"{n}\n"
        assert time.monotonic() - started < 10
        state = engine.cli("container", "inspect", "-f", "{{.State.Status}}", n).stdout
        assert state == "exited\n"
        r = engine.cli("container", "exec", n, "true")
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    finally:
        engine.cli("container", "rm", "-f", n)
    r = engine.cli("container", "inspect", n)
    assert r.returncode == 1 and "No such container" in r.stderr


def PtySession(engine, *args: str, rows: int = 33, cols: int = 101) -> Terminal:
    """The real CLI on a real terminal of rows x cols."""
    return Terminal(CLI + list(args), engine.env, rows=rows, cols=cols)


def test_run_t_has_our_size_before_its_command_starts(engine):
    term = PtySession(engine, "container", "run", "-t", "--rm", "busybox", "stty", "size")
    try:
        term.expect(b"33 101")
        assert term.exit_code() == 0
    finally:
        term.close()


def test_run_it_has_a_tty_and_ctrl_c_reaches_the_container(engine):
    term = PtySession(engine, "container", "run", "-it", "--rm", "busybox", "sh")
    try:
        term.expect(b"/ # ")
        term.type(b"tty; echo mark-$((40+2))\r")
        term.expect(b"mark-42")
        assert b"/dev/pts/0" in term.out
        term.type(b"stty size\r")
        term.expect(b"33 101")
        term.resize(40, 120)  # SIGWINCH to the CLI, which resizes the container's pty
        time.sleep(0.5)
        term.type(b"stty size\r")
        term.expect(b"40 120")
        term.type(b"sleep 60\r")
        time.sleep(1)
        started = time.monotonic()
        term.type(b"\x03")  # Ctrl-C: SIGINT to the container's foreground job
        term.type(b"echo rc=$?\r")
        term.expect(b"rc=130", timeout=10)
        assert time.monotonic() - started < 10
        term.type(b"exit 5\r")
        assert term.exit_code() == 5
    finally:
        term.close()


def test_exec_it_gets_its_own_tty(engine):
    n = name()
    engine.cli("container", "run", "-d", "--name", n, "busybox", "sleep", "300", check=True)
    term = PtySession(engine, "container", "exec", "-it", n, "sh")
    try:
        term.expect(b"# ")
        term.type(b"tty; stty size; echo mark-$((40+2))\r")
        term.expect(b"mark-42")
        assert b"/dev/pts/" in term.out and b"33 101" in term.out
        term.type(b"exit 3\r")
        assert term.exit_code() == 3
    finally:
        term.close()
        engine.cli("container", "rm", "-f", n)


def test_images_and_volumes(engine):
    ls = engine.cli("image", "ls", check=True).stdout.splitlines()
    assert ls[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:2] == ["busybox", "latest"] for line in ls[1:])
    tag = "bb" + uuid.uuid4().hex[:6]
    engine.cli("image", "tag", "busybox", f"{tag}:v1", check=True)
    assert json.loads(engine.cli("image", "inspect", f"{tag}:v1").stdout)[0]["RepoTags"]
    assert f"Untagged: {tag}:v1" in engine.cli("image", "rm", f"{tag}:v1", check=True).stdout

    vol = name()
    assert engine.cli("volume", "create", "--label", "a=b", vol, check=True).stdout == f"{vol}\n"
    assert vol in engine.cli("volume", "ls", "-q").stdout.split()
    info = json.loads(engine.cli("volume", "inspect", vol).stdout)[0]
    assert info["Labels"] == {"a": "b"}
    r = engine.cli("container", "run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c",
                   "echo kept > /data/f")
    assert r.returncode == 0, r.stderr
    r = engine.cli("container", "run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "cat",
                   "/data/f")
    assert r.stdout == "kept\n"
    assert engine.cli("volume", "rm", vol, check=True).stdout == f"{vol}\n"
    assert vol not in engine.cli("volume", "ls", "-q").stdout.split()


def test_engine_status(engine):
    r = engine.cli("engine", "status")
    assert r.returncode == 0 and "engine: running" in r.stdout and f"pid:    {engine.pid}" in r.stdout


def test_create_then_start_attached(engine):
    n = name()
    r = engine.cli("container", "create", "--name", n, "-e", "WHO=world", "busybox", "sh", "-c",
                   "echo hello $WHO; exit 2")
    assert r.returncode == 0 and len(r.stdout.strip()) == 64
    try:
        assert "Created" in engine.cli("container", "ps", "-a", "--filter", f"name={n}").stdout
        r = engine.cli("container", "start", "-a", n)
        assert (r.returncode, r.stdout) == (2, "hello world\n")
        # a stopped container starts again in the same filesystem
        r = engine.cli("container", "start", "-a", n)
        assert (r.returncode, r.stdout) == (2, "hello world\n")
    finally:
        engine.cli("container", "rm", "-f", n)


def test_top_pause_unpause_kill_restart(engine):
    n = name()
    engine.cli("container", "run", "-d", "--name", n, "busybox", "sleep", "300", check=True)
    try:
        top = engine.cli("container", "top", n, check=True).stdout.splitlines()
        assert "PID" in top[0] and any("sleep 300" in line for line in top[1:])
        assert engine.cli("container", "pause", n, check=True).stdout == f"{n}\n"
        assert "(Paused)" in engine.cli("container", "ps", "--filter", f"name={n}").stdout
        assert engine.cli("container", "unpause", n, check=True).stdout == f"{n}\n"
        assert "(Paused)" not in engine.cli("container", "ps", "--filter", f"name={n}").stdout
        assert engine.cli("container", "restart", "-t", "0", n, check=True).stdout == f"{n}\n"
        assert engine.cli("container", "inspect", "-f", "{{.State.Running}}", n).stdout == "true\n"
        assert engine.cli("container", "kill", "-s", "KILL", n, check=True).stdout == f"{n}\n"
        assert engine.cli("container", "wait", n).stdout == "137\n"
        r = engine.cli("container", "kill", "-s", "NOPE", n)
        assert r.returncode == 125 and "--signal" in r.stderr
    finally:
        engine.cli("container", "rm", "-f", n)


def test_published_port_is_listed(engine):
    n = name()
    engine.cli("container", "run", "-d", "--name", n, "-p", "127.0.0.1::80", "busybox",
               "sleep", "300", check=True)
    try:
        out = engine.cli("container", "port", n, check=True).stdout.strip()
        assert out.startswith("80/tcp -> 127.0.0.1:")
        host_port = int(out.rsplit(":", 1)[1])
        assert engine.cli("container", "port", n, "80").stdout.strip() == f"127.0.0.1:{host_port}"
        assert f"127.0.0.1:{host_port}->80/tcp" in engine.cli(
            "container", "ps", "--filter", f"name={n}").stdout
    finally:
        engine.cli("container", "rm", "-f", n)


def test_logs_timestamps_and_since(engine):
    n = name()
    engine.cli("container", "run", "--name", n, "busybox", "echo", "stamped", check=True)
    try:
        line = engine.cli("container", "logs", "-t", n).stdout.strip()
        stamp, text = line.split(" ", 1)
        assert text == "stamped" and stamp.startswith("20") and stamp.endswith("Z")
        assert engine.cli("container", "logs", "--since", "1h", n).stdout == "stamped\n"
        assert engine.cli("container", "logs", "--until", "1h", n).stdout == ""
        assert engine.cli("container", "logs", "--since", "tomorrow", n).returncode == 125
    finally:
        engine.cli("container", "rm", n)


def test_image_save_load_round_trip(engine, tmp_path):
    archive = tmp_path / "bb.tar"
    engine.cli("image", "save", "-o", str(archive), "busybox", check=True)
    assert archive.stat().st_size > 100_000
    tag = "rt" + uuid.uuid4().hex[:6]
    engine.cli("image", "tag", "busybox", f"{tag}:1", check=True)
    engine.cli("image", "rm", f"{tag}:1", check=True)
    r = engine.cli("image", "load", "-i", str(archive), check=True)
    assert "busybox:latest" in r.stdout
    r = engine.cli("image", "import", "--change", "CMD [\"echo\", \"from-import\"]",
                   "-", f"{tag}:2", input=_busybox_tar(engine))
    assert r.returncode == 0 and r.stdout.startswith("sha256:"), r.stderr
    try:
        r = engine.cli("container", "run", "--rm", f"{tag}:2")
        assert r.stdout == "from-import\n"
    finally:
        engine.cli("image", "rm", f"{tag}:2")


def _busybox_tar(engine) -> bytes:
    return (engine.root.parent / "busybox.tar").read_bytes()


def test_run_flags_take_effect_in_the_container(engine, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("bound\n")
    (tmp_path / "vars.env").write_text("# docker env-file\nFROM_FILE=yes please\n")
    script = ("cat /x/f; id -u; pwd; hostname; echo $FROM_FILE; "
              "touch /nope 2>/dev/null || echo rootfs-ro; touch /x/g 2>/dev/null || echo bind-ro; "
              "touch /run/t && echo tmpfs-rw; cat /proc/1/cmdline | tr '\\0' ' '")
    n = name()
    r = subprocess_run(engine, tmp_path, "container", "run", "--name", n, "-v", "./data:/x:ro",
                       "--read-only", "--tmpfs", "/run", "-m", "64m", "--cpus", "0.5",
                       "--pids-limit", "20", "--init", "-u", "app", "-w", "/tmp",
                       "--hostname", "hh", "--env-file", "vars.env", "--entrypoint", "sh",
                       "busybox", "-c", script)
    try:
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[:9] == ["bound", "1000", "/tmp", "hh", "yes please", "rootfs-ro", "bind-ro",
                             "tmpfs-rw", lines[8]]
        assert "init" in lines[8] and "sh -c" in lines[8]  # PID 1 is the injected init
        host = json.loads(engine.cli("container", "inspect", n).stdout)[0]["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 500_000_000, 20)
    finally:
        engine.cli("container", "rm", n)


def subprocess_run(engine, cwd, *args):
    import subprocess

    from .conftest import CLI

    return subprocess.run(CLI + list(args), env=engine.env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_sigint_to_a_foreground_run_is_forwarded_to_the_container(engine):
    import subprocess

    n = name()
    proc = subprocess.Popen(CLI + ["container", "run", "--rm", "--name", n, "busybox", "sh", "-c",
                                   "trap 'echo got-int; exit 3' INT; echo ready; "
                                   "while true; do sleep 0.1; done"],
                            env=engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert (proc.returncode, out) == (3, b"got-int\n"), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.cli("container", "rm", "-f", n)


def test_attach_relays_stdin_and_returns_the_exit_code(engine):
    n = name()
    engine.cli("container", "run", "-d", "-i", "--name", n, "busybox", "sh", "-c",
               "read line; echo got $line; exit 6", check=True)
    try:
        r = engine.cli("container", "attach", n, input=b"hello\n")
        assert (r.returncode, r.stdout) == (6, "got hello\n"), r.stderr
        r = engine.cli("container", "attach", n)
        assert r.returncode == 1 and "stopped container" in r.stderr
    finally:
        engine.cli("container", "rm", "-f", n)


def test_network_and_security_flags_take_effect(engine):
    r = engine.cli("container", "run", "--rm", "--add-host", "db:10.1.2.3", "--dns", "10.0.0.53",
                   "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--security-opt",
                   "no-new-privileges", "busybox", "sh", "-c",
                   "grep db /etc/hosts; grep nameserver /etc/resolv.conf; "
                   "grep -E 'CapEff|NoNewPrivs' /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["10.1.2.3", "db", "nameserver", "10.0.0.53",
                                "CapEff:", "0000000000000400", "NoNewPrivs:", "1"]
    r = engine.cli("container", "run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert r.returncode == 0 and [line.split()[1] for line in r.stdout.splitlines()] == ["lo:"]


def test_run_pulls_a_missing_image_from_a_loopback_registry(engine, tmp_path):
    import subprocess

    from tests.images.registryfix import run_registry

    archive = tmp_path / "bb.tar"
    engine.cli("image", "save", "-o", str(archive), "busybox", check=True)
    with run_registry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/cli/busybox:v1"
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"docker-archive:{archive}", f"docker://{ref}"], check=True,
                       capture_output=True, timeout=120)
        try:
            r = engine.cli("container", "run", "--rm", "--pull", "never", ref, "true")
            assert r.returncode == 125 and "No such image" in r.stderr
            r = engine.cli("container", "run", "--rm", ref, "echo", "pulled")
            assert (r.returncode, r.stdout) == (0, "pulled\n"), r.stderr
            assert f"Unable to find image '{ref}' locally" in r.stderr
            r = engine.cli("image", "pull", ref)
            assert r.returncode == 0, r.stderr
        finally:
            engine.cli("image", "rm", ref)


def test_foreground_output_is_streamed_live(engine):
    import subprocess

    proc = subprocess.Popen(CLI + ["container", "run", "--rm", "busybox", "sh", "-c",
                                   "echo first; sleep 3; echo second"],
                            env=engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = time.monotonic()
        assert proc.stdout.readline() == b"first\n"
        first_at = time.monotonic() - started
        assert proc.stdout.readline() == b"second\n"
        second_at = time.monotonic() - started
        assert second_at - first_at >= 2.5  # "first" came while the container was still running
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_detached_rm(engine):
    before = ids(engine)
    r = engine.cli("container", "run", "-d", "--rm", "busybox", "/no/such/command")
    assert r.returncode == 127 and ids(engine) == before  # a failed start leaves nothing
    r = engine.cli("container", "run", "-d", "--rm", "busybox", "true")
    assert r.returncode == 0
    deadline = time.monotonic() + 10
    while r.stdout.strip() in ids(engine):  # the engine removes it when it exits
        assert time.monotonic() < deadline
        time.sleep(0.1)
    r = engine.cli("container", "run", "--rm", "--restart", "always", "busybox", "true")
    assert r.returncode == 125 and "conflicts with --rm" in r.stderr


def test_networks(engine):
    net, ctr = name(), name()
    r = engine.cli("network", "create", "--subnet", "10.237.200.0/24", "--label", "k=v", net)
    assert r.returncode == 0 and len(r.stdout.strip()) == 64, r.stderr
    try:
        assert net in engine.cli("network", "ls").stdout
        info = json.loads(engine.cli("network", "inspect", net).stdout)[0]
        assert info["Labels"] == {"k": "v"}
        assert info["IPAM"]["Config"][0]["Subnet"] == "10.237.200.0/24"
        engine.cli("container", "run", "-d", "--name", ctr, "--network", net, "--network-alias",
                   "web", "--ip", "10.237.200.9", "busybox", "sleep", "300", check=True)
        r = engine.cli("container", "run", "--rm", "--network", net, "busybox", "sh", "-c",
                       "ping -c1 -W2 web | grep -o '10.237.200.9' | head -1")
        assert r.stdout == "10.237.200.9\n", r.stderr
        r = engine.cli("network", "rm", net)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    finally:
        engine.cli("container", "rm", "-f", ctr)
        engine.cli("network", "rm", net)
    assert net not in engine.cli("network", "ls").stdout
    r = engine.cli("network", "create", "--subnet", "10.237.200.1/24", net)
    assert r.returncode == 125 and "--subnet" in r.stderr


def test_rename_and_prune(engine):
    a, b = name(), name()
    engine.cli("container", "create", "--name", a, "-v", "/anon", "busybox", "true", check=True)
    assert engine.cli("container", "rename", a, b).returncode == 0
    out = engine.cli("container", "ls", "-a", "--format", "{{.Names}}").stdout.split()
    assert b in out and a not in out
    r = engine.cli("container", "prune", "-f")
    assert r.returncode == 0 and "Total reclaimed space:" in r.stdout
    assert b not in engine.cli("container", "ls", "-a", "--format", "{{.Names}}").stdout.split()
    r = engine.cli("volume", "prune", "-f")
    assert r.returncode == 0 and "Total reclaimed space:" in r.stdout
    assert engine.cli("volume", "prune").returncode == 1  # no terminal to ask on, no -f
