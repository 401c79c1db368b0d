//! The bulk driver: start a bulk operation, poll it until it ends, stream its JSONL download
//! into batches decoded on the workers. A cancelled run cancels the operation on the shop.

use std::time::{Duration, Instant};

use dataforge_core::{BatchSender, ComponentError, DeferredBatch};
use dataforge_hooks::shopify::{BulkOperation, BulkStatus, ShopifyError, ShopifyHook};
use futures::StreamExt as _;

use super::bulk_jsonl::{JsonlChunk, LineSplitter};
use super::config::OnBulkInProgress;
use super::error::ShopifySourceError;
use super::queries::search_filter;
use super::source::{Load, SharedTracker, keep_new};

/// The first wait between polls of a running operation; it grows by half up to
/// [`POLL_MAX`].
const POLL_MIN: Duration = Duration::from_millis(200);
/// The longest wait between polls.
const POLL_MAX: Duration = Duration::from_secs(10);
/// How long one operation (ours, or another one we wait for) may run before the load gives up.
const OPERATION_MAX: Duration = Duration::from_secs(24 * 3600);
/// How long cancelling an operation on the shop may take when the run is cancelled.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs the bulk operation and streams its result.
pub(super) async fn extract(
    hook: &ShopifyHook,
    load: &Load<'_>,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let settings = load.settings;
    let Some(query) = &settings.query else {
        // `validate` gives `bulk` a query: built in, or the user's.
        return Err(ComponentError::fatal_msg(
            "shopify source: no GraphQL query for this resource",
        ));
    };
    let filter = settings
        .incremental
        .as_ref()
        .and_then(|inc| search_filter(&inc.cursor_field, load.since, None));
    let document = query.bulk_document(filter.as_deref(), &load.graphql_selection())?;
    let operation = start(hook, load, &document).await?;
    tracing::info!(operation = %operation.id, "shopify source: bulk operation started");
    let finished = match wait(hook, load, &operation.id).await {
        Ok(op) => op,
        Err(e) => {
            if load.ctx.is_cancelled() {
                cancel(hook, &operation.id).await;
            }
            return Err(e);
        }
    };
    match finished.status {
        BulkStatus::Completed => {}
        status => {
            return Err(ComponentError::fatal(ShopifySourceError::BulkFailed {
                operation: finished.id.clone(),
                status: format!("{status:?}").to_uppercase(),
                error_code: finished.error_code.clone(),
                partial: finished.partial_data_url.is_some(),
            }));
        }
    }
    tracing::info!(
        operation = %finished.id,
        objects = finished.object_count,
        "shopify source: bulk operation completed; downloading"
    );
    let Some(url) = &finished.url else {
        // Shopify completes an operation that found nothing without a file.
        return Ok(());
    };
    download(hook, load, url, out).await
}

/// Starts the operation; another one running on the shop is waited for, or fails the load,
/// as `on_bulk_in_progress` says.
async fn start(
    hook: &ShopifyHook,
    load: &Load<'_>,
    document: &str,
) -> Result<BulkOperation, ComponentError> {
    let started = Instant::now();
    loop {
        match load.or_cancelled(hook.bulk_run_query(document)).await? {
            Ok(operation) => return Ok(operation),
            Err(ShopifyError::OperationInProgress { id, .. }) => {
                let running = id.clone().unwrap_or_else(|| "(unknown id)".to_owned());
                if load.settings.on_bulk_in_progress == OnBulkInProgress::Fail
                    || started.elapsed() > OPERATION_MAX
                {
                    return Err(ComponentError::fatal(ShopifySourceError::BulkInProgress {
                        shop: hook.shop().to_owned(),
                        operation: running,
                    }));
                }
                tracing::warn!(
                    operation = %running,
                    "shopify source: another bulk operation is running on the shop; waiting for it to end"
                );
                match id {
                    Some(id) => {
                        wait(hook, load, &id).await?;
                    }
                    None => {
                        load.or_cancelled(tokio::time::sleep(POLL_MAX)).await?;
                    }
                }
            }
            Err(e) => return Err(load.api_error(e)),
        }
    }
}

/// Polls the operation until it has ended, waiting longer between polls as it runs.
async fn wait(
    hook: &ShopifyHook,
    load: &Load<'_>,
    id: &str,
) -> Result<BulkOperation, ComponentError> {
    let started = Instant::now();
    let mut delay = POLL_MIN;
    loop {
        load.or_cancelled(tokio::time::sleep(delay)).await?;
        let operation = load
            .or_cancelled(hook.bulk_operation(id))
            .await?
            .map_err(|e| load.api_error(e))?;
        if operation.status.is_finished() {
            return Ok(operation);
        }
        if started.elapsed() > OPERATION_MAX {
            return Err(ComponentError::fatal(ShopifySourceError::BulkTimedOut {
                operation: id.to_owned(),
                waited: OPERATION_MAX,
            }));
        }
        tracing::debug!(operation = id, status = ?operation.status, objects = operation.object_count, "shopify source: bulk operation running");
        delay = (delay * 3 / 2).min(POLL_MAX);
    }
}

/// Asks the shop to cancel the operation (the run was cancelled); failures are logged only.
async fn cancel(hook: &ShopifyHook, id: &str) {
    match tokio::time::timeout(CANCEL_TIMEOUT, hook.bulk_cancel(id)).await {
        Ok(Ok(op)) => {
            tracing::warn!(operation = id, status = ?op.status, "shopify source: run cancelled; bulk operation cancelled on the shop");
        }
        Ok(Err(e)) => {
            tracing::warn!(operation = id, error = %e, "shopify source: run cancelled; cancelling the bulk operation failed");
        }
        Err(_) => {
            tracing::warn!(
                operation = id,
                "shopify source: run cancelled; cancelling the bulk operation timed out"
            );
        }
    }
}

/// Streams the JSONL: line-aligned chunks of a batch each, decoded on the workers.
async fn download(
    hook: &ShopifyHook,
    load: &Load<'_>,
    url: &str,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let mut stream = load
        .or_cancelled(hook.download(url))
        .await?
        .map_err(|e| load.api_error(e))?;
    let mut splitter = LineSplitter::new(load.ctx.batch_size());
    let mut bytes: u64 = 0;
    while let Some(piece) = load.or_cancelled(stream.next()).await? {
        let piece = piece.map_err(|e| load.api_error(ShopifyError::from(e)))?;
        bytes += piece.len() as u64;
        for chunk in splitter.push(&piece) {
            out.send_deferred(deferred(chunk, load.tracker.clone()))
                .await?;
        }
    }
    if let Some(chunk) = splitter.finish() {
        out.send_deferred(deferred(chunk, load.tracker.clone()))
            .await?;
    }
    tracing::debug!(bytes, "shopify source: bulk download done");
    Ok(())
}

/// A chunk decoded, and filtered by the tracker, where the runner transforms it.
fn deferred(chunk: JsonlChunk, tracker: Option<SharedTracker>) -> DeferredBatch {
    DeferredBatch::new(move || {
        let batch = chunk.decode().map_err(ComponentError::from)?;
        Ok(keep_new(tracker.as_ref(), batch))
    })
}
