"""`pycompose config` flags and its import hygiene."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from compose.cli.main import main

from .conftest import CORPUS, needs_corpus

ROOT = Path(__file__).resolve().parents[3]
PIHOLE = CORPUS / "awesome-compose" / "pihole-cloudflared-DoH" / "compose.yaml"


def _run(capsys, *args) -> str:
    assert main(["-f", str(PIHOLE), *args]) == 0
    return capsys.readouterr().out


@needs_corpus
def test_listing_flags(capsys):
    assert _run(capsys, "config", "--services").split() == ["cloudflared", "pihole"]
    assert _run(capsys, "config", "--networks").split() == ["dns-net"]
    assert _run(capsys, "config", "--images").split() == ["visibilityspots/cloudflared", "pihole/pihole:latest"]
    assert _run(capsys, "config", "-q") == ""
    hashes = dict(line.split() for line in _run(capsys, "config", "--hash", "*").splitlines())
    assert set(hashes) == {"cloudflared", "pihole"} and all(len(h) == 64 for h in hashes.values())
    assert _run(capsys, "config", "--hash", "pihole").split() == ["pihole", hashes["pihole"]]
    assert "TIMEZONE=Etc/UTC" in _run(capsys, "config", "--environment").splitlines()
    assert _run(capsys, "config", "--variables").splitlines()[0].split()[0] == "NAME"


@needs_corpus
def test_format_json_output_file_and_targets(capsys, tmp_path):
    out = tmp_path / "out.json"
    assert _run(capsys, "config", "--format", "json", "-o", str(out), "pihole") == ""
    doc = json.loads(out.read_text())
    assert set(doc["services"]) == {"pihole", "cloudflared"}  # pihole depends on cloudflared
    assert doc["services"]["pihole"]["depends_on"]["cloudflared"]["condition"] == "service_started"


@needs_corpus
def test_no_interpolate(capsys):
    assert "${TIMEZONE}" in _run(capsys, "config", "--no-interpolate")


@needs_corpus
def test_bad_flag_is_one_line(capsys):
    assert main(["-f", str(PIHOLE), "config", "--format", "toml"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


@needs_corpus
def test_config_path_imports_nothing_heavy():
    code = ("import sys; from compose.cli.main import main; "
            f"rc = main(['-f', {str(PIHOLE)!r}, 'config', '-q']); "
            "heavy = [m for m in ('trio', 'rich', 'networkx', 'pydantic', 'jsonschema', 'engine.client', "
            "'pyroute2') if m in sys.modules]; print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout
    assert out.strip() == "0 []"


def test_profiles_stdin_and_unknown_target(capsys, monkeypatch, tmp_path):
    import io

    monkeypatch.chdir(tmp_path)
    text = "services:\n  web: {image: x}\n  dbg: {image: x, profiles: [debug, tools]}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["-f", "-", "config", "--profiles"]) == 0
    assert capsys.readouterr().out.split() == ["debug", "tools"]
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["-f", "-", "config", "nosuch"]) == 1
    assert capsys.readouterr().err.strip() == "Error: no such service: nosuch"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["-f", "-", "--profile", "debug", "config", "--services"]) == 0
    assert capsys.readouterr().out.split() == ["dbg", "web"]


@needs_corpus
def test_yaml_output_is_go_yaml_like(capsys):
    out = _run(capsys, "config")
    assert '        published: "5054"\n' in out          # ambiguous strings double-quoted
    assert "    ports:\n      - mode: ingress\n" in out    # sequences indented under their key
    assert out.index("  cloudflared:") < out.index("  pihole:")
