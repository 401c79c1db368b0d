//! [`GsheetSource`]: reads each configured range of a spreadsheet in chunks of rows, each chunk
//! a batch, through `dataforge_hooks::google_sheets`.

use std::future::Future;
use std::sync::Arc;

use dataforge_core::observe::LineageDataset;
use dataforge_core::{BatchSender, CompactString, ComponentError, RunContext, Source, async_trait};
use dataforge_hooks::google_sheets::{
    DateTimeRender, GoogleSheetsHook, SheetInfo, SheetsError, SpreadsheetInfo, ValueOptions,
    ValueRender,
};
use dataforge_hooks::http::RetryBudget;

use super::a1::A1Range;
use super::chunks::{self, Grid};
use super::config::{DateTimeRenderOption, GsheetSettings, ValueRenderOption};
use super::error::GsheetSourceError;
use super::header;
use super::records::{RecordBuilder, SHEET_COLUMN};

/// Retries (429, 5xx, dropped connections) one run may spend in total, over all its requests.
const RUN_RETRY_BUDGET: u32 = 200;

/// Reads the cells of a Google Sheets spreadsheet as records keyed by the header row.
#[derive(Clone, Debug)]
pub struct GsheetSource {
    settings: Arc<GsheetSettings>,
}

impl GsheetSource {
    pub(crate) fn new(settings: GsheetSettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }
}

/// One load: the hook, the settings, the run.
struct Load<'a> {
    hook: GoogleSheetsHook,
    settings: &'a GsheetSettings,
    options: ValueOptions,
    ctx: &'a RunContext,
}

impl Load<'_> {
    /// `future`, unless the run is cancelled first; the hook's error as the source's.
    async fn call<T>(
        &self,
        future: impl Future<Output = Result<T, SheetsError>>,
    ) -> Result<T, ComponentError> {
        tokio::select! {
            biased;
            () = self.ctx.cancellation().cancelled() => Err(ComponentError::upstream_aborted()),
            result = future => result.map_err(|e| api_error(&self.settings.spreadsheet_id, e)),
        }
    }

    /// The tab a range reads: the one it names, else the first.
    fn sheet<'i>(
        &self,
        info: &'i SpreadsheetInfo,
        range: &A1Range,
    ) -> Result<&'i SheetInfo, GsheetSourceError> {
        let found = match &range.sheet {
            // Sheets matches tab titles without regard to case.
            Some(title) => info.sheets.iter().find(|s| s.title == *title).or_else(|| {
                info.sheets
                    .iter()
                    .find(|s| s.title.to_lowercase() == title.to_lowercase())
            }),
            None => info.sheets.iter().min_by_key(|s| s.index),
        };
        found.ok_or_else(|| GsheetSourceError::NoSuchTab {
            spreadsheet: self.settings.spreadsheet_id.clone(),
            range: range.to_string(),
            tabs: info.sheets.iter().map(|s| s.title.clone()).collect(),
        })
    }

    /// Reads one range, chunk by chunk.
    async fn read(
        &self,
        info: &SpreadsheetInfo,
        range: &A1Range,
        out: &mut BatchSender,
    ) -> Result<(), ComponentError> {
        let settings = self.settings;
        let id = &settings.spreadsheet_id;
        let sheet = self.sheet(info, range)?;
        let grid = Grid {
            row_count: u32::try_from(sheet.row_count).unwrap_or(u32::MAX),
            column_count: u32::try_from(sheet.column_count).unwrap_or(u32::MAX),
        };
        let plan = chunks::plan(
            range,
            &sheet.title,
            settings.header_row,
            grid,
            settings.chunk_rows,
        )?;
        let names: Vec<CompactString> = match plan.header() {
            Some(header_range) => {
                let values = self
                    .call(self.hook.values(id, header_range, self.options))
                    .await?;
                let cells = values.values.into_iter().next().unwrap_or_default();
                let reserved: &[&str] = if settings.sheet_column {
                    &[SHEET_COLUMN]
                } else {
                    &[]
                };
                header::column_names(&cells, header_range, reserved)?.names
            }
            None => header::generated_names(plan.width() as usize),
        };
        tracing::debug!(
            tab = %sheet.title,
            rows = plan.data_rows(),
            columns = plan.width(),
            "gsheet source: reading a tab"
        );
        let mut builder = RecordBuilder::new(
            names,
            settings.sheet_column.then_some(sheet.title.as_str()),
            settings.skip_empty_rows,
            settings.serial_dates(),
        );
        for chunk in plan.chunks() {
            let rows = self
                .call(self.hook.values(id, &chunk.range, self.options))
                .await?
                .values;
            if let Some(dates) = builder.dates_mut()
                && dates.needs_probe(&rows)
            {
                // The same cells as text: date cells turn into strings, numbers do not.
                let probe = ValueOptions {
                    date_time_render: DateTimeRender::FormattedString,
                    ..self.options
                };
                let formatted = self.call(self.hook.values(id, &chunk.range, probe)).await?;
                dates.learn(&rows, &formatted.values);
            }
            let batch = builder.records(rows, chunk.first_row);
            tracing::debug!(range = %chunk.range, records = batch.len(), "gsheet source: chunk");
            out.send(batch).await?;
        }
        let shown = range.to_string();
        builder.warn_overflow(&shown);
        if builder.skipped() > 0 {
            tracing::debug!(range = %shown, rows = builder.skipped(), "gsheet source: empty rows skipped");
        }
        if let Some(dates) = builder.dates_mut() {
            let mixed = dates.mixed();
            if !mixed.is_empty() {
                tracing::warn!(
                    range = %shown,
                    columns = ?mixed,
                    "gsheet source: columns holding both dates and plain numbers were left as numbers"
                );
            }
        }
        Ok(())
    }
}

/// The hook's error as the source's, naming the spreadsheet (retryable as the hook says).
fn api_error(spreadsheet: &str, error: SheetsError) -> ComponentError {
    GsheetSourceError::Api {
        spreadsheet: spreadsheet.to_owned(),
        source: Box::new(error),
    }
    .into()
}

#[async_trait]
impl Source for GsheetSource {
    /// The spreadsheet (`https://docs.google.com/spreadsheets/d/<ID>`) and its range(s).
    async fn lineage_dataset(&self, _ctx: &RunContext) -> Option<LineageDataset> {
        let settings = &*self.settings;
        let ranges: Vec<String> = settings.ranges.iter().map(ToString::to_string).collect();
        Some(LineageDataset::new(
            format!(
                "https://docs.google.com/spreadsheets/d/{}",
                settings.spreadsheet_id
            ),
            ranges.join(","),
        ))
    }

    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let settings = &*self.settings;
        let conn = ctx.connection(&settings.conn_id).await?;
        let hook = GoogleSheetsHook::new(&conn)
            .map_err(|e| api_error(&settings.spreadsheet_id, e))?
            .with_budget(RetryBudget::new(RUN_RETRY_BUDGET));
        let load = Load {
            hook,
            settings,
            options: ValueOptions {
                value_render: match settings.value_render_option {
                    ValueRenderOption::UnformattedValue => ValueRender::Unformatted,
                    ValueRenderOption::FormattedValue => ValueRender::Formatted,
                    ValueRenderOption::Formula => ValueRender::Formula,
                },
                date_time_render: match settings.date_time_render_option {
                    DateTimeRenderOption::FormattedString => DateTimeRender::FormattedString,
                    DateTimeRenderOption::SerialNumber => DateTimeRender::SerialNumber,
                },
            },
            ctx,
        };
        let info = load
            .call(load.hook.spreadsheet(&settings.spreadsheet_id))
            .await?;
        tracing::info!(
            spreadsheet = %settings.spreadsheet_id,
            title = ?info.title,
            ranges = settings.ranges.len(),
            "gsheet source: reading"
        );
        for range in &settings.ranges {
            load.read(&info, range, out).await?;
        }
        Ok(())
    }
}
