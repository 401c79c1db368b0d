//! The `tests` of a pipeline file: input rows for the transform chain and what must come out,
//! run by `dataforge test` (see [`crate::pipeline_tests`]).

use chrono_tz::Tz;

use super::DateSpec;
use super::fields::Fields;
use crate::error::ConfigIssue;
use crate::registry::json_kind;

/// A JSON object: a row as written in the file.
pub type JsonRow = serde_json::Map<String, serde_json::Value>;

/// One test of a pipeline's transform chain (an item of the file's `tests` array).
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// What the test checks (unique in the file).
    pub name: String,
    /// The rows fed to the chain.
    pub input: TestInput,
    /// Merged over the pipeline's `params` for this test's templates.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The logical date the templates render for (default: the pipeline's `start_date`, else
    /// 2025-01-01).
    pub logical_date: Option<chrono::DateTime<chrono::Utc>>,
    /// The rows that must come out (compared whole, column order aside).
    pub expect: Option<Vec<JsonRow>>,
    /// Whether `expect` is compared in order (default: as a multiset).
    pub ordered: bool,
    /// How many rows must come out.
    pub expect_count: Option<u64>,
    /// The rows that must be rejected, each matched once; no other row may be.
    pub expect_rejected: Option<Vec<ExpectedRejection>>,
}

/// Where a test's input rows are.
#[derive(Clone, Debug, PartialEq)]
pub enum TestInput {
    /// Written in the file.
    Rows(Vec<JsonRow>),
    /// A JSON array or JSON Lines file, relative to the pipeline file.
    File(String),
}

/// A rejected row a test expects: any part left out matches anything.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExpectedRejection {
    /// Columns the rejected row has, with these values (as it reached the rejecting
    /// transform; its other columns aside).
    pub row: Option<JsonRow>,
    /// Text the reason must contain.
    pub reason: Option<String>,
    /// The rejecting transform: its step name (`transforms[1] cast`), position
    /// (`transforms[1]`) or type (`cast`).
    pub transform: Option<String>,
}

/// The keys of a test.
const TEST_KEYS: &[&str] = &[
    "name",
    "input",
    "params",
    "logical_date",
    "expect",
    "ordered",
    "expect_count",
    "expect_rejected",
];

/// Parses the file's `tests` value; every problem goes to `errors` at its JSON path.
pub(super) fn parse_tests(
    value: serde_json::Value,
    tz: Tz,
    errors: &mut Vec<ConfigIssue>,
) -> Vec<TestCase> {
    let items = match value {
        serde_json::Value::Null => return Vec::new(),
        serde_json::Value::Array(items) => items,
        other => {
            errors.push(ConfigIssue::at(
                "tests",
                format!("expected an array of tests, found {}", json_kind(&other)),
            ));
            return Vec::new();
        }
    };
    let mut tests: Vec<TestCase> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("tests[{i}]");
        if let Some(name) = item.get("name").and_then(|n| n.as_str()) {
            if names.iter().any(|n| n == name) {
                errors.push(ConfigIssue::at(
                    format!("{path}.name"),
                    format!("\"{name}\" names another test already"),
                ));
            }
            names.push(name.to_owned());
        }
        tests.extend(parse_test(item, &path, tz, errors));
    }
    tests
}

fn parse_test(
    item: serde_json::Value,
    path: &str,
    tz: Tz,
    errors: &mut Vec<ConfigIssue>,
) -> Option<TestCase> {
    let before = errors.len();
    let mut f = Fields::new(item, path, errors)?;
    let checks_something = ["expect", "expect_count", "expect_rejected"]
        .iter()
        .any(|k| f.has(k));
    let name: Option<String> = f.require("name");
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        f.errors()
            .push(ConfigIssue::at(format!("{path}.name"), "is empty"));
    }
    let input = match f.take_raw("input") {
        None => {
            f.errors()
                .push(ConfigIssue::at(format!("{path}.input"), "is required"));
            None
        }
        Some(serde_json::Value::String(file)) => Some(TestInput::File(file)),
        Some(serde_json::Value::Array(rows)) => {
            rows_at(rows, &format!("{path}.input"), f.errors()).map(TestInput::Rows)
        }
        Some(other) => {
            f.errors().push(ConfigIssue::at(
                format!("{path}.input"),
                format!(
                    "expected an array of rows or the path of a JSON or JSON Lines file, found {}",
                    json_kind(&other)
                ),
            ));
            None
        }
    };
    let params = f.take("params").unwrap_or_default();
    let logical_date = f
        .take::<Option<DateSpec>>("logical_date")
        .flatten()
        .map(|d| d.resolve(tz));
    let expect = match f.take_raw("expect") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(rows)) => {
            rows_at(rows, &format!("{path}.expect"), f.errors())
        }
        Some(other) => {
            f.errors().push(ConfigIssue::at(
                format!("{path}.expect"),
                format!("expected an array of rows, found {}", json_kind(&other)),
            ));
            None
        }
    };
    let has_expect = expect.is_some();
    let ordered = f.take("ordered").unwrap_or(false);
    let expect_count = f.take::<Option<u64>>("expect_count").flatten();
    let expect_rejected = match f.take_raw("expect_rejected") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(items)) => {
            let at = format!("{path}.expect_rejected");
            let parsed: Vec<_> = items
                .into_iter()
                .enumerate()
                .filter_map(|(j, item)| rejection_at(item, &format!("{at}[{j}]"), f.errors()))
                .collect();
            Some(parsed)
        }
        Some(other) => {
            f.errors().push(ConfigIssue::at(
                format!("{path}.expect_rejected"),
                format!(
                    "expected an array of rejected rows, found {}",
                    json_kind(&other)
                ),
            ));
            None
        }
    };
    if !checks_something {
        f.errors().push(ConfigIssue::at(
            path,
            "says nothing to check: give `expect`, `expect_count` or `expect_rejected`",
        ));
    }
    if ordered && !has_expect {
        f.errors().push(ConfigIssue::at(
            format!("{path}.ordered"),
            "applies to `expect`, which this test does not have",
        ));
    }
    for key in f.remaining_keys() {
        let message = format!("unknown field, expected one of {}", TEST_KEYS.join(", "));
        f.errors()
            .push(ConfigIssue::at(format!("{path}.{key}"), message));
    }
    if errors.len() > before {
        return None;
    }
    Some(TestCase {
        name: name?,
        input: input?,
        params,
        logical_date,
        expect,
        ordered,
        expect_count,
        expect_rejected,
    })
}

/// Rows (objects) of an array at `path`; `None` when one is not an object.
fn rows_at(
    rows: Vec<serde_json::Value>,
    path: &str,
    errors: &mut Vec<ConfigIssue>,
) -> Option<Vec<JsonRow>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut ok = true;
    for (j, row) in rows.into_iter().enumerate() {
        match row {
            serde_json::Value::Object(map) => out.push(map),
            other => {
                ok = false;
                errors.push(ConfigIssue::at(
                    format!("{path}[{j}]"),
                    format!("expected a row (an object), found {}", json_kind(&other)),
                ));
            }
        }
    }
    ok.then_some(out)
}

fn rejection_at(
    item: serde_json::Value,
    path: &str,
    errors: &mut Vec<ConfigIssue>,
) -> Option<ExpectedRejection> {
    let before = errors.len();
    let mut f = Fields::new(item, path, errors)?;
    let row = f.take::<Option<JsonRow>>("row").flatten();
    let reason = f.take::<Option<String>>("reason").flatten();
    let transform = f.take::<Option<String>>("transform").flatten();
    for key in f.remaining_keys() {
        f.errors().push(ConfigIssue::at(
            format!("{path}.{key}"),
            "unknown field, expected one of row, reason, transform",
        ));
    }
    (errors.len() == before).then_some(ExpectedRejection {
        row,
        reason,
        transform,
    })
}
