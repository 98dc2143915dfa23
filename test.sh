#!/usr/bin/env bash
# Runs the whole test suite (as root: integration tests use real namespaces, mounts, cgroups,
# bridges and firewall rules). The run fails if it leaves anything of ours on the host.
set -euo pipefail
cd "$(dirname "$0")"
export PYCOMPOSE_LEAK_CHECK=1
exec python3 -m pytest -q "$@"
