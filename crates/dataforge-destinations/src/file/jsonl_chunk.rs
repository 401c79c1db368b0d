//! JSONL encoding off the writer thread: the file destination's [`Preparer`] turns each batch
//! into its lines on the runner's workers, in parallel, and the writer thread only writes them.

use std::path::PathBuf;

use dataforge_core::{Batch, ComponentError, Prepared, Preparer, Record};

/// The most a chunk reserves from its first row's size; past it, the buffer grows as it goes.
const MAX_GUESS: usize = 8 << 20;

/// A batch encoded as JSONL: one line per row, in order.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct JsonlChunk(pub(crate) Vec<u8>);

impl JsonlChunk {
    /// Encodes `batch`.
    ///
    /// # Errors
    /// serde_json's, which a [`Record`] never gives (its keys are strings, non-finite floats
    /// are written as null, and a `Vec` takes every byte); kept so a change there cannot go
    /// unnoticed.
    pub(crate) fn encode(batch: &[Record]) -> Result<Self, serde_json::Error> {
        let mut bytes = Vec::new();
        for (i, record) in batch.iter().enumerate() {
            serde_json::to_writer(&mut bytes, record)?;
            bytes.push(b'\n');
            if i == 0 {
                // Rows of a batch are alike: the first row's size is a fair guess for the rest,
                // up to a bound (one huge first row must not reserve a thousand times itself).
                let guess = bytes.len().saturating_mul(batch.len() - 1);
                bytes.reserve(guess.min(MAX_GUESS));
            }
        }
        Ok(Self(bytes))
    }
}

/// The file destination's preparer for JSONL.
#[derive(Debug)]
pub(crate) struct JsonlPreparer {
    /// The target, for errors.
    pub(crate) path: PathBuf,
}

impl Preparer for JsonlPreparer {
    fn prepare(&self, batch: Batch) -> Result<Prepared, ComponentError> {
        let chunk = JsonlChunk::encode(&batch).map_err(|e| {
            ComponentError::fatal_msg(format!(
                "{}: cannot encode a row as JSON: {e}",
                self.path.display()
            ))
        })?;
        Ok(Prepared::new(chunk))
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::{Value, record};

    use super::*;

    #[test]
    fn one_line_per_row_in_order_as_serde_writes_them() {
        let batch = vec![
            record! {"id" => 1, "name" => "Zoë", "nested" => record! {"a" => Value::Null}},
            record! {"id" => 2, "tags" => vec![Value::from("x")], "nan" => f64::NAN},
            record! {},
        ];
        let chunk = JsonlChunk::encode(&batch).expect("encodes");
        let want: String = batch
            .iter()
            .map(|r| format!("{}\n", serde_json::to_string(r).expect("json")))
            .collect();
        assert_eq!(String::from_utf8(chunk.0).expect("utf-8"), want);
        assert_eq!(JsonlChunk::encode(&[]).ok(), Some(JsonlChunk::default()));
    }

    #[test]
    fn a_huge_first_row_does_not_reserve_for_the_whole_batch_at_its_size() {
        let big = "x".repeat(1 << 20);
        let mut batch = vec![record! {"blob" => big.as_str()}];
        batch.extend((0..999).map(|i| record! {"id" => i}));
        let chunk = JsonlChunk::encode(&batch).expect("encodes");
        assert_eq!(chunk.0.iter().filter(|&&b| b == b'\n').count(), 1000);
        // At the guess, the buffer would hold 1,000 MiB; bounded, the first row and 8 MiB.
        assert!(chunk.0.capacity() < 16 << 20, "{}", chunk.0.capacity());
    }
}
