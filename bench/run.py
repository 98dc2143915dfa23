#!/usr/bin/env python3
"""Run every benchmark in bench/ (one command): `python3 bench/run.py [NAME...]`.

Each `bench/*_bench.py` is a standalone script that prints its own table, with ratios against the
incumbents (runc, docker, podman, docker-compose, podman-compose, skopeo) where they are installed.
Benchmarks need root (they start an engine in a temporary state root) and leave nothing behind.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("*_bench.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
