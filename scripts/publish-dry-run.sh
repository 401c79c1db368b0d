#!/usr/bin/env bash
# Publishing, rehearsed: `scripts/publish-dry-run.sh [cargo args...]` (CI runs it with
# `--locked`, which goes to `cargo publish` and `cargo package`).
#
# 1. `cargo publish --workspace --dry-run --no-verify` (cargo 1.90+): packages every crate
#    whose `publish` is not false, in dependency order (core, hooks, sources, destinations,
#    transforms, cli), resolving the unpublished siblings through a temporary local registry,
#    without building them (step 3 builds the libraries). Nothing is uploaded.
#    `--allow-dirty`: it checks the working tree as it is (CI's checkout is clean anyway).
# 2. Every .crate holds README.md, LICENSE-MIT and LICENSE-APACHE, and its README's links are
#    absolute (crates.io shows the README out of the repository, where a relative link breaks).
# 3. The packaged crates build and their doc tests pass: the .crate files are unpacked into one
#    throwaway workspace, `$CARGO_TARGET_DIR/package-doctests`, whose `[patch.crates-io]`
#    points the dataforge-* dependencies at the unpacked siblings; `cargo test --doc -p CRATE`
#    runs there for each library, with its default features. A file
#    missing from a package, a dependency only a path can find, a doc test that needs a file
#    outside its package, or a feature only the workspace's dev-dependencies turn on
#    (dataforge-core's `test-utils` comes from a path-only self dev-dependency, which packaging
#    drops) fails here rather than for the first user of the published crate.
# 4. examples/custom-component, built and tested as a downstream crate: its own manifest (no
#    workspace inheritance), depending on the packaged dataforge-core with its default
#    features only, in the same throwaway workspace (~20 s).
#
# Needs crates.io (its index, and the crates Cargo.lock names) and nothing else. Reuses
# CARGO_TARGET_DIR's build cache. Until 2026-12-06 step 1 also verified each package by
# building it in a target directory of its own: 45-80 s warm, 3 min 50 s cold, for what step 3
# builds anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[ -n "$target" ] || { echo "publish-dry-run: cannot find the target directory" >&2; exit 1; }
packages="$target/package"
export CARGO_TARGET_DIR="$target"

echo "== 1. cargo publish --workspace --dry-run --no-verify (package, in dependency order)"
# `--no-verify`: step 3 builds every library from its .crate file (through its doc tests),
# sharing this target directory's dependencies; cargo's own verification built them all again
# in a directory of its own (3-4 minutes of a cold CI). The CLI's package is checked for its
# files and dependencies here, not built.
cargo publish --workspace --dry-run --no-verify --allow-dirty "$@"

# The same packages again, kept this time (a dry run keeps its .crate files in a temporary
# place), minus the crates that are never published (examples, benches).
rm -f "$packages"/*.crate
cargo package --workspace --no-verify --allow-dirty --offline --quiet "$@"
crates=()
for crate in "$packages"/*.crate; do
    base="$(basename "$crate" .crate)"
    if tar -xzOf "$crate" "$base/Cargo.toml" | grep -qx 'publish = false'; then
        rm -f "$crate"
    else
        crates+=("$crate")
    fi
done
[ "${#crates[@]}" -gt 0 ] || { echo "publish-dry-run: no .crate file in $packages" >&2; exit 1; }
echo "packages: $(for c in "${crates[@]}"; do basename "$c" .crate; done | tr '\n' ' ')"

echo "== 2. licenses and READMEs in the packages"
status=0
for crate in "${crates[@]}"; do
    base="$(basename "$crate" .crate)" # name-version
    listing="$(tar -tzf "$crate")"
    for file in README.md LICENSE-MIT LICENSE-APACHE; do
        if ! grep -qx "$base/$file" <<<"$listing"; then
            echo "publish-dry-run: $base.crate has no $file" >&2
            status=1
        fi
    done
    # Inline links `](target)` and reference definitions `[x]: target` must be absolute URLs
    # (or anchors in the README itself).
    relative="$(tar -xzOf "$crate" "$base/README.md" 2>/dev/null \
        | grep -oE '\]\([^)]*\)|^\[[^]]+\]: *[^ ]+' \
        | grep -vE '\]\((https?://|#)|\]: *(https?://|#)' || true)"
    if [ -n "$relative" ]; then
        echo "publish-dry-run: $base's README has relative links, which break on crates.io:" >&2
        echo "$relative" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] || exit 1
echo "${#crates[@]} packages hold README.md, LICENSE-MIT and LICENSE-APACHE; README links are absolute"

echo "== 3. the packaged crates build from their .crate files; their doc tests pass"
work="$packages-doctests"
rm -rf "$work"
mkdir -p "$work"
members=""
patches=""
for crate in "${crates[@]}"; do
    base="$(basename "$crate" .crate)"
    name="${base%-*}"
    tar -xzf "$crate" -C "$work"
    members="$members    \"$base\",\n"
    if grep -q '^\[lib\]' "$work/$base/Cargo.toml"; then
        patches="$patches$name = { path = \"$base\" }\n"
    fi
done
printf '# Made by scripts/publish-dry-run.sh: the packaged crates, each other'"'"'s dependencies.\n[workspace]\nresolver = "3"\nmembers = [\n%b]\n\n[patch.crates-io]\n%b' \
    "$members" "$patches" >"$work/Cargo.toml"
# The versions CI tests with; cargo drops the entries of the workspace's unpublished crates.
cp Cargo.lock "$work/Cargo.lock"
# One crate at a time: the resolver then turns on only the features that crate and its own
# dev-dependencies ask for, as for a user of the published crate (the whole workspace at once
# would unify them: dataforge-destinations' dev-dependency turns on dataforge-core's
# `test-utils`, and dataforge-core's own doc tests would see it).
for crate in "${crates[@]}"; do
    base="$(basename "$crate" .crate)"
    if grep -q '^\[lib\]' "$work/$base/Cargo.toml"; then
        echo "-- ${base%-*}"
        (cd "$work" && cargo test --doc --quiet -p "${base%-*}")
    fi
done

echo "== 4. examples/custom-component as a downstream crate, on the packaged crates"
# A component crate outside this workspace: its own manifest (no workspace inheritance), the
# published dataforge-core with its default features only (no `test-utils`), its own lockfile
# entries. If it needs anything the published crates do not give, it fails here.
mkdir -p "$work/custom-component"
cp -r examples/custom-component/src examples/custom-component/tests "$work/custom-component/"
cat >"$work/custom-component/Cargo.toml" <<'MANIFEST'
# Made by scripts/publish-dry-run.sh from examples/custom-component (keep the two in step).
[package]
name = "dataforge-example-custom-component"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
dataforge-core = "0.1"
serde = { version = "1", features = ["derive"] }
tempfile = "3"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "time"] }

[dev-dependencies]
dataforge-sources = "0.1"
serde_json = "1"
MANIFEST
sed -i 's|^members = \[|members = [\n    "custom-component",|' "$work/Cargo.toml"
(cd "$work" && cargo test --quiet -p dataforge-example-custom-component)
echo "publish-dry-run: every publishable crate packages, builds from its package, and its doc tests pass; the custom-component example builds and passes on the packaged crates"
