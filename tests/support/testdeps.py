"""Test dependencies that only some modules need (pyproject's `test` extra, which ./install.sh
puts in pycompose's environment).

A plain `python3 -m pytest` in a fresh clone may run with an interpreter that lacks them: such a
module skips, saying what to install, instead of breaking the collection of every other test.
CI sets PYCOMPOSE_REQUIRE_CORPUS=1 (it runs with everything installed), and there a missing
dependency is an error, so a broken install can never turn into skipped tests.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("PYCOMPOSE_REQUIRE_CORPUS") == "1":
            raise RuntimeError(f"test dependency {package} is missing ({e}): run ./install.sh") \
                from None
        pytest.skip(f"needs the test dependency {package} (./install.sh installs it, or "
                    f"pip install -e '.[test]')", allow_module_level=True)
