"""Secrets and configs become read-only binds where Compose puts them."""
from __future__ import annotations

import pytest

from compose.canonical import file_object_target, service_from
from compose.model import FileObject
from compose.orchestrator.create_body import CreateContext, create_body
from compose.orchestrator.errors import OrchestratorError


def ctx(**kw) -> CreateContext:
    return CreateContext(project="p", service="db", name="p-db-1", labels={}, **kw)


def test_targets_follow_compose_rules():
    assert file_object_target("secrets", "pw", None) == "/run/secrets/pw"
    assert file_object_target("secrets", "pw", "db_pw") == "/run/secrets/db_pw"
    assert file_object_target("secrets", "pw", "/etc/pw") == "/etc/pw"
    assert file_object_target("configs", "nginx", None) == "/nginx"
    assert file_object_target("configs", "nginx", "/etc/nginx.conf") == "/etc/nginx.conf"
    assert file_object_target("configs", "nginx", "rel.conf") == "/rel.conf"


def test_file_secret_and_content_config_are_read_only_binds(tmp_path):
    written = {}

    def materialize(kind, key, content):
        path = tmp_path / kind / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written[key] = content
        return str(path)

    service = {"image": "x", "secrets": [{"source": "pw"}, {"source": "pw", "target": "again"}],
               "configs": [{"source": "conf", "target": "/etc/app.conf"}]}
    body = create_body(service_from("db", service),
                       ctx(secrets={"pw": FileObject("pw", "pw", file="/srv/pw.txt")},
                           configs={"conf": FileObject("conf", "conf", content="a=1\n")},
                           materialize=materialize))
    binds = body["HostConfig"]["Binds"]
    assert "/srv/pw.txt:/run/secrets/pw:ro" in binds
    assert "/srv/pw.txt:/run/secrets/again:ro" in binds
    assert f"{tmp_path}/configs/conf:/etc/app.conf:ro" in binds
    assert written == {"conf": "a=1\n"}


def test_environment_secret_is_a_clear_error():
    service = {"image": "x", "secrets": [{"source": "tok"}]}
    with pytest.raises(OrchestratorError, match="environment secret 'tok' is not supported yet"):
        create_body(service_from("db", service),
                    ctx(secrets={"tok": FileObject("tok", "tok", environment="TOKEN")}))
