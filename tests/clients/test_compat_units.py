"""Pure decisions behind what real docker clients send: no engine, no kernel."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.containers import setup
from engine.containers.model import parse_create
from engine.containers.networking import wanted_networks
from engine.containers.store import ContainerRecord
from netbridge import dns


def _cfg(**body):
    return parse_create({"Image": "busybox", "Cmd": ["true"], **body})


def test_default_network_and_its_endpoint_key_mean_the_bridge():
    cfg = _cfg(HostConfig={"NetworkMode": "default"},
               NetworkingConfig={"EndpointsConfig": {"default": {"Aliases": ["x"]}}})
    rec = ContainerRecord("a" * 64, "n", "", "sha256:0", cfg, Path("/nonexistent"))
    assert wanted_networks(rec) == [("bridge", {"Aliases": ["x"]})]


def test_bare_env_name_unsets_the_variable():
    cfg = _cfg(Env=["PCUNSET", "KEEP=1", "PATH"])
    env = setup.container_env(cfg, "host")
    assert "KEEP=1" in env
    assert not any(e.split("=", 1)[0] in ("PCUNSET", "PATH") for e in env)
    assert cfg.env == ("PCUNSET", "KEEP=1", "PATH")  # the config keeps what was asked


def test_publish_all_adds_each_exposed_port_without_a_binding():
    cfg = _cfg(ExposedPorts={"80/tcp": {}, "53/udp": {}, "443/tcp": {}},
               HostConfig={"PublishAllPorts": True,
                           "PortBindings": {"443/tcp": [{"HostPort": "8443"}]}})
    got = {(b.container_port, b.protocol, b.host_port) for b in cfg.ports_to_publish()}
    assert got == {(443, "tcp", 8443), (80, "tcp", 0), (53, "udp", 0)}
    assert _cfg(ExposedPorts={"80/tcp": {}}).ports_to_publish() == ()


def test_resolver_answers_from_the_asking_containers_other_networks():
    own, other = dns.NameTable(), dns.NameTable()
    own.add("e1", ["web"], "10.0.1.2")
    other.add("e2", ["db"], "10.0.2.2")
    query = dns.build_query(3, "db")
    assert dns.decide(query, own, can_forward=False).reply is not None
    assert dns.parse_message(dns.decide(query, own, can_forward=False).reply).rcode \
        == dns.RCODE_SERVFAIL
    reply = dns.parse_message(dns.decide(query, own, can_forward=False, also=[other]).reply)
    assert reply.addresses() == ["10.0.2.2"]
    # the server's own network wins over the others
    other.add("e3", ["web"], "10.0.2.9")
    reply = dns.parse_message(dns.decide(dns.build_query(4, "web"), own, can_forward=False,
                                         also=[other]).reply)
    assert reply.addresses() == ["10.0.1.2"]


def test_volume_prune_takes_named_volumes_before_api_1_42_unless_told_otherwise():
    from engine.api.routes_volumes import volume_prune_all

    assert volume_prune_all([], (1, 41)) is True
    assert volume_prune_all([], (1, 42)) is False
    assert volume_prune_all(["true"], (1, 43)) is True
    assert volume_prune_all(["false"], (1, 41)) is False


def test_reference_filter_keeps_only_matching_refs():
    from engine.api.routes_images import matching_refs

    refs = ["busybox:latest", "pcref:one", "pcref:two"]
    assert matching_refs(refs, ["busybox"]) == ["busybox:latest"]
    assert matching_refs(refs, ["pcref:t*"]) == ["pcref:two"]
    assert matching_refs(["pcref@sha256:" + "0" * 64], ["pcref"]) == ["pcref@sha256:" + "0" * 64]


def test_load_reports_the_tags_the_archive_names(tmp_path):
    import io
    import json
    import tarfile
    from types import SimpleNamespace

    from engine.api.loadreport import archive_tags, loaded_lines

    def archive(files: dict[str, bytes]) -> io.BytesIO:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        return buf

    docker_archive = archive({"blob": b"x" * 1000, "manifest.json": json.dumps(
        [{"Config": "c", "RepoTags": ["pcsaved:b", "docker.io/library/busybox:1"],
          "Layers": []}]).encode()})
    assert archive_tags(docker_archive) == {"pcsaved:b", "busybox:1"}
    oci = archive({"index.json": json.dumps({"manifests": [{"annotations": {
        "io.containerd.image.name": "docker.io/library/pcoci:2",
        "org.opencontainers.image.ref.name": "2"}}]}).encode(), "oci-layout": b"{}"})
    assert archive_tags(oci) == {"pcoci:2"}
    assert archive_tags(io.BytesIO(b"not a tar")) == set()
    import gzip
    assert archive_tags(io.BytesIO(gzip.compress(docker_archive.getvalue()))) \
        == {"pcsaved:b", "busybox:1"}
    image = SimpleNamespace(id="sha256:" + "1" * 64, repo_tags=["a:1", "pcsaved:b"])
    assert loaded_lines(image, {"pcsaved:b"}) == ["Loaded image: pcsaved:b\n"]
    assert loaded_lines(image, set()) == [f"Loaded image ID: {image.id}\n"]


def test_stats_memory_limit_is_the_hosts_when_unlimited():
    from engine.containers.queries import memory_limit

    assert memory_limit(9223372036854771712, 8 << 30) == 8 << 30
    assert memory_limit(None, 8 << 30) == 8 << 30
    assert memory_limit(64 << 20, 8 << 30) == 64 << 20


@pytest.mark.integration   # extraction sets each entry's owner: root only
def test_context_tar_without_its_end_is_completed(tmp_path):
    import io
    import tarfile

    from engine.build.context import BuildContext

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("a.txt", b"first\n"), ("Dockerfile", b"FROM busybox\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    whole = buf.getvalue()
    # cut right after the last entry's data: no padding, no end-of-archive blocks
    cut = whole[:512 + 512 + 512 + len(b"FROM busybox\n")]
    ctx = BuildContext.from_tar(io.BytesIO(cut), tmp_path / "ctx")
    assert ctx.read_dockerfile() == "FROM busybox\n"
    assert (tmp_path / "ctx" / "a.txt").read_bytes() == b"first\n"
    # a complete archive reads the same
    ctx = BuildContext.from_tar(io.BytesIO(whole), tmp_path / "ctx2")
    assert ctx.read_dockerfile() == "FROM busybox\n"


def test_info_lists_every_key_of_docker_1_41():
    from engine.api.sysinfo import host_facts, info_extras

    extras = info_extras(host_facts("1", "/"), tasks=3, listeners=0,
                         address_pool="10.201.0.0/16", environ={})
    docker_1_41_keys = {
        "DriverStatus", "MemoryLimit", "SwapLimit", "KernelMemory", "KernelMemoryTCP",
        "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit", "OomKillDisable",
        "IPv4Forwarding", "BridgeNfIptables", "BridgeNfIp6tables", "Debug", "NFd",
        "NGoroutines", "SystemTime", "NEventsListener", "OSVersion", "IndexServerAddress",
        "RegistryConfig", "GenericResources", "HttpProxy", "HttpsProxy", "NoProxy",
        "ExperimentalBuild", "ClusterStore", "ClusterAdvertise", "LiveRestoreEnabled",
        "Isolation", "InitBinary", "ContainerdCommit", "RuncCommit", "InitCommit",
        "DefaultAddressPools"}
    assert docker_1_41_keys <= set(extras)
    assert extras["DefaultAddressPools"] == [{"Base": "10.201.0.0/16", "Size": 24}]
    assert extras["Debug"] is False and extras["ExperimentalBuild"] is False


def test_detach_keys_spelling():
    import pytest

    from engine.containers.detachkeys import parse_detach_keys
    from engine.errors import BadParameter

    assert parse_detach_keys(None) == b"\x10\x11"
    assert parse_detach_keys("ctrl-x,e") == b"\x18e"
    assert parse_detach_keys("ctrl-@,ctrl-[,ctrl-_") == b"\x00\x1b\x1f"
    with pytest.raises(BadParameter, match=r"Invalid detach keys \(ctrl-1\) provided"):
        parse_detach_keys("ctrl-1")


def test_detach_watch_holds_a_begun_sequence_and_swallows_a_complete_one():
    from engine.containers.detachkeys import DetachWatch

    w = DetachWatch(b"\x10\x11")
    assert w.feed(b"ab\x10") == (b"ab", False)          # held: may begin the sequence
    assert w.feed(b"c") == (b"\x10c", False)            # broken: delivered late
    assert w.feed(b"x\x10") == (b"x", False)
    assert w.feed(b"\x11rest") == (b"", True)           # complete: swallowed, detach
    w = DetachWatch(b"\x10\x11")
    assert w.feed(b"\x10\x10\x11") == (b"\x10", True)   # a repeated first key restarts
    w = DetachWatch(b"\x10\x11")
    w.feed(b"z\x10")
    assert w.flush() == b"\x10"


def test_fields_we_do_not_honour_are_refused_by_name():
    import pytest

    from engine.containers.unsupported import check_create, check_endpoint, check_network_create
    from engine.errors import BadParameter

    refused = [
        ({"MacAddress": "01:00:5e:00:00:01"}, "Config.MacAddress: invalid MAC address"),
        ({"MacAddress": "02:42:ac:11:00"}, "Config.MacAddress: invalid MAC address"),
        ({"MacAddress": "02:42:ac:11:00:02", "HostConfig": {"NetworkMode": "host"}},
         "conflicting options: mac-address and the network mode"),
        ({"HostConfig": {"NetworkMode": "host", "Links": ["db:database"]}},
         "HostConfig.Links: conflicting options: host type networking"),
        ({"NetworkingConfig": {"EndpointsConfig": {"n": {"IPAMConfig": {
            "IPv6Address": "fd00::5"}}}}}, "IPv6Address: IPv6 is not supported"),
        ({"HostConfig": {"Runtime": "crun"}}, "Unknown runtime specified crun"),
        ({"NetworkingConfig": {"EndpointsConfig": {"n": {"DriverOpts": {
            "com.docker.network.endpoint.ifname": "foo"}}}}},
         "DriverOpts: com.docker.network.endpoint.ifname is not supported"),
    ]
    for body, message in refused:
        with pytest.raises(BadParameter, match=message):
            check_create({"Image": "busybox", **body})
    # what the docker CLI sends by default passes
    check_create({"Image": "busybox", "MacAddress": "", "HostConfig": {
        "NetworkMode": "default", "Binds": ["/tmp:/mnt:ro,rprivate", "/tmp:/n:rshared"],
        "Runtime": "runc",
        "Links": None}, "NetworkingConfig": {"EndpointsConfig": {"default": {
            "MacAddress": "", "DriverOpts": None, "Links": None},
            "other": {"DriverOpts": {"key1": "a"}}}}})
    # a chosen MAC is honoured (a valid one passes), a bad one is refused naming the field
    check_endpoint({"MacAddress": "02:00:00:00:00:01"}, "EndpointConfig")
    check_create({"Image": "busybox", "MacAddress": "92:d0:c6:0a:29:33"})
    with pytest.raises(BadParameter, match="EndpointConfig.MacAddress: invalid MAC"):
        check_endpoint({"MacAddress": "nope"}, "EndpointConfig")
    for body, message in [
            ({"EnableIPv6": True}, "EnableIPv6: IPv6 is not supported"),
            ({"IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}, "Subnet fd00::/64: IPv6 is not"),
            ({"IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "IPRange": "fd00::/80"}]}},
             "IPRange fd00::/80: IPv6 is not supported"),
            ({"IPAM": {"Config": [{"Subnet": "10.9.0.0/24",
                                   "AuxiliaryAddresses": {"r": "fd00::5"}}]}},
             r"AuxiliaryAddresses\['r'\] fd00::5: IPv6"),
            ({"IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "fd00::/64"}]}},
             r"Config\[1\].Subnet fd00::/64: IPv6 is not supported"),
            ({"IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "10.9.1.0/24"}]}},
             "one subnet")]:
        with pytest.raises(BadParameter, match=message):
            check_network_create({"Name": "n", **body})
    check_network_create({"Name": "n", "IPAM": {"Driver": "default", "Config": [
        {"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.0/25",
         "AuxiliaryAddresses": {"r": "10.9.0.5"}}]}})


def test_links_parse_and_rename_a_query_for_the_linker():
    import pytest

    from engine.containers.links import links_of, parse_link
    from engine.containers.unsupported import check_create
    from engine.errors import BadParameter

    assert parse_link("db:database", "x") == ("db", "database")
    assert parse_link("/db:/web/database", "x") == ("db", "database")
    assert parse_link("db", "x") == ("db", "db")
    with pytest.raises(BadParameter, match="invalid link"):
        parse_link(":", "HostConfig.Links[0]")
    body = {"HostConfig": {"NetworkMode": "pcnet", "Links": ["db:Database"]},
            "NetworkingConfig": {"EndpointsConfig": {"pcnet": {"Links": ["cache:c"]}}}}
    check_create({"Image": "busybox", **body})
    assert links_of(body) == {"database": "db", "c": "cache"}
    # legacy links on the default bridge are taken at create (made when the linker starts);
    # network connect cannot add them
    check_create({"Image": "busybox", "HostConfig": {"Links": ["db:x"]}})
    check_create({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {
        "bridge": {"Links": ["db:x"]}}}})
    from engine.containers.unsupported import check_endpoint
    with pytest.raises(BadParameter, match="at container create"):
        check_endpoint({"Links": ["db:x"]}, "EndpointConfig", "bridge", at_create=False)
    table = dns.NameTable()
    table.add("e1", ["db"], "10.0.1.5")
    query = dns.build_query(5, "database")
    assert dns.parse_message(dns.decide(query, table, can_forward=False).reply).rcode \
        == dns.RCODE_SERVFAIL
    reply = dns.decide(query, table, can_forward=False, links={"database": "db"}).reply
    assert dns.parse_message(reply).addresses() == ["10.0.1.5"]
