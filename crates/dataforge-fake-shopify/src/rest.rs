//! The REST Admin API: `GET /admin/api/{version}/{resource}.json` and `…/count.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value, json};

use crate::data::{Meta, Resource};
use crate::{Dropping, Shared, json_error, json_response};

/// `YYYY-(01|04|07|10)` or `unstable`.
pub(crate) fn valid_version(v: &str) -> bool {
    if v == "unstable" {
        return true;
    }
    let b = v.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && matches!(&v[5..], "01" | "04" | "07" | "10")
}

/// Parameters that are filters (kept in `page_info`, refused beside it).
const FILTERS: &[&str] = &[
    "status",
    "updated_at_min",
    "updated_at_max",
    "created_at_min",
    "created_at_max",
    "since_id",
    "ids",
];

pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    Path((version, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    s.stats().rest_requests += 1;
    let dropping = req.extensions().get::<Dropping>().is_some();
    let mut resp = answer(&s, &version, &rest, &req, dropping);
    let (used, size) = {
        let b = crate::lock(&s.rest_bucket);
        (b.used.ceil() as u32, s.config.rest_bucket_size)
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{used}/{size}")) {
        resp.headers_mut()
            .insert("x-shopify-shop-api-call-limit", v);
    }
    resp
}

fn answer(s: &Shared, version: &str, rest: &str, req: &Request, dropping: bool) -> Response {
    if let Some(r) = s.check_token(req.headers()) {
        return r;
    }
    if !valid_version(version) {
        return not_found();
    }
    if let Some(r) = s.check_shop() {
        return r;
    }
    if let Some(r) = admit(s, dropping) {
        return r;
    }
    let Some(path) = rest.strip_suffix(".json") else {
        return not_found();
    };
    let mut parts = path.split('/');
    let name = parts.next().unwrap_or_default();
    let tail: Vec<&str> = parts.collect();
    let resource = Resource::parse(name);
    let scope = match (resource, name) {
        (Some(r), _) => r.scope(),
        (None, "draft_orders") => "read_draft_orders",
        (None, "inventory_items") => "read_inventory",
        _ => return not_found(),
    };
    if !s.has_scope(scope) {
        return json_response(
            StatusCode::FORBIDDEN,
            format!(
                r#"{{"errors":"[API] This action requires merchant approval for {scope} scope."}}"#
            ),
        );
    }
    let params: Vec<(String, String)> =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri())
            .map(|q| q.0)
            .unwrap_or_default();
    let Some(resource) = resource else {
        // draft_orders, inventory_items: known, empty
        return match tail.as_slice() {
            [] => json_response(StatusCode::OK, format!(r#"{{"{name}":[]}}"#)),
            ["count"] => json_response(StatusCode::OK, r#"{"count":0}"#.to_owned()),
            _ => not_found(),
        };
    };
    match tail.as_slice() {
        [] => list(s, version, name, resource, &params),
        ["count"] => count(s, resource, &params),
        [id] => single(s, resource, id),
        _ => not_found(),
    }
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#)
}

fn bad_request(body: Value) -> Response {
    json_response(StatusCode::BAD_REQUEST, body.to_string())
}

/// The leaky bucket: leak, then admit or answer 429.
fn admit(s: &Shared, dropping: bool) -> Option<Response> {
    let now = tokio::time::Instant::now();
    let size = f64::from(s.config.rest_bucket_size);
    let leak = s.config.rest_leak_per_sec;
    let mut b = crate::lock(&s.rest_bucket);
    let elapsed = now.duration_since(b.at).as_secs_f64();
    b.used = (b.used - elapsed * leak).max(0.0);
    b.at = now;
    if b.used + 1.0 > size {
        let wait = if leak > 0.0 {
            ((b.used + 1.0 - size) / leak).ceil().max(1.0)
        } else {
            60.0
        };
        drop(b);
        s.stats().rest_429 += 1;
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#,
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{wait:.1}")) {
            r.headers_mut().insert("retry-after", v);
        }
        return Some(r);
    }
    if dropping {
        return None;
    }
    b.used += 1.0;
    let used = b.used.ceil() as u32;
    drop(b);
    let mut st = s.stats();
    st.rest_accepted_at.push(now.duration_since(s.start));
    st.max_rest_used = st.max_rest_used.max(used);
    None
}

/// A timestamp parameter: RFC 3339 (offset or `Z`) or a plain date (midnight UTC).
fn parse_time(v: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp());
    }
    let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

#[derive(Default)]
struct Filters {
    status: Option<String>,
    updated_min: Option<i64>,
    updated_max: Option<i64>,
    created_min: Option<i64>,
    created_max: Option<i64>,
    since_id: Option<i64>,
    ids: Option<Vec<i64>>,
}

impl Filters {
    fn parse(resource: Resource, map: &BTreeMap<String, String>) -> Result<Filters, Response> {
        let mut f = Filters::default();
        let time = |k: &str| -> Result<Option<i64>, Response> {
            match map.get(k) {
                None => Ok(None),
                Some(v) => parse_time(v)
                    .map(Some)
                    .ok_or_else(|| bad_request(json!({"errors": {k: format!("{k} is invalid")}}))),
            }
        };
        f.updated_min = time("updated_at_min")?;
        f.updated_max = time("updated_at_max")?;
        f.created_min = time("created_at_min")?;
        f.created_max = time("created_at_max")?;
        if let Some(v) = map.get("since_id") {
            f.since_id = Some(v.parse().map_err(|_| {
                bad_request(json!({"errors": {"since_id": "since_id is invalid"}}))
            })?);
        }
        if let Some(v) = map.get("ids") {
            let ids: Result<Vec<i64>, _> = v
                .split(',')
                .filter(|x| !x.trim().is_empty())
                .map(|x| x.trim().parse())
                .collect();
            f.ids =
                Some(ids.map_err(|_| bad_request(json!({"errors": {"ids": "ids is invalid"}})))?);
        }
        if resource == Resource::Orders {
            let st = map.get("status").map_or("open", String::as_str);
            if !matches!(st, "open" | "closed" | "cancelled" | "any") {
                return Err(bad_request(
                    json!({"errors": {"status": "status is invalid"}}),
                ));
            }
            f.status = Some(st.to_owned());
        }
        Ok(f)
    }

    fn matches(&self, m: &Meta) -> bool {
        if let Some(st) = &self.status
            && st != "any"
            && m.status() != st
        {
            return false;
        }
        self.updated_min.is_none_or(|t| m.updated >= t)
            && self.updated_max.is_none_or(|t| m.updated <= t)
            && self.created_min.is_none_or(|t| m.created >= t)
            && self.created_max.is_none_or(|t| m.created <= t)
            && self.since_id.is_none_or(|t| m.id > t)
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&m.id))
    }

    /// Indices of the matching records in display order: ascending with `since_id`, else
    /// descending by id.
    fn select(&self, metas: &[Meta]) -> Vec<usize> {
        let mut v: Vec<usize> = (0..metas.len())
            .filter(|&i| self.matches(&metas[i]))
            .collect();
        if self.since_id.is_none() {
            v.reverse();
        }
        v
    }
}

fn count(s: &Shared, resource: Resource, params: &[(String, String)]) -> Response {
    let map: BTreeMap<String, String> = params.iter().cloned().collect();
    let f = match Filters::parse(resource, &map) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let metas = s.store.metas(resource);
    let n = metas.iter().filter(|m| f.matches(m)).count();
    json_response(StatusCode::OK, json!({ "count": n }).to_string())
}

fn single(s: &Shared, resource: Resource, id: &str) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let metas = s.store.metas(resource);
    let Ok(i) = metas.binary_search_by_key(&id, |m| m.id) else {
        return not_found();
    };
    let key = match resource {
        Resource::Orders => "order",
        Resource::Customers => "customer",
        Resource::Products => "product",
    };
    json_response(
        StatusCode::OK,
        json!({ key: s.store.rest(resource, i, &metas[i]) }).to_string(),
    )
}

fn encode_page_info(direction: &str, id: i64, filters: &BTreeMap<String, String>) -> String {
    let v = json!({"direction": direction, "last_id": id, "last_value": id, "filters": filters});
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_page_info(p: &str) -> Option<(String, i64, BTreeMap<String, String>)> {
    let raw = URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let dir = v.get("direction")?.as_str()?.to_owned();
    if dir != "next" && dir != "prev" {
        return None;
    }
    let id = v.get("last_id")?.as_i64()?;
    let filters: BTreeMap<String, String> =
        serde_json::from_value(v.get("filters")?.clone()).ok()?;
    Some((dir, id, filters))
}

fn list(
    s: &Shared,
    version: &str,
    name: &str,
    resource: Resource,
    params: &[(String, String)],
) -> Response {
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit") {
        None => 50usize,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 250 => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    r#"{"errors":"Limit exceeds maximum limit of 250"}"#,
                );
            }
            Ok(n) if n >= 1 => n as usize,
            _ => {
                return bad_request(json!({"errors": {"limit": "limit is invalid"}}));
            }
        },
    };
    let fields: Option<Vec<String>> = get("fields").map(|f| {
        f.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    });
    let (cursor, filter_map) = if let Some(pi) = get("page_info") {
        if let Some((k, _)) = params
            .iter()
            .find(|(k, _)| k != "limit" && k != "fields" && k != "page_info")
        {
            let msg = format!(
                "{k} cannot be passed when page_info is present. See https://shopify.dev/api/usage/pagination-rest for more information."
            );
            return bad_request(json!({"errors": {k.as_str(): msg}}));
        }
        match decode_page_info(pi) {
            Some((dir, id, filters)) => (Some((dir, id)), filters),
            None => return bad_request(json!({"errors": {"page_info": "Invalid value."}})),
        }
    } else {
        let map: BTreeMap<String, String> = params
            .iter()
            .filter(|(k, _)| FILTERS.contains(&k.as_str()))
            .cloned()
            .collect();
        (None, map)
    };
    let filters = match Filters::parse(resource, &filter_map) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let metas = s.store.metas(resource);
    let all = filters.select(&metas);
    let ascending = filters.since_id.is_some();
    // position of the page in `all`
    let after = |id: i64, m: &Meta| if ascending { m.id > id } else { m.id < id };
    let (start, end) = match cursor {
        None => (0, limit.min(all.len())),
        Some((dir, id)) if dir == "next" => {
            let start = all.partition_point(|&i| !after(id, &metas[i]));
            (start, (start + limit).min(all.len()))
        }
        Some((_, id)) => {
            // prev: the `limit` records just before `id`
            let end = all.partition_point(|&i| !after(id, &metas[i]) && metas[i].id != id);
            (end.saturating_sub(limit), end)
        }
    };
    let records: Vec<Value> = all[start..end]
        .iter()
        .map(|&i| {
            let rec = s.store.rest(resource, i, &metas[i]);
            match &fields {
                Some(f) => project(rec, f),
                None => rec,
            }
        })
        .collect();
    let mut links = Vec::new();
    let base = format!(
        "{}/admin/api/{version}/{name}.json?limit={limit}",
        s.api_base
    );
    let fields_q = get("fields")
        .map(|f| format!("&fields={}", f.replace(',', "%2C")))
        .unwrap_or_default();
    if start > 0 && end > start {
        let pi = encode_page_info("prev", metas[all[start]].id, &filter_map);
        links.push(format!(
            "<{base}{fields_q}&page_info={pi}>; rel=\"previous\""
        ));
    }
    if end < all.len() && end > start {
        let pi = encode_page_info("next", metas[all[end - 1]].id, &filter_map);
        links.push(format!("<{base}{fields_q}&page_info={pi}>; rel=\"next\""));
    }
    drop(metas);
    let mut body = Map::new();
    body.insert(name.to_owned(), Value::Array(records));
    let mut r = json_response(StatusCode::OK, Value::Object(body).to_string());
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        r.headers_mut().insert("link", v);
    }
    r
}

/// Keeps only the listed top-level keys, in the record's order.
fn project(rec: Value, fields: &[String]) -> Value {
    match rec {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(valid_version("2024-10"));
        assert!(valid_version("unstable"));
        assert!(!valid_version("2024-11"));
        assert!(!valid_version("latest"));
    }

    #[test]
    fn page_info_round_trip() {
        let mut f = BTreeMap::new();
        f.insert("status".to_owned(), "any".to_owned());
        let p = encode_page_info("next", 5, &f);
        assert!(!p.contains('='));
        assert_eq!(decode_page_info(&p), Some(("next".to_owned(), 5, f)));
        assert_eq!(decode_page_info("garbage!"), None);
    }
}
