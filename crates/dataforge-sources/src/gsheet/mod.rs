//! The `gsheet` source: reads the cells of a Google Sheets spreadsheet
//! (one range, or several tabs into one stream) through the Sheets API v4.
//!
//! ```json
//! {"type": "gsheet", "conn_id": "google_sheets_default", "spreadsheet_id": "1AbC…", "range": "Targets!A1:F"}
//! ```
//! - `conn_id` (default `google_sheets_default`): `DATAFORGE_CONN_<ID>` =
//!   `google-sheets://?key=API_KEY` (sheets shared by link) or
//!   `google-sheets://?key_file=/path/service-account.json` (sheets shared with the account).
//! - `spreadsheet_id`: the id, or the address
//!   `https://docs.google.com/spreadsheets/d/<ID>/edit#gid=0` it is taken from.
//! - `range`: a tab's name (`Targets`), A1 cells (`Targets!A1:F`, `'My Sheet'!A:C`, `A2:C10`
//!   on the first tab), or a list of these read into one stream, each record starting with a
//!   `_sheet` column holding its tab's title.
//! - `header_row` (default 1, counted from the range's first row; `null`: columns `col_1`,
//!   `col_2`, …), `value_render_option` (`UNFORMATTED_VALUE` default, `FORMATTED_VALUE`,
//!   `FORMULA`), `date_time_render_option` (`FORMATTED_STRING` default, `SERIAL_NUMBER`: date
//!   cells become dates and timestamps), `skip_empty_rows` (default true), `chunk_rows` (rows
//!   per request, default 10000).
//!
//! How a load reads a tab (for the driver over `dataforge_hooks::google_sheets`):
//! 1. `spreadsheet(id)` gives each tab's title and grid size; a range without a tab reads the
//!    first visible tab.
//! 2. `chunks::plan` gives the header row's range and the data ranges, `chunk_rows` rows
//!    each, ending at the tab's last row (never a read past it).
//! 3. The header row (values.get of `plan.header()`) → `header::column_names` (reserving
//!    `_sheet` for a list); without a header, `header::generated_names` of `plan.width()`.
//! 4. Each data range (values.get with the configured render options) →
//!    `records::RecordBuilder::records`. With `SERIAL_NUMBER` (and not `FORMATTED_VALUE`), a
//!    chunk that `serial::DateColumns::needs_probe` is read once more with
//!    `FORMATTED_STRING` and learned from first (the rule and its reasons: `serial.rs`).
//! 5. At the end, one warning for rows longer than the header
//!    (`records::RecordBuilder::warn_overflow`) and one for mixed date columns.
//!
//! Files: `config.rs` (keys and validation), `a1.rs` (A1 ranges, column letters), `chunks.rs`
//! (the reads of a tab), `header.rs` (column names), `records.rs` (rows → records),
//! `serial.rs` (date columns and serial numbers), `error.rs`, and `source.rs`, the
//! [`GsheetSource`] that drives them.

pub(crate) mod a1;
pub(crate) mod chunks;
mod config;
mod error;
pub(crate) mod header;
pub(crate) mod records;
pub(crate) mod serial;
mod source;

use dataforge_core::{ConfigErrors, Source, SourceFactory};

pub use config::{DateTimeRenderOption, GsheetSourceConfig, RangeSpec, ValueRenderOption};
pub use error::{A1Error, GsheetSourceError};
pub use source::GsheetSource;

/// Registers the `gsheet` source.
pub struct GsheetSourceFactory;

impl SourceFactory for GsheetSourceFactory {
    const NAME: &'static str = "gsheet";
    const DESCRIPTION: &'static str =
        "Reads a Google Sheets range (or several tabs) as records keyed by its header row";
    type Config = GsheetSourceConfig;

    fn build(config: GsheetSourceConfig) -> Result<impl Source, ConfigErrors> {
        GsheetSource::from_config(config)
    }
}

impl GsheetSource {
    /// Validates `config` and builds the source (no I/O: the API is called by `extract`).
    ///
    /// # Errors
    /// Every problem in the config, each at its key.
    pub fn from_config(config: GsheetSourceConfig) -> Result<Self, ConfigErrors> {
        config.validate().map(GsheetSource::new)
    }
}

dataforge_core::register_source!(GsheetSourceFactory);
