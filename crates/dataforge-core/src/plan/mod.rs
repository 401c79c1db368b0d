//! Planning a run without moving data ([`Pipeline::plan`]): the source is read until a sample
//! of rows has arrived and then cancelled, the transform chain (with the destination's row
//! check) runs on the sample with the runner's own per-batch steps, and the destination says
//! what a load of those rows would change ([`crate::Destination::plan`]). Nothing is written:
//! no state is saved, no run is recorded, and destinations only read.

mod destination;

use std::collections::BTreeMap;

pub use destination::{DestinationPlan, PlannedColumn, Widening};

use crate::component::Rejected;
use crate::config::OnError;
use crate::context::RunContext;
use crate::error::{ComponentError, RunError, Stage};
use crate::pipeline::Pipeline;
use crate::runner::chain::{RejectedBySteps, finish_steps, transform_batch};
use crate::runner::{RunOptions, StageError};
use crate::state::{State, StateHandle};
use crate::stream::{Batch, channel};

/// Rows sampled when the caller does not say.
pub const DEFAULT_SAMPLE_ROWS: usize = 1_000;

/// Sampled rows the chain rejected for one reason in one step.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RejectedGroup {
    /// The step (`transforms[3] validate`, or the destination's row check).
    pub transform: String,
    /// The step's `on_error`: what a run would do with these rows.
    pub on_error: OnError,
    /// The reason the step gave.
    pub reason: String,
    /// How many sampled rows.
    pub rows: u64,
    /// The first of them, as the step received it.
    pub example: serde_json::Value,
}

/// What a run of one pipeline would do, from a sample of its source.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PipelinePlan {
    /// The pipeline's id.
    pub pipeline: String,
    /// The source's name.
    pub source: String,
    /// The destination's name.
    pub destination: String,
    /// Rows read from the source (at most the sample size).
    pub rows_sampled: u64,
    /// True when the source ended before the sample was full: the plan saw every row.
    pub source_complete: bool,
    /// Sampled rows that came out of the chain.
    pub rows_out: u64,
    /// Sampled rows the chain would reject, grouped by step and reason.
    pub rejected: Vec<RejectedGroup>,
    /// True when the sample alone is over the pipeline's `max_rejected`: a run would fail.
    pub over_reject_budget: bool,
    /// What the destination would change; `None` when it cannot plan.
    pub target: Option<DestinationPlan>,
}

impl PipelinePlan {
    /// True when a load would change the destination's shape (see [`DestinationPlan::changes`]).
    pub fn changes(&self) -> bool {
        self.target.as_ref().is_some_and(DestinationPlan::changes)
    }

    /// Sampled rows rejected, all steps and reasons.
    pub fn rows_rejected(&self) -> u64 {
        self.rejected.iter().map(|g| g.rows).sum()
    }
}

impl Pipeline {
    /// Plans a run: reads up to `sample` rows from the source (with the pipeline's saved
    /// state, which is read and never saved), then cancels it; runs the transform chain and
    /// the destination's row check on them, collecting every rejected row whatever its
    /// `on_error`; and asks the destination what loading them would change. Uses `options`'s
    /// connections, state store, logical date and run id; its cancellation token stops the plan.
    ///
    /// # Errors
    /// The state cannot be read, the source fails before the sample is full, a transform fails
    /// on the whole batch, or the destination cannot be read (an unreachable database).
    pub async fn plan(
        &self,
        options: &RunOptions,
        sample: usize,
    ) -> Result<PipelinePlan, RunError> {
        let sample = sample.max(1);
        let run_id = options
            .run_id
            .clone()
            .unwrap_or_else(RunOptions::new_run_id);
        let logical_date = options.logical_date.unwrap_or_else(chrono::Utc::now);
        let context = |state: State, cancel: tokio_util::sync::CancellationToken| {
            RunContext::builder(self.id.clone())
                .run_id(run_id.clone())
                .logical_date(logical_date)
                .batch_size(self.settings.batch_size.min(sample))
                .params(self.params.clone())
                .connections(options.connections.clone())
                .state(StateHandle::new(state))
                .cancellation(cancel)
                .projection(self.source_projection())
                .build()
        };
        let ctx = context(State::new(), options.cancel.child_token());
        let saved = self.starting_state(&*options.state_store, &ctx).await?;
        let source_ctx = context(saved, options.cancel.child_token());
        let (rows, source_complete) = self.sample_source(&source_ctx, sample).await?;
        let rows_sampled = rows.len() as u64;

        let mut steps = self.transforms.clone();
        steps.extend(self.destination_check.clone());
        let fail = |e: StageError| e.into_run_error(&self.id);
        let (mut out, mut rejected) = transform_batch(&steps, &ctx, rows).map_err(fail)?;
        let (released, more) = finish_steps(&steps, &ctx).map_err(fail)?;
        out.extend(released);
        rejected.extend(more);
        let rejected = group_rejected(&steps, rejected);
        let rows_rejected: u64 = rejected.iter().map(|g| g.rows).sum();
        let over_reject_budget = self
            .settings
            .max_rejected
            .is_some_and(|b| b.exceeded(rows_rejected, rows_sampled));

        let target = self
            .destination
            .component
            .plan(&out, &ctx)
            .await
            .map_err(|error| self.destination_error(error))?;
        Ok(PipelinePlan {
            pipeline: self.id.clone(),
            source: self.source.name.clone(),
            destination: self.destination.name.clone(),
            rows_sampled,
            source_complete,
            rows_out: out.len() as u64,
            rejected,
            over_reject_budget,
            target,
        })
    }

    /// `error` of the destination, as a run reports it.
    fn destination_error(&self, error: ComponentError) -> RunError {
        StageError::Component {
            stage: Stage::Load,
            component: self.destination.name.clone(),
            error,
        }
        .into_run_error(&self.id)
    }

    /// Runs the source until `limit` rows have arrived (or it ends), then cancels it through
    /// `ctx`'s token. Returns the rows (at most `limit`) and whether the source ended first.
    async fn sample_source(
        &self,
        ctx: &RunContext,
        limit: usize,
    ) -> Result<(Batch, bool), RunError> {
        let cancel = ctx.cancellation().clone();
        let (tx, mut rx) = channel(self.settings.channel_capacity, cancel.clone());
        let source = self.source.clone();
        let source_ctx = ctx.clone();
        let task = tokio::spawn(async move {
            let mut tx = tx;
            let result = source.component.extract(&source_ctx, &mut tx).await;
            if result.is_ok() {
                tx.finish().await;
            }
            result
        });
        let mut rows: Batch = Vec::with_capacity(limit.min(crate::DEFAULT_BATCH_SIZE));
        let received = loop {
            if rows.len() >= limit {
                break Ok(false);
            }
            match rx.recv().await {
                Ok(Some(batch)) => {
                    let room = limit - rows.len();
                    rows.extend(batch.into_iter().take(room));
                }
                Ok(None) => break Ok(true),
                Err(e) => break Err(e),
            }
        };
        // Enough rows (or the end): the source stops at its next send.
        cancel.cancel();
        drop(rx);
        let extracted = task.await;
        let fail = |error: ComponentError| {
            StageError::Component {
                stage: Stage::Extract,
                component: self.source.name.clone(),
                error,
            }
            .into_run_error(&self.id)
        };
        match received {
            Ok(complete) => Ok((rows, complete)),
            // The channel only says the source stopped: its own error says why.
            Err(echo) => Err(fail(match extracted {
                Ok(Err(error)) => error,
                Ok(Ok(())) => echo,
                Err(e) => ComponentError::fatal_msg(format!("panicked: {e}")),
            })),
        }
    }
}

/// Groups rejected rows by step and reason, in the order first seen.
fn group_rejected(
    steps: &[crate::pipeline::TransformStep],
    rejected: RejectedBySteps,
) -> Vec<RejectedGroup> {
    let mut groups: Vec<RejectedGroup> = Vec::new();
    let mut index: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for (i, rows) in rejected {
        for Rejected { record, reason } in rows {
            let key = (i, reason);
            match index.get(&key) {
                Some(&g) => groups[g].rows += 1,
                None => {
                    groups.push(RejectedGroup {
                        transform: steps[i].name.clone(),
                        on_error: steps[i].on_error,
                        reason: key.1.clone(),
                        rows: 1,
                        example: record.to_json(),
                    });
                    index.insert(key, groups.len() - 1);
                }
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests;
