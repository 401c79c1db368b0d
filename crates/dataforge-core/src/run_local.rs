//! [`RunLocal`]: state a component keeps for one run, owned by the run.
//!
//! A [`Pipeline`](crate::Pipeline) may run several times at once (and a run retries with a
//! fresh attempt), so a transform that keeps state across batches (`deduplicate`, `validate`'s
//! `unique`) must not keep it in itself. It holds a `RunLocal<T>` instead, a key, like a
//! `thread_local!` whose values belong to runs: [`RunLocal::with`] reaches the value of the
//! run (the attempt) the [`RunContext`] is for, made with `T::default()` on first use. The
//! values live in the [`RunContext`] (the runner makes one per attempt) and are dropped with
//! it: when the attempt ends, whether it succeeded, failed, was cancelled or dropped. There is
//! no limit on the runs at once.

use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::context::RunContext;

/// A key to a value of `T` per run (per attempt): see the [module](self).
pub struct RunLocal<T> {
    id: u64,
    _value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RunLocal<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLocal").field("id", &self.id).finish()
    }
}

impl<T: Default + Send + 'static> Default for RunLocal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Default + Send + 'static> RunLocal<T> {
    /// A new key: every run's value for it starts as `T::default()`.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            _value: PhantomData,
        }
    }

    /// Calls `f` with the value of `ctx`'s run. Calls for one run are serialised; calls for
    /// other runs, and for other keys of the same run, do not wait for this one.
    pub fn with<R>(&self, ctx: &RunContext, f: impl FnOnce(&mut T) -> R) -> R {
        let slot = ctx.locals().slot::<T>(self.id);
        let mut value = slot.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut value)
    }
}

/// The values of one run's [`RunLocal`]s, by key.
#[derive(Default)]
pub(crate) struct RunLocals {
    slots: Mutex<HashMap<u64, Arc<dyn Any + Send + Sync>>>,
}

impl RunLocals {
    /// The slot of key `id`, made with `T::default()` on first use.
    fn slot<T: Default + Send + 'static>(&self, id: u64) -> Arc<Mutex<T>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = slots
            .entry(id)
            .or_insert_with(|| Arc::new(Mutex::new(T::default())))
            .clone();
        drop(slots);
        // A key's id is unique (a process-wide counter) and only its `RunLocal<T>` stores
        // under it, always a `Mutex<T>`: the downcast cannot fail.
        slot.downcast::<Mutex<T>>()
            .expect("a RunLocal key holds one type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_and_each_attempt_has_its_own_value_dropped_with_the_run() {
        let key: RunLocal<u32> = RunLocal::new();
        let other: RunLocal<u32> = RunLocal::new();
        let a1 = RunContext::builder("p").run_id("a").build();
        let a2 = RunContext::builder("p").run_id("a").attempt(2).build();
        let clone = a1.clone();
        key.with(&a1, |n| *n += 1);
        key.with(&clone, |n| *n += 1);
        assert_eq!(
            key.with(&a1, |n| *n),
            2,
            "clones of a context share the run's value"
        );
        assert_eq!(key.with(&a2, |n| *n), 0, "a new attempt starts afresh");
        assert_eq!(other.with(&a1, |n| *n), 0, "keys are apart");
        // A value's life is its run's.
        let tracked: RunLocal<Option<Arc<()>>> = RunLocal::new();
        let token = Arc::new(());
        let ctx = RunContext::builder("p").build();
        tracked.with(&ctx, |v| *v = Some(token.clone()));
        assert_eq!(Arc::strong_count(&token), 2);
        drop(ctx);
        assert_eq!(Arc::strong_count(&token), 1, "dropped with the run");
    }

    #[test]
    fn a_value_may_reach_another_keys_value_of_the_same_run() {
        let outer: RunLocal<u32> = RunLocal::new();
        let inner: RunLocal<u32> = RunLocal::new();
        let ctx = RunContext::builder("p").build();
        outer.with(&ctx, |o| {
            *o = inner.with(&ctx, |i| {
                *i = 7;
                *i
            })
        });
        assert_eq!(outer.with(&ctx, |o| *o), 7);
    }
}
