//! OpenLineage: a START and a COMPLETE or FAIL run event for each run (OpenLineage
//! spec 2-0-2, as the 1.x clients send it), sent by an [`OpenLineageObserver`] added to
//! [`RunOptions::observers`](dataforge_core::RunOptions::observers), over HTTP or to a file
//! ([`Transport`]).
//!
//! Configured from the environment as the OpenLineage clients are: `OPENLINEAGE_URL` (with
//! `OPENLINEAGE_ENDPOINT`, default `api/v1/lineage`, and `OPENLINEAGE_API_KEY`, sent as
//! `Authorization: Bearer` and never logged), or `OPENLINEAGE_FILE` (one event per line,
//! appended); `OPENLINEAGE_NAMESPACE` names the jobs' namespace (default `dataforge`);
//! `OPENLINEAGE_DISABLED=true` turns it off. A backend that is down or slow costs a run at most
//! [`EVENT_TIMEOUT`] per event, and never fails it.

mod event;
mod observer;
mod transport;

pub use event::{PRODUCER, SCHEMA_URL, run_event, run_uuid};
pub use observer::{EVENT_TIMEOUT, OpenLineageObserver};
pub use transport::{LineageError, Transport};
