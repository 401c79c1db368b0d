//! The header row → column names.
//!
//! Names are the header cells' text, trimmed (a number is its JSON text: `2024`, `1.5`; a
//! boolean `true`/`false`). An empty cell gets `col_N`, N its 1-based position in the range;
//! a repeated name gets `_2`, `_3`, … (the first keeps it), skipping names already taken. One
//! warning lists every renamed column. Cells past the header's last non-empty cell do not
//! exist in the API's answer: data there is named by the records step (`records.rs`).

use std::collections::HashSet;

use dataforge_core::CompactString;
use serde_json::Value as Json;

use super::error::GsheetSourceError;

/// A column whose header cell was empty or repeated, and the name it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Renamed {
    /// The 1-based position in the range.
    pub(crate) position: usize,
    /// The header cell's text, trimmed (empty when the cell was).
    pub(crate) was: String,
    /// The name given.
    pub(crate) name: CompactString,
}

/// The column names a header row gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// One name per header cell, in order, distinct.
    pub(crate) names: Vec<CompactString>,
    /// What was renamed (already logged as one warning).
    pub(crate) renamed: Vec<Renamed>,
}

/// The name of the column at 1-based `position` when nothing names it: `col_3`.
pub(crate) fn generated_name(position: usize) -> CompactString {
    format!("col_{position}").into()
}

/// `col_1` … `col_{width}`: the names of a range read without a header.
pub(crate) fn generated_names(width: usize) -> Vec<CompactString> {
    (1..=width).map(generated_name).collect()
}

/// `name`, or `name_2`, `name_3`, … : the first that is not in `taken`.
pub(crate) fn unique_name(name: &str, taken: &HashSet<CompactString>) -> CompactString {
    if !taken.contains(name) {
        return name.into();
    }
    (2u64..)
        .map(|k| CompactString::from(format!("{name}_{k}")))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| name.into())
}

/// A header cell's text, trimmed.
fn cell_text(cell: &Json) -> String {
    match cell {
        Json::Null => String::new(),
        Json::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    }
}

/// The column names in the header row `cells`, read from `range` (named in the warning and
/// the error). `reserved` are names the source adds itself (`_sheet`): a header cell with one
/// is renamed like a duplicate.
///
/// # Errors
/// `GsheetSourceError::EmptyHeader` when no cell has text (an absent row included).
pub(crate) fn column_names(
    cells: &[Json],
    range: &str,
    reserved: &[&str],
) -> Result<Header, GsheetSourceError> {
    let texts: Vec<String> = cells.iter().map(cell_text).collect();
    if texts.iter().all(String::is_empty) {
        return Err(GsheetSourceError::EmptyHeader {
            range: range.to_owned(),
        });
    }
    let base: Vec<CompactString> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.is_empty() {
                generated_name(i + 1)
            } else {
                t.as_str().into()
            }
        })
        .collect();
    // First occurrences keep their name, written names before generated ones; the others
    // are renamed around every kept one.
    let mut taken: HashSet<CompactString> = reserved.iter().map(|r| (*r).into()).collect();
    let mut keep = vec![false; base.len()];
    for generated in [false, true] {
        for (i, name) in base.iter().enumerate() {
            if texts[i].is_empty() == generated && taken.insert(name.clone()) {
                keep[i] = true;
            }
        }
    }
    let mut names = Vec::with_capacity(base.len());
    let mut renamed = Vec::new();
    for (i, name) in base.into_iter().enumerate() {
        let final_name = if keep[i] {
            name
        } else {
            let unique = unique_name(&name, &taken);
            taken.insert(unique.clone());
            unique
        };
        if !keep[i] || texts[i].is_empty() {
            renamed.push(Renamed {
                position: i + 1,
                was: texts[i].clone(),
                name: final_name.clone(),
            });
        }
        names.push(final_name);
    }
    if !renamed.is_empty() {
        let list: Vec<String> = renamed
            .iter()
            .map(|r| {
                if r.was.is_empty() {
                    format!("column {} (empty) → `{}`", r.position, r.name)
                } else {
                    format!("column {} `{}` → `{}`", r.position, r.was, r.name)
                }
            })
            .collect();
        tracing::warn!(
            range,
            "header row: empty or repeated column names renamed: {}",
            list.join(", ")
        );
    }
    Ok(Header { names, renamed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(cells: Json, reserved: &[&str]) -> Vec<String> {
        let cells = cells.as_array().cloned().unwrap_or_default();
        match column_names(&cells, "'T'!A1:Z1", reserved) {
            Ok(h) => h.names.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn trims_and_keeps_distinct_names() {
        assert_eq!(
            names(json!([" id ", "name", "total price"]), &[]),
            ["id", "name", "total price"]
        );
        assert_eq!(
            names(json!([2024, 1.5, true, "x"]), &[]),
            ["2024", "1.5", "true", "x"]
        );
    }

    #[test]
    fn empty_cells_get_col_n_and_duplicates_a_suffix() {
        let cells = json!(["id", "", "name", "name", " name ", "", "col_2"]);
        let header =
            column_names(cells.as_array().map_or(&[][..], |a| a), "'T'!A1:G1", &[]).expect("names");
        assert_eq!(
            header.names,
            [
                "id", "col_2_2", "name", "name_2", "name_3", "col_6", "col_2"
            ]
        );
        assert_eq!(
            header
                .renamed
                .iter()
                .map(|r| (r.position, r.was.as_str(), r.name.as_str()))
                .collect::<Vec<_>>(),
            [
                (2, "", "col_2_2"),
                (4, "name", "name_2"),
                (5, "name", "name_3"),
                (6, "", "col_6")
            ]
        );
        // A suffix already in the header is skipped.
        assert_eq!(names(json!(["a", "a", "a_2"]), &[]), ["a", "a_3", "a_2"]);
    }

    #[test]
    fn reserved_names_are_renamed() {
        assert_eq!(
            names(json!(["_sheet", "id"]), &["_sheet"]),
            ["_sheet_2", "id"]
        );
    }

    #[test]
    fn an_empty_or_absent_header_is_an_error_naming_the_range() {
        for cells in [json!([]), json!(["", "  ", null])] {
            let cells = cells.as_array().cloned().unwrap_or_default();
            let e = column_names(&cells, "'Orders'!A1:H1", &[]).expect_err("empty");
            assert!(e.to_string().contains("'Orders'!A1:H1"), "{e}");
        }
    }

    #[test]
    fn generated_names_count_from_one() {
        assert_eq!(generated_names(3), ["col_1", "col_2", "col_3"]);
        assert!(generated_names(0).is_empty());
    }
}
