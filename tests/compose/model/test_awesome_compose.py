"""All awesome-compose stacks load, validate and print with `config` (secret files and build
contexts are absent from the corpus and must not matter)."""
from __future__ import annotations

import os

import json

import pytest
import yaml

from compose.cli.main import main
from compose.project import ProjectOptions, load

from .conftest import CORPUS, skip_module_without_corpus

skip_module_without_corpus()
STACKS = CORPUS / "awesome-compose"
FILES = sorted(next(iter(sorted(d.glob("compose.y*")))) for d in STACKS.iterdir() if d.is_dir())


def test_corpus_has_39_stacks():
    assert len(FILES) == 39


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.parent.name)
def test_stack_config(file, capsys):
    assert main(["-f", str(file), "config"]) == 0
    out, err = capsys.readouterr()
    doc = yaml.safe_load(out)
    source = yaml.safe_load(file.read_text())
    assert set(doc["services"]) == set(source["services"])
    assert doc["name"] == file.parent.name.lower()
    for name, svc in doc["services"].items():
        assert svc.get("networks") or svc.get("network_mode"), name
        for port in svc.get("ports", []):
            assert isinstance(port["target"], int) and port["mode"] == "ingress"
            assert "published" not in port or isinstance(port["published"], str)
        for vol in svc.get("volumes", []):
            assert vol["type"] in ("bind", "volume", "tmpfs")
            if vol["type"] == "bind":
                assert vol["source"].startswith("/")
        if "build" in svc:
            assert svc["build"]["context"].startswith("/") and svc["build"]["dockerfile"]
        for dep in (svc.get("depends_on") or {}).values():
            assert dep["condition"] in ("service_started", "service_healthy") and dep["required"] is True
    for kind in ("networks", "volumes", "secrets"):
        for key, value in (doc.get(kind) or {}).items():
            assert value["name"] == (key if value.get("external") else f"{doc['name']}_{key}") or "name" in source[kind][key]
    # json output is the same document
    assert main(["-f", str(file), "config", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == doc


def test_env_file_interpolation_from_dot_env():
    stack = STACKS / "pihole-cloudflared-DoH"
    result = load(ProjectOptions(files=(str(stack / "compose.yaml"),), environment={}))
    env = result.canonical["services"]["cloudflared"]["environment"]
    assert env["TZ"] == "Etc/UTC"
    assert result.project.services["cloudflared"].networks[0].ipv4_address == "172.20.0.2"
    assert any("version" in w for w in result.warnings)


def test_os_environment_beats_dot_env():
    stack = STACKS / "pihole-cloudflared-DoH"
    result = load(ProjectOptions(files=(str(stack / "compose.yaml"),), environment={"TIMEZONE": "Europe/Paris"}))
    assert result.canonical["services"]["cloudflared"]["environment"]["TZ"] == "Europe/Paris"


def test_secrets_with_missing_files_still_load():
    stacks = [f for f in FILES if "secrets" in yaml.safe_load(f.read_text())]
    assert stacks
    for file in stacks:
        project = load(ProjectOptions(files=(str(file),), environment={})).project
        for secret in project.secrets.values():
            # compare resolved paths: the corpus may sit behind a symlink
            assert secret.file is None or os.path.realpath(secret.file).startswith(
                str(file.parent.resolve()))
