"""Legacy links on the default bridge through the API (docker SDK): the linking container's
environment and /etc/hosts, as Docker writes them, a ping to the alias, the refusals, and link
removal (DELETE /containers/<parent>/<alias>?link=1)."""
from __future__ import annotations

import docker
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def target(client):
    c = client.containers.run("busybox", ["sleep", "120"], detach=True, name="pcll-target",
                               environment={"FOO": "1", "SPACED": "a b"},
                               ports={"6379/tcp": None, "6380/tcp": None})
    try:
        yield c
    finally:
        c.remove(force=True)


def run_linked(client, name: str, links: dict, cmd: list[str]) -> tuple[str, str]:
    c = client.api.create_container("busybox", cmd, name=name,
                                    host_config=client.api.create_host_config(links=links))
    return c["Id"], name


def test_a_legacy_link_gives_env_hosts_and_reachability(client, target):
    ip = client.api.inspect_container(target.id)["NetworkSettings"]["Networks"]["bridge"][
        "IPAddress"]
    hostname = client.api.inspect_container(target.id)["Config"]["Hostname"]
    cid, _ = run_linked(client, "pcll-linker", {"pcll-target": "db-1"},
                        ["sh", "-c", "env; echo ---; cat /etc/hosts; echo ---; "
                                     "ping -c 1 -W 3 db-1 >/dev/null && echo reached"])
    try:
        client.api.start(cid)
        assert client.api.wait(cid)["StatusCode"] == 0
        env, hosts, ping = client.api.logs(cid).decode().split("---\n")
        lines = env.splitlines()
        assert "DB_1_NAME=/pcll-linker/db-1" in lines
        assert "DB_1_ENV_FOO=1" in lines and "DB_1_ENV_SPACED=a b" in lines
        assert not any(v.startswith(("DB_1_ENV_PATH=", "DB_1_ENV_HOME=")) for v in lines)
        assert f"DB_1_PORT=tcp://{ip}:6379" in lines
        assert f"DB_1_PORT_6380_TCP_ADDR={ip}" in lines
        assert f"DB_1_PORT_6379_TCP_END=tcp://{ip}:6380" in lines
        assert f"{ip}\tdb-1 {hostname} pcll-target" in hosts.splitlines()
        assert ping.strip() == "reached"
        links = client.api.inspect_container(cid)["HostConfig"]["Links"]
        assert links and "pcll-target" in links[0] and "db-1" in links[0]
    finally:
        client.api.remove_container(cid, force=True)


def test_a_link_named_as_the_target_writes_the_name_once(client, target):
    cid, _ = run_linked(client, "pcll-linker2", {"pcll-target": "pcll-target"},
                        ["cat", "/etc/hosts"])
    try:
        client.api.start(cid)
        client.api.wait(cid)
        hostname = client.api.inspect_container(target.id)["Config"]["Hostname"]
        ip = client.api.inspect_container(target.id)["NetworkSettings"]["IPAddress"]
        assert f"{ip}\tpcll-target {hostname}" in client.api.logs(cid).decode().splitlines()
    finally:
        client.api.remove_container(cid, force=True)


def test_a_link_to_a_stopped_or_missing_container_fails_the_start(client):
    stopped = client.containers.create("busybox", ["true"], name="pcll-stopped")
    made = [stopped.id]
    try:
        cid, _ = run_linked(client, "pcll-linker3", {"pcll-stopped": "db"}, ["true"])
        made.append(cid)
        with pytest.raises(docker.errors.APIError) as err:
            client.api.start(cid)
        assert err.value.status_code == 409
        assert "Cannot link to a non running container: /pcll-stopped AS /pcll-linker3/db" \
            in err.value.explanation
    finally:
        for c in made:
            client.api.remove_container(c, force=True)


def test_a_link_to_a_missing_container_is_refused_at_create(client):
    with pytest.raises(docker.errors.APIError) as err:
        run_linked(client, "pcll-linker4", {"pcll-nosuch": "db"}, ["true"])
    assert err.value.status_code == 400
    assert err.value.explanation == ("could not get container for pcll-nosuch: No such "
                                     "container: pcll-nosuch")
    assert client.api.containers(all=True, filters={"name": "pcll-linker4"}) == []


def test_an_exec_gets_the_link_variables_of_pid1(client, target):
    linker = client.containers.run("busybox", ["sleep", "120"], detach=True,
                                   name="pcll-execer", links={"pcll-target": "db"})
    try:
        ip = client.api.inspect_container(target.id)["NetworkSettings"]["IPAddress"]
        lines = linker.exec_run(["env"], environment={"DB_ENV_FOO": "mine"}
                                ).output.decode().splitlines()
        assert "DB_NAME=/pcll-execer/db" in lines
        assert f"DB_PORT=tcp://{ip}:6379" in lines
        assert "DB_ENV_SPACED=a b" in lines
        # the exec's own Env wins over a link variable of the same name, once
        assert "DB_ENV_FOO=mine" in lines and "DB_ENV_FOO=1" not in lines
    finally:
        linker.remove(force=True)


def test_list_names_a_target_by_its_linkers_alias(client, target):
    # created, not started: Docker registers the link name at create
    cid, _ = run_linked(client, "pcll-lister", {"pcll-target": "cache"}, ["true"])
    other, _ = run_linked(client, "pcll-alpha", {target.id[:12]: "z"}, ["true"])
    try:
        [row] = client.api.containers(all=True, filters={"id": target.id})
        # its own name first (clients read Names[0] as the name), then its linkers' aliases
        assert row["Names"] == ["/pcll-target", "/pcll-alpha/z", "/pcll-lister/cache"]
        [own] = client.api.containers(all=True, filters={"id": cid})
        assert own["Names"] == ["/pcll-lister"]
    finally:
        client.api.remove_container(other, force=True)
        client.api.remove_container(cid, force=True)
    [row] = client.api.containers(all=True, filters={"id": target.id})
    assert row["Names"] == ["/pcll-target"]   # the name goes with its linker


def test_links_conflict_with_host_networking(client):
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container("busybox", ["true"], host_config=client.api.create_host_config(
            links={"x": "y"}, network_mode="host"))
    assert err.value.status_code == 400
    assert "conflicting options: host type networking can't be used with links" \
        in err.value.explanation


def test_link_removal(client, target):
    cid, _ = run_linked(client, "pcll-parent", {"pcll-target": "mylink"}, ["sleep", "60"])
    try:
        client.api.start(cid)
        client.api.remove_container("pcll-parent/mylink", link=True)
        assert client.api.inspect_container(cid)["HostConfig"]["Links"] in (None, [])
        # both containers are still there, the parent still runs
        assert client.api.inspect_container(cid)["State"]["Running"]
        assert client.api.inspect_container(target.id)["State"]["Running"]
        with pytest.raises(docker.errors.NotFound, match="No such link: /pcll-parent/mylink"):
            client.api.remove_container("pcll-parent/mylink", link=True)
        # PID 1 keeps what its start gave it; a restart no longer links: no variables
        def pid1_env() -> str:
            return client.api.exec_start(client.api.exec_create(
                cid, ["cat", "/proc/1/environ"])).decode()
        assert "MYLINK_NAME=/pcll-parent/mylink" in pid1_env()
        client.api.restart(cid, timeout=0)
        assert "MYLINK_NAME" not in pid1_env() and "HOSTNAME=" in pid1_env()
    finally:
        client.api.remove_container(cid, force=True)


def test_a_target_back_on_a_new_address_is_rewritten_in_the_linkers_hosts(client):
    target = client.containers.run("busybox", ["sleep", "120"], detach=True, name="pcll-moving")
    made = [target]
    try:
        linker = client.containers.run("busybox", ["sleep", "120"], detach=True,
                                       name="pcll-watcher", links={"pcll-moving": "mv"})
        made.append(linker)

        def hosts_ip() -> str:
            out = linker.exec_run(["cat", "/etc/hosts"]).output.decode()
            return next(ln.split("\t")[0] for ln in out.splitlines() if "\tmv " in ln)

        first = hosts_ip()
        assert first == client.api.inspect_container(target.id)["NetworkSettings"]["IPAddress"]
        target.stop(timeout=0)
        # someone else takes the address meanwhile, so the target comes back on another one
        squatter = client.containers.run("busybox", ["sleep", "120"], detach=True)
        made.append(squatter)
        assert client.api.inspect_container(squatter.id)["NetworkSettings"]["IPAddress"] == first
        target.start()
        second = client.api.inspect_container(target.id)["NetworkSettings"]["IPAddress"]
        assert second != first and hosts_ip() == second
        assert linker.exec_run(["ping", "-c", "1", "-W", "3", "mv"]).exit_code == 0
    finally:
        for c in reversed(made):
            c.remove(force=True)


def test_a_target_in_another_containers_netns_links_to_that_one(client, target):
    side = client.containers.run("busybox", ["sleep", "120"], detach=True, name="pcll-side",
                                 network_mode=f"container:{target.id}")
    try:
        ip = client.api.inspect_container(target.id)["NetworkSettings"]["IPAddress"]
        out = client.containers.run("busybox", ["sh", "-c", "echo $SC_ENV_FOO; "
                                                "ping -c 1 -W 3 sc >/dev/null && echo reached; "
                                                "grep -w sc /etc/hosts"],
                                    links={"pcll-side": "sc"}, remove=True).decode().split("\n")
        assert out[:2] == ["1", "reached"] and out[2].startswith(f"{ip}\tsc ")
    finally:
        side.remove(force=True)
