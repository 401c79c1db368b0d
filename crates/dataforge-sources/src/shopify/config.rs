//! The `shopify` source's config: the keys users write in pipeline files, and their checks.

use std::time::Duration;

use dataforge_core::{ConfigErrors, ConfigIssue};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::bulk_query;
use super::incremental::{IncrementalSettings, parse_instant};
use super::queries::{Builtin, GraphqlQuery, inject_bulk_filter};

/// The longest `incremental.lookback`.
const MAX_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest page Shopify serves (REST `limit`, GraphQL `first`).
const MAX_PAGE: u32 = 250;

/// Config of the `shopify` source.
///
/// ```json
/// {"type": "shopify", "conn_id": "shopify_default", "resource": "orders", "params": {"status": "any"}}
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopifySourceConfig {
    /// The connection (`DATAFORGE_CONN_<ID>`: `https://:TOKEN@my-shop.myshopify.com`);
    /// default `shopify_default`.
    #[serde(default = "default_conn_id")]
    pub conn_id: String,
    /// The REST list resource, in REST's spelling: `orders`, `customers`, `products`,
    /// `draft_orders`, `inventory_items`, … (lowercase letters and `_`). With `graphql` or
    /// `bulk`, `orders`, `customers` and `products` have built-in queries; others need `query`.
    pub resource: String,
    /// `rest` (default), `graphql` (paged queries) or `bulk` (a bulk operation, then its JSONL).
    #[serde(default)]
    pub api: ShopifyApi,
    /// REST query parameters of the first request (string, number or boolean values), e.g.
    /// `{"status": "any", "financial_status": "paid"}`. Orders get `status=any` unless set
    /// here; `limit` comes from `page_size`; `page_info` is the pager's. Not with `graphql` or
    /// `bulk`, which filter in `query`.
    #[serde(default)]
    pub params: Option<Map<String, Json>>,
    /// GraphQL (`graphql` or `bulk`): your own query document. With `graphql` it declares
    /// `$first`, `$after` and `$query`, and its one root field is a connection called with
    /// `first: $first, after: $after, query: $query` that selects
    /// `pageInfo { hasNextPage endCursor }` and `edges { node { … } }` or `nodes { … }`. With
    /// `bulk` it is what `bulkOperationRunQuery` accepts: no variables, `edges { node }` only,
    /// at most 5 connections nested at most 2 deep; with `incremental` the filter is added as
    /// the root connection's `query:` argument, which it must not have already.
    #[serde(default)]
    pub query: Option<String>,
    /// Records per page, 1 to 250 (default 250).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// The Admin API version, `YYYY-MM` with MM one of 01, 04, 07, 10, or `unstable`; default:
    /// the connection's.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Loads only what changed since the last committed run.
    #[serde(default)]
    pub incremental: Option<IncrementalConfig>,
    /// `bulk`: what to do when a bulk operation already runs on the shop: `wait` (default) for
    /// it to finish, or `fail`.
    #[serde(default)]
    pub on_bulk_in_progress: Option<OnBulkInProgress>,
}

fn default_conn_id() -> String {
    "shopify_default".to_owned()
}

/// Which Shopify API a load uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShopifyApi {
    /// The REST Admin API, paged by the `Link` header.
    #[default]
    Rest,
    /// The GraphQL Admin API, paged by cursor.
    Graphql,
    /// A GraphQL bulk operation, downloaded as JSONL when complete.
    Bulk,
}

impl ShopifyApi {
    /// The name users write (`rest`, `graphql`, `bulk`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Graphql => "graphql",
            Self::Bulk => "bulk",
        }
    }
}

/// What a bulk load does when the shop already runs a bulk operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnBulkInProgress {
    /// Wait for it to finish, then start ours.
    #[default]
    Wait,
    /// Fail the run.
    Fail,
}

/// Incremental loading: each run asks for records changed since the last committed one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// The timestamp field, snake_case as in REST (`updated_at`, default); GraphQL reads its
    /// camelCase form (`updatedAt`).
    #[serde(default = "default_cursor_field")]
    pub cursor_field: String,
    /// How far before the saved cursor each run starts, to catch late updates: a duration
    /// such as `5m` (default `0s`, at most 7 days). Records already loaded are not emitted twice.
    #[serde(default)]
    pub lookback: Option<String>,
    /// Where the first run starts (RFC 3339, e.g. `2024-01-01T00:00:00Z`); default: everything.
    #[serde(default)]
    pub start: Option<String>,
}

fn default_cursor_field() -> String {
    "updated_at".to_owned()
}

/// A validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShopifySettings {
    pub(crate) conn_id: String,
    pub(crate) resource: String,
    pub(crate) api: ShopifyApi,
    /// REST: the first request's parameters, in order (`limit` and, for orders, `status`
    /// included; the incremental `<cursor_field>_min` is the driver's to add). Empty otherwise.
    pub(crate) rest_params: Vec<(String, String)>,
    /// GraphQL and bulk: the query; `None` with REST.
    pub(crate) query: Option<GraphqlQuery>,
    pub(crate) page_size: u32,
    pub(crate) api_version: Option<String>,
    pub(crate) incremental: Option<IncrementalSettings>,
    pub(crate) on_bulk_in_progress: OnBulkInProgress,
}

/// Whether `name` is lowercase letters and `_`, not empty.
fn is_snake(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Whether `v` is `YYYY-MM` with a quarterly month, or `unstable`.
fn is_api_version(v: &str) -> bool {
    if v == "unstable" {
        return true;
    }
    match v.split_once('-') {
        Some((year, month)) => {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && matches!(month, "01" | "04" | "07" | "10")
        }
        None => false,
    }
}

impl ShopifySourceConfig {
    /// Checks the config and resolves defaults; every problem is reported at its key.
    pub(crate) fn validate(self) -> Result<ShopifySettings, ConfigErrors> {
        let mut issues = Vec::new();
        if self.conn_id.trim().is_empty() {
            issues.push(ConfigIssue::at("conn_id", "must not be empty"));
        }
        let resource_ok = is_snake(&self.resource);
        if !resource_ok {
            issues.push(ConfigIssue::at(
                "resource",
                format!(
                    "must be a REST resource name of lowercase letters and `_` (`orders`, \
                     `draft_orders`), found `{}`",
                    self.resource
                ),
            ));
        }
        let page_size = self.page_size.unwrap_or(MAX_PAGE);
        if !(1..=MAX_PAGE).contains(&page_size) {
            issues.push(ConfigIssue::at(
                "page_size",
                format!("must be from 1 to {MAX_PAGE}, found {page_size}"),
            ));
        }
        if let Some(v) = &self.api_version
            && !is_api_version(v)
        {
            issues.push(ConfigIssue::at(
                "api_version",
                format!(
                    "must be `YYYY-MM` with MM one of 01, 04, 07, 10 (e.g. `2025-07`), or \
                     `unstable`; found `{v}`"
                ),
            ));
        }
        let incremental = self
            .incremental
            .as_ref()
            .and_then(|i| incremental(i, &mut issues));
        if self.on_bulk_in_progress.is_some() && self.api != ShopifyApi::Bulk {
            issues.push(ConfigIssue::at(
                "on_bulk_in_progress",
                format!(
                    "applies only to `\"api\": \"bulk\"`, not `{}`",
                    self.api.name()
                ),
            ));
        }
        let rest_params = match self.api {
            ShopifyApi::Rest => {
                if self.query.is_some() {
                    issues.push(ConfigIssue::at(
                        "query",
                        "applies only to `\"api\": \"graphql\"` or `\"bulk\"`: REST filters go \
                         in `params`",
                    ));
                }
                rest_params(&self, page_size, incremental.as_ref(), &mut issues)
            }
            ShopifyApi::Graphql | ShopifyApi::Bulk => {
                if self.params.is_some() {
                    issues.push(ConfigIssue::at(
                        "params",
                        format!(
                            "applies only to `\"api\": \"rest\"`: with `{}`, filter in the \
                             GraphQL `query`",
                            self.api.name()
                        ),
                    ));
                }
                Vec::new()
            }
        };
        let query = match self.api {
            ShopifyApi::Rest => None,
            api if resource_ok => graphql_query(
                api,
                &self.resource,
                self.query.as_deref(),
                incremental.is_some(),
                &mut issues,
            ),
            _ => None,
        };
        if !issues.is_empty() {
            return Err(ConfigErrors(issues));
        }
        Ok(ShopifySettings {
            conn_id: self.conn_id,
            resource: self.resource,
            api: self.api,
            rest_params,
            query,
            page_size,
            api_version: self.api_version,
            incremental,
            on_bulk_in_progress: self.on_bulk_in_progress.unwrap_or_default(),
        })
    }
}

/// The validated `incremental`, or `None` with its problems in `issues`.
fn incremental(
    config: &IncrementalConfig,
    issues: &mut Vec<ConfigIssue>,
) -> Option<IncrementalSettings> {
    let before = issues.len();
    if !is_snake(&config.cursor_field) {
        issues.push(ConfigIssue::at(
            "incremental.cursor_field",
            format!(
                "must be a snake_case field name such as `updated_at`, found `{}`",
                config.cursor_field
            ),
        ));
    }
    let lookback = match config.lookback.as_deref() {
        None => Duration::ZERO,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d <= MAX_LOOKBACK => d,
            Ok(_) => {
                issues.push(ConfigIssue::at(
                    "incremental.lookback",
                    format!("must be at most 7 days, found `{text}`"),
                ));
                Duration::ZERO
            }
            Err(e) => {
                issues.push(ConfigIssue::at(
                    "incremental.lookback",
                    format!("must be a duration such as `5m` or `1h 30m`, found `{text}`: {e}"),
                ));
                Duration::ZERO
            }
        },
    };
    let start = match config.start.as_deref() {
        None => None,
        Some(text) => {
            let parsed = parse_instant(text);
            if parsed.is_none() {
                issues.push(ConfigIssue::at(
                    "incremental.start",
                    format!(
                        "must be an RFC 3339 timestamp such as `2024-01-01T00:00:00Z`, found \
                         `{text}`"
                    ),
                ));
            }
            parsed
        }
    };
    (issues.len() == before).then(|| IncrementalSettings {
        cursor_field: config.cursor_field.clone(),
        lookback,
        start,
    })
}

/// The REST parameters of the first request, in order.
fn rest_params(
    config: &ShopifySourceConfig,
    page_size: u32,
    incremental: Option<&IncrementalSettings>,
    issues: &mut Vec<ConfigIssue>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let empty = Map::new();
    let params = config.params.as_ref().unwrap_or(&empty);
    for (key, value) in params {
        let at = format!("params.{key}");
        match key.as_str() {
            "limit" => {
                issues.push(ConfigIssue::at(
                    at,
                    "set the page size with `page_size` (1 to 250), not `params.limit`",
                ));
                continue;
            }
            "page_info" => {
                issues.push(ConfigIssue::at(
                    at,
                    "`page_info` is the pager's own cursor and cannot be set",
                ));
                continue;
            }
            _ => {}
        }
        if let Some(inc) = incremental
            && *key == format!("{}_min", inc.cursor_field)
        {
            issues.push(ConfigIssue::at(
                at,
                format!(
                    "`{key}` is set by `incremental` from the saved cursor: use \
                     `incremental.start` for the first run"
                ),
            ));
            continue;
        }
        let text = match value {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            other => {
                let kind = match other {
                    Json::Null => "null",
                    Json::Array(_) => "an array",
                    _ => "an object",
                };
                issues.push(ConfigIssue::at(
                    at,
                    format!(
                        "must be a string, number or boolean, found {kind} (a list of ids is \
                         one comma-separated string: \"1,2,3\")"
                    ),
                ));
                continue;
            }
        };
        if key == "fields"
            && let Some(inc) = incremental
        {
            // Without these the cursor cannot move, nor a version be told from the last.
            let listed: Vec<&str> = text.split(',').map(str::trim).collect();
            for needed in ["id", inc.cursor_field.as_str()] {
                if !listed.contains(&needed) {
                    issues.push(ConfigIssue::at(
                        &at,
                        format!(
                            "must list `{needed}`, which `incremental` reads from every record"
                        ),
                    ));
                }
            }
        }
        out.push((key.clone(), text));
    }
    if config.resource == "orders" && !params.contains_key("status") {
        out.insert(0, ("status".to_owned(), "any".to_owned()));
    }
    out.push(("limit".to_owned(), page_size.to_string()));
    out
}

/// The GraphQL query of a `graphql` or `bulk` load, or `None` with its problems in `issues`.
fn graphql_query(
    api: ShopifyApi,
    resource: &str,
    query: Option<&str>,
    incremental: bool,
    issues: &mut Vec<ConfigIssue>,
) -> Option<GraphqlQuery> {
    let Some(text) = query else {
        return match Builtin::of(resource) {
            Some(b) => Some(GraphqlQuery::Builtin(b)),
            None => {
                issues.push(ConfigIssue::at(
                    "query",
                    format!(
                        "`{resource}` has no built-in GraphQL query (only `orders`, `customers` \
                         and `products` do): write one in `query`",
                    ),
                ));
                None
            }
        };
    };
    let before = issues.len();
    let root = match api {
        ShopifyApi::Bulk => {
            let problems = bulk_query::check_bulk(text);
            let valid = problems.is_empty();
            issues.extend(problems.into_iter().map(|p| ConfigIssue::at("query", p)));
            if valid && incremental {
                // Same path as at run time, with a sample filter: a validated query takes it.
                if let Err(message) =
                    inject_bulk_filter(text, "updated_at:>='2000-01-01T00:00:00Z'")
                {
                    issues.push(ConfigIssue::at(
                        "query",
                        format!("with `incremental`: {message}"),
                    ));
                }
            }
            String::new()
        }
        _ => match bulk_query::paged_root(text) {
            Ok(root) => root,
            Err(problems) => {
                issues.extend(problems.into_iter().map(|p| ConfigIssue::at("query", p)));
                String::new()
            }
        },
    };
    (issues.len() == before).then(|| GraphqlQuery::Custom {
        text: text.to_owned(),
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::super::queries::Selected;
    use super::*;

    fn parse(json: serde_json::Value) -> Result<ShopifySourceConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn issues(json: serde_json::Value) -> Vec<(String, String)> {
        let config = parse(json).expect("deserializes");
        match config.validate() {
            Ok(s) => panic!("expected errors, got {s:?}"),
            Err(e) => e.0.into_iter().map(|i| (i.path, i.message)).collect(),
        }
    }

    fn paths(json: serde_json::Value) -> Vec<String> {
        issues(json).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn parses_example_config() {
        let config = parse(serde_json::json!(
            {"conn_id": "shopify_default", "resource": "orders", "params": {"status": "any"}}
        ))
        .expect("example");
        let s = config.validate().expect("valid");
        assert_eq!(s.conn_id, "shopify_default");
        assert_eq!(s.api, ShopifyApi::Rest);
        assert_eq!(
            s.rest_params,
            [
                ("status".to_owned(), "any".to_owned()),
                ("limit".to_owned(), "250".to_owned())
            ]
        );
        assert_eq!(s.query, None);
        assert_eq!(s.incremental, None);
    }

    #[test]
    fn rejects_unknown_field() {
        let e =
            parse(serde_json::json!({"resource": "orders", "page_sise": 10})).expect_err("typo");
        assert!(e.to_string().contains("unknown field `page_sise`"), "{e}");
        let e = parse(serde_json::json!({"resource": "orders", "incremental": {"cursor": "x"}}))
            .expect_err("typo");
        assert!(e.to_string().contains("unknown field `cursor`"), "{e}");
    }

    #[test]
    fn rest_defaults_add_status_any_for_orders_and_limit_from_page_size() {
        let s = parse(serde_json::json!({
            "resource": "orders", "page_size": 50,
            "params": {"financial_status": "paid", "since_id": 12, "test": false}
        }))
        .expect("valid")
        .validate()
        .expect("valid");
        assert_eq!(s.conn_id, "shopify_default");
        assert_eq!(
            s.rest_params,
            [
                ("status", "any"),
                ("financial_status", "paid"),
                ("since_id", "12"),
                ("test", "false"),
                ("limit", "50")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let s = parse(serde_json::json!({"resource": "customers"}))
            .expect("valid")
            .validate()
            .expect("valid");
        assert_eq!(s.rest_params, [("limit".to_owned(), "250".to_owned())]);
    }

    #[test]
    fn reports_every_problem_at_its_path() {
        let found = paths(serde_json::json!({
            "conn_id": "",
            "resource": "Orders.json",
            "page_size": 251,
            "api_version": "2024-02",
            "params": {"limit": 10, "page_info": "x", "updated_at_min": "2024", "ids": [1, 2]},
            "query": "{ orders { edges { node { id } } } }",
            "incremental": {"cursor_field": "updated_at", "lookback": "8 days", "start": "yesterday"},
            "on_bulk_in_progress": "fail"
        }));
        assert_eq!(
            found,
            [
                "conn_id",
                "resource",
                "page_size",
                "api_version",
                "incremental.lookback",
                "incremental.start",
                "on_bulk_in_progress",
                "query",
                "params.limit",
                "params.page_info",
                "params.ids",
            ]
        );
        // With incremental, `fields` must keep what the cursor reads.
        let errors = parse(serde_json::json!({
            "resource": "orders", "params": {"fields": "id,total_price"},
            "incremental": {"lookback": "5m"}
        }))
        .expect("typed")
        .validate()
        .expect_err("fields without updated_at");
        let messages: Vec<String> = errors.issues().iter().map(|i| i.to_string()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains("params.fields") && messages[0].contains("`updated_at`"),
            "{messages:?}"
        );
        assert!(
            parse(serde_json::json!({
                "resource": "orders", "params": {"fields": "id, updated_at,total_price"},
                "incremental": {}
            }))
            .expect("typed")
            .validate()
            .is_ok()
        );
        // With valid incremental settings, `updated_at_min` is the cursor's.
        let found = issues(serde_json::json!({
            "resource": "orders", "params": {"updated_at_min": "2024-01-01"},
            "incremental": {"lookback": "5m"}
        }));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "params.updated_at_min");
        assert_eq!(
            paths(serde_json::json!({"resource": "orders", "page_size": 0})),
            ["page_size"]
        );
    }

    #[test]
    fn incremental_settings_resolve() {
        let s = parse(serde_json::json!({
            "resource": "orders",
            "incremental": {"lookback": "5m", "start": "2024-01-01T01:00:00+01:00"}
        }))
        .expect("valid")
        .validate()
        .expect("valid");
        let inc = s.incremental.expect("on");
        assert_eq!(inc.cursor_field, "updated_at");
        assert_eq!(inc.lookback, Duration::from_secs(300));
        assert_eq!(inc.start, parse_instant("2024-01-01T00:00:00Z"));
        let s = parse(serde_json::json!({"resource": "orders", "incremental": {}}))
            .expect("valid")
            .validate()
            .expect("valid");
        assert_eq!(s.incremental.map(|i| i.lookback), Some(Duration::ZERO));
        assert!(is_api_version("2025-10") && is_api_version("unstable"));
        assert!(!is_api_version("2025-1") && !is_api_version("25-01"));
    }

    #[test]
    fn graphql_uses_builtin_queries_or_checks_the_users() {
        let s = parse(serde_json::json!({"resource": "products", "api": "graphql"}))
            .expect("valid")
            .validate()
            .expect("valid");
        assert_eq!(s.query, Some(GraphqlQuery::Builtin(Builtin::Products)));
        assert!(s.rest_params.is_empty());
        let found = issues(serde_json::json!({
            "resource": "draft_orders", "api": "graphql", "params": {"status": "open"}
        }));
        assert_eq!(found[0].0, "params");
        assert_eq!(found[1].0, "query");
        assert!(
            found[1].1.contains("no built-in GraphQL query"),
            "{}",
            found[1].1
        );
        let q = "query($first: Int!, $after: String, $query: String) { draftOrders(first: \
                 $first, after: $after, query: $query) { pageInfo { hasNextPage endCursor } \
                 nodes { id updatedAt } } }";
        let s =
            parse(serde_json::json!({"resource": "draft_orders", "api": "graphql", "query": q}))
                .expect("valid")
                .validate()
                .expect("valid");
        assert_eq!(
            s.query.as_ref().map(|q| q.paged_root()),
            Some("draftOrders")
        );
        let found = issues(serde_json::json!({
            "resource": "draft_orders", "api": "graphql", "query": "{ draftOrders { nodes { id } } }"
        }));
        assert!(
            found.iter().all(|(p, _)| p == "query") && found.len() > 1,
            "{found:?}"
        );
    }

    #[test]
    fn bulk_queries_shopify_would_reject_are_config_errors() {
        let found = issues(serde_json::json!({
            "resource": "orders", "api": "bulk", "query": "{ orders { nodes { id } } }"
        }));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "query");
        assert!(
            found[0]
                .1
                .contains("Selecting via 'nodes' is not supported")
        );
        let found = issues(serde_json::json!({
            "resource": "orders", "api": "bulk", "incremental": {},
            "query": "{ orders(query: \"tag:x\") { edges { node { id updatedAt } } } }"
        }));
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .1
                .starts_with("with `incremental`: the root connection `orders` already has")
        );
        let s = parse(serde_json::json!({
            "resource": "orders", "api": "bulk", "on_bulk_in_progress": "fail",
            "incremental": {}, "query": "{ orders { edges { node { id updatedAt } } } }"
        }))
        .expect("valid")
        .validate()
        .expect("valid");
        assert_eq!(s.on_bulk_in_progress, OnBulkInProgress::Fail);
        let doc = s.query.as_ref().map(|q| {
            q.bulk_document(
                Some("updated_at:>='2024-01-01T00:00:00Z'"),
                &Selected::default(),
            )
        });
        assert!(matches!(doc, Some(Ok(d)) if d.contains("orders(query: ")));
    }

    #[test]
    fn schema_has_descriptions() {
        let schema = schemars::schema_for!(ShopifySourceConfig);
        let text = serde_json::to_string(&schema).unwrap_or_default();
        assert!(text.contains("Records per page, 1 to 250"), "{text}");
        assert!(text.contains("\"additionalProperties\":false"), "{text}");
    }
}
