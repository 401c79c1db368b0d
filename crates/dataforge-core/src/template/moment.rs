//! Dates and date-times inside templates: a date-time value that prints as ISO 8601, and the
//! parsing that lets filters take a date-time, a `ds`-style date or a string alike.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, TimeZone, Utc,
};
use minijinja::value::{DynObject, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

/// A date-time in a template: prints as ISO 8601 with its offset (`2025-01-01T00:00:00+00:00`,
/// Airflow's `ts`), has `year`…`second` attributes and `strftime`/`isoformat` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateDateTime(pub DateTime<FixedOffset>);

impl TemplateDateTime {
    /// A template value for `t`.
    pub fn value(t: DateTime<FixedOffset>) -> Value {
        Value::from_object(TemplateDateTime(t))
    }

    /// A template value for a UTC date-time.
    pub fn utc(t: DateTime<Utc>) -> Value {
        Self::value(t.fixed_offset())
    }
}

/// ISO 8601 with the offset as `+00:00`, fractional seconds only when there are some.
pub(crate) fn iso(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

impl Object for TemplateDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        let t = &self.0;
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(t.year()),
            "month" => i64::from(t.month()),
            "day" => i64::from(t.day()),
            "hour" => i64::from(t.hour()),
            "minute" => i64::from(t.minute()),
            "second" => i64::from(t.second()),
            "microsecond" => i64::from(t.nanosecond() / 1000),
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (method, args) {
            ("strftime", [format]) => {
                let format = format.as_str().ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "strftime takes a format string",
                    )
                })?;
                strftime(&self.0, format).map(Value::from)
            }
            ("isoformat", []) => Ok(Value::from(iso(&self.0))),
            ("timestamp", []) => Ok(Value::from(self.0.timestamp())),
            ("strftime" | "isoformat" | "timestamp", _) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("wrong number of arguments to {method}()"),
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        other
            .downcast_ref::<Self>()
            .map(|other| self.0.cmp(&other.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&iso(&self.0))
    }
}

/// What a date filter was given: a date (`ds`, `2025-01-01`) or a date-time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Moment {
    /// A calendar date: filters that shift it by days give a date back.
    Date(NaiveDate),
    /// A date-time with its offset.
    DateTime(DateTime<FixedOffset>),
}

impl Moment {
    /// Reads a template value: a [`TemplateDateTime`], or a string in one of the forms
    /// [`parse_moment`] accepts.
    pub(crate) fn from_value(value: &Value) -> Result<Self, Error> {
        if let Some(t) = value.downcast_object_ref::<TemplateDateTime>() {
            return Ok(Moment::DateTime(t.0));
        }
        match value.as_str() {
            Some(s) => parse_moment(s).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "\"{s}\" is not a date: expected YYYY-MM-DD, YYYYMMDD or an ISO 8601 date-time"
                    ),
                )
            }),
            None => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("expected a date or a date-time, found {}", value.kind()),
            )),
        }
    }

    /// The date-time (a date is midnight UTC).
    pub(crate) fn to_datetime(self) -> DateTime<FixedOffset> {
        match self {
            Moment::DateTime(t) => t,
            Moment::Date(d) => d.and_time(chrono::NaiveTime::MIN).and_utc().fixed_offset(),
        }
    }

    /// The value a filter returns: a date as `YYYY-MM-DD`, a date-time as itself.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Moment::Date(d) => Value::from(d.format("%Y-%m-%d").to_string()),
            Moment::DateTime(t) => TemplateDateTime::value(t),
        }
    }

    /// Shifted by `delta`; a date stays a date when `delta` is whole days.
    pub(crate) fn shift(self, delta: TimeDelta) -> Result<Self, Error> {
        let out = match self {
            Moment::Date(d) if delta.num_seconds() % 86_400 == 0 && delta.subsec_nanos() == 0 => {
                d.checked_add_signed(delta).map(Moment::Date)
            }
            other => other
                .to_datetime()
                .checked_add_signed(delta)
                .map(Moment::DateTime),
        };
        out.ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "date out of range"))
    }
}

/// Parses `2025-01-01`, `20250101`, RFC 3339 (`2025-01-01T00:00:00+00:00`), a naive
/// `2025-01-01T06:00:00` (UTC) or Airflow's `ts_nodash` (`20250101T000000`, UTC).
pub(crate) fn parse_moment(s: &str) -> Option<Moment> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Moment::Date(d));
    }
    if s.len() == 8
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y%m%d")
    {
        return Some(Moment::Date(d));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Moment::DateTime(t));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y%m%dT%H%M%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Moment::DateTime(Utc.from_utc_datetime(&t).fixed_offset()));
        }
    }
    None
}

/// Formats with a `strftime` pattern; a bad pattern is an error, never a panic.
pub(crate) fn strftime<Tz: TimeZone>(t: &DateTime<Tz>, format: &str) -> Result<String, Error>
where
    Tz::Offset: fmt::Display,
{
    let mut out = String::new();
    write!(out, "{}", t.format(format)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid strftime format \"{format}\""),
        )
    })?;
    Ok(out)
}
