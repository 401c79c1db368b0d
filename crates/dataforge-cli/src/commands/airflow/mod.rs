//! `dataforge airflow`: run DataForge pipelines on Airflow, as ordinary tasks.
//!
//! `export` writes one DAG file per pipeline ([`dag_file`]), every value from a pipeline file
//! written as a Python literal ([`python`]).

pub mod dag_file;
pub mod export;
pub mod python;

#[cfg(test)]
mod tests;

use crate::cli::{AirflowArgs, AirflowCommand};

/// Runs an `airflow` subcommand.
pub fn run(args: &AirflowArgs) -> u8 {
    match &args.command {
        AirflowCommand::Export(export) => export::run(export),
    }
}
