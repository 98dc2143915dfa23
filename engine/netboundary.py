"""Where the engine meets netbridge. netbridge knows nothing of HTTP or of our error root: it
raises its own errors (netbridge.errors). Every call the engine makes on its NetworkManager goes
through `Networks`, which re-raises them as the engine's typed errors with the same message, so
the API answers 400/404/409/500 exactly as it did when netbridge raised ours directly."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from netbridge import errors as nb

from engine.errors import BadParameter, Conflict, EngineError, NotFound

# most specific first: every netbridge error is a NetbridgeError
_MAPPING: tuple[tuple[type[nb.NetbridgeError], type[EngineError]], ...] = (
    (nb.InvalidRequest, BadParameter),
    (nb.NotFound, NotFound),
    (nb.Conflict, Conflict),
    (nb.NetbridgeError, EngineError),   # HostFailure and anything new: a 500 naming the object
)


def engine_error(exc: nb.NetbridgeError) -> EngineError:
    """The engine's error for a netbridge one: same message, status by meaning."""
    for theirs, ours in _MAPPING:
        if isinstance(exc, theirs):
            return ours(exc.message)
    raise AssertionError("unreachable: NetbridgeError is mapped")


def _translating(fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except nb.NetbridgeError as exc:
                raise engine_error(exc) from exc
        return call_async

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except nb.NetbridgeError as exc:
            raise engine_error(exc) from exc
    return call


class Networks:
    """A netbridge NetworkManager seen from the engine: the same methods and attributes, its
    errors translated. Attribute writes (the resolver's `container_links` hook) reach the
    manager itself."""

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)

    @property
    def inner(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if inspect.ismethod(value):
            # kept: the next lookup finds it without __getattr__ (6 us -> 0.1 us a call)
            wrapped = _translating(value)
            object.__setattr__(self, name, wrapped)
            return wrapped
        # plain attributes, and callables stored on the manager (the resolver's hook), which
        # may be replaced: looked up each time
        return _translating(value) if callable(value) and not isinstance(value, type) else value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)
