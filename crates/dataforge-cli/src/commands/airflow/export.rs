//! `dataforge airflow export PATH… --out DIR`: one Airflow DAG file per valid pipeline
//! (`<dag_id>.py`), exit 2 when a pipeline file is invalid (nothing is written then) or a DAG
//! file cannot be written.

use std::path::{Path, PathBuf};

use super::dag_file::{DagFile, Task};
use crate::cli::{AirflowExportArgs, AirflowOperator};
use crate::{EXIT_BAD_CONFIG, EXIT_OK};

/// Writes the DAG files; prints one line per file written.
pub fn run(args: &AirflowExportArgs) -> u8 {
    let task = match task(args) {
        Ok(task) => task,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_BAD_CONFIG;
        }
    };
    let (found, _) = match super::super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if !found.errors.is_empty() {
        eprintln!("not exporting: fix the errors above");
        return EXIT_BAD_CONFIG;
    }
    if found.pipelines.is_empty() {
        eprintln!("no pipelines found");
        return EXIT_BAD_CONFIG;
    }
    let exported_at = crate::commands::run::now_to_the_second();
    let mut files = Vec::new();
    for p in &found.pipelines {
        let pipeline_file = match absolute_utf8(&p.path, "the pipeline file") {
            Ok(f) => f,
            Err(message) => {
                eprintln!("error: {}: {message}", p.config.dag_id);
                return EXIT_BAD_CONFIG;
            }
        };
        let dag = DagFile {
            config: &p.config,
            pipeline_file: &pipeline_file,
            task: &task,
            default_start: exported_at,
        };
        match dag.render() {
            Ok(source) => files.push((args.out.join(format!("{}.py", p.config.dag_id)), source)),
            Err(e) => {
                eprintln!("error: {} ({}): {e}", p.config.dag_id, p.path.display());
                return EXIT_BAD_CONFIG;
            }
        }
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return EXIT_BAD_CONFIG;
    }
    for (path, source) in &files {
        if let Err(e) = std::fs::write(path, source) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_BAD_CONFIG;
        }
        println!("wrote {}", path.display());
    }
    println!(
        "{} DAG file(s) in {}; retries happen inside `dataforge run` (the tasks have retries=0)",
        files.len(),
        args.out.display()
    );
    EXIT_OK
}

/// The task from the options: the `BashOperator` runs this very executable (or
/// `--dataforge-bin`) in `--workdir` (default: the current directory), both absolute; the
/// `KubernetesPodOperator` runs `dataforge` (or `--dataforge-bin`) in `--image`.
fn task(args: &AirflowExportArgs) -> Result<Task, String> {
    match args.operator {
        AirflowOperator::Bash => {
            if args.image.is_some() {
                return Err("--image is for --operator kubernetes".into());
            }
            let dataforge = match &args.dataforge_bin {
                Some(bin) => absolute_utf8(bin, "--dataforge-bin")?,
                None => {
                    let exe = std::env::current_exe()
                        .map_err(|e| format!("cannot find this executable's path: {e}"))?;
                    absolute_utf8(&exe, "this executable's path")?
                }
            };
            let workdir = match &args.workdir {
                Some(dir) => absolute_utf8(dir, "--workdir")?,
                None => {
                    let cwd = std::env::current_dir()
                        .map_err(|e| format!("cannot read the current directory: {e}"))?;
                    absolute_utf8(&cwd, "the current directory")?
                }
            };
            Ok(Task::Bash { dataforge, workdir })
        }
        AirflowOperator::Kubernetes => {
            let image = args
                .image
                .clone()
                .filter(|i| !i.trim().is_empty())
                .ok_or("--operator kubernetes needs --image IMAGE")?;
            if args.workdir.is_some() {
                return Err("--workdir is for --operator bash (the image sets its own)".into());
            }
            let dataforge = match &args.dataforge_bin {
                Some(bin) => utf8(bin, "--dataforge-bin")?.to_owned(),
                None => "dataforge".to_owned(),
            };
            Ok(Task::Kubernetes { image, dataforge })
        }
    }
}

/// `path` made absolute (against the current directory, `..` kept as written), as UTF-8.
fn absolute_utf8(path: &Path, what: &str) -> Result<String, String> {
    let absolute: PathBuf = std::path::absolute(path)
        .map_err(|e| format!("cannot make {what} absolute ({}): {e}", path.display()))?;
    utf8(&absolute, what).map(str::to_owned)
}

fn utf8<'a>(path: &'a Path, what: &str) -> Result<&'a str, String> {
    path.to_str()
        .ok_or_else(|| format!("{what} ({}) is not valid UTF-8", path.display()))
}
