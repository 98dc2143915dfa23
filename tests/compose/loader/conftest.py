from __future__ import annotations

from pathlib import Path

import yaml

# The shared compose test vectors (read in place, never copied into the repo).
CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"


def load_corpus(relative: str):
    with open(CORPUS / relative, encoding="utf-8") as f:
        return yaml.safe_load(f)
