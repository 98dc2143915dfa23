"""The front half of compose loading: pure functions, text in, plain data out.

`read_yaml` (YAML 1.2 as compose-go reads it, with line numbers) -> `interpolate` (`${VAR}`
with compose-go semantics, typed casts) ; `parse_dotenv` for `.env` / `env_file` ;
`environment` and `discovery` for the project environment, compose file lookup and the
project name. The environment is always passed in, never read from `os.environ` here.
"""
from __future__ import annotations

from compose.loader.dotenv import parse_dotenv, parse_raw_env, read_env_files
from compose.loader.environment import ProjectSources, project_name, resolve_sources
from compose.loader.interpolation import COMPOSE_CASTS, interpolate, substitute, variables
from compose.loader.yaml_reader import Override, Reset, YamlDocument, read_yaml, read_yaml_all

__all__ = [
    "COMPOSE_CASTS", "Override", "ProjectSources", "Reset", "YamlDocument", "interpolate",
    "parse_dotenv", "parse_raw_env", "project_name", "read_env_files", "read_yaml",
    "read_yaml_all", "resolve_sources", "substitute", "variables",
]
