//! JSON array: `[{...}, {...}, ...]`, streamed one element at a time.
//!
//! The file is never held in memory: serde's `deserialize_seq` hands the elements to a visitor
//! that fills a batch and sends it as soon as it is full.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use dataforge_core::{Batch, Record};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::error::FileSourceError;
use super::source::{Emitter, ReadError, ReadResult};

const READ_BUFFER: usize = 1 << 20;

/// Reads one JSON-array file, sending batches of `batch_size` records.
pub(crate) fn read(path: &Path, batch_size: usize, emitter: &Emitter) -> ReadResult {
    let file = File::open(path).map_err(|e| FileSourceError::io(path, e))?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(READ_BUFFER, file));
    let mut stopped = false;
    let seed = Elements {
        batch_size,
        emitter,
        stopped: &mut stopped,
    };
    let result = seed.deserialize(&mut de).and_then(|()| de.end());
    match result {
        Ok(()) => Ok(()),
        Err(_) if stopped => Err(ReadError::Stopped),
        Err(e) if e.is_io() => Err(FileSourceError::io(path, std::io::Error::from(e)).into()),
        Err(e) => Err(FileSourceError::Json {
            path: path.to_owned(),
            message: e.to_string(),
        }
        .into()),
    }
}

/// Visits the top-level array, sending full batches as it goes.
struct Elements<'a> {
    batch_size: usize,
    emitter: &'a Emitter,
    stopped: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut batch: Batch = Vec::with_capacity(self.batch_size);
        while let Some(record) = seq.next_element::<Record>()? {
            batch.push(record);
            if batch.len() >= self.batch_size {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(self.batch_size));
                if self.emitter.send(full).is_err() {
                    *self.stopped = true;
                    return Err(de::Error::custom("the source stopped"));
                }
            }
        }
        if self.emitter.send(batch).is_err() {
            *self.stopped = true;
            return Err(de::Error::custom("the source stopped"));
        }
        Ok(())
    }
}
