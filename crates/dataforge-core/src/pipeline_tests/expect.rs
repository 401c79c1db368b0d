//! Comparing what a chain made with what a test expects, and the diff that says how they
//! differ. Rows compare as JSON (what the row would be written as), column order aside.

use std::fmt;

use crate::config::{ExpectedRejection, JsonRow, TestCase};
use crate::value::Record;

/// A row the chain rejected.
#[derive(Clone, Debug)]
pub struct RejectedRow {
    /// The rejecting step (`transforms[1] cast`).
    pub transform: String,
    /// Why.
    pub reason: String,
    /// The row as the step received it.
    pub row: Record,
}

impl fmt::Display for RejectedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {}: {}",
            self.row.to_json(),
            self.transform,
            self.reason
        )
    }
}

/// One way the output differs from what the test expects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// `expect` (in any order): rows expected and not made (`-`), rows made and not expected
    /// (`+`), as JSON.
    Rows {
        /// Expected, not made.
        missing: Vec<String>,
        /// Made, not expected.
        unexpected: Vec<String>,
    },
    /// `expect` with `ordered`: the first position where the rows differ.
    Order {
        /// The position (from 1).
        position: usize,
        /// The expected row there, if any.
        expected: Option<String>,
        /// The row made there, if any.
        actual: Option<String>,
    },
    /// `expect_count`.
    Count {
        /// Expected.
        expected: u64,
        /// Made.
        actual: u64,
    },
    /// `expect_rejected`: expected rejections not seen (`-`), rejections not expected (`+`).
    Rejected {
        /// Expected, not seen (described as written).
        missing: Vec<String>,
        /// Seen, not expected.
        unexpected: Vec<String>,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Rows {
                missing,
                unexpected,
            } => {
                writeln!(
                    f,
                    "rows differ: {} expected row(s) not produced (-), {} produced row(s) not expected (+)",
                    missing.len(),
                    unexpected.len()
                )?;
                for row in missing {
                    writeln!(f, "- {row}")?;
                }
                for row in unexpected {
                    writeln!(f, "+ {row}")?;
                }
                Ok(())
            }
            Mismatch::Order {
                position,
                expected,
                actual,
            } => {
                writeln!(f, "rows differ at position {position} (ordered):")?;
                writeln!(f, "- {}", expected.as_deref().unwrap_or("(no row)"))?;
                writeln!(f, "+ {}", actual.as_deref().unwrap_or("(no row)"))
            }
            Mismatch::Count { expected, actual } => {
                writeln!(f, "expected {expected} row(s) out, got {actual}")
            }
            Mismatch::Rejected {
                missing,
                unexpected,
            } => {
                writeln!(
                    f,
                    "rejected rows differ: {} expected rejection(s) not seen (-), {} rejection(s) not expected (+)",
                    missing.len(),
                    unexpected.len()
                )?;
                for r in missing {
                    writeln!(f, "- {r}")?;
                }
                for r in unexpected {
                    writeln!(f, "+ {r}")?;
                }
                Ok(())
            }
        }
    }
}

/// Everything in `test` that `rows` and `rejected` do not match.
pub(super) fn check(test: &TestCase, rows: &[Record], rejected: &[RejectedRow]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(expected) = &test.expect {
        let expected: Vec<String> = expected.iter().map(json_row).collect();
        let actual: Vec<String> = rows.iter().map(record_json).collect();
        if test.ordered {
            out.extend(first_difference(&expected, &actual));
        } else {
            let (missing, unexpected) = multiset_difference(&expected, &actual);
            if !missing.is_empty() || !unexpected.is_empty() {
                out.push(Mismatch::Rows {
                    missing,
                    unexpected,
                });
            }
        }
    }
    if let Some(expected) = test.expect_count {
        let actual = rows.len() as u64;
        if actual != expected {
            out.push(Mismatch::Count { expected, actual });
        }
    }
    if let Some(expected) = &test.expect_rejected {
        let mut unmatched: Vec<&RejectedRow> = rejected.iter().collect();
        let mut missing = Vec::new();
        for want in expected {
            match unmatched.iter().position(|r| matches(want, r)) {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => missing.push(describe(want)),
            }
        }
        if !missing.is_empty() || !unmatched.is_empty() {
            out.push(Mismatch::Rejected {
                missing,
                unexpected: unmatched.iter().map(ToString::to_string).collect(),
            });
        }
    }
    out
}

/// The row as JSON text with its keys sorted, read as the file source reads it (so `1` is an
/// integer and `1.0` a float on both sides).
fn json_row(row: &JsonRow) -> String {
    let text = serde_json::to_vec(row).unwrap_or_default();
    match Record::from_json(&text) {
        Ok(record) => record_json(&record),
        Err(_) => canonical(&serde_json::Value::Object(row.clone())).to_string(),
    }
}

fn record_json(record: &Record) -> String {
    canonical(&record.to_json()).to_string()
}

/// `value` with every object's keys in sorted order.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

/// Rows of `expected` not in `actual` and rows of `actual` not in `expected`, each row counted
/// as often as it occurs.
fn multiset_difference(expected: &[String], actual: &[String]) -> (Vec<String>, Vec<String>) {
    let mut unexpected: Vec<&String> = actual.iter().collect();
    let mut missing = Vec::new();
    for row in expected {
        match unexpected.iter().position(|a| *a == row) {
            Some(i) => {
                unexpected.swap_remove(i);
            }
            None => missing.push(row.clone()),
        }
    }
    // Back in the order the chain made them.
    let mut unexpected: Vec<String> = unexpected.into_iter().cloned().collect();
    unexpected.sort_by_key(|row| actual.iter().position(|a| a == row));
    (missing, unexpected)
}

fn first_difference(expected: &[String], actual: &[String]) -> Option<Mismatch> {
    let n = expected.len().max(actual.len());
    (0..n)
        .find(|&i| expected.get(i) != actual.get(i))
        .map(|i| Mismatch::Order {
            position: i + 1,
            expected: expected.get(i).cloned(),
            actual: actual.get(i).cloned(),
        })
}

/// Whether the rejection `r` is the one `want` describes.
fn matches(want: &ExpectedRejection, r: &RejectedRow) -> bool {
    let row_ok = want.row.as_ref().is_none_or(|row| holds(&r.row, row));
    let reason_ok = want
        .reason
        .as_ref()
        .is_none_or(|text| r.reason.contains(text.as_str()));
    let transform_ok = want.transform.as_ref().is_none_or(|t| {
        r.transform == *t
            || r.transform.starts_with(&format!("{t} "))
            || r.transform.ends_with(&format!(" {t}"))
    });
    row_ok && reason_ok && transform_ok
}

/// Whether `record` has every column of `row` with an equal value (its other columns aside).
fn holds(record: &Record, row: &JsonRow) -> bool {
    let text = serde_json::to_vec(row).unwrap_or_default();
    let Ok(wanted) = Record::from_json(&text) else {
        return false;
    };
    wanted.iter().all(|(name, value)| {
        record
            .get(name)
            .is_some_and(|v| canonical(&v.to_json()) == canonical(&value.to_json()))
    })
}

fn describe(want: &ExpectedRejection) -> String {
    let row = want
        .row
        .as_ref()
        .map_or_else(|| "any row".to_owned(), json_row);
    let by = want.transform.as_deref().unwrap_or("any transform");
    match &want.reason {
        Some(reason) => format!("{row} by {by}: a reason containing \"{reason}\""),
        None => format!("{row} by {by}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TestInput;
    use crate::record;

    fn row(v: serde_json::Value) -> JsonRow {
        v.as_object().cloned().unwrap_or_default()
    }

    fn case(expect: Option<Vec<JsonRow>>, ordered: bool) -> TestCase {
        TestCase {
            name: "t".into(),
            input: TestInput::Rows(Vec::new()),
            params: serde_json::Map::new(),
            logical_date: None,
            expect,
            ordered,
            expect_count: None,
            expect_rejected: None,
        }
    }

    #[test]
    fn rows_match_in_any_order_and_column_order_but_as_often_as_they_occur() {
        let made = [
            record! {"a" => 1, "b" => "x"},
            record! {"a" => 2, "b" => "y"},
        ];
        let t = case(
            Some(vec![
                row(serde_json::json!({"a": 2, "b": "y"})),
                row(serde_json::json!({"b": "x", "a": 1})),
            ]),
            false,
        );
        assert!(check(&t, &made, &[]).is_empty());
        let t = case(
            Some(vec![
                row(serde_json::json!({"a": 1, "b": "x"})),
                row(serde_json::json!({"a": 1, "b": "x"})),
            ]),
            false,
        );
        assert_eq!(
            check(&t, &made, &[]),
            vec![Mismatch::Rows {
                missing: vec![r#"{"a":1,"b":"x"}"#.into()],
                unexpected: vec![r#"{"a":2,"b":"y"}"#.into()],
            }]
        );
        // 1 and 1.0 differ: an integer is not a float.
        let t = case(
            Some(vec![row(serde_json::json!({"a": 1.0, "b": "x"}))]),
            false,
        );
        assert!(!check(&t, &made[..1], &[]).is_empty());
    }

    #[test]
    fn ordered_rows_report_the_first_position_that_differs() {
        let made = [record! {"a" => 1}, record! {"a" => 2}];
        let t = case(
            Some(vec![
                row(serde_json::json!({"a": 2})),
                row(serde_json::json!({"a": 1})),
            ]),
            true,
        );
        let m = check(&t, &made, &[]);
        assert_eq!(
            m,
            vec![Mismatch::Order {
                position: 1,
                expected: Some(r#"{"a":2}"#.into()),
                actual: Some(r#"{"a":1}"#.into()),
            }]
        );
        assert!(
            m[0].to_string().contains("- {\"a\":2}\n+ {\"a\":1}"),
            "{}",
            m[0]
        );
    }

    #[test]
    fn each_expected_rejection_matches_one_seen_and_none_is_left_over() {
        let seen = vec![
            RejectedRow {
                transform: "transforms[1] cast".into(),
                reason: "column `amount`: \"n/a\" is not an integer".into(),
                row: record! {"id" => 4, "amount" => "n/a"},
            },
            RejectedRow {
                transform: "transforms[2] validate".into(),
                reason: "email is missing".into(),
                row: record! {"id" => 5},
            },
        ];
        let mut t = case(None, false);
        t.expect_rejected = Some(vec![
            ExpectedRejection {
                row: Some(row(serde_json::json!({"amount": "n/a"}))),
                reason: Some("not an integer".into()),
                transform: Some("cast".into()),
            },
            ExpectedRejection {
                transform: Some("transforms[2]".into()),
                ..ExpectedRejection::default()
            },
        ]);
        assert!(check(&t, &[], &seen).is_empty());
        // A column the row does not have, or another value, does not match.
        for wrong in [
            serde_json::json!({"id": 4, "extra": 1}),
            serde_json::json!({"id": "4"}),
        ] {
            t.expect_rejected = Some(vec![ExpectedRejection {
                row: Some(row(wrong)),
                ..ExpectedRejection::default()
            }]);
            assert!(!check(&t, &[], &seen[..1]).is_empty());
        }
        t.expect_rejected = Some(vec![ExpectedRejection {
            reason: Some("too large".into()),
            ..ExpectedRejection::default()
        }]);
        let m = check(&t, &[], &seen);
        let Mismatch::Rejected {
            missing,
            unexpected,
        } = &m[0]
        else {
            panic!("{m:?}")
        };
        assert_eq!(
            missing,
            &vec!["any row by any transform: a reason containing \"too large\"".to_owned()]
        );
        assert_eq!(unexpected.len(), 2);
        assert!(
            unexpected[0].contains("by transforms[1] cast: column `amount`"),
            "{}",
            unexpected[0]
        );
    }
}
