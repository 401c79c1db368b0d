//! `dataforge serve`: the [`Scheduler`] on the system clock over pipeline files that are
//! re-read when they change; SIGTERM or Ctrl-C drains and stops.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataforge_core::config::{Discovery, LoadedPipeline};
use dataforge_core::{Registry, RunOptions, Scheduler, error_chain, load_paths};

use super::run_one::open_store;
use crate::cli::ServeArgs;
use crate::{EXIT_OK, EXIT_RUN_FAILED, signals};

/// Serves until a signal, then stops within the grace period.
pub async fn run(args: ServeArgs) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if !found.errors.is_empty() {
        tracing::warn!(
            invalid = found.errors.issues().len(),
            "some pipeline files are invalid (above): serving the valid ones"
        );
    }
    let Some(store) = open_store().await else {
        return EXIT_RUN_FAILED;
    };
    let readiness = match args.metrics_addr {
        Some(addr) => match crate::metrics_endpoint::start(addr, store.clone()).await {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("{}", error_chain(&e));
                return EXIT_RUN_FAILED;
            }
        },
        None => None,
    };
    let mut current: Vec<LoadedPipeline> = found.pipelines;
    let mut seen = snapshot(&args.paths);
    let registry = Arc::new(registry.clone());
    let scheduler = Scheduler::new(copies(&current), registry.clone(), store)
        .concurrency(args.concurrency)
        .lease(args.lease)
        .run_options(RunOptions {
            observers: crate::observers::from_env(),
            ..RunOptions::default()
        });
    tracing::info!(owner = scheduler.owner_id(), lease = ?args.lease, "claiming runs as");
    let handle = match scheduler.start().await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot start the scheduler: {}", error_chain(&e));
            return EXIT_RUN_FAILED;
        }
    };
    if let Some(r) = &readiness {
        r.set_scheduling(true);
    }
    tracing::info!(
        pipelines = current.len(),
        concurrency = args.concurrency,
        "serving"
    );

    let mut poll = tokio::time::interval(args.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let signal = signals::wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            _ = poll.tick() => {
                let now = snapshot(&args.paths);
                if now == seen {
                    continue;
                }
                seen = now;
                current = reload(&args.paths, &registry, current);
                if handle.replace_pipelines(copies(&current)).is_err() {
                    tracing::error!("the scheduler stopped on its own");
                    return EXIT_RUN_FAILED;
                }
            }
        }
    }
    tracing::warn!(
        grace = ?args.grace,
        "stopping: no new runs; running loads may finish within the grace period, then are \
         cancelled and roll back (press Ctrl-C again to exit now)"
    );
    if let Some(r) = &readiness {
        r.set_scheduling(false);
    }
    tokio::spawn(async {
        signals::wait_for_signal().await;
        std::process::exit(130);
    });
    handle.stop(args.grace).await;
    EXIT_OK
}

/// The pipelines after a change: every valid file's, plus the last valid version of each
/// pipeline whose file is now invalid (logged with why); a removed file's is dropped.
fn reload(
    paths: &[PathBuf],
    registry: &Registry,
    previous: Vec<LoadedPipeline>,
) -> Vec<LoadedPipeline> {
    let Discovery {
        mut pipelines,
        errors,
        warnings,
    } = load_paths(paths, registry);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let bad_files: HashSet<&Path> = errors
        .issues()
        .iter()
        .filter_map(|i| i.file.as_deref())
        .collect();
    let mut ids: HashSet<String> = pipelines.iter().map(|p| p.config.dag_id.clone()).collect();
    for old in previous {
        // A file given by name and since removed is an error too: its pipeline goes.
        let kept = bad_files.contains(old.path.as_path()) && old.path.exists();
        if kept && !ids.contains(&old.config.dag_id) {
            let why: Vec<String> = errors
                .issues()
                .iter()
                .filter(|i| i.file.as_deref() == Some(old.path.as_path()))
                .map(ToString::to_string)
                .collect();
            tracing::error!(
                pipeline = %old.config.dag_id,
                file = %old.path.display(),
                errors = %why.join("; "),
                "the changed file is invalid: keeping its last valid version"
            );
            ids.insert(old.config.dag_id.clone());
            pipelines.push(old);
        }
    }
    for issue in errors.issues() {
        tracing::error!("{issue}");
    }
    tracing::info!(pipelines = pipelines.len(), "pipeline files reloaded");
    pipelines
}

/// Copies of loaded pipelines for the scheduler (the serve loop keeps its own).
fn copies(pipelines: &[LoadedPipeline]) -> Vec<LoadedPipeline> {
    pipelines
        .iter()
        .map(|p| LoadedPipeline {
            path: p.path.clone(),
            config: p.config.clone(),
            pipeline: p.pipeline.clone(),
        })
        .collect()
}

/// The contents of every `*.json` file under `paths` (and of each file given), to notice an
/// added, changed or removed file.
fn snapshot(paths: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for path in paths {
        let files: Vec<PathBuf> = if path.is_dir() {
            walkdir_json(path)
        } else {
            vec![path.clone()]
        };
        for file in files {
            if let Ok(bytes) = std::fs::read(&file) {
                out.insert(file, bytes);
            }
        }
    }
    out
}

/// The `*.json` files below `dir`.
fn walkdir_json(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"{"dag_id": "ID", "schedule_interval": "@daily",
        "source": {"type": "file", "path": "in.jsonl"},
        "destination": {"type": "file", "path": "out.jsonl"}}"#;

    #[test]
    fn reload_keeps_an_invalid_files_last_version_and_drops_a_removed_one() {
        let registry = crate::registry::builtin().expect("registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (
            dir.path().join("a.json"),
            dir.path().join("b.json"),
            dir.path().join("c.json"),
        );
        std::fs::write(&a, PIPELINE.replace("ID", "a")).expect("write");
        std::fs::write(&b, PIPELINE.replace("ID", "b")).expect("write");
        let paths = vec![a.clone(), b.clone(), c.clone()];
        let first = reload(&paths, registry, Vec::new());
        assert_eq!(first.len(), 2);

        std::fs::remove_file(&a).expect("remove");
        std::fs::write(&b, "{ broken").expect("write");
        std::fs::write(&c, PIPELINE.replace("ID", "c")).expect("write");
        let mut ids: Vec<String> = reload(&paths, registry, first)
            .into_iter()
            .map(|p| p.config.dag_id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["b", "c"]);
    }
}
