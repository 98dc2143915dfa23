"""Interpolation of whole compose configs: paths, lines, casts, markers; properties."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.errors import InterpolationError
from compose.loader.interpolation import (COMPOSE_CASTS, InvalidTemplate, MissingRequired,
                                          interpolate, substitute)
from compose.loader.yaml_reader import Override, Reset, read_yaml


def test_keys_are_not_interpolated_values_are():
    data = {"services": {"${NAME}": {"environment": {"${KEY}": "$VALUE"}}}}
    out = interpolate(data, {"NAME": "web", "KEY": "k", "VALUE": "v"})
    assert out == {"services": {"${NAME}": {"environment": {"${KEY}": "v"}}}}


def test_input_is_not_modified():
    data = {"a": ["$X"], "b": {"c": "${X}"}}
    interpolate(data, {"X": "1"})
    assert data == {"a": ["$X"], "b": {"c": "${X}"}}


def test_lookup_may_be_a_function():
    assert substitute("${A}-${B:-d}", lambda name: {"A": "a"}.get(name)) == "a-d"


def test_error_names_file_line_and_path():
    doc = read_yaml("services:\n  web:\n    image: busybox\n    ports:\n      - ${PORT:?set PORT}\n",
                    "compose.yaml")
    with pytest.raises(InterpolationError) as caught:
        interpolate(doc.data, {}, filename="compose.yaml", line_of=doc.line_of)
    error = caught.value
    assert str(error) == ("compose.yaml:5: error while interpolating services.web.ports[0]: "
                          "required variable PORT is missing a value: set PORT")
    assert error.path == ("services", "web", "ports", 0) and error.line == 5


def test_invalid_template_error_text():
    with pytest.raises(InterpolationError) as caught:
        interpolate({"services": {"web": {"image": "a ${ b"}}}, {})
    assert str(caught.value) == ("invalid interpolation format for services.web.image.\n"
                                 "You may need to escape any $ with another $.\na ${ b")


def test_newline_inside_braces_is_an_invalid_template():
    with pytest.raises(InvalidTemplate):
        substitute("${A:-x\ny}", {})
    assert substitute("${A:-x}\n${A:-y}", {}) == "x\ny"


def test_string_level_errors_are_typed():
    with pytest.raises(InvalidTemplate):
        substitute("${VAR/x/y}", {"VAR": "x"})
    with pytest.raises(MissingRequired) as caught:
        substitute("${A:?}", {"A": ""})
    assert caught.value.variable == "A" and str(caught.value) == "required variable A is missing a value"


def test_unset_variable_warns_once_per_use():
    warnings: list[str] = []
    assert substitute("$A ${A} ${A:-x}", {}, warn=warnings.append) == "  x"
    assert warnings == ['The "A" variable is not set. Defaulting to a blank string.'] * 2


def test_compose_casts_apply_to_compose_paths():
    data = {
        "services": {"web": {
            "deploy": {"replicas": "${N}", "resources": {"limits": {"cpus": "0.5"}}},
            "ports": [{"target": "${P}", "published": "${P}"}, "8080:80"],
            "privileged": "${YES}", "read_only": "off", "cpus": "1.5", "scale": "2",
            "healthcheck": {"retries": "3", "disable": "false"},
            "ulimits": {"nofile": {"soft": "10", "hard": "20"}, "nproc": "65535"},
            "depends_on": {"db": {"required": "true"}},
            "volumes": [{"type": "volume", "read_only": "true", "volume": {"nocopy": "y"}}],
            "image": "${N}",
        }},
        "networks": {"n": {"external": "true", "internal": "false"}},
        "volumes": {"v": {"external": "true"}},
    }
    warnings: list[str] = []
    out = interpolate(data, {"N": "3", "P": "80", "YES": "true"}, warn=warnings.append)
    web = out["services"]["web"]
    assert web["deploy"]["replicas"] == 3
    assert web["deploy"]["resources"]["limits"]["cpus"] == "0.5"  # not cast by compose-go
    assert web["ports"] == [{"target": 80, "published": "80"}, "8080:80"]
    assert web["privileged"] is True and web["read_only"] is False
    assert web["cpus"] == 1.5 and web["scale"] == 2
    assert web["healthcheck"] == {"retries": 3, "disable": False}
    assert web["ulimits"] == {"nofile": {"soft": 10, "hard": 20}, "nproc": 65535}
    assert web["depends_on"]["db"]["required"] is True
    assert web["volumes"][0]["read_only"] is True and web["volumes"][0]["volume"]["nocopy"] is True
    assert web["image"] == "3"
    assert out["networks"]["n"] == {"external": True, "internal": False}
    assert out["volumes"]["v"]["external"] is True
    assert any('"off" for boolean is not supported by YAML 1.2' in w for w in warnings)
    assert any('"y" for boolean' in w for w in warnings)


def test_bad_cast_is_an_error_naming_the_path():
    with pytest.raises(InterpolationError) as caught:
        interpolate({"services": {"web": {"deploy": {"replicas": "${N:-many}"}}}}, {})
    assert str(caught.value) == (
        "error while interpolating services.web.deploy.replicas: failed to cast to expected "
        'type: strconv.Atoi: parsing "many": invalid syntax')
    with pytest.raises(InterpolationError, match="invalid boolean: maybe"):
        interpolate({"services": {"web": {"tty": "maybe"}}}, {})


def test_casts_can_be_disabled_or_replaced():
    data = {"services": {"web": {"scale": "2"}}, "x": {"n": "4"}}
    assert interpolate(data, {}, casts={})["services"]["web"]["scale"] == "2"
    assert interpolate(data, {}, casts={"x.*": "int"})["x"]["n"] == 4


def test_cast_table_covers_compose_go_list():
    for path in ("services.*.ports.[].target", "services.*.deploy.replicas",
                 "services.*.healthcheck.retries", "services.*.privileged",
                 "services.*.read_only", "services.*.tty", "services.*.stdin_open",
                 "services.*.init", "networks.*.external", "configs.*.external"):
        assert path in COMPOSE_CASTS


def test_markers_survive_and_override_content_is_interpolated():
    data = {"services": {"web": {"ports": Reset([]), "command": Override(["echo", "$X"]),
                                 "scale": Override("${N}")}}}
    out = interpolate(data, {"X": "hi", "N": "2"})
    web = out["services"]["web"]
    assert isinstance(web["ports"], Reset)
    assert web["command"] == Override(["echo", "hi"])
    assert web["scale"] == Override(2)


def test_non_string_scalars_are_left_alone():
    data = {"services": {"web": {"scale": 2, "tty": True, "x": None, "f": 1.5}}}
    assert interpolate(data, {}) == data


# --- properties -------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
env = st.dictionaries(names, values, max_size=5)


@given(st.text(st.characters(blacklist_characters="$", blacklist_categories=("Cs",))), env)
def test_text_without_dollar_is_unchanged(text, environment):
    assert substitute(text, environment) == text


@given(st.text(st.characters(blacklist_categories=("Cs",))), env)
def test_doubling_every_dollar_gives_the_text_back(text, environment):
    assert substitute(text.replace("$", "$$"), environment) == text


@given(names, values, values)
def test_defaults(name, value, default):
    # (a newline cannot appear inside ${...}: compose-go's pattern does not match across lines)
    default = default.replace("$", "$$").replace("}", "").replace("\n", "")
    literal = default.replace("$$", "$")
    assert substitute(f"${{{name}:-{default}}}", {}) == literal
    assert substitute(f"${{{name}-{default}}}", {name: ""}) == ""
    assert substitute(f"${{{name}:-{default}}}", {name: ""}) == literal
    assert substitute(f"${{{name}:-{default}}}", {name: value}) == (value or literal)
    assert substitute(f"${{{name}-{default}}}", {name: value}) == value


@given(names, values, st.text(st.characters(blacklist_characters="${}",
                                            blacklist_categories=("Cs",)), max_size=10))
def test_values_are_never_re_interpolated(name, value, suffix):
    # a variable's value containing "$" is inserted as is, not expanded again
    assert substitute(f"${{{name}}}{suffix}", {name: "$" + value}) == "$" + value + suffix
