//! Running a pipeline file's `tests` ([`TestCase`]): the transform chain alone, rendered for
//! the test's params and logical date, on the test's input rows; no source, destination or
//! network. `dataforge test` prints the outcomes.

mod expect;

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};

pub use expect::{Mismatch, RejectedRow};

use crate::config::{PipelineConfig, TestCase, TestInput};
use crate::context::RunContext;
use crate::error::error_chain;
use crate::pipeline::TransformStep;
use crate::registry::Registry;
use crate::runner::chain::{finish_steps, transform_batch};
use crate::value::Record;

/// How one test went.
#[derive(Debug)]
pub struct TestOutcome {
    /// The test's name.
    pub name: String,
    /// Rows that came out of the chain.
    pub rows_out: usize,
    /// Rows the chain rejected.
    pub rejected: Vec<RejectedRow>,
    /// What did not match (empty: the test passed), or why it could not run.
    pub result: Result<Vec<Mismatch>, String>,
}

impl TestOutcome {
    /// True when the test ran and everything matched.
    pub fn passed(&self) -> bool {
        matches!(&self.result, Ok(m) if m.is_empty())
    }
}

/// Runs `test` of `config` (loaded from `file`, against which an input file is resolved).
pub fn run_test(
    config: &PipelineConfig,
    file: &Path,
    test: &TestCase,
    registry: &Registry,
) -> TestOutcome {
    let mut outcome = TestOutcome {
        name: test.name.clone(),
        rows_out: 0,
        rejected: Vec::new(),
        result: Ok(Vec::new()),
    };
    let ran = run_chain(config, file, test, registry);
    match ran {
        Ok((rows, rejected)) => {
            outcome.rows_out = rows.len();
            outcome.result = Ok(expect::check(test, &rows, &rejected));
            outcome.rejected = rejected;
        }
        Err(why) => outcome.result = Err(why),
    }
    outcome
}

/// The chain's output rows and rejected rows for the test's input.
fn run_chain(
    config: &PipelineConfig,
    file: &Path,
    test: &TestCase,
    registry: &Registry,
) -> Result<(Vec<Record>, Vec<RejectedRow>), String> {
    let input = input_rows(&test.input, file)?;
    let mut config = config.clone();
    config.params.extend(test.params.clone());
    let fallback = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single();
    let date: DateTime<Utc> = test
        .logical_date
        .or(config.start_date)
        .or(fallback)
        .unwrap_or_default();
    let context = config.template_context("test", date);
    let rendered = config
        .render(&context)
        .map_err(|e| format!("the templates do not render for this test: {e}"))?;
    let steps = build_steps(&rendered, registry)?;
    let ctx = RunContext::builder(config.dag_id.clone())
        .run_id("test")
        .logical_date(date)
        .params(config.params.clone())
        .build();
    let fail = |e: crate::runner::StageError| error_chain(&e.into_run_error(&config.dag_id));
    let (mut rows, mut rejected) = transform_batch(&steps, &ctx, input).map_err(fail)?;
    let (released, more) = finish_steps(&steps, &ctx).map_err(fail)?;
    rows.extend(released);
    rejected.extend(more);
    let rejected = rejected
        .into_iter()
        .flat_map(|(i, rows)| {
            let transform = steps[i].name.clone();
            rows.into_iter().map(move |r| RejectedRow {
                transform: transform.clone(),
                reason: r.reason,
                row: r.record,
            })
        })
        .collect();
    Ok((rows, rejected))
}

/// The chain's steps, built from the rendered config.
fn build_steps(config: &PipelineConfig, registry: &Registry) -> Result<Vec<TransformStep>, String> {
    let mut steps = Vec::with_capacity(config.transforms.len());
    for (i, entry) in config.transforms.iter().enumerate() {
        let path = format!("transforms[{i}]");
        let built = registry
            .build_transform(&entry.config)
            .map_err(|e| e.under(&path).to_string())?;
        steps.push(TransformStep {
            name: format!("{path} {}", built.name),
            transform: built.component,
            on_error: entry.on_error,
        });
    }
    Ok(steps)
}

/// The test's input as records, read as the file source reads JSON.
fn input_rows(input: &TestInput, file: &Path) -> Result<Vec<Record>, String> {
    match input {
        TestInput::Rows(rows) => rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let text = serde_json::to_vec(row).map_err(|e| e.to_string())?;
                Record::from_json(&text).map_err(|e| format!("input[{i}]: {e}"))
            })
            .collect(),
        TestInput::File(name) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(name);
            let text = std::fs::read(&path)
                .map_err(|e| format!("cannot read the input file {}: {e}", path.display()))?;
            parse_input_file(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}

/// A JSON array of objects, or JSON Lines (one object per line; blank lines skipped).
fn parse_input_file(text: &[u8]) -> Result<Vec<Record>, String> {
    let trimmed = text.trim_ascii_start();
    if trimmed.starts_with(b"[") {
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(trimmed).map_err(|e| format!("not a JSON array: {e}"))?;
        return rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                if !row.is_object() {
                    return Err(format!("row {}: expected an object", i + 1));
                }
                let text = serde_json::to_vec(row).map_err(|e| e.to_string())?;
                Record::from_json(&text).map_err(|e| format!("row {}: {e}", i + 1))
            })
            .collect();
    }
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(i, line)| Record::from_json(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
