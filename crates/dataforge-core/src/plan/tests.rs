#![allow(clippy::unwrap_used)] // tests
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;
use crate::component::{RowContext, Source, Transform};
use crate::state::{MemoryStateStore, StateStore};
use crate::stream::BatchSender;
use crate::test_utils::CollectingDestination;
use crate::{ComponentError, Record, async_trait, record};

/// Sends batches forever from its cursor, staging a new one; says when it stopped.
#[derive(Default)]
struct Endless {
    started_from: AtomicU64,
    stopped: AtomicBool,
}

#[async_trait]
impl Source for Endless {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let from = ctx
            .state()
            .get("cursor")
            .and_then(|c| c.as_u64())
            .unwrap_or(0);
        self.started_from.store(from, Ordering::SeqCst);
        let mut i = from;
        let result = loop {
            let batch: Vec<Record> = (i..i + 7).map(|id| record! {"id" => id as i64}).collect();
            i += 7;
            ctx.state().set("cursor", serde_json::json!(i));
            if let Err(e) = out.send(batch).await {
                break Err(e);
            }
        };
        self.stopped.store(true, Ordering::SeqCst);
        result
    }
}

/// Rejects rows with an odd id.
struct RejectOdd;

impl Transform for RejectOdd {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut out = Vec::new();
        for r in batch {
            if i64::try_from(&r["id"]).is_ok_and(|id| id % 2 == 1) {
                rows.reject(r, "odd");
            } else {
                out.push(r);
            }
        }
        Ok(out)
    }
}

#[tokio::test]
async fn an_endless_source_is_sampled_then_stopped_and_its_state_is_not_saved() {
    let source = Arc::new(Endless::default());
    let destination = CollectingDestination::new();
    let pipeline = Pipeline::builder("sampled")
        .source(source.clone() as Arc<dyn Source>)
        .transform_with(RejectOdd, OnError::Skip)
        .destination(destination.clone())
        .build()
        .unwrap();
    let store = Arc::new(MemoryStateStore::default());
    let saved: State = [("cursor".to_owned(), serde_json::json!(100))].into();
    store.save("sampled", &saved).await.unwrap();
    let options = RunOptions {
        state_store: store.clone(),
        ..RunOptions::in_memory()
    };
    let plan = pipeline.plan(&options, 25).await.unwrap();
    assert_eq!(plan.rows_sampled, 25);
    assert!(!plan.source_complete);
    assert!(
        source.stopped.load(Ordering::SeqCst),
        "the source was stopped"
    );
    assert_eq!(source.started_from.load(Ordering::SeqCst), 100);
    // Ids 100..125: 12 odd ones rejected (whatever the policy), one group.
    assert_eq!(plan.rows_out, 13);
    assert_eq!(plan.rejected.len(), 1);
    assert_eq!(plan.rejected[0].rows, 12);
    assert_eq!(plan.rejected[0].reason, "odd");
    assert_eq!(plan.rejected[0].on_error, OnError::Skip);
    assert_eq!(plan.rejected[0].example, serde_json::json!({"id": 101}));
    // This destination cannot plan; nothing was loaded and the cursor did not move.
    assert!(plan.target.is_none() && !plan.changes());
    assert_eq!(destination.loads(), 0);
    assert_eq!(store.load("sampled").await.unwrap(), saved);
}
