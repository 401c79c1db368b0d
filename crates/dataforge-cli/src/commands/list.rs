//! `dataforge list`: pipelines with schedule and source → destination.

use crate::cli::PathArgs;
use crate::{EXIT_BAD_CONFIG, EXIT_OK};

/// Prints one line per valid pipeline; exits 2 when some file is invalid.
pub fn run(args: &PathArgs) -> u8 {
    let (found, _) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let rows: Vec<[String; 4]> = found
        .pipelines
        .iter()
        .map(|p| {
            let chain: Vec<&str> = p.config.transforms.iter().map(|t| t.type_name()).collect();
            let flow = if chain.is_empty() {
                format!(
                    "{} → {}",
                    p.pipeline.source_name(),
                    p.pipeline.destination_name()
                )
            } else {
                format!(
                    "{} → {} → {}",
                    p.pipeline.source_name(),
                    chain.join(" → "),
                    p.pipeline.destination_name()
                )
            };
            [
                p.config.dag_id.clone(),
                p.config
                    .schedule_interval
                    .as_ref()
                    .map_or_else(|| "manual".to_owned(), ToString::to_string),
                flow,
                p.path.display().to_string(),
            ]
        })
        .collect();
    let header = ["PIPELINE", "SCHEDULE", "FLOW", "FILE"];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 3 {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out
    };
    println!("{}", line(header));
    for r in &rows {
        println!("{}", line([&r[0], &r[1], &r[2], &r[3]]));
    }
    if found.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_BAD_CONFIG
    }
}
