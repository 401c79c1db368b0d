//! The scripts around PostgreSQL on a machine without it. `scripts/test.sh`, the README's test
//! command, must say how to get a server rather than fail obscurely; `scripts/install-postgres.sh`
//! (run by `.ci/run`) must install the server binaries with `apt-get`, here a stub that records
//! its arguments. (The other paths run on every CI run: a server that answers, or a throwaway
//! one started from the local binaries.)

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
    let bin = bin_dir(&["dirname", "ls", "sort"], &[]);
    let out = run_script("test.sh", bin.path(), &bin.path().join("nothing/*/bin"));
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

/// Runs `scripts/<script>` with only `bin` on `PATH`, no server at the test URL (nothing
/// listens on port 1) and `bin_glob` as where PostgreSQL's binaries are looked for.
fn run_script(script: &str, bin: &Path, bin_glob: &Path) -> std::process::Output {
    Command::new(which("bash"))
        .arg(root().join("scripts").join(script))
        .env_clear()
        .env("PATH", bin)
        .env(
            "DATAFORGE_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/test",
        )
        .env("DATAFORGE_PG_BIN_GLOB", bin_glob)
        .output()
        .expect("runs bash")
}

/// A directory for `PATH` holding links to `tools` and the given stub scripts.
fn bin_dir(tools: &[&str], stubs: &[(&str, String)]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().expect("tempdir");
    for tool in tools {
        std::os::unix::fs::symlink(which(tool), bin.path().join(tool)).expect("symlink");
    }
    for (name, body) in stubs {
        let path = bin.path().join(name);
        std::fs::write(&path, format!("#!{}\n{body}", which("bash").display())).expect("stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

/// What `scripts/install-postgres.sh` did with an `apt-get` stub that logs its arguments and, on
/// `install`, creates `initdb` and `pg_ctl` under `pg/16/bin` (unless `fail_install`).
struct Install {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    apt_calls: Vec<String>,
}

fn run_install(binaries_present: bool, fail_install: bool) -> Install {
    let work = tempfile::tempdir().expect("tempdir");
    let log = work.path().join("apt.log");
    let pg = work.path().join("pg");
    let (mkdir, touch, chmod) = (which("mkdir"), which("touch"), which("chmod"));
    let apt_get = format!(
        r#"echo "$*" >> '{log}'
if [ "$1" = install ]; then
    [ -n '{fail}' ] && exit 100
    '{mkdir}' -p '{pg}/16/bin' && '{touch}' '{pg}/16/bin/initdb' '{pg}/16/bin/pg_ctl'
    '{chmod}' +x '{pg}/16/bin/initdb' '{pg}/16/bin/pg_ctl'
fi
"#,
        log = log.display(),
        fail = if fail_install { "yes" } else { "" },
        mkdir = mkdir.display(),
        touch = touch.display(),
        chmod = chmod.display(),
        pg = pg.display(),
    );
    // Run as another user, the script calls `sudo -n apt-get ...`: the stub runs the command.
    let sudo = r#"[ "$1" = -n ] && shift; exec "$@""#.to_owned();
    let bin = bin_dir(
        &["dirname", "ls", "sort", "id", "readlink"],
        &[("apt-get", apt_get), ("sudo", sudo)],
    );
    if binaries_present {
        let dir = pg.join("15/bin");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for tool in ["initdb", "pg_ctl"] {
            std::fs::copy(which("true"), dir.join(tool)).expect("copy");
        }
    }
    let out = run_script("install-postgres.sh", bin.path(), &pg.join("*/bin"));
    Install {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        apt_calls: std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

#[test]
fn without_a_server_or_binaries_ci_installs_postgresql_with_apt_get() {
    let run = run_install(false, false);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.apt_calls, ["update -qq", "install -y -qq postgresql"]);
    assert!(
        run.stdout.contains("installed; binaries in") && run.stdout.contains("/pg/16/bin"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn with_binaries_present_ci_installs_nothing() {
    let run = run_install(true, false);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.apt_calls.is_empty(), "{:?}", run.apt_calls);
    assert!(
        run.stdout.contains("/pg/15/bin; nothing to install"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failed_install_is_reported_and_left_to_the_test_script() {
    let run = run_install(false, true);
    // CI goes on: scripts/test.sh then says what is missing (the test above).
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.apt_calls, ["update -qq", "install -y -qq postgresql"]);
    assert!(
        run.stderr.contains("apt-get install postgresql failed"),
        "{}",
        run.stderr
    );
}
