"""`pycompose convert`: config under another name without --to; with --to kubernetes, manifests
on stdout or in a directory, the unmapped table on stderr, one-line errors for bad input."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compose.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello" / "compose.yaml"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HELLO_PORT", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
        monkeypatch.delenv(name, raising=False)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["-f", str(HELLO), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_without_to_convert_is_config(capsys):
    for extra in ([], ["--services"], ["--format", "json"]):
        assert run(capsys, "config", *extra)[:2] == run(capsys, "convert", *extra)[:2]
    code, out, _ = run(capsys, "convert", "--services")
    assert code == 0 and out.split() == ["web", "worker"]


def test_to_kubernetes_writes_a_yaml_stream_and_the_table_on_stderr(capsys):
    code, out, err = run(capsys, "convert", "--to", "kubernetes", "--bind-mounts", "hostpath")
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs][-2:] == [("Deployment", "web"),
                                                                       ("Deployment", "worker")]
    assert "&id" not in out and "*id" not in out
    assert err.splitlines()[0].startswith("Not carried over faithfully (")
    assert err.splitlines()[1].split() == ["SERVICE", "KEY", "WHY"]
    assert any(line.split()[:2] == ["web", "volumes[0]"] for line in err.splitlines())
    code, dash, _ = run(capsys, "convert", "--to=kubernetes", "-o", "-", "--bind-mounts=hostpath")
    assert code == 0 and dash == out


def test_output_directory_gets_one_file_per_object(capsys, tmp_path):
    target = tmp_path / "k8s"
    code, out, _ = run(capsys, "convert", "--to", "kubernetes", "--bind-mounts", "hostpath",
                       "--service-type", "LoadBalancer", "-n", "shop", "-o", str(target))
    assert code == 0 and out == ""
    files = sorted(p.name for p in target.iterdir())
    assert files == sorted(["serviceaccount-hello-depends-on.yaml", "role-hello-depends-on.yaml",
                            "rolebinding-hello-depends-on.yaml", "service-web.yaml",
                            "service-web-published.yaml", "deployment-web.yaml",
                            "deployment-worker.yaml"])
    published = yaml.safe_load((target / "service-web-published.yaml").read_text())
    assert published["spec"]["type"] == "LoadBalancer"
    assert published["metadata"]["namespace"] == "shop"


def test_services_named_bring_their_dependencies(capsys):
    code, out, _ = run(capsys, "convert", "--to", "kubernetes", "--bind-mounts", "hostpath",
                       "worker")
    assert code == 0
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"}
    assert names == {"web", "worker"}


@pytest.mark.parametrize("args, message", [
    (["--to", "kubernetes"], "service 'web' volumes[0]: bind mount of "),
    (["--to", "helm"], "--to 'helm': the one format is kubernetes"),
    (["--to", "kubernetes", "--service-type", "Ingress"], "--service-type 'Ingress'"),
    (["--to", "kubernetes", "--bind-mounts", "copy"], "--bind-mounts 'copy'"),
    (["--to", "kubernetes", "--volume-size", "big"], "--volume-size: 'big' is not a Kubernetes quantity"),
    (["--to", "kubernetes", "--namespace", "Bad_NS"], "--namespace 'Bad_NS'"),
    (["--to", "kubernetes", "--bogus"], "no such option for convert --to: --bogus"),
    (["--to", "kubernetes", "--bind-mounts", "hostpath", "nosuch"], "no such service: nosuch"),
])
def test_bad_input_is_one_line_on_stderr(capsys, args, message):
    code, out, err = run(capsys, "convert", *args)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ") and message in err, err


def test_an_unwritable_output_is_a_one_line_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "convert", "--to", "kubernetes", "--bind-mounts", "hostpath",
                       "-o", str(blocker / "sub"))
    assert code != 0 and err.count("\n") == 1 and f"cannot write to {blocker / 'sub'}" in err


def test_help(capsys):
    code, out, _ = run(capsys, "convert", "--to", "kubernetes", "--help")
    assert code == 0 and "--service-type" in out and "--push REGISTRY" in out
    code, out, _ = run(capsys, "convert", "--help")
    assert code == 0 and "config" in out


def test_the_stream_reads_back_as_the_manifests_strings_staying_strings():
    from compose.kube.output import to_yaml, yaml_stream

    shared = {"command": ["true"]}
    manifests = [{"kind": "ConfigMap", "metadata": {"name": "c"},
                  "data": {"a": "yes", "b": "1.0", "c": "line 1\nline 2\n", "d": "", "e": "~",
                           "f": "0755", "g": "null", "h": "2001:db8::1"}},
                 {"kind": "Pod", "metadata": {"name": "p"}, "x": shared, "y": shared}]
    text = yaml_stream(manifests)
    assert list(yaml.safe_load_all(text)) == manifests
    assert "&" not in text and "*" not in text      # no anchors for the shared dict
    assert "c: |\n    line 1\n    line 2\n" in to_yaml(manifests[0])


def test_a_service_named_is_enabled_whatever_its_profile_as_up_does(capsys, tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app: {image: busybox}\n  debug: {image: busybox, profiles: [dev]}\n")
    assert main(["-f", str(tmp_path / "compose.yaml"), "convert", "--to", "kubernetes"]) == 0
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(capsys.readouterr().out) if d}
    assert names == {"app"}
    assert main(["-f", str(tmp_path / "compose.yaml"), "convert", "--to", "kubernetes", "debug"]) == 0
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(capsys.readouterr().out) if d}
    assert names == {"debug"}
