//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative data pipelines: extract → transform → load.
#[derive(Debug, Parser)]
#[command(name = "dataforge", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More detail in logs (-v debug, -vv trace); `DATAFORGE_LOG` sets filters.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pipelines once, with progress and a summary.
    Run(RunArgs),
    /// Check pipeline files without running them.
    Validate(PathArgs),
    /// List pipelines with schedule and source → destination.
    List(PathArgs),
    /// List the registered component types.
    Components,
    /// Print the JSON Schema of a pipeline file.
    Schema,
    /// Run pipelines when due (catchup, reload on change; SIGTERM drains).
    Serve(ServeArgs),
    /// Run one pipeline once now, recorded as triggered.
    Trigger(TriggerArgs),
    /// Run a pipeline's past intervals in order.
    Backfill(BackfillArgs),
    /// Show the run history.
    Runs(RunsArgs),
    /// Run the `tests` of pipeline files: the transform chain on each test's rows, no I/O.
    Test(TestArgs),
    /// Run a pipeline's dead-lettered rows again through today's chain into its destination.
    Replay(ReplayArgs),
    /// Run pipelines on Airflow (`export` writes DAG files).
    Airflow(AirflowArgs),
    /// Say what a run would do to each destination, from a sample of its source (no data moves).
    Plan(crate::commands::plan::PlanArgs),
}

/// Files or directories of pipeline files.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `dataforge run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Run only this pipeline (its `dag_id`); may be repeated.
    #[arg(long = "pipeline", short = 'p')]
    pub pipelines: Vec<String>,
    /// Write the run reports as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The logical date (YYYY-MM-DD or RFC 3339); default now. Templates render for the
    /// data interval that starts there (to the next tick of the schedule).
    #[arg(long)]
    pub logical_date: Option<String>,
}

/// Arguments of `dataforge test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Test only this pipeline (its `dag_id`); may be repeated.
    #[arg(long = "pipeline", short = 'p')]
    pub pipelines: Vec<String>,
}

/// Arguments of `dataforge replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The pipeline whose dead letters are replayed (its `dag_id`).
    #[arg(long = "pipeline", short = 'p')]
    pub pipeline: String,
    /// The dead-letter file (JSON Lines) to replay and rewrite; default: the pipeline's
    /// `dead_letter` file.
    #[arg(long)]
    pub from: Option<PathBuf>,
}

/// Arguments of `dataforge serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Pipeline files, or directories searched for `*.json`; watched for changes.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// At most this many runs at once, over all pipelines.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// On SIGTERM or Ctrl-C, how long running loads may take to finish before they are
    /// cancelled (`60s`, `2m`).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
    /// Serve Prometheus metrics at `http://ADDR/metrics`, with `/healthz` and `/readyz`
    /// (e.g. `127.0.0.1:9464`; port 0 picks a free port, logged).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How often the paths are checked for changes.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, hide = true)]
    pub poll: std::time::Duration,
    /// With a shared PostgreSQL state store: how long a claimed run stays this process's
    /// without a heartbeat (`30s`); another process takes it over after that.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub lease: std::time::Duration,
}

/// Arguments of `dataforge trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The pipeline to run (its `dag_id`).
    #[arg(long = "pipeline", short = 'p')]
    pub pipeline: String,
    /// The logical date (YYYY-MM-DD or RFC 3339, in the pipeline's time zone); default: the
    /// last complete interval of its schedule, or now.
    #[arg(long)]
    pub logical_date: Option<String>,
    /// A JSON object merged into the pipeline's `params` for this run.
    #[arg(long)]
    pub conf: Option<String>,
}

/// What a backfill does with intervals that already have runs (Airflow's `reprocess_behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reprocess {
    /// Run only the intervals without a finished run.
    None,
    /// Also rerun the intervals whose latest run failed or was cancelled.
    Failed,
    /// Rerun every interval.
    All,
}

/// Arguments of `dataforge backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The pipeline to backfill (its `dag_id`).
    #[arg(long = "pipeline", short = 'p')]
    pub pipeline: String,
    /// The first logical date (inclusive; in the pipeline's time zone).
    #[arg(long)]
    pub from: String,
    /// The last logical date (inclusive).
    #[arg(long)]
    pub to: String,
    /// What to do with intervals that already ran.
    #[arg(long, value_enum, default_value_t = Reprocess::None)]
    pub reprocess: Reprocess,
    /// List the intervals and what would be done, without running.
    #[arg(long)]
    pub dry_run: bool,
}

/// How `dataforge runs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunsFormat {
    /// Aligned columns.
    Table,
    /// A JSON array of run records.
    Json,
}

/// Arguments of `dataforge runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this pipeline's runs.
    #[arg(long = "pipeline", short = 'p')]
    pub pipeline: Option<String>,
    /// At most this many runs, newest logical date first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunsFormat::Table)]
    pub format: RunsFormat,
}

/// Arguments of `dataforge airflow`.
#[derive(Debug, Args)]
pub struct AirflowArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AirflowCommand,
}

/// The `airflow` subcommands.
#[derive(Debug, Subcommand)]
pub enum AirflowCommand {
    /// Write one Airflow DAG file per pipeline (`<dag_id>.py`) that runs it with `dataforge run`.
    Export(AirflowExportArgs),
}

/// The Airflow operator an exported task uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AirflowOperator {
    /// A `BashOperator` running `dataforge` on the Airflow worker.
    Bash,
    /// A `KubernetesPodOperator` running `dataforge` in `--image`.
    Kubernetes,
}

/// Arguments of `dataforge airflow export`.
#[derive(Debug, Args)]
pub struct AirflowExportArgs {
    /// Pipeline files, or directories searched for `*.json`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The directory the DAG files are written to (Airflow's dags folder).
    #[arg(long)]
    pub out: PathBuf,
    /// The operator of the task.
    #[arg(long, value_enum, default_value_t = AirflowOperator::Bash)]
    pub operator: AirflowOperator,
    /// The container image (with `dataforge` and the pipeline files) for `--operator kubernetes`.
    #[arg(long)]
    pub image: Option<String>,
    /// The `dataforge` executable the task runs (default: this one, by its absolute path; in
    /// a pod: `dataforge`).
    #[arg(long)]
    pub dataforge_bin: Option<PathBuf>,
    /// The directory relative paths in pipeline files are read from on the worker (default:
    /// the current directory; `--operator bash` only).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}
