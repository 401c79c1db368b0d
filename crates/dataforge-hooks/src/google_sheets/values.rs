//! What the hook reads: spreadsheet metadata, value ranges, and how values are rendered.

use serde::Deserialize;
use serde_json::Value;

/// A spreadsheet's title and tabs (`spreadsheets.get`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpreadsheetInfo {
    /// The spreadsheet's title.
    pub title: Option<String>,
    /// Its tabs, in the order Google lists them.
    pub sheets: Vec<SheetInfo>,
}

/// One tab of a spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SheetInfo {
    /// The tab's id (`gid=` in its URL).
    pub sheet_id: i64,
    /// The tab's name, as ranges name it (`'My Sheet'!A1:C`).
    pub title: String,
    /// Its position, from 0.
    pub index: i64,
    /// Rows of its grid (0 for a chart sheet).
    pub row_count: u64,
    /// Columns of its grid (0 for a chart sheet).
    pub column_count: u64,
}

/// How values are rendered (`valueRenderOption` and `dateTimeRenderOption`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueOptions {
    /// How cell values are rendered (default: unformatted).
    pub value_render: ValueRender,
    /// How dates and times are rendered when values are not formatted (default: strings).
    pub date_time_render: DateTimeRender,
}

/// `valueRenderOption`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueRender {
    /// `UNFORMATTED_VALUE`: numbers as JSON numbers, booleans as booleans.
    #[default]
    Unformatted,
    /// `FORMATTED_VALUE`: strings as the sheet displays them (in the spreadsheet's locale).
    Formatted,
    /// `FORMULA`: formulas as text (`=A1`), other cells unformatted.
    Formula,
}

impl ValueRender {
    /// The API's name of the option.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unformatted => "UNFORMATTED_VALUE",
            Self::Formatted => "FORMATTED_VALUE",
            Self::Formula => "FORMULA",
        }
    }
}

/// `dateTimeRenderOption` (ignored by Google when values are formatted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DateTimeRender {
    /// `FORMATTED_STRING`: dates and times as text in their cell's format.
    #[default]
    FormattedString,
    /// `SERIAL_NUMBER`: days since 1899-12-30, the fraction the time of day.
    SerialNumber,
}

impl DateTimeRender {
    /// The API's name of the option.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FormattedString => "FORMATTED_STRING",
            Self::SerialNumber => "SERIAL_NUMBER",
        }
    }
}

impl ValueOptions {
    /// The query parameters of a values call: `majorDimension=ROWS` and both render options.
    pub(crate) fn query(self) -> [(&'static str, &'static str); 3] {
        [
            ("majorDimension", "ROWS"),
            ("valueRenderOption", self.value_render.as_str()),
            ("dateTimeRenderOption", self.date_time_render.as_str()),
        ]
    }
}

/// The values of one range, row by row.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ValueRange {
    /// The range as Google names it (the whole requested range in A1 notation, `Sheet1!A1:C10`).
    #[serde(default)]
    pub range: String,
    /// The rows: ragged (each stops at its last non-empty cell), trailing empty rows left out;
    /// empty when the range holds no data.
    #[serde(default)]
    pub values: Vec<Vec<Value>>,
}

/// `spreadsheets.get`'s answer with the fields asked for.
#[derive(Deserialize)]
pub(crate) struct RawSpreadsheet {
    #[serde(default)]
    properties: RawProperties,
    #[serde(default)]
    sheets: Vec<RawSheet>,
}

#[derive(Default, Deserialize)]
struct RawProperties {
    title: Option<String>,
}

#[derive(Deserialize)]
struct RawSheet {
    #[serde(default)]
    properties: RawSheetProperties,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSheetProperties {
    // Google leaves out fields holding their default (sheet id 0, index 0).
    #[serde(default)]
    sheet_id: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    index: i64,
    #[serde(default)]
    grid_properties: RawGrid,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGrid {
    #[serde(default)]
    row_count: u64,
    #[serde(default)]
    column_count: u64,
}

impl From<RawSpreadsheet> for SpreadsheetInfo {
    fn from(raw: RawSpreadsheet) -> Self {
        Self {
            title: raw.properties.title,
            sheets: raw
                .sheets
                .into_iter()
                .map(|s| SheetInfo {
                    sheet_id: s.properties.sheet_id,
                    title: s.properties.title,
                    index: s.properties.index,
                    row_count: s.properties.grid_properties.row_count,
                    column_count: s.properties.grid_properties.column_count,
                })
                .collect(),
        }
    }
}

/// `values:batchGet`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawBatch {
    #[serde(default)]
    pub(crate) value_ranges: Vec<ValueRange>,
}

/// `text` percent-encoded as one path segment: everything but `A-Z a-z 0-9 - . _ ~` escaped,
/// so that `'My Sheet'!A1:C` and ids travel intact.
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn value_range_without_values_is_empty() {
        let range: ValueRange =
            serde_json::from_value(json!({"range": "Sheet1!A1:C10", "majorDimension": "ROWS"}))
                .unwrap();
        assert_eq!(range.range, "Sheet1!A1:C10");
        assert!(range.values.is_empty());
        let range: ValueRange = serde_json::from_value(
            json!({"range": "A1:B2", "values": [["a", 1.5, true], [], ["", "x"]]}),
        )
        .unwrap();
        assert_eq!(range.values[0], vec![json!("a"), json!(1.5), json!(true)]);
        assert!(range.values[1].is_empty());
    }

    #[test]
    fn spreadsheet_defaults_missing_fields() {
        let raw: RawSpreadsheet = serde_json::from_value(json!({
            "properties": {"title": "Budget"},
            "sheets": [
                {"properties": {"title": "Sheet1", "gridProperties": {"rowCount": 1000, "columnCount": 26}}},
                {"properties": {"sheetId": 7, "title": "Chart", "index": 1}}
            ]
        }))
        .unwrap();
        let info = SpreadsheetInfo::from(raw);
        assert_eq!(info.title.as_deref(), Some("Budget"));
        assert_eq!(
            info.sheets[0],
            SheetInfo {
                sheet_id: 0,
                title: "Sheet1".into(),
                index: 0,
                row_count: 1000,
                column_count: 26
            }
        );
        assert_eq!((info.sheets[1].sheet_id, info.sheets[1].row_count), (7, 0));
    }

    #[test]
    fn ranges_are_encoded_as_one_segment() {
        assert_eq!(path_segment("'My Sheet'!A1:C"), "%27My%20Sheet%27%21A1%3AC");
        assert_eq!(path_segment("Ünïcode/tab"), "%C3%9Cn%C3%AFcode%2Ftab");
        assert_eq!(path_segment("1AbC-_x"), "1AbC-_x");
    }

    #[test]
    fn options_default_to_unformatted_and_formatted_strings() {
        assert_eq!(
            ValueOptions::default().query(),
            [
                ("majorDimension", "ROWS"),
                ("valueRenderOption", "UNFORMATTED_VALUE"),
                ("dateTimeRenderOption", "FORMATTED_STRING"),
            ]
        );
    }
}
