"""convert --to kubernetes: each compose construct and the manifest it becomes (pure, no
cluster, no engine)."""
from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.kube.context import BindMounts, ConversionError, ConvertOptions, ServiceType
from compose.kube.convert import convert_project
from compose.kube.names import NameTable, dns_label, is_dns_label
from compose.project import ProjectOptions, load


def project_of(tmp_path: Path, text: str, env: dict | None = None, files: dict | None = None):
    """The model of a compose file written into tmp_path (plus other files beside it)."""
    for name, content in (files or {}).items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent(text))
    return load(ProjectOptions(files=(str(path),), environment=env or {})).project


def convert(tmp_path: Path, text: str, **kwargs):
    env = kwargs.pop("env", None)
    files = kwargs.pop("files", None)
    return convert_project(project_of(tmp_path, text, env, files), ConvertOptions(**kwargs))


def find(result, kind: str, name: str) -> dict:
    hits = [m for m in result.manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name} in {[(m['kind'], m['metadata']['name']) for m in result.manifests]}"
    return hits[0]


def kinds(result) -> list[tuple[str, str]]:
    return [(m["kind"], m["metadata"]["name"]) for m in result.manifests]


def pod(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]


def main_container(manifest: dict) -> dict:
    return pod(manifest)["containers"][0]


def notes(result) -> set[tuple[str, str]]:
    return {(u.service, u.key) for u in result.unmapped}


# --- names ------------------------------------------------------------------------------------

def test_dns_label_keeps_valid_names_and_sanitizes_others_deterministically():
    assert dns_label("web") == "web"
    assert dns_label("My_App.v2") == "my-app-v2"
    assert dns_label("1st") == "x-1st"
    assert dns_label("a" * 80) == dns_label("a" * 80)
    assert len(dns_label("a" * 80)) <= 52 and is_dns_label(dns_label("a" * 80))


def test_names_that_sanitize_alike_stay_apart_and_the_valid_one_keeps_its_name():
    table = NameTable("service", ["web_1", "web-1"])
    assert table["web-1"] == "web-1"
    assert table["web_1"] != "web-1" and is_dns_label(table["web_1"])
    assert [(r.original, r.name) for r in table.renames()] == [("web_1", table["web_1"])]


def test_a_renamed_service_is_reported_and_used_consistently(tmp_path):
    result = convert(tmp_path, """
        services:
          My_Web:
            image: nginx
            ports: ["80"]
    """)
    assert find(result, "Deployment", "my-web")
    assert find(result, "Service", "my-web")["spec"]["selector"]["io.pycompose.service"] == "my-web"
    assert ("My_Web", "name") in notes(result)


# --- workload kinds ---------------------------------------------------------------------------

def test_workload_kinds(tmp_path):
    result = convert(tmp_path, """
        services:
          db:
            image: postgres
            volumes: [data:/var/lib/postgresql/data]
          migrate:
            image: app
            command: ["migrate"]
          once:
            image: busybox
            restart: "no"
            command: ["echo", "hi"]
          web:
            image: app
            deploy: {replicas: 3}
            depends_on:
              migrate: {condition: service_completed_successfully}
              db: {condition: service_healthy}
          cache:
            image: redis
            read_only: true
            volumes: [data:/data:ro]
        volumes:
          data:
    """)
    assert find(result, "StatefulSet", "db")["spec"]["serviceName"] == "db"
    job = find(result, "Job", "migrate")
    assert pod(job)["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert find(result, "Job", "once")
    web = find(result, "Deployment", "web")
    assert web["spec"]["replicas"] == 3 and pod(web)["restartPolicy"] == "Always"
    # a read-only use of a named volume keeps no data: a Deployment, recreated, not rolled
    cache = find(result, "Deployment", "cache")
    assert cache["spec"]["strategy"] == {"type": "Recreate"}


def test_scale_is_the_replica_count(tmp_path):
    result = convert(tmp_path, """
        services:
          w: {image: busybox, scale: 2}
    """)
    assert find(result, "Deployment", "w")["spec"]["replicas"] == 2


def test_job_retries_from_on_failure_and_a_long_running_restart_policy_is_noted(tmp_path):
    result = convert(tmp_path, """
        services:
          task:
            image: busybox
            restart: on-failure:4
          web:
            image: nginx
            restart: "no"
            ports: ["80"]
            depends_on:
              task: {condition: service_completed_successfully}
    """)
    assert find(result, "Job", "task")["spec"]["backoffLimit"] == 4
    assert find(result, "Deployment", "web")
    assert ("web", "restart") in notes(result)


# --- Services ---------------------------------------------------------------------------------

def test_services_for_reachable_services_only(tmp_path):
    result = convert(tmp_path, """
        services:
          web:
            image: nginx
            ports: ["127.0.0.1:30080:80", "8443:443/tcp"]
            expose: ["9000"]
          db:
            image: postgres
          worker:
            image: busybox
            depends_on:
              db: {condition: service_started}
    """)
    web = find(result, "Service", "web")
    assert web["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in web["spec"]["ports"]] == [(80, 80), (443, 443), (9000, 9000)]
    db = find(result, "Service", "db")
    assert db["spec"]["clusterIP"] == "None" and "ports" not in db["spec"]
    assert ("Service", "worker") not in kinds(result)
    published = find(result, "Service", "web-published")
    assert published["spec"]["type"] == "NodePort"
    assert [(p["port"], p["targetPort"], p.get("nodePort")) for p in published["spec"]["ports"]] == \
        [(30080, 80, 30080), (8443, 443, None)]
    assert published["metadata"]["annotations"]["io.pycompose.published"] == \
        "127.0.0.1:30080:80/tcp,8443:443/tcp"
    assert {("web", "ports[1]"), ("web", "ports[0].host_ip")} <= notes(result)


def test_load_balancer_and_cluster_ip_service_types(tmp_path):
    text = """
        services:
          web: {image: nginx, ports: ["8080:80"]}
    """
    lb = convert(tmp_path, text, service_type=ServiceType.LOAD_BALANCER)
    spec = find(lb, "Service", "web-published")["spec"]
    assert spec["type"] == "LoadBalancer" and spec["ports"][0]["port"] == 8080
    assert ("web", "ports[0]") not in notes(lb)
    internal = convert(tmp_path, text, service_type=ServiceType.CLUSTER_IP)
    assert ("Service", "web-published") not in kinds(internal)
    assert ("web", "ports") in notes(internal)


def test_aliases_and_links_get_their_own_services(tmp_path):
    result = convert(tmp_path, """
        services:
          db:
            image: postgres
            expose: ["5432"]
            networks:
              default:
                aliases: [database, Pg_Main]
          app:
            image: app
            links: ["db:sql"]
    """)
    for name in ("db", "database", "pg-main", "sql"):
        spec = find(result, "Service", name)["spec"]
        assert spec["selector"]["io.pycompose.service"] == "db"
        assert spec["ports"][0]["port"] == 5432
    assert ("db", "networks.default.aliases") in notes(result)   # Pg_Main renamed


# --- depends_on -------------------------------------------------------------------------------

def test_depends_on_conditions_become_waiting_init_containers(tmp_path):
    result = convert(tmp_path, """
        services:
          db:
            image: postgres
            healthcheck: {test: ["CMD", "pg_isready"]}
          cache: {image: redis}
          migrate: {image: app}
          web:
            image: app
            depends_on:
              db: {condition: service_healthy}
              cache: {condition: service_started, restart: true}
              migrate: {condition: service_completed_successfully}
    """, wait_image="example/kubectl:1")
    web = pod(find(result, "Deployment", "web"))
    waits = {c["name"]: c["command"] for c in web["initContainers"]}
    selector = "--selector=io.pycompose.project={p},io.pycompose.service={s}"
    project = find(result, "Deployment", "web")["metadata"]["labels"]["io.pycompose.project"]
    assert waits["wait-for-db"][:4] == ["kubectl", "wait", "--for=condition=Ready", "pod"]
    assert waits["wait-for-db"][4] == selector.format(p=project, s="db")
    assert waits["wait-for-cache"][2] == "--for=jsonpath={.status.phase}=Running"
    assert waits["wait-for-migrate"][2:4] == ["--for=condition=Complete", "job/migrate"]
    assert {c["image"] for c in web["initContainers"]} == {"example/kubectl:1"}
    assert web["serviceAccountName"] == find(result, "ServiceAccount", web["serviceAccountName"])["metadata"]["name"]
    binding = find(result, "RoleBinding", web["serviceAccountName"])
    assert binding["subjects"][0]["namespace"] == "default"
    role = find(result, "Role", web["serviceAccountName"])
    assert {r["resources"][0] for r in role["rules"]} == {"pods", "jobs"}
    annotation = find(result, "Deployment", "web")["spec"]["template"]["metadata"]["annotations"]
    assert annotation["io.pycompose.depends-on"] == \
        '{"cache": "service_started", "db": "service_healthy", "migrate": "service_completed_successfully"}'
    assert ("web", "depends_on.cache.restart") in notes(result)


def test_no_account_without_waits_and_a_waiting_job_ignores_wait_failures(tmp_path):
    plain = convert(tmp_path, "services:\n  a: {image: busybox}\n")
    assert [k for k, _ in kinds(plain)] == ["Deployment"]
    result = convert(tmp_path, """
        services:
          db: {image: postgres, healthcheck: {test: ["CMD", "true"]}}
          seed:
            image: app
            restart: "no"
            depends_on: {db: {condition: service_healthy}}
    """)
    policy = find(result, "Job", "seed")["spec"]["podFailurePolicy"]
    assert policy["rules"] == [{"action": "Ignore", "onExitCodes": {
        "containerName": "wait-for-db", "operator": "NotIn", "values": [0]}}]


# --- the container ----------------------------------------------------------------------------

def test_healthcheck_as_probes_with_compose_timings(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: busybox
            healthcheck:
              test: "wget -q -O- localhost"
              interval: 10s
              timeout: 2s
              retries: 4
              start_period: 30s
              start_interval: 500ms
          b:
            image: busybox
            healthcheck: {test: ["CMD", "true"]}
          c:
            image: busybox
            healthcheck: {disable: true}
    """)
    a = main_container(find(result, "Deployment", "a"))
    assert a["readinessProbe"] == {"exec": {"command": ["/bin/sh", "-c", "wget -q -O- localhost"]},
                                   "timeoutSeconds": 2, "periodSeconds": 10, "failureThreshold": 4}
    assert a["livenessProbe"] == a["readinessProbe"]
    assert a["startupProbe"]["periodSeconds"] == 1 and a["startupProbe"]["failureThreshold"] == 34
    assert ("a", "healthcheck.start_interval") in notes(result)
    b = main_container(find(result, "Deployment", "b"))
    # Compose's defaults (30 s, 30 s, 3), not Kubernetes' (10 s, 1 s, 3)
    assert (b["readinessProbe"]["periodSeconds"], b["readinessProbe"]["timeoutSeconds"]) == (30, 30)
    assert "startupProbe" not in b
    c = main_container(find(result, "Deployment", "c"))
    assert not {"readinessProbe", "livenessProbe"} & set(c)


def test_environment_env_file_and_dollars(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: busybox
            env_file: [app.env]
            environment:
              PLAIN: "x"
              LITERAL: "$$(HOME) and $$$$"
              UNSET:
            command: ["echo", "$$(date)"]
    """, files={"app.env": "FROM_FILE=yes\n"})
    c = main_container(find(result, "Deployment", "a"))
    env = {e["name"]: e["value"] for e in c["env"]}
    # Kubernetes would expand $(HOME) and fold $$: doubled, they arrive as Compose passes them
    assert env == {"FROM_FILE": "yes", "PLAIN": "x", "LITERAL": "$$(HOME) and $$$$"}
    assert c["args"] == ["echo", "$$(date)"]
    assert ("a", "environment.UNSET") in notes(result)


def test_entrypoint_is_command_and_command_is_args(tmp_path):
    result = convert(tmp_path, """
        services:
          both: {image: i, entrypoint: ["/init"], command: ["run", "x"]}
          cleared: {image: i, entrypoint: "", command: ["sh", "-c", "true"]}
          only_cmd: {image: i, command: "echo hi"}
    """)
    assert {k: main_container(find(result, "Deployment", "both")).get(k) for k in ("command", "args")} == \
        {"command": ["/init"], "args": ["run", "x"]}
    cleared = main_container(find(result, "Deployment", "cleared"))
    assert cleared["command"] == ["sh", "-c", "true"] and "args" not in cleared
    only = main_container(find(result, "Deployment", "only-cmd"))
    assert only["args"] == ["echo", "hi"] and "command" not in only


def test_user_caps_read_only_privileged_init_working_dir(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            user: "1000:2000"
            working_dir: /srv
            cap_add: [NET_ADMIN, CAP_SYS_TIME]
            cap_drop: [ALL]
            read_only: true
            init: true
            security_opt: ["no-new-privileges:true", "label:disable"]
            group_add: ["44", video]
          b: {image: i, user: postgres, privileged: true}
    """)
    a = find(result, "Deployment", "a")
    c = main_container(a)
    assert c["workingDir"] == "/srv"
    assert c["securityContext"] == {"runAsUser": 1000, "runAsGroup": 2000,
                                    "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    assert pod(a)["shareProcessNamespace"] is True
    assert pod(a)["securityContext"] == {"supplementalGroups": [44]}
    b = main_container(find(result, "Deployment", "b"))
    assert b["securityContext"] == {"privileged": True}
    assert {("b", "user"), ("a", "security_opt[1]"), ("a", "group_add[1]")} <= notes(result)


def test_resources_limits_and_reservations(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            deploy:
              resources:
                limits: {cpus: "1.5", memory: 512M, pids: 100}
                reservations: {cpus: "0.25", memory: 128M}
          b: {image: i, mem_limit: 1g, cpus: 2}
    """)
    assert main_container(find(result, "Deployment", "a"))["resources"] == {
        "limits": {"cpu": "1500m", "memory": "512Mi"},
        "requests": {"cpu": "250m", "memory": "128Mi"}}
    assert main_container(find(result, "Deployment", "b"))["resources"] == {
        "limits": {"cpu": "2", "memory": "1Gi"}}
    assert ("a", "pids_limit") in notes(result)


def test_labels_become_labels_where_valid_and_annotations_always(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            labels:
              com.example.tier: backend
              com.example.description: "Accounting web app"
            deploy:
              labels: {team: core}
    """)
    d = find(result, "Deployment", "a")
    meta = d["spec"]["template"]["metadata"]
    assert meta["labels"]["com.example.tier"] == "backend"
    assert "com.example.description" not in meta["labels"]
    assert meta["annotations"]["com.example.description"] == "Accounting web app"
    assert d["metadata"]["labels"]["team"] == "core" and d["metadata"]["annotations"] == {"team": "core"}


def test_pod_wide_settings(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            hostname: box
            extra_hosts: ["gw=10.0.0.1", "gw2:10.0.0.1", "h=host-gateway"]
            dns: [10.0.0.53]
            dns_search: [example.org]
            sysctls: {net.core.somaxconn: "1024"}
            platform: linux/arm64
            stop_grace_period: 1m30s
            network_mode: host
            tmpfs: ["/run:size=64k"]
            shm_size: 256m
    """)
    p = pod(find(result, "Deployment", "a"))
    assert p["hostname"] == "box" and p["hostNetwork"] is True
    assert [(h["ip"], sorted(h["hostnames"])) for h in p["hostAliases"]] == [("10.0.0.1", ["gw", "gw2"])]
    assert p["dnsConfig"] == {"nameservers": ["10.0.0.53"], "searches": ["example.org"]}
    assert p["securityContext"]["sysctls"] == [{"name": "net.core.somaxconn", "value": "1024"}]
    assert p["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}
    assert p["terminationGracePeriodSeconds"] == 90
    volumes = {v["name"]: v for v in p["volumes"]}
    assert volumes["tmpfs-t0"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Ki"}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "256Mi"}
    assert ("a", "extra_hosts[2]") in notes(result)


# --- volumes, configs, secrets ----------------------------------------------------------------

def test_named_volumes_are_claims_sized_by_flag_or_label(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            volumes: ["data:/data", "big:/big", "ext:/ext", "/scratch"]
        volumes:
          data: {}
          big:
            labels: {io.pycompose.kube.volume-size: 20Gi}
          ext: {external: true, name: shared_stuff}
    """, volume_size="5Gi")
    assert find(result, "PersistentVolumeClaim", "data")["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert find(result, "PersistentVolumeClaim", "big")["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert not [n for k, n in kinds(result) if k == "PersistentVolumeClaim" and "shared" in n]
    p = pod(find(result, "StatefulSet", "a"))
    claims = [v["persistentVolumeClaim"]["claimName"] for v in p["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["data", "big", "shared-stuff"]
    assert {"name": "anon-3", "emptyDir": {}} in p["volumes"]


def test_a_bad_size_is_a_one_line_error_naming_the_volume(tmp_path):
    with pytest.raises(ConversionError, match=r"volumes\.data: size: 'lots'"):
        convert(tmp_path, """
            services:
              a: {image: i, volumes: ["data:/d"]}
            volumes:
              data: {labels: {io.pycompose.kube.volume-size: lots}}
        """)


def test_bind_mounts_are_refused_naming_the_service_unless_hostpath(tmp_path):
    text = """
        services:
          web: {image: nginx, volumes: ["./site:/usr/share/nginx/html:ro"]}
    """
    with pytest.raises(ConversionError, match=r"service 'web' volumes\[0\]: bind mount of .*/site") as e:
        convert(tmp_path, text)
    assert "\n" not in e.value.message
    result = convert(tmp_path, text, bind_mounts=BindMounts.HOSTPATH)
    p = pod(find(result, "Deployment", "web"))
    assert p["volumes"] == [{"name": "host-0", "hostPath": {"path": str(tmp_path / "site")}}]
    assert main_container(find(result, "Deployment", "web"))["volumeMounts"] == [
        {"mountPath": "/usr/share/nginx/html", "readOnly": True, "name": "host-0"}]
    assert ("web", "volumes[0]") in notes(result)


def test_secrets_and_configs_become_objects_mounted_as_single_files(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            secrets:
              - db_pw
              - source: token
                target: /etc/token
                mode: 0400
            configs:
              - source: conf
                target: /etc/app.conf
              - missing
        secrets:
          db_pw: {file: ./pw.txt}
          token: {environment: TOKEN}
        configs:
          conf: {content: "a = 1\\n"}
          missing: {file: ./nope.conf}
    """, env={"TOKEN": "s3cret"}, files={"pw.txt": "hunter2\n"})
    pw = find(result, "Secret", "db-pw")
    assert base64.b64decode(pw["data"]["db_pw"]) == b"hunter2\n"
    assert base64.b64decode(find(result, "Secret", "token")["data"]["token"]) == b"s3cret"
    assert find(result, "ConfigMap", "conf")["data"] == {"conf": "a = 1\n"}
    assert "data" not in find(result, "ConfigMap", "missing")
    assert ("-", "configs.missing") in notes(result)
    c = main_container(find(result, "Deployment", "a"))
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/run/secrets/db_pw"]["subPath"] == "db_pw"
    assert mounts["/etc/token"]["readOnly"] is True
    assert mounts["/etc/app.conf"]["subPath"] == "conf"
    volumes = {v["name"]: v for v in pod(find(result, "Deployment", "a"))["volumes"]}
    assert volumes["secret-1"]["secret"] == {"secretName": "token",
                                             "items": [{"key": "token", "path": "token", "mode": 0o400}]}


# --- images -----------------------------------------------------------------------------------

def test_build_services_use_their_image_name_or_the_pushed_reference(tmp_path):
    text = """
        name: shop
        services:
          api: {build: ./api}
          ui: {build: ./ui, image: shop/ui:2}
    """
    result = convert(tmp_path, text)
    assert main_container(find(result, "Deployment", "api"))["image"] == "shop-api"
    assert main_container(find(result, "Deployment", "ui"))["image"] == "shop/ui:2"
    assert {("api", "build"), ("ui", "build")} <= notes(result)
    pushed = convert(tmp_path, text, images={"api": "127.0.0.1:5000/shop-api@sha256:" + "a" * 64})
    assert main_container(find(pushed, "Deployment", "api"))["image"].endswith("@sha256:" + "a" * 64)
    assert ("api", "build") not in notes(pushed)


def test_manifests_come_in_apply_order(tmp_path):
    result = convert(tmp_path, """
        services:
          db: {image: postgres, volumes: ["data:/d"], secrets: [pw], healthcheck: {test: ["CMD", "true"]}}
          web: {image: app, ports: ["80"], depends_on: {db: {condition: service_healthy}}}
        volumes: {data: {}}
        secrets: {pw: {environment: PW}}
    """, env={"PW": "x"})
    order = [k for k, _ in kinds(result)]
    assert order == ["ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "Secret",
                     "Service", "Service", "Service", "StatefulSet", "Deployment"]
    assert all(m["metadata"]["namespace"] == "default" for m in result.manifests)


def test_a_label_key_kubernetes_refuses_is_listed_not_written(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            labels: {"has space": "x", ok.key: "y"}
    """)
    meta = find(result, "Deployment", "a")["spec"]["template"]["metadata"]
    assert meta["annotations"] == {"ok.key": "y"}
    assert ("a", "labels.has space") in notes(result)


def test_container_ports_are_declared(tmp_path):
    result = convert(tmp_path, """
        services:
          a: {image: i, ports: ["8080:80"], expose: ["53/udp"]}
    """)
    assert main_container(find(result, "Deployment", "a"))["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]


def test_a_numeric_stop_signal_is_a_one_line_error_naming_the_service(tmp_path):
    with pytest.raises(ConversionError, match=r"^service 'a' stop_signal 9: Kubernetes takes the signal's name"):
        convert(tmp_path, "services:\n  a: {image: i, stop_signal: \"9\"}\n")
    ok = convert(tmp_path, "services:\n  a: {image: i, stop_signal: TERM}\n")
    assert main_container(find(ok, "Deployment", "a"))["lifecycle"] == {"stopSignal": "SIGTERM"}
    assert pod(find(ok, "Deployment", "a"))["os"] == {"name": "linux"}


def test_two_objects_under_one_name_are_refused_naming_both_services(tmp_path):
    with pytest.raises(ConversionError, match=r"^services 'web' and 'web-published' both need "
                                              r"the Service 'web-published'"):
        convert(tmp_path, """
            services:
              web: {image: nginx, ports: ["80"]}
              web-published: {image: nginx, expose: ["80"]}
        """)


COMPOSE_NAMES = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,70}", fullmatch=True)


@given(st.lists(COMPOSE_NAMES, unique=True, max_size=12))
@settings(max_examples=300, deadline=None)
def test_any_compose_names_get_unique_valid_stable_kubernetes_names(names):
    table = NameTable("service", names)
    out = [table[n] for n in names]
    assert len(set(out)) == len(out)
    assert all(is_dns_label(n, 52) for n in out)
    assert [NameTable("service", names)[n] for n in names] == out
    assert {r.original for r in table.renames()} == {n for n in names if table[n] != n}


def test_a_suffixed_name_never_lands_on_another_services_name():
    first = NameTable("service", ["web_1", "web-1"])["web_1"]
    table = NameTable("service", ["web_1", "web-1", first])
    out = {table[n] for n in ("web_1", "web-1", first)}
    assert len(out) == 3 and table[first] == first


def test_bind_propagation_becomes_mount_propagation(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            volumes:
              - {type: bind, source: /srv, target: /a, bind: {propagation: rslave}}
              - {type: bind, source: /srv, target: /b, bind: {propagation: rshared}}
    """, bind_mounts=BindMounts.HOSTPATH)
    mounts = main_container(find(result, "Deployment", "a"))["volumeMounts"]
    assert mounts[0]["mountPropagation"] == "HostToContainer"
    assert "mountPropagation" not in mounts[1]
    assert ("a", "volumes[1].bind.propagation") in notes(result)


def test_lifecycle_hooks_become_exec_handlers_one_each(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            post_start:
              - command: ["sh", "-c", "echo up > /tmp/up"]
              - command: ["true"]
            pre_stop:
              - command: "nginx -s quit"
                user: root
    """)
    c = main_container(find(result, "Deployment", "a"))
    assert c["lifecycle"] == {"postStart": {"exec": {"command": ["sh", "-c", "echo up > /tmp/up"]}}}
    assert {("a", "post_start[1]"), ("a", "pre_stop[0]")} <= notes(result)


def test_host_mode_ports_are_host_ports_not_a_service(tmp_path):
    result = convert(tmp_path, """
        services:
          a:
            image: i
            ports:
              - {target: 80, published: "8080", mode: host, host_ip: 127.0.0.1}
              - {target: 443, published: "30443"}
    """)
    c = main_container(find(result, "Deployment", "a"))
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP", "hostPort": 8080, "hostIP": "127.0.0.1"},
                          {"containerPort": 443, "protocol": "TCP"}]
    published = find(result, "Service", "a-published")
    assert [p["targetPort"] for p in published["spec"]["ports"]] == [443]
    only_host = convert(tmp_path, """
        services:
          b: {image: i, ports: [{target: 80, published: "8080", mode: host}]}
    """)
    assert ("Service", "b-published") not in kinds(only_host)


def test_a_mount_target_that_is_not_absolute_is_listed_not_written(tmp_path):
    result = convert(tmp_path, """
        services:
          a: {image: i, volumes: ["d:/data", "/ok"]}
    """)
    c = main_container(find(result, "Deployment", "a"))
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/ok"]
    assert ("a", "volumes[0]") in notes(result)
