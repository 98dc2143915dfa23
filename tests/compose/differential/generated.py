"""Random but valid service definitions, derived from compose.schema.json.

Every service property whose schema is a plain type or one of the shared definitions below gets a
strategy; properties that name other parts of the project (depends_on, networks, links, secrets…)
or whose values need semantics of their own are left to the hand-written cases.
"""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "compose.schema.json").read_text())

token = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
key = st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True)
scalar = st.one_of(token, st.integers(-5, 100000), st.sampled_from([0.5, 1.0, 2.25, 1e7]),
                   st.booleans(), st.none())
tokens = st.lists(token, min_size=1, max_size=3, unique=True)

# the schema's shared definitions, as strategies of values it accepts
BY_REF = {
    "boolean": st.one_of(st.booleans(), st.sampled_from(["yes", "no", "true", "False", "on"])),
    "integer": st.one_of(st.integers(0, 65535), st.integers(0, 999).map(str)),
    "number": st.one_of(st.sampled_from([0.5, 1, 1.5, 2]), st.sampled_from(["0.25", "3"])),
    "list_or_dict": st.one_of(st.dictionaries(key, scalar, max_size=3),
                              st.lists(st.builds("{}={}".format, key, token), max_size=3, unique=True)),
    "unique_strings": tokens,
    "list_of_strings": tokens,
    "string_or_list": st.one_of(token, tokens),
    "bytes": st.one_of(st.integers(1, 1 << 30), st.sampled_from(["64m", "1g", "512k", "1.5g", "100"])),
    "duration": st.sampled_from(["10s", "1m30s", "500ms", "1h", "0", "2h45m", "1.5s"]),
    "command": st.one_of(st.lists(token, max_size=3),
                         st.lists(token, min_size=1, max_size=3).map(" ".join)),
    "ulimits": st.dictionaries(st.sampled_from(["nofile", "nproc", "core"]), st.one_of(
        st.integers(1, 65535),
        st.builds(lambda s, h: {"soft": s, "hard": s + h}, st.integers(1, 1000), st.integers(0, 1000))),
        min_size=1, max_size=2),
    "extra_hosts": st.lists(st.builds("{}:{}".format, token, st.sampled_from(
        ["10.0.0.1", "::1", "[::2]"])), min_size=1, max_size=2, unique=True),
    "healthcheck": st.fixed_dictionaries({"test": st.one_of(
        token, st.lists(token, min_size=1).map(lambda t: ["CMD", *t]))}, optional={
        "interval": st.sampled_from(["10s", "1m"]), "retries": st.integers(1, 5),
        "timeout": st.sampled_from(["5s", "30s"]), "disable": st.booleans()}),
    "logging": st.fixed_dictionaries({"driver": st.sampled_from(["json-file", "local"])},
                                     optional={"options": st.dictionaries(token, token, max_size=2)}),
    "ports": st.lists(st.one_of(
        st.integers(1, 65535),
        st.builds("{}:{}".format, st.integers(1024, 65535), st.integers(1, 65535)),
        st.builds("127.0.0.1:{}:{}/udp".format, st.integers(1024, 65535), st.integers(1, 65535))),
        max_size=3, unique=True),
    "service_volumes": st.lists(st.sampled_from(
        ["./src:/src", "/abs:/abs:ro", "/anon", "./c:/c:rw,z", "/x:/y:rw"]), max_size=3, unique=True),
}
# plain-typed properties whose values mean something beyond their type
SKIPPED = {"depends_on", "networks", "links", "volumes_from", "external_links", "secrets", "configs",
           "extends", "network_mode", "ipc", "pid", "uts", "cgroup", "models", "image", "build",
           "profiles", "scale", "container_name", "mac_address", "platform", "provider",
           "pull_refresh_after", "label_file", "env_file", "runtime", "isolation", "storage_opt",
           "credential_spec", "devices", "gpus", "develop", "deploy", "pre_start", "post_start",
           "pre_stop", "blkio_config", "cpu_count", "cpu_percent", "use_api_socket", "attach",
           "memswap_limit", "mem_swappiness", "oom_score_adj", "cpu_rt_period", "cpu_rt_runtime",
           "restart", "pull_policy", "device_cgroup_rules", "expose", "group_add"}


def _strategy(schema: dict):
    ref = schema.get("$ref", "").rsplit("/", 1)[-1]
    if ref in BY_REF:
        return BY_REF[ref]
    if schema.get("type") == "string" and "pattern" not in schema:
        return token
    return None


PROPERTIES = {name: strategy for name, spec in SCHEMA["definitions"]["service"]["properties"].items()
              if name not in SKIPPED and (strategy := _strategy(spec)) is not None}


@st.composite
def service(draw) -> dict:
    names = draw(st.lists(st.sampled_from(sorted(PROPERTIES)), max_size=6, unique=True))
    svc = {"image": "busybox"}
    for name in names:
        svc[name] = draw(PROPERTIES[name])
    return svc
