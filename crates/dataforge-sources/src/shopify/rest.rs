//! The REST driver: the first page with the filters, then `Link rel="next"` verbatim.

use std::collections::BTreeSet;

use chrono::SecondsFormat;
use dataforge_core::{BatchSender, ComponentError, Projection, Record, Value};
use dataforge_hooks::shopify::{RestRequest, ShopifyHook};

use super::error::ShopifySourceError;
use super::source::{Load, keep_new};

/// Reads every page and sends each as a batch as it arrives.
pub(super) async fn extract(
    hook: &ShopifyHook,
    load: &Load<'_>,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let settings = load.settings;
    let mut params = settings.rest_params.clone();
    if let (Some(incremental), Some(since)) = (&settings.incremental, load.since) {
        params.push((
            format!("{}_min", incremental.cursor_field),
            since.to_rfc3339_opts(SecondsFormat::Secs, true),
        ));
    }
    if let Some(fields) = fields_param(load) {
        tracing::debug!(%fields, "shopify source: asking only for the fields the pipeline reads");
        params.push(("fields".to_owned(), fields));
    }
    let mut request = RestRequest::First {
        resource: settings.resource.clone(),
        params,
    };
    let mut page_number: u64 = 0;
    loop {
        page_number += 1;
        let page = load
            .or_cancelled(hook.rest_page(request))
            .await?
            .map_err(|e| load.api_error(e))?;
        let batch = records_of(&page.body, &settings.resource, page_number)?;
        tracing::debug!(
            page = page_number,
            records = batch.len(),
            call_limit = ?page.call_limit.map(|l| (l.used, l.size)),
            "shopify source: REST page"
        );
        out.send(keep_new(load.tracker.as_ref(), batch)).await?;
        match page.next {
            Some(next) => request = RestRequest::Next(next),
            None => return Ok(()),
        }
    }
}

/// `fields=` for the top-level fields the pipeline reads (projection pushdown: fewer bytes on
/// the wire and to parse), with `id` and the cursor field the source itself reads; none when
/// the pipeline reads every field, or every field but some, or `params` sets `fields` itself.
fn fields_param(load: &Load<'_>) -> Option<String> {
    let settings = load.settings;
    let Projection::Only(names) = load.ctx.projection() else {
        return None;
    };
    if settings.rest_params.iter().any(|(k, _)| k == "fields") {
        return None;
    }
    let mut fields: BTreeSet<&str> = names.iter().map(|n| n.as_str()).collect();
    fields.insert("id");
    if let Some(incremental) = &settings.incremental {
        fields.insert(&incremental.cursor_field);
    }
    Some(fields.into_iter().collect::<Vec<_>>().join(","))
}

/// The records of a list response `{"<resource>": [ … ]}`, exactly as sent (integers exact).
pub(super) fn records_of(
    body: &[u8],
    resource: &str,
    page: u64,
) -> Result<Vec<Record>, ShopifySourceError> {
    let bad = |message: String| ShopifySourceError::BadPage {
        resource: resource.to_owned(),
        page,
        message,
    };
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let Value::Object(mut envelope) =
        Value::from_json(text).map_err(|e| bad(format!("invalid JSON: {e}")))?
    else {
        return Err(bad("the response is not a JSON object".into()));
    };
    let Some(list) = envelope.remove(resource) else {
        let keys: Vec<&str> = envelope.keys().map(|k| k.as_str()).collect();
        return Err(bad(format!(
            "no `{resource}` list in the response (keys: {})",
            keys.join(", ")
        )));
    };
    let Value::Array(items) = list else {
        return Err(bad(format!(
            "`{resource}` is a {}, not a list",
            list.type_name()
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(record) => Ok(record),
            other => Err(bad(format!(
                "item {i} of `{resource}` is a {}, not an object",
                other.type_name()
            ))),
        })
        .collect()
}
