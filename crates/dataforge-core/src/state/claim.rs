//! Run claims: how several schedulers sharing one state store run each scheduled interval once.
//!
//! A scheduled run is keyed by `(pipeline, logical date)`. Before running it, a scheduler
//! [claims](super::StateStore::claim_run) it for its owner id with a lease; while it runs, it
//! [renews](super::StateStore::renew_claim) the lease (heartbeats) and, right before the
//! destination commits, renews it once more (the commit guard); at the end it
//! [finishes](super::StateStore::finish_claim) the claim with the run's record. A run whose
//! lease expired (its process died or stalled) is claimable again, as the next attempt
//! ([`claim_orphan`](super::StateStore::claim_orphan)).
//!
//! Stores for one process (files, memory, SQLite) keep the trait's defaults: every claim is
//! granted and renewals always hold, so a single scheduler behaves as it always did.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What a scheduler asks for when it wants to run one interval.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimRequest {
    /// The pipeline's `dag_id`.
    pub pipeline_id: String,
    /// The interval's start (the run's logical date).
    pub logical_date: DateTime<Utc>,
    /// The interval's end.
    pub data_interval_end: DateTime<Utc>,
    /// Who claims: a process's owner id.
    pub owner: String,
    /// The run id to use when the run is new (a run taken over keeps its id).
    pub run_id: String,
    /// How long the claim holds without a renewal.
    pub lease: Duration,
}

impl ClaimRequest {
    /// A request by `owner` for the interval `[logical_date, data_interval_end)` of
    /// `pipeline_id`, as run `run_id` if it is new, held for `lease`.
    pub fn new(
        pipeline_id: impl Into<String>,
        logical_date: DateTime<Utc>,
        data_interval_end: DateTime<Utc>,
        owner: impl Into<String>,
        run_id: impl Into<String>,
        lease: Duration,
    ) -> Self {
        Self {
            pipeline_id: pipeline_id.into(),
            logical_date,
            data_interval_end,
            owner: owner.into(),
            run_id: run_id.into(),
            lease,
        }
    }

    /// The claim a store that runs everything grants (attempt 1, the proposed run id).
    pub fn granted(&self) -> Claim {
        Claim {
            pipeline_id: self.pipeline_id.clone(),
            logical_date: self.logical_date,
            data_interval_end: self.data_interval_end,
            owner: self.owner.clone(),
            run_id: self.run_id.clone(),
            attempt: 1,
        }
    }
}

/// A granted claim: this owner runs this interval, as this attempt, until it finishes the
/// claim or its lease lapses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// The pipeline's `dag_id`.
    pub pipeline_id: String,
    /// The interval's start (the run's logical date).
    pub logical_date: DateTime<Utc>,
    /// The interval's end.
    pub data_interval_end: DateTime<Utc>,
    /// The owner id it was granted to.
    pub owner: String,
    /// The run's id (kept across attempts).
    pub run_id: String,
    /// Which attempt this is, from 1: each takeover of a lapsed claim is one more. It fences
    /// the claim: a renewal by an earlier attempt's owner fails.
    pub attempt: u32,
}
