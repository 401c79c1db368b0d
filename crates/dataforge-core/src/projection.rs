//! [`Projection`]: which top-level fields of a row the rest of a pipeline reads.
//!
//! The runner asks each transform, from the last to the first, what it reads of its input to
//! give what the rest of the chain reads of its output ([`Transform::input_projection`]); what
//! the first transform needs is the source's [`RunContext::projection`]. A source may then skip
//! the other fields without building them (the file source skips their JSON text), which is
//! *projection pushdown*. A transform that does not say reads everything, so pushdown never
//! changes a result; a step whose rejected rows go to a dead-letter destination reads
//! everything too (a dead-letter row is the whole row).
//!
//! [`Transform::input_projection`]: crate::Transform::input_projection
//! [`RunContext::projection`]: crate::RunContext::projection

use std::collections::BTreeSet;
use std::fmt;

use compact_str::CompactString;

/// The top-level fields of a row that are read downstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Projection {
    /// Every field (nothing can be skipped).
    #[default]
    All,
    /// Only these fields; the others are never read.
    Only(BTreeSet<CompactString>),
    /// Every field but these, which are never read.
    Except(BTreeSet<CompactString>),
}

impl Projection {
    /// Only the fields named.
    pub fn only<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::Only(names.into_iter().map(|n| n.as_ref().into()).collect())
    }

    /// True when every field is read.
    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }

    /// True when the field `name` is read.
    #[inline]
    pub fn keeps(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => listed(names, name),
            Self::Except(names) => !listed(names, name),
        }
    }

    /// This projection with the fields named read as well (a transform reads them).
    #[must_use]
    pub fn with<S: AsRef<str>>(self, names: impl IntoIterator<Item = S>) -> Self {
        match self {
            Self::All => Self::All,
            Self::Only(mut kept) => {
                kept.extend(names.into_iter().map(|n| n.as_ref().into()));
                Self::Only(kept)
            }
            Self::Except(mut skipped) => {
                for n in names {
                    skipped.remove(n.as_ref());
                }
                Self::Except(skipped)
            }
        }
    }

    /// This projection with the fields named not read (a transform removes or overwrites
    /// them without reading them).
    #[must_use]
    pub fn without<S: AsRef<str>>(self, names: impl IntoIterator<Item = S>) -> Self {
        match self {
            Self::All => Self::Except(names.into_iter().map(|n| n.as_ref().into()).collect()),
            Self::Only(mut kept) => {
                for n in names {
                    kept.remove(n.as_ref());
                }
                Self::Only(kept)
            }
            Self::Except(mut skipped) => {
                skipped.extend(names.into_iter().map(|n| n.as_ref().into()));
                Self::Except(skipped)
            }
        }
    }
}

/// True when `name` is in `names`. Parsing asks this for every key of every row: a short list
/// is scanned comparing lengths first (most names differ in length), which costs a fraction of
/// the tree's byte-wise comparisons.
#[inline]
fn listed(names: &BTreeSet<CompactString>, name: &str) -> bool {
    if names.len() <= 32 {
        names
            .iter()
            .any(|n| n.len() == name.len() && n.as_bytes() == name.as_bytes())
    } else {
        names.contains(name)
    }
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |names: &BTreeSet<CompactString>| {
            names
                .iter()
                .map(CompactString::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::All => f.write_str("every field"),
            Self::Only(names) => write!(f, "only [{}]", list(names)),
            Self::Except(names) => write!(f, "every field but [{}]", list(names)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_and_without_keep_the_right_fields() {
        let only = Projection::only(["a", "b"]);
        assert!(only.keeps("a") && !only.keeps("c"));
        let except = Projection::All.without(["x"]);
        assert_eq!(except, Projection::Except(["x".into()].into()));
        assert!(except.keeps("a") && !except.keeps("x"));
        assert!(except.clone().with(["x"]).keeps("x"));
        assert_eq!(only.clone().without(["a"]), Projection::only(["b"]));
        assert_eq!(only.clone().with(["c"]), Projection::only(["a", "b", "c"]));
        assert_eq!(except.to_string(), "every field but [x]");
    }
}
