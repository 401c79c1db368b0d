//! A destination that commits the state with its rows: its copy wins over the store's, and
//! only the main load (not the dead letters) is handed the state to commit.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::component::{Destination, RowContext, Source, Transform};
use crate::config::OnError;
use crate::record;
use crate::state::{MemoryStateStore, State, StateStore};
use crate::stream::{Batch, BatchReceiver, BatchSender};

/// Rows and state "committed" together, in memory.
#[derive(Clone, Default)]
struct Transactional {
    committed: Arc<Mutex<(usize, Option<State>)>>,
    /// What `state_to_commit` gave each load.
    offered: Arc<Mutex<Vec<Option<State>>>>,
}

#[async_trait]
impl Destination for Transactional {
    fn commits_state(&self) -> bool {
        true
    }
    async fn saved_state(
        &self,
        pipeline_id: &str,
        ctx: &RunContext,
    ) -> Result<Option<State>, ComponentError> {
        assert_eq!(pipeline_id, ctx.pipeline_id());
        Ok(crate::state::lock_for_tests(&self.committed).1.clone())
    }
    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let mut rows = 0;
        while let Some(batch) = input.recv().await? {
            rows += batch.len();
        }
        let state = ctx.state_to_commit();
        crate::state::lock_for_tests(&self.offered).push(state.clone());
        let mut committed = crate::state::lock_for_tests(&self.committed);
        committed.0 += rows;
        if state.is_some() {
            committed.1 = state;
        }
        Ok(LoadSummary::new("tx", rows as u64))
    }
}

/// Sends ids after the cursor up to `upto`, stages `upto`.
struct Upto(i64);

#[async_trait]
impl Source for Upto {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let since = ctx
            .state()
            .get("cursor")
            .and_then(|c| c.as_i64())
            .unwrap_or(0);
        out.send(
            (since + 1..=self.0)
                .map(|id| record! {"id" => id})
                .collect(),
        )
        .await?;
        ctx.state().set("cursor", json!(self.0));
        Ok(())
    }
}

/// Rejects every row to the dead letters.
struct RejectAll;

impl Transform for RejectAll {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        for r in batch {
            rows.reject(r, "rejected");
        }
        Ok(Vec::new())
    }
}

fn cursor(n: i64) -> State {
    let mut s = State::new();
    s.insert("cursor".into(), json!(n));
    s
}

#[tokio::test]
async fn the_destinations_copy_wins_and_the_store_still_gets_one() {
    let dest = Transactional::default();
    crate::state::lock_for_tests(&dest.committed).1 = Some(cursor(7));
    let store = Arc::new(MemoryStateStore::default());
    store.save("p", &cursor(2)).await.expect("save");
    let p = Pipeline::builder("p")
        .source(Upto(10))
        .destination(dest.clone())
        .build()
        .expect("valid");
    let opts = RunOptions {
        state_store: store.clone(),
        ..RunOptions::in_memory()
    };
    let report = p.run(&opts).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(
        report.rows_loaded, 3,
        "from the destination's cursor 7, not the store's 2"
    );
    assert_eq!(
        crate::state::lock_for_tests(&dest.committed).1,
        Some(cursor(10))
    );
    assert_eq!(store.load("p").await.expect("load"), cursor(10));
}

#[tokio::test]
async fn the_dead_letters_are_not_handed_the_state() {
    let dest = Transactional::default();
    let dead = Transactional::default();
    let p = Pipeline::builder("p")
        .source(Upto(4))
        .transform_with(RejectAll, OnError::DeadLetter)
        .destination(dest.clone())
        .dead_letter(dead.clone())
        .build()
        .expect("valid");
    let report = p.run(&RunOptions::in_memory()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_dead_lettered, 4);
    assert_eq!(
        *crate::state::lock_for_tests(&dest.offered),
        vec![Some(cursor(4))]
    );
    assert_eq!(*crate::state::lock_for_tests(&dead.offered), vec![None]);
}
