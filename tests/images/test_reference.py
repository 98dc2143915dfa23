from __future__ import annotations

import pytest

from engine.errors import BadParameter
from engine.images import reference as ref


@pytest.mark.parametrize("text, normalized, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
    ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("127.0.0.1:5000/test/busybox", "127.0.0.1:5000/test/busybox:latest",
     "127.0.0.1:5000/test/busybox:latest"),
    ("quay.io/a-b/c_d.e__f", "quay.io/a-b/c_d.e__f:latest", "quay.io/a-b/c_d.e__f:latest"),
    ("docker.io/a.b/c", "docker.io/a.b/c:latest", "docker.io/a.b/c:latest"),
])
def test_normalize_and_familiar(text: str, normalized: str, familiar: str) -> None:
    parsed = ref.parse(text)
    assert str(parsed) == normalized
    assert parsed.familiar() == familiar
    assert ref.familiar(normalized) == familiar


def test_digest_reference_gets_no_default_tag() -> None:
    digest = "sha256:" + "a" * 64
    parsed = ref.parse(f"busybox@{digest}")
    assert parsed.tag is None and parsed.digest == digest
    assert str(parsed) == f"docker.io/library/busybox@{digest}"
    assert parsed.familiar() == f"busybox@{digest}"
    both = ref.parse(f"localhost:5000/x:1@{digest}")
    assert (both.domain, both.path, both.tag, both.digest) == ("localhost:5000", "x", "1", digest)


def test_port_is_not_a_tag() -> None:
    parsed = ref.parse("localhost:5000/app")
    assert parsed.domain == "localhost:5000" and parsed.tag == "latest"


@pytest.mark.parametrize("bad, fragment", [
    ("", "''"),
    ("Busybox", "must be lowercase"),
    ("busybox:", "bad tag"),
    ("busybox:-x", "bad tag"),
    ("busybox@sha256:abc", "bad digest"),
    ("busybox@sha256:" + "a" * 40, "bad sha256 digest"),
    ("busybox@nodigest", "bad digest"),
    ("a//b", "'a//b'"),
    ("a b", "'a b'"),
    ("-a", "'-a'"),
    (" busybox", "' busybox'"),
    ("x" * 300, "longer than 255"),
])
def test_invalid_references_name_the_offending_text(bad: str, fragment: str) -> None:
    with pytest.raises(BadParameter) as err:
        ref.parse(bad)
    assert "invalid reference format" in str(err.value)
    assert fragment in str(err.value)


def test_id_helpers() -> None:
    assert ref.is_digest("sha256:" + "0" * 64)
    assert not ref.is_digest("sha256:" + "0" * 63)
    assert ref.looks_like_id_prefix("3f57d9401f8d")
    assert ref.looks_like_id_prefix("sha256:3f57")
    assert not ref.looks_like_id_prefix("busybox")


from hypothesis import given, settings, strategies as st  # noqa: E402

_component = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?", fullmatch=True)
_names = st.builds(lambda parts: "/".join(parts), st.lists(_component, min_size=1, max_size=3))
_hosts = st.sampled_from(["", "localhost:5000/", "registry.example/", "127.0.0.1:5000/",
                          "docker.io/", "index.docker.io/"])
_tags = st.one_of(st.just(""), st.from_regex(r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}",
                                              fullmatch=True))


@settings(max_examples=150, deadline=None)
@given(_hosts, _names, _tags)
def test_normalize_is_idempotent_and_familiar_round_trips(host: str, name: str, tag: str) -> None:
    text = f"{host}{name}{tag}"
    parsed = ref.parse(text)
    assert ref.parse(str(parsed)) == parsed
    assert ref.parse(parsed.familiar()) == parsed
    assert parsed.tag == (tag[1:] or "latest")
