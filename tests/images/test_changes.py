from __future__ import annotations

import pytest

from engine.errors import BadParameter
from engine.images.changes import apply_changes


def test_all_instructions() -> None:
    base = {"Env": ["PATH=/bin", "A=old"]}
    out = apply_changes(base, [
        'CMD ["/bin/sh", "-c", "echo hi"]',
        "ENTRYPOINT /entry.sh --flag",
        'ENV A=new B="two words"',
        "ENV LEGACY value with spaces",
        "WORKDIR /srv",
        "WORKDIR app",
        "EXPOSE 80 53/udp 8000-8002",
        "USER app:staff",
        'LABEL maintainer="me <me@x>" version=1',
        'VOLUME ["/data", "/logs"]',
        "VOLUME /cache",
        "STOPSIGNAL SIGQUIT",
        "onbuild RUN true",
    ])
    assert out["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert out["Entrypoint"] == ["/bin/sh", "-c", "/entry.sh --flag"]
    assert out["Env"] == ["PATH=/bin", "A=new", "B=two words", "LEGACY=value with spaces"]
    assert out["WorkingDir"] == "/srv/app"
    assert out["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {},
                                   "8002/tcp": {}}
    assert out["User"] == "app:staff"
    assert out["Labels"] == {"maintainer": "me <me@x>", "version": "1"}
    assert out["Volumes"] == {"/data": {}, "/logs": {}, "/cache": {}}
    assert out["StopSignal"] == "SIGQUIT"
    assert out["OnBuild"] == ["RUN true"]
    assert base == {"Env": ["PATH=/bin", "A=old"]}   # input untouched


def test_shell_form_cmd() -> None:
    assert apply_changes({}, ["CMD echo hi"])["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    # A broken JSON array is shell form, as in a Dockerfile.
    assert apply_changes({}, ['CMD ["a",'])["Cmd"] == ["/bin/sh", "-c", '["a",']


@pytest.mark.parametrize("change, fragment", [
    ("RUN echo hi", "RUN is not one of"),
    ("FROM busybox", "FROM is not one of"),
    ("", "empty is not one of"),
    ("CMD", "CMD needs an argument"),
    ("EXPOSE http", "bad port 'http'"),
    ("EXPOSE 90-80", "bad port range"),
    ("EXPOSE 70000", "bad port range"),
    ("ENV =x", "expected KEY=VALUE"),
    ("ENV A", "ENV needs a value"),
    ('LABEL a="unterminated', "No closing quotation"),
    ("STOPSIGNAL kill me", "bad signal"),
])
def test_bad_change_is_named(change: str, fragment: str) -> None:
    with pytest.raises(BadParameter) as err:
        apply_changes({}, [change])
    assert f"invalid change {change!r}" in str(err.value)
    assert fragment in str(err.value)
