"""ContainerCreate parsing, Docker's image-config merge, state guards (pure)."""
from __future__ import annotations

import pytest

from engine.containers.model import (ContainerState, anonymous_targets, merge_image_config,
                                     parse_bytes, parse_create, parse_signal, valid_name)
from engine.errors import BadParameter


def test_minimal_body_parses_with_docker_defaults():
    cfg = parse_create({"Image": "busybox", "Cmd": ["echo", "hi"]})
    assert cfg.args == ("echo", "hi")
    assert cfg.restart_policy.name == "no"
    assert cfg.log_config.type == "json-file"
    assert cfg.network_mode == "default"


@pytest.mark.parametrize("body, field", [
    ({}, "Image"),
    ({"Image": "b", "HostConfig": {"Memory": "lots"}}, "HostConfig.Memory"),
    ({"Image": "b", "HostConfig": {"Memory": 1024}}, "HostConfig.Memory"),
    ({"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}},
     "HostConfig.RestartPolicy"),
    ({"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}},
     "HostConfig.RestartPolicy"),
    ({"Image": "b", "HostConfig": {"PortBindings": {"http/tcp": [{"HostPort": "80"}]}}},
     "HostConfig.PortBindings"),
    ({"Image": "b", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}},
     "HostConfig.PortBindings"),
    ({"Image": "b", "HostConfig": {"Binds": ["relative/path:/data"]}}, "HostConfig.Binds[0]"),
    ({"Image": "b", "HostConfig": {"Binds": ["/src:data"]}}, "HostConfig.Binds[0]"),
    ({"Image": "b", "HostConfig": {"Binds": ["/src:/data:bogus"]}}, "HostConfig.Binds[0]"),
    ({"Image": "b", "HostConfig": {"Mounts": [{"Type": "nfs", "Target": "/x"}]}},
     "HostConfig.Mounts[0].Type"),
    ({"Image": "b", "HostConfig": {"Tmpfs": {"/run": "size=big"}}}, "HostConfig.Tmpfs"),
    ({"Image": "b", "StopSignal": "SIGNOPE"}, "Config.StopSignal"),
    ({"Image": "b", "Env": ["=x"]}, "Config.Env[0]"),
    ({"Image": "b", "Healthcheck": {"Test": ["BOGUS", "x"]}}, "Config.Healthcheck.Test"),
    # Docker's own wording for this one (the docker SDK's tests match it)
    ({"Image": "b", "HostConfig": {"LogConfig": {"Type": "syslog"}}},
     "logger: no log driver named 'syslog' is registered"),
])
def test_bad_fields_are_named_in_the_error(body, field):
    with pytest.raises(BadParameter) as err:
        parse_create(body)
    assert field in str(err.value)


def test_duplicate_mount_point_is_refused():
    with pytest.raises(BadParameter, match="Duplicate mount point: /data"):
        parse_create({"Image": "b", "HostConfig": {"Binds": ["v1:/data"],
                                                   "Tmpfs": {"/data": ""}}})


def test_binds_mounts_and_tmpfs_are_normalised():
    cfg = parse_create({"Image": "b", "HostConfig": {
        "Binds": ["/host:/in:ro", "named:/vol"],
        "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20}}],
        "Tmpfs": {"/run": "size=64m,mode=1777"}}})
    kinds = {m.target: (m.type, m.source, m.readonly) for m in cfg.mounts}
    assert kinds["/in"] == ("bind", "/host", True)
    assert kinds["/vol"] == ("volume", "named", False)
    run = next(m for m in cfg.mounts if m.target == "/run")
    assert (run.tmpfs_size, run.tmpfs_mode) == (64 << 20, 0o1777)


def test_sizes_and_signals():
    assert parse_bytes("32m", "f") == 32 << 20
    assert parse_bytes(1024, "f") == 1024
    assert parse_bytes("1.5g", "f") == int(1.5 * (1 << 30))
    assert parse_signal("TERM", "f") == 15
    assert parse_signal("SIGKILL", "f") == 9
    assert parse_signal("2", "f") == 2


def test_restart_policy_on_failure_count():
    cfg = parse_create({"Image": "b", "HostConfig": {
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}})
    assert (cfg.restart_policy.name, cfg.restart_policy.maximum_retry_count) == ("on-failure", 2)


def test_merge_env_cmd_entrypoint_like_docker():
    image = {"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Entrypoint": ["/init"],
             "WorkingDir": "/app", "User": "app", "Volumes": {"/data": {}},
             "StopSignal": "SIGINT", "Labels": {"from": "image"}}
    merged = merge_image_config({"Image": "x", "Env": ["A=2", "B=3"]}, image)
    assert merged["Env"] == ["PATH=/bin", "A=2", "B=3"]
    assert merged["Entrypoint"] == ["/init"] and merged["Cmd"] == ["sh"]
    assert merged["WorkingDir"] == "/app" and merged["User"] == "app"
    assert merged["StopSignal"] == "SIGINT"
    # a Cmd replaces the image's Cmd but keeps its Entrypoint
    assert merge_image_config({"Image": "x", "Cmd": ["ls"]}, image)["Entrypoint"] == ["/init"]
    # an Entrypoint drops the image's Cmd; "" resets the entrypoint
    over = merge_image_config({"Image": "x", "Entrypoint": ["/other"]}, image)
    assert over["Entrypoint"] == ["/other"] and over["Cmd"] is None
    reset = merge_image_config({"Image": "x", "Entrypoint": "", "Cmd": ["echo"]}, image)
    assert reset["Entrypoint"] is None and reset["Cmd"] == ["echo"]
    cfg = parse_create(merged)
    assert anonymous_targets(cfg) == ["/data"]


def test_published_ports_are_exposed():
    merged = merge_image_config({"Image": "x", "HostConfig": {"PortBindings": {
        "80/tcp": [{"HostPort": "8080"}]}}}, {"ExposedPorts": {"443/tcp": {}}})
    assert set(merged["ExposedPorts"]) == {"80/tcp", "443/tcp"}
    assert parse_create(merged).exposed_ports == ("443/tcp", "80/tcp")


def test_anonymous_targets_skip_explicitly_mounted_paths():
    cfg = parse_create({"Image": "b", "Volumes": {"/a": {}, "/b": {}},
                        "HostConfig": {"Binds": ["/host:/a"],
                                       "Mounts": [{"Type": "volume", "Target": "/c"}]}})
    assert anonymous_targets(cfg) == ["/c", "/b"]


def test_state_guards():
    S = ContainerState
    assert S.CREATED.can_start() and S.EXITED.can_start() and not S.RUNNING.can_start()
    assert S.RUNNING.can_exec() and not S.PAUSED.can_exec() and not S.EXITED.can_exec()
    assert S.RUNNING.can_pause() and S.PAUSED.can_unpause() and not S.RUNNING.can_unpause()
    assert not S.RUNNING.can_remove(False) and S.RUNNING.can_remove(True)
    assert S.EXITED.can_remove(False)


def test_container_names():
    assert valid_name("/web-1") == "web-1"
    with pytest.raises(BadParameter, match="Invalid container name"):
        valid_name("bad name")
