"""Metadata-only instructions change the image config (pure)."""
from __future__ import annotations

import pytest

from engine.build import metadata
from engine.build.dockerfile import DockerfileError, parse


def run(lines: str, config: dict | None = None, env: dict | None = None):
    """Apply every instruction of a one-stage Dockerfile body; (config, history lines)."""
    instrs = parse("FROM b\n" + lines).stages[0].instructions
    config, history, cmd_set = dict(config or {}), [], False
    for instr in instrs:
        applied = metadata.apply(config, instr, env or {}, cmd_set=cmd_set)
        config, cmd_set = applied.config, applied.cmd_set
        history.append(applied.created_by)
    return config, history


def test_env_label_workdir_user():
    config, history = run("ENV A=1 B=2\nENV A=3\nLABEL x=y\nWORKDIR /app\nWORKDIR sub\n"
                          "USER ${WHO}\n", {"Env": ["PATH=/bin"]}, {"WHO": "app"})
    assert config["Env"] == ["PATH=/bin", "A=3", "B=2"]
    assert config["Labels"] == {"x": "y"}
    assert config["WorkingDir"] == "/app/sub" and config["User"] == "app"
    assert history == ["ENV A=1 B=2", "ENV A=3", "LABEL x=y", "WORKDIR /app",
                       "WORKDIR /app/sub", "USER app"]


def test_input_config_is_not_modified():
    base = {"Env": ["A=1"]}
    run("ENV A=2\n", base)
    assert base == {"Env": ["A=1"]}


def test_cmd_entrypoint_and_shell():
    config, _ = run('SHELL ["/bin/bash", "-c"]\nCMD echo hi\n')
    assert config["Cmd"] == ["/bin/bash", "-c", "echo hi"]
    # an ENTRYPOINT resets an inherited CMD, but not one set in this stage
    config, _ = run('ENTRYPOINT ["/e"]\n', {"Cmd": ["inherited"]})
    assert config == {"Entrypoint": ["/e"]}
    config, _ = run('CMD ["mine"]\nENTRYPOINT ["/e"]\n', {"Cmd": ["inherited"]})
    assert config == {"Cmd": ["mine"], "Entrypoint": ["/e"]}
    config, _ = run("CMD []\n")
    assert config["Cmd"] == []


def test_expose_volume_stopsignal_onbuild():
    config, history = run("EXPOSE 80 ${P}/udp 8000-8010\nVOLUME /a /b\nVOLUME [\"/c\"]\n"
                          "STOPSIGNAL SIGQUIT\nONBUILD RUN make\nMAINTAINER someone\n",
                          env={"P": "53"})
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000-8010/tcp": {}}
    assert config["Volumes"] == {"/a": {}, "/b": {}, "/c": {}}
    assert config["StopSignal"] == "SIGQUIT" and config["OnBuild"] == ["RUN make"]
    assert history[-1] == "MAINTAINER someone"
    with pytest.raises(DockerfileError, match="Dockerfile:2: invalid containerPort: http/tcp"):
        run("EXPOSE http\n")


def test_healthcheck_forms():
    config, _ = run("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s "
                    "--retries=5 CMD curl -f http://localhost/\n")
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://localhost/"],
                                     "Interval": 90 * 10**9, "Timeout": 500 * 10**6,
                                     "StartPeriod": 2 * 10**9, "Retries": 5}
    config, _ = run('HEALTHCHECK CMD ["/check", "x"]\n')
    assert config["Healthcheck"] == {"Test": ["CMD", "/check", "x"]}
    config, _ = run("HEALTHCHECK NONE\n", {"Healthcheck": {"Test": ["CMD", "x"]}})
    assert config["Healthcheck"] == {"Test": ["NONE"]}
    with pytest.raises(DockerfileError, match="Dockerfile:2: invalid duration for --interval"):
        run("HEALTHCHECK --interval=5 CMD true\n")
    with pytest.raises(DockerfileError, match="--retries must be at least 1"):
        run("HEALTHCHECK --retries=0 CMD true\n")
