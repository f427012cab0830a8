#!/usr/bin/env bash
# Set up everything pbs-fleet needs on a fresh Debian machine: apt packages (when root),
# then a virtualenv in .venv with the project and its dev dependencies. Idempotent.
#   scripts/bootstrap.sh [demo|test]   demo: what `make demo` needs; test (default): + test tiers
set -euo pipefail
cd "$(dirname "$0")/.."

tier=${1:-test}
lists=scripts/apt-packages-demo.txt
case "$tier" in
    demo) ;;
    test) lists="$lists scripts/apt-packages-test.txt" ;;
    *) echo "bootstrap: unknown tier '$tier' (demo or test)" >&2; exit 64 ;;
esac
want=$(cat $lists | grep -vE '^\s*(#|$)' | tr '\n' ' ')
missing=""
for pkg in $want; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "bootstrap: installing Debian packages:$missing" >&2
        # Keep services from starting on install (no systemd as PID 1 on these machines).
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
        rm -f /usr/sbin/policy-rc.d
    else
        echo "bootstrap: missing Debian packages (run as root to install):$missing" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -e "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
