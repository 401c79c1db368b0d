//! `dataforge`: run, validate and inspect DataForge pipelines.
#![allow(clippy::print_stdout)] // A command-line tool: its results go to stdout.

mod cli;
mod commands;
mod logging;
mod memory;
mod metrics_endpoint;
mod observers;
mod progress;
mod registry;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Rows are allocated by the source's thread and freed by the transform workers and the
/// destination: mimalloc frees across threads without glibc's per-arena serialisation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code: every run succeeded / the command did its job.
const EXIT_OK: u8 = 0;
/// Exit code: a run failed.
const EXIT_RUN_FAILED: u8 = 1;
/// Exit code: bad config or usage.
const EXIT_BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_CONFIG
            } else {
                EXIT_OK
            };
            // Help and version go to stdout, usage errors to stderr, as clap formats them.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    logging::init(cli.log_format, cli.verbose);
    // The end of a transform chain runs on a blocking thread: as much stack as the transform
    // workers have (deep expressions recurse).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(EXIT_RUN_FAILED);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run::run(args, cli.log_format).await,
            Command::Validate(args) => commands::validate::run(&args),
            Command::List(args) => commands::list::run(&args),
            Command::Components => commands::components::run(),
            Command::Schema => commands::schema::run(),
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Trigger(args) => commands::trigger::run(args, cli.log_format).await,
            Command::Backfill(args) => commands::backfill::run(args, cli.log_format).await,
            Command::Runs(args) => commands::runs::run(&args).await,
            Command::Test(args) => commands::test::run(&args),
            Command::Replay(args) => commands::replay::run(args, cli.log_format).await,
            Command::Airflow(args) => commands::airflow::run(&args),
            Command::Plan(args) => commands::plan::run(args).await,
        }
    });
    ExitCode::from(code)
}
