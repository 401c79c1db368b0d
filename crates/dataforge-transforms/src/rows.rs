//! The row loop shared by the transforms.

use dataforge_core::{Batch, Record, RowContext};

use crate::error::TransformError;

/// Runs `f` on every row in place. `Ok(true)` keeps the row, `Ok(false)` drops it (a filter),
/// `Err` rejects it. On `Err`, `f` must have left the row as it received it.
pub(crate) fn for_each_row(
    mut batch: Batch,
    rows: &mut RowContext<'_>,
    mut f: impl FnMut(&mut Record) -> Result<bool, TransformError>,
) -> Batch {
    batch.retain_mut(|r| match f(r) {
        Ok(keep) => keep,
        Err(e) => {
            rows.reject(std::mem::take(r), e);
            false
        }
    });
    batch
}
