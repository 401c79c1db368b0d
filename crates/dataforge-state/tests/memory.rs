//! The state-store suite against `MemoryStateStore`, the reference for the others.

mod support;

use std::sync::Arc;

use dataforge_core::MemoryStateStore;
use support::Fixture;

async fn open(_test: &str) -> Option<Fixture> {
    Some(Fixture {
        store: Arc::new(MemoryStateStore::default()),
        keep: None,
        schema: None,
    })
}

state_store_suite!(open);
