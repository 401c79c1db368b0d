//! The blocking writer: encodes batches as JSONL or CSV into a temporary file (`replace`) or
//! the end of the target (`append`), then commits or rolls back, all or nothing.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use dataforge_core::value::CompactString;
use dataforge_core::{Record, Value};
use tempfile::NamedTempFile;

use super::config::{OutputFormat, Settings, WriteMode};
use super::csv_writer::CsvWriter;
use super::error::FileDestinationError;
use super::jsonl_chunk::JsonlChunk;

const WRITE_BUFFER: usize = 1 << 20;

/// Where the bytes go.
enum Out {
    /// `replace`: a temporary file beside the target, renamed over it on commit.
    Temp(NamedTempFile),
    /// `append`: the target itself, opened for appending.
    Append(File),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Temp(f) => f.write(buf),
            Out::Append(f) => f.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::Temp(f) => f.write_all(buf),
            Out::Append(f) => f.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Temp(f) => f.flush(),
            Out::Append(f) => f.flush(),
        }
    }
}

/// The CSV header, with a name → position index.
struct Header {
    names: Vec<CompactString>,
    index: HashMap<CompactString, usize>,
}

impl Header {
    fn new(names: Vec<CompactString>) -> Self {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Self { names, index }
    }
}

enum Encoder {
    Jsonl(BufWriter<Out>),
    Csv {
        out: Box<CsvWriter<Out>>,
        /// Known once the first batch arrives, or read from the file appended to.
        header: Option<Header>,
        cell: String,
    },
}

/// An open load: commit it or roll it back.
pub(crate) struct Writer {
    path: PathBuf,
    encoder: Encoder,
    /// `append`: a second handle on the target and its length before this load.
    undo: Option<(File, u64)>,
    rows: u64,
}

impl Writer {
    /// Opens the target (creating its directory) for a new load.
    pub(crate) fn open(settings: &Settings) -> Result<Self, FileDestinationError> {
        let path = settings.path.clone();
        let io_err = |source| FileDestinationError::Io {
            path: path.clone(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        let (out, undo, header) = match settings.write_mode {
            WriteMode::Replace => (
                Out::Temp(temp_file(&path, &dir).map_err(io_err)?),
                None,
                None,
            ),
            WriteMode::Append => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(&path)
                    .map_err(io_err)?;
                let len = file.metadata().map_err(io_err)?.len();
                let header = if settings.format == OutputFormat::Csv && len > 0 {
                    read_header(&path, settings.delimiter)?
                } else {
                    None
                };
                if len > 0 && !ends_with_newline(&mut file).map_err(io_err)? {
                    file.write_all(b"\n").map_err(io_err)?;
                }
                let undo = file.try_clone().map_err(io_err)?;
                (Out::Append(file), Some((undo, len)), header)
            }
        };
        let encoder = match settings.format {
            OutputFormat::Jsonl => Encoder::Jsonl(BufWriter::with_capacity(WRITE_BUFFER, out)),
            OutputFormat::Csv => Encoder::Csv {
                out: Box::new(CsvWriter::new(out, settings.delimiter, WRITE_BUFFER)),
                header: header.map(Header::new),
                cell: String::new(),
            },
        };
        Ok(Self {
            path,
            encoder,
            undo,
            rows: 0,
        })
    }

    /// Encodes one batch.
    pub(crate) fn write(&mut self, batch: &[Record]) -> Result<(), FileDestinationError> {
        match &mut self.encoder {
            Encoder::Jsonl(_) => {
                let chunk = JsonlChunk::encode(batch).map_err(|e| {
                    // Which row: the encoder stops at the first that fails, and a Record never
                    // does (see `JsonlChunk::encode`), so the first row is named.
                    json_error(&self.path, self.rows + 1, e)
                })?;
                self.write_jsonl(&chunk, batch.len() as u64)?;
            }
            Encoder::Csv { out, header, cell } => {
                let header = match header {
                    Some(h) => &*h,
                    None => {
                        let h = Header::new(union_of_columns(batch));
                        let names: Vec<&[u8]> = h.names.iter().map(|n| n.as_bytes()).collect();
                        out.record(&names).map_err(|e| io_error(&self.path, e))?;
                        header.insert(h)
                    }
                };
                let mut slots: Vec<Option<&Value>> = Vec::with_capacity(header.names.len());
                for record in batch {
                    self.rows += 1;
                    slots.clear();
                    slots.resize(header.names.len(), None);
                    for (i, (key, value)) in record.iter().enumerate() {
                        // Rows usually share the header's order: check that first.
                        let at = match header.names.get(i) {
                            Some(name) if name == key => i,
                            _ => *header.index.get(key).ok_or_else(|| {
                                FileDestinationError::UnknownColumn {
                                    path: self.path.clone(),
                                    column: key.to_string(),
                                    row: self.rows,
                                    header: header.names.join(","),
                                }
                            })?,
                        };
                        slots[at] = Some(value);
                    }
                    let width = slots.len();
                    for slot in &slots {
                        let bytes: Option<&[u8]> = match slot {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) => Some(s.as_bytes()),
                            Some(other) => {
                                cell.clear();
                                // Writing to a String cannot fail.
                                let _ = write!(cell, "{other}");
                                Some(cell.as_bytes())
                            }
                        };
                        out.field(bytes, width)
                            .map_err(|e| io_error(&self.path, e))?;
                    }
                    out.end_record().map_err(|e| io_error(&self.path, e))?;
                }
            }
        }
        Ok(())
    }

    /// Writes `rows` rows already encoded as JSONL lines.
    pub(crate) fn write_jsonl(
        &mut self,
        chunk: &JsonlChunk,
        rows: u64,
    ) -> Result<(), FileDestinationError> {
        let Encoder::Jsonl(out) = &mut self.encoder else {
            return Err(FileDestinationError::Encode {
                path: self.path.clone(),
                row: self.rows + 1,
                message: "JSONL lines sent to a CSV file".into(),
            });
        };
        out.write_all(&chunk.0)
            .map_err(|e| io_error(&self.path, e))?;
        self.rows += rows;
        Ok(())
    }

    /// Flushes, syncs and makes the rows visible: renames the temporary file over the target
    /// (`replace`). Returns the rows written.
    pub(crate) fn commit(self) -> Result<u64, FileDestinationError> {
        let path = self.path;
        let io_err = |source| FileDestinationError::Io {
            path: path.clone(),
            source,
        };
        let out = match self.encoder {
            Encoder::Jsonl(w) => w.into_inner().map_err(|e| io_err(e.into_error()))?,
            Encoder::Csv { out, .. } => out.into_inner().map_err(io_err)?,
        };
        match out {
            Out::Temp(temp) => {
                temp.as_file().sync_all().map_err(io_err)?;
                temp.persist(&path).map_err(|e| io_err(e.error))?;
                sync_dir(&path);
            }
            Out::Append(file) => file.sync_all().map_err(io_err)?,
        }
        tracing::debug!(path = %path.display(), rows = self.rows, "file committed");
        Ok(self.rows)
    }

    /// Discards this load: the temporary file is removed, or the appended file is cut back to
    /// its old length.
    pub(crate) fn rollback(self) {
        // Dropping the encoder flushes what it buffered (into the doomed part of the file) and,
        // for `replace`, deletes the temporary file.
        drop(self.encoder);
        if let Some((file, len)) = self.undo
            && let Err(e) = file.set_len(len).and_then(|()| file.sync_all())
        {
            tracing::error!(path = %self.path.display(), error = %e, len,
                "could not cut the file back to its length before the failed load");
        }
        tracing::debug!(path = %self.path.display(), "file load rolled back");
    }
}

/// The random part of a temporary file's name (`.NAME.XXXXXX.tmp`).
const TEMP_RANDOM_LEN: usize = 6;

/// The prefix and suffix of the temporary files of `path`: `.NAME.` and `.tmp`.
fn temp_affixes(path: &Path) -> (String, &'static str) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (format!(".{name}."), ".tmp")
}

/// Removes the temporary files a killed `replace` load of `path` left beside it. Called with
/// the target's lock held, so no other load is writing one.
pub(crate) fn sweep_stale_temp_files(path: &Path) {
    let (prefix, suffix) = temp_affixes(path);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return; // no directory yet: nothing left over
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let random = name
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_suffix(suffix));
        if !random.is_some_and(|r| {
            r.len() == TEMP_RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric())
        }) {
            continue;
        }
        let stale = entry.path();
        match fs::remove_file(&stale) {
            Ok(()) => tracing::warn!(file = %stale.display(),
                "removed the temporary file of an interrupted load"),
            Err(e) => tracing::warn!(file = %stale.display(), error = %e,
                "could not remove the temporary file of an interrupted load"),
        }
    }
}

/// A temporary file beside `path`, named after it, with the target's permissions (or 0644).
fn temp_file(path: &Path, dir: &Path) -> io::Result<NamedTempFile> {
    let (prefix, suffix) = temp_affixes(path);
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(suffix)
        .rand_bytes(TEMP_RANDOM_LEN);
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| fs::Permissions::from_mode(0o644))
    };
    #[cfg(unix)]
    builder.permissions(permissions);
    builder.tempfile_in(dir)
}

/// Makes a rename durable (best effort; directories cannot be synced everywhere).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::debug!(dir = %dir.display(), error = %e, "could not sync the directory");
        }
    }
}

fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// The header of an existing CSV file, if it has a first row.
fn read_header(
    path: &Path,
    delimiter: u8,
) -> Result<Option<Vec<CompactString>>, FileDestinationError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| FileDestinationError::ExistingHeader {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let mut row = ::csv::StringRecord::new();
    match reader.read_record(&mut row) {
        Ok(true) => Ok(Some(row.iter().map(CompactString::from).collect())),
        Ok(false) => Ok(None),
        Err(e) => Err(FileDestinationError::ExistingHeader {
            path: path.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// The columns of `batch` in order of first appearance.
fn union_of_columns(batch: &[Record]) -> Vec<CompactString> {
    let mut names: Vec<CompactString> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for record in batch {
        for key in record.keys() {
            if seen.insert(key.as_str()) {
                names.push(key.clone());
            }
        }
    }
    names
}

fn io_error(path: &Path, source: io::Error) -> FileDestinationError {
    FileDestinationError::Io {
        path: path.to_owned(),
        source,
    }
}

fn json_error(path: &Path, row: u64, e: serde_json::Error) -> FileDestinationError {
    if e.is_io() {
        io_error(path, io::Error::from(e))
    } else {
        FileDestinationError::Encode {
            path: path.to_owned(),
            row,
            message: e.to_string(),
        }
    }
}
