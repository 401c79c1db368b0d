//! [`Columns`]: a record's column names, shared by the rows of one shape.
//!
//! The rows of a batch nearly always have the same columns in the same order. A record keeps
//! its names apart from its values, behind a reference count, so those rows share one list:
//! a row costs its values only, and a transform can tell that a row has the shape of the row
//! before by comparing two pointers ([`Columns::same`]), then work by position, with a plan
//! made once for that shape, instead of comparing names row by row.
//!
//! Parsing shares the lists through a small per-thread cache ([`shared`]). A list is handed to
//! at most [`SHARES`] rows before a fresh copy replaces it, so rows that different threads
//! free at the same time seldom count down the same counter (which would make the cores take
//! turns at its cache line).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;

/// The column names of a record, in order. Cloning shares them.
#[derive(Clone, Default)]
pub struct Columns(Option<Arc<Vec<CompactString>>>);

impl Columns {
    /// These names, unshared.
    pub fn new(names: Vec<CompactString>) -> Self {
        if names.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::new(names)))
        }
    }

    /// The names, in order.
    pub fn as_slice(&self) -> &[CompactString] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when there are no names.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// True when both are the same shared list (or both empty): then they hold the same
    /// names, and a plan made for one holds for the other. Different lists may still hold
    /// equal names.
    pub fn same(&self, other: &Columns) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The position of `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.as_slice().iter().position(|k| k == name)
    }

    /// The names to change in place: copied first when shared.
    pub(super) fn make_mut(&mut self) -> &mut Vec<CompactString> {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }

    /// The names, moved out when not shared.
    pub(super) fn into_vec(self) -> Vec<CompactString> {
        self.0.map(Arc::unwrap_or_clone).unwrap_or_default()
    }
}

impl PartialEq for Columns {
    fn eq(&self, other: &Self) -> bool {
        self.same(other) || self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for Columns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl From<Vec<CompactString>> for Columns {
    fn from(names: Vec<CompactString>) -> Self {
        Self::new(names)
    }
}

/// How many rows one cached list is handed to before a fresh copy replaces it.
const SHARES: u32 = 256;
/// How many shapes the per-thread cache holds (nested objects have shapes of their own).
const CACHED: usize = 8;

struct Cached {
    columns: Columns,
    shares: u32,
}

thread_local! {
    static CACHE: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// Columns holding `names`, shared with the rows parsed before on this thread that had the
/// same names. `names` is left empty, its room kept.
pub(super) fn shared(names: &mut Vec<CompactString>) -> Columns {
    if names.is_empty() {
        return Columns(None);
    }
    // `try_with`: while the thread's locals are being torn down there is no cache.
    let found = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        let hit = cache
            .iter()
            .position(|c| c.columns.as_slice() == names.as_slice());
        match hit {
            Some(i) => {
                let entry = &mut cache[i];
                if entry.shares >= SHARES {
                    entry.columns = Columns::new(names.clone());
                    entry.shares = 0;
                }
                entry.shares += 1;
                let columns = entry.columns.clone();
                // Most recent first: the next row most likely has this shape again.
                if i > 0 {
                    cache.swap(0, i);
                }
                columns
            }
            None => {
                let columns = Columns::new(names.clone());
                if cache.len() == CACHED {
                    cache.pop();
                }
                cache.insert(
                    0,
                    Cached {
                        columns: columns.clone(),
                        shares: 1,
                    },
                );
                columns
            }
        }
    });
    let columns = found.unwrap_or_else(|_| Columns::new(names.clone()));
    names.clear();
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<CompactString> {
        list.iter().map(|&n| n.into()).collect()
    }

    #[test]
    fn same_names_share_a_list_for_a_while() {
        let mut buf = names(&["id", "name"]);
        let first = shared(&mut buf);
        assert!(buf.is_empty());
        let mut others = Vec::new();
        for _ in 0..SHARES * 2 {
            buf.extend(names(&["id", "name"]));
            others.push(shared(&mut buf));
        }
        let sharing_first = others.iter().filter(|c| c.same(&first)).count();
        assert_eq!(
            sharing_first as u32,
            SHARES - 1,
            "the first list, then a fresh copy"
        );
        assert!(
            others.iter().all(|c| *c == first),
            "equal names compare equal"
        );
        buf.extend(names(&["id"]));
        let other = shared(&mut buf);
        assert!(!other.same(&first));
        assert_ne!(other, first);
    }

    #[test]
    fn changing_shared_names_copies_them() {
        let a = Columns::new(names(&["a", "b"]));
        let mut b = a.clone();
        assert!(a.same(&b));
        b.make_mut().push("c".into());
        assert!(!a.same(&b));
        assert_eq!(a.as_slice(), names(&["a", "b"]).as_slice());
        assert_eq!(b.len(), 3);
        assert!(Columns::default().same(&Columns::new(Vec::new())));
    }
}
