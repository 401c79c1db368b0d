//! The run observers every run of this process gets: OpenLineage, when the environment asks.

use std::sync::{Arc, OnceLock};

use dataforge_core::observe::RunObserver;
use dataforge_hooks::openlineage::OpenLineageObserver;

/// The observers, read from the environment once (`OPENLINEAGE_*`); a bad `OPENLINEAGE_URL`
/// is logged once and lineage is then off, never a reason not to run.
pub fn from_env() -> Vec<Arc<dyn RunObserver>> {
    static OBSERVERS: OnceLock<Vec<Arc<dyn RunObserver>>> = OnceLock::new();
    OBSERVERS
        .get_or_init(|| match OpenLineageObserver::from_env() {
            Ok(Some(observer)) => {
                tracing::info!("OpenLineage events on");
                vec![Arc::new(observer) as Arc<dyn RunObserver>]
            }
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %dataforge_core::error_chain(&e), "OpenLineage events off");
                Vec::new()
            }
        })
        .clone()
}
