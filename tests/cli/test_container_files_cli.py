"""`pycompose container cp|diff|commit|export|update|stats` and `system df` against a real
engine daemon."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid

import pytest

from .conftest import CLI

pytestmark = pytest.mark.integration


@pytest.fixture
def box(engine):
    name = "t" + uuid.uuid4().hex[:10]
    engine.cli("container", "run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        yield name
    finally:
        engine.cli("container", "rm", "-f", name)


def sh(engine, name: str, script: str) -> str:
    return engine.cli("container", "exec", name, "sh", "-c", script, check=True).stdout


def test_cp_both_ways_and_through_stdio(engine, box, tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f").write_text("deep\n")
    engine.cli("container", "cp", str(tmp_path / "a.txt"), f"{box}:/tmp/", check=True)
    engine.cli("container", "cp", str(tmp_path / "a.txt"), f"{box}:/renamed", check=True)
    engine.cli("container", "cp", str(tmp_path / "tree"), f"{box}:/newtree", check=True)
    assert sh(engine, box, "cat /tmp/a.txt /renamed /newtree/sub/f") == "alpha\nalpha\ndeep\n"
    engine.cli("container", "cp", f"{box}:/newtree", str(tmp_path / "back"), check=True)
    assert (tmp_path / "back" / "sub" / "f").read_text() == "deep\n"
    engine.cli("container", "cp", f"{box}:/renamed", str(tmp_path / "r.txt"), check=True)
    assert (tmp_path / "r.txt").read_text() == "alpha\n"
    out = subprocess.run(CLI + ["container", "cp", f"{box}:/renamed", "-"], env=engine.env,
                         capture_output=True, timeout=60, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        assert tar.getnames() == ["renamed"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("piped.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"piped\n"))
    engine.cli("container", "cp", "-", f"{box}:/tmp", input=buf.getvalue(), check=True)
    assert sh(engine, box, "cat /tmp/piped.txt") == "piped\n"
    engine.cli("container", "cp", f"{box}:/", str(tmp_path / "wholeroot"), check=True)
    assert (tmp_path / "wholeroot" / "renamed").read_text() == "alpha\n"
    assert os.listdir(tmp_path / "wholeroot" / "proc") == []
    r = engine.cli("container", "cp", f"{box}:/no/such", str(tmp_path))
    assert r.returncode == 1 and "Could not find the file /no/such" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cp_out_of_a_link_to_root_stays_in_the_container(engine, box, tmp_path):
    sh(engine, box, "ln -s / /evil && ln -s ../../.. /up && echo container > /etc/shadow")
    for path in ("/evil/etc/shadow", "/up/etc/shadow"):
        engine.cli("container", "cp", f"{box}:{path}", str(tmp_path / "s"), check=True)
        assert (tmp_path / "s").read_text() == "container\n"
    # and into the container through the same links: lands in the container's /etc
    (tmp_path / "dropped").write_text("in\n")
    engine.cli("container", "cp", str(tmp_path / "dropped"), f"{box}:/evil/etc/", check=True)
    assert not os.path.exists("/etc/dropped")
    assert sh(engine, box, "cat /etc/dropped") == "in\n"


def test_diff_commit_export_update(engine, box, tmp_path):
    sh(engine, box, "echo new > /added && rm /bin/true")
    lines = engine.cli("container", "diff", box, check=True).stdout.splitlines()
    assert "A /added" in lines and "D /bin/true" in lines
    image = "pc-cli-" + uuid.uuid4().hex[:8] + ":1"
    out = engine.cli("container", "commit", "-m", "msg", "-c", "ENV X=1", box, image,
                     check=True).stdout.strip()
    assert out.startswith("sha256:")
    try:
        r = engine.cli("container", "run", "--rm", image, "sh", "-c", "cat /added; echo $X",
                       check=True)
        assert r.stdout == "new\n1\n"
    finally:
        engine.cli("image", "rm", "-f", image)
    engine.cli("container", "export", "-o", str(tmp_path / "fs.tar"), box, check=True)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert "added" in tar.getnames() and "bin/true" not in tar.getnames()
    engine.cli("container", "update", "--memory", "80m", "--memory-swap", "160m",
               "--pids-limit", "40", box, check=True)
    info = json.loads(engine.cli("container", "inspect", box, check=True).stdout)[0]
    assert info["HostConfig"]["Memory"] == 80 << 20 and info["HostConfig"]["PidsLimit"] == 40
    r = engine.cli("container", "update", box)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


def test_stats_no_stream_json_and_table(engine, box):
    engine.cli("container", "update", "--memory", "64m", "--memory-swap", "128m", box,
               check=True)
    rows = [json.loads(line) for line in engine.cli(
        "container", "stats", "--no-stream", "--format", "json", box,
        check=True).stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["Container"] == box
    assert rows[0]["MemUsage"].endswith("/ 64MiB") and int(rows[0]["PIDs"]) >= 1
    table = engine.cli("container", "stats", "--no-stream", box, check=True).stdout
    assert table.splitlines()[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    assert box in table


def test_system_df(engine, box):
    out = engine.cli("system", "df", check=True).stdout.splitlines()
    assert out[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    kinds = [line.split()[0] for line in out[1:]]
    assert kinds == ["Images", "Containers", "Local", "Build"]
    rows = [json.loads(x) for x in engine.cli("system", "df", "--format", "json",
                                              check=True).stdout.splitlines()]
    assert rows[1]["Type"] == "Containers" and rows[1]["Active"] >= 1


def test_cp_ownership_root_by_default_and_the_users_with_archive(engine, tmp_path):
    name = "t" + uuid.uuid4().hex[:10]
    engine.cli("container", "run", "-d", "--name", name, "-u", "1000:1000", "busybox", "sleep",
               "300", check=True)
    try:
        src = tmp_path / "owned"
        src.write_text("x\n")
        os.chown(src, 1234, 1234)
        engine.cli("container", "cp", str(src), f"{name}:/tmp/plain", check=True)
        engine.cli("container", "cp", "-a", str(src), f"{name}:/tmp/kept", check=True)
        out = engine.cli("container", "exec", name, "stat", "-c", "%u:%g", "/tmp/plain",
                         "/tmp/kept", check=True).stdout.split()
        assert out == ["0:0", "1000:1000"]
    finally:
        engine.cli("container", "rm", "-f", name)
