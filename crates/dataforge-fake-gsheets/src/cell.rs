//! Typed cells and their rendering (`valueRenderOption`, `dateTimeRenderOption`).
//!
//! Literal sheets are given as JSON values ([`crate::Rows::Literal`]); this module turns each
//! one into a typed cell the way a Google sheet stores it (number, boolean, text, date-time
//! serial with a format, formula with its computed value), and renders it back as the API
//! would. The helpers [`number`], [`money`], [`date`] and [`formula`] build the JSON forms.
//!
//! | JSON given                                     | stored as                                  |
//! |------------------------------------------------|--------------------------------------------|
//! | `null`, `""`                                   | empty cell                                 |
//! | number                                         | number, "General" format                   |
//! | `true` / `false`                               | boolean                                    |
//! | any other string                               | text                                       |
//! | `{"number": 1234.5, "format": "$#,##0.00"}`    | number with a number format                |
//! | `{"date": 45322.5, "format": "yyyy-mm-dd"}`    | date-time serial with a date format        |
//! | `{"date": "2024-01-31T12:00:00", "format": …}` | the same, from an ISO date or date-time    |
//! | `{"formula": "=A1*2", "value": <any of these>}`| formula with its computed value            |
//! | other objects / arrays                         | text (their JSON)                          |
//!
//! Number formats understood: an optional literal prefix (e.g. `$`), `#,##0` (thousands
//! separators), `0.00` (fixed decimals), a trailing `%` (× 100). Date formats: the tokens
//! `yyyy`, `yy`, `m`, `mm`, `mmm`, `d`, `dd`, `h`, `hh`, `ss` (and `mm`/`m` right after an hour
//! or before seconds are minutes), other characters are literal. The default date format is
//! `yyyy-mm-dd` when a date has no time part, else `yyyy-mm-dd hh:mm:ss`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde_json::{Value, json};

/// JSON form of a number cell with a number format (e.g. `"$#,##0.00"`, `"0.00"`, `"0%"`).
pub fn number(value: f64, format: &str) -> Value {
    json!({"number": value, "format": format})
}

/// JSON form of a money cell: a number formatted `$#,##0.00` (FORMATTED_VALUE `"$1,234.50"`).
pub fn money(value: f64) -> Value {
    number(value, "$#,##0.00")
}

/// JSON form of a date-time cell given as an ISO date (`2024-01-31`) or date-time
/// (`2024-01-31T12:00:00`, also with a space) and a date format such as `"m/d/yyyy h:mm:ss"`.
pub fn date(iso: &str, format: &str) -> Value {
    json!({"date": iso, "format": format})
}

/// JSON form of a formula cell: its text (`"=A2*2"`) and its computed value (any cell JSON).
pub fn formula(text: &str, value: Value) -> Value {
    json!({"formula": text, "value": value})
}

/// Days since 1899-12-30 with the time of day as a fraction (Google's `SERIAL_NUMBER`).
pub fn serial(at: NaiveDateTime) -> f64 {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let d = at - epoch;
    d.num_milliseconds() as f64 / 86_400_000.0
}

/// The date-time of a serial number (to the second).
pub fn from_serial(serial: f64) -> NaiveDateTime {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let secs = (serial * 86_400.0).round() as i64;
    epoch + chrono::Duration::seconds(secs)
}

/// A stored cell.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Empty,
    Number { value: f64, format: Option<String> },
    Bool(bool),
    Text(String),
    Date { serial: f64, format: String },
    Formula { text: String, value: Box<Cell> },
}

/// How values are rendered (`valueRenderOption` × `dateTimeRenderOption`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Render {
    Formatted,
    Unformatted { serial_dates: bool },
    Formula { serial_dates: bool },
}

fn parse_iso(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

impl Cell {
    pub(crate) fn from_json(v: &Value) -> Cell {
        match v {
            Value::Null => Cell::Empty,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::Number {
                value: n.as_f64().unwrap_or(0.0),
                format: None,
            },
            Value::String(s) if s.is_empty() => Cell::Empty,
            Value::String(s) => Cell::Text(s.clone()),
            Value::Object(o) => {
                let fmt = o.get("format").and_then(Value::as_str).map(str::to_owned);
                if let Some(f) = o.get("formula").and_then(Value::as_str) {
                    return Cell::Formula {
                        text: f.to_owned(),
                        value: Box::new(Cell::from_json(o.get("value").unwrap_or(&Value::Null))),
                    };
                }
                if let Some(n) = o.get("number").and_then(Value::as_f64) {
                    return Cell::Number {
                        value: n,
                        format: fmt,
                    };
                }
                if let Some(d) = o.get("date") {
                    let serial = match d {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => parse_iso(s).map(serial),
                        _ => None,
                    };
                    if let Some(serial) = serial {
                        let format = fmt.unwrap_or_else(|| {
                            if serial.fract() == 0.0 {
                                "yyyy-mm-dd".to_owned()
                            } else {
                                "yyyy-mm-dd hh:mm:ss".to_owned()
                            }
                        });
                        return Cell::Date { serial, format };
                    }
                }
                Cell::Text(v.to_string())
            }
            Value::Array(_) => Cell::Text(v.to_string()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }

    /// The rendered JSON value (`""` for an empty cell).
    pub(crate) fn render(&self, how: Render) -> Value {
        match (self, how) {
            (Cell::Empty, _) => Value::String(String::new()),
            (Cell::Formula { text, .. }, Render::Formula { .. }) => Value::String(text.clone()),
            (Cell::Formula { value, .. }, _) => value.render(how),
            (Cell::Text(s), _) => Value::String(s.clone()),
            (Cell::Bool(b), Render::Formatted) => {
                Value::String(if *b { "TRUE" } else { "FALSE" }.to_owned())
            }
            (Cell::Bool(b), _) => Value::Bool(*b),
            (Cell::Number { value, format }, Render::Formatted) => {
                Value::String(format_number(*value, format.as_deref()))
            }
            (Cell::Number { value, .. }, _) => json_number(*value),
            (Cell::Date { serial, format }, Render::Formatted) => {
                Value::String(format_date(*serial, format))
            }
            (
                Cell::Date { serial, format },
                Render::Unformatted { serial_dates } | Render::Formula { serial_dates },
            ) => {
                if serial_dates {
                    json_number(*serial)
                } else {
                    Value::String(format_date(*serial, format))
                }
            }
        }
    }
}

/// Integers as JSON integers (`5`, not `5.0`), others as floats.
pub(crate) fn json_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

fn group_thousands(int: &str) -> String {
    let mut out = String::new();
    let n = int.len();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// FORMATTED_VALUE of a number.
pub(crate) fn format_number(v: f64, format: Option<&str>) -> String {
    let Some(fmt) = format.filter(|f| !f.is_empty() && *f != "General") else {
        // "General": integers plainly, others with up to 10 significant digits.
        if v.fract() == 0.0 && v.abs() < 1e15 {
            return format!("{}", v as i64);
        }
        let digits = (10 - (v.abs().log10().floor() as i32 + 1)).clamp(0, 15) as usize;
        let s = format!("{v:.digits$}");
        return if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        };
    };
    let start = fmt.find(['#', '0']).unwrap_or(fmt.len());
    let end = fmt.rfind(['#', '0']).map_or(fmt.len(), |i| i + 1);
    let (prefix, pattern, suffix) = (&fmt[..start], &fmt[start..end], &fmt[end..]);
    let percent = suffix.contains('%');
    let v = if percent { v * 100.0 } else { v };
    let decimals = pattern
        .split_once('.')
        .map_or(0, |(_, d)| d.chars().filter(|c| *c == '0').count());
    let s = format!("{:.decimals$}", v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = if pattern.contains(',') {
        group_thousands(int)
    } else {
        int.to_owned()
    };
    let sign = if v < 0.0 && s.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    format!("{sign}{prefix}{int}{frac}{suffix}")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats a serial date-time with a Sheets-like date pattern.
pub(crate) fn format_date(serial: f64, format: &str) -> String {
    let at = from_serial(serial);
    let chars: Vec<char> = format.chars().collect();
    // tokenize into runs of the same letter
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut j = i + 1;
        if c.is_ascii_alphabetic() {
            while j < chars.len() && chars[j].eq_ignore_ascii_case(&c) {
                j += 1;
            }
        }
        tokens.push(chars[i..j].iter().collect::<String>().to_ascii_lowercase());
        i = j;
    }
    let mut out = String::new();
    let mut after_hour = false;
    for (k, t) in tokens.iter().enumerate() {
        let before_seconds = tokens[k + 1..]
            .iter()
            .find(|t| t.chars().all(|c| c.is_ascii_alphabetic()))
            .is_some_and(|t| t.starts_with('s'));
        match t.as_str() {
            "yyyy" => out.push_str(&format!("{:04}", at.year())),
            "yy" => out.push_str(&format!("{:02}", at.year() % 100)),
            "d" => out.push_str(&at.day().to_string()),
            "dd" => out.push_str(&format!("{:02}", at.day())),
            "h" => {
                out.push_str(&at.hour().to_string());
                after_hour = true;
            }
            "hh" => {
                out.push_str(&format!("{:02}", at.hour()));
                after_hour = true;
            }
            "ss" => out.push_str(&format!("{:02}", at.second())),
            "s" => out.push_str(&at.second().to_string()),
            "m" | "mm" if after_hour || before_seconds => {
                out.push_str(&format!("{:02}", at.minute()));
                after_hour = false;
            }
            "m" => out.push_str(&at.month().to_string()),
            "mm" => out.push_str(&format!("{:02}", at.month())),
            "mmm" => out.push_str(MONTHS[at.month0() as usize]),
            other => out.push_str(other),
        }
    }
    out
}

/// The cell of a generated sheet at (0-based) `row`, `col`: row 0 is the header
/// `col_a`, `col_b`, …; data cells cycle through six kinds by column.
pub(crate) fn generated(row: u64, col: u32) -> Cell {
    if row == 0 {
        return Cell::Text(format!(
            "col_{}",
            crate::a1::column_name(col).to_lowercase()
        ));
    }
    let r = row;
    match col % 6 {
        0 => Cell::Number {
            value: (r + u64::from(col / 6) * 1_000_000) as f64,
            format: None,
        },
        1 => Cell::Number {
            value: ((r * 7919 + u64::from(col)) % 100_000) as f64 / 100.0,
            format: Some("$#,##0.00".to_owned()),
        },
        2 => Cell::Text(format!("item-{r}-{col}")),
        3 => Cell::Bool((r + u64::from(col)).is_multiple_of(3)),
        4 => Cell::Date {
            // 2024-01-01 (45292) + up to a year, at a whole hour
            serial: 45_292.0 + ((r + u64::from(col)) % 366) as f64 + ((r * 13) % 24) as f64 / 24.0,
            format: "yyyy-mm-dd hh:mm:ss".to_owned(),
        },
        _ => Cell::Number {
            value: r as f64 * 0.25,
            format: None,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_like_sheets() {
        assert_eq!(format_number(5.0, None), "5");
        assert_eq!(format_number(1.23, None), "1.23");
        assert_eq!(format_number(0.1 + 0.2, None), "0.3");
        assert_eq!(format_number(1234.5, Some("$#,##0.00")), "$1,234.50");
        assert_eq!(format_number(-1234.5, Some("$#,##0.00")), "-$1,234.50");
        assert_eq!(format_number(0.256, Some("0.0%")), "25.6%");
        assert_eq!(format_number(2.0, Some("0.00")), "2.00");
    }

    #[test]
    fn serials_and_date_formats() {
        let noon = NaiveDate::from_ymd_opt(1900, 1, 1)
            .unwrap_or_default()
            .and_hms_opt(12, 0, 0)
            .unwrap_or_default();
        assert!((serial(noon) - 2.5).abs() < 1e-9);
        let s = 45_322.5; // 2024-01-31 12:00
        assert_eq!(format_date(s, "yyyy-mm-dd"), "2024-01-31");
        assert_eq!(format_date(s, "m/d/yyyy h:mm:ss"), "1/31/2024 12:00:00");
        assert_eq!(format_date(s, "yyyy-mm-dd hh:mm"), "2024-01-31 12:00");
        assert_eq!(format_date(s, "d mmm yyyy"), "31 Jan 2024");
    }
}
