"""Docker's /containers/json filters (pure over a record)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.containers.store import ContainerRecord
from engine.errors import BadParameter

if TYPE_CHECKING:
    from engine.containers.queries import ContainerQueries

SUPPORTED = {"id", "name", "label", "status", "ancestor", "exited", "health", "network",
             "volume", "before", "since"}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def _label_ok(labels: dict[str, str], flt: str) -> bool:
    key, eq, value = flt.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value


def matches(rec: ContainerRecord, filters: dict[str, list[str]], views: ContainerQueries) -> bool:
    """Whether `rec` passes every filter; `views` shows its networks and finds the records
    before/since name."""
    for key, values in filters.items():
        if key not in SUPPORTED:
            raise BadParameter(f"invalid filter '{key}'")
        if not values:
            continue
        if key == "id" and not any(rec.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v.lstrip("/") in rec.name for v in values):
            return False
        if key == "label" and not all(_label_ok(rec.config.labels, v) for v in values):
            return False
        if key == "status":
            bad = [v for v in values if v not in STATUSES]
            if bad:
                raise BadParameter(f"invalid filter 'status={bad[0]}'")
            if rec.state.status.value not in values:
                return False
        if key == "exited" and not (rec.state.status.value == "exited"
                                    and str(rec.state.exit_code) in values):
            return False
        if key == "ancestor" and not any(v in (rec.config.image, rec.image_id)
                                         or rec.image_id.startswith("sha256:" + v)
                                         for v in values):
            return False
        if key == "health":
            status = (rec.state.health or {}).get("Status", "none")
            if status not in values:
                return False
        if key == "volume":
            names = {m.source for m in rec.config.mounts} | set(rec.anonymous_volumes) \
                | {m.target for m in rec.config.mounts}
            if not any(v in names for v in values):
                return False
        if key == "network":
            nets = set(views.networks_json(rec))
            if not any(v in nets for v in values):
                return False
        if key in ("before", "since"):
            others = [views.get(v) for v in values]
            if key == "before" and not all(rec.created < o.created for o in others):
                return False
            if key == "since" and not all(rec.created > o.created for o in others):
                return False
    return True
