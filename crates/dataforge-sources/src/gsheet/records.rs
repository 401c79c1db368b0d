//! Rows of cells (values.get's `values`, ragged) → records.
//!
//! - A record has the header's columns, in order (`_sheet` first, with the tab's title, when
//!   `range` is a list). A row shorter than the header — the API stops each row at its last
//!   non-empty cell — has nulls in the missing cells.
//! - A row longer than the header keeps its extra cells, named `col_N` (N the 1-based position
//!   in the range; `_2`, … if the header has that name): only those rows have those columns.
//!   The builder counts such rows (`Overflow`) for one warning per load, not one per row.
//! - An empty cell is null. The API sends `""` for an empty cell before a row's last non-empty
//!   one and nothing after it; both become null, so a cell's emptiness does not depend on
//!   what lies to its right. (A cell holding a formula that yields `""` is null too.)
//! - A row with no cells, or only empty ones, is skipped with `skip_empty_rows` (default);
//!   otherwise it is a record of nulls.
//! - Numbers stay numbers as JSON gave them: `5` is an integer, `5.5` a float (with
//!   `UNFORMATTED_VALUE` Sheets sends integral numbers without a fraction); booleans stay
//!   booleans; strings stay strings (with `FORMATTED_VALUE` every cell is a string, as
//!   displayed; with `FORMULA` a formula is its text, `=A1*2`).
//! - With serial dates on, numbers in date columns become dates or timestamps (`serial.rs`).

use std::collections::{HashMap, HashSet};

use dataforge_core::{Columns, CompactString, Record, Value};
use serde_json::Value as Json;

use super::header::{generated_name, unique_name};
use super::serial::{DateColumns, serial_value};

/// The column that holds the tab's title when `range` is a list.
pub(crate) const SHEET_COLUMN: &str = "_sheet";

/// Rows longer than the header, counted over a load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Overflow {
    /// How many rows had cells past the header.
    pub(crate) rows: u64,
    /// The most cells one of them had.
    pub(crate) widest: usize,
    /// The sheet row number of the first.
    pub(crate) first_row: Option<u32>,
}

/// Turns the rows of one tab into records, the same columns for every chunk.
#[derive(Debug)]
pub(crate) struct RecordBuilder {
    /// The `_sheet` value, when there is one.
    sheet: Option<CompactString>,
    /// The header's names (or `col_1…` without a header).
    names: Vec<CompactString>,
    /// Every name given so far, `_sheet` included.
    taken: HashSet<CompactString>,
    /// Names of cells past the header, in order.
    extra: Vec<CompactString>,
    /// Columns by the number of cells they name (at least the header's).
    shapes: HashMap<usize, Columns>,
    skip_empty_rows: bool,
    /// What is known of date columns, when serial numbers are read as dates.
    dates: Option<DateColumns>,
    overflow: Overflow,
    skipped: u64,
}

impl RecordBuilder {
    /// A builder for records with these column `names` (from the header, or
    /// `super::header::generated_names` for the range's width), `sheet` the tab's title
    /// when `range` is a list, and serial numbers in date columns read as dates when
    /// `serial_dates` (`SERIAL_NUMBER` without `FORMATTED_VALUE`).
    pub(crate) fn new(
        names: Vec<CompactString>,
        sheet: Option<&str>,
        skip_empty_rows: bool,
        serial_dates: bool,
    ) -> Self {
        let mut taken: HashSet<CompactString> = names.iter().cloned().collect();
        if sheet.is_some() {
            taken.insert(SHEET_COLUMN.into());
        }
        Self {
            sheet: sheet.map(CompactString::from),
            names,
            taken,
            extra: Vec::new(),
            shapes: HashMap::new(),
            skip_empty_rows,
            dates: serial_dates.then(DateColumns::new),
            overflow: Overflow::default(),
            skipped: 0,
        }
    }

    /// The date columns learned so far, to probe and `learn` (see `serial.rs`); `None` when
    /// serial dates are off.
    pub(crate) fn dates_mut(&mut self) -> Option<&mut DateColumns> {
        self.dates.as_mut()
    }

    /// Rows longer than the header so far.
    #[cfg(test)]
    pub(crate) fn overflow(&self) -> &Overflow {
        &self.overflow
    }

    /// Empty rows skipped so far.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Logs the load's one warning about rows longer than the header, if there were any.
    pub(crate) fn warn_overflow(&self, range: &str) {
        let o = &self.overflow;
        if o.rows > 0 {
            tracing::warn!(
                range,
                rows = o.rows,
                first_row = o.first_row,
                "{} row(s) have cells past the header's {} column(s) (up to {}, first at sheet \
                 row {}): they are named `col_N` by position; extend the header to name them",
                o.rows,
                self.names.len(),
                o.widest,
                o.first_row.unwrap_or(0),
            );
        }
    }

    /// The columns of a row of `cells` cells (at least the header's).
    fn shape(&mut self, cells: usize) -> Columns {
        let cells = cells.max(self.names.len());
        if let Some(columns) = self.shapes.get(&cells) {
            return columns.clone();
        }
        while self.names.len() + self.extra.len() < cells {
            let position = self.names.len() + self.extra.len() + 1;
            let name = unique_name(&generated_name(position), &self.taken);
            self.taken.insert(name.clone());
            self.extra.push(name);
        }
        let mut all = Vec::with_capacity(cells + 1);
        if self.sheet.is_some() {
            all.push(CompactString::from(SHEET_COLUMN));
        }
        all.extend(self.names.iter().cloned());
        all.extend(self.extra[..cells - self.names.len()].iter().cloned());
        let columns = Columns::new(all);
        self.shapes.insert(cells, columns.clone());
        columns
    }

    /// The records of `rows`, the first of which is sheet row `first_row`.
    pub(crate) fn records(&mut self, rows: Vec<Vec<Json>>, first_row: u32) -> Vec<Record> {
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            if self.skip_empty_rows && row.iter().all(is_empty) {
                self.skipped += 1;
                continue;
            }
            if row.len() > self.names.len() {
                let o = &mut self.overflow;
                o.rows += 1;
                o.widest = o.widest.max(row.len());
                o.first_row
                    .get_or_insert(first_row.saturating_add(u32::try_from(i).unwrap_or(u32::MAX)));
            }
            let columns = self.shape(row.len());
            let mut values = Vec::with_capacity(columns.len());
            if let Some(sheet) = &self.sheet {
                values.push(Value::String(sheet.clone()));
            }
            for (j, cell) in row.into_iter().enumerate() {
                let kind = self.dates.as_ref().and_then(|d| d.kind(j));
                values.push(cell_value(cell, kind));
            }
            values.resize(columns.len(), Value::Null);
            // `shape(n)` names max(n, header) cells plus `_sheet` when set: exactly the values
            // pushed, padded to its length, so the counts agree.
            let record =
                Record::from_parts(columns, values).expect("the shape fits the row's values");
            out.push(record);
        }
        out
    }
}

/// Whether a cell is empty: absent or `""`.
fn is_empty(cell: &Json) -> bool {
    match cell {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        _ => false,
    }
}

/// A cell's value; a number in a date column of `kind` becomes a date or timestamp.
fn cell_value(cell: Json, kind: Option<super::serial::DateKind>) -> Value {
    match cell {
        Json::String(s) if s.is_empty() => Value::Null,
        Json::Number(n) => {
            if let Some(kind) = kind
                && let Some(v) = n.as_f64().and_then(|f| serial_value(f, kind))
            {
                return v;
            }
            Value::from(Json::Number(n))
        }
        other => Value::from(other),
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

    fn names(list: &[&str]) -> Vec<CompactString> {
        list.iter().map(|n| CompactString::from(*n)).collect()
    }

    fn as_json(records: &[Record]) -> Vec<Json> {
        records.iter().map(|r| Json::from(r.clone())).collect()
    }

    #[test]
    fn ragged_rows_get_nulls_and_empty_cells_are_null() {
        let mut b = RecordBuilder::new(names(&["id", "name", "total"]), None, true, false);
        let out = b.records(rows(json!([[1, "a", 5.5], [2, "", 3], [3], [4, "d"]])), 2);
        assert_eq!(
            as_json(&out),
            [
                json!({"id": 1, "name": "a", "total": 5.5}),
                json!({"id": 2, "name": null, "total": 3}),
                json!({"id": 3, "name": null, "total": null}),
                json!({"id": 4, "name": "d", "total": null}),
            ]
        );
        assert_eq!(out[1].get("total"), Some(&Value::Int(3)));
        assert_eq!(out[0].get("total"), Some(&Value::Float(5.5)));
        // Rows of one shape share their column names.
        assert!(out[0].columns().same(out[3].columns()));
        assert_eq!(b.overflow(), &Overflow::default());
    }

    #[test]
    fn keeps_booleans_strings_and_formulas() {
        let mut b = RecordBuilder::new(names(&["a", "b", "c"]), None, true, false);
        let out = b.records(rows(json!([[true, "=A1*2", " x "]])), 2);
        assert_eq!(
            as_json(&out),
            [json!({"a": true, "b": "=A1*2", "c": " x "})]
        );
    }

    #[test]
    fn empty_rows_are_skipped_or_kept() {
        let data = json!([[1], [], ["", ""], [2]]);
        let mut b = RecordBuilder::new(names(&["id"]), None, true, false);
        assert_eq!(b.records(rows(data.clone()), 2).len(), 2);
        assert_eq!(b.skipped(), 2);
        let mut b = RecordBuilder::new(names(&["id", "x"]), None, false, false);
        let out = b.records(rows(data), 2);
        assert_eq!(out.len(), 4);
        assert_eq!(as_json(&out[1..2]), [json!({"id": null, "x": null})]);
    }

    #[test]
    fn long_rows_get_col_n_and_one_count() {
        let mut b = RecordBuilder::new(names(&["id", "col_3"]), None, true, false);
        let out = b.records(rows(json!([[1, "a", "b", "c"], [2], [3, "x", "y"]])), 10);
        assert_eq!(
            as_json(&out),
            [
                json!({"id": 1, "col_3": "a", "col_3_2": "b", "col_4": "c"}),
                json!({"id": 2, "col_3": null}),
                json!({"id": 3, "col_3": "x", "col_3_2": "y"}),
            ]
        );
        let out2 = b.records(rows(json!([[4, "p", "q", "r", "s"]])), 20);
        assert_eq!(
            out2[0].columns().as_slice(),
            ["id", "col_3", "col_3_2", "col_4", "col_5"]
        );
        assert_eq!(
            b.overflow(),
            &Overflow {
                rows: 3,
                widest: 5,
                first_row: Some(10)
            }
        );
        b.warn_overflow("'T'!A10:B12");
    }

    #[test]
    fn several_tabs_start_with_sheet() {
        let mut b = RecordBuilder::new(names(&["id"]), Some("Orders"), true, false);
        let out = b.records(rows(json!([[1, 2]])), 2);
        assert_eq!(
            as_json(&out),
            [json!({"_sheet": "Orders", "id": 1, "col_2": 2})]
        );
        assert_eq!(out[0].columns().as_slice()[0], SHEET_COLUMN);
    }

    #[test]
    fn serial_numbers_in_date_columns_become_dates() {
        let mut b = RecordBuilder::new(names(&["id", "day", "at", "n"]), None, true, true);
        let serial = rows(json!([[1, 45292, 45292.5, 7], [2, 45293, 45293, 8.5]]));
        let formatted = rows(json!([
            [1, "1/1/2024", "1/1/2024 12:00", 7],
            [2, "1/2/2024", "1/2/2024 0:00", 8.5]
        ]));
        let dates = b.dates_mut().expect("serial dates on");
        assert!(dates.needs_probe(&serial));
        dates.learn(&serial, &formatted);
        let out = b.records(serial, 2);
        assert_eq!(
            as_json(&out),
            [
                json!({"id": 1, "day": "2024-01-01", "at": "2024-01-01T12:00:00Z", "n": 7}),
                json!({"id": 2, "day": "2024-01-02", "at": "2024-01-02T00:00:00Z", "n": 8.5}),
            ]
        );
        assert!(matches!(out[0].get("day"), Some(Value::Date(_))));
        assert!(matches!(out[1].get("at"), Some(Value::Timestamp(_))));
        // Without serial dates numbers stay numbers.
        let mut b = RecordBuilder::new(names(&["day"]), None, true, false);
        assert!(b.dates_mut().is_none());
        assert_eq!(
            b.records(rows(json!([[45292]])), 2)[0].get("day"),
            Some(&Value::Int(45292))
        );
    }

    proptest! {
        #[test]
        fn no_cell_is_lost_or_invented(
            header in 0usize..5,
            data in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![
                    Just(json!("")), any::<i64>().prop_map(Json::from), "[a-z]{1,3}".prop_map(Json::from)
                ], 0..8),
                0..20),
        ) {
            let header_names: Vec<CompactString> = (0..header).map(|i| format!("h{i}").into()).collect();
            let mut b = RecordBuilder::new(header_names, Some("S"), false, false);
            let out = b.records(data.clone(), 2);
            prop_assert_eq!(out.len(), data.len());
            for (record, row) in out.iter().zip(&data) {
                prop_assert_eq!(record.len(), 1 + row.len().max(header));
                for (j, cell) in row.iter().enumerate() {
                    let expected = if is_empty(cell) { Value::Null } else { Value::from(cell.clone()) };
                    prop_assert_eq!(&record.values()[j + 1], &expected);
                }
                prop_assert!(record.values()[1 + row.len()..].iter().all(Value::is_null));
            }
            prop_assert_eq!(b.overflow().rows, data.iter().filter(|r| r.len() > header).count() as u64);
        }
    }
}
