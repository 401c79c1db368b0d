# Shell functions shared by scripts/test.sh and scripts/install-postgres.sh (sourced, not run).

# The test database URL: DATAFORGE_TEST_DATABASE_URL, or the local server's `test` database.
test_database_url() {
    echo "${DATAFORGE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
}

# True when a server accepts connections for the URL $1 (the database may not exist yet).
answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 3 -d "$1" >/dev/null 2>&1
    elif command -v psql >/dev/null 2>&1; then
        psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
    else
        return 1
    fi
}

# Prints the directory of the PostgreSQL server binaries (initdb and pg_ctl): from PATH, else
# the newest /usr/lib/postgresql/*/bin. DATAFORGE_PG_BIN_GLOB replaces that default place to
# look (the tests point it at nothing, or at stubs). Fails when there are none.
find_pg_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    local d
    for d in $(ls -d ${DATAFORGE_PG_BIN_GLOB:-/usr/lib/postgresql/*/bin} 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}
