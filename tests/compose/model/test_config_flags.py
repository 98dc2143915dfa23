"""`config` flags that switch pipeline stages off (the differential suite compares the others
with Compose v2; these are the ones it cannot)."""
from __future__ import annotations

import json

from compose.cli.main import main


def _config(tmp_path, monkeypatch, capsys, *flags: str) -> tuple[int, dict | None, str]:
    monkeypatch.chdir(tmp_path)
    code = main(["config", "--format", "json", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def test_no_env_resolution_keeps_env_files_unread(tmp_path, monkeypatch, capsys):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: b\n    env_file: a.env\n    environment: {B: '2'}\n")
    (tmp_path / "a.env").write_text("A=1\n")
    code, doc, _ = _config(tmp_path, monkeypatch, capsys)
    assert code == 0 and doc["services"]["web"]["environment"] == {"A": "1", "B": "2"}
    code, doc, _ = _config(tmp_path, monkeypatch, capsys, "--no-env-resolution")
    web = doc["services"]["web"]
    assert code == 0 and web["environment"] == {"B": "2"}
    assert web["env_file"] == [{"path": str(tmp_path / "a.env"), "required": True}]


def test_stage_flags_do_not_combine_with_model_listings(tmp_path, monkeypatch, capsys):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: b\n")
    code, _, err = _config(tmp_path, monkeypatch, capsys, "--no-normalize", "--hash", "web")
    assert code == 2 and "need the whole model" in err and "\n" not in err.strip()
