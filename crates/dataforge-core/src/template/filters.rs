//! The date filters and Airflow's `macros.ds_add` / `macros.ds_format`.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeDelta};
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, State};

use super::moment::{Moment, TemplateDateTime, iso, strftime};

/// Adds the filters and the `macros` global to `env`.
pub(crate) fn install(env: &mut Environment<'_>) {
    env.add_filter("add_days", |v: Value, n: i64| {
        shift(&v, n, TimeDelta::try_days)
    });
    env.add_filter("add_hours", |v: Value, n: i64| {
        shift(&v, n, TimeDelta::try_hours)
    });
    env.add_filter("add_minutes", |v: Value, n: i64| {
        shift(&v, n, TimeDelta::try_minutes)
    });
    env.add_filter("add_seconds", |v: Value, n: i64| {
        shift(&v, n, TimeDelta::try_seconds)
    });
    env.add_filter("strftime", |v: Value, format: String| {
        format_moment(&v, &format)
    });
    env.add_filter("ds", |v: Value| format_moment(&v, "%Y-%m-%d"));
    env.add_filter("ds_nodash", |v: Value| format_moment(&v, "%Y%m%d"));
    env.add_filter("ts", |v: Value| {
        Moment::from_value(&v).map(|m| iso(&m.to_datetime()))
    });
    env.add_filter("ts_nodash", |v: Value| format_moment(&v, "%Y%m%dT%H%M%S"));
    env.add_filter("to_datetime", |v: Value| {
        Moment::from_value(&v).map(|m| TemplateDateTime::value(m.to_datetime()))
    });
    env.add_filter("in_timezone", |v: Value, zone: String| in_zone(&v, &zone));
    env.add_filter("local", |state: &State<'_, '_>, v: Value| {
        let zone = state
            .lookup("timezone")
            .and_then(|z| z.as_str().map(str::to_owned))
            .unwrap_or_else(|| "UTC".to_owned());
        in_zone(&v, &zone)
    });
    let mut macros = BTreeMap::new();
    macros.insert("ds_add", Value::from_function(ds_add));
    macros.insert("ds_format", Value::from_function(ds_format));
    env.add_global("macros", Value::from(macros));
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn shift(value: &Value, n: i64, unit: fn(i64) -> Option<TimeDelta>) -> Result<Value, Error> {
    let delta = unit(n).ok_or_else(|| invalid(format!("{n} is out of range")))?;
    Ok(Moment::from_value(value)?.shift(delta)?.into_value())
}

fn format_moment(value: &Value, format: &str) -> Result<String, Error> {
    match Moment::from_value(value)? {
        Moment::Date(d) => strftime(&d.and_time(chrono::NaiveTime::MIN).and_utc(), format),
        Moment::DateTime(t) => strftime(&t, format),
    }
}

fn in_zone(value: &Value, zone: &str) -> Result<Value, Error> {
    let tz: Tz = zone
        .parse()
        .map_err(|_| invalid(format!("unknown time zone \"{zone}\"")))?;
    let t = Moment::from_value(value)?.to_datetime().with_timezone(&tz);
    Ok(TemplateDateTime::value(t.fixed_offset()))
}

/// Airflow's `macros.ds_add(ds, days)`: a `YYYY-MM-DD` date shifted by whole days.
fn ds_add(ds: String, days: i64) -> Result<String, Error> {
    let date = NaiveDate::parse_from_str(ds.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(format!("ds_add: \"{ds}\" is not a YYYY-MM-DD date")))?;
    let out = TimeDelta::try_days(days)
        .and_then(|d| date.checked_add_signed(d))
        .ok_or_else(|| invalid("ds_add: date out of range"))?;
    Ok(out.format("%Y-%m-%d").to_string())
}

/// Airflow's `macros.ds_format(ds, input_format, output_format)`.
fn ds_format(ds: String, input: String, output: String) -> Result<String, Error> {
    let t = chrono::NaiveDateTime::parse_from_str(&ds, &input)
        .or_else(|_| {
            NaiveDate::parse_from_str(&ds, &input).map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
        .map_err(|e| {
            invalid(format!(
                "ds_format: \"{ds}\" does not match \"{input}\": {e}"
            ))
        })?;
    strftime(&t.and_utc(), &output)
}
