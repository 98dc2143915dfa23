"""The timing seam: netbridge names its slow steps (bridge up, rule installs, veth deletes) and the
caller decides what timing them means. NetworkManager takes a `StepTimer`; the engine passes its
own step logger (PYCOMPOSE_STEP_TIMES), everyone else gets `untimed`, which costs nothing."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Callable

# step(name, detail="") → a context manager around the step's work
StepTimer = Callable[..., AbstractContextManager[None]]

_NULL = nullcontext()


def untimed(name: str, detail: str = "") -> AbstractContextManager[None]:
    return _NULL
