"""`pycompose image build|push|pull|history|prune` and `pycompose login` against a real engine
daemon (tests/cli/conftest.py) and a real docker-registry on 127.0.0.1."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid

import pytest

from tests.images.registryfix import USERS, run_registry

from .conftest import CLI

pytestmark = pytest.mark.integration


def name(prefix: str = "t") -> str:
    return prefix + uuid.uuid4().hex[:10]


@pytest.fixture
def context(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "greeting.txt").write_text("hello from the context\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "ARG WHO=nobody\n"
        "COPY greeting.txt /greeting.txt\n"
        "RUN echo \"built for $WHO\" > /who && cat /who && sleep 2\n"
        "LABEL stage=test\n"
        "CMD [\"sh\", \"-c\", \"cat /greeting.txt /who\"]\n")
    return ctx


def test_build_streams_output_runs_and_uses_the_cache(engine, context):
    tag = f"{name('b')}:v1"
    # the output arrives while the build runs: the RUN's output shows 2 s before the end
    proc = subprocess.Popen(CLI + ["image", "build", "-t", tag, "--build-arg", "WHO=cli",
                                   "--label", "by=test", str(context)],
                            env=engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[tuple[float, str]] = []
    try:
        for raw in proc.stdout:
            lines.append((time.monotonic(), raw.decode()))
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
        ended = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines[0][1] == "Step 1/6 : FROM busybox\n"
    seen_at = next(t for t, line in lines if line == "built for cli\n")
    assert ended - seen_at > 1.5
    out = "".join(line for _, line in lines)
    assert "built for cli" in out and f"Successfully tagged {tag}" in out
    try:
        r = engine.cli("container", "run", "--rm", tag)
        assert (r.returncode, r.stdout) == (0, "hello from the context\nbuilt for cli\n"), r.stderr
        labels = json.loads(engine.cli("image", "inspect", tag, check=True).stdout)[0][
            "Config"]["Labels"]
        assert labels == {"stage": "test", "by": "test"}
        again = engine.cli("image", "build", "-t", tag, "--build-arg", "WHO=cli",
                           "--label", "by=test", str(context), timeout=120)
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("Using cache") >= 2 and "\nbuilt for" not in again.stdout
        quiet = engine.cli("image", "build", "-q", "-t", tag, "--build-arg", "WHO=cli",
                           str(context), timeout=120)
        image_id = json.loads(engine.cli("image", "inspect", tag).stdout)[0]["Id"]
        assert (quiet.returncode, quiet.stdout) == (0, image_id + "\n"), quiet.stderr
        history = engine.cli("image", "history", tag, check=True).stdout.splitlines()
        assert history[0].split()[:2] == ["IMAGE", "CREATED"]
        assert any("COPY" in line for line in history) and len(history) >= 5
    finally:
        engine.cli("image", "rm", tag)


def test_failing_run_prints_its_output_and_exits_1(engine, tmp_path):
    ctx = tmp_path / "bad"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo about to fail && exit 3\n")
    r = engine.cli("image", "build", "-t", name("bad"), str(ctx), timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "about to fail" in r.stdout
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "returned a non-zero code: 3" in r.stderr and "Traceback" not in r.stderr
    quiet = engine.cli("image", "build", "-q", str(ctx), timeout=120)
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert "about to fail" in quiet.stderr   # a quiet build's log goes to stderr on failure


def test_build_secret_is_readable_in_run_and_not_in_the_image(engine, tmp_path):
    ctx = tmp_path / "sec"
    ctx.mkdir()
    token = tmp_path / "token.txt"
    token.write_text("s3cr3t-value")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen_len_src; "
        "wc -c < /run/secrets/tok > /seen_len; rm /seen_len_src\n")
    tag = f"{name('s')}:v1"
    r = engine.cli("image", "build", "-t", tag, "--secret", f"id=tok,src={token}", str(ctx),
                   timeout=120)
    assert r.returncode == 0, r.stderr
    try:
        run = engine.cli("container", "run", "--rm", tag, "sh", "-c",
                         "cat /seen_len; ls /run/secrets 2>&1 | wc -l")
        assert run.stdout.split()[0] == str(len("s3cr3t-value")), run.stderr
        save = engine.cli("image", "inspect", tag, check=True)
        assert "s3cr3t" not in save.stdout
    finally:
        engine.cli("image", "rm", tag)
    missing = engine.cli("image", "build", "--secret", "id=tok,src=/nonexistent/x", str(ctx))
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1
    assert "cannot read /nonexistent/x" in missing.stderr


def test_push_rm_pull_round_trip_with_plain_progress(engine, tmp_path):
    with run_registry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/cli/roundtrip:v1"
        engine.cli("image", "tag", "busybox", ref, check=True)
        image_id = json.loads(engine.cli("image", "inspect", ref, check=True).stdout)[0]["Id"]
        try:
            push = engine.cli("image", "push", ref, timeout=120)
            assert push.returncode == 0, push.stderr
            lines = push.stdout.splitlines()
            assert lines[0] == f"The push refers to repository [{registry.host}/cli/roundtrip]"
            assert any(line.endswith(": Pushed") for line in lines)
            assert sum(": digest: sha256:" in line for line in lines) == 1
            assert "\x1b" not in push.stdout and "\r" not in push.stdout   # piped: plain lines
            engine.cli("image", "rm", ref, check=True)
            pull = engine.cli("image", "pull", ref, timeout=120)
            assert pull.returncode == 0, pull.stderr
            lines = pull.stdout.splitlines()
            assert lines[0].startswith("v1: Pulling from ") and lines[0].endswith("cli/roundtrip")
            assert any(line.endswith(": Pull complete") or line.endswith(": Already exists")
                       for line in lines)
            assert [line.split(":")[0] for line in lines[-2:]] == ["Digest", "Status"]
            assert "Downloading" not in pull.stdout and "\x1b" not in pull.stdout
            assert json.loads(engine.cli("image", "inspect", ref).stdout)[0]["Id"] == image_id
            quiet = engine.cli("image", "pull", "-q", ref, timeout=120)
            assert (quiet.returncode, quiet.stdout) == (0, ref + "\n")
            assert "up to date" in engine.cli("image", "pull", ref).stdout
        finally:
            engine.cli("image", "rm", ref)
        missing = engine.cli("image", "pull", f"{registry.host}/cli/nothing:v1", timeout=60)
        assert missing.returncode != 0 and missing.stderr.count("\n") == 1, missing.stderr


def test_login_with_basic_auth_then_push(engine, tmp_path):
    user, password = next(iter(USERS.items()))
    creds = engine.root / "images" / "auth.json"
    with run_registry(tmp_path / "registry", auth="basic") as registry:
        ref = f"{registry.host}/private/bb:v1"
        engine.cli("image", "tag", "busybox", ref, check=True)
        try:
            denied = engine.cli("image", "push", ref, timeout=60)
            assert denied.returncode != 0 and denied.stderr.count("\n") == 1, denied.stderr
            wrong = engine.cli("login", registry.host, "-u", user, "--password-stdin",
                               input=b"not-the-password\n")
            assert wrong.returncode == 1, wrong.stderr
            assert wrong.stderr.startswith(f"Error: login to {registry.host} failed")
            assert wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr
            assert not creds.exists() or registry.host not in creds.read_text()
            ok = engine.cli("login", registry.host, "-u", user, "--password-stdin",
                            input=f"{password}\n".encode())
            assert (ok.returncode, ok.stdout) == (0, "Login Succeeded\n"), ok.stderr
            assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
            assert registry.host in json.loads(creds.read_text())["auths"]
            push = engine.cli("image", "push", "-q", ref, timeout=120)
            assert (push.returncode, push.stdout) == (0, ref + "\n"), push.stderr
            out = engine.cli("logout", registry.host, check=True).stdout
            assert out == f"Removing login credentials for {registry.host}\n"
            assert registry.host not in json.loads(creds.read_text())["auths"]
        finally:
            engine.cli("image", "rm", ref)
            engine.cli("logout", registry.host)


def test_login_needs_credentials_without_a_terminal(engine):
    r = engine.cli("login", "127.0.0.1:1", "-u", "alice", input=b"")
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    assert "--password-stdin" in r.stderr


def test_logout_goes_through_the_engine_which_owns_the_credentials(engine):
    creds = engine.root / "images" / "auth.json"
    before = creds.read_bytes() if creds.exists() else None
    r = engine.cli("logout", "https://127.0.0.1:1/v2/")
    assert (r.returncode, r.stdout) == (0, "Not logged in to 127.0.0.1:1\n"), r.stderr
    assert (creds.read_bytes() if creds.exists() else None) == before
    bad = engine.cli("logout", "not a registry")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr == "Error: invalid registry address 'not a registry'\n", bad.stderr


def test_an_unknown_bootstrap_variant_is_refused_by_the_engine_in_one_line(engine):
    r = engine.cli("image", "bootstrap", "pcvariant:test", "--variant", "fat", timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "invalid variant 'fat'" in r.stderr, r.stderr


def test_prune_removes_dangling_images(engine, tmp_path):
    ctx = tmp_path / "p"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo {uuid.uuid4().hex} > /x\n")
    tag = f"{name('p')}:v1"
    image_id = engine.cli("image", "build", "-q", "-t", tag, str(ctx), check=True,
                          timeout=120).stdout.strip()
    engine.cli("image", "rm", tag, check=True)   # a build's image loses its tag: nothing kept
    ctx2 = tmp_path / "p2"
    ctx2.mkdir()
    (ctx2 / "Dockerfile").write_text(f"FROM busybox\nLABEL n={uuid.uuid4().hex}\n")
    dangling = engine.cli("image", "build", "-q", str(ctx2), check=True, timeout=120)
    dangling_id = dangling.stdout.strip()
    refused = engine.cli("image", "prune", input=b"")
    assert refused.returncode != 0 and "-f" in refused.stderr
    r = engine.cli("image", "prune", "-f", check=True)
    assert f"deleted: {dangling_id}" in r.stdout and r.stdout.startswith("Deleted Images:")
    assert "Total reclaimed space:" in r.stdout.splitlines()[-1]
    assert engine.cli("image", "inspect", dangling_id).returncode != 0
    assert image_id.startswith("sha256:")
    assert engine.cli("image", "inspect", "busybox").returncode == 0   # tagged: kept


def on_terminal(engine, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with stdout on a pty (stdin and stderr too); its exit code and output."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(CLI + list(args), env={**engine.env, "COLUMNS": "100"},
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:   # EIO: the other side is closed
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_pull_and_push_on_a_terminal_show_progress_bars(engine, tmp_path):
    with run_registry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/cli/tty:v1"
        engine.cli("image", "tag", "busybox", ref, check=True)
        try:
            code, out = on_terminal(engine, "image", "push", ref)
            assert code == 0, out
            assert "Pushed" in out and "\x1b[" in out   # rich redraws the bars in place
            engine.cli("image", "rm", ref, check=True)
            code, out = on_terminal(engine, "image", "pull", ref)
            assert code == 0, out
            # the layer stayed in the store (busybox has it): docker says "Already exists" too
            assert ("Pull complete" in out or "Already exists" in out) and "\x1b[" in out
            assert "\u2501" in out   # the bar itself (rich draws it with heavy box lines)
            assert out.count("Status: Downloaded newer image") == 1
        finally:
            engine.cli("image", "rm", ref)


def test_build_on_a_terminal_shows_the_steps_and_the_failure(engine, tmp_path):
    ctx = tmp_path / "tty"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo tty-step-output && false\n")
    code, out = on_terminal(engine, "image", "build", str(ctx))
    assert code == 1, out
    assert "Step 1/2 : FROM busybox" in out and "tty-step-output" in out
    assert out.count("Error: ") == 1 and "Traceback" not in out
