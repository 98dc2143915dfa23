#!/usr/bin/env bash
# Runs the test suite in the environment install.sh made (as root: integration tests use real
# namespaces, mounts, cgroups, bridges and firewall rules). Extra arguments go to pytest. The run
# fails if it leaves anything of ours on the host.
#
#   PYCOMPOSE_PREFIX  the environment install.sh made (default /opt/pycompose)
set -euo pipefail
cd "$(dirname "$0")"
prefix="${PYCOMPOSE_PREFIX:-/opt/pycompose}"
if [ ! -x "$prefix/bin/python" ]; then
    echo "test.sh: no pycompose environment at $prefix: run ./install.sh first (or set PYCOMPOSE_PREFIX)" >&2
    exit 2
fi
# The environment's bin first on the PATH: tests that start `python3` or `pycompose` get the
# same interpreter and packages as pytest itself, whatever python3 the caller's shell has.
unset PYTHONHOME PYTHONPATH
export VIRTUAL_ENV="$prefix"
export PATH="$prefix/bin:$PATH"
export PYCOMPOSE_LEAK_CHECK="${PYCOMPOSE_LEAK_CHECK:-1}"   # 0: while others test on this machine too
exec "$prefix/bin/python" -m pytest -q "$@"
