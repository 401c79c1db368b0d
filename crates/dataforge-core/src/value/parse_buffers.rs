//! Reused buffers that gather a parsed object's names and values (or an array's elements)
//! before the values move, in one copy, into a vector of exactly their length (the names go
//! to `columns::shared`).
//!
//! A vector grown while parsing holds up to twice the room it needs, and the blocks its growth
//! leaves behind scatter a row's allocations: larger, scattered rows cost more to read and
//! several times as much to free (see ARCHITECTURE.md, "Performance notes"). Each thread keeps
//! a few buffers, one per nesting level being parsed, so gathering allocates nothing.

use std::cell::RefCell;

use compact_str::CompactString;

use super::Value;

/// Buffers kept per thread and kind: nesting deeper than this allocates its buffers anew.
const KEPT: usize = 32;
/// A buffer that grew beyond this many items (a very wide object) is not kept.
const KEPT_CAPACITY: usize = 256;

thread_local! {
    static NAMES: RefCell<Vec<Vec<CompactString>>> = const { RefCell::new(Vec::new()) };
    static ELEMENTS: RefCell<Vec<Vec<Value>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer for an object's names.
pub(super) fn names() -> Vec<CompactString> {
    take(&NAMES, 16)
}

/// Takes back a names buffer (emptied by `columns::shared`) for the next object.
pub(super) fn give_back_names(mut buffer: Vec<CompactString>) {
    buffer.clear();
    keep(&NAMES, buffer);
}

/// A buffer for an array's elements.
pub(super) fn elements() -> Vec<Value> {
    take(&ELEMENTS, 8)
}

/// The gathered elements, exactly sized; the buffer goes back for the next array.
pub(super) fn exact_elements(buffer: Vec<Value>) -> Vec<Value> {
    exact(&ELEMENTS, buffer)
}

type Pool<T> = std::thread::LocalKey<RefCell<Vec<Vec<T>>>>;

// `try_with`: while the thread's locals are being torn down there is no pool, and parsing
// then goes on with fresh buffers.
fn take<T: 'static>(pool: &'static Pool<T>, capacity: usize) -> Vec<T> {
    pool.try_with(|kept| kept.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(capacity))
}

fn exact<T: 'static>(pool: &'static Pool<T>, mut buffer: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(buffer.len());
    // `append` moves the items with one copy of their bytes, leaving `buffer` empty.
    out.append(&mut buffer);
    keep(pool, buffer);
    out
}

fn keep<T: 'static>(pool: &'static Pool<T>, buffer: Vec<T>) {
    if buffer.capacity() <= KEPT_CAPACITY {
        let _ = pool.try_with(|kept| {
            let mut kept = kept.borrow_mut();
            if kept.len() < KEPT {
                kept.push(buffer);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_exactly_and_reuses_buffers() {
        let mut a = elements();
        a.extend([Value::Int(1), Value::Int(2), Value::Int(3)]);
        let first = a.as_ptr();
        let out = exact_elements(a);
        assert_eq!(out, [Value::Int(1), Value::Int(2), Value::Int(3)]);
        assert_eq!(out.capacity(), 3);
        let b = elements();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), first, "the buffer is reused");
    }

    #[test]
    fn wide_buffers_are_not_kept() {
        let mut wide = elements();
        wide.extend((0..300).map(Value::Int));
        let out = exact_elements(wide);
        assert_eq!(out.len(), 300);
        assert_eq!(out.capacity(), 300);
        assert!(ELEMENTS.with_borrow(|kept| kept.iter().all(|b| b.capacity() <= KEPT_CAPACITY)));
        let mut names = names();
        names.extend((0..300).map(|i| CompactString::from(format!("k{i}"))));
        give_back_names(names);
        assert!(NAMES.with_borrow(|kept| kept.iter().all(|b| b.capacity() <= KEPT_CAPACITY)));
    }
}
