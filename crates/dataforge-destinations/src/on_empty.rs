//! What a destination does when the source gave no rows at all (`on_empty`).
//!
//! An API that answers nothing during an outage, or an export that came out empty, must not
//! empty a warehouse table: by default (`keep`) the target is left exactly as it was (not even
//! created), the run warns and its report says so. `replace` lets the empty load take effect
//! (a `replace` empties the table or file); `fail` fails the run (retryably: an empty answer is
//! often a passing outage) and touches nothing.

use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{ComponentError, LoadSummary};
use serde::Deserialize;

/// `keep` (default), `replace` or `fail`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnEmpty {
    /// Leave the target untouched, warn, and say so in the run's report.
    #[default]
    Keep,
    /// Load the empty result: `replace` empties the target; `append` and `upsert` change nothing.
    Replace,
    /// Fail the run (retryable) and leave the target untouched.
    Fail,
}

impl OnEmpty {
    /// For a load that received no rows: `Some(outcome)` when the destination must not touch
    /// `target` (`keep`: a summary saying so; `fail`: the error), `None` when it goes on to
    /// load the empty result (`replace`).
    pub fn outcome(self, kind: &str, target: &str) -> Option<Result<LoadSummary, ComponentError>> {
        match self {
            OnEmpty::Replace => None,
            OnEmpty::Keep => {
                tracing::warn!(
                    target = %target,
                    "the source gave no rows: {target} was left as it was (on_empty: keep)"
                );
                Some(Ok(LoadSummary::new(target, 0).with_note(
                    "the source gave no rows: the target was left as it was (on_empty: keep)",
                )))
            }
            OnEmpty::Fail => Some(Err(ComponentError::retryable_msg(format!(
                "{kind} destination: the source gave no rows and on_empty is `fail`; \
                 {target} was left as it was"
            )))),
        }
    }
}
