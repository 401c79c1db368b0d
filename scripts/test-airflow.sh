#!/usr/bin/env bash
# DataForge on a real Airflow: `scripts/test-airflow.sh [--install-only]`.
#
# For each version in DATAFORGE_AIRFLOW_VERSIONS (default `3.3.2`; `2.10.5 3.3.2` tests both):
# installs that pinned `apache-airflow` from the package registry into a virtual environment
# cached under the cargo target directory (`$CARGO_TARGET_DIR/airflow/venv-<version>-py<X.Y>`,
# with Airflow's constraints file when it can be downloaded, else the pinned version alone),
# then, in a temporary AIRFLOW_HOME with a SQLite metadata database and no webserver:
#   1. `dataforge airflow export` of examples/pipelines, the quickstart and a pipeline that
#      fails, into the dags folder;
#   2. Airflow's DagBag imports every file without an import error and finds exactly those DAGs;
#   3. `airflow dags test quickstart_orders` runs end to end: its 25 rows are in the SQLite
#      destination and the run report is in the task log;
#   4. `airflow dags test failing_pipeline` (a PostgreSQL destination on a closed port, its
#      connection given as Airflow's AIRFLOW_CONN_UNREACHABLE in JSON form): dataforge retries
#      once (the pipeline's retries), exits 1, and the task fails once, not retried by Airflow;
#      the connection's password is nowhere in the task log.
# `--install-only` installs the environments and stops (CI runs it in the background).
# The `dataforge` binary: DATAFORGE_BIN, else $CARGO_TARGET_DIR/debug/dataforge (built by the
# tests), else `cargo build -p dataforge-cli`.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
versions="${DATAFORGE_AIRFLOW_VERSIONS:-3.3.2}"
target="${CARGO_TARGET_DIR:-$root/target}"
py="${PYTHON:-python3}"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

venv_of() { echo "$target/airflow/venv-$1-py$pyver"; }

# Installs Airflow $1 once; a lock keeps a background install and a test run from racing.
install() {
    local version="$1" venv start
    venv="$(venv_of "$version")"
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [ -f "$venv/.ready" ]; then
        echo "test-airflow: Airflow $version: cached at $venv"
        exec 9>&-
        return 0
    fi
    start=$SECONDS
    rm -rf "$venv"
    "$py" -m venv "$venv"
    local constraints=()
    local url="https://raw.githubusercontent.com/apache/airflow/constraints-$version/constraints-$pyver.txt"
    if curl -fsSL --max-time 20 -o "$venv/constraints.txt" "$url" 2>/dev/null; then
        constraints=(-c "$venv/constraints.txt")
    else
        echo "test-airflow: Airflow $version: constraints file not reachable; installing the pinned version alone"
    fi
    "$venv/bin/pip" install --quiet "apache-airflow==$version" "${constraints[@]}"
    touch "$venv/.ready"
    echo "test-airflow: Airflow $version: installed in $((SECONDS - start)) s at $venv"
    exec 9>&-
}

for version in $versions; do
    install "$version"
done
if [ "${1:-}" = "--install-only" ]; then
    exit 0
fi

bin="${DATAFORGE_BIN:-$target/debug/dataforge}"
if [ ! -x "$bin" ]; then
    cargo build --quiet -p dataforge-cli
    bin="$target/debug/dataforge"
fi

fail() {
    echo "test-airflow: FAILED: $*" >&2
    exit 1
}

# The checks on one Airflow version.
test_version() {
    local version="$1" venv tmp start=$SECONDS
    venv="$(venv_of "$version")"
    tmp="$(mktemp -d -t dataforge-airflow.XXXXXX)"
    # shellcheck disable=SC2064 # expand now: the path of this run
    trap "rm -rf '$tmp'" EXIT
    export AIRFLOW_HOME="$tmp/home"
    export AIRFLOW__CORE__DAGS_FOLDER="$tmp/dags"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    local work="$tmp/work" airflow="$venv/bin/airflow" python="$venv/bin/python"
    mkdir -p "$work/examples"
    cp -r examples/quickstart "$work/examples/"
    cat >"$work/failing.json" <<'JSON'
{"dag_id": "failing_pipeline", "schedule_interval": "@daily", "start_date": "2026-01-01",
 "default_args": {"retries": 1, "retry_delay": "1s"},
 "source": {"type": "file", "path": "examples/quickstart/data/orders.jsonl"},
 "destination": {"type": "postgres", "conn_id": "unreachable", "schema": "s", "table": "t"}}
JSON
    echo "== Airflow $version: export"
    "$bin" airflow export examples/pipelines "$work/examples/quickstart/orders_to_sqlite.json" \
        "$work/failing.json" --workdir "$work" --out "$tmp/dags"

    "$airflow" db migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log"; fail "airflow db migrate"; }

    echo "== Airflow $version: the DAG files import"
    "$python" - "$tmp/dags" <<'PY' 2>"$tmp/dagbag.log" || { cat "$tmp/dagbag.log"; fail "DagBag"; }
import sys
try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 2
bag = DagBag(dag_folder=sys.argv[1])
expected = {"failing_pipeline", "gsheet_targets", "orders_to_postgres", "quickstart_orders",
            "paid_orders_tested", "shopify_orders_daily"}
assert not bag.import_errors, bag.import_errors
assert set(bag.dag_ids) == expected, sorted(bag.dag_ids)
for dag_id in expected:
    dag = bag.dags[dag_id]
    assert dag.default_args["retries"] == 0, dag_id
    assert [t.retries for t in dag.tasks] == [0], dag_id
print("DagBag: %d DAGs, no import errors" % len(bag.dag_ids))
PY

    echo "== Airflow $version: airflow dags test quickstart_orders"
    if ! "$airflow" dags test quickstart_orders 2026-08-03 >"$tmp/ok.log" 2>&1; then
        tail -50 "$tmp/ok.log"
        fail "dags test quickstart_orders"
    fi
    grep -q "DataForge run report:" "$tmp/ok.log" || fail "no run report in the task log"
    grep -q '"status": "succeeded"' "$tmp/ok.log" || fail "the report does not say succeeded"
    rows="$("$py" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM orders").fetchone()[0])' "$work/dataforge-quickstart.db")"
    [ "$rows" = 25 ] || fail "expected 25 rows in the quickstart's SQLite table, found $rows"
    echo "quickstart_orders: task succeeded, $rows rows in $work/dataforge-quickstart.db"

    echo "== Airflow $version: airflow dags test failing_pipeline"
    local code=0
    AIRFLOW_CONN_UNREACHABLE='{"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "u", "password": "hunter2-secret", "schema": "db"}' \
        "$airflow" dags test failing_pipeline 2026-08-03 >"$tmp/fail.log" 2>&1 || code=$?
    grep -q "FAILED after 2 attempt(s)" "$tmp/fail.log" || { tail -50 "$tmp/fail.log"; fail "dataforge did not retry then fail"; }
    grep -q "127.0.0.1:1/db" "$tmp/fail.log" || fail "the run did not use the Airflow connection"
    if grep -q "hunter2-secret" "$tmp/fail.log"; then fail "the connection's password is in the task log"; fi
    "$python" - <<'PY' 2>>"$tmp/fail.log" || { tail -50 "$tmp/fail.log"; fail "failing_pipeline's task did not fail"; }
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "failing_pipeline").all()
    states = [str(ti.state) for ti in tis]
    tries = [ti.try_number for ti in tis]
assert states in (["failed"], ["TaskInstanceState.FAILED"]), states
assert tries == [1], tries  # one Airflow try: the retries happened inside dataforge
print("failing_pipeline: task", states[0], "after", tries[0], "Airflow try")
PY
    echo "failing_pipeline: task failed (airflow dags test exit code $code)"
    echo "== Airflow $version: passed in $((SECONDS - start)) s"
}

for version in $versions; do
    test_version "$version"
done
