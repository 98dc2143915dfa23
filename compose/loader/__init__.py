"""The front half of compose loading: pure functions, text in, plain data out.

`read_yaml` (YAML 1.2 as compose-go reads it, with line numbers) -> `interpolate` (`${VAR}`
with compose-go semantics, typed casts) ; `parse_dotenv` for `.env` / `env_file` ;
`environment` and `discovery` for the project environment, compose file lookup and the
project name. The environment is always passed in, never read from `os.environ` here.
"""
from __future__ import annotations
