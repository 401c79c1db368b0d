//! [`CsvWriter`]: CSV records written with `csv_core`, an empty string kept apart from a
//! missing value.
//!
//! PostgreSQL's CSV format (and most readers that keep the difference) reads an empty unquoted
//! field as NULL and `""` as an empty string. The `csv` crate writes both as an empty field
//! (it quotes an empty field only when it is a record's only one), so a round trip turned every
//! empty string into NULL: this writer quotes an empty string whenever the record has more than
//! one field. A record of one field keeps `csv_core`'s rule: `""` for a missing value or an
//! empty string alike (an empty line would be no record at all to most readers).

use std::io::{self, BufWriter, Write};

use csv_core::WriteResult;

/// Writes CSV records field by field into a buffered `W`.
pub(crate) struct CsvWriter<W: Write> {
    core: csv_core::Writer,
    out: BufWriter<W>,
    /// `csv_core`'s output, copied into `out`.
    scratch: Vec<u8>,
    /// Fields written in the current record.
    fields: usize,
}

/// Room for `csv_core`'s output at a time (a longer field goes through in several steps).
const SCRATCH: usize = 8 * 1024;

impl<W: Write> CsvWriter<W> {
    /// A writer with this delimiter and a `capacity`-byte buffer.
    pub(crate) fn new(out: W, delimiter: u8, capacity: usize) -> Self {
        Self {
            core: csv_core::WriterBuilder::new().delimiter(delimiter).build(),
            out: BufWriter::with_capacity(capacity, out),
            scratch: vec![0; SCRATCH],
            fields: 0,
        }
    }

    /// Writes the next field of a record of `width` fields: `None` for a missing value.
    pub(crate) fn field(&mut self, value: Option<&[u8]>, width: usize) -> io::Result<()> {
        if self.fields > 0 {
            self.drive(csv_core::Writer::delimiter)?;
        }
        self.fields += 1;
        match value {
            None => Ok(()),
            // Between two delimiters `csv_core` has no field open: the quotes go out as they are.
            Some(b"") if width > 1 => self.out.write_all(b"\"\""),
            Some(mut input) => loop {
                let (result, read, wrote) = self.core.field(input, &mut self.scratch);
                input = &input[read..];
                self.out.write_all(&self.scratch[..wrote])?;
                if result == WriteResult::InputEmpty {
                    return Ok(());
                }
            },
        }
    }

    /// Ends the current record.
    pub(crate) fn end_record(&mut self) -> io::Result<()> {
        self.fields = 0;
        self.drive(csv_core::Writer::terminator)
    }

    /// Writes a whole record of present values (a header).
    pub(crate) fn record(&mut self, fields: &[&[u8]]) -> io::Result<()> {
        for field in fields {
            self.field(Some(field), fields.len())?;
        }
        self.end_record()
    }

    /// Flushes and gives the inner writer back.
    pub(crate) fn into_inner(mut self) -> io::Result<W> {
        self.drive(csv_core::Writer::finish)?;
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }

    /// Runs one of `csv_core`'s closing steps until it has written everything.
    fn drive(
        &mut self,
        step: fn(&mut csv_core::Writer, &mut [u8]) -> (WriteResult, usize),
    ) -> io::Result<()> {
        loop {
            let (result, wrote) = step(&mut self.core, &mut self.scratch);
            self.out.write_all(&self.scratch[..wrote])?;
            if result == WriteResult::InputEmpty {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(records: &[&[Option<&str>]]) -> String {
        let mut w = CsvWriter::new(Vec::new(), b',', 16);
        for record in records {
            for field in *record {
                w.field(field.map(str::as_bytes), record.len())
                    .expect("in memory");
            }
            w.end_record().expect("in memory");
        }
        String::from_utf8(w.into_inner().expect("in memory")).expect("utf-8")
    }

    #[test]
    fn an_empty_string_is_quoted_a_missing_value_is_empty() {
        let long = "x".repeat(20_000);
        assert_eq!(
            written(&[
                &[Some("id"), Some("name")],
                &[Some("1"), Some("")],
                &[Some("2"), None],
                &[Some(""), Some("a,\"b\"\n")],
                &[None, None],
            ]),
            "id,name\n1,\"\"\n2,\n\"\",\"a,\"\"b\"\"\n\"\n,\n"
        );
        // One field: `""` either way (an empty line is no record to most readers).
        assert_eq!(
            written(&[&[Some("")], &[None], &[Some("a")]]),
            "\"\"\n\"\"\na\n"
        );
        assert_eq!(
            written(&[&[Some(&long), Some("")]]),
            format!("{long},\"\"\n")
        );
    }
}
