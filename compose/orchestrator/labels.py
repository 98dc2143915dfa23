"""The `com.docker.compose.*` labels, exactly as Docker Compose sets them, so tools that understand
Compose labels understand ours; and the label filters every lookup uses."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
NUMBER = PREFIX + "container-number"
ONEOFF = PREFIX + "oneoff"
SLUG = PREFIX + "slug"
CONFIG_HASH = PREFIX + "config-hash"
IMAGE = PREFIX + "image"
DEPENDS_ON = PREFIX + "depends_on"
WORKING_DIR = PREFIX + "project.working_dir"
CONFIG_FILES = PREFIX + "project.config_files"
ENVIRONMENT_FILE = PREFIX + "project.environment_file"
VERSION = PREFIX + "version"
REPLACE = PREFIX + "replace"
NETWORK = PREFIX + "network"
VOLUME = PREFIX + "volume"

# The Docker Compose release whose behaviour we follow; tools read this label to decide what the
# other labels mean.
COMPOSE_VERSION = "2.29.0"


def _bool(value: bool) -> str:
    return "True" if value else "False"


def project_labels(project: str, working_dir: str, config_files: Iterable[str],
                   env_files: Iterable[str] = ()) -> dict[str, str]:
    labels = {
        PROJECT: project,
        WORKING_DIR: working_dir,
        CONFIG_FILES: ",".join(config_files),
        VERSION: COMPOSE_VERSION,
    }
    env_files = list(env_files)
    if env_files:
        labels[ENVIRONMENT_FILE] = ",".join(env_files)
    return labels


def depends_on_value(depends_on: Iterable[tuple[str, str, bool]]) -> str:
    """`dep:condition:restart,...` from (service, condition, restart) triples."""
    return ",".join(f"{name}:{condition}:{str(restart).lower()}"
                    for name, condition, restart in depends_on)


def container_labels(base: Mapping[str, str], *, service: str, config_hash: str,
                     number: int | None = None, slug: str | None = None, image: str = "",
                     depends_on: str = "", user_labels: Mapping[str, str] | None = None,
                     replace: str | None = None) -> dict[str, str]:
    """Labels for a service container (`number`) or a one-off (`slug`). User labels come first so
    they can never overwrite ours."""
    labels = dict(user_labels or {})
    labels.update(base)
    labels[SERVICE] = service
    labels[CONFIG_HASH] = config_hash
    labels[ONEOFF] = _bool(slug is not None)
    labels[DEPENDS_ON] = depends_on
    labels[IMAGE] = image
    if slug is not None:
        labels[SLUG] = slug
    elif number is not None:
        labels[NUMBER] = str(number)
    if replace:
        labels[REPLACE] = replace
    return labels


def resource_labels(kind_label: str, key: str, project: str, config_hash: str = "",
                    user_labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels of a network (`NETWORK`) or volume (`VOLUME`) the project created."""
    labels = dict(user_labels or {})
    labels.update({kind_label: key, PROJECT: project, VERSION: COMPOSE_VERSION})
    if config_hash:
        labels[CONFIG_HASH] = config_hash
    return labels


def filters(project: str, service: str | None = None,
            oneoff: bool | None = None) -> dict[str, list[str]]:
    """The `filters` query value selecting a project's containers by label."""
    wanted = [f"{PROJECT}={project}"]
    if service is not None:
        wanted.append(f"{SERVICE}={service}")
    if oneoff is not None:
        wanted.append(f"{ONEOFF}={_bool(oneoff)}")
    return {"label": wanted}


def is_oneoff(labels: Mapping[str, str]) -> bool:
    return labels.get(ONEOFF) == "True"


def number_of(labels: Mapping[str, str]) -> int | None:
    try:
        return int(labels[NUMBER])
    except (KeyError, ValueError):
        return None
