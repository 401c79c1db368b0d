//! Finding a few column names among a row's columns, comparing only names of equal length.

/// A set of names, each with a tag (the caller's index), bucketed by length.
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    /// The names, ordered by length.
    names: Vec<(Box<[u8]>, usize)>,
    /// `by_length[n]`: the range of `names` that are `n` bytes long (64: longer).
    by_length: Vec<(usize, usize)>,
    /// Bit `n` set: some name is `n` bytes long (bit 63: 63 bytes or more). Most columns are
    /// ruled out by it alone.
    lengths: u64,
}

fn slot(name: &[u8]) -> usize {
    name.len().min(64)
}

impl NameSet {
    /// The set of `(name, tag)`.
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = (&'a str, usize)>) -> Self {
        let mut names: Vec<(Box<[u8]>, usize)> = names
            .into_iter()
            .map(|(n, tag)| (n.as_bytes().into(), tag))
            .collect();
        names.sort_by_key(|(n, _)| slot(n));
        let by_length = (0..=64)
            .map(|len| {
                let start = names.partition_point(|(n, _)| slot(n) < len);
                let end = names.partition_point(|(n, _)| slot(n) <= len);
                (start, end)
            })
            .collect();
        let lengths = names
            .iter()
            .fold(0, |m, (n, _)| m | 1u64 << n.len().min(63));
        Self {
            names,
            by_length,
            lengths,
        }
    }

    /// Calls `f` with the tag of each name equal to `key`.
    #[inline]
    pub(crate) fn each_match(&self, key: &str, mut f: impl FnMut(usize)) {
        let key = key.as_bytes();
        if self.lengths & (1u64 << key.len().min(63)) == 0 {
            return;
        }
        let (start, end) = self.by_length.get(slot(key)).copied().unwrap_or_default();
        for (n, tag) in self.names.get(start..end).unwrap_or_default() {
            if **n == *key {
                f(*tag);
            }
        }
    }

    /// The tag of the first name equal to `key`.
    #[inline]
    pub(crate) fn first_match(&self, key: &str) -> Option<usize> {
        let mut found = None;
        self.each_match(key, |tag| {
            found.get_or_insert(tag);
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_tag_of_a_name_and_nothing_else() {
        let long = "x".repeat(70);
        let set = NameSet::new([("a", 0), ("bb", 1), ("a", 2), ("cc", 3), (long.as_str(), 4)]);
        let all = |k: &str| {
            let mut v = Vec::new();
            set.each_match(k, |t| v.push(t));
            v
        };
        assert_eq!(all("a"), [0, 2]);
        assert_eq!(set.first_match("a"), Some(0));
        assert_eq!(all("cc"), [3]);
        assert_eq!(all(&long), [4]);
        assert!(all("b").is_empty());
        assert!(all(&"x".repeat(71)).is_empty());
        assert!(all("").is_empty());
        assert_eq!(set.first_match("zz"), None);
    }
}
