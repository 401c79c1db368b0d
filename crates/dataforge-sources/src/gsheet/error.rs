//! Errors of the `gsheet` source's pure parts: A1 ranges and header rows.

use dataforge_core::ComponentError;

use super::a1::MAX_ROW;

/// Why a text is not an A1 range (reported as a config error at the key that holds it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum A1Error {
    /// Nothing was written.
    #[error("must not be empty: write a tab name (`Orders`) or A1 cells (`Orders!A1:H`)")]
    Empty,
    /// A `'` opens a sheet name that no `'` closes.
    #[error(
        "the sheet name's opening quote `'` is never closed (a `'` inside a name is written `''`)"
    )]
    UnclosedQuote,
    /// Text follows a quoted sheet name without a `!`.
    #[error("expected `!` and cells after the quoted sheet name, found `{rest}`")]
    AfterQuote {
        /// What follows the closing quote.
        rest: String,
    },
    /// The sheet name is empty.
    #[error("the sheet name before `!` must not be empty")]
    EmptySheet,
    /// An unquoted sheet name holds a `'`.
    #[error("the sheet name `{name}` holds a `'`: quote it, doubling the `'` (`'It''s'!A1`)")]
    UnquotedQuote {
        /// The name as written.
        name: String,
    },
    /// The cells after `!` are not A1 cells.
    #[error(
        "`{cells}` is not A1 cells: write `A1:H10`, `A2:H` (to the last row), `A:H` (whole \
         columns), `2:10` (whole rows) or `B3` (one cell)"
    )]
    BadCells {
        /// The cells part as written.
        cells: String,
    },
    /// Column letters beyond Sheets' last column.
    #[error("column `{letters}` is beyond `ZZZ`, Sheets' last column (18278)")]
    ColumnOutOfRange {
        /// The letters as written.
        letters: String,
    },
    /// A row number of 0 or beyond what a spreadsheet can hold.
    #[error("row `{row}` must be from 1 to {MAX_ROW}")]
    RowOutOfRange {
        /// The digits as written.
        row: String,
    },
}

/// What can go wrong turning a spreadsheet's cells into records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GsheetSourceError {
    /// The header row has no names: its cells are all empty, or the range has no such row.
    #[error(
        "the header row {range} is empty: put the column names there, point `header_row` at \
         the row that has them, or set `\"header_row\": null` to name columns `col_1`, `col_2`, …"
    )]
    EmptyHeader {
        /// The header row's range, e.g. `'Orders'!A1:H1`.
        range: String,
    },
    /// The header row lies outside the tab's grid (below its last row, or the range's
    /// columns start beyond its last column).
    #[error(
        "the header row (row {header_row} of the range {range}) is outside the tab's grid of \
         {row_count} rows and {column_count} columns: point `header_row` or `range` at the \
         column names, or set `\"header_row\": null`"
    )]
    HeaderOutsideGrid {
        /// The range read, normalised.
        range: String,
        /// The configured header row, counted from the range's first row.
        header_row: u32,
        /// The tab's number of rows.
        row_count: u32,
        /// The tab's number of columns.
        column_count: u32,
    },
    /// The range names a tab the spreadsheet does not have.
    #[error(
        "spreadsheet {spreadsheet} has no tab for the range {range}; its tabs are: {}",
        tabs.join(", ")
    )]
    NoSuchTab {
        /// The spreadsheet's id.
        spreadsheet: String,
        /// The range, normalised.
        range: String,
        /// The tabs it has.
        tabs: Vec<String>,
    },
    /// A request to the Sheets API failed (the hook's error says what to check).
    #[error("reading from the Sheets API")]
    Api {
        /// The spreadsheet's id.
        spreadsheet: String,
        /// The hook's error.
        #[source]
        source: Box<dataforge_hooks::google_sheets::SheetsError>,
    },
}

impl From<GsheetSourceError> for ComponentError {
    fn from(e: GsheetSourceError) -> Self {
        // A failed request may succeed later, as the hook says; a sheet's shape comes back
        // the same on a retry: someone must edit it or the config.
        if let GsheetSourceError::Api { source, .. } = &e
            && source.is_retryable()
        {
            return ComponentError::retryable(e);
        }
        ComponentError::fatal(e)
    }
}
