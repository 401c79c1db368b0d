//! [`TemplateContext`]: the values a run's templates see, under Airflow's names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::value::{Serde, Value};

use super::TemplateError;
use super::moment::{TemplateDateTime, iso};

/// The values of one run's templates: its pipeline, run id, data interval, time zone, params
/// and the end of the last successful interval.
///
/// ```
/// use dataforge_core::chrono::{TimeZone, Utc};
/// use dataforge_core::template::TemplateContext;
///
/// let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
/// let end = Utc.with_ymd_and_hms(2025, 3, 2, 0, 0, 0).unwrap();
/// let ctx = TemplateContext::new("orders", "run-1", start, end);
/// assert_eq!(ctx.ds(), "2025-03-01");
/// assert_eq!(ctx.ts(), "2025-03-01T00:00:00+00:00");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateContext {
    dag_id: String,
    run_id: String,
    data_interval_start: DateTime<Utc>,
    data_interval_end: DateTime<Utc>,
    timezone: Tz,
    params: serde_json::Map<String, serde_json::Value>,
    prev_data_interval_end_success: Option<DateTime<Utc>>,
}

impl TemplateContext {
    /// A context for the run `run_id` of `dag_id` over `[start, end)`, in UTC, without params.
    pub fn new(
        dag_id: impl Into<String>,
        run_id: impl Into<String>,
        data_interval_start: DateTime<Utc>,
        data_interval_end: DateTime<Utc>,
    ) -> Self {
        Self {
            dag_id: dag_id.into(),
            run_id: run_id.into(),
            data_interval_start,
            data_interval_end,
            timezone: Tz::UTC,
            params: serde_json::Map::new(),
            prev_data_interval_end_success: None,
        }
    }

    /// Sets the pipeline's time zone (an IANA name), used by the `local` filter.
    ///
    /// # Errors
    /// A name that is not an IANA time zone.
    pub fn with_timezone(mut self, name: &str) -> Result<Self, TemplateError> {
        self.timezone = name
            .parse()
            .map_err(|_| TemplateError::UnknownTimezone(name.to_owned()))?;
        Ok(self)
    }

    /// Sets `params`.
    pub fn with_params(mut self, params: serde_json::Map<String, serde_json::Value>) -> Self {
        self.params = params;
        self
    }

    /// Sets `prev_data_interval_end_success` (the end of the last successful run's interval).
    pub fn with_prev_data_interval_end_success(mut self, end: Option<DateTime<Utc>>) -> Self {
        self.prev_data_interval_end_success = end;
        self
    }

    /// The pipeline's id (`dag_id`).
    pub fn dag_id(&self) -> &str {
        &self.dag_id
    }

    /// The run's id (`run_id`).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The logical date: the start of the data interval.
    pub fn logical_date(&self) -> DateTime<Utc> {
        self.data_interval_start
    }

    /// The start of the data interval (inclusive).
    pub fn data_interval_start(&self) -> DateTime<Utc> {
        self.data_interval_start
    }

    /// The end of the data interval (exclusive).
    pub fn data_interval_end(&self) -> DateTime<Utc> {
        self.data_interval_end
    }

    /// The pipeline's time zone (UTC unless set).
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The template params.
    pub fn params(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.params
    }

    /// `ds`: the logical date as `YYYY-MM-DD` (UTC).
    pub fn ds(&self) -> String {
        self.data_interval_start.format("%Y-%m-%d").to_string()
    }

    /// `ts`: the logical date in ISO 8601 with its offset (`2025-01-01T00:00:00+00:00`).
    pub fn ts(&self) -> String {
        iso(&self.data_interval_start.fixed_offset())
    }

    /// The template variables, by name.
    pub(crate) fn to_value(&self) -> Value {
        let start = self.data_interval_start;
        let mut vars: BTreeMap<&str, Value> = BTreeMap::new();
        vars.insert("dag_id", Value::from(self.dag_id.as_str()));
        vars.insert("run_id", Value::from(self.run_id.as_str()));
        vars.insert("ds", Value::from(self.ds()));
        vars.insert("ds_nodash", Value::from(start.format("%Y%m%d").to_string()));
        vars.insert("ts", Value::from(self.ts()));
        vars.insert(
            "ts_nodash",
            Value::from(start.format("%Y%m%dT%H%M%S").to_string()),
        );
        vars.insert(
            "ts_nodash_with_tz",
            Value::from(start.format("%Y%m%dT%H%M%S%z").to_string()),
        );
        vars.insert("logical_date", TemplateDateTime::utc(start));
        vars.insert("execution_date", TemplateDateTime::utc(start));
        vars.insert("data_interval_start", TemplateDateTime::utc(start));
        vars.insert(
            "data_interval_end",
            TemplateDateTime::utc(self.data_interval_end),
        );
        vars.insert(
            "prev_data_interval_end_success",
            self.prev_data_interval_end_success
                .map_or(Value::from(()), TemplateDateTime::utc),
        );
        vars.insert("timezone", Value::from(self.timezone.name()));
        vars.insert("params", Value::from(Serde(&self.params)));
        Value::from(vars)
    }
}
