//! The paged GraphQL driver: `first`/`after` cursor pages, the search filter sent with every
//! page, the page size halved when Shopify says a page costs too much.

use dataforge_core::{BatchSender, ComponentError, Record};
use dataforge_hooks::shopify::{ShopifyError, ShopifyHook};
use serde_json::{Value as Json, json};

use super::error::ShopifySourceError;
use super::queries::search_filter;
use super::source::{Load, keep_new};

/// Reads every page and sends each as a batch as it arrives.
pub(super) async fn extract(
    hook: &ShopifyHook,
    load: &Load<'_>,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let settings = load.settings;
    let Some(query) = &settings.query else {
        // `validate` gives `graphql` a query: built in, or the user's.
        return Err(ComponentError::fatal_msg(
            "shopify source: no GraphQL query for this resource",
        ));
    };
    let document = query.paged_document(&load.graphql_selection());
    let root = query.paged_root();
    let filter = settings
        .incremental
        .as_ref()
        .and_then(|inc| search_filter(&inc.cursor_field, load.since, None));
    let mut first = settings.page_size;
    let mut after: Option<String> = None;
    let mut page_number: u64 = 0;
    let mut warned = false;
    loop {
        let variables = json!({"first": first, "after": after, "query": filter});
        let response = match load
            .or_cancelled(hook.graphql(&document, variables))
            .await?
        {
            Ok(response) => response,
            Err(ShopifyError::MaxCostExceeded { cost, max, .. }) if first > 1 => {
                let smaller = (first / 2).max(1);
                tracing::warn!(
                    cost,
                    max,
                    from = first,
                    to = smaller,
                    "shopify source: a page costs more than Shopify allows for one query; halving the page size"
                );
                first = smaller;
                continue;
            }
            Err(e) => return Err(load.api_error(e)),
        };
        page_number += 1;
        if !warned && !response.search_warnings.is_empty() {
            // Shopify ran the query with a different filter than asked: say so, once.
            warned = true;
            tracing::warn!(
                warnings = %response.search_warnings.join("; "),
                filter = ?filter,
                "shopify source: Shopify's search did not understand part of the filter"
            );
        }
        let (batch, next) = page_of(response.data, root, &settings.resource, page_number)?;
        tracing::debug!(
            page = page_number,
            records = batch.len(),
            "shopify source: GraphQL page"
        );
        out.send(keep_new(load.tracker.as_ref(), batch)).await?;
        match next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// The nodes of `data.<root>` (from `edges { node }` or `nodes`) and the next cursor.
fn page_of(
    mut data: Json,
    root: &str,
    resource: &str,
    page: u64,
) -> Result<(Vec<Record>, Option<String>), ShopifySourceError> {
    let bad = |message: String| ShopifySourceError::BadPage {
        resource: resource.to_owned(),
        page,
        message,
    };
    let Some(mut connection) = data.get_mut(root).map(Json::take) else {
        return Err(bad(format!("no `data.{root}` in the response")));
    };
    let nodes: Vec<Json> =
        if let Some(Json::Array(edges)) = connection.get_mut("edges").map(Json::take) {
            edges
                .into_iter()
                .map(|mut edge| edge.get_mut("node").map(Json::take).unwrap_or(Json::Null))
                .collect()
        } else if let Some(Json::Array(nodes)) = connection.get_mut("nodes").map(Json::take) {
            nodes
        } else {
            return Err(bad(format!(
                "`data.{root}` has neither `edges` nor `nodes`"
            )));
        };
    let batch = nodes
        .into_iter()
        .enumerate()
        .map(|(i, node)| {
            Record::try_from(node).map_err(|e| bad(format!("node {i} of `data.{root}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let info = connection.get("pageInfo");
    let has_next = info
        .and_then(|i| i.get("hasNextPage"))
        .and_then(Json::as_bool)
        .ok_or_else(|| bad(format!("`data.{root}.pageInfo.hasNextPage` is missing")))?;
    let next = if has_next {
        let cursor = info
            .and_then(|i| i.get("endCursor"))
            .and_then(Json::as_str)
            .ok_or_else(|| {
                bad(format!(
                    "`data.{root}.pageInfo.endCursor` is missing while hasNextPage is true"
                ))
            })?;
        Some(cursor.to_owned())
    } else {
        None
    };
    Ok((batch, next))
}
