from __future__ import annotations

import os
from pathlib import Path

import pytest

# The shared compose test vectors (compose-go's and awesome-compose's), read in place beside the
# clone and never copied into the repo. A clone on its own has none: the tests that need them
# skip, saying why. CI has them and sets PYCOMPOSE_REQUIRE_CORPUS=1, so that losing them there
# is an error rather than a quiet skip. (tests/compose/loader/conftest.py does the same.)
CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
PRESENT = CORPUS.is_dir()
REASON = (f"needs the shared compose test vectors at {os.path.normpath(CORPUS)} "
          "(../shared/corpus beside the clone), which are not there")
if not PRESENT and os.environ.get("PYCOMPOSE_REQUIRE_CORPUS") == "1":
    raise RuntimeError(f"PYCOMPOSE_REQUIRE_CORPUS=1 but {REASON}")

needs_corpus = pytest.mark.skipif(not PRESENT, reason=REASON)


def skip_module_without_corpus() -> None:
    """Call at the top of a module that reads the corpus while it is being imported."""
    if not PRESENT:
        pytest.skip(REASON, allow_module_level=True)


@pytest.fixture
def corpus() -> Path:
    if not PRESENT:
        pytest.skip(REASON)
    return CORPUS
