"""The YAML dialect compose-go reads (YAML 1.2 via go-yaml), with lines for error messages."""
from __future__ import annotations

import math
import re

import pytest

from compose.errors import YamlError
from compose.loader.yaml_reader import (MAX_NODES, Override, Reset, read_yaml, read_yaml_all,
                                        resolve_scalar)


def test_port_pairs_stay_strings_not_base_60():
    data = read_yaml("ports:\n  - 22:22\n  - 1082:21\n  - '8080:80'\n  - 3000\n").data
    assert data["ports"] == ["22:22", "1082:21", "8080:80", 3000]


@pytest.mark.parametrize("word", ["no", "No", "NO", "on", "On", "off", "yes", "Yes", "y", "n",
                                  "Y", "N"])
def test_yaml_1_1_booleans_stay_strings(word):
    assert read_yaml(f"value: {word}\n").data == {"value": word}


@pytest.mark.parametrize("word,value", [("true", True), ("True", True), ("TRUE", True),
                                        ("false", False), ("False", False), ("FALSE", False)])
def test_only_yaml_1_2_booleans_are_booleans(word, value):
    assert read_yaml(f"value: {word}\n").data["value"] is value


@pytest.mark.parametrize("text,value", [
    ("0o17", 15), ("0440", 0o440), ("0x1F", 31), ("0b101", 5), ("-12", -12), ("+7", 7),
    ("1_000", 1000), ("0", 0), ("1e3", 1000.0), (".5", 0.5), ("5.", 5.0), ("-1.5", -1.5),
    ("-0", -0.0), ("08", 8.0), ("18446744073709551615", 2**64 - 1), ("1" + "0" * 20, 1e20),
])
def test_numbers_follow_go_yaml(text, value):
    got = read_yaml(f"value: {text}\n").data["value"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["", "~", "null", "Null", "NULL"])
def test_nulls(text):
    assert read_yaml(f"value: {text}\n").data == {"value": None}


@pytest.mark.parametrize("text", ["2024-01-01", "1.2.3", "0x", "12:30:45", "1_0:20", "inf",
                                  "nan", "0o8", "yes please", ".5_0", ".", "1.2e", "0x1p-2"])
def test_other_scalars_stay_strings(text):
    assert read_yaml(f"value: {text}\n").data == {"value": text}


def test_special_floats():
    assert resolve_scalar(".inf") == math.inf and resolve_scalar("-.Inf") == -math.inf
    assert math.isnan(resolve_scalar(".NaN"))


def test_quoted_and_str_tagged_scalars_are_never_resolved():
    data = read_yaml("a: '123'\nb: \"true\"\nc: !!str 22\nd: |\n  no\n").data
    assert data == {"a": "123", "b": "true", "c": "22", "d": "no\n"}


def test_explicit_core_tags():
    data = read_yaml("a: !!int '42'\nb: !!float 1\nc: !!bool 'true'\n").data
    assert data == {"a": 42, "b": 1.0, "c": True}
    with pytest.raises(YamlError, match="cannot decode"):
        read_yaml("a: !!int abc\n")


def test_anchors_aliases_and_merge_keys():
    text = (
        "x-common: &common\n"
        "  image: busybox\n"
        "  environment: &env\n"
        "    A: '1'\n"
        "x-extra: &extra\n"
        "  restart: always\n"
        "  image: ignored\n"
        "services:\n"
        "  a:\n"
        "    <<: *common\n"
        "    command: run\n"
        "  b:\n"
        "    <<: [*common, *extra]\n"
        "    image: own\n"
        "    environment: *env\n"
    )
    services = read_yaml(text).data["services"]
    assert services["a"] == {"image": "busybox", "environment": {"A": "1"}, "command": "run"}
    # explicit keys win over merged ones, and earlier merge sources win over later ones
    assert services["b"] == {"image": "own", "environment": {"A": "1"}, "restart": "always"}
    # aliases are copies: changing one use does not change the other
    services["a"]["environment"]["A"] = "changed"
    assert services["b"]["environment"] == {"A": "1"}


def test_merge_of_a_scalar_is_an_error():
    with pytest.raises(YamlError, match="map merge requires map"):
        read_yaml("a: &x 1\nb:\n  <<: *x\n")


def test_duplicate_key_names_both_lines():
    text = "services:\n  web:\n    image: a\n    ports: []\n    image: b\n"
    with pytest.raises(YamlError) as caught:
        read_yaml(text, "compose.yaml")
    message = str(caught.value)
    assert message.startswith("compose.yaml:5: ")
    assert 'mapping key "image" already defined at line 3' in message
    assert caught.value.line == 5


def test_duplicate_top_level_key():
    with pytest.raises(YamlError, match=r'^c.yml:3: mapping key "services" already defined at '
                                        r"line 1$"):
        read_yaml("services: {}\nname: x\nservices: {}\n", "c.yml")


def test_same_key_in_different_mappings_is_fine():
    assert read_yaml("a: {x: 1}\nb: {x: 2}\n").data == {"a": {"x": 1}, "b": {"x": 2}}


def test_reset_and_override_markers():
    text = (
        "services:\n"
        "  web:\n"
        "    ports: !reset []\n"
        "    environment:\n"
        "      FOO: !reset null\n"
        "    command: !override [a, b]\n"
        "    build: !override\n"
        "      context: .\n"
        "    scale: !override 3\n"
    )
    web = read_yaml(text).data["services"]["web"]
    assert isinstance(web["ports"], Reset) and web["ports"].tag == "!reset"
    assert isinstance(web["environment"]["FOO"], Reset)
    assert web["command"] == Override(["a", "b"]) and web["command"].tag == "!override"
    assert web["build"].value == {"context": "."}
    assert web["scale"].value == 3


def test_line_of_keys_and_items():
    text = (
        "name: demo\n"             # 1
        "services:\n"              # 2
        "  web:\n"                 # 3
        "    image: nginx\n"       # 4
        "    ports:\n"             # 5
        "      - '80:80'\n"        # 6
        "      - target: 443\n"    # 7
        "        published: 8443\n"  # 8
    )
    doc = read_yaml(text)
    assert doc.line_of(("name",)) == 1
    assert doc.line_of(("services", "web")) == 3
    assert doc.line_of(("services", "web", "image")) == 4
    assert doc.line_of(["services", "web", "ports", 0]) == 6
    assert doc.line_of(("services", "web", "ports", 1, "published")) == 8
    assert doc.line_of(("services", "db")) is None
    assert doc.nearest_line(("services", "web", "image", "nothing", "below")) == 4


def test_line_of_merged_keys_points_at_the_anchor():
    doc = read_yaml("x: &a\n  image: busybox\nservices:\n  s:\n    <<: *a\n    tty: true\n")
    assert doc.line_of(("services", "s", "image")) == 2
    assert doc.line_of(("services", "s", "tty")) == 6


@pytest.mark.parametrize("text,line,fragment", [
    ("services:\n\tweb: {}\n", 2, "tab character"),
    ("services:\n  web:\n    image: [a\n", 4, ""),
    ("a: b: c\n", 1, "mapping values are not allowed"),
    ("a: *nope\n", 1, "undefined alias"),
    ("a: 'x\n", 2, ""),
])
def test_syntax_errors_are_one_line_with_file_and_line(text, line, fragment):
    with pytest.raises(YamlError) as caught:
        read_yaml(text, "compose.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"compose.yaml:{line}: ")
    assert fragment in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "~\n", "42\n"])
def test_top_level_must_be_a_mapping(text):
    with pytest.raises(YamlError, match="top-level object must be a mapping"):
        read_yaml(text)


def test_non_string_keys_are_errors():
    with pytest.raises(YamlError, match="non-string key in services.web: 80"):
        read_yaml("services:\n  web:\n    80: x\n")
    with pytest.raises(YamlError, match="non-string key at top level: true"):
        read_yaml("true: x\n")
    # quoted numbers are strings, and so are YAML 1.1 booleans
    assert read_yaml("'80': x\n'on': y\nno: z\n").data == {"80": "x", "on": "y", "no": "z"}


def test_empty_file_is_an_empty_mapping():
    assert read_yaml("").data == {}
    assert read_yaml("# only a comment\n").data == {}


def test_several_documents_are_refused_by_read_yaml_but_available():
    text = "services: {a: {image: x}}\n---\nservices: {b: {image: y}}\n"
    with pytest.raises(YamlError, match=r"^compose.yaml:3: a second YAML document"):
        read_yaml(text)
    documents = read_yaml_all(text)
    assert [d.data for d in documents] == [{"services": {"a": {"image": "x"}}},
                                           {"services": {"b": {"image": "y"}}}]
    assert documents[1].line_of(("services", "b")) == 3


def test_utf8_bom_is_ignored():
    assert read_yaml("\ufeffname: x\n").data == {"name": "x"}


def test_alias_cycle_is_an_error():
    with pytest.raises(YamlError, match="cycle detected: an alias refers to a node that"):
        read_yaml("a: &x [1, *x]\n")
    # compose-go's reset_test: a merge key naming the mapping it sits in
    with pytest.raises(YamlError, match=r"^compose.yaml:2: x-healthcheck.egress-service: cycle"):
        read_yaml("x-healthcheck: &healthcheck\n  egress-service:\n    <<: *healthcheck\n")


def test_nested_merges_and_shared_aliases_are_not_cycles():
    text = (
        "x-templates:\n"
        "  x-gluetun: &gluetun\n"
        "    environment: &gluetun_env\n"
        "      a: b\n"
        "  x-gluetun-pia: &gluetun_pia\n"
        "    <<: *gluetun\n"
        "  x-gluetun-env-pia: &gluetun_env_pia\n"
        "    <<: *gluetun_env\n"
        "  vp0:\n"
        "    <<: *gluetun_pia\n"
        "    environment:\n"
        "      <<: *gluetun_env_pia\n"
        "services:\n"
        "  test.unit: &shared\n"
        "    image: alpine\n"
        "  test: *shared\n"
        "  test.other: *shared\n"
    )
    data = read_yaml(text).data
    assert data["x-templates"]["vp0"] == {"environment": {"a": "b"}}
    assert data["services"]["test"] == data["services"]["test.other"] == {"image": "alpine"}


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    text = "\n".join(lines) + "\n"  # 10**9 values once expanded
    with pytest.raises(YamlError, match="excessive aliasing"):
        read_yaml(text, max_nodes=5000)
    with pytest.raises(YamlError, match=f"more than {MAX_NODES} values"):
        read_yaml(text)


def test_aliases_within_the_limit_are_fine():
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert read_yaml(text, max_nodes=20).data["b"] == [[1, 2, 3]] * 3


SAMPLES = [
    "ports:\n  - 22:22\n  - 3000\nenv: {A: no, B: on, C: true}\nmode: 0440\n",
    "x: &a {image: b, n: 0o17}\ns:\n  <<: *a\n  tty: True\n  t: !reset []\n  o: !override [1]\n",
    "a: |\n  multi\n  line\nb: >-\n  folded\n  text\nc: 'q'\nd: \"\\t\"\ne: ~\nf:\n",
    "services:\n\tweb: {}\n",
    "a: 1\na: 2\n",
    "a: [1, 2\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_pure_python_parser_gives_the_same_results(text, monkeypatch):
    """CI machines without libyaml use PyYAML's Python parser: results must not differ."""
    import yaml

    from compose.loader import yaml_reader

    def outcome():
        try:
            doc = read_yaml(text, "c.yaml")
            return ("ok", doc.data, dict(doc.lines))
        except YamlError as err:  # libyaml words some problems differently; same place
            return ("error", err.filename, err.line)

    fast = outcome()
    monkeypatch.setattr(yaml_reader, "_Composer", yaml_reader.composer_class(yaml.SafeLoader))
    assert outcome() == fast


# --- properties -------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# words that cannot be read as numbers, booleans or nulls in either YAML version
words = st.text(st.sampled_from("abcdefghijklmnopqrsuvwxz _-/:@"), min_size=1, max_size=12)
scalars = st.one_of(words, st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
documents = st.dictionaries(
    words,
    st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(words, inner, max_size=4)),
                 max_leaves=20),
    max_size=6)


@settings(max_examples=60)
@given(documents)
def test_what_pyyaml_writes_reads_back_unchanged(data):
    import yaml
    assert read_yaml(yaml.safe_dump(data, default_flow_style=False)).data == data


@settings(max_examples=60)
@given(documents)
def test_line_of_points_at_the_key(data):
    import yaml
    text = yaml.safe_dump(data, default_flow_style=False, width=10**6)
    doc = read_yaml(text)
    lines = text.split("\n")

    def check(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                line = doc.line_of(path + (key,))
                assert line is not None
                text_at = re.sub(r"^\s*(- )*", "", lines[line - 1])
                assert text_at.startswith((key, f"'{key}'", f'"{key}"'))
                check(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                line = doc.line_of(path + (index,))
                assert line is not None and lines[line - 1].lstrip().startswith("-")
                check(item, path + (index,))

    check(data, ())


@pytest.mark.parametrize("text", ["a: !!float true\n", "a: !!int 3.5\n", "a: !!bool 1\n"])
def test_explicit_core_tag_that_does_not_fit_is_an_error(text):
    with pytest.raises(YamlError, match=r"^compose.yaml:1: a: cannot decode"):
        read_yaml(text)


@pytest.mark.parametrize("text,shown", [("~: 1\n", "<nil>"), ("1.5: x\n", "1.5"),
                                        ("? [a]\n: 1\n", "a mapping or sequence")])
def test_more_non_string_keys(text, shown):
    with pytest.raises(YamlError, match=f"non-string key at top level: {re.escape(shown)}"):
        read_yaml(text)


def test_empty_documents_in_a_stream_are_skipped():
    docs = read_yaml_all("---\nservices: {}\n---\n# nothing\n---\n")
    assert [d.data for d in docs] == [{"services": {}}]
    assert read_yaml("services: {}\n---\n").data == {"services": {}}
    with pytest.raises(YamlError, match="top-level object must be a mapping"):
        read_yaml_all("a: 1\n--- ~\n")
