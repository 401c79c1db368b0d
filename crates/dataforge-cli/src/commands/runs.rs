//! `dataforge runs`: the run history, as a table or JSON.

use dataforge_core::{RunQuery, RunRecord, error_chain};

use super::run_one::open_store;
use crate::cli::{RunsArgs, RunsFormat};
use crate::{EXIT_OK, EXIT_RUN_FAILED};

/// Prints the runs the arguments select, newest logical date first.
pub async fn run(args: &RunsArgs) -> u8 {
    let Some(store) = open_store().await else {
        return EXIT_RUN_FAILED;
    };
    let mut query = match &args.pipeline {
        Some(id) => RunQuery::pipeline(id.clone()),
        None => RunQuery::all(),
    };
    query = query.limit(args.limit);
    let runs = match store.runs(&query).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot read the run history: {}", error_chain(&e));
            return EXIT_RUN_FAILED;
        }
    };
    match args.format {
        RunsFormat::Json => match serde_json::to_string_pretty(&runs) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot write the runs as JSON: {e}");
                return EXIT_RUN_FAILED;
            }
        },
        RunsFormat::Table => print!("{}", table(&runs)),
    }
    EXIT_OK
}

/// Aligned columns, a header line first.
fn table(runs: &[RunRecord]) -> String {
    let header = [
        "PIPELINE",
        "LOGICAL DATE",
        "TRIGGER",
        "STATUS",
        "ROWS",
        "SECONDS",
        "RUN ID",
    ];
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            [
                r.pipeline_id.clone(),
                r.logical_date.to_rfc3339(),
                r.trigger.to_string(),
                r.status.to_string(),
                r.rows_loaded.to_string(),
                r.duration_seconds
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}")),
                r.run_id.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
