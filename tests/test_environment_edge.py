"""The engine reads its environment only at an edge (the daemon's main, a CLI command, the
client's from_env entry), and what it reads there still reaches the code that needs it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.config import EngineConfig

REPO = Path(__file__).resolve().parents[1]
# The edges, where reading the process's environment is the point.
EDGES = {
    "engine/daemon.py",                 # the daemon's main
    "engine/client/api.py",             # Client.from_env / engine_root: None = this process's
    "engine/client/autostart.py",       # the daemon it starts inherits the caller's environment
}
EDGE_PACKAGES = ("engine/client/cli/",)   # the engine's CLI commands
# Processes the daemon runs that keep (part of) its own environment, by design.
KEPT_FOR_CHILDREN = {
    "engine/runtime/sealed_exe.py",     # the zygote re-execs the same program: same environment
    "engine/build/bootstrap.py",        # mmdebstrap runs with the daemon's PATH and TMPDIR
}


def environment_reads(path: Path) -> list[int]:
    """Lines of `path` that read os.environ / os.getenv."""
    tree = ast.parse(path.read_text())
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "os" and node.attr in ("environ", "getenv", "environb")]


def test_engine_reads_the_environment_only_at_its_edges():
    readers = {}
    for path in sorted((REPO / "engine").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in EDGES or rel in KEPT_FOR_CHILDREN or rel.startswith(EDGE_PACKAGES):
            continue
        lines = environment_reads(path)
        if lines:
            readers[rel] = lines
    assert readers == {}


def test_the_config_reads_the_mapping_it_is_given_not_the_process(monkeypatch):
    monkeypatch.setenv("PYCOMPOSE_ROOT", "/from/the/process")
    config = EngineConfig.from_env({"PYCOMPOSE_HOST": "unix:///run/x.sock",
                                    "https_proxy": "http://p:3128", "NO_PROXY": "localhost"})
    assert config.root == Path("/var/lib/pycompose")
    assert config.socket_path == Path("/run/x.sock")
    assert dict(config.proxies) == {"https_proxy": "http://p:3128", "NO_PROXY": "localhost"}


def test_the_daemon_main_configures_step_times_and_layer_limits():
    from engine import daemon
    from engine.images import decompress
    from engine.runtime import steptime

    before = (steptime.ENABLED, decompress.LIMITS)
    try:
        daemon._configure_process({"PYCOMPOSE_STEP_TIMES": "1",
                                   "PYCOMPOSE_LAYER_MAX_BYTES": "4096"})
        assert steptime.ENABLED is True
        assert decompress.LIMITS.max_bytes == 4096
        daemon._configure_process({})
        assert steptime.ENABLED is False
        assert decompress.LIMITS == decompress.DecompressionLimits()
    finally:
        steptime.enable(before[0])
        decompress.set_limits(before[1])


@pytest.mark.integration
def test_a_daemon_gets_its_proxies_and_layer_limits_from_its_own_environment(tmp_path_factory):
    from tests.daemon.conftest import make_daemon, stop_leaving_nothing
    from tests.support.busybox import make_busybox_tar

    d = make_daemon(tmp_path_factory, "envedge")
    d.env.update(HTTP_PROXY="http://proxy.invalid:3128", no_proxy="localhost",
                 PYCOMPOSE_LAYER_MAX_BYTES="1000")
    d.start()
    try:
        client = d.client()
        info = client.info()
        assert (info["HttpProxy"], info["NoProxy"]) == ("http://proxy.invalid:3128", "localhost")
        tar = make_busybox_tar(d.base / "busybox.tar")
        # the import answers 200 and streams its outcome (as Docker's): the refusal is in it
        out = str(client.api.import_image_from_data(tar.read_bytes(), repository="pcenv"))
        assert "larger than 1000 bytes uncompressed (PYCOMPOSE_LAYER_MAX_BYTES)" in out, out
        assert client.images.list() == []
    finally:
        stop_leaving_nothing(d)
