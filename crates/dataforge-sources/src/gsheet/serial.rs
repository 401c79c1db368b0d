//! Date cells under `"date_time_render_option": "SERIAL_NUMBER"`: which columns hold dates,
//! and serial numbers → dates and timestamps.
//!
//! Sheets gives a date, time or date-time cell as a serial number: days since 1899-12-30, the
//! fraction the time of day (1900-01-01 12:00 = 2.5). In values.get a serial is a plain JSON
//! number, indistinguishable from a number cell. But `dateTimeRenderOption` changes only
//! date, time, date-time and duration cells: read the same range again with
//! `FORMATTED_STRING` (the same `valueRenderOption`) and those cells come back as strings
//! while number cells stay numbers. So a cell that is a number under `SERIAL_NUMBER` and a
//! string under `FORMATTED_STRING` is a date cell, by the API's own account, with no guessing
//! from the formatted text (whose shape depends on the locale).
//!
//! The rule, per column (the N-th cell of each row, from the range's first column):
//! - A *probe* reads a chunk twice, `SERIAL_NUMBER` and `FORMATTED_STRING`, and
//!   `DateColumns::learn`s from each cell pair: a date cell is evidence for a date column
//!   (a fractional serial: for a timestamp column), a number in both is evidence for a number
//!   column.
//! - A column with date evidence and no number evidence is a date column: its numbers become
//!   `Value::Date` (an integral serial, in a column whose probed serials were all integral)
//!   or `Value::Timestamp` (otherwise: a midnight in a date-time column is still a
//!   timestamp, so a column keeps one type). A column with both is left as numbers and
//!   reported by `DateColumns::mixed`.
//! - The driver probes a chunk when `DateColumns::needs_probe` says so: when one of its
//!   number cells is in a column not probed yet. That is the first chunk with numbers (one
//!   extra request per tab, usually), and a later chunk only when numbers appear in a column
//!   that was empty so far. Quota counts every request (60 reads a minute per user), so
//!   probing each chunk would halve the load's speed for nothing.
//!
//! Limits, documented for users: a timestamp is the sheet's wall-clock time labelled UTC
//! (`+00:00`; a serial carries no zone, and the spreadsheet's `timeZone` is a named zone with
//! daylight saving, beyond a fixed offset); a duration cell (`[h]:mm`) is a date-time cell to
//! the API and becomes a timestamp near 1899-12-30; timestamps are rounded to the
//! millisecond (a double's last digits otherwise turn 13:45 into 13:44:59.999999).

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use dataforge_core::Value;
use serde_json::Value as Json;

/// Sheets' (and Lotus 1-2-3's) day zero.
fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap_or(NaiveDate::MIN)
        .and_time(chrono::NaiveTime::MIN)
}

/// Milliseconds in a day.
const DAY_MS: f64 = 86_400_000.0;

/// The date of an integral serial; `None` for a fractional, non-finite or out-of-range one.
pub(crate) fn serial_to_date(serial: f64) -> Option<NaiveDate> {
    if !serial.is_finite() || serial.fract() != 0.0 || serial.abs() > 1e8 {
        return None;
    }
    let days = serial as i64;
    let date = epoch().date();
    if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

/// The wall-clock date-time of a serial, to the millisecond; `None` when non-finite or out of
/// range.
pub(crate) fn serial_to_datetime(serial: f64) -> Option<NaiveDateTime> {
    if !serial.is_finite() || serial.abs() > 1e8 {
        return None;
    }
    // |serial| ≤ 1e8 days, so the product (≤ 8.64e15) fits an i64 exactly.
    let ms = (serial * DAY_MS).round() as i64;
    epoch().checked_add_signed(TimeDelta::try_milliseconds(ms)?)
}

/// How a date column's numbers are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateKind {
    /// Calendar dates (a fractional serial still becomes a timestamp, losing nothing).
    Date,
    /// Date-times.
    Timestamp,
}

/// A serial as a value of `kind`; `None` when it is out of range (the number is then kept).
pub(crate) fn serial_value(serial: f64, kind: DateKind) -> Option<Value> {
    if kind == DateKind::Date
        && let Some(date) = serial_to_date(serial)
    {
        return Some(Value::Date(date));
    }
    let at = serial_to_datetime(serial)?;
    Some(Value::Timestamp(
        DateTime::<Utc>::from_naive_utc_and_offset(at, Utc).fixed_offset(),
    ))
}

/// What the probes said about one column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Evidence {
    /// No number seen yet.
    #[default]
    Unknown,
    /// Date cells only; `fractional` when one had a time.
    Dates {
        /// Whether a serial had a fraction.
        fractional: bool,
    },
    /// Number cells only.
    Numbers,
    /// Both.
    Mixed,
}

/// Which columns of a range hold dates, learned from probes (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DateColumns {
    columns: Vec<Evidence>,
}

impl DateColumns {
    /// Nothing known yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Learns from one chunk read twice: `serial` with `SERIAL_NUMBER`, `formatted` with
    /// `FORMATTED_STRING`, row for row, cell for cell.
    pub(crate) fn learn(&mut self, serial: &[Vec<Json>], formatted: &[Vec<Json>]) {
        for (srow, frow) in serial.iter().zip(formatted) {
            for (j, (s, f)) in srow.iter().zip(frow).enumerate() {
                let Some(n) = s.as_f64() else { continue };
                let seen = match f {
                    Json::String(_) => Evidence::Dates {
                        fractional: n.fract() != 0.0,
                    },
                    Json::Number(_) => Evidence::Numbers,
                    _ => continue,
                };
                if self.columns.len() <= j {
                    self.columns.resize(j + 1, Evidence::Unknown);
                }
                let slot = &mut self.columns[j];
                *slot = match (*slot, seen) {
                    (Evidence::Unknown, e) => e,
                    (Evidence::Dates { fractional: a }, Evidence::Dates { fractional: b }) => {
                        Evidence::Dates { fractional: a || b }
                    }
                    (Evidence::Numbers, Evidence::Numbers) => Evidence::Numbers,
                    _ => Evidence::Mixed,
                };
            }
        }
    }

    /// Whether `rows` (read with `SERIAL_NUMBER`) have a number in a column no probe has
    /// seen a number in: then the driver probes them before making records.
    pub(crate) fn needs_probe(&self, rows: &[Vec<Json>]) -> bool {
        rows.iter().any(|row| {
            row.iter().enumerate().any(|(j, cell)| {
                cell.is_number() && self.columns.get(j).is_none_or(|e| *e == Evidence::Unknown)
            })
        })
    }

    /// How the numbers of column `index` (0-based, from the range's first column) are read:
    /// `None` for a column that is not a date column.
    pub(crate) fn kind(&self, index: usize) -> Option<DateKind> {
        match self.columns.get(index)? {
            Evidence::Dates { fractional: false } => Some(DateKind::Date),
            Evidence::Dates { fractional: true } => Some(DateKind::Timestamp),
            _ => None,
        }
    }

    /// The columns (0-based) with both date and number cells, left as numbers: the driver
    /// warns once, naming them.
    pub(crate) fn mixed(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, e)| **e == Evidence::Mixed)
            .map(|(j, _)| j)
            .collect()
    }

    /// Whether any column is a date column.
    #[cfg(test)]
    pub(crate) fn any(&self) -> bool {
        (0..self.columns.len()).any(|j| self.kind(j).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn rows(v: Json) -> Vec<Vec<Json>> {
        serde_json::from_value(v).unwrap_or_default()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn serials_count_days_from_1899_12_30() {
        assert_eq!(serial_to_date(0.0), Some(date(1899, 12, 30)));
        assert_eq!(serial_to_date(2.0), Some(date(1900, 1, 1)));
        assert_eq!(serial_to_date(45_292.0), Some(date(2024, 1, 1)));
        assert_eq!(serial_to_date(-1.0), Some(date(1899, 12, 29)));
        assert_eq!(serial_to_date(2.5), None);
        assert_eq!(serial_to_date(f64::NAN), None);
        assert_eq!(serial_to_date(1e12), None);
        // The docs' own example: 1900-01-01 12:00 is 2.5.
        assert_eq!(
            serial_to_datetime(2.5).map(|t| t.to_string()),
            Some("1900-01-01 12:00:00".to_owned())
        );
        // 13:45 is not a round double: rounding to the millisecond gives it back.
        let t = serial_to_datetime(45_292.0 + (13.0 * 60.0 + 45.0) / 1440.0);
        assert_eq!(
            t.map(|t| t.to_string()),
            Some("2024-01-01 13:45:00".to_owned())
        );
        assert_eq!(
            serial_to_datetime(-0.75).map(|t| t.to_string()),
            Some("1899-12-29 06:00:00".to_owned())
        );
        assert_eq!(serial_to_datetime(f64::INFINITY), None);
    }

    #[test]
    fn serial_values_follow_the_column_kind() {
        assert_eq!(
            serial_value(45_292.0, DateKind::Date),
            Some(Value::Date(date(2024, 1, 1)))
        );
        let ts = serial_value(45_292.0, DateKind::Timestamp).map(|v| v.to_string());
        assert_eq!(ts.as_deref(), Some("2024-01-01T00:00:00Z"));
        let ts = serial_value(45_292.25, DateKind::Date).map(|v| v.to_string());
        assert_eq!(ts.as_deref(), Some("2024-01-01T06:00:00Z"));
        assert_eq!(serial_value(f64::NAN, DateKind::Date), None);
    }

    #[test]
    fn learns_date_columns_from_the_two_renderings() {
        let serial = rows(json!([
            ["a", 45292, 12, 45292.5, 3, true],
            ["b", 45293, 13, 45293, "x", null],
            ["c"]
        ]));
        let formatted = rows(json!([
            ["a", "1/1/2024", 12, "1/1/2024 12:00:00", "1/3/1900", true],
            ["b", "1/2/2024", 13, "1/2/2024 0:00:00", "x", null],
            ["c"]
        ]));
        let mut dates = DateColumns::new();
        assert!(dates.needs_probe(&serial));
        dates.learn(&serial, &formatted);
        assert_eq!(dates.kind(0), None);
        assert_eq!(dates.kind(1), Some(DateKind::Date));
        assert_eq!(dates.kind(2), None);
        assert_eq!(dates.kind(3), Some(DateKind::Timestamp));
        assert_eq!(dates.kind(4), Some(DateKind::Date));
        assert_eq!(dates.kind(5), None);
        assert_eq!(dates.kind(99), None);
        assert!(dates.any() && dates.mixed().is_empty());
        // Later chunks with numbers in known columns need no probe …
        assert!(!dates.needs_probe(&rows(json!([["d", 1, 2, 3.5, 4]]))));
        // … one with a number where none was seen does.
        assert!(dates.needs_probe(&rows(json!([["d", 1, 2, 3.5, 4, 5]]))));
        assert!(dates.needs_probe(&rows(json!([[1]]))));
        // A number cell in a date column makes it mixed: numbers are kept.
        dates.learn(&rows(json!([["e", 7]])), &rows(json!([["e", 7]])));
        assert_eq!(dates.kind(1), None);
        assert_eq!(dates.mixed(), [1]);
    }

    proptest! {
        #[test]
        fn integral_serials_round_trip_through_dates(days in -600_000i64..2_900_000) {
            let d = serial_to_date(days as f64);
            prop_assert!(d.is_some());
            let back = d.map(|d| (d - epoch().date()).num_days());
            prop_assert_eq!(back, Some(days));
            let t = serial_to_datetime(days as f64).map(|t| t.date());
            prop_assert_eq!(t, d);
        }

        #[test]
        fn seconds_survive_the_serial(days in 0i64..100_000, secs in 0i64..86_400) {
            let serial = days as f64 + secs as f64 / 86_400.0;
            let t = serial_to_datetime(serial);
            let back = t.map(|t| (t - epoch()).num_milliseconds());
            prop_assert_eq!(back, Some((days * 86_400 + secs) * 1000));
        }
    }
}
