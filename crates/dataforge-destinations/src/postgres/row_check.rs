//! Rows PostgreSQL can never store, found before the load: a NUL character in a string.
//!
//! PostgreSQL's text types refuse `\0` outright, and `jsonb` refuses `\u0000`; sent in a COPY,
//! either fails the whole load with the server's `invalid byte sequence for encoding "UTF8":
//! 0x00`. The check runs as the chain's last step (see [`Destination::row_check`]), so such a
//! row follows the destination's `on_error`: the run fails naming the row, the row is skipped,
//! or it goes to the dead-letter destination. (A `json` column would hold an escaped NUL; the
//! check does not know column types and holds every NUL back, the simpler promise.)
//!
//! [`Destination::row_check`]: dataforge_core::Destination::row_check

use dataforge_core::{Batch, ComponentError, RowContext, Transform, Value};

/// Rejects rows with a NUL character in any string, top-level or nested.
#[derive(Debug, Default)]
pub(crate) struct NulCheck;

impl Transform for NulCheck {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        if !batch.iter().any(|r| r.values().iter().any(holds_nul)) {
            return Ok(batch); // the usual case: no row to take out
        }
        let mut kept = Vec::with_capacity(batch.len());
        for record in batch {
            let reason = record
                .iter()
                .find(|(_, v)| holds_nul(v))
                .map(|(name, value)| {
                    if matches!(value, Value::String(_)) {
                        format!(
                            "column `{name}`: a NUL character, which PostgreSQL text cannot hold"
                        )
                    } else {
                        format!(
                            "column `{name}`: a NUL character inside its JSON value, which \
                         PostgreSQL jsonb cannot hold"
                        )
                    }
                });
            match reason {
                None => kept.push(record),
                Some(reason) => rows.reject(record, reason),
            }
        }
        Ok(kept)
    }
}

/// Whether `value` is, or holds, a string with a NUL character (or an object key with one).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => has_nul(s.as_bytes()),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(record) => record
            .iter()
            .any(|(k, v)| has_nul(k.as_bytes()) || holds_nul(v)),
        _ => false,
    }
}

/// Whether `bytes` holds a zero byte, eight bytes at a time: the strings checked are mostly
/// short, where a `memchr` call costs more than the scan (the classic "has a zero byte" test:
/// `(x - 0x01…01) & !x & 0x80…80` is non-zero exactly when a byte of `x` is zero).
#[inline]
pub(crate) fn has_nul(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(word);
        let x = u64::from_le_bytes(b);
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return true;
        }
    }
    words.remainder().contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataforge_core::{RunContext, record};

    #[test]
    fn has_nul_finds_a_zero_byte_at_any_place_and_nothing_else() {
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(|i| (i % 255 + 1) as u8).collect();
            assert!(!has_nul(&clean), "{len}");
            let high = vec![0x80_u8; len];
            assert!(!has_nul(&high), "{len}");
            let ones = vec![0x01_u8; len];
            assert!(!has_nul(&ones), "{len}");
            for at in 0..len {
                let mut with = clean.clone();
                with[at] = 0;
                assert!(has_nul(&with), "{len} {at}");
            }
        }
    }

    #[test]
    fn rows_with_a_nul_anywhere_are_rejected_naming_the_column() {
        let nested = record! {"inner" => Value::Array(vec![Value::from("a\0b")])};
        let batch = vec![
            record! {"id" => 1, "name" => "fine"},
            record! {"id" => 2, "name" => "bad\0name"},
            record! {"id" => 3, "meta" => Value::Object(nested)},
            record! {"id" => 4, "meta" => Value::Object(record! {"k\0" => 1})},
            record! {"id" => 5, "name" => Value::Null},
        ];
        let run = RunContext::builder("t").build();
        let mut rows = RowContext::new(&run);
        let kept = NulCheck.transform(batch, &mut rows).expect("transform");
        let ids: Vec<_> = kept.iter().map(|r| r.get("id").cloned()).collect();
        assert_eq!(ids, [Some(Value::Int(1)), Some(Value::Int(5))]);
        let reasons: Vec<String> = rows.take_rejected().into_iter().map(|r| r.reason).collect();
        assert_eq!(reasons.len(), 3);
        assert!(
            reasons[0].starts_with("column `name`: a NUL character"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].starts_with("column `meta`: a NUL character inside"),
            "{reasons:?}"
        );
        assert!(reasons[2].starts_with("column `meta`"), "{reasons:?}");
    }
}
