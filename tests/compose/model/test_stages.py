"""Unit tests of each loading stage: normalize, schema, model, graph, profiles, extends, include."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from compose import schema
from compose.errors import ComposeError
from compose.graph import find_cycle
from compose.loader.yaml_reader import read_yaml
from compose.merge import merge_all, unicity
from compose.model import Condition, MountType, RestartPolicy, config_hash
from compose.normalize import (NormalizeError, Normalizer, format_duration, parse_duration,
                               parse_port, parse_volume)
from compose.project import ProjectOptions, load

STACKS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "awesome-compose"


def _load(tmp_path: Path, text: str, env: dict | None = None, **kw):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    return load(ProjectOptions(files=(str(tmp_path / "compose.yaml"),), environment=env or {}, **kw))


# --- normalize ------------------------------------------------------------------------------

def test_ports_short_syntax():
    assert parse_port("8080:80", "k") == [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]
    assert parse_port("127.0.0.1:53:53/udp", "k") == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 53, "published": "53", "protocol": "udp"}]
    assert parse_port(3000, "k") == [{"mode": "ingress", "target": 3000, "protocol": "tcp"}]
    assert [p["published"] for p in parse_port("9000-9002:8000-8002", "k")] == ["9000", "9001", "9002"]
    assert [p["target"] for p in parse_port("8000-8002", "k")] == [8000, 8001, 8002]
    assert parse_port("8000-8010:80", "k")[0]["published"] == "8000-8010"
    assert parse_port("[::1]:8080:80", "k")[0]["host_ip"] == "::1"
    with pytest.raises(NormalizeError):
        parse_port("1-3:1-2", "k")
    with pytest.raises(NormalizeError):
        parse_port("abc", "k")


def test_volumes_short_syntax():
    assert parse_volume("/data", "k") == {"type": "volume", "target": "/data", "volume": {}}
    assert parse_volume("db:/var/lib/db:ro,nocopy", "k") == {
        "type": "volume", "source": "db", "target": "/var/lib/db", "read_only": True, "volume": {"nocopy": True}}
    assert parse_volume("./src:/app/:z", "k") == {
        "type": "bind", "source": "./src", "target": "/app", "bind": {"create_host_path": True, "selinux": "z"}}
    assert parse_volume("${HOME_DIR:-/x}:/y", "k")["source"] == "${HOME_DIR:-/x}"


def test_durations_are_go_style():
    assert format_duration(parse_duration("60s")) == "1m0s"
    assert format_duration(parse_duration("1m30s")) == "1m30s"
    assert format_duration(parse_duration("500ms")) == "500ms"
    assert format_duration(parse_duration("1.5s")) == "1.5s"
    assert format_duration(parse_duration("2h")) == "2h0m0s"


def test_canonical_service(tmp_path):
    (tmp_path / "web.env").write_text("FROM_FILE=1\nBOTH=file\n")
    r = _load(tmp_path, """
        name: demo
        services:
          web:
            build: ./app
            command: python -m http.server "8 0"
            environment:
              - BOTH=env
              - FROM_SHELL
              - MISSING
            env_file: web.env
            depends_on: [db]
            links: [cache]
            ports: ["8080:80"]
            volumes: ["./data:/data", "db:/db"]
            networks: [front]
            healthcheck:
              test: curl -f http://localhost
              interval: 90s
            restart: on-failure:3
          db:
            image: postgres
            volumes_from: [cache]
          cache:
            image: redis
            pull_policy: if_not_present
          sidecar:
            image: x
            network_mode: service:db
        networks:
          front:
        volumes:
          db:
            external: true
        """, env={"FROM_SHELL": "shell"})
    c = r.canonical
    web = c["services"]["web"]
    assert web["build"] == {"context": str(tmp_path / "app"), "dockerfile": "Dockerfile"}
    assert web["command"] == ["python", "-m", "http.server", "8 0"]
    assert web["environment"] == {"FROM_FILE": "1", "BOTH": "env", "FROM_SHELL": "shell", "MISSING": None}
    assert "env_file" not in web   # merged into environment, as Compose v2 prints it
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True},
                                 "cache": {"condition": "service_started", "restart": True, "required": True}}
    assert web["volumes"][0] == {"type": "bind", "source": str(tmp_path / "data"), "target": "/data",
                                 "bind": {"create_host_path": True}}
    assert web["networks"] == {"front": None}
    assert web["healthcheck"]["test"] == ["CMD-SHELL", "curl -f http://localhost"]
    assert web["healthcheck"]["interval"] == "1m30s"
    assert c["services"]["db"]["depends_on"] == {"cache": {"condition": "service_started", "required": True}}
    assert c["services"]["sidecar"]["depends_on"]["db"]["restart"] is True
    assert "networks" not in c["services"]["sidecar"]
    assert c["services"]["cache"]["pull_policy"] == "missing"
    assert c["networks"] == {"front": {"name": "demo_front"}, "default": {"name": "demo_default"}}
    assert c["volumes"] == {"db": {"name": "db", "external": True}}
    assert list(c) == ["name", "services", "networks", "volumes"]
    # the frozen model
    p = r.project
    w = p.services["web"]
    assert w.build.context == str(tmp_path / "app")
    assert w.ports[0].target == 80 and w.ports[0].published == "8080"
    assert w.volumes[1].type is MountType.VOLUME and w.volumes[1].source == "db"
    assert w.depends_on[0].condition is Condition.STARTED
    assert w.restart.policy is RestartPolicy.ON_FAILURE and w.restart.max_retries == 3
    assert w.healthcheck.interval_ns == 90 * 10**9
    with pytest.raises(Exception):
        w.image = "x"  # frozen
    with pytest.raises(TypeError):
        w.environment["X"] = "1"  # read-only mapping


def test_secrets_and_configs(tmp_path):
    r = _load(tmp_path, """
        services:
          web:
            image: x
            secrets: [db_pw, {source: api, target: key}]
            configs: [conf]
        secrets:
          db_pw: {file: ./pw.txt}
          api: {environment: API_KEY}
        configs:
          conf: {content: "hello"}
        """)
    web = r.project.services["web"]
    assert [s.target for s in web.secrets] == ["/run/secrets/db_pw", "/run/secrets/key"]
    assert web.configs[0].target == "/conf"
    assert r.project.secrets["db_pw"].file == str(tmp_path / "pw.txt")
    assert r.project.secrets["db_pw"].name == f"{tmp_path.name.lower()}_db_pw"
    with pytest.raises(ComposeError, match="undefined secret 'nope'"):
        _load(tmp_path, "services:\n  web:\n    image: x\n    secrets: [nope]\n")


# --- schema ----------------------------------------------------------------------------------

def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(schema.load_schema())
    props = schema.load_schema()["definitions"]["service"]["properties"]
    assert len(props) >= 92 and schema.SUPPORTED_SERVICE_KEYS <= set(props)


BAD_DOCS = [
    {"services": {"web": {"ports": 80}}},
    {"services": {"web": {"image": 1}}},
    {"services": {"web": {"restart": "sometimes"}}},
    {"services": {"web": {"depends_on": {"db": {"condition": "service_ready"}}}}},
    {"services": {"web": {"volumes": [{"source": "x", "target": "/x"}]}}},
    {"services": {"web": {"healthcheck": {"interval": "ten"}}}},
    {"services": {"we b": {}}},
    {"services": {}, "bogus": 1},
    {"services": {"web": {"deploy": {"resources": {"limits": {"memory": "lots"}}}}}},
]


def test_builtin_checker_agrees_with_jsonschema():
    s = schema.load_schema()
    validator = jsonschema.Draft7Validator(s)
    docs = [yaml.safe_load(f.read_text()) for f in sorted(STACKS.glob("*/compose.y*"))] + BAD_DOCS
    for doc in docs:
        doc.pop("version", None)
        assert schema._Checker(s).valid(s, doc) == validator.is_valid(doc), doc
    assert sum(validator.is_valid(d) for d in BAD_DOCS) == 0


def test_schema_error_names_line_and_path():
    doc = read_yaml("services:\n  web:\n    image: x\n    restart: sometimes\n", "c.yaml")
    with pytest.raises(ComposeError) as e:
        schema.validate(doc.data, filename="c.yaml", line_of=doc.line_of)
    assert str(e.value).startswith("c.yaml:4: services.web.restart: ")


def test_unsupported_attributes_warn(tmp_path):
    r = _load(tmp_path, "services:\n  web:\n    image: x\n    ulimits: {nproc: 1}\n    logging: {driver: x}\n"
                        "    sysctls: {a: 1}\n")
    assert "services.web: attributes not supported yet, ignored: logging, ulimits" in r.warnings


# --- merge with tags ---------------------------------------------------------------------------

def test_reset_and_override_tags():
    base = read_yaml("services:\n  web:\n    image: a\n    ports: ['80:80']\n"
                     "    environment: {A: '1', B: '2'}\n    command: [x]\n").data
    over = read_yaml("services:\n  web:\n    ports: !reset []\n    environment:\n      A: !reset\n"
                     "    command: !override [y]\n").data
    merged = unicity(merge_all([base, over]))
    assert "ports" not in merged["services"]["web"]
    assert merged["services"]["web"]["environment"] == ["B=2"]
    assert merged["services"]["web"]["command"] == ["y"]


def test_override_file_merge(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: a\n    ports: ['80:80']\n")
    (tmp_path / "over.yaml").write_text("services:\n  web:\n    image: b\n    ports: ['80:80', '81:81']\n")
    r = load(ProjectOptions(files=(str(tmp_path / "compose.yaml"), str(tmp_path / "over.yaml")), environment={}))
    assert r.project.services["web"].image == "b"
    assert [p.target for p in r.project.services["web"].ports] == [80, 81]


# --- config hash -------------------------------------------------------------------------------

def test_config_hash_stable_and_sensitive(tmp_path):
    base = "services:\n  web:\n    image: x\n    environment: {A: '1', B: '2'}\n"
    h1 = config_hash(_load(tmp_path, base).project.services["web"])
    assert h1 == config_hash(_load(tmp_path, base).project.services["web"])
    # same config spelled differently -> same hash
    same = "services:\n  web:\n    environment: [B=2, A=1]\n    image: x\n"
    assert config_hash(_load(tmp_path, same).project.services["web"]) == h1
    # scale, replicas, depends_on, profiles, build, pull_policy don't count
    extra = base + "    scale: 3\n    pull_policy: always\n    profiles: [p]\n"
    assert config_hash(_load(tmp_path, extra, profiles=("p",)).project.services["web"]) == h1
    changed = "services:\n  web:\n    image: x\n    environment: {A: '1', B: '3'}\n"
    assert config_hash(_load(tmp_path, changed).project.services["web"]) != h1
    assert len(h1) == 64


# --- graph -------------------------------------------------------------------------------------

GRAPH = """
    services:
      web: {image: x, depends_on: [api, cache]}
      api: {image: x, depends_on: {db: {condition: service_healthy}}}
      worker: {image: x, links: [db]}
      db: {image: x}
      cache: {image: x}
"""


def test_generations_and_stop_order(tmp_path):
    from compose.orchestrator.project_view import from_model

    loaded = _load(tmp_path, GRAPH)
    g = from_model(loaded.project).graph   # what `up` orders by
    # the canonical form lists services by name, so a generation does too
    assert g.start_generations() == [["cache", "db"], ["api", "worker"], ["web"]]
    assert g.stop_generations() == [["web"], ["api", "worker"], ["cache", "db"]]
    assert g.start_generations(g.closure(["api"])) == [["db"], ["api"]]
    assert g.digraph.edges["db", "api"]["edge"].condition == Condition.HEALTHY.value
    assert [e.dependency for e in g.dependencies("web")] == ["api", "cache"]
    assert g.restart_triggers("worker") == ("db",)   # links restart with their target


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": []}) is None


# --- profiles ----------------------------------------------------------------------------------

PROFILES = """
    services:
      web: {image: x}
      debug: {image: x, profiles: [debug]}
      tools: {image: x, profiles: [tools], depends_on: [helper]}
      helper: {image: x, profiles: [helper]}
"""


def test_profiles(tmp_path):
    assert set(_load(tmp_path, PROFILES).project.services) == {"web"}
    assert set(_load(tmp_path, PROFILES, profiles=("debug",)).project.services) == {"web", "debug"}
    assert set(_load(tmp_path, PROFILES, env={"COMPOSE_PROFILES": "debug"}).project.services) == {"web", "debug"}
    assert set(_load(tmp_path, PROFILES, profiles=("*",)).project.services) == {"web", "debug", "tools", "helper"}
    assert set(_load(tmp_path, PROFILES, services=("debug",)).project.services) == {"web", "debug"}
    with pytest.raises(ComposeError, match="'helper' was pulled in as a dependency of service 'tools'"):
        _load(tmp_path, PROFILES, profiles=("tools",))
    ok = _load(tmp_path, PROFILES, profiles=("tools", "helper")).project
    assert set(ok.services) == {"web", "tools", "helper"} and "debug" in ok.disabled_services


# --- extends -----------------------------------------------------------------------------------

def test_extends_same_and_other_file(tmp_path):
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "base.yaml").write_text(textwrap.dedent("""
        services:
          base:
            image: base
            environment: {A: "1"}
            volumes: ["./data:/data"]
            build: ./ctx
    """))
    r = _load(tmp_path, """
        services:
          mid:
            extends: {file: common/base.yaml, service: base}
            environment: {B: "2"}
          web:
            extends: mid
            command: [run]
    """)
    web = r.canonical["services"]["web"]
    assert web["image"] == "base" and web["command"] == ["run"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert web["volumes"][0]["source"] == str(tmp_path / "common" / "data")
    assert web["build"]["context"] == str(tmp_path / "common" / "ctx")


def test_extends_cycle(tmp_path):
    with pytest.raises(ComposeError, match="circular reference with extends: a -> b -> a"):
        _load(tmp_path, "services:\n  a: {extends: b, image: x}\n  b: {extends: a}\n")


# --- include -----------------------------------------------------------------------------------

def test_include(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / ".env").write_text("DB_IMAGE=postgres:16\nTAG=from-include\n")
    (tmp_path / "db" / "compose.yaml").write_text(textwrap.dedent("""
        services:
          db:
            image: ${DB_IMAGE}
            labels: {tag: "${TAG}"}
            volumes: ["./init:/docker-entrypoint-initdb.d", "dbdata:/var/lib/postgresql/data"]
        volumes:
          dbdata: {}
          unused: {}
    """))
    r = _load(tmp_path, """
        include: [db/compose.yaml]
        services:
          web: {image: x, depends_on: [db]}
    """, env={"TAG": "from-shell"})
    db = r.canonical["services"]["db"]
    assert db["image"] == "postgres:16"
    assert db["labels"] == {"tag": "from-shell"}
    assert db["volumes"][0]["source"] == str(tmp_path / "db" / "init")
    assert list(r.canonical["volumes"]) == ["dbdata"]   # imported; unused ones dropped (Compose v2)
    with pytest.raises(ComposeError, match="services.db conflicts with imported resource"):
        _load(tmp_path, "include: [db/compose.yaml]\nservices:\n  db: {image: other}\n")


# --- more consistency checks --------------------------------------------------------------------

def test_duplicate_container_name(tmp_path):
    with pytest.raises(ComposeError, match="container name 'xy' is already in use by service 'a'"):
        _load(tmp_path, "services:\n  a: {image: i, container_name: xy}\n  b: {image: i, container_name: xy}\n")


def test_optional_dependencies(tmp_path):
    """Compose v2: an optional dependency on a profile-disabled service is kept (up skips it);
    one on a service that does not exist is an error all the same."""
    r = _load(tmp_path, """
        services:
          web:
            image: x
            depends_on:
              dbg: {condition: service_started, required: false}
          dbg: {image: x, profiles: [debug]}
    """)
    assert r.canonical["services"]["web"]["depends_on"] == {
        "dbg": {"condition": "service_started", "required": False}}
    assert [d.service for d in r.project.services["web"].depends_on] == ["dbg"]
    with pytest.raises(ComposeError, match="depends on undefined service 'ghost'"):
        _load(tmp_path, """
            services:
              web:
                image: x
                depends_on:
                  ghost: {condition: service_started, required: false}
        """)


def test_deploy_is_normalized(tmp_path):
    r = _load(tmp_path, """
        services:
          web:
            image: x
            deploy:
              replicas: 2
              resources: {limits: {cpus: "0.5", memory: 64m, pids: 100}}
              restart_policy: {condition: on-failure, max_attempts: 3, delay: 5s}
    """)
    deploy = r.canonical["services"]["web"]["deploy"]
    assert deploy["resources"]["limits"] == {"cpus": 0.5, "memory": str(64 << 20), "pids": 100}
    web = r.project.services["web"]
    assert web.replicas == 2 and web.deploy.limits.memory == 64 << 20 and web.deploy.limits.cpus == 0.5
    assert web.deploy.restart_policy == type(web.restart)(RestartPolicy.ON_FAILURE, 3)
    with pytest.raises(ComposeError, match="distinct values on 'scale' and 'deploy.replicas'"):
        _load(tmp_path, "services:\n  web: {image: x, scale: 1, deploy: {replicas: 2}}\n")
    with pytest.raises(ComposeError, match="distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"):
        _load(tmp_path, "services:\n  web: {image: x, mem_limit: 1g, deploy: {resources: {limits: {memory: 2g}}}}\n")
    same = _load(tmp_path, "services:\n  web: {image: x, cpus: 0.5, deploy: {resources: {limits: {cpus: '0.5'}}}}\n")
    assert same.project.services["web"].cpus == 0.5


def test_include_cycle_and_extends_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\nservices:\n  a: {image: x}\n")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\nservices:\n  b: {image: x}\n")
    with pytest.raises(ComposeError, match="include cycle detected"):
        load(ProjectOptions(files=(str(tmp_path / "a.yaml"),), environment={}))
    with pytest.raises(ComposeError, match="service 'nope' not found"):
        _load(tmp_path, "services:\n  web: {extends: nope}\n")
    with pytest.raises(ComposeError, match="extends file .*missing.yaml not found"):
        _load(tmp_path, "services:\n  web: {extends: {file: missing.yaml, service: x}}\n")


def test_reset_and_override_across_files(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        'services:\n  web:\n    image: a\n    ports: ["80:80"]\n    environment: {A: "1", B: "${B:-2}"}\n'
        "    command: [x, y]\n")
    (tmp_path / "over.yaml").write_text(
        "services:\n  web:\n    ports: !reset []\n    environment:\n      A: !reset\n    command: !override [z]\n")
    r = load(ProjectOptions(files=(str(tmp_path / "compose.yaml"), str(tmp_path / "over.yaml")), environment={}))
    web = r.canonical["services"]["web"]
    assert "ports" not in web and web["environment"] == {"B": "2"} and web["command"] == ["z"]


def test_env_file_formats_and_errors(tmp_path):
    (tmp_path / "a.env").write_text('A="quoted ${X}"\nB=plain\n')
    (tmp_path / "raw.env").write_text('R=${NOT_EXPANDED}\nB="raw"\n')
    r = _load(tmp_path, """
        services:
          web:
            image: x
            env_file:
              - a.env
              - {path: raw.env, format: raw}
              - {path: optional.env, required: false}
        """, env={"X": "x"})
    assert r.canonical["services"]["web"]["environment"] == {"A": "quoted x", "B": '"raw"', "R": "${NOT_EXPANDED}"}
    (tmp_path / "bad.env").write_text('A="unterminated\n')
    with pytest.raises(ComposeError, match="bad.env"):
        _load(tmp_path, "services:\n  web: {image: x, env_file: bad.env}\n")


def test_include_long_form_with_project_directory_and_env_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "svc.yaml").write_text(
        "services:\n  lib:\n    image: ${LIB_IMAGE}\n    build: ./ctx\n")
    (tmp_path / "lib.env").write_text("LIB_IMAGE=lib:2\n")
    (tmp_path / "other").mkdir()
    r = _load(tmp_path, """
        include:
          - path: lib/svc.yaml
            project_directory: other
            env_file: lib.env
        services:
          web: {image: x}
    """)
    lib = r.canonical["services"]["lib"]
    assert lib["image"] == "lib:2"
    assert lib["build"]["context"] == str(tmp_path / "other" / "ctx")
    with pytest.raises(ComposeError, match="env file .*nope.env not found"):
        _load(tmp_path, "include:\n  - {path: lib/svc.yaml, env_file: nope.env}\nservices: {}\n")


def test_build_ssh_paths_are_absolute(tmp_path):
    r = _load(tmp_path, """
        services:
          web:
            build:
              context: .
              ssh: [default, "key=./id_rsa"]
    """)
    assert r.canonical["services"]["web"]["build"]["ssh"] == ["default", f"key={tmp_path}/id_rsa"]
