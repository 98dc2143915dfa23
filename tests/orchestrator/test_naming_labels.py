from __future__ import annotations

from compose.orchestrator import labels as L
from compose.orchestrator import naming


def test_container_names_follow_compose():
    assert naming.container_name("demo", "web", 1) == "demo-web-1"
    assert naming.scoped_name("demo", "default") == "demo_default"
    assert naming.default_network("demo") == "demo_default"
    assert naming.built_image_name("demo", "api") == "demo-api"


def test_oneoff_name_has_twelve_hex_slug():
    slug = naming.new_slug()
    assert len(slug) == 12 and int(slug, 16) >= 0
    assert naming.oneoff_name("demo", "web", slug) == f"demo-web-run-{slug}"
    assert naming.new_slug() != slug


def test_short_name_strips_project_only():
    assert naming.short_name("/demo-web-1", "demo") == "web-1"
    assert naming.short_name("custom", "demo") == "custom"
    assert naming.temporary_name("a" * 64, "demo-web-1") == "aaaaaaaaaaaa_demo-web-1"


def test_container_labels_are_composes():
    base = L.project_labels("demo", "/src", ["/src/compose.yaml", "/src/o.yaml"])
    labels = L.container_labels(base, service="web", config_hash="abc", number=2,
                                image="sha256:1", depends_on=L.depends_on_value(
                                    [("db", "service_healthy", False)]),
                                user_labels={"com.docker.compose.project": "evil", "x": "y"})
    assert labels == {
        "x": "y",
        "com.docker.compose.project": "demo",
        "com.docker.compose.project.working_dir": "/src",
        "com.docker.compose.project.config_files": "/src/compose.yaml,/src/o.yaml",
        "com.docker.compose.version": L.COMPOSE_VERSION,
        "com.docker.compose.service": "web",
        "com.docker.compose.config-hash": "abc",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.depends_on": "db:service_healthy:false",
        "com.docker.compose.image": "sha256:1",
        "com.docker.compose.container-number": "2",
    }


def test_oneoff_labels_have_slug_and_no_number():
    labels = L.container_labels({}, service="web", config_hash="h", slug="0123456789ab")
    assert labels[L.ONEOFF] == "True"
    assert labels[L.SLUG] == "0123456789ab"
    assert L.NUMBER not in labels
    assert L.is_oneoff(labels)


def test_filters_select_by_label():
    assert L.filters("demo", "web", oneoff=False) == {"label": [
        "com.docker.compose.project=demo", "com.docker.compose.service=web",
        "com.docker.compose.oneoff=False"]}


def test_network_and_volume_labels():
    assert L.resource_labels(L.NETWORK, "default", "demo") == {
        "com.docker.compose.network": "default", "com.docker.compose.project": "demo",
        "com.docker.compose.version": L.COMPOSE_VERSION}
