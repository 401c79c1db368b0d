//! [`ShopifySource`]: connects to the shop, runs the driver of the configured `api`, and keeps
//! the incremental cursor.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dataforge_core::observe::LineageDataset;
use dataforge_core::{BatchSender, ComponentError, Record, RunContext, Source, async_trait};
use dataforge_hooks::http::RetryBudget;
use dataforge_hooks::shopify::{ShopifyError, ShopifyHook};
use serde_json::Value as Json;

use super::config::{ShopifyApi, ShopifySettings};
use super::error::ShopifySourceError;
use super::incremental::{CursorState, Decision, STATE_KEY, Tracker, camel_case, since};
use super::queries::Selected;
use super::{bulk, graphql, rest};

/// Retries (429, 5xx, dropped connections) one run may spend in total, over all its requests.
const RUN_RETRY_BUDGET: u32 = 1_000;

/// Reads a Shopify store's resource through REST, paged GraphQL or a bulk operation.
#[derive(Clone, Debug)]
pub struct ShopifySource {
    settings: Arc<ShopifySettings>,
}

impl ShopifySource {
    pub(crate) fn new(settings: ShopifySettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }
}

/// The incremental tracker of one run, shared with the workers that decode bulk rows.
pub(super) type SharedTracker = Arc<Mutex<Tracker>>;

/// What a driver needs besides the hook: the settings, where the load starts, the tracker.
pub(super) struct Load<'a> {
    pub(super) settings: &'a ShopifySettings,
    pub(super) since: Option<chrono::DateTime<chrono::Utc>>,
    pub(super) tracker: Option<SharedTracker>,
    pub(super) ctx: &'a RunContext,
}

impl Load<'_> {
    /// `error` of the hook as the source's, naming the resource (retryable as the hook says).
    pub(super) fn api_error(&self, error: ShopifyError) -> ComponentError {
        api_error(&self.settings.resource, self.settings.api, error)
    }

    /// What a built-in GraphQL query selects: the fields the pipeline reads, and the cursor
    /// field the incremental tracker reads (`id` is always selected).
    pub(super) fn graphql_selection(&self) -> Selected {
        Selected {
            projection: self.ctx.projection().clone(),
            own: self
                .settings
                .incremental
                .iter()
                .map(|inc| camel_case(&inc.cursor_field))
                .collect(),
        }
    }

    /// `future`, unless the run is cancelled first.
    pub(super) async fn or_cancelled<T>(
        &self,
        future: impl Future<Output = T>,
    ) -> Result<T, ComponentError> {
        tokio::select! {
            biased;
            () = self.ctx.cancellation().cancelled() => Err(ComponentError::upstream_aborted()),
            value = future => Ok(value),
        }
    }
}

/// Keeps the records the tracker emits (all of them without incremental).
pub(super) fn keep_new(tracker: Option<&SharedTracker>, mut batch: Vec<Record>) -> Vec<Record> {
    if let Some(tracker) = tracker {
        let mut tracker = lock(tracker);
        batch.retain(|record| tracker.observe(record) == Decision::Emit);
    }
    batch
}

/// `error` of the hook as the source's, naming the resource and the API.
pub(super) fn api_error(resource: &str, api: ShopifyApi, error: ShopifyError) -> ComponentError {
    ShopifySourceError::Api {
        resource: resource.to_owned(),
        api: api.name(),
        source: Box::new(error),
    }
    .into()
}

pub(super) fn lock(tracker: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    // `observe` cannot leave the tracker half-updated in a way that matters: at worst one
    // record's window entry; the lock is never held across a panic that is caught anyway.
    tracker.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Source for ShopifySource {
    /// The shop's origin (`https://my-shop.myshopify.com`, no token) and the resource.
    async fn lineage_dataset(&self, ctx: &RunContext) -> Option<LineageDataset> {
        let conn = ctx.connection(&self.settings.conn_id).await.ok()?;
        let host = conn.host()?;
        let origin = match conn.port() {
            Some(port) => format!("{}://{host}:{port}", conn.scheme()),
            None => format!("{}://{host}", conn.scheme()),
        };
        Some(LineageDataset::new(origin, self.settings.resource.clone()))
    }

    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let settings = &*self.settings;
        let conn = ctx.connection(&settings.conn_id).await?;
        let hook = ShopifyHook::new(&conn, settings.api_version.as_deref())
            .map_err(|e| api_error(&settings.resource, settings.api, e))?
            .with_budget(RetryBudget::new(RUN_RETRY_BUDGET));
        let mut load = Load {
            settings,
            since: None,
            tracker: None,
            ctx,
        };
        if let Some(incremental) = &settings.incremental {
            let saved = CursorState::from_json(ctx.state().get(STATE_KEY))?;
            load.since = since(incremental, &saved);
            let graphql = settings.api != ShopifyApi::Rest;
            let tracker: SharedTracker =
                Arc::new(Mutex::new(Tracker::new(incremental, saved, graphql)));
            // Computed when the load has committed: bulk rows are decoded (and tracked) on
            // the workers, after `extract` returned.
            let shared = tracker.clone();
            ctx.state().set_with(STATE_KEY, move || {
                let tracker = lock(&shared).clone();
                tracker.finish().map_or(Json::Null, |state| state.to_json())
            });
            load.tracker = Some(tracker);
        }
        tracing::info!(
            shop = hook.shop(),
            resource = %settings.resource,
            api = settings.api.name(),
            api_version = hook.api_version(),
            since = ?load.since,
            "shopify source: reading"
        );
        match settings.api {
            ShopifyApi::Rest => rest::extract(&hook, &load, out).await,
            ShopifyApi::Graphql => graphql::extract(&hook, &load, out).await,
            ShopifyApi::Bulk => bulk::extract(&hook, &load, out).await,
        }?;
        if let Some(tracker) = &load.tracker {
            let tracker = lock(tracker);
            if tracker.skipped() > 0 {
                tracing::info!(
                    skipped = tracker.skipped(),
                    "shopify source: records the last run already loaded were skipped"
                );
            }
        }
        Ok(())
    }
}
