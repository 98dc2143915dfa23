"""`kube play` / `kube down` against a real engine: a hand-written set of manifests (a
Deployment of two replicas with an init container, a NodePort Service, a ConfigMap, a Secret, a
PersistentVolumeClaim, an emptyDir, and a client Pod) runs on busybox images; the Service name
resolves from the other pod, the NodePort answers on 127.0.0.1, the ConfigMap and Secret reach
env and files, the init container ran first; `kube down` leaves nothing of the play behind, and
nothing of ours remains on the host."""
from __future__ import annotations

import textwrap

import pytest

from tests.e2e.harness import free_port, http_get, running_engine, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POOL = "10.247.0.0/16"   # this module's alone


@pytest.fixture(scope="module")
def engine():
    from tests.support.busybox import make_busybox_tar

    with running_engine(POOL, "pckube-play-") as eng:
        tar = make_busybox_tar(eng.home / "busybox.tar")
        with eng.client() as client, open(tar, "rb") as f:
            client.import_image(f, repo="busybox", tag="latest")
        yield eng


def manifests(node_port: int) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: site}}
        data:
          GREETING: "hello from the configmap"
          index.html: "served from a ConfigMap\\n"
        ---
        apiVersion: v1
        kind: Secret
        metadata: {{name: creds}}
        data:
          password: czNjcjN0        # s3cr3t
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {{name: shared}}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {{requests: {{storage: 10Mi}}}}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              initContainers:
              - name: stamp
                image: busybox:latest
                command: [sh, -c, 'echo "init ran for $(POD)" >> /shared/init.log']
                env:
                - {{name: POD, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
                volumeMounts: [{{name: shared, mountPath: /shared}}]
              containers:
              - name: httpd
                image: busybox:latest
                command: [httpd, -f, -p, "8080", -h, /www]
                envFrom: [{{configMapRef: {{name: site}}}}]
                env:
                - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
                ports: [{{name: http, containerPort: 8080}}]
                readinessProbe:
                  httpGet: {{path: /, port: http}}
                  periodSeconds: 1
                volumeMounts:
                - {{name: www, mountPath: /www, readOnly: true}}
                - {{name: creds, mountPath: /run/creds, readOnly: true}}
                - {{name: shared, mountPath: /shared}}
                - {{name: scratch, mountPath: /scratch}}
              volumes:
              - name: www
                configMap:
                  name: site
                  items: [{{key: index.html, path: index.html}}]
              - {{name: creds, secret: {{secretName: creds, defaultMode: 0400}}}}
              - {{name: shared, persistentVolumeClaim: {{claimName: shared}}}}
              - {{name: scratch, emptyDir: {{}}}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec:
          type: NodePort
          selector: {{app: web}}
          ports: [{{port: 8080, targetPort: http, nodePort: {node_port}}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: client, labels: {{app: client}}}}
        spec:
          containers:
          - name: shell
            image: busybox:latest
            command: [sleep, "3600"]
            readinessProbe:
              tcpSocket: {{port: 8080}}
          - name: sidecar
            image: busybox:latest
            command: [httpd, -f, -p, "8080", -h, /var/www]
        """)


def container_rows(engine, project: str) -> dict[str, dict]:
    with engine.client() as c:
        rows = c.containers(all=True, filters={"label": [f"com.docker.compose.project={project}"]})
    return {r["Names"][0].lstrip("/"): r for r in rows}


def exec_out(engine, container: str, *cmd: str) -> str:
    r = engine.cli("container", "exec", container, *cmd, check=True)
    return r.stdout


def test_play_runs_the_manifests_and_down_removes_them(engine, tmp_path):
    port = free_port()
    app = tmp_path / "app.yaml"
    app.write_text(manifests(port))
    project = "web"
    state = engine.root / "kube" / project
    try:
        r = engine.cli("kube", "play", "--wait", str(app), timeout=240)
        assert r.returncode == 0, r.stdout + r.stderr + engine.log_tail()
        names = set(container_rows(engine, project))
        assert {"web-web-0-1", "web-web-1-1", "web-web-0-init-stamp-1", "web-web-1-init-stamp-1",
                "web-client-shell-1", "web-client-sidecar-1"} <= names, names

        # the NodePort answers on 127.0.0.1 with the ConfigMap's file
        status, body = wait_for(lambda: http_get(port), 30, "the NodePort to answer")
        assert status == 200 and body == b"served from a ConfigMap\n"

        # the Service name (short and cluster-qualified) resolves from the other pod
        for name in ("web", "web.default.svc.cluster.local"):
            out = wait_for(lambda: exec_out(engine, "web-client-shell-1", "wget", "-q", "-O-",
                                            f"http://{name}:8080/"), 30, f"{name} to answer")
            assert out == "served from a ConfigMap\n"
        # the pod's second container shares the first's network namespace (localhost)
        out = exec_out(engine, "web-client-shell-1", "wget", "-q", "-O-",
                       "http://127.0.0.1:8080/index.html")
        assert out == "hello\n"

        # env from the ConfigMap and the Secret; the Secret's file, mode 0400
        env = exec_out(engine, "web-web-1-1", "env")
        assert "GREETING=hello from the configmap" in env and "PASSWORD=s3cr3t" in env
        assert exec_out(engine, "web-web-0-1", "cat", "/run/creds/password") == "s3cr3t"
        mode = exec_out(engine, "web-web-0-1", "stat", "-L", "-c", "%a", "/run/creds/password")
        assert mode.strip() == "400"

        # both pods' init containers ran, to completion, before the pods (into the claim)
        log = exec_out(engine, "web-web-0-1", "cat", "/shared/init.log").splitlines()
        assert sorted(log) == ["init ran for web-0", "init ran for web-1"]
        rows = container_rows(engine, project)
        assert rows["web-web-0-init-stamp-1"]["State"] == "exited"

        # the readiness probes (httpGet via wget, tcpSocket via nc) are healthchecks, and
        # `--wait` returned once they passed
        assert all("(healthy)" in rows[n]["Status"] for n in ("web-web-0-1", "web-web-1-1",
                                                               "web-client-shell-1")), rows

        with engine.client() as c:
            volumes = {v["Name"] for v in c.volumes()}
        assert {"web_shared", "web_web-0-scratch", "web_web-1-scratch"} <= volumes, volumes
        # the tracer sees our objects while they exist (else "nothing remains" proves nothing)
        engine.trace.remember_cgroups(engine.container_ids())
        during = engine.trace.leftovers()
        assert {"links", "firewall rules", "mounts", "processes", "cgroups"} <= set(during), during

        # down: containers and network gone, the claim's volume kept, the emptyDirs not
        r = engine.cli("kube", "down", str(app), "-t", "1", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert container_rows(engine, project) == {}
        with engine.client() as c:
            volumes = {v["Name"] for v in c.volumes()}
            networks = {n["Name"] for n in c.networks()}
        assert "web_shared" in volumes and not {"web_web-0-scratch", "web_web-1-scratch"} & volumes
        assert "web_default" not in networks
        assert not state.exists()

        # play again, then down --volumes: the claim's volume goes too
        engine.cli("kube", "play", str(app), timeout=240, check=True)
        engine.trace.remember_cgroups(engine.container_ids())
        engine.cli("kube", "down", "--volumes", "-t", "1", str(app), timeout=120, check=True)
        with engine.client() as c:
            assert [v["Name"] for v in c.volumes()] == []
        # bounded: a bridge's teardown in the kernel may trail the API's answer by a moment
        wait_for(lambda: engine.trace.leftovers() == {}, 10, "nothing of the play to remain")
    finally:
        engine.cli("kube", "down", "--volumes", "-t", "0", str(app), timeout=120)


SMALL = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: pcsmall}
spec:
  selector: {matchLabels: {app: small}}
  template:
    metadata: {labels: {app: small}}
    spec:
      containers: [{name: main, image: busybox:latest, command: [sleep, "3600"]}]
"""
EXTRA_POD = """\
---
apiVersion: v1
kind: Pod
metadata: {name: extra}
spec:
  containers: [{name: main, image: busybox:latest, command: [sleep, "3600"]}]
"""


def test_a_replay_converges_and_a_compose_project_is_not_touched(engine, tmp_path):
    app = tmp_path / "small.yaml"
    app.write_text(SMALL + EXTRA_POD)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox:latest\n    command: [sleep, '3600']\n")
    try:
        engine.cli("kube", "play", str(app), timeout=120, check=True)
        assert set(container_rows(engine, "pcsmall")) == {"pcsmall-pcsmall-1",
                                                          "pcsmall-extra-1"}
        # the manifests lose the Pod: playing them again removes its container
        app.write_text(SMALL)
        engine.cli("kube", "play", str(app), timeout=120, check=True)
        assert set(container_rows(engine, "pcsmall")) == {"pcsmall-pcsmall-1"}

        # a project of that name made by `up` is refused, by play and by down, and left alone
        engine.cli("-p", "pcmine", "up", "-d", cwd=mine, timeout=120, check=True)
        for verb in ("play", "down"):
            r = engine.cli("kube", verb, "-p", "pcmine", str(app), timeout=120)
            assert r.returncode == 1, r.stdout + r.stderr
            assert r.stderr.strip() == ("Error: project 'pcmine' has containers kube play did "
                                        "not make (pcmine-app-1); choose another name with -p")
        rows = container_rows(engine, "pcmine")
        assert list(rows) == ["pcmine-app-1"] and rows["pcmine-app-1"]["State"] == "running"
        assert not (engine.root / "kube" / "pcmine").exists()
        # down by project name alone: the compose file the play wrote says what to remove
        engine.cli("kube", "down", "-p", "pcsmall", "-t", "0", timeout=120, check=True)
        assert container_rows(engine, "pcsmall") == {}
        r = engine.cli("kube", "down", "-p", "pcsmall", timeout=120)
        assert r.returncode == 1 and "no play of project 'pcsmall' is known here" in r.stderr
    finally:
        engine.cli("-p", "pcmine", "down", "-t", "0", cwd=mine, timeout=120)
        engine.cli("kube", "down", "-t", "0", str(app), timeout=120)
    assert engine.container_ids() == []
