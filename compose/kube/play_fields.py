"""Reading one Kubernetes object's fields with their types checked and their place named.

`Fields` wraps one mapping of a manifest. Its getters check the value's type and raise a
`ManifestError` naming file, line, `Kind/name` and the key path; the keys no getter asked for
are reported as warnings when the mapping is `done()` (a field kube play does not act on is
listed, never dropped silently), except the few that mean nothing on one machine (`QUIET`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from compose.errors import ComposeError, format_path, nearest_line

KeyPath = tuple[str | int, ...]

# Fields that describe scheduling or bookkeeping of a cluster: on one machine they have no
# meaning and no effect, so listing them would only bury the warnings that matter.
QUIET = frozenset({
    "annotations", "uid", "resourceVersion", "generation", "creationTimestamp",
    "managedFields", "ownerReferences", "finalizers", "selfLink", "generateName", "status",
    "revisionHistoryLimit", "progressDeadlineSeconds", "strategy", "updateStrategy",
    "minReadySeconds", "podManagementPolicy", "persistentVolumeClaimRetentionPolicy",
    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeSelector",
    "affinity", "tolerations", "priorityClassName", "priority", "schedulerName", "dnsPolicy",
    "enableServiceLinks", "topologySpreadConstraints", "imagePullSecrets", "nodeName",
    "terminationMessagePath", "terminationMessagePolicy", "preemptionPolicy", "runtimeClassName",
    "sessionAffinity", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy",
    "externalTrafficPolicy", "allocateLoadBalancerNodePorts", "storageClassName",
    "accessModes", "volumeMode", "immutable", "successThreshold",
})


class ManifestError(ComposeError):
    """A Kubernetes manifest kube play cannot run: malformed, or asking for what we lack."""


@dataclass
class Document:
    """Where one object came from, and the warnings collected while reading it."""
    filename: str
    line_of: Callable[[KeyPath], int | None] = lambda path: None
    ref: str = ""                       # "Deployment/web" once known
    base: KeyPath = ()                  # the object's path in its YAML document (List items)
    warnings: list[str] = field(default_factory=list)

    def where(self, path: KeyPath) -> str:
        line = nearest_line(self.line_of, path)
        located = f"{self.filename}:{line}" if line else self.filename
        return f"{located}: {self.ref}" if self.ref else located

    def error(self, path: KeyPath, detail: str) -> ManifestError:
        spot = format_path(path)
        return ManifestError(f"{self.where(path)}: {spot + ': ' if spot else ''}{detail}")

    def warn(self, path: KeyPath, detail: str) -> None:
        spot = format_path(path)
        self.warnings.append(f"{self.where(path)}: {spot + ': ' if spot else ''}{detail}")


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "a mapping",
               list: "a list"}


class Fields:
    """One mapping at `path` of the object in `doc`."""

    def __init__(self, data: Any, doc: Document, path: KeyPath) -> None:
        if not isinstance(data, Mapping):
            raise doc.error(path, f"expected a mapping, got {_describe(data)}")
        self.data = data
        self.doc = doc
        self.path = path
        self._seen: set[str] = set()

    def _get(self, key: str, kind: type, required: bool) -> Any:
        self._seen.add(key)
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.doc.error(self.path + (key,), "required")
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise self.doc.error(self.path + (key,),
                                 f"expected {_TYPE_NAMES[kind]}, got {_describe(value)}")
        return value

    def text(self, key: str, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(key, str, required)
        return default if value is None else value

    def integer(self, key: str, default: int | None = None,
                minimum: int | None = None) -> int | None:
        value = self._get(key, int, False)
        if value is None:
            return default
        if minimum is not None and value < minimum:
            raise self.doc.error(self.path + (key,), f"must be at least {minimum}, got {value}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, bool, False)
        return default if value is None else value

    def int_or_str(self, key: str) -> int | str | None:
        self._seen.add(key)
        value = self.data.get(key)
        if value is None or (isinstance(value, (int, str)) and not isinstance(value, bool)):
            return value
        raise self.doc.error(self.path + (key,), f"expected a number or a name, got "
                                                 f"{_describe(value)}")

    def strings(self, key: str) -> tuple[str, ...] | None:
        """A list of strings (numbers are taken as their text, as kubectl does for args)."""
        value = self._get(key, list, False)
        if value is None:
            return None
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.doc.error(self.path + (key, i),
                                     f"expected a string, got {_describe(item)}")
            out.append(str(item))
        return tuple(out)

    def string_map(self, key: str) -> dict[str, str]:
        value = self._get(key, dict, False) or {}
        out = {}
        for k, v in value.items():
            if v is None or isinstance(v, (dict, list)):
                raise self.doc.error(self.path + (key, k), f"expected a string, got "
                                                           f"{_describe(v)}")
            out[str(k)] = v if isinstance(v, str) else _scalar_text(v)
        return out

    def child(self, key: str, required: bool = False) -> Fields | None:
        value = self._get(key, dict, required)
        return None if value is None else Fields(value, self.doc, self.path + (key,))

    def children(self, key: str) -> list[Fields]:
        value = self._get(key, list, False) or []
        return [Fields(item, self.doc, self.path + (key, i)) for i, item in enumerate(value)]

    def skip(self, *keys: str) -> None:
        """Keys read elsewhere (or deliberately without effect): not reported as ignored."""
        self._seen.update(keys)

    def done(self) -> None:
        """Report every key no getter took: kube play does not act on it."""
        for key in self.data:
            if key not in self._seen and key not in QUIET:
                self.doc.warn(self.path + (key,), "not supported by kube play; ignored")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {_scalar_text(value)}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
