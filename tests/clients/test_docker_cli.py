"""Scenarios driven by the real docker CLI (28.x) against our engine: what a user types, and what
they would see with Docker."""
from __future__ import annotations

import json
import os
import select
import socket
import time

import pytest

pytestmark = pytest.mark.integration


def test_run_without_network_flag_uses_the_bridge(docker):
    # the CLI sends NetworkMode "default" and an endpoint keyed "default"
    assert docker.out("run", "--name", "plain", "busybox", "echo", "hello") == "hello\n"
    info = json.loads(docker.out("inspect", "plain"))[0]
    assert list(info["NetworkSettings"]["Networks"]) == ["bridge"]
    docker.run("rm", "plain")


def test_run_rm_removes_the_container(docker):
    assert docker.out("run", "--rm", "--name", "gone", "busybox", "echo", "hi") == "hi\n"
    assert docker.out("ps", "-aq", "--filter", "name=gone") == ""


def test_run_rm_of_a_missing_command_exits_127_and_leaves_nothing(docker):
    r = docker.run("run", "--rm", "--name", "nocmd", "busybox", "nosuchcmd", check=False)
    assert r.returncode == 127, r.stderr
    assert b"nosuchcmd" in r.stderr
    assert docker.out("ps", "-aq", "--filter", "name=nocmd") == ""


def test_run_i_rm_reads_piped_stdin_to_its_end(docker):
    assert docker.out("run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", input=b"abc\n") \
        == "ABC\n"
    # more than one pipe buffer, all of it before the start
    data = b"x" * 200_000
    assert docker.out("run", "-i", "--rm", "busybox", "wc", "-c", input=data).strip() \
        == str(len(data))


def test_start_ai_feeds_piped_stdin_each_time(docker):
    docker.run("create", "-i", "--name", "sai", "busybox", "tr", "a-z", "A-Z")
    try:
        assert docker.out("start", "-ai", "sai", input=b"xyz\n") == "XYZ\n"
        assert docker.out("start", "-ai", "sai", input=b"again\n") == "AGAIN\n"
    finally:
        docker.run("rm", "-f", "sai")


def test_env_name_unset_in_the_client_is_dropped(docker):
    assert "PCUNSET" not in docker.env
    out = docker.out("run", "--rm", "-e", "PCUNSET", "-e", "PCSET=1", "busybox", "env")
    names = [line.split("=", 1)[0] for line in out.splitlines()]
    assert "PCSET" in names and "PCUNSET" not in names


def test_publish_all_publishes_each_exposed_port(docker):
    docker.run("run", "-d", "-P", "--expose", "80", "--expose", "81/udp", "--name", "pall",
               "busybox", "nc", "-ll", "-p", "80", "-e", "echo", "pong")
    try:
        lines = dict(line.split(" -> ", 1) for line in docker.out("port", "pall").splitlines())
        assert set(lines) == {"80/tcp", "81/udp"}
        host_port = int(lines["80/tcp"].rsplit(":", 1)[1])
        assert host_port > 0
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", host_port), timeout=2) as s:
                    assert s.recv(100) == b"pong\n"
                break
            except (ConnectionError, socket.timeout, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        docker.run("rm", "-f", "pall")


def test_network_connect_resolves_names_on_the_new_network(docker):
    docker.run("network", "create", "pcclia")
    docker.run("network", "create", "pcclib")
    try:
        docker.run("run", "-d", "--name", "onb", "--network", "pcclib", "busybox", "sleep", "60")
        docker.run("run", "-d", "--name", "ona", "--network", "pcclia", "busybox", "sleep", "60")
        # before the connect, onb is on no network of ona's: not resolvable
        assert docker.run("exec", "ona", "nslookup", "onb", check=False).returncode != 0
        docker.run("network", "connect", "pcclib", "ona")
        ip_b = docker.out("inspect", "-f", "{{.NetworkSettings.Networks.pcclib.IPAddress}}",
                          "onb").strip()
        out = docker.out("exec", "ona", "nslookup", "onb")
        assert ip_b in out.split("Name:", 1)[1]
        # the resolver still answers for the first network too
        ip_a = docker.out("inspect", "-f", "{{.NetworkSettings.Networks.pcclia.IPAddress}}",
                          "ona").strip()
        assert ip_a in docker.out("exec", "ona", "nslookup", "ona").split("Name:", 1)[1]
        docker.run("exec", "ona", "ping", "-c1", "-W2", "onb")
    finally:
        docker.run("rm", "-f", "ona", "onb", check=False)
        docker.run("network", "rm", "pcclia", "pcclib", check=False)


def _context(tmp_path, text: str = "hi\n"):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f.txt").write_text(text)
    return ctx


def _build_stdin(docker, ctx, tag: str, dockerfile: str) -> str:
    # the classic builder (DOCKER_BUILDKIT=0) sends the context with the Dockerfile appended,
    # its last entry unpadded and without end-of-archive blocks
    r = docker.run("build", "-q", "-t", tag, "-f", "-", str(ctx), input=dockerfile.encode())
    return r.stdout.decode().strip()


def test_build_with_dockerfile_on_stdin(docker, tmp_path):
    ctx = _context(tmp_path, "from the context\n")
    image = _build_stdin(docker, ctx, "pcstdin:1",
                         "FROM busybox\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g\n")
    assert image.startswith("sha256:")
    assert docker.out("run", "--rm", "pcstdin:1", "cat", "/g") == "from the context\n"
    docker.run("rmi", "pcstdin:1")


def test_images_reference_filter_lists_only_matching_tags(docker):
    docker.run("tag", "busybox", "pcref:one")
    docker.run("tag", "busybox", "pcref:two")
    try:
        rows = docker.out("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox")
        assert rows.split() == ["busybox:latest"]
        rows = docker.out("images", "--format", "{{.Repository}}:{{.Tag}}",
                          "--filter", "reference=pcref:t*")
        assert rows.split() == ["pcref:two"]
        rows = docker.out("images", "--format", "{{.Repository}}:{{.Tag}}", "pcref")
        assert sorted(rows.split()) == ["pcref:one", "pcref:two"]
    finally:
        docker.run("rmi", "pcref:one", "pcref:two")


def test_load_names_the_archives_tag(docker, tmp_path):
    docker.run("tag", "busybox", "pcsaved:a")
    docker.run("tag", "busybox", "pcsaved:b")
    archive = tmp_path / "saved.tar"
    docker.run("save", "-o", str(archive), "pcsaved:b")
    docker.run("rmi", "pcsaved:b")
    try:
        assert docker.out("load", "-i", str(archive)).strip() == "Loaded image: pcsaved:b"
        assert docker.out("run", "--rm", "pcsaved:b", "echo", "ok") == "ok\n"
    finally:
        docker.run("rmi", "pcsaved:a", "pcsaved:b")


def test_image_prune_keeps_the_build_cache_of_tagged_images(docker, tmp_path):
    ctx = _context(tmp_path)
    dockerfile = "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"
    first = _build_stdin(docker, ctx, "pccache:1", dockerfile)
    # a dangling image: built, then its tag moved away
    docker.run("build", "-q", "-t", "pcdangling", "-f", "-", str(ctx),
               input=b"FROM busybox\nRUN echo dangling > /d\n")
    dangling = docker.out("images", "-q", "--no-trunc", "pcdangling").strip()
    docker.run("tag", "busybox", "pcdangling")
    try:
        out = docker.out("image", "prune", "-f")
        assert dangling in out
        all_ids = docker.out("images", "-aq", "--no-trunc").split()
        assert dangling not in all_ids
        # the steps under pccache:1 are still there: the same build is all cache hits
        r = docker.run("build", "-t", "pccache:1", "-f", "-", str(ctx),
                       input=dockerfile.encode())
        assert r.stdout.decode().count("Using cache") == 2, r.stdout.decode()
        assert docker.out("images", "-q", "--no-trunc", "pccache:1").strip() == first
    finally:
        docker.run("rmi", "pccache:1", "pcdangling", check=False)


def test_volume_prune_at_api_1_41_removes_unused_named_volumes(docker):
    docker.run("volume", "create", "pcunused")
    docker.run("volume", "create", "pcused")
    docker.run("create", "--name", "holder", "-v", "pcused:/data", "busybox", "true")
    try:
        out = docker.out("volume", "prune", "-f")
        assert "pcunused" in out and "pcused" not in out
        names = docker.out("volume", "ls", "-q").split()
        assert "pcunused" not in names and "pcused" in names
    finally:
        docker.run("rm", "holder")
        docker.run("volume", "rm", "pcused")


def test_system_prune_succeeds(docker):
    docker.run("create", "--name", "pcstale", "busybox", "true")
    r = docker.run("system", "prune", "-f")
    assert "Total reclaimed space" in r.stdout.decode()
    assert docker.out("ps", "-aq", "--filter", "name=pcstale") == ""


def test_stats_shows_the_host_memory_when_there_is_no_limit(docker):
    docker.run("run", "-d", "--name", "pcstats", "busybox", "sleep", "60")
    try:
        row = docker.out("stats", "--no-stream", "--format", "{{.MemUsage}}", "pcstats")
        limit = row.split("/")[1].strip()
        with open("/proc/meminfo") as f:
            total_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        # the CLI's units.BytesSize: four significant digits, binary units
        assert limit == f"{total_kib / 1024 / 1024:.4g}GiB", row
    finally:
        docker.run("rm", "-f", "pcstats")


def test_ps_inspect_logs_exec(docker):
    docker.run("run", "-d", "--name", "pcbasic", "--label", "pc=1", "busybox", "sh", "-c",
               "echo started; exec sleep 60")
    try:
        assert docker.out("ps", "--filter", "label=pc=1", "--format", "{{.Names}}").strip() \
            == "pcbasic"
        info = json.loads(docker.out("inspect", "pcbasic"))[0]
        assert info["State"]["Running"] is True and info["Config"]["Labels"] == {"pc": "1"}
        deadline = time.monotonic() + 10
        while docker.out("logs", "pcbasic") != "started\n":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert docker.out("exec", "pcbasic", "sh", "-c", "echo $((6*7))") == "42\n"
        assert docker.out("exec", "-i", "pcbasic", "cat", input=b"piped\n") == "piped\n"
        r = docker.run("exec", "pcbasic", "sh", "-c", "exit 3", check=False)
        assert r.returncode == 3
    finally:
        docker.run("rm", "-f", "pcbasic")


def test_info_and_version(docker):
    info = json.loads(docker.out("info", "--format", "{{json .}}"))
    for key in ("Debug", "ExperimentalBuild", "MemoryLimit", "IndexServerAddress",
                "RegistryConfig", "LiveRestoreEnabled", "DefaultAddressPools"):
        assert key in info, key
    assert not info.get("ServerErrors"), info.get("ServerErrors")
    assert docker.out("version", "--format", "{{.Server.APIVersion}}").strip() == "1.41"


def test_group_add_gives_supplementary_groups_to_the_process_and_execs(docker):
    out = docker.out("run", "--rm", "--group-add", "1234", "--group-add", "nogroup", "busybox",
                     "id", "-G")
    assert out.split() == ["0", "1234", "65534"]
    docker.run("run", "-d", "--name", "pcgroups", "--group-add", "77", "busybox", "sleep", "60")
    try:
        assert "77" in docker.out("exec", "pcgroups", "id", "-G").split()
    finally:
        docker.run("rm", "-f", "pcgroups")
    r = docker.run("run", "--rm", "--group-add", "pcnosuchgroup", "busybox", "true", check=False)
    assert r.returncode != 0 and b"pcnosuchgroup" in r.stderr


def test_what_we_do_not_honour_is_a_one_line_refusal(docker):
    for args, says in [(["--network", "host", "--link", "x:y"], b"HostConfig.Links"),
                       (["--runtime", "crun"], b"Unknown runtime specified crun")]:
        r = docker.run("run", "--rm", *args, "busybox", "true", check=False)
        assert r.returncode == 125 and says in r.stderr, r.stderr
        assert b"Traceback" not in r.stderr
    # (the CLI itself refuses a range whose address lies outside the subnet; one with host
    # bits set reaches the engine)
    r = docker.run("network", "create", "--subnet", "10.239.7.0/24", "--ip-range",
                   "10.239.7.1/25", "pcrange", check=False)
    assert r.returncode == 1 and b"invalid ip-range 10.239.7.1/25: it should be 10.239.7.0/25" \
        in r.stderr, r.stderr
    r = docker.run("network", "create", "--ipv6", "pcsix", check=False)
    assert r.returncode == 1 and b"IPv6" in r.stderr
    assert "pcrange" not in docker.out("network", "ls", "--format", "{{.Name}}").split()
    info = json.loads(docker.out("container", "create", "--name", "pcrt", "busybox", "true")
                      and docker.out("inspect", "pcrt"))[0]
    assert info["HostConfig"]["Runtime"] == "runc"   # Docker's name for the default
    docker.run("rm", "pcrt")


def test_build_add_host_reaches_run_steps(docker, tmp_path):
    ctx = _context(tmp_path)
    r = docker.run("build", "--no-cache", "--add-host", "pchost:10.1.2.3", "-f", "-", str(ctx),
                   input=b"FROM busybox\nRUN grep pchost /etc/hosts\n", check=False)
    assert r.returncode == 0 and b"10.1.2.3\tpchost" in r.stdout + r.stderr, r.stderr


def _exit_and_output(term) -> tuple[int, bytes]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pid, status = os.waitpid(term.pid, os.WNOHANG)
        if pid:
            term.pid = 0
            return os.waitstatus_to_exitcode(status), term.out
        ready, _, _ = select.select([term.fd], [], [], 0.1)
        if ready:
            try:
                term.out += os.read(term.fd, 4096)
            except OSError:
                time.sleep(0.05)
    raise AssertionError(f"the CLI did not exit: {term.out[-300:]!r}")


def test_run_it_detaches_with_ctrl_p_ctrl_q_and_attach_comes_back(docker):
    # (the CLI watches its own terminal for the keys too; the engine's side of detaching is
    # tested with the SDK, which sends the keys on the wire)
    from tests.support.terminal import Terminal

    term = Terminal([docker.exe, "run", "-it", "--name", "pcdetach", "busybox", "sh"],
                    docker.env)
    try:
        term.type(b"echo $((40+2))\r")
        term.expect(b"42")
        term.type(b"\x10\x11")
        code, out = _exit_and_output(term)
        assert code == 0, out                 # `run` leaves quietly, the shell stays
        assert docker.out("inspect", "-f", "{{.State.Running}}", "pcdetach").strip() == "true"
    finally:
        term.close()
    term = Terminal([docker.exe, "attach", "--detach-keys", "ctrl-x,x", "pcdetach"],
                    docker.env)
    try:
        term.type(b"echo back $((6*7))\r")
        term.expect(b"back 42")
        term.type(b"\x18x")
        code, out = _exit_and_output(term)
        # `attach` reports a detach as Docker's CLI does: the message, exit status 1
        assert code == 1 and b"read escape sequence" in out, out
        assert docker.out("inspect", "-f", "{{.State.Running}}", "pcdetach").strip() == "true"
    finally:
        term.close()
        docker.run("rm", "-f", "pcdetach", check=False)


def test_link_on_a_user_defined_network_resolves_its_alias_for_the_linker_only(docker):
    docker.run("network", "create", "pclinks")
    try:
        docker.run("run", "-d", "--name", "pclinker", "--network", "pclinks", "--link",
                   "pclinktarget:pcdb", "busybox", "sleep", "60")
        # the target may come after the link (as with Docker on a user-defined network)
        docker.run("run", "-d", "--name", "pclinktarget", "--network", "pclinks", "busybox",
                   "sleep", "60")
        ip = docker.out("inspect", "-f", "{{.NetworkSettings.Networks.pclinks.IPAddress}}",
                        "pclinktarget").strip()
        assert ip in docker.out("exec", "pclinker", "nslookup", "pcdb").split("Name:", 1)[1]
        docker.run("run", "-d", "--name", "pcother", "--network", "pclinks", "busybox",
                   "sleep", "60")
        assert docker.run("exec", "pcother", "nslookup", "pcdb", check=False).returncode != 0
        links = json.loads(docker.out("inspect", "pclinker"))[0]["HostConfig"]["Links"]
        assert links == ["pclinktarget:pcdb"] or links == ["/pclinktarget:/pclinker/pcdb"]
    finally:
        docker.run("rm", "-f", "pclinker", "pclinktarget", "pcother", check=False)
        docker.run("network", "rm", "pclinks", check=False)


def test_legacy_link_on_the_default_bridge_and_its_removal(docker):
    docker.run("run", "-d", "--name", "pcltarget", "-e", "FOO=bar", "--expose", "80", "busybox",
               "sleep", "60")
    try:
        ip = docker.out("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "pcltarget").strip()
        out = docker.out("run", "--rm", "--link", "pcltarget:db", "busybox", "sh", "-c",
                         "env; grep -w db /etc/hosts; ping -c 1 -W 3 db >/dev/null && echo up")
        lines = out.splitlines()
        assert f"DB_PORT=tcp://{ip}:80" in lines and "DB_ENV_FOO=bar" in lines
        assert any(ln.startswith("DB_NAME=/") and ln.endswith("/db") for ln in lines)
        assert any(ln.startswith(f"{ip}\tdb ") and ln.endswith(" pcltarget") for ln in lines)
        assert lines[-1] == "up"
        docker.run("run", "-d", "--name", "pcllinker", "--link", "pcltarget:db", "busybox",
                   "sleep", "60")
        assert docker.run("rm", "--link", "/pcllinker/db").returncode == 0
        assert json.loads(docker.out("inspect", "-f", "{{json .HostConfig.Links}}",
                                     "pcllinker")) in (None, [])
        r = docker.run("run", "--rm", "--network", "host", "--link", "pcltarget:db", "busybox",
                       "true", check=False)
        assert r.returncode == 125 and b"conflicting options" in r.stderr, r.stderr
    finally:
        docker.run("rm", "-f", "pcllinker", "pcltarget", check=False)
