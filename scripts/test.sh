#!/usr/bin/env bash
# The test command: `scripts/test.sh [cargo test args...]`.
#
# The PostgreSQL integration tests need a server at DATAFORGE_TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test). When nothing answers there, this starts a throwaway
# server from the local PostgreSQL binaries (initdb/pg_ctl from PATH or /usr/lib/postgresql/*/bin)
# in a temporary directory on a free port (as an unprivileged user when run as root), creates
# the database `test`, runs the tests against it, and stops and deletes it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/postgres.sh
url="$(test_database_url)"

free_port() {
    local p
    for p in $(seq 55432 55532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

if answers "$url"; then
    echo "test.sh: using the PostgreSQL server at ${url%%\?*}" | sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#'
else
    echo "test.sh: no PostgreSQL server answers at the test URL; starting a throwaway one"
    if ! bin="$(find_pg_bin)"; then
        echo "test.sh: PostgreSQL server binaries (initdb, pg_ctl) not found." >&2
        echo "test.sh: install them, e.g. 'apt-get install postgresql' (Debian/Ubuntu)," >&2
        echo "test.sh: or point DATAFORGE_TEST_DATABASE_URL at a running server." >&2
        exit 1
    fi
    port="$(free_port)" || { echo "test.sh: no free port in 55432-55532" >&2; exit 1; }
    tmp="$(mktemp -d -t dataforge-pg.XXXXXX)"
    run_as=()
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root: use an unprivileged user.
        user=postgres
        if ! id -u "$user" >/dev/null 2>&1; then
            user=dataforge-test
            id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
        fi
        chown "$user" "$tmp"
        chmod 700 "$tmp"
        run_as=(runuser -u "$user" --)
    fi
    cleanup() {
        "${run_as[@]}" "$bin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$tmp"
    }
    trap cleanup EXIT
    "${run_as[@]}" "$bin/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$tmp/initdb.log" 2>&1 \
        || { cat "$tmp/initdb.log" >&2; exit 1; }
    if ! "${run_as[@]}" "$bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
        -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null; then
        cat "$tmp/server.log" >&2
        exit 1
    fi
    "${run_as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test 2>/dev/null \
        || "${run_as[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc 'CREATE DATABASE test'
    url="postgres://postgres@127.0.0.1:$port/test"
    echo "test.sh: throwaway PostgreSQL ($("$bin/postgres" --version)) at $url"
fi
export DATAFORGE_TEST_DATABASE_URL="$url"

cargo test --workspace "$@"
