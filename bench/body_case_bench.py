#!/usr/bin/env python3
"""What matching request body fields without case costs a container create (#17): the check of
a create body (engine.api.validate.check_request: parse, the shape walk that also notices keys in
another case, and the rewrite of a body that had some) for
1. the body the docker SDK sends for `containers.create(...)` (every field named exactly: the
   walk finds nothing to fold and the body is not copied);
2. the same body with every field name lower-cased (renamed, checked again, rewritten);
and, for scale, json.loads of that body and the image config check a create now makes
(engine.images.configcheck.check_container_config). Best of interleaved rounds, microseconds per
body. Usage: bench/body_case_bench.py. Needs nothing but the repository.
"""
from __future__ import annotations

import io
import json
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.api import shapes  # noqa: E402
from engine.api.http import Request  # noqa: E402
from engine.api.validate import check_request  # noqa: E402
from engine.images.configcheck import check_container_config  # noqa: E402

ROUNDS, NUMBER = 30, 2000

# what docker-py 7 sends for containers.create("busybox", ["sh", "-c", "true"], ...) with an
# environment, labels, a published port, a bind, a tmpfs mount and a network alias
SDK_BODY = {
    "Hostname": None, "Domainname": None, "ExposedPorts": {"80/tcp": {}}, "User": None,
    "Tty": False, "OpenStdin": False, "StdinOnce": False, "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "Env": ["A=1", "B=2"],
    "Cmd": ["sh", "-c", "true"], "Image": "busybox", "Volumes": None, "NetworkDisabled": False,
    "Entrypoint": None, "WorkingDir": None, "Healthcheck": None, "StopSignal": None,
    "Labels": {"com.docker.compose.project": "p", "com.docker.compose.service": "s"},
    "MacAddress": None, "StopTimeout": None, "Runtime": None,
    "HostConfig": {"NetworkMode": "default", "Binds": ["/tmp:/data:ro"],
                   "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                   "RestartPolicy": {"Name": "no"}, "Memory": 33554432,
                   "LogConfig": {"Type": "json-file", "Config": {}},
                   "Mounts": [{"Type": "tmpfs", "Target": "/t"}]},
    "NetworkingConfig": {"EndpointsConfig": {"net": {"Aliases": ["s"]}}},
}
IMAGE_CONFIG = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["nginx", "-g", "daemon off;"], "Entrypoint": ["/docker-entrypoint.sh"],
                "ExposedPorts": {"80/tcp": {}}, "Labels": {"maintainer": "x"},
                "StopSignal": "SIGQUIT", "WorkingDir": "", "User": "", "ArgsEscaped": True}


def _lower_keys(value, shape):
    """The body with every declared field name lower-cased (map keys left as they are)."""
    from engine.jsonshape import ListOf, MapOf, Obj
    if isinstance(shape, Obj) and isinstance(value, dict):
        return {k.lower() if k in shape.fields else k:
                _lower_keys(v, shape.fields[k]) if k in shape.fields else v
                for k, v in value.items()}
    if isinstance(shape, ListOf) and isinstance(value, list):
        return [_lower_keys(v, shape.item) for v in value]
    if isinstance(shape, MapOf) and isinstance(value, dict):
        return {k: _lower_keys(v, shape.value) for k, v in value.items()}
    return value


def main() -> None:
    spec = shapes.ENDPOINTS[("POST", "/containers/create")]
    exact = json.dumps(SDK_BODY).encode()
    lower = json.dumps(_lower_keys(SDK_BODY, shapes.CONTAINER_CREATE)).encode()

    def checked(body: bytes):
        return lambda: check_request(Request("POST", "/containers/create", {}, {},
                                             io.BytesIO(body)), spec)

    req = Request("POST", "/containers/create", {}, {}, io.BytesIO(lower))
    check_request(req, spec)
    assert json.loads(req.body_bytes())["HostConfig"]["PortBindings"] == \
        SDK_BODY["HostConfig"]["PortBindings"]
    cases = {
        "create body, fields named exactly": checked(exact),
        "create body, fields lower-cased": checked(lower),
        "json.loads of the body (scale)": lambda: json.loads(exact),
        "image config check at create": lambda: check_container_config(IMAGE_CONFIG),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(ROUNDS):
        for name, fn in cases.items():
            best[name] = min(best[name], timeit.timeit(fn, number=NUMBER) / NUMBER * 1e6)
    width = max(map(len, cases))
    print(f"{'case':<{width}}  us/body (best of {ROUNDS} rounds of {NUMBER})")
    for name, us in best.items():
        print(f"{name:<{width}}  {us:8.1f}")


if __name__ == "__main__":
    main()
