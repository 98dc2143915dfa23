"""kube play without an engine: manifests read into typed values (errors and warnings name file,
line, object and field), planned as a compose document, and that document accepted by the same
loader `up` uses."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compose.kube.play import load_plan, render, write_state
from compose.kube.play_fields import ManifestError
from compose.kube.play_manifests import read_manifests


def write(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def plan(tmp_path: Path, text: str, project: str | None = None):
    return load_plan([str(write(tmp_path, text))], project)


DEPLOY = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: app
            image: busybox:latest
            args: [httpd, -f, -p, "80"]
            ports: [{containerPort: 80, name: http}]
    """.rstrip(" ")


# --- reading -------------------------------------------------------------------------------

def test_a_missing_image_names_file_line_object_and_field(tmp_path):
    path = write(tmp_path, DEPLOY.replace("image: busybox:latest", "imagePullPolicy: Never"))
    with pytest.raises(ManifestError) as e:
        read_manifests([str(path)])
    assert e.value.message == (f"{path}:11: Deployment/web: "
                               "spec.template.spec.containers[0].image: required")


def test_a_value_of_the_wrong_type_is_refused_with_both_types(tmp_path):
    path = write(tmp_path, DEPLOY.replace("replicas: 3", "replicas: three"))
    with pytest.raises(ManifestError, match=r"app.yaml:5: Deployment/web: spec.replicas: "
                                            r"expected an integer, got the string 'three'"):
        read_manifests([str(path)])


def test_an_unsupported_volume_source_is_an_error_naming_it(tmp_path):
    text = DEPLOY.replace("          containers:", "          volumes:\n"
                          "          - {name: v, nfs: {server: x, path: /}}\n          containers:")
    with pytest.raises(ManifestError, match=r"Deployment/web: spec.template.spec.volumes\[0\].nfs:"
                                            r" volume 'v': this source is not supported"):
        plan(tmp_path, text)


def test_unknown_kinds_and_fields_are_listed_not_dropped_silently(tmp_path):
    text = DEPLOY.replace("      replicas: 3", "      replicas: 3\n      paused: true") + """\
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: front}
    """
    p = plan(tmp_path, text)
    assert any("Deployment/web: spec.paused: not supported by kube play; ignored" in w
               for w in p.warnings), p.warnings
    assert any(w.endswith("Ingress/front: kind Ingress is not supported by kube play; skipped")
               for w in p.warnings), p.warnings
    # scheduling fields mean nothing on one machine: not listed
    quiet = DEPLOY.replace("          containers:", "          nodeSelector: {disk: ssd}\n"
                           "          containers:")
    assert plan(tmp_path, quiet).warnings == ()


def test_bad_base64_in_a_secret_is_refused(tmp_path):
    text = DEPLOY + """\
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: s}
    data: {password: "not base64!"}
    """
    with pytest.raises(ManifestError, match=r"Secret/s: data.password: is not valid base64"):
        plan(tmp_path, text)


def test_one_namespace_at_a_time(tmp_path):
    text = DEPLOY + """\
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: c, namespace: other}
    """
    with pytest.raises(ManifestError, match="one namespace at a time; these manifests use "
                                            "default, other"):
        plan(tmp_path, text)


def test_a_directory_and_a_list_are_read(tmp_path):
    write(tmp_path, DEPLOY, "1-web.yaml")
    write(tmp_path, """\
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {k: v}}
        - {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web}}}
        """, "2-rest.yml")
    (tmp_path / "notes.txt").write_text("not a manifest")
    m = read_manifests([str(tmp_path)])
    assert [w.meta.name for w in m.workloads] == ["web"]
    assert [c.meta.name for c in m.config_maps] == ["a"]
    assert [s.meta.name for s in m.services] == ["web"]


def test_dash_reads_the_manifests_from_stdin(tmp_path):
    m = read_manifests(["-"], stdin=lambda: textwrap.dedent(DEPLOY))
    assert [w.meta.ref for w in m.workloads] == ["Deployment/web"]
    with pytest.raises(ManifestError, match=r"^<stdin>:5: Deployment/web: spec.replicas:"):
        read_manifests(["-"], stdin=lambda: textwrap.dedent(DEPLOY).replace("3", "x"))


def test_a_missing_path_is_one_line(tmp_path):
    with pytest.raises(ManifestError, match=r"nope.yaml: no such file or directory"):
        read_manifests([str(tmp_path / "nope.yaml")])


# --- planning ------------------------------------------------------------------------------

def test_a_one_container_deployment_is_one_scaled_service(tmp_path):
    p = plan(tmp_path, DEPLOY)
    assert p.project == "web"
    web = p.document["services"]["web"]
    assert web["scale"] == 3 and web["restart"] == "always"
    assert web["command"] == ["httpd", "-f", "-p", "80"] and "entrypoint" not in web
    assert web["expose"] == ["80/tcp"]
    assert web["labels"]["io.pycompose.kube.object"] == "Deployment/web"


def test_a_command_without_args_drops_the_images_cmd(tmp_path):
    p = plan(tmp_path, DEPLOY.replace("args:", "command:"))
    web = p.document["services"]["web"]
    assert web["entrypoint"] == ["httpd", "-f", "-p", "80"] and web["command"] == []


def test_a_pods_containers_share_the_first_ones_network_and_init_containers_run_first(tmp_path):
    p = plan(tmp_path, """\
        apiVersion: v1
        kind: Pod
        metadata: {name: pod}
        spec:
          shareProcessNamespace: true
          initContainers:
          - {name: one, image: busybox}
          - {name: two, image: busybox}
          containers:
          - {name: main, image: busybox, ports: [{containerPort: 80}]}
          - {name: side, image: busybox, ports: [{containerPort: 9000, protocol: UDP}]}
        """)
    s = p.document["services"]
    assert list(s) == ["pod-main", "pod-init-one", "pod-init-two", "pod-side"]
    assert s["pod-main"]["expose"] == ["80/tcp", "9000/udp"]
    assert s["pod-main"]["hostname"] == "pod" and s["pod-main"]["init"] is True
    assert s["pod-side"]["network_mode"] == "service:pod-main"
    assert s["pod-side"]["pid"] == "service:pod-main"
    assert s["pod-side"]["depends_on"] == {
        "pod-init-two": {"condition": "service_completed_successfully"},
        "pod-main": {"condition": "service_started"}}
    assert s["pod-init-two"]["depends_on"] == {
        "pod-init-one": {"condition": "service_completed_successfully"}}
    assert s["pod-init-one"]["restart"] == "no" and "depends_on" not in s["pod-init-one"]
    assert s["pod-main"]["depends_on"] == {
        "pod-init-two": {"condition": "service_completed_successfully"}}


NODEPORT = """\
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: front}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 8080, targetPort: http, nodePort: 30080}]
    """.rstrip(" ")


def test_a_nodeport_publishes_on_the_first_pod_and_the_name_resolves_to_all(tmp_path):
    p = plan(tmp_path, DEPLOY + NODEPORT)
    s = p.document["services"]
    assert list(s) == ["web-0", "web-1", "web-2"]
    assert s["web-0"]["ports"] == [{"target": 80, "published": "30080", "protocol": "tcp"}]
    assert "ports" not in s["web-1"] and "scale" not in s["web-1"]
    for name in s:
        assert s[name]["networks"]["default"]["aliases"] == [
            "front", "front.default", "front.default.svc", "front.default.svc.cluster.local"]
    assert any("port 8080 → targetPort 80: other pods reach it on 80" in w for w in p.warnings)
    assert any("NodePort ports reach the first pod of Deployment/web only" in w
               for w in p.warnings)


def test_a_host_port_has_one_owner(tmp_path):
    # a Service selecting two workloads publishes on the first one's first pod only
    other = DEPLOY.replace("name: web}", "name: api}").replace("replicas: 3", "replicas: 1")
    p = plan(tmp_path, DEPLOY.replace("replicas: 3", "replicas: 1") + "    ---\n" + other
             + NODEPORT)
    s = p.document["services"]
    assert s["web"]["ports"] == [{"target": 80, "published": "30080", "protocol": "tcp"}]
    assert "ports" not in s["api"]
    # two Services on one host port: refused before anything runs
    text = DEPLOY + NODEPORT + NODEPORT.replace("name: front", "name: back")
    with pytest.raises(ManifestError, match=r"Service/back: host port 0.0.0.0:30080/tcp is "
                                            r"published by Service/front already"):
        plan(tmp_path, text)
    recorded = NODEPORT.replace("metadata: {name: front}", "metadata:\n      name: back\n"
                                "      annotations: {io.pycompose.published: '30080:80/tcp'}")
    with pytest.raises(ManifestError, match="published by Service/front already"):
        plan(tmp_path, DEPLOY + NODEPORT + recorded)


def test_a_host_port_is_published_by_the_first_pod_only(tmp_path):
    text = DEPLOY.replace("ports: [{containerPort: 80, name: http}]",
                          "ports: [{containerPort: 80, hostPort: 8081, hostIP: 127.0.0.1}]\n"
                          "            livenessProbe: {exec: {command: [ls]}}")
    p = plan(tmp_path, text)
    s = p.document["services"]
    # a finding about the pod template is listed once, not once per pod
    assert len([w for w in p.warnings if "livenessProbe" in w]) == 1, p.warnings
    assert s["web-0"]["ports"] == [{"target": 80, "published": "8081", "protocol": "tcp",
                                    "host_ip": "127.0.0.1"}]
    assert "ports" not in s["web-1"] and "ports" not in s["web-2"]


def test_a_loadbalancer_publishes_its_port_on_loopback(tmp_path):
    text = (DEPLOY.replace("replicas: 3", "replicas: 1")
            + NODEPORT.replace("NodePort", "LoadBalancer"))
    s = plan(tmp_path, text).document["services"]
    assert s["web"]["ports"] == [{"target": 80, "published": "8080", "host_ip": "127.0.0.1",
                                  "protocol": "tcp"}]


def test_a_service_named_like_another_pods_service_is_refused(tmp_path):
    # Service "web" selects the pods of Deployment "api"; Deployment "web" is another pod's
    # compose service: the name would resolve to both
    api = DEPLOY.replace("name: web}", "name: api}").replace("app: web", "app: api")
    service = NODEPORT.replace("name: front", "name: web").replace("app: web", "app: api")
    with pytest.raises(ManifestError, match=r"Service/web: its name is also the compose service "
                                            r"of another pod \('web'\)"):
        plan(tmp_path, DEPLOY.replace("replicas: 3", "replicas: 1") + "    ---\n" + api
             + service)


def test_a_statefulset_has_one_service_and_one_volume_per_pod(tmp_path):
    p = plan(tmp_path, """\
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          replicas: 2
          serviceName: db
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec:
              containers:
              - name: db
                image: busybox
                volumeMounts: [{name: data, mountPath: /data}]
          volumeClaimTemplates:
          - metadata: {name: data}
            spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: db}
        spec: {clusterIP: None, selector: {app: db}}
        """)
    s = p.document["services"]
    assert list(s) == ["db-0", "db-1"]
    assert s["db-1"]["volumes"] == [{"type": "volume", "source": "data-db-1", "target": "/data",
                                     "read_only": False}]
    assert s["db-1"]["hostname"] == "db-1"
    assert "db-1.db" in s["db-1"]["networks"]["default"]["aliases"]
    assert set(p.document["volumes"]) == {"data-db-0", "data-db-1"}
    assert p.ephemeral_volumes == ()


CONFIG = """\
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cfg}
    data: {MODE: fast, URL: "http://$(HOST)/", app.conf: "x=1\\n"}
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: sec}
    data: {token: dDBrM24=}
    """.rstrip(" ")


def test_env_from_configmaps_and_secrets_with_expansion(tmp_path):
    text = DEPLOY.replace("            ports:", """\
            envFrom: [{configMapRef: {name: cfg}, prefix: CFG_}]
            env:
            - {name: HOST, value: db}
            - {name: TOKEN, valueFrom: {secretKeyRef: {name: sec, key: token}}}
            - {name: ADDR, value: "$(HOST):5432 $(NOPE) $$(HOST)"}
            - {name: GONE, valueFrom: {configMapKeyRef: {name: cfg, key: no, optional: true}}}
            - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
            ports:""").replace('args: [httpd, -f, -p, "80"]', 'args: [echo, "$(TOKEN)"]') + CONFIG
    p = plan(tmp_path, text)
    web = p.document["services"]["web"]
    # `$` doubled: the compose loader would interpolate it; the manifest meant a literal
    assert web["environment"] == {"CFG_MODE": "fast", "CFG_URL": "http://$$(HOST)/",
                                  "CFG_app.conf": "x=1\n", "HOST": "db", "TOKEN": "t0k3n",
                                  "ADDR": "db:5432 $$(NOPE) $$(HOST)", "POD": "web"}
    assert web["command"] == ["echo", "t0k3n"]
    assert [w for w in p.warnings if "fieldRef" in w] == [
        f"{tmp_path / 'app.yaml'}: Deployment/web: container 'app': env IP: fieldRef "
        "status.podIP has no value under kube play; the variable is not set"]


def test_a_missing_required_key_is_refused(tmp_path):
    text = DEPLOY.replace("            ports:", """\
            env:
            - {name: X, valueFrom: {configMapKeyRef: {name: cfg, key: nope}}}
            ports:""") + CONFIG
    with pytest.raises(ManifestError, match=r"Deployment/web: container 'app': env X refers to "
                                            r"ConfigMap 'cfg', which has no key 'nope'"):
        plan(tmp_path, text)


def test_configmap_and_secret_volumes_are_files_bound_read_only(tmp_path):
    text = DEPLOY.replace("            ports:", """\
            volumeMounts:
            - {name: conf, mountPath: /etc/app}
            - {name: sec, mountPath: /run/token, subPath: token}
            - {name: tmp, mountPath: /tmp}
            - {name: host, mountPath: /host}
            ports:""").replace("          containers:", """\
          volumes:
          - {name: conf, configMap: {name: cfg, items: [{key: app.conf, path: sub/app.conf}]}}
          - {name: sec, secret: {secretName: sec, defaultMode: 0400}}
          - {name: tmp, emptyDir: {medium: Memory}}
          - {name: host, hostPath: {path: /srv/data, type: Directory}}
          containers:""").replace("replicas: 3", "replicas: 1") + CONFIG
    p = plan(tmp_path, text)
    assert p.document["services"]["web"]["volumes"] == [
        {"type": "bind", "source": "./volumes/deployment-web/conf", "target": "/etc/app",
         "read_only": True},
        {"type": "bind", "source": "./volumes/deployment-web/sec/token", "target": "/run/token",
         "read_only": True},
        {"type": "tmpfs", "target": "/tmp"},
        {"type": "bind", "source": "/srv/data", "target": "/host", "read_only": False,
         "bind": {"create_host_path": False}}]
    files = {f.path: (f.content, oct(f.mode)) for f in p.files}
    assert files["volumes/deployment-web/conf/sub/app.conf"] == (b"x=1\n", "0o644")
    assert files["volumes/deployment-web/sec/token"] == (b"t0k3n", "0o400")


def test_probes_become_the_healthcheck(tmp_path):
    text = DEPLOY.replace("            ports:", """\
            readinessProbe:
              httpGet: {path: /ready, port: http}
              periodSeconds: 5
              timeoutSeconds: 2
              failureThreshold: 4
              initialDelaySeconds: 3
            startupProbe:
              tcpSocket: {port: 80}
              periodSeconds: 1
              failureThreshold: 30
            livenessProbe:
              exec: {command: ["true"]}
            ports:""")
    p = plan(tmp_path, text)
    check = p.document["services"]["web"]["healthcheck"]
    assert check["test"][0] == "CMD-SHELL"
    assert "wget -q -O /dev/null http://127.0.0.1:80/ready" in check["test"][1]
    assert (check["interval"], check["timeout"], check["retries"]) == ("5s", "2s", 4)
    assert (check["start_period"], check["start_interval"]) == ("30s", "1s")
    assert any("livenessProbe: a container failing it is not restarted" in w for w in p.warnings)


def test_a_probe_on_an_unknown_port_name_is_refused(tmp_path):
    text = DEPLOY.replace("            ports:", """\
            readinessProbe: {tcpSocket: {port: metrics}}
            ports:""")
    with pytest.raises(ManifestError, match="probe port 'metrics' names no port"):
        plan(tmp_path, text)


def test_convert_annotations_give_back_depends_on_and_published_ports(tmp_path):
    p = plan(tmp_path, """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {io.pycompose.project: shop}}
        spec:
          selector: {matchLabels: {io.pycompose.service: web}}
          template:
            metadata:
              labels: {io.pycompose.service: web}
              annotations: {io.pycompose.depends-on: '{"db": "service_healthy"}'}
            spec:
              initContainers:
              - {name: wait-for-db, image: registry.k8s.io/kubectl, command: [kubectl, wait]}
              containers: [{name: web, image: busybox, ports: [{containerPort: 80}]}]
        ---
        apiVersion: batch/v1
        kind: Job
        metadata: {name: db}
        spec:
          template:
            metadata: {labels: {io.pycompose.service: db}}
            spec:
              restartPolicy: OnFailure
              containers:
              - {name: db, image: busybox, readinessProbe: {exec: {command: ["true"]}}}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web-published
          annotations: {io.pycompose.published: "127.0.0.1:8080:80/tcp"}
        spec:
          type: NodePort
          selector: {io.pycompose.service: web}
          ports: [{port: 8080, targetPort: 80}]
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: shop-depends-on
          annotations: {io.pycompose.role: depends-on waits}
        """)
    assert p.project == "shop"
    s = p.document["services"]
    assert list(s) == ["web", "db"]          # the kubectl wait is gone
    assert s["web"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert s["web"]["ports"] == ["127.0.0.1:8080:80/tcp"]
    assert s["db"]["restart"] == "on-failure:6"
    assert p.warnings == ()


def test_resources_and_security(tmp_path):
    text = DEPLOY.replace("            ports:", """\
            resources: {limits: {memory: 128Mi, cpu: 250m}, requests: {cpu: 100m}}
            securityContext:
              runAsUser: 1000
              runAsGroup: 50
              readOnlyRootFilesystem: true
              allowPrivilegeEscalation: false
              capabilities: {add: [NET_ADMIN], drop: [ALL]}
            ports:""")
    web = plan(tmp_path, text).document["services"]["web"]
    assert web["mem_limit"] == 128 * 2**20 and web["cpus"] == 0.25
    assert web["user"] == "1000:50" and web["read_only"] is True
    assert web["cap_add"] == ["NET_ADMIN"] and web["cap_drop"] == ["ALL"]
    assert web["security_opt"] == ["no-new-privileges:true"]


def test_no_workload_is_an_error(tmp_path):
    with pytest.raises(ManifestError, match="nothing to run"):
        plan(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")


# --- the plan through the compose loader ---------------------------------------------------

def test_the_written_compose_file_loads_as_up_loads_it(tmp_path):
    from compose.project import ProjectOptions, load

    text = DEPLOY + NODEPORT + CONFIG
    text = text.replace("            ports:", """\
            env: [{name: PRICE, value: "$5"}]
            volumeMounts: [{name: conf, mountPath: /etc/app}, {name: scratch, mountPath: /s}]
            ports:""").replace("          containers:", """\
          volumes:
          - {name: conf, configMap: {name: cfg}}
          - {name: scratch, emptyDir: {}}
          containers:""")
    p = plan(tmp_path, text)
    state = tmp_path / "state"
    compose_file = write_state(p, state)
    assert (state.stat().st_mode & 0o777) == 0o700
    assert (state / "volumes/deployment-web/conf/app.conf").read_text() == "x=1\n"
    loaded = load(ProjectOptions(files=(str(compose_file),), name=p.project,
                                 project_directory=str(state), environment={}))
    web0 = loaded.canonical["services"]["web-0"]
    assert web0["environment"]["PRICE"] == "$5"
    assert web0["volumes"][0]["source"] == str(state / "volumes/deployment-web/conf")
    assert set(loaded.canonical["volumes"]) == {"web-0-scratch", "web-1-scratch",
                                                "web-2-scratch"}
    assert p.ephemeral_volumes == ("web-0-scratch", "web-1-scratch", "web-2-scratch")
    assert render(p).startswith("# made by `pycompose kube play` for project web")


def test_cli_dry_run_prints_the_compose_file_and_errors_are_one_line(tmp_path, capsys):
    from compose.cli.main import main

    path = write(tmp_path, DEPLOY)
    assert main(["kube", "play", "--dry-run", "-p", "demo", str(path)]) == 0
    out = capsys.readouterr().out
    assert "name: demo\n" in out and "  web:\n" in out
    assert main(["kube", "play", "--dry-run", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"Error: {tmp_path / 'missing.yaml'}: no such file or "
                                        "directory"]
    assert main(["kube", "down"]) == 1
    assert capsys.readouterr().err.strip() == ("Error: kube down needs the manifests (FILE|DIR) "
                                               "or a project name (-p)")


def test_volume_edge_cases(tmp_path):
    pod = """\
        apiVersion: v1
        kind: Pod
        metadata: {name: pod}
        spec:
          initContainers:
          - name: fill
            image: busybox
            volumeMounts: [{name: work, mountPath: /work}]
          containers:
          - name: main
            image: busybox
            volumeMounts:
            - {name: work, mountPath: /work}
            - {name: opt, mountPath: /etc/opt}
            - {name: claim, mountPath: /data}
            - {name: host, mountPath: /logs, subPath: app}
          volumes:
          - {name: work, emptyDir: {medium: Memory}}
          - {name: opt, configMap: {name: absent, optional: true}}
          - {name: claim, persistentVolumeClaim: {claimName: undeclared, readOnly: true}}
          - {name: host, hostPath: {path: /var/log/}}
        """
    p = plan(tmp_path, pod)
    main = p.document["services"]["pod"]
    # an emptyDir two containers (here an init container and the main one) share is a volume
    # of the pod, whatever its medium; gone with every kube down
    assert main["volumes"] == [
        {"type": "volume", "source": "pod-work", "target": "/work", "read_only": False},
        {"type": "bind", "source": "./volumes/pod-pod/opt", "target": "/etc/opt",
         "read_only": True},
        {"type": "volume", "source": "undeclared", "target": "/data", "read_only": True},
        {"type": "bind", "source": "/var/log/app", "target": "/logs", "read_only": False,
         "bind": {"create_host_path": False}}]
    assert p.ephemeral_volumes == ("pod-work",)
    assert p.document["volumes"]["undeclared"] == {"labels": {"io.pycompose.kube.claim":
                                                              "undeclared"}}
    # an absent optional ConfigMap: an empty directory
    assert [(f.path, f.content) for f in p.files] == [("volumes/pod-pod/opt/", b"")]
    with pytest.raises(ManifestError, match=r"volumeMounts 'claim': subPath on a volume is not "
                                            r"supported"):
        plan(tmp_path, pod.replace("{name: claim, mountPath: /data}",
                                   "{name: claim, mountPath: /data, subPath: x}"))
    with pytest.raises(ManifestError, match=r"volume 'opt' refers to ConfigMap 'absent', which "
                                            r"no manifest defines"):
        plan(tmp_path, pod.replace("optional: true", "optional: false"))
