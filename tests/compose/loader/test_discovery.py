"""Compose file lookup, project environment and project name, on temporary directories."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from compose.errors import ComposeError, ComposeFileNotFound, EnvFileError, ProjectNameError
from compose.loader.discovery import find_default_files
from compose.loader.environment import (check_project_name, default_profiles,
                                        normalize_project_name, project_name, resolve_sources)


def touch(path: Path, text: str = "services: {}\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_default_file_preference_and_warning(tmp_path):
    for name in ("docker-compose.yaml", "docker-compose.yml", "compose.yml"):
        touch(tmp_path / name)
    warnings: list[str] = []
    assert find_default_files(tmp_path, warnings.append) == [str(tmp_path / "compose.yml")]
    assert warnings[0].startswith("Found multiple config files with supported names: ")
    touch(tmp_path / "compose.yaml")
    assert find_default_files(tmp_path, warnings.append) == [str(tmp_path / "compose.yaml")]


def test_docker_compose_yml_beats_yaml(tmp_path):
    touch(tmp_path / "docker-compose.yaml")
    touch(tmp_path / "docker-compose.yml")
    assert find_default_files(tmp_path, lambda _: None) == [str(tmp_path / "docker-compose.yml")]


def test_search_walks_up_and_override_comes_from_the_same_directory(tmp_path):
    touch(tmp_path / "compose.yaml")
    touch(tmp_path / "compose.override.yaml")
    touch(tmp_path / "compose.override.yml")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    touch(tmp_path / "a" / "compose.override.yml")  # no main file here: ignored
    found = find_default_files(deep, lambda _: None)
    assert found == [str(tmp_path / "compose.yaml"), str(tmp_path / "compose.override.yml")]


def test_nothing_found(tmp_path):
    assert find_default_files(tmp_path, lambda _: None) == []
    with pytest.raises(ComposeFileNotFound, match="no configuration file provided: not found"):
        resolve_sources(os_env={}, cwd=tmp_path)
    sources = resolve_sources(os_env={}, cwd=tmp_path, require_files=False)
    assert sources.config_files == () and sources.working_dir == tmp_path


def test_project_directory_is_the_found_files_directory(tmp_path):
    touch(tmp_path / "compose.yaml")
    (tmp_path / "sub").mkdir()
    sources = resolve_sources(os_env={}, cwd=tmp_path / "sub")
    assert sources.working_dir == tmp_path
    assert sources.environment["PWD"] == str(tmp_path / "sub")


def test_explicit_files_disable_override_and_resolve_against_cwd(tmp_path):
    touch(tmp_path / "compose.yaml")
    touch(tmp_path / "compose.override.yaml")
    touch(tmp_path / "other" / "base.yml")
    sources = resolve_sources(os_env={}, cwd=tmp_path, files=["other/base.yml", "compose.yaml", "-"])
    assert sources.config_files == (str(tmp_path / "other" / "base.yml"),
                                    str(tmp_path / "compose.yaml"), "-")
    assert sources.working_dir == tmp_path / "other"


def test_stdin_only_uses_cwd(tmp_path):
    assert resolve_sources(os_env={}, cwd=tmp_path, files=["-"]).working_dir == tmp_path


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ComposeFileNotFound, match=r"open .*/nope.yml: no such file or directory"):
        resolve_sources(os_env={}, cwd=tmp_path, files=["nope.yml"])


def test_compose_file_variable_with_separator(tmp_path):
    a = touch(tmp_path / "a.yml")
    b = touch(tmp_path / "b.yml")
    touch(tmp_path / "compose.yaml")
    sources = resolve_sources(os_env={"COMPOSE_FILE": "a.yml:b.yml"}, cwd=tmp_path)
    assert sources.config_files == (str(a), str(b))
    sources = resolve_sources(os_env={"COMPOSE_FILE": "a.yml;b.yml",
                                      "COMPOSE_PATH_SEPARATOR": ";"}, cwd=tmp_path)
    assert sources.config_files == (str(a), str(b))
    # -f wins over COMPOSE_FILE
    sources = resolve_sources(os_env={"COMPOSE_FILE": "a.yml"}, cwd=tmp_path, files=["b.yml"])
    assert sources.config_files == (str(b),)
    with pytest.raises(ComposeFileNotFound, match="COMPOSE_FILE"):
        resolve_sources(os_env={"COMPOSE_FILE": "zzz.yml"}, cwd=tmp_path)


def test_compose_file_can_come_from_dot_env(tmp_path):
    a = touch(tmp_path / "a.yml")
    touch(tmp_path / ".env", "COMPOSE_FILE=a.yml\n")
    assert resolve_sources(os_env={}, cwd=tmp_path).config_files == (str(a),)


def test_os_env_wins_over_dot_env_and_dot_env_interpolates(tmp_path):
    touch(tmp_path / "compose.yaml")
    touch(tmp_path / ".env", "A=file\nB=${A}-b\nC=c\n")
    sources = resolve_sources(os_env={"A": "os"}, cwd=tmp_path)
    assert sources.environment["A"] == "os"
    assert sources.environment["B"] == "os-b"
    assert sources.environment["C"] == "c"
    assert sources.env_files == (str(tmp_path / ".env"),)


def test_env_file_flag_replaces_dot_env(tmp_path):
    touch(tmp_path / "compose.yaml")
    touch(tmp_path / ".env", "A=dotenv\n")
    touch(tmp_path / "custom.env", "B=custom\n")
    env = resolve_sources(os_env={}, cwd=tmp_path, env_files=["custom.env"]).environment
    assert env.get("B") == "custom" and "A" not in env
    with pytest.raises(EnvFileError, match="couldn't find env file"):
        resolve_sources(os_env={}, cwd=tmp_path, env_files=["missing.env"])


def test_compose_env_files_and_disable_env_file(tmp_path):
    touch(tmp_path / "compose.yaml")
    touch(tmp_path / ".env", "A=dotenv\n")
    touch(tmp_path / "one.env", "B=1\n")
    touch(tmp_path / "two.env", "B=2\nC=3\n")
    env = resolve_sources(os_env={"COMPOSE_ENV_FILES": "one.env,two.env"}, cwd=tmp_path).environment
    assert (env.get("A"), env["B"], env["C"]) == (None, "2", "3")
    env = resolve_sources(os_env={"COMPOSE_DISABLE_ENV_FILE": "true"}, cwd=tmp_path).environment
    assert "A" not in env
    with pytest.raises(ComposeError, match="COMPOSE_DISABLE_ENV_FILE"):
        resolve_sources(os_env={"COMPOSE_DISABLE_ENV_FILE": "maybe"}, cwd=tmp_path)


def test_dot_env_of_the_discovered_project_directory(tmp_path):
    touch(tmp_path / "compose.yaml")
    touch(tmp_path / ".env", "WHERE=project\n")
    (tmp_path / "sub").mkdir()
    env = resolve_sources(os_env={}, cwd=tmp_path / "sub").environment
    assert env["WHERE"] == "project"


def test_project_directory_flag_selects_dot_env_and_search_start(tmp_path):
    touch(tmp_path / "proj" / "compose.yaml")
    touch(tmp_path / "proj" / ".env", "WHERE=proj\n")
    touch(tmp_path / ".env", "WHERE=cwd\n")
    sources = resolve_sources(os_env={}, cwd=tmp_path, project_directory="proj")
    assert sources.working_dir == tmp_path / "proj"
    assert sources.config_files == (str(tmp_path / "proj" / "compose.yaml"),)
    assert sources.environment["WHERE"] == "proj"


# --- project name -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw,normalized", [
    ("My_Project", "my_project"), ("--x.y z", "xyz"), ("_a-B", "a-b"), ("Ünïcode", "ncode"),
    ("...", ""),
])
def test_normalize_project_name(raw, normalized):
    assert normalize_project_name(raw) == normalized


def test_precedence(tmp_path):
    wd = tmp_path / "Dir_Name"
    wd.mkdir()
    env = {"COMPOSE_PROJECT_NAME": "fromenv", "X": "Interp"}
    assert project_name(working_dir=wd, environment=env, explicit="cli",
                        names_in_files=["yaml"]) == "cli"
    assert project_name(working_dir=wd, environment=env, names_in_files=["yaml"]) == "fromenv"
    assert project_name(working_dir=wd, environment={"X": "Interp"},
                        names_in_files=["first", None, "Last_${X}"]) == "last_interp"
    assert project_name(working_dir=wd, environment={}) == "dir_name"
    # an empty COMPOSE_PROJECT_NAME counts as unset
    assert project_name(working_dir=wd, environment={"COMPOSE_PROJECT_NAME": ""}) == "dir_name"


@pytest.mark.parametrize("bad", ["MyApp", "-x", "_x", "a.b", "a b"])
def test_invalid_explicit_or_env_name_is_an_error(tmp_path, bad):
    message = (f'invalid project name "{bad}": must consist only of lowercase alphanumeric '
               "characters, hyphens, and underscores as well as start with a letter or number")
    with pytest.raises(ProjectNameError) as caught:
        project_name(working_dir=tmp_path, environment={}, explicit=bad)
    assert str(caught.value) == message
    with pytest.raises(ProjectNameError):
        project_name(working_dir=tmp_path, environment={"COMPOSE_PROJECT_NAME": bad})
    with pytest.raises(ProjectNameError):
        check_project_name(bad)


def test_empty_names_are_errors(tmp_path):
    wd = tmp_path / "___"
    wd.mkdir()
    with pytest.raises(ProjectNameError, match="project name must not be empty"):
        project_name(working_dir=wd, environment={})
    # a `name:` that interpolates to nothing does not fall back to the directory
    with pytest.raises(ProjectNameError, match="project name must not be empty"):
        project_name(working_dir=tmp_path, environment={}, names_in_files=["${UNSET}"],
                     warn=lambda _: None)


def test_symlinked_directory_name_is_used_with_a_warning(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "Linked"
    os.symlink(real, link)
    warnings: list[str] = []
    assert project_name(working_dir=link, environment={}, warn=warnings.append) == "linked"
    assert warnings and "symlink" in warnings[0]


def test_default_profiles():
    assert default_profiles(["a"], {"COMPOSE_PROFILES": "b"}) == ["a"]
    assert default_profiles([], {"COMPOSE_PROFILES": "b, c,"}) == ["b", "c"]
    assert default_profiles([], {}) == []


def test_compose_go_project_name_cases(tmp_path):
    # names may start with a digit; the root directory has no name to offer
    assert project_name(working_dir=tmp_path, environment={}, explicit="42my_project") == \
        "42my_project"
    assert project_name(working_dir=tmp_path,
                        environment={"COMPOSE_PROJECT_NAME": "42env"}) == "42env"
    with pytest.raises(ProjectNameError, match="project name must not be empty"):
        project_name(working_dir=Path("/"), environment={})
    odd = tmp_path / "UNNORMALIZED PATH"
    odd.mkdir()
    assert project_name(working_dir=odd, environment={}) == "unnormalizedpath"
    with pytest.raises(ProjectNameError, match='invalid project name "www.my.project"'):
        project_name(working_dir=tmp_path, environment={}, explicit="www.my.project")


def test_name_from_dot_env_and_from_file_directory(tmp_path):
    project = tmp_path / "env-file"
    touch(project / "compose.yaml")
    touch(project / ".env", "COMPOSE_PROJECT_NAME=my_project_from_dot_env\n")
    sources = resolve_sources(os_env={}, cwd=project)
    assert project_name(working_dir=sources.working_dir,
                        environment=sources.environment) == "my_project_from_dot_env"
    other = tmp_path / "elsewhere"
    touch(other / "compose.yaml")
    sources = resolve_sources(os_env={}, cwd=tmp_path, files=[str(other / "compose.yaml")])
    assert project_name(working_dir=sources.working_dir,
                        environment=sources.environment) == "elsewhere"
