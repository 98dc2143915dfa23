"""Every manifest `convert --to kubernetes` writes passes the Kubernetes API schemas of a named
release (offline, strict: an unknown field fails), and the name and label rules the API server
enforces beyond the schemas; for both examples and every awesome-compose stack."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compose.kube.context import BindMounts, ConversionError, ConvertOptions, is_label_key
from compose.kube.convert import convert_project
from compose.project import ProjectOptions, load
from tests.support.testdeps import require

kubernetes_validate = require("kubernetes_validate", "kubernetes-validate")

# the newest release kubernetes-validate carries here; pinned so a package update that drops or
# changes it is a visible change, not a silent one
K8S_VERSION = "1.37.0"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CORPUS = ROOT / ".." / "shared" / "corpus"
STACKS = CORPUS / "awesome-compose"
PRESENT = STACKS.is_dir()
REASON = (f"needs the shared compose test vectors at {os.path.normpath(CORPUS)} "
          "(../shared/corpus beside the clone), which are not there")
if not PRESENT and os.environ.get("PYCOMPOSE_REQUIRE_CORPUS") == "1":
    raise RuntimeError(f"PYCOMPOSE_REQUIRE_CORPUS=1 but {REASON}")
FILES = sorted(p for d in STACKS.iterdir() if d.is_dir() for p in d.glob("compose.y*ml")) \
    if PRESENT else []

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_IANA = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def check_api_rules(m: dict) -> None:
    """What the API server would refuse although the schema allows it."""
    meta = m["metadata"]
    where = f"{m['kind']}/{meta['name']}"
    name_rule = _DNS_1035 if m["kind"] in ("Service", "Deployment", "StatefulSet", "Job") else _DNS_LABEL
    assert name_rule.match(meta["name"]) and len(meta["name"]) <= 63, where
    for key, value in {**meta.get("labels", {}), **_template(m).get("labels", {})}.items():
        assert is_label_key(key) and len(value) <= 63 and _LABEL_VALUE.match(value), (where, key)
    for key in {**meta.get("annotations", {}), **_template(m).get("annotations", {})}:
        assert is_label_key(key), (where, key)
    spec = m.get("spec", {})
    if m["kind"] == "Service":
        names = [p["name"] for p in spec.get("ports", [])]
        assert len(set(names)) == len(names), where
        assert all(_IANA.match(n) and len(n) <= 15 and "--" not in n for n in names), where
        for p in spec.get("ports", []):
            assert 30000 <= p.get("nodePort", 30000) <= 32767, where
    if "template" in spec:
        labels = spec["template"]["metadata"]["labels"]
        selector = spec.get("selector", {}).get("matchLabels", {})
        assert all(labels.get(k) == v for k, v in selector.items()), where
        pod = spec["template"]["spec"]
        volumes = [v["name"] for v in pod.get("volumes", [])]
        assert len(set(volumes)) == len(volumes), where
        assert all(_DNS_LABEL.match(v) and len(v) <= 63 for v in volumes), where
        containers = pod["containers"] + pod.get("initContainers", [])
        cnames = [c["name"] for c in containers]
        assert len(set(cnames)) == len(cnames), where
        for c in containers:
            assert _DNS_LABEL.match(c["name"]), where
            ports = [(p["containerPort"], p["protocol"]) for p in c.get("ports", [])]
            assert len(set(ports)) == len(ports), where
            for mount in c.get("volumeMounts", []):
                assert mount["name"] in volumes, (where, mount)
        if m["kind"] == "Job":
            assert pod["restartPolicy"] in ("Never", "OnFailure"), where
        else:
            assert pod["restartPolicy"] == "Always", where


def _template(m: dict) -> dict:
    return m.get("spec", {}).get("template", {}).get("metadata", {})


def validate_all(manifests: list[dict]) -> None:
    assert manifests
    names = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert len(set(names)) == len(names), names
    for m in manifests:
        # raises ValidationError, or SchemaNotFoundError for a kind/apiVersion the release lacks
        assert kubernetes_validate.validate(m, K8S_VERSION, strict=True) == "1.37"
        check_api_rules(m)


def test_the_validator_is_strict_about_unknown_fields():
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dataa": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate({**bad, "kind": "Nonsense"}, K8S_VERSION, strict=True)


def _model(file: Path):
    return load(ProjectOptions(files=(str(file),), environment={})).project


@pytest.mark.parametrize("example", ["hello", "webapp"])
def test_examples_validate(example):
    project = _model(EXAMPLES / example / "compose.yaml")
    # both bind-mount their sources: refused by default, hostPath when asked
    with pytest.raises(ConversionError, match=r"^service '\w+' volumes\[\d\]: bind mount"):
        convert_project(project, ConvertOptions())
    result = convert_project(project, ConvertOptions(bind_mounts=BindMounts.HOSTPATH))
    validate_all(result.manifests)
    kinds = {(m["kind"], m["metadata"]["name"]) for m in result.manifests}
    if example == "hello":
        assert {("Deployment", "web"), ("Deployment", "worker"), ("Service", "web"),
                ("Service", "web-published")} <= kinds
    else:
        assert {("StatefulSet", "db"), ("Job", "migrate"), ("Deployment", "web"),
                ("StatefulSet", "assets"), ("Secret", "db-password"),
                ("PersistentVolumeClaim", "db-data"), ("PersistentVolumeClaim", "assets")} <= kinds


def _has_bind(project) -> bool:
    return any(v.type.value == "bind" for s in project.services.values() for v in s.volumes)


@pytest.mark.skipif(not PRESENT, reason=REASON)
def test_corpus_has_16_stacks_without_bind_mounts():
    assert len(FILES) == 39
    assert len([f for f in FILES if not _has_bind(_model(f))]) == 16


@pytest.mark.skipif(not PRESENT, reason=REASON)
@pytest.mark.parametrize("file", FILES, ids=lambda f: f.parent.name)
def test_corpus_stack_validates(file):
    project = _model(file)
    if _has_bind(project):
        # not the acceptance set, but checked too: the refusal names a service, and hostPath
        # manifests are as valid as the rest
        with pytest.raises(ConversionError, match=r"^service '[^']+' volumes\[\d+\]: bind mount"):
            convert_project(project, ConvertOptions())
        result = convert_project(project, ConvertOptions(bind_mounts=BindMounts.HOSTPATH))
    else:
        result = convert_project(project, ConvertOptions())
    validate_all(result.manifests)
    workloads = {m["metadata"]["labels"]["io.pycompose.service"] for m in result.manifests
                 if m["kind"] in ("Deployment", "StatefulSet", "Job")}
    assert len(workloads) == len(project.services)
