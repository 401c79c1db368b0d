//! `default_args`: retries, delays and timeouts, in Airflow's vocabulary.

use std::time::Duration;

use serde::de::{self, Deserializer};

use super::fields::Fields;
use crate::error::{ConfigIssue, clip};

/// Airflow `default_args` keys that DataForge accepts and ignores, with a warning.
const AIRFLOW_KEYS: &[&str] = &[
    "email",
    "email_on_failure",
    "email_on_retry",
    "depends_on_past",
    "wait_for_downstream",
    "sla",
    "queue",
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "trigger_rule",
    "on_failure_callback",
    "on_success_callback",
    "on_retry_callback",
    "on_execute_callback",
    "start_date",
    "end_date",
    "do_xcom_push",
    "executor_config",
    "run_as_user",
    "task_concurrency",
    "max_active_tis_per_dag",
    "resources",
    "params",
];

/// The longest `retry_delay`, `max_retry_delay` or `execution_timeout` accepted: 365 days.
/// Longer waits are typos (a value in milliseconds, an exponent); they would also overflow
/// `Duration` (`1e300`) or the runtime's timers (about two years).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest `retries` accepted.
pub const MAX_RETRIES: u32 = 1000;

/// The retry and timeout settings of a pipeline (`default_args`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DefaultArgs {
    /// Who owns the pipeline.
    pub owner: Option<String>,
    /// How many times a failed run is tried again (Airflow's default: 0).
    pub retries: u32,
    /// The wait before the first retry (Airflow's default: 300 s).
    #[serde(with = "humantime_serde_compat")]
    pub retry_delay: Duration,
    /// Double the delay after each failed retry.
    pub retry_exponential_backoff: bool,
    /// The longest wait between retries (default: 24 h, as Airflow).
    #[serde(with = "humantime_serde_compat")]
    pub max_retry_delay: Duration,
    /// The longest one attempt may run.
    #[serde(with = "humantime_serde_compat::option")]
    pub execution_timeout: Option<Duration>,
}

impl Default for DefaultArgs {
    fn default() -> Self {
        Self {
            owner: None,
            retries: 0,
            retry_delay: Duration::from_secs(300),
            retry_exponential_backoff: false,
            max_retry_delay: Duration::from_secs(24 * 3600),
            execution_timeout: None,
        }
    }
}

impl DefaultArgs {
    /// The wait before retry number `retry` (from 1).
    pub fn delay_before_retry(&self, retry: u32) -> Duration {
        let delay = if self.retry_exponential_backoff {
            let factor = 2u32.saturating_pow(retry.saturating_sub(1));
            self.retry_delay.saturating_mul(factor)
        } else {
            self.retry_delay
        };
        delay.min(self.max_retry_delay)
    }

    /// Parses `default_args`, collecting every error; Airflow keys DataForge does not use
    /// become warnings.
    pub(crate) fn parse(
        value: serde_json::Value,
        errors: &mut Vec<ConfigIssue>,
        warnings: &mut Vec<ConfigIssue>,
    ) -> Self {
        let mut out = Self::default();
        let Some(mut f) = Fields::new(value, "default_args", errors) else {
            return out;
        };
        if let Some(v) = f.take::<Option<String>>("owner") {
            out.owner = v;
        }
        if let Some(v) = f.take::<u32>("retries") {
            if v > MAX_RETRIES {
                f.errors().push(ConfigIssue::at(
                    "default_args.retries",
                    format!("must be at most {MAX_RETRIES}, found {v}"),
                ));
            } else {
                out.retries = v;
            }
        }
        if let Some(DurationSpec(d)) = f.take("retry_delay") {
            out.retry_delay = d;
        }
        if let Some(v) = f.take("retry_exponential_backoff") {
            out.retry_exponential_backoff = v;
        }
        if let Some(DurationSpec(d)) = f.take("max_retry_delay") {
            out.max_retry_delay = d;
        }
        if let Some(v) = f.take::<Option<DurationSpec>>("execution_timeout") {
            out.execution_timeout = v.map(|d| d.0);
        }
        for key in f.remaining_keys() {
            let path = format!("default_args.{key}");
            if AIRFLOW_KEYS.contains(&key.as_str()) {
                warnings.push(ConfigIssue::at(
                    path,
                    "Airflow setting not used by DataForge; ignored",
                ));
            } else {
                f.errors().push(ConfigIssue::at(
                    path,
                    "unknown field, expected one of `owner`, `retries`, `retry_delay`, \
                     `retry_exponential_backoff`, `max_retry_delay`, `execution_timeout`",
                ));
            }
        }
        out
    }
}

/// A duration given as seconds (`300`, `1.5`) or as text (`"5m"`, `"1h 30m"`, `"30s"`), at most
/// [`MAX_DURATION`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl<'de> serde::Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(serde_json::Number),
            Text(String),
        }
        let expected = "a number of seconds or a duration like \"5m\" or \"30s\"";
        let too_long = |what: &dyn std::fmt::Display| {
            de::Error::custom(format!(
                "{what} is out of range (at most 365 days = {} seconds)",
                MAX_DURATION.as_secs()
            ))
        };
        match Raw::deserialize(d).map_err(|_| de::Error::custom(format!("expected {expected}")))? {
            Raw::Secs(n) => match n.as_f64() {
                Some(s) if s.is_finite() && s >= 0.0 => {
                    match Duration::try_from_secs_f64(s) {
                        Ok(d) if d <= MAX_DURATION => Ok(Self(d)),
                        // `1e300`, not three hundred digits.
                        _ if s >= 1e15 => Err(too_long(&format_args!("{s:e} seconds"))),
                        _ => Err(too_long(&format_args!("{s} seconds"))),
                    }
                }
                _ => Err(de::Error::custom(format!("expected {expected}, found {n}"))),
            },
            Raw::Text(t) => match humantime::parse_duration(t.trim()) {
                Ok(d) if d <= MAX_DURATION => Ok(Self(d)),
                Ok(_) => Err(too_long(&format_args!("\"{}\"", clip(&t)))),
                Err(e) => Err(de::Error::custom(format!(
                    "invalid duration \"{}\": {e}",
                    clip(&t)
                ))),
            },
        }
    }
}

/// Serialises durations as seconds (for `--report` JSON).
mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub mod option {
        use std::time::Duration;

        pub fn serialize<S: serde::Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_f64(d.as_secs_f64()),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> (DefaultArgs, Vec<ConfigIssue>, Vec<ConfigIssue>) {
        let (mut e, mut w) = (vec![], vec![]);
        let a = DefaultArgs::parse(v, &mut e, &mut w);
        (a, e, w)
    }

    #[test]
    fn durations_as_seconds_or_text_and_airflow_keys_warn() {
        let (a, e, w) = parse(json!({
            "retries": 3, "retry_delay": "30s", "max_retry_delay": 600,
            "retry_exponential_backoff": true, "email_on_failure": false, "owner": "data"
        }));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "default_args.email_on_failure");
        assert_eq!(a.retry_delay, Duration::from_secs(30));
        assert_eq!(a.delay_before_retry(1), Duration::from_secs(30));
        assert_eq!(a.delay_before_retry(3), Duration::from_secs(120));
        assert_eq!(a.delay_before_retry(10), Duration::from_secs(600));
    }

    #[test]
    fn every_bad_key_is_reported() {
        let (_, e, _) = parse(json!({"retries": "x", "retry_delay": "soon", "retrys": 1}));
        let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "default_args.retries",
                "default_args.retry_delay",
                "default_args.retrys"
            ]
        );
    }
}
