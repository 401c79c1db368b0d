#!/usr/bin/env bash
# Installs the PostgreSQL server binaries with `apt-get install postgresql` (Debian/Ubuntu; as
# root, or with password-less sudo) when the tests would otherwise have no server: nothing
# answers at the test URL and scripts/test.sh finds no binaries to start a throwaway one.
# Does nothing otherwise. Never fails the caller: when it cannot install, scripts/test.sh says
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/postgres.sh

if answers "$(test_database_url)"; then
    echo "install-postgres.sh: a server answers at the test URL; nothing to install"
    exit 0
fi
if bin="$(find_pg_bin)"; then
    echo "install-postgres.sh: PostgreSQL binaries found in $bin; nothing to install"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgres.sh: no apt-get here; install the PostgreSQL server binaries yourself" >&2
    exit 0
fi
echo "install-postgres.sh: installing PostgreSQL (apt-get install postgresql)"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq || echo "install-postgres.sh: apt-get update failed; trying the install anyway" >&2
if ! "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null; then
    echo "install-postgres.sh: apt-get install postgresql failed" >&2
elif bin="$(find_pg_bin)"; then
    echo "install-postgres.sh: installed; binaries in $bin"
else
    echo "install-postgres.sh: installed, but initdb and pg_ctl are still not found" >&2
fi
