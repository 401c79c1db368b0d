//! The chunk planner: which A1 ranges a load reads from one tab, header first.
//!
//! From the configured range, `header_row`, the tab's grid size (spreadsheets.get
//! `gridProperties`) and `chunk_rows`, the plan gives the header row's range (if any) and the
//! data ranges, each at most `chunk_rows` rows, that cover the rows after the header exactly
//! once and end at the tab's last row: the driver reads them in order and stops, with no
//! guessed read past the end (Sheets answers a range beyond the grid with 400 "exceeds grid
//! limits"). Columns past the tab's last column are dropped for the same reason.
//!
//! `header_row` counts from the range's first row (1 = the first row of `A5:H` is row 5):
//! rows of the range above it (a title, notes) are not read.

use super::a1::{A1Range, Area, Rows};
use super::error::GsheetSourceError;

/// A tab's size, from spreadsheets.get `sheets[].properties.gridProperties`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Its number of rows.
    pub(crate) row_count: u32,
    /// Its number of columns.
    pub(crate) column_count: u32,
}

/// The ranges one tab is read by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChunkPlan {
    /// The tab's title.
    sheet: String,
    /// First and last column read (within the grid); `None` = every column.
    columns: Option<(u32, u32)>,
    /// The header row's range.
    header: Option<String>,
    /// The first data row (sheet row number).
    first_row: u32,
    /// The last data row; below `first_row` when there is none.
    last_row: u32,
    /// Rows per chunk, at least 1.
    chunk_rows: u32,
    /// Number of columns read.
    width: u32,
}

/// One data range to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DataChunk {
    /// The range in A1 notation, sheet quoted: `'Orders'!A2:H10001`.
    pub(crate) range: String,
    /// Its first row (sheet row number): the row of `values[0]`.
    pub(crate) first_row: u32,
    /// Its last row.
    pub(crate) last_row: u32,
}

/// Plans the reads of `range` on the tab `title` (the range's own sheet, or the first tab's
/// title when it names none) of size `grid`.
///
/// # Errors
/// `GsheetSourceError::HeaderOutsideGrid` when `header_row` is set and that row is past the
/// tab's last row or the range's, or the range's columns start past the tab's last column.
pub(crate) fn plan(
    range: &A1Range,
    title: &str,
    header_row: Option<u32>,
    grid: Grid,
    chunk_rows: u32,
) -> Result<ChunkPlan, GsheetSourceError> {
    let area = range.area.unwrap_or(Area {
        columns: None,
        rows: Rows::All,
    });
    // Columns within the grid; `None` inside = the range starts past the last column.
    let columns = area
        .columns
        .map(|(a, b)| (a <= grid.column_count).then_some((a, b.min(grid.column_count))));
    let width = match columns {
        None => grid.column_count,
        Some(None) => 0,
        Some(Some((a, b))) => b - a + 1,
    };
    let first = area.rows.first();
    let last = area
        .rows
        .last()
        .map_or(grid.row_count, |l| l.min(grid.row_count));
    let sheet_range = |rows: Rows| {
        A1Range {
            sheet: Some(title.to_owned()),
            area: Some(Area {
                columns: columns.flatten(),
                rows,
            }),
        }
        .to_string()
    };
    let (header, first_row) = match header_row {
        None => (None, first),
        Some(h) => {
            let row = u64::from(first) + u64::from(h) - 1;
            let outside = row > u64::from(last) || matches!(columns, Some(None)) || width == 0;
            if outside || h == 0 {
                return Err(GsheetSourceError::HeaderOutsideGrid {
                    range: A1Range {
                        sheet: Some(title.to_owned()),
                        area: range.area,
                    }
                    .to_string(),
                    header_row: h,
                    row_count: grid.row_count,
                    column_count: grid.column_count,
                });
            }
            // `row` ≤ `last`, a u32, so it fits.
            let row = u32::try_from(row).unwrap_or(last);
            (
                Some(sheet_range(Rows::Span(row, row))),
                row.saturating_add(1),
            )
        }
    };
    let last_row = if width == 0 { 0 } else { last };
    Ok(ChunkPlan {
        sheet: title.to_owned(),
        columns: columns.flatten(),
        header,
        first_row,
        last_row,
        chunk_rows: chunk_rows.max(1),
        width,
    })
}

impl ChunkPlan {
    /// The header row's range (`'Orders'!A1:H1`), when `header_row` is set.
    pub(crate) fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// The number of columns read: the range's, cut at the tab's last column (all the tab's
    /// when the range names no columns). The width of headerless records.
    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    /// The number of data rows the chunks cover.
    pub(crate) fn data_rows(&self) -> u32 {
        (self.last_row + 1).saturating_sub(self.first_row)
    }

    /// The data ranges, in order.
    pub(crate) fn chunks(&self) -> Chunks<'_> {
        Chunks {
            plan: self,
            next: self.first_row,
        }
    }
}

/// The data ranges of a `ChunkPlan`, in order (lazily: a large tab has many).
#[derive(Clone, Debug)]
pub(crate) struct Chunks<'a> {
    plan: &'a ChunkPlan,
    next: u32,
}

impl Iterator for Chunks<'_> {
    type Item = DataChunk;

    fn next(&mut self) -> Option<DataChunk> {
        let plan = self.plan;
        if self.next > plan.last_row || self.next == 0 {
            return None;
        }
        let first = self.next;
        let last = first.saturating_add(plan.chunk_rows - 1).min(plan.last_row);
        // Past the last row ends the iteration; `0` marks it when `last` is u32::MAX.
        self.next = last.checked_add(1).unwrap_or(0);
        let range = A1Range {
            sheet: Some(plan.sheet.clone()),
            area: Some(Area {
                columns: plan.columns,
                rows: Rows::Span(first, last),
            }),
        }
        .to_string();
        Some(DataChunk {
            range,
            first_row: first,
            last_row: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gsheet::a1::parse;
    use proptest::prelude::*;

    fn ranges(plan: &ChunkPlan) -> Vec<String> {
        plan.chunks().map(|c| c.range).collect()
    }

    fn grid(row_count: u32, column_count: u32) -> Grid {
        Grid {
            row_count,
            column_count,
        }
    }

    #[test]
    fn plans_header_then_chunks_up_to_the_last_row() {
        let range = parse("Orders!A1:H").expect("valid");
        let plan = super::plan(&range, "Orders", Some(1), grid(25_000, 26), 10_000).expect("plan");
        assert_eq!(plan.header(), Some("'Orders'!A1:H1"));
        assert_eq!(
            ranges(&plan),
            [
                "'Orders'!A2:H10001",
                "'Orders'!A10002:H20001",
                "'Orders'!A20002:H25000"
            ]
        );
        assert_eq!(plan.width(), 8);
        assert_eq!(plan.data_rows(), 24_999);
        let first = plan.chunks().next().expect("one");
        assert_eq!((first.first_row, first.last_row), (2, 10_001));
    }

    #[test]
    fn whole_tabs_read_whole_rows_and_quote_the_title() {
        let range = parse("It's").expect("valid");
        let plan = super::plan(&range, "It's", Some(1), grid(3, 5), 10).expect("plan");
        assert_eq!(plan.header(), Some("'It''s'!1:1"));
        assert_eq!(ranges(&plan), ["'It''s'!2:3"]);
        assert_eq!(plan.width(), 5);
        // A range without a sheet reads the tab the driver names (the first).
        let range = parse("B2:C").expect("valid");
        let plan = super::plan(&range, "First", None, grid(4, 26), 2).expect("plan");
        assert_eq!(plan.header(), None);
        assert_eq!(ranges(&plan), ["'First'!B2:C3", "'First'!B4:C4"]);
    }

    #[test]
    fn header_row_counts_from_the_range_and_skips_what_is_above() {
        let range = parse("Data!B5:D100").expect("valid");
        let plan = super::plan(&range, "Data", Some(3), grid(50, 26), 1_000).expect("plan");
        assert_eq!(plan.header(), Some("'Data'!B7:D7"));
        assert_eq!(ranges(&plan), ["'Data'!B8:D50"]);
    }

    #[test]
    fn stays_inside_the_grid() {
        // Columns past the last one are not asked for.
        let range = parse("T!A1:AZ").expect("valid");
        let plan = super::plan(&range, "T", Some(1), grid(2, 3), 10).expect("plan");
        assert_eq!(plan.header(), Some("'T'!A1:C1"));
        assert_eq!(ranges(&plan), ["'T'!A2:C2"]);
        // A header alone: no data chunk.
        let plan = super::plan(&range, "T", Some(1), grid(1, 3), 10).expect("plan");
        assert_eq!(ranges(&plan), Vec::<String>::new());
        assert_eq!(plan.data_rows(), 0);
        // Headerless and past the end: nothing to read.
        let range = parse("T!A500:C").expect("valid");
        let plan = super::plan(&range, "T", None, grid(100, 3), 10).expect("plan");
        assert_eq!(ranges(&plan), Vec::<String>::new());
        let range = parse("T!E1:F").expect("valid");
        let plan = super::plan(&range, "T", None, grid(100, 3), 10).expect("plan");
        assert_eq!((plan.width(), ranges(&plan).len()), (0, 0));
    }

    #[test]
    fn a_header_outside_the_grid_is_an_error_naming_the_range() {
        let range = parse("T!A5:C").expect("valid");
        let e = plan(&range, "T", Some(1), grid(4, 3), 10).expect_err("past the end");
        let text = e.to_string();
        assert!(
            text.contains("'T'!A5:C") && text.contains("4 rows"),
            "{text}"
        );
        let range = parse("T!E1:F").expect("valid");
        assert!(plan(&range, "T", Some(1), grid(100, 3), 10).is_err());
    }

    proptest! {
        #[test]
        fn chunks_cover_the_data_rows_once(
            start in 1u32..50,
            end in proptest::option::of(1u32..400),
            header in proptest::option::of(1u32..5),
            row_count in 0u32..400,
            chunk_rows in 1u32..60,
            whole_rows in any::<bool>(),
        ) {
            let rows = match end {
                Some(e) => Rows::Span(start.min(e), start.max(e)),
                None => Rows::From(start),
            };
            let range = A1Range {
                sheet: Some("S".into()),
                area: Some(Area {
                    columns: (!whole_rows).then_some((2, 4)),
                    rows: if whole_rows { Rows::Span(start, end.unwrap_or(start).max(start)) } else { rows },
                }),
            };
            let rows = range.area.map_or(Rows::All, |a| a.rows);
            let last = rows.last().map_or(row_count, |l| l.min(row_count));
            let Ok(plan) = super::plan(&range, "S", header, grid(row_count, 26), chunk_rows) else {
                // Only a header below the last row is refused.
                let h = header.unwrap_or(0);
                prop_assert!(header.is_some() && rows.first() + h - 1 > last);
                return Ok(());
            };
            let first_data = rows.first() + header.unwrap_or(0);
            let mut expected = first_data;
            for chunk in plan.chunks() {
                prop_assert_eq!(chunk.first_row, expected);
                prop_assert!(chunk.last_row >= chunk.first_row);
                prop_assert!(chunk.last_row - chunk.first_row < chunk_rows);
                prop_assert!(chunk.last_row <= row_count);
                prop_assert_eq!(parse(&chunk.range).ok().and_then(|r| r.area).map(|a| a.rows),
                    Some(Rows::Span(chunk.first_row, chunk.last_row)));
                expected = chunk.last_row + 1;
            }
            // Every row from the first data row to the last was covered, none beyond.
            prop_assert_eq!(expected, first_data.max(last + 1));
            prop_assert_eq!(plan.data_rows(), (last + 1).saturating_sub(first_data));
        }
    }
}
