#!/usr/bin/env bash
# Installs everything pycompose and its test suite need on a Debian/Ubuntu machine (run as root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    busybox-static catatonit iptables iproute2 \
    skopeo umoci mmdebstrap docker-registry \
    python3 python3-pip python3-venv ca-certificates >/dev/null
python3 -m pip install --quiet --disable-pip-version-check -e "$here[test]"
# An editable install writes no bytecode; compile it now so no command (or warm server) pays for
# compiling our modules, also where PYTHONDONTWRITEBYTECODE is set.
PYTHONDONTWRITEBYTECODE= python3 -m compileall -q "$here/compose" "$here/engine" "$here/netbridge" >/dev/null
echo "pycompose installed: $(command -v pycompose)"
