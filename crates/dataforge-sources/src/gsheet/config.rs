//! The `gsheet` source's config: the keys users write in pipeline files, and their checks.

use dataforge_core::{ConfigErrors, ConfigIssue};
use schemars::JsonSchema;
use serde::Deserialize;

use super::a1::{self, A1Range, Rows};

/// The most rows one request asks for.
const MAX_CHUNK_ROWS: u32 = 100_000;

/// Config of the `gsheet` source.
///
/// ```json
/// {"type": "gsheet", "conn_id": "google_sheets_default", "spreadsheet_id": "1AbC…", "range": "Targets!A1:F"}
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GsheetSourceConfig {
    /// The connection (`DATAFORGE_CONN_<ID>`: `google-sheets://?key=API_KEY` or
    /// `google-sheets://?key_file=/path/service-account.json`); default `google_sheets_default`.
    #[serde(default = "default_conn_id")]
    pub conn_id: String,
    /// The spreadsheet's id (letters, digits, `-` and `_`), or its address
    /// (`https://docs.google.com/spreadsheets/d/<ID>/edit#gid=0`), from which the id is taken.
    pub spreadsheet_id: String,
    /// What to read: a tab's name (`Orders`, the whole tab), or A1 cells (`Orders!A1:H`,
    /// `'My Sheet'!A:C`; without a tab, the first tab). A list of these reads each into one
    /// stream, with a `_sheet` column holding the tab's title first.
    pub range: RangeSpec,
    /// The row of the range that holds the column names, counted from the range's first row
    /// (default 1); rows above it are not read. `null`: no header, columns are named `col_1`,
    /// `col_2`, ….
    #[serde(default = "default_header_row")]
    pub header_row: Option<u32>,
    /// How cell values are rendered: `UNFORMATTED_VALUE` (default: numbers as numbers),
    /// `FORMATTED_VALUE` (every cell as the text it displays), `FORMULA` (formulas as text).
    #[serde(default)]
    pub value_render_option: ValueRenderOption,
    /// How date and time cells are rendered: `FORMATTED_STRING` (default: text in the cell's
    /// format) or `SERIAL_NUMBER` (read as dates and timestamps). No effect with
    /// `FORMATTED_VALUE`.
    #[serde(default)]
    pub date_time_render_option: DateTimeRenderOption,
    /// Skips rows whose cells are all empty (default true).
    #[serde(default = "default_true")]
    pub skip_empty_rows: bool,
    /// Rows per request, 1 to 100000 (default 10000).
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: u32,
}

fn default_conn_id() -> String {
    "google_sheets_default".to_owned()
}

fn default_header_row() -> Option<u32> {
    Some(1)
}

fn default_true() -> bool {
    true
}

fn default_chunk_rows() -> u32 {
    10_000
}

/// One range, or several read into one stream.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RangeSpec {
    /// One tab name or A1 range.
    One(String),
    /// Several, each with a `_sheet` column.
    Many(Vec<String>),
}

/// Sheets' `valueRenderOption`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValueRenderOption {
    /// Values as calculated, unformatted: numbers as numbers, booleans as booleans.
    #[default]
    UnformattedValue,
    /// Values as displayed, as text (per the cell's format and the spreadsheet's locale).
    FormattedValue,
    /// Formulas as their text, other cells unformatted.
    Formula,
}

impl ValueRenderOption {
    /// The query parameter's value.
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::UnformattedValue => "UNFORMATTED_VALUE",
            Self::FormattedValue => "FORMATTED_VALUE",
            Self::Formula => "FORMULA",
        }
    }
}

/// Sheets' `dateTimeRenderOption`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DateTimeRenderOption {
    /// Dates and times as text in their cell's format.
    #[default]
    FormattedString,
    /// Dates and times as serial numbers, read as dates and timestamps.
    SerialNumber,
}

impl DateTimeRenderOption {
    /// The query parameter's value.
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::FormattedString => "FORMATTED_STRING",
            Self::SerialNumber => "SERIAL_NUMBER",
        }
    }
}

/// A validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GsheetSettings {
    pub(crate) conn_id: String,
    /// The id alone, even when the config gave an address.
    pub(crate) spreadsheet_id: String,
    /// The ranges, in the config's order (one when `range` is a string).
    pub(crate) ranges: Vec<A1Range>,
    /// Whether records start with `_sheet` (`range` is a list).
    pub(crate) sheet_column: bool,
    pub(crate) header_row: Option<u32>,
    pub(crate) value_render_option: ValueRenderOption,
    pub(crate) date_time_render_option: DateTimeRenderOption,
    pub(crate) skip_empty_rows: bool,
    pub(crate) chunk_rows: u32,
}

impl GsheetSettings {
    /// Whether serial numbers in date columns become dates (`SERIAL_NUMBER`, which Sheets
    /// ignores under `FORMATTED_VALUE`).
    pub(crate) fn serial_dates(&self) -> bool {
        self.date_time_render_option == DateTimeRenderOption::SerialNumber
            && self.value_render_option != ValueRenderOption::FormattedValue
    }
}

/// Whether `id` is a spreadsheet id's characters, not empty.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The spreadsheet id in `text`: the id itself, or taken from its address.
fn spreadsheet_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return if is_id(text) {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "must be a spreadsheet id (letters, digits, `-`, `_`) or its address \
                 `https://docs.google.com/spreadsheets/d/<ID>/edit`, found `{text}`"
            ))
        };
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').collect();
    // `/spreadsheets/d/<ID>/…`, also under `/u/<N>/` for a signed-in account.
    let id = (host == "docs.google.com" && segments.first() == Some(&"spreadsheets"))
        .then(|| segments.iter().position(|s| *s == "d"))
        .flatten()
        .and_then(|i| segments.get(i + 1));
    match id {
        Some(&"e") => Err(
            "is a published-to-the-web address (`/d/e/…`), which does not carry the \
             spreadsheet's id: copy the address from the browser while editing the sheet"
                .to_owned(),
        ),
        Some(id) if is_id(id) => Ok((*id).to_owned()),
        _ => Err(format!(
            "the address must be `https://docs.google.com/spreadsheets/d/<ID>/…` with an id of \
             letters, digits, `-` and `_`, found `{text}`"
        )),
    }
}

impl GsheetSourceConfig {
    /// Checks the config and resolves defaults; every problem is reported at its key.
    pub(crate) fn validate(self) -> Result<GsheetSettings, ConfigErrors> {
        let mut issues = Vec::new();
        if self.conn_id.trim().is_empty() {
            issues.push(ConfigIssue::at("conn_id", "must not be empty"));
        }
        let id = spreadsheet_id(&self.spreadsheet_id).unwrap_or_else(|message| {
            issues.push(ConfigIssue::at("spreadsheet_id", message));
            String::new()
        });
        let (texts, sheet_column): (Vec<(String, &String)>, bool) = match &self.range {
            RangeSpec::One(text) => (vec![("range".to_owned(), text)], false),
            RangeSpec::Many(list) => {
                if list.is_empty() {
                    issues.push(ConfigIssue::at(
                        "range",
                        "must name at least one range (a tab name or A1 cells)",
                    ));
                }
                (
                    list.iter()
                        .enumerate()
                        .map(|(i, t)| (format!("range[{i}]"), t))
                        .collect(),
                    true,
                )
            }
        };
        let mut ranges: Vec<A1Range> = Vec::with_capacity(texts.len());
        for (at, text) in texts {
            match a1::parse(text) {
                Ok(range) => {
                    if let Some(i) = ranges.iter().position(|r| *r == range) {
                        issues.push(ConfigIssue::at(
                            at,
                            format!("repeats range[{i}] (`{range}`): each is read once"),
                        ));
                        continue;
                    }
                    if let (Some(h), Some(area)) = (self.header_row, range.area)
                        && let Rows::Span(first, last) = area.rows
                        && u64::from(h) > u64::from(last - first) + 1
                    {
                        issues.push(ConfigIssue::at(
                            &at,
                            format!(
                                "`{range}` has {} row(s), fewer than `header_row` ({h})",
                                last - first + 1
                            ),
                        ));
                    }
                    ranges.push(range);
                }
                Err(e) => issues.push(ConfigIssue::at(at, e.to_string())),
            }
        }
        if self.header_row == Some(0) {
            issues.push(ConfigIssue::at(
                "header_row",
                "must be 1 or more (the range's first row is 1), or null for no header",
            ));
        }
        if self.date_time_render_option == DateTimeRenderOption::SerialNumber
            && self.value_render_option == ValueRenderOption::FormattedValue
        {
            // Sheets ignores it then; the original accepted the pair, so a warning, not an error.
            tracing::warn!(
                "`date_time_render_option: SERIAL_NUMBER` has no effect with \
                 `value_render_option: FORMATTED_VALUE`: every cell is read as displayed text"
            );
        }
        if !(1..=MAX_CHUNK_ROWS).contains(&self.chunk_rows) {
            issues.push(ConfigIssue::at(
                "chunk_rows",
                format!(
                    "must be from 1 to {MAX_CHUNK_ROWS}, found {}",
                    self.chunk_rows
                ),
            ));
        }
        if !issues.is_empty() {
            return Err(ConfigErrors(issues));
        }
        Ok(GsheetSettings {
            conn_id: self.conn_id,
            spreadsheet_id: id,
            ranges,
            sheet_column,
            header_row: self.header_row,
            value_render_option: self.value_render_option,
            date_time_render_option: self.date_time_render_option,
            skip_empty_rows: self.skip_empty_rows,
            chunk_rows: self.chunk_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<GsheetSourceConfig, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn settings(v: serde_json::Value) -> GsheetSettings {
        match parse(v).map(GsheetSourceConfig::validate) {
            Ok(Ok(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn issues(v: serde_json::Value) -> Vec<(String, String)> {
        match parse(v).map(GsheetSourceConfig::validate) {
            Ok(Err(e)) => e.0.into_iter().map(|i| (i.path, i.message)).collect(),
            other => panic!("expected issues, got {other:?}"),
        }
    }

    #[test]
    fn parses_example_config() {
        let s = settings(json!({
            "conn_id": "google_sheets_default", "spreadsheet_id": "1AbC-x_9",
            "range": "Targets!A1:F"
        }));
        assert_eq!(s.conn_id, "google_sheets_default");
        assert_eq!(s.spreadsheet_id, "1AbC-x_9");
        assert_eq!(
            s.ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["'Targets'!A1:F"]
        );
        assert!(!s.sheet_column);
        assert_eq!(s.header_row, Some(1));
        assert_eq!(s.value_render_option, ValueRenderOption::UnformattedValue);
        assert_eq!(s.value_render_option.as_str(), "UNFORMATTED_VALUE");
        assert_eq!(
            s.date_time_render_option,
            DateTimeRenderOption::FormattedString
        );
        assert!(s.skip_empty_rows && !s.serial_dates());
        assert_eq!(s.chunk_rows, 10_000);
    }

    #[test]
    fn rejects_unknown_field() {
        let e =
            parse(json!({"spreadsheet_id": "x", "range": "A", "chunk_row": 5})).expect_err("typo");
        assert!(e.to_string().contains("unknown field `chunk_row`"), "{e}");
        let e = parse(json!({"spreadsheet_id": "x", "range": "A", "value_render_option": "RAW"}))
            .expect_err("bad option");
        assert!(e.to_string().contains("RAW"), "{e}");
    }

    #[test]
    fn takes_the_id_from_an_address() {
        for url in [
            "https://docs.google.com/spreadsheets/d/1AbC_-9/edit#gid=0",
            "https://docs.google.com/spreadsheets/d/1AbC_-9",
            "https://docs.google.com/spreadsheets/u/1/d/1AbC_-9/edit?usp=sharing",
            " 1AbC_-9 ",
        ] {
            let s = settings(json!({"spreadsheet_id": url, "range": "Orders"}));
            assert_eq!(s.spreadsheet_id, "1AbC_-9", "{url}");
        }
        let found = issues(json!({
            "spreadsheet_id": "https://docs.google.com/spreadsheets/d/e/2PACX-1/pubhtml",
            "range": "Orders"
        }));
        assert!(found[0].1.contains("published"), "{found:?}");
        for bad in [
            "1AbC/9",
            "",
            "https://example.com/spreadsheets/d/1AbC/edit",
            "https://docs.google.com/document/d/1AbC/edit",
            "https://docs.google.com/spreadsheets/d/1A%bC/edit",
        ] {
            let found = issues(json!({"spreadsheet_id": bad, "range": "Orders"}));
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].0, "spreadsheet_id");
        }
    }

    #[test]
    fn reports_every_problem_at_its_path() {
        let found = issues(json!({
            "conn_id": " ", "spreadsheet_id": "a b",
            "range": ["Orders!A1:H", "Orders!A:C5", "'Bad", "Orders!a1:h", "T!A1:C1"],
            "header_row": 2, "chunk_rows": 100_001
        }));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "conn_id",
                "spreadsheet_id",
                "range[1]",
                "range[2]",
                "range[3]",
                "range[4]",
                "chunk_rows"
            ]
        );
        assert!(found[4].1.contains("repeats range[0]"), "{found:?}");
        assert!(found[5].1.contains("fewer than `header_row`"), "{found:?}");
        let found =
            issues(json!({"spreadsheet_id": "x", "range": [], "header_row": 0, "chunk_rows": 0}));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["range", "header_row", "chunk_rows"]);
        let found = issues(json!({"spreadsheet_id": "x", "range": "Sheet1!A0"}));
        assert_eq!(found[0].0, "range");
    }

    #[test]
    fn lists_header_null_and_options() {
        let s = settings(json!({
            "spreadsheet_id": "x", "range": ["Orders", "'Old Orders'!A:H"], "header_row": null,
            "value_render_option": "FORMULA", "date_time_render_option": "SERIAL_NUMBER",
            "skip_empty_rows": false, "chunk_rows": 100_000
        }));
        assert!(s.sheet_column);
        assert_eq!(s.ranges.len(), 2);
        assert_eq!(s.header_row, None);
        assert!(s.serial_dates() && !s.skip_empty_rows);
        assert_eq!(s.date_time_render_option.as_str(), "SERIAL_NUMBER");
        assert_eq!(s.value_render_option.as_str(), "FORMULA");
        let s = settings(json!({
            "spreadsheet_id": "x", "range": "A1:C", "value_render_option": "FORMATTED_VALUE",
            "date_time_render_option": "SERIAL_NUMBER"
        }));
        assert!(!s.serial_dates());
        assert_eq!(s.value_render_option.as_str(), "FORMATTED_VALUE");
    }

    #[test]
    fn schema_has_descriptions() {
        let schema = schemars::schema_for!(GsheetSourceConfig);
        let text = serde_json::to_string(&schema).unwrap_or_default();
        assert!(text.contains("Rows per request, 1 to 100000"), "{text}");
        assert!(text.contains("\"additionalProperties\":false"), "{text}");
        assert!(text.contains("SERIAL_NUMBER"), "{text}");
    }
}
