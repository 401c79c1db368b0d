//! Templates in component configs: Jinja syntax (through `minijinja`) with Airflow's names,
//! rendered per run before the components are built.
//!
//! Every **string value** in `source`, `transforms`, `destination` and `dead_letter` may hold
//! `{{ … }}` or `{% … %}`; keys are never rendered, and a string without `{{`/`{%` is left
//! exactly as written (so a CEL expression such as `amount > 10` is untouched; one that holds
//! `{{ … }}` is rendered first, then parsed as CEL). A rendered value stays a string. Undefined
//! is strict: an unknown variable, attribute or filter is an error naming the JSON path.
//!
//! # Variables
//! | name | value (logical date 2025-03-01, daily) |
//! | --- | --- |
//! | `ds` | `2025-03-01` (the logical date, UTC) |
//! | `ds_nodash` | `20250301` |
//! | `ts` | `2025-03-01T00:00:00+00:00` |
//! | `ts_nodash` | `20250301T000000` |
//! | `ts_nodash_with_tz` | `20250301T000000+0000` |
//! | `logical_date` (alias `execution_date`) | date-time: the data interval's start |
//! | `data_interval_start`, `data_interval_end` | date-times: the interval `[start, end)` |
//! | `prev_data_interval_end_success` | date-time, or none (prints as nothing) |
//! | `run_id`, `dag_id` | strings |
//! | `params` | the pipeline's `params` (`{{ params.table }}`) |
//! | `timezone` | the pipeline's time zone name (`UTC` by default) |
//! | `macros.ds_add(ds, n)`, `macros.ds_format(ds, in, out)` | Airflow's helpers |
//!
//! Date-times print as ISO 8601 with the offset (`2025-03-01T00:00:00+00:00`), have the
//! attributes `year`, `month`, `day`, `hour`, `minute`, `second`, `microsecond` and the methods
//! `strftime(fmt)`, `isoformat()`, `timestamp()` (as Airflow's pendulum values do).
//!
//! # Filters
//! Each takes a date-time, a `YYYY-MM-DD` (or `YYYYMMDD`) date or an ISO 8601 string.
//! - `add_days(n)`, `add_hours(n)`, `add_minutes(n)`, `add_seconds(n)`: shifted (n may be
//!   negative); a date shifted by days stays a `YYYY-MM-DD` date, anything else is a date-time.
//! - `strftime(fmt)`: chrono's `strftime` (`{{ logical_date | strftime("%Y/%m/%d") }}`).
//! - `ds`, `ds_nodash`, `ts`, `ts_nodash`: the same formats as the variables
//!   (`{{ data_interval_start | add_days(-1) | ds }}`).
//! - `to_datetime`: a string as a date-time (a date is midnight UTC).
//! - `local`: in the pipeline's time zone; `in_timezone("Europe/Paris")`: in that zone.
//!
//! minijinja's built-in filters (`upper`, `default`, `replace`, …) are there too.

mod context;
mod filters;
mod moment;
mod render;

pub use context::TemplateContext;
pub use moment::TemplateDateTime;
pub use render::{is_template, render_config, render_str};

/// A template that cannot be rendered, or a context that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A string at `path` did not render.
    #[error("{path}: {message}")]
    Render {
        /// The JSON path of the string (`source.path`, `transforms[2].expr`).
        path: String,
        /// minijinja's message, with the line and column.
        message: String,
    },
    /// A time zone name that is not in the IANA database.
    #[error("unknown time zone \"{0}\"")]
    UnknownTimezone(String),
}

impl TemplateError {
    /// As a config issue at the string's path.
    pub fn to_issue(&self) -> crate::error::ConfigIssue {
        match self {
            TemplateError::Render { path, message } => {
                crate::error::ConfigIssue::at(path, format!("template: {message}"))
            }
            other => crate::error::ConfigIssue::at("", other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
