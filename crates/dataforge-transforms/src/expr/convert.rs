//! Conversions between DataForge values and CEL values.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelTimestamp,
};
use cel::common::value::Val;
use chrono::{DateTime, FixedOffset};
use dataforge_core::{Record, Value};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::RunVars;
use crate::error::TransformError;

pub(super) fn str_val(s: &str) -> CelString<'_> {
    CelString::from(s)
}

pub(super) fn timestamp_val(t: DateTime<FixedOffset>) -> CelTimestamp {
    CelTimestamp::from(t)
}

/// A row value as a CEL value, borrowing its strings.
pub(super) fn to_cel(v: &Value) -> Box<dyn Val + '_> {
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Int(i) => Box::new(CelInt::from(*i)),
        Value::Float(f) => Box::new(CelDouble::from(*f)),
        Value::Decimal(d) => Box::new(CelDouble::from(d.to_f64().unwrap_or(f64::NAN))),
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Timestamp(t) => Box::new(CelTimestamp::from(*t)),
        Value::Date(d) => Box::new(CelString::from(d.format("%Y-%m-%d").to_string())),
        Value::Array(items) => Box::new(CelList::from(
            items.iter().map(to_cel).collect::<Vec<Box<dyn Val + '_>>>(),
        )),
        Value::Object(r) => record_map(r),
    }
}

pub(super) fn record_map(r: &Record) -> Box<dyn Val + '_> {
    let map: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = r
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), to_cel(v)))
        .collect();
    Box::new(CelMap::from(map))
}

fn json_to_cel(v: &serde_json::Value) -> Box<dyn Val + '_> {
    match v {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            None => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => Box::new(CelString::from(s.as_str())),
        serde_json::Value::Array(a) => Box::new(CelList::from(
            a.iter()
                .map(json_to_cel)
                .collect::<Vec<Box<dyn Val + '_>>>(),
        )),
        serde_json::Value::Object(m) => json_map(m),
    }
}

pub(super) fn json_map(m: &serde_json::Map<String, serde_json::Value>) -> Box<dyn Val + '_> {
    let map: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = m
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), json_to_cel(v)))
        .collect();
    Box::new(CelMap::from(map))
}

pub(super) fn run_map<'b>(run: &'b RunVars<'b>) -> Box<dyn Val + 'b> {
    let mut map: HashMap<CelMapKey<'b>, Box<dyn Val + 'b>> = HashMap::with_capacity(4);
    map.insert(
        CelMapKey::from("id"),
        Box::new(CelString::from(run.ctx.run_id())),
    );
    map.insert(
        CelMapKey::from("logical_date"),
        Box::new(CelTimestamp::from(run.logical_date)),
    );
    map.insert(
        CelMapKey::from("ds"),
        Box::new(CelString::from(run.ds.as_str())),
    );
    map.insert(CelMapKey::from("params"), json_map(run.ctx.params()));
    Box::new(CelMap::from(map))
}

/// A CEL result as a row value.
pub(super) fn from_cel(v: cel::Value) -> Result<Value, TransformError> {
    Ok(match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(b),
        cel::Value::Int(i) => Value::Int(i),
        cel::Value::UInt(u) => {
            i64::try_from(u).map_or_else(|_| Value::Decimal(Decimal::from(u)), Value::Int)
        }
        cel::Value::Float(f) => Value::Float(f),
        cel::Value::String(s) => Value::String(s.as_str().into()),
        cel::Value::Timestamp(t) => Value::Timestamp(t),
        cel::Value::Duration(d) => Value::String(format_duration(d).into()),
        cel::Value::List(items) => Value::Array(
            items
                .iter()
                .cloned()
                .map(from_cel)
                .collect::<Result<_, _>>()?,
        ),
        cel::Value::Map(m) => {
            let mut entries: Vec<(String, Value)> = m
                .map
                .iter()
                .map(|(k, v)| Ok((key_string(k), from_cel(v.clone())?)))
                .collect::<Result<_, TransformError>>()?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut r = Record::with_capacity(entries.len());
            for (k, v) in entries {
                r.push_unchecked(k, v);
            }
            Value::Object(r)
        }
        other => {
            return Err(TransformError::Expression {
                message: format!(
                    "the result, of type {}, has no column value",
                    other.type_of()
                ),
            });
        }
    })
}

fn key_string(k: &cel::objects::Key) -> String {
    match k {
        cel::objects::Key::Int(i) => i.to_string(),
        cel::objects::Key::Uint(u) => u.to_string(),
        cel::objects::Key::Bool(b) => b.to_string(),
        cel::objects::Key::String(s) => s.to_string(),
    }
}

/// A CEL duration in CEL's own text form (`"90s"`, `"1.5s"`).
fn format_duration(d: chrono::Duration) -> String {
    let nanos = d.num_nanoseconds();
    match nanos {
        Some(n) if n % 1_000_000_000 != 0 => format!("{}s", n as f64 / 1e9),
        _ => format!("{}s", d.num_seconds()),
    }
}
