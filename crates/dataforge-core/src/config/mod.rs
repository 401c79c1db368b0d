//! Pipeline files: the JSON format of the Python/Airflow project, parsed with every error
//! reported at once, located by file and JSON path.

mod default_args;
mod fields;
mod json;
mod loader;
mod reject_budget;
mod render;
mod schedule;
mod schema;
mod test_case;

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

pub use default_args::{DefaultArgs, DurationSpec, MAX_DURATION, MAX_RETRIES};
pub use loader::{Discovery, LoadedPipeline, load_paths};
pub use reject_budget::RejectBudget;
pub use schedule::Schedule;
pub use schema::pipeline_schema;
pub use test_case::{ExpectedRejection, JsonRow, TestCase, TestInput};

use crate::error::{ConfigErrors, ConfigIssue};
use crate::registry::json_kind;
use fields::Fields;

/// What happens to a row a transform rejects.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnError {
    /// The run fails, naming the row and the reason (the default).
    #[default]
    Fail,
    /// The row is dropped, with a warning per reason and a count in the report.
    Skip,
    /// The row goes to the pipeline's `dead_letter` destination.
    DeadLetter,
}

/// One transform entry: its config object (with `type`) and its `on_error` policy.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformEntry {
    /// The config, with `type` and without `on_error`.
    pub config: serde_json::Value,
    /// The row-error policy.
    pub on_error: OnError,
}

impl TransformEntry {
    /// The `type` name.
    pub fn type_name(&self) -> &str {
        component_type(&self.config)
    }
}

/// The `type` of a component config object (`?` when absent).
pub fn component_type(config: &serde_json::Value) -> &str {
    config.get("type").and_then(|t| t.as_str()).unwrap_or("?")
}

/// A parsed pipeline file (components are resolved later, against a registry).
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    /// The pipeline's id.
    pub dag_id: String,
    /// What it is for.
    pub description: Option<String>,
    /// When it runs; `None` for manual runs only.
    pub schedule_interval: Option<Schedule>,
    /// The first logical date (a date or naive date-time in the file means local time in
    /// `timezone`).
    pub start_date: Option<DateTime<Utc>>,
    /// The last logical date (same reading as `start_date`).
    pub end_date: Option<DateTime<Utc>>,
    /// Whether missed intervals are run (default false).
    pub catchup: bool,
    /// The IANA time zone the cron expression and naive dates are read in (default UTC).
    pub timezone: Tz,
    /// How many runs of this pipeline may be active at once (default 1, at least 1).
    pub max_active_runs: u32,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// Retries and timeouts.
    pub default_args: DefaultArgs,
    /// The source's config object.
    pub source: serde_json::Value,
    /// The transforms, in order.
    pub transforms: Vec<TransformEntry>,
    /// The destination's config object (without `on_error`).
    pub destination: serde_json::Value,
    /// What happens to rows the destination says it cannot hold (its row check).
    pub destination_on_error: OnError,
    /// Where rejected rows go.
    pub dead_letter: Option<serde_json::Value>,
    /// Rows per batch.
    pub batch_size: Option<usize>,
    /// The bad-row budget: more rejected rows fail the run (see [`RejectBudget`]).
    pub max_rejected: Option<RejectBudget>,
    /// Values for templates.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Tests of the transform chain, run by `dataforge test`.
    pub tests: Vec<TestCase>,
}

/// The top-level keys of a pipeline file.
const TOP_LEVEL_KEYS: &[&str] = &[
    "dag_id",
    "description",
    "schedule_interval",
    "start_date",
    "end_date",
    "catchup",
    "timezone",
    "max_active_runs",
    "tags",
    "default_args",
    "source",
    "transforms",
    "destination",
    "dead_letter",
    "batch_size",
    "max_rejected",
    "params",
    "tests",
];

/// `max_active_runs` when a pipeline does not say (Airflow's default too).
pub const DEFAULT_MAX_ACTIVE_RUNS: u32 = 1;

/// The largest `batch_size` accepted.
pub const MAX_BATCH_SIZE: usize = 1_000_000;

/// A config that parsed, with its warnings.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The config.
    pub config: PipelineConfig,
    /// Things worth knowing that are not errors (ignored Airflow keys).
    pub warnings: Vec<ConfigIssue>,
}

impl PipelineConfig {
    /// Parses a pipeline file's text (a leading byte-order mark is skipped; a repeated key is an
    /// error). Paths in errors are relative to the document; the loader adds the file name.
    ///
    /// # Errors
    /// Every problem found in the document.
    pub fn from_json_str(text: &str) -> Result<Parsed, ConfigErrors> {
        Self::from_json(json::parse_str(text)?)
    }

    /// Parses a pipeline file's bytes: UTF-8 JSON, as [`PipelineConfig::from_json_str`].
    ///
    /// # Errors
    /// Every problem found in the document; text that is not UTF-8.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Parsed, ConfigErrors> {
        Self::from_json(json::parse_slice(bytes)?)
    }

    /// Parses a pipeline from a JSON value.
    ///
    /// # Errors
    /// Every problem found in the document.
    pub fn from_json(value: serde_json::Value) -> Result<Parsed, ConfigErrors> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let Some(mut f) = Fields::new(value, "", &mut errors) else {
            return Err(ConfigErrors(errors));
        };
        let dag_id: Option<String> = f.require("dag_id");
        if let Some(id) = &dag_id
            && let Err(m) = validate_dag_id(id)
        {
            f.errors().push(ConfigIssue::at("dag_id", m));
        }
        let description = f.take::<Option<String>>("description").flatten();
        let schedule_interval = f.take::<Option<Schedule>>("schedule_interval").flatten();
        let timezone = f
            .take::<Option<TimeZoneSpec>>("timezone")
            .flatten()
            .map_or(Tz::UTC, |t| t.0);
        let start_date = f
            .take::<Option<DateSpec>>("start_date")
            .flatten()
            .map(|d| d.resolve(timezone));
        let end_date = f
            .take::<Option<DateSpec>>("end_date")
            .flatten()
            .map(|d| d.resolve(timezone));
        if let (Some(s), Some(e)) = (start_date, end_date)
            && e < s
        {
            f.errors()
                .push(ConfigIssue::at("end_date", "is before start_date"));
        }
        let catchup = f.take("catchup").unwrap_or(false);
        let max_active_runs = match f.take::<Option<u32>>("max_active_runs").flatten() {
            Some(0) => {
                f.errors().push(ConfigIssue::at(
                    "max_active_runs",
                    "must be at least 1, found 0",
                ));
                DEFAULT_MAX_ACTIVE_RUNS
            }
            Some(n) => n,
            None => DEFAULT_MAX_ACTIVE_RUNS,
        };
        let tags = f.take("tags").unwrap_or_default();
        let default_args = match f.take_raw("default_args") {
            Some(v) => DefaultArgs::parse(v, f.errors(), &mut warnings),
            None => DefaultArgs::default(),
        };
        let source = component_object(&mut f, "source", true);
        let mut destination = component_object(&mut f, "destination", true);
        let destination_on_error = destination.as_mut().map_or(OnError::Fail, |d| {
            take_on_error(d, "destination", f.errors())
        });
        let dead_letter = component_object(&mut f, "dead_letter", false);
        let transforms = match f.take_raw("transforms") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| transform_entry(item, i, f.errors()))
                .collect(),
            Some(other) => {
                f.errors().push(ConfigIssue::at(
                    "transforms",
                    format!("expected an array, found {}", json_kind(&other)),
                ));
                Vec::new()
            }
        };
        if dead_letter.is_none() && destination_on_error == OnError::DeadLetter {
            f.errors().push(ConfigIssue::at(
                "destination.on_error",
                "is dead_letter but the pipeline has no `dead_letter` destination",
            ));
        }
        if dead_letter.is_none() {
            for (i, t) in transforms.iter().enumerate() {
                if t.on_error == OnError::DeadLetter {
                    f.errors().push(ConfigIssue::at(
                        format!("transforms[{i}].on_error"),
                        "is dead_letter but the pipeline has no `dead_letter` destination",
                    ));
                }
            }
        }
        let batch_size: Option<usize> = f.take::<Option<usize>>("batch_size").flatten();
        if let Some(n) = batch_size
            && (n == 0 || n > MAX_BATCH_SIZE)
        {
            f.errors().push(ConfigIssue::at(
                "batch_size",
                format!("must be between 1 and {MAX_BATCH_SIZE}, found {n}"),
            ));
        }
        let max_rejected = f.take::<Option<RejectBudget>>("max_rejected").flatten();
        let params = f.take("params").unwrap_or_default();
        let tests = f
            .take_raw("tests")
            .map(|t| test_case::parse_tests(t, timezone, f.errors()))
            .unwrap_or_default();
        for key in f.remaining_keys() {
            let message = format!(
                "unknown field, expected one of {}",
                TOP_LEVEL_KEYS.join(", ")
            );
            f.errors().push(ConfigIssue::at(key, message));
        }
        let (Some(dag_id), Some(source), Some(destination), true) =
            (dag_id, source, destination, errors.is_empty())
        else {
            return Err(ConfigErrors(errors));
        };
        Ok(Parsed {
            config: PipelineConfig {
                dag_id,
                description,
                schedule_interval,
                start_date,
                end_date,
                catchup,
                timezone,
                max_active_runs,
                tags,
                default_args,
                source,
                transforms,
                destination,
                destination_on_error,
                dead_letter,
                batch_size,
                max_rejected,
                params,
                tests,
            },
            warnings,
        })
    }

    /// Parses a file.
    ///
    /// # Errors
    /// Every problem, each naming the file.
    pub fn from_file(path: &Path) -> Result<Parsed, ConfigErrors> {
        let bytes = std::fs::read(path).map_err(|e| {
            ConfigErrors::one(ConfigIssue::at("", format!("cannot read: {e}")).in_file(path))
        })?;
        Self::from_json_slice(&bytes).map_err(|e| e.in_file(path))
    }
}

fn validate_dag_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 250 {
        return Err("must be 1 to 250 characters".into());
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        Some(c) => Err(format!(
            "invalid character {c:?}: use letters, digits, `_`, `.` and `-`"
        )),
        None => Ok(()),
    }
}

/// A component config object: present, an object, with a string `type`.
fn component_object(f: &mut Fields<'_>, key: &str, required: bool) -> Option<serde_json::Value> {
    let value = match f.take_raw(key) {
        None | Some(serde_json::Value::Null) if !required => return None,
        None => {
            f.errors()
                .push(ConfigIssue::at("", format!("missing field `{key}`")));
            return None;
        }
        Some(v) => v,
    };
    check_component(&value, key, f.errors()).then_some(value)
}

fn check_component(value: &serde_json::Value, path: &str, errors: &mut Vec<ConfigIssue>) -> bool {
    match value {
        serde_json::Value::Object(map) => match map.get("type") {
            Some(serde_json::Value::String(_)) => true,
            Some(other) => {
                errors.push(ConfigIssue::at(
                    format!("{path}.type"),
                    format!("expected a string, found {}", json_kind(other)),
                ));
                false
            }
            None => {
                errors.push(ConfigIssue::at(path, "missing field `type`"));
                false
            }
        },
        other => {
            errors.push(ConfigIssue::at(
                path,
                format!(
                    "expected an object with a `type`, found {}",
                    json_kind(other)
                ),
            ));
            false
        }
    }
}

fn transform_entry(
    mut item: serde_json::Value,
    i: usize,
    errors: &mut Vec<ConfigIssue>,
) -> Option<TransformEntry> {
    let path = format!("transforms[{i}]");
    if !check_component(&item, &path, errors) {
        return None;
    }
    let on_error = take_on_error(&mut item, &path, errors);
    Some(TransformEntry {
        config: item,
        on_error,
    })
}

/// Takes `on_error` out of the component object at `path` (`fail` when absent or invalid; an
/// invalid one is reported).
fn take_on_error(
    item: &mut serde_json::Value,
    path: &str,
    errors: &mut Vec<ConfigIssue>,
) -> OnError {
    match item.as_object_mut().and_then(|m| m.remove("on_error")) {
        None => OnError::Fail,
        Some(v) => serde_json::from_value(v).unwrap_or_else(|e| {
            errors.push(ConfigIssue::at(format!("{path}.on_error"), e.to_string()));
            OnError::Fail
        }),
    }
}

/// A date or date-time: `2025-01-01`, `2025-01-01T06:00:00`, or RFC 3339 with an offset.
/// Dates and naive date-times are wall-clock times in the pipeline's `timezone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DateSpec {
    /// RFC 3339 with an offset: an instant.
    Instant(DateTime<Utc>),
    /// A date (midnight) or a date-time without an offset.
    Local(NaiveDateTime),
}

impl DateSpec {
    /// The instant, reading a local date-time in `tz`.
    fn resolve(self, tz: Tz) -> DateTime<Utc> {
        match self {
            DateSpec::Instant(t) => t,
            DateSpec::Local(naive) => crate::schedule::local_to_utc(naive, tz),
        }
    }
}

impl<'de> serde::Deserialize<'de> for DateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_date_spec(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid date \"{s}\", expected YYYY-MM-DD or an ISO-8601 date-time"
            ))
        })
    }
}

/// The IANA name of the `timezone` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimeZoneSpec(Tz);

impl<'de> serde::Deserialize<'de> for TimeZoneSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim().parse::<Tz>().map(TimeZoneSpec).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone \"{s}\", expected an IANA name such as \"UTC\" or \"Europe/Berlin\""
            ))
        })
    }
}

fn parse_date_spec(s: &str) -> Option<DateSpec> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(DateSpec::Instant(t.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(DateSpec::Local(t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| DateSpec::Local(d.and_time(chrono::NaiveTime::MIN)))
}

/// Parses `2025-01-01`, `2025-01-01T06:00:00` (UTC) or RFC 3339 with an offset.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    parse_date_in(s, Tz::UTC)
}

/// Parses `2025-01-01` (midnight in `tz`), `2025-01-01T06:00:00` (wall-clock time in `tz`) or
/// RFC 3339 with an offset (that instant).
pub fn parse_date_in(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    parse_date_spec(s).map(|d| d.resolve(tz))
}

#[cfg(test)]
mod tests;
