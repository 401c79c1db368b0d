#!/usr/bin/env bash
# The component crates' cargo features, checked: `scripts/check-features.sh [cargo args...]`
# (CI runs it after clippy, whose default-feature build it reuses).
#
# 1. Each feature of dataforge-destinations alone (`file`, `postgres`, `sqlite`), none at all,
#    dataforge-sources and dataforge-hooks without their default features, and each feature of
#    dataforge-hooks alone (`postgres`, `http`, `shopify`, `google_sheets`): lib, tests,
#    examples and benches compile with no warning (clippy -D warnings: a module a subset leaves
#    unused is dead code and fails here). The default features are the workspace's clippy run.
# 2. The dependency trees: a file-only build has no rustls, ring, tokio-postgres, dataforge-hooks
#    or bundled SQLite (libsqlite3-sys) among its normal dependencies; an sqlite-only build no
#    PostgreSQL client or TLS; a postgres-only build no SQLite and no HTTP client (reqwest);
#    dataforge-hooks with only `postgres` has no reqwest, with only `http` no tokio-postgres.
#
# Runtime on the shared 2-core machine, after the workspace's clippy: 8-12 s measured (each
# subset re-checks the dataforge crates; their dependencies are cached).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== feature subsets compile (clippy -D warnings, all targets)"
for features in file postgres sqlite ""; do
    echo "-- dataforge-destinations --no-default-features --features '$features'"
    cargo clippy --quiet -p dataforge-destinations --all-targets --no-default-features \
        --features "$features" "$@" -- -D warnings
done
echo "-- dataforge-sources, dataforge-hooks --no-default-features"
cargo clippy --quiet -p dataforge-sources -p dataforge-hooks --all-targets --no-default-features \
    "$@" -- -D warnings
for features in file shopify; do
    echo "-- dataforge-sources --no-default-features --features '$features'"
    cargo clippy --quiet -p dataforge-sources --all-targets --no-default-features \
        --features "$features" "$@" -- -D warnings
done
for features in sqlite postgres ""; do
    echo "-- dataforge-state --no-default-features --features '$features'"
    cargo clippy --quiet -p dataforge-state --all-targets --no-default-features \
        --features "$features" "$@" -- -D warnings
done
for features in postgres http shopify google_sheets; do
    echo "-- dataforge-hooks --no-default-features --features '$features'"
    cargo clippy --quiet -p dataforge-hooks --all-targets --no-default-features \
        --features "$features" "$@" -- -D warnings
done

echo "== dependency trees"
status=0
# `deps_of FEATURES`: the normal dependencies of dataforge-destinations with only FEATURES, one
# name a line.
deps_of() {
    cargo tree --quiet -p dataforge-destinations --no-default-features --features "$1" \
        -e normal --prefix none | sed 's/ .*//' | sort -u
}
# `refuse FEATURES CRATE...`: fails the step when a FEATURES build depends on a CRATE.
refuse() {
    local features="$1" deps found=""
    shift
    deps="$(deps_of "$features")"
    for crate in "$@"; do
        if grep -qx "$crate" <<<"$deps"; then
            found="$found $crate"
        fi
    done
    if [ -n "$found" ]; then
        echo "check-features: dataforge-destinations with only '$features' depends on:$found" >&2
        status=1
    else
        echo "features '$features': none of $*"
    fi
}
# The names are checked against the default build first, so a renamed crate cannot make the
# refusals below pass vacuously.
all="$(cargo tree --quiet -p dataforge-destinations -e normal --prefix none | sed 's/ .*//' | sort -u)"
for crate in rustls ring tokio-postgres dataforge-hooks rusqlite libsqlite3-sys; do
    grep -qx "$crate" <<<"$all" || { echo "check-features: the default build has no $crate" >&2; status=1; }
done
refuse file rustls ring tokio-postgres postgres-protocol dataforge-hooks rusqlite libsqlite3-sys reqwest
refuse sqlite rustls ring tokio-postgres postgres-protocol dataforge-hooks reqwest
refuse postgres rusqlite libsqlite3-sys reqwest
# dataforge-hooks: each client only with its feature.
hooks_deps() {
    cargo tree --quiet -p dataforge-hooks "$@" -e normal --prefix none | sed 's/ .*//' | sort -u
}
hooks_all="$(hooks_deps)"
for crate in reqwest tokio-postgres; do
    grep -qx "$crate" <<<"$hooks_all" || { echo "check-features: dataforge-hooks' default build has no $crate" >&2; status=1; }
done
if grep -qx reqwest <<<"$(hooks_deps --no-default-features --features postgres)"; then
    echo "check-features: dataforge-hooks with only 'postgres' depends on reqwest" >&2
    status=1
else
    echo "dataforge-hooks 'postgres': no reqwest"
fi
if grep -qx tokio-postgres <<<"$(hooks_deps --no-default-features --features http)"; then
    echo "check-features: dataforge-hooks with only 'http' depends on tokio-postgres" >&2
    status=1
else
    echo "dataforge-hooks 'http': no tokio-postgres"
fi
exit "$status"
