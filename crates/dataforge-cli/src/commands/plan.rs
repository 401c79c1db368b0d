//! `dataforge plan`: what a run of each pipeline would do to its destination, from a sample of
//! its source, without moving data (see `Pipeline::plan`). Prints a diff per pipeline, or a
//! JSON array.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use dataforge_core::config::LoadedPipeline;
use dataforge_core::plan::DEFAULT_SAMPLE_ROWS;
use dataforge_core::{
    MemoryStateStore, PipelinePlan, Registry, RunOptions, StateStore, clip, error_chain,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::run::now_to_the_second;
use crate::{EXIT_BAD_CONFIG, EXIT_OK, EXIT_RUN_FAILED, signals};

/// Exit code: a run would change a destination (create a table, add or widen a column).
pub const EXIT_WOULD_CHANGE: u8 = 3;

/// Arguments of `dataforge plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Plan only this pipeline (its `dag_id`); may be repeated.
    #[arg(long = "pipeline", short = 'p')]
    pub pipelines: Vec<String>,
    /// Rows read from each source before it is stopped.
    #[arg(long, default_value_t = DEFAULT_SAMPLE_ROWS, value_parser = parse_sample)]
    pub sample: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// A sample size: a whole number of rows, at least 1.
fn parse_sample(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err("expected a number of rows, at least 1".into()),
        Ok(n) => Ok(n),
    }
}

/// How `dataforge plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A readable diff per pipeline.
    Text,
    /// A JSON array, one object per pipeline.
    Json,
}

/// Exits 0 when no destination would change, 3 when one would, 1 when a plan could not be
/// made, 2 for invalid files or usage.
pub async fn run(args: PlanArgs) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let selected: Vec<&LoadedPipeline> = if args.pipelines.is_empty() {
        if !found.errors.is_empty() {
            eprintln!(
                "not planning: fix the errors above, or pick valid pipelines with --pipeline"
            );
            return EXIT_BAD_CONFIG;
        }
        found.pipelines.iter().collect()
    } else {
        let mut out = Vec::new();
        for id in &args.pipelines {
            match super::run_one::find(&found, id) {
                Some(p) => out.push(p),
                None => return EXIT_BAD_CONFIG,
            }
        }
        out
    };
    if selected.is_empty() {
        eprintln!("no pipelines found");
        return EXIT_BAD_CONFIG;
    }
    let Some(store) = read_store().await else {
        return EXIT_RUN_FAILED;
    };
    let cancel = CancellationToken::new();
    signals::cancel_on_signals(cancel.clone());
    let sample = args.sample;
    let (mut failed, mut changes, mut bad_config) = (false, false, false);
    let mut entries = Vec::new();
    for lp in selected {
        let outcome = plan_one(lp, registry, &store, &cancel, sample).await;
        match &outcome {
            Outcome::BadConfig => bad_config = true,
            Outcome::Failed(why) => {
                eprintln!("{}: cannot plan: {why}", lp.config.dag_id);
                failed = true;
            }
            Outcome::Planned(plan) => changes |= plan.changes(),
        }
        match args.format {
            PlanFormat::Text => print_text(lp, &outcome, sample),
            PlanFormat::Json => entries.push(to_json(lp, &outcome, sample)),
        }
    }
    if args.format == PlanFormat::Json {
        match serde_json::to_string_pretty(&entries) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot write the plan as JSON: {e}");
                return EXIT_RUN_FAILED;
            }
        }
    }
    if bad_config {
        EXIT_BAD_CONFIG
    } else if failed {
        EXIT_RUN_FAILED
    } else if changes {
        EXIT_WOULD_CHANGE
    } else {
        EXIT_OK
    }
}

/// The state store, to read cursors from; with no state store yet (nothing ever ran here),
/// an empty one in memory, so planning creates no file.
async fn read_store() -> Option<Arc<dyn StateStore>> {
    let url = std::env::var("DATAFORGE_STATE_URL").unwrap_or_default();
    let home = dataforge_core::dataforge_home();
    let file = home.join(dataforge_state::SqliteStateStore::FILE_NAME);
    if url.trim().is_empty() && !file.exists() {
        return Some(Arc::new(MemoryStateStore::default()));
    }
    super::run_one::open_store().await
}

/// How planning one pipeline went.
enum Outcome {
    Planned(Box<PipelinePlan>),
    Failed(String),
    BadConfig,
}

async fn plan_one(
    lp: &LoadedPipeline,
    registry: &Registry,
    store: &Arc<dyn StateStore>,
    cancel: &CancellationToken,
    sample: usize,
) -> Outcome {
    let run_id = RunOptions::new_run_id();
    let logical_date = now_to_the_second();
    let templates = super::run_one::run_templates(lp, store, &run_id, logical_date).await;
    let pipeline = match lp.pipeline_for(&templates, registry) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors.issues() {
                eprintln!("{e}");
            }
            return Outcome::BadConfig;
        }
    };
    let options = RunOptions {
        state_store: store.clone(),
        cancel: cancel.child_token(),
        logical_date: Some(logical_date),
        run_id: Some(run_id),
        ..RunOptions::default()
    };
    match pipeline.plan(&options, sample).await {
        Ok(plan) => Outcome::Planned(Box::new(plan)),
        Err(e) => Outcome::Failed(error_chain(&e)),
    }
}

/// The diff of one pipeline: `+` created or added, `~` widened, `!` rejected rows.
fn print_text(lp: &LoadedPipeline, outcome: &Outcome, sample: usize) {
    let id = &lp.config.dag_id;
    let plan = match outcome {
        Outcome::Planned(plan) => plan,
        Outcome::Failed(_) => {
            println!("{id}: cannot plan (the reason is on stderr)");
            return;
        }
        Outcome::BadConfig => {
            println!("{id}: cannot plan: its config does not render");
            return;
        }
    };
    let Some(target) = &plan.target else {
        println!(
            "{id} → {}: this destination cannot plan ({} rows sampled)",
            plan.destination, plan.rows_sampled
        );
        print_rejected(plan);
        return;
    };
    let key = if target.key.is_empty() {
        String::new()
    } else {
        format!(" on {}", target.key.join(", "))
    };
    println!(
        "{id} → {} {} ({}{key})",
        target.kind, target.target, target.write_mode
    );
    let whole = if plan.source_complete {
        " (the whole source)"
    } else {
        ""
    };
    println!(
        "  {} of at most {sample} rows sampled{whole}, {} out of the chain",
        plan.rows_sampled, plan.rows_out
    );
    if !target.table_exists && !target.create.is_empty() {
        println!("  + table {} (create)", target.target);
    }
    for c in target.create.iter().chain(&target.add) {
        println!("  + column {} {}", c.name, c.sql_type);
    }
    for w in &target.widen {
        println!("  ~ column {} {} → {}", w.name, w.from, w.to);
    }
    if let Some(index) = &target.key_index {
        println!("  + unique index {index} on ({})", target.key.join(", "));
    }
    print_rejected(plan);
    for note in &target.notes {
        println!("  note: {note}");
    }
    if target.changes() {
        println!("  = nothing else changes");
    } else {
        println!("  = no change to the destination");
    }
}

fn print_rejected(plan: &PipelinePlan) {
    if plan.rejected.is_empty() {
        return;
    }
    println!(
        "  ! {} of {} sampled rows would be rejected:",
        plan.rows_rejected(),
        plan.rows_sampled
    );
    for g in &plan.rejected {
        println!(
            "      {} (on_error {}): {} ({} row{}, e.g. {})",
            g.transform,
            on_error_name(g.on_error),
            g.reason,
            g.rows,
            if g.rows == 1 { "" } else { "s" },
            clip(&g.example.to_string())
        );
    }
    if plan.over_reject_budget {
        println!("  ! more than `max_rejected` allows: a run would fail and roll back");
    }
}

fn on_error_name(policy: dataforge_core::OnError) -> String {
    serde_json::to_value(policy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{policy:?}"))
}

/// One pipeline's object in `--format json` (documented in the README).
fn to_json(lp: &LoadedPipeline, outcome: &Outcome, sample: usize) -> serde_json::Value {
    let mut entry = json!({
        "pipeline": lp.config.dag_id,
        "file": lp.path.display().to_string(),
        "sample_limit": sample,
    });
    let extra = match outcome {
        Outcome::Planned(plan) => {
            let mut value = serde_json::to_value(plan.as_ref()).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("rows_rejected".into(), plan.rows_rejected().into());
                map.insert("changes".into(), plan.changes().into());
                map.insert("error".into(), serde_json::Value::Null);
            }
            value
        }
        Outcome::Failed(why) => json!({"changes": null, "target": null, "error": why}),
        Outcome::BadConfig => {
            json!({"changes": null, "target": null, "error": "its config does not render"})
        }
    };
    if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
        entry.extend(extra.clone());
    }
    entry
}
