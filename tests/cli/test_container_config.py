from __future__ import annotations

import pytest

from engine.client.cli.container_config import ContainerFlags, create_body
from engine.client.cli.parse import FlagError


def body(**kw):
    files = kw.pop("files", {})

    def read_file(path):
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[path]

    return create_body(ContainerFlags(image="busybox", **kw), {"HOME": "/root"}, "/work",
                       read_file)


def test_minimal_run_body():
    b = body(command=("echo", "hi"))
    assert b["Image"] == "busybox" and b["Cmd"] == ["echo", "hi"]
    assert b["AttachStdout"] and b["AttachStderr"] and not b["AttachStdin"] and not b["Tty"]
    assert "Entrypoint" not in b and "WorkingDir" not in b
    assert b["HostConfig"]["AutoRemove"] is False


def test_full_flag_set_maps_to_docker_fields():
    b = body(name="web", interactive=True, tty=True, env=("A=1", "HOME"), env_file=("e",),
             files={"e": "B=2\n"}, workdir="/srv", user="app", hostname="h", entrypoint="sh",
             labels=("x=y",), volumes=("/data", "./src:/src:ro", "vol:/v"),
             tmpfs=("/run:size=1m",), read_only=True, memory="64m", memory_swap="128m",
             cpus="0.5", pids_limit="50", init=True, restart="on-failure:2",
             stop_signal="INT", stop_timeout="3", network="net1", network_aliases=("db",),
             ip="10.201.0.5", publish=("8080:80",), publish_all=True, dns=("1.1.1.1",),
             add_hosts=("a:10.0.0.1",), cap_add=("net_admin",), cap_drop=("ALL",),
             security_opt=("no-new-privileges",))
    h = b["HostConfig"]
    assert b["Env"] == ["B=2", "A=1", "HOME=/root"]
    assert b["OpenStdin"] and b["AttachStdin"] and b["StdinOnce"] and b["Tty"]
    assert (b["WorkingDir"], b["User"], b["Hostname"], b["Entrypoint"]) == ("/srv", "app", "h",
                                                                           ["sh"])
    assert b["Labels"] == {"x": "y"} and b["Volumes"] == {"/data": {}}
    assert h["Binds"] == ["/work/src:/src:ro", "vol:/v"]
    assert h["Tmpfs"] == {"/run": "size=1m"} and h["ReadonlyRootfs"]
    assert (h["Memory"], h["MemorySwap"], h["NanoCpus"], h["PidsLimit"]) == (
        64 << 20, 128 << 20, 500_000_000, 50)
    assert h["Init"] and h["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert b["StopSignal"] == "SIGINT" and b["StopTimeout"] == 3
    assert h["NetworkMode"] == "net1"
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"net1": {
        "Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.201.0.5"}}}}
    assert b["ExposedPorts"] == {"80/tcp": {}}
    assert h["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert h["PublishAllPorts"] and h["Dns"] == ["1.1.1.1"] and h["ExtraHosts"] == ["a:10.0.0.1"]
    assert h["CapAdd"] == ["NET_ADMIN"] and h["CapDrop"] == ["ALL"]
    assert h["SecurityOpt"] == ["no-new-privileges"]


def test_detached_body_attaches_nothing():
    b = body(attach_stdio=False, interactive=True)
    assert not (b["AttachStdin"] or b["AttachStdout"] or b["AttachStderr"] or b["StdinOnce"])
    assert b["OpenStdin"]


def test_empty_entrypoint_clears_it():
    assert body(entrypoint="")["Entrypoint"] == [""]


@pytest.mark.parametrize("kw,flag", [
    ({"memory": "lots"}, "--memory"),
    ({"memory": "64m", "memory_swap": "32m"}, "--memory-swap"),
    ({"memory_swap": "1g"}, "--memory-swap"),
    ({"workdir": "rel"}, "--workdir"),
    ({"rm": True, "restart": "always"}, "--restart"),
    ({"network": "host", "network_aliases": ("x",)}, "--network-alias"),
    ({"env_file": ("missing.env",)}, "--env-file"),
    ({"name": "bad name"}, "--name"),
    ({"stop_timeout": "soon"}, "--stop-timeout"),
    ({"pids_limit": "many"}, "--pids-limit"),
])
def test_bad_values_are_flag_errors(kw, flag):
    with pytest.raises(FlagError) as e:
        body(**kw)
    assert f"for {flag}" in e.value.message and e.value.exit_code == 125
