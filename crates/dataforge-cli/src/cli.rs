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
