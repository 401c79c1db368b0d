//! `scripts/test.sh`, the README's test command, on a machine without PostgreSQL: it must say
//! how to get a server rather than fail obscurely. (Its other paths run on every CI run: a server
//! that answers, or a throwaway one started from the local binaries.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate is `crates/dataforge-cli`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where `tool` is on this machine's `PATH`.
fn which(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{tool}` is not on PATH"))
}

#[test]
fn without_postgres_binaries_the_test_script_says_how_to_install_them() {
    // A PATH with only the coreutils the script needs before it looks for PostgreSQL: no
    // pg_isready, psql, initdb or pg_ctl, and no cargo (it must stop before running tests).
    let bin = tempfile::tempdir().expect("tempdir");
    for tool in ["dirname", "ls", "sort"] {
        std::os::unix::fs::symlink(which(tool), bin.path().join(tool)).expect("symlink");
    }
    let out = Command::new(which("bash"))
        .arg(root().join("scripts/test.sh"))
        .env_clear()
        .env("PATH", bin.path())
        // Nothing listens on port 1; and no binaries where the script looks for them.
        .env(
            "DATAFORGE_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/test",
        )
        .env("DATAFORGE_PG_BIN_GLOB", bin.path().join("nothing/*/bin"))
        .output()
        .expect("runs bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("no PostgreSQL server answers"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("PostgreSQL server binaries (initdb, pg_ctl) not found")
            && stderr.contains("apt-get install postgresql")
            && stderr.contains("DATAFORGE_TEST_DATABASE_URL"),
        "{stderr}"
    );
}
