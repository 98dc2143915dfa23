"""engine.containers.legacylinks: which links are legacy, and the variables and /etc/hosts
lines Docker gives a linking container. Pure unit tests."""
from __future__ import annotations

from engine.containers.legacylinks import (LinkTarget, has_links, hosts_lines, legacy_links,
                                           link_env, retarget_hosts)

TARGET = LinkTarget(alias="db-1", name="pg", hostname="0123456789ab", ip="10.0.0.5",
                    env=("HOME=/root", "PATH=/bin", "FOO=1", "BARE", "EQ=a=b"),
                    exposed=("53/udp", "6380/tcp", "80/tcp", "6379/tcp", "6381/tcp"))


def test_variables_follow_dockers_names_and_order():
    env = link_env("web", TARGET)
    assert env[0] == "DB_1_PORT=tcp://10.0.0.5:80"          # tcp first, lowest port
    assert env[1:5] == ["DB_1_PORT_80_TCP=tcp://10.0.0.5:80", "DB_1_PORT_80_TCP_ADDR=10.0.0.5",
                        "DB_1_PORT_80_TCP_PORT=80", "DB_1_PORT_80_TCP_PROTO=tcp"]
    # a run of consecutive ports gets its bounds, after the port that ended it (Docker's order)
    i = env.index("DB_1_PORT_53_UDP_PROTO=udp")
    assert env[i + 1:i + 5] == ["DB_1_PORT_6379_TCP_START=tcp://10.0.0.5:6379",
                                "DB_1_PORT_6379_TCP_PORT_START=6379",
                                "DB_1_PORT_6379_TCP_END=tcp://10.0.0.5:6381",
                                "DB_1_PORT_6379_TCP_PORT_END=6381"]
    assert env[-3:] == ["DB_1_NAME=/web/db-1", "DB_1_ENV_FOO=1", "DB_1_ENV_EQ=a=b"]
    assert not any(v.startswith(("DB_1_ENV_HOME", "DB_1_ENV_PATH", "DB_1_ENV_BARE"))
                   for v in env)


def test_a_target_exposing_nothing_gives_name_and_env_only():
    env = link_env("web", LinkTarget("cache", "redis", "h", "10.0.0.9", ("A=1",)))
    assert env == ["CACHE_NAME=/web/cache", "CACHE_ENV_A=1"]


def test_hosts_lines_name_alias_hostname_and_name_once():
    assert hosts_lines([TARGET]) == ["10.0.0.5\tdb-1 0123456789ab pg"]
    same = LinkTarget("pg", "pg", "0123456789ab", "10.0.0.5")
    assert hosts_lines([same]) == ["10.0.0.5\tpg 0123456789ab"]


def test_retarget_rewrites_only_the_links_line():
    text = "127.0.0.1\tlocalhost\n10.0.0.5\tdb-1 0123456789ab pg\n10.0.0.7\tdb-10 x\n"
    moved = LinkTarget("db-1", "pg", "0123456789ab", "10.0.0.9")
    assert retarget_hosts(text, "db-1", moved) == \
        "127.0.0.1\tlocalhost\n10.0.0.9\tdb-1 0123456789ab pg\n10.0.0.7\tdb-10 x\n"


def test_only_links_of_a_container_on_the_default_bridge_are_legacy():
    body = {"HostConfig": {"Links": ["/pg:/web/db", "cache"]},
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Links": ["mq:queue"]}}}}
    assert has_links(body)
    assert legacy_links(body, "bridge") == [("pg", "db"), ("cache", "cache"), ("mq", "queue")]
    assert legacy_links(body, "appnet") == []
    assert not has_links({"HostConfig": {"Links": None}, "NetworkingConfig": {
        "EndpointsConfig": {"default": {"Links": None}}}})
