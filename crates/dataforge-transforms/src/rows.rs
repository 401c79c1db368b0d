//! The row loop shared by the transforms.

use dataforge_core::{Batch, Record, RowContext, Value};

use crate::error::TransformError;

/// How many rows ahead the loop starts reading.
const AHEAD: usize = 8;

/// What of a row `f` reads, and so what the loop fetches ahead.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The row's own columns only (renaming, casting, adding a column).
    Columns,
    /// Its nested objects and arrays too (flattening them, or dropping whole rows).
    Nested,
}

/// Runs `f` on every row in place. `Ok(true)` keeps the row, `Ok(false)` drops it (a filter),
/// `Err` rejects it. On `Err`, `f` must have left the row as it received it.
///
/// A row's fields, and its nested objects, are separate allocations that are usually out of the
/// cache when a batch arrives (it was built on another thread, and is larger than a core's L2).
/// Reading them one row at a time waits for each miss in turn, so the loop first touches the
/// rows a little ahead, a group at a time: their misses overlap, and `f` finds them cached.
/// With [`Reach::Nested`] it also fetches the first line of each nested object and array.
pub(crate) fn for_each_row(
    mut batch: Batch,
    rows: &mut RowContext<'_>,
    reach: Reach,
    mut f: impl FnMut(&mut Record) -> Result<bool, TransformError>,
) -> Batch {
    let n = batch.len();
    // Rows that leave the batch, one bit each.
    let mut gone: Vec<u64> = Vec::new();
    let mut touched = warm(batch.get(..AHEAD.min(n)).unwrap_or_default());
    for i in 0..n {
        if i % AHEAD == 0 {
            let next = batch
                .get(i + AHEAD..(i + 2 * AHEAD).min(n))
                .unwrap_or_default();
            touched ^= warm(next);
            if reach == Reach::Nested {
                let now = batch.get(i..(i + AHEAD).min(n)).unwrap_or_default();
                touched ^= warm_nested(now);
            }
        }
        let Some(r) = batch.get_mut(i) else { break };
        let leaves = match f(r) {
            Ok(keep) => !keep,
            Err(e) => {
                rows.reject(std::mem::take(r), e);
                true
            }
        };
        if leaves {
            // Free it now, while it is in the cache.
            drop(std::mem::take(r));
            if gone.is_empty() {
                gone.resize(n.div_ceil(64), 0);
            }
            if let Some(word) = gone.get_mut(i / 64) {
                *word |= 1 << (i % 64);
            }
        }
    }
    std::hint::black_box(touched);
    if !gone.is_empty() {
        let mut i = 0;
        batch.retain(|_| {
            let stays = gone.get(i / 64).is_none_or(|w| w & (1 << (i % 64)) == 0);
            i += 1;
            stays
        });
    }
    batch
}

/// Reads each row's first value: the first line of its values. (The names are shared by the
/// rows of a shape, and already cached.)
fn warm(rows: &[Record]) -> usize {
    rows.iter()
        .fold(0, |acc, r| acc ^ r.values().first().map_or(0, tag))
}

/// Reads the first line of the values of each nested object and array of the rows.
fn warm_nested(rows: &[Record]) -> usize {
    rows.iter().fold(0, |acc, r| {
        r.values().iter().fold(acc, |acc, v| match v {
            Value::Object(o) => acc ^ o.values().first().map_or(0, tag),
            Value::Array(a) => acc ^ a.first().map_or(0, tag),
            _ => acc,
        })
    })
}

/// A value's kind, read to bring the value into the cache.
fn tag(v: &Value) -> usize {
    usize::from(v.is_null())
}

#[cfg(test)]
mod tests {
    use dataforge_core::{RunContext, record};

    use super::*;

    #[test]
    fn keeps_drops_and_rejects_in_order_across_words() {
        let ctx = RunContext::builder("t").build();
        let mut rows = RowContext::new(&ctx);
        let batch: Batch = (0..150i64).map(|i| record! {"i" => i}).collect();
        let out = for_each_row(batch, &mut rows, Reach::Nested, |r| {
            let i = r.get("i").and_then(Value::as_i64).unwrap_or(-1);
            match i % 3 {
                0 => Ok(true),
                1 => Ok(false),
                _ => Err(TransformError::MissingColumn { column: "x".into() }),
            }
        });
        let kept: Vec<i64> = out
            .iter()
            .filter_map(|r| r.get("i").and_then(Value::as_i64))
            .collect();
        assert_eq!(kept, (0..150).step_by(3).collect::<Vec<_>>());
        let rejected: Vec<i64> = rows
            .take_rejected()
            .iter()
            .filter_map(|r| r.record.get("i").and_then(Value::as_i64))
            .collect();
        assert_eq!(rejected, (2..150).step_by(3).collect::<Vec<_>>());
        let all = for_each_row(
            vec![record! {}, record! {"a" => 1}],
            &mut rows,
            Reach::Columns,
            |_| Ok(true),
        );
        assert_eq!(all.len(), 2, "empty rows are rows");
    }
}
