//! CSV with the `csv` crate. Every value is a string (an empty cell is an empty string):
//! types come from a `cast` transform, as CSV carries none.

use std::fs::File;
use std::path::Path;

use ::csv::{ErrorKind, ReaderBuilder, StringRecord};
use dataforge_core::value::CompactString;
use dataforge_core::{Columns, Record, Value};

use super::config::CsvOptions;
use super::error::FileSourceError;
use super::source::{Emitter, ReadResult};

const READ_BUFFER: usize = 1 << 20;

/// Reads one CSV file, sending batches of `batch_size` records.
pub(crate) fn read(
    path: &Path,
    options: CsvOptions,
    batch_size: usize,
    emitter: &Emitter,
) -> ReadResult {
    let file = File::open(path).map_err(|e| FileSourceError::io(path, e))?;
    let mut reader = ReaderBuilder::new()
        .delimiter(options.delimiter)
        .has_headers(false)
        .flexible(false)
        .buffer_capacity(READ_BUFFER)
        .from_reader(file);
    let mut row = StringRecord::new();
    let mut columns: Vec<CompactString> = Vec::new();
    if options.has_header {
        if !reader
            .read_record(&mut row)
            .map_err(|e| csv_error(path, e))?
        {
            return Ok(()); // an empty file: no columns, no rows
        }
        for (i, name) in row.iter().enumerate() {
            let name: CompactString = if name.is_empty() {
                format!("column_{}", i + 1).into()
            } else {
                name.into()
            };
            if columns.contains(&name) {
                return Err(FileSourceError::CsvDuplicateColumn {
                    path: path.to_owned(),
                    column: name.to_string(),
                }
                .into());
            }
            columns.push(name);
        }
    }
    let mut batch = Vec::with_capacity(batch_size);
    // The rows of a batch share their names (one list per batch: the rows of different
    // batches are freed on different threads, which would otherwise count down one counter).
    let mut shared = Columns::new(columns.clone());
    while reader
        .read_record(&mut row)
        .map_err(|e| csv_error(path, e))?
    {
        if columns.len() < row.len() {
            // No header: name the columns after the first row's width.
            columns.extend((columns.len()..row.len()).map(|i| format!("column_{}", i + 1).into()));
            shared = Columns::new(columns.clone());
        }
        let cells = || row.iter().map(|cell| Value::String(cell.into()));
        let record = (row.len() == shared.len())
            .then(|| Record::from_parts(shared.clone(), cells().collect()))
            .flatten()
            .unwrap_or_else(|| {
                let mut record = Record::with_capacity(row.len());
                for (name, cell) in columns.iter().zip(cells()) {
                    record.push_unchecked(name.clone(), cell);
                }
                record
            });
        batch.push(record);
        if batch.len() >= batch_size {
            emitter.send(std::mem::replace(
                &mut batch,
                Vec::with_capacity(batch_size),
            ))?;
            shared = Columns::new(columns.clone());
        }
    }
    emitter.send(batch)?;
    Ok(())
}

fn csv_error(path: &Path, e: ::csv::Error) -> FileSourceError {
    let message = e.to_string();
    match e.into_kind() {
        ErrorKind::Io(e) => FileSourceError::io(path, e),
        ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => FileSourceError::CsvRowLength {
            path: path.to_owned(),
            line: pos.map_or(0, |p| p.line()),
            expected: expected_len,
            found: len,
        },
        ErrorKind::Utf8 { pos, err } => FileSourceError::Csv {
            path: path.to_owned(),
            message: match pos {
                Some(p) => format!(
                    "line {}: invalid UTF-8 in field {}",
                    p.line(),
                    err.field() + 1
                ),
                None => format!("invalid UTF-8 in field {}", err.field() + 1),
            },
        },
        _ => FileSourceError::Csv {
            path: path.to_owned(),
            message,
        },
    }
}
