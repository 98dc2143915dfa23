#!/usr/bin/env bash
# Installs pycompose on a Debian/Ubuntu machine, as root: the system packages it and its tests
# use, a virtual environment of its own holding pycompose (editable, from this clone) and its
# test dependencies, and a `pycompose` command on the PATH. Run it again at any time: what is
# already in place is kept, so a second run takes a second or two.
#
#   PYCOMPOSE_PREFIX  the environment                  (default /opt/pycompose)
#   PYCOMPOSE_BIN     the command, a symlink into it   (default /usr/local/bin/pycompose; empty: none)
#   PYCOMPOSE_PYTHON  the interpreter it is made from  (default /usr/bin/python3)
#
# Why an environment of our own: Debian 12 and Ubuntu 23.04+ refuse `pip install` into the
# system interpreter (PEP 668, "externally-managed-environment"), rightly.
# Why the distribution's /usr/bin/python3 and not the first python3 on the PATH: that may be a
# pyenv shim or an activated venv, which can be switched, upgraded or deleted under us, and which
# `sudo` (secure_path) does not even see; the distribution's interpreter is the one apt installs
# python3-venv for and keeps patched. The environment pins it: changing it later (a release
# upgrade to a new Python) is noticed here and the environment is made again.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PYCOMPOSE_PREFIX:-/opt/pycompose}"
command_path="${PYCOMPOSE_BIN-/usr/local/bin/pycompose}"
python="${PYCOMPOSE_PYTHON:-/usr/bin/python3}"
packages=(busybox-static catatonit iptables iproute2 skopeo umoci mmdebstrap docker-registry
          python3 python3-venv ca-certificates)
# Variables that would point the interpreter or pip somewhere other than our environment.
unset PYTHONHOME PYTHONPATH PYTHONSTARTUP VIRTUAL_ENV PIP_USER PIP_TARGET PIP_PREFIX PIP_REQUIRE_VIRTUALENV

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
case "$prefix" in /*) ;; *) die "PYCOMPOSE_PREFIX must be an absolute path, not '$prefix'" ;; esac
# Refused before anything is installed: replacing what is not ours. The environment directory is
# only ever removed (to be made again) when it is one; the command only replaces a symlink or an
# older install's pip-made launcher, never someone else's program.
not_an_environment() { [ -e "$1" ] && [ ! -f "$1/pyvenv.cfg" ] && [ -n "$(ls -A "$1" 2>/dev/null)" ]; }
foreign_command() { [ -e "$1" ] && [ ! -L "$1" ] && ! grep -q 'compose.cli.main' "$1" 2>/dev/null; }
not_an_environment "$prefix" \
    && die "$prefix exists and is not a Python environment; remove it or set PYCOMPOSE_PREFIX"
[ -n "$command_path" ] && foreign_command "$command_path" \
    && die "$command_path exists and is not pycompose's; remove it or set PYCOMPOSE_BIN"

# --- system packages: apt only when one is missing (no `apt-get update` on a second run) -------
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    say "system packages: all ${#packages[@]} present"
else
    [ "$(id -u)" = 0 ] || die "missing system packages (${missing[*]}): run as root (sudo ./install.sh)"
    say "system packages: installing ${missing[*]}"
    apt_log="$(mktemp /tmp/pycompose-apt.XXXXXX)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
            >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "apt-get failed (full output: $apt_log)"
    fi
    rm -f "$apt_log"
fi

# --- the interpreter ----------------------------------------------------------------------------
[ -x "$python" ] || die "no interpreter at $python (apt-get install python3, or set PYCOMPOSE_PYTHON)"
# "3.11.2 /usr": what the environment must be made from (version and installation)
identify='import sys; print("%d.%d.%d" % sys.version_info[:3], sys.base_prefix)'
identity="$("$python" -I -c "$identify")" || die "$python does not run"
version="${identity%% *}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "pycompose needs Python 3.11 or newer; $python is $version"

# --- the environment: made again only when missing or made from another interpreter ------------
venv_python="$prefix/bin/python"
have="$("$venv_python" -I -c "$identify" 2>/dev/null || true)"
if [ "$have" = "$identity" ] && [ -f "$prefix/pyvenv.cfg" ]; then
    env_state="kept"
else
    if [ -e "$prefix" ]; then
        not_an_environment "$prefix" && die "$prefix is not a Python environment; not removing it"
        rm -rf "$prefix"
    fi
    mkdir -p "$(dirname "$prefix")"
    "$python" -m venv "$prefix" || die "cannot make an environment with $python -m venv (apt-get install python3-venv)"
    env_state="made"
fi
say "environment: $prefix ($env_state; Python $version from $python)"

# --- pycompose and its test dependencies: pip only when pyproject.toml or the clone changed ----
stamp="$prefix/.pycompose-install"
want="$(printf 'python %s\nsource %s\npyproject %s\n' "$identity" "$here" \
        "$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)")"
# The editable install must point at this clone (another clone may have used the same prefix).
points_here() {
    # -I: not from the current directory, which may be the clone itself
    [ "$("$venv_python" -I -c 'import compose, os; print(os.path.dirname(os.path.dirname(os.path.realpath(compose.__file__))))' 2>/dev/null)" = "$here" ]
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && points_here; then
    say "pycompose: up to date (editable from $here, with test dependencies)"
else
    pip_log="$prefix/install.log"
    if ! "$venv_python" -m pip install --disable-pip-version-check --no-input -e "$here[test]" \
            >"$pip_log" 2>&1; then
        tail -n 20 "$pip_log" >&2
        die "pip failed (full output: $pip_log)"
    fi
    points_here || die "the environment does not import pycompose from $here (see $pip_log)"
    printf '%s\n' "$want" >"$stamp"
    say "pycompose: installed (editable from $here, with test dependencies; pip's output: $pip_log)"
fi

# An editable install writes no bytecode for our modules: compile it now so no command (or warm
# server) pays for it, also where PYTHONDONTWRITEBYTECODE is set. Up-to-date files are skipped.
PYTHONDONTWRITEBYTECODE= "$venv_python" -m compileall -q "$here/compose" "$here/engine" "$here/netbridge" >/dev/null \
    || die "compiling pycompose's modules failed"

# --- the command ----------------------------------------------------------------------------------
target="$prefix/bin/pycompose"
if [ -n "$command_path" ]; then
    if [ -L "$command_path" ] && [ "$(readlink "$command_path")" = "$target" ]; then
        say "command: $command_path -> $target (kept)"
    else
        mkdir -p "$(dirname "$command_path")"
        ln -sfn "$target" "$command_path"
        say "command: $command_path -> $target"
    fi
    found="$(command -v pycompose || true)"
    if [ -n "$found" ] && [ "$found" != "$command_path" ]; then
        say "note: 'pycompose' in this shell is $found, which comes earlier on the PATH than $command_path"
    fi
fi
say "done in ${SECONDS}s: $("$venv_python" -I -m compose.cli.main --version 2>/dev/null || echo 'pycompose ?'); run the tests with ./test.sh"
