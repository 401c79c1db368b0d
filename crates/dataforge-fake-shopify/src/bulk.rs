//! Bulk operations: `bulkOperationRunQuery`, polling, cancel, and the JSONL download served
//! by the second listener (generated while it streams).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use graphql_parser::query::{Definition, OperationDefinition};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::data::Resource;
use crate::graphql::{self, Ctx, Doc, Fld, Kind, Sel};
use crate::{Shared, lock};

/// Size of the chunks a download is streamed in.
const CHUNK: usize = 64 * 1024;

/// Counts of a finished operation's file.
#[derive(Clone, Copy, Debug)]
struct Summary {
    objects: u64,
    roots: u64,
    bytes: u64,
    done: Instant,
}

/// What a bulk query selects, with the matching roots fixed at creation.
struct Plan {
    doc: Doc,
    resource: Resource,
    roots: Vec<usize>,
}

struct BulkOp {
    n: u64,
    query: String,
    created: Instant,
    created_at: DateTime<Utc>,
    plan: Arc<Plan>,
    canceled_at: Option<Instant>,
    fail: Option<String>,
    summary: Arc<Mutex<Option<Summary>>>,
}

/// All bulk operations of the shop.
#[derive(Default)]
pub(crate) struct BulkState {
    ops: Vec<BulkOp>,
    next: u64,
}

fn gid(n: u64) -> String {
    format!("gid://shopify/BulkOperation/{n}")
}

impl BulkOp {
    fn status(&self, s: &Shared, now: Instant) -> &'static str {
        let d = s.config.bulk_duration;
        if let Some(c) = self.canceled_at {
            return if now.duration_since(c) < d / 5 {
                "CANCELING"
            } else {
                "CANCELED"
            };
        }
        let el = now.duration_since(self.created);
        if el < d / 5 {
            return "CREATED";
        }
        if el < d || lock(&self.summary).is_none() {
            return "RUNNING";
        }
        if self.fail.is_some() {
            "FAILED"
        } else {
            "COMPLETED"
        }
    }

    fn json(&self, s: &Shared) -> Value {
        let now = Instant::now();
        let status = self.status(s, now);
        let summary = *lock(&self.summary);
        let finished = matches!(status, "COMPLETED" | "FAILED");
        let completed_at = summary.filter(|_| finished).map(|sm| {
            let end = sm.done.max(self.created + s.config.bulk_duration);
            let at = self.created_at
                + chrono::Duration::from_std(end.duration_since(self.created)).unwrap_or_default();
            at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
        let (objects, roots, size) = match (status, summary) {
            ("COMPLETED", Some(sm)) => (sm.objects, sm.roots, Some(sm.bytes)),
            ("FAILED", Some(sm)) => (sm.objects / 2, sm.roots / 2, None),
            (_, Some(sm)) if status == "RUNNING" => (sm.objects / 2, sm.roots / 2, None),
            _ => (0, 0, None),
        };
        let sig = format!(
            "{:016x}",
            (self.n ^ s.config.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        );
        let url = |file: String| {
            format!(
                "{}/bulk/{file}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=604800&X-Goog-Signature={sig}&response-content-type=application%2Fjsonl",
                s.download_base
            )
        };
        let completed_url =
            (status == "COMPLETED" && objects > 0).then(|| url(format!("{}.jsonl", self.n)));
        let partial = (status == "FAILED").then(|| url(format!("{}-partial.jsonl", self.n)));
        json!({
            "id": gid(self.n),
            "status": status,
            "type": "QUERY",
            "errorCode": if status == "FAILED" { self.fail.clone() } else { None },
            "createdAt": self.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "completedAt": completed_at,
            "objectCount": objects.to_string(),
            "rootObjectCount": roots.to_string(),
            "fileSize": if status == "COMPLETED" && objects > 0 { size.map(|b| b.to_string()) } else { None },
            "url": completed_url,
            "partialDataUrl": partial,
            "query": self.query,
        })
    }

    fn running(&self, s: &Shared, now: Instant) -> bool {
        matches!(self.status(s, now), "CREATED" | "RUNNING" | "CANCELING")
    }
}

fn user_error(field: Value, message: &str, code: Value) -> Value {
    json!({"bulkOperation": null, "userErrors": [{"field": field, "message": message, "code": code}]})
}

fn invalid(message: &str) -> Value {
    user_error(json!(["query"]), message, json!("INVALID"))
}

struct ConnInfo {
    name: String,
    depth: usize,
    nodes: bool,
    parent_has_id: bool,
}

/// Collects the connections of a bulk query syntactically (a field selecting `edges` or `nodes`).
fn walk(ctx: &Ctx<'_>, sel: &Sel, depth: usize, parent_has_id: bool, out: &mut Vec<ConnInfo>) {
    for f in ctx.fields("*", sel) {
        let sub = ctx.fields("*", &f.selection_set);
        let edges = sub.iter().find(|x| x.name == "edges");
        let nodes = sub.iter().find(|x| x.name == "nodes");
        if edges.is_none() && nodes.is_none() {
            walk(ctx, &f.selection_set, depth, parent_has_id, out);
            continue;
        }
        out.push(ConnInfo {
            name: f.name.clone(),
            depth: depth + 1,
            nodes: nodes.is_some(),
            parent_has_id,
        });
        let mut node_sels: Vec<&Sel> = Vec::new();
        if let Some(e) = edges {
            node_sels.extend(
                ctx.fields("*", &e.selection_set)
                    .into_iter()
                    .filter(|x| x.name == "node")
                    .map(|x| &x.selection_set),
            );
        }
        if let Some(n) = nodes {
            node_sels.push(&n.selection_set);
        }
        for ns in node_sels {
            let has_id = ctx
                .fields("*", ns)
                .iter()
                .any(|x| x.name == "id" && x.alias.is_none());
            walk(ctx, ns, depth + 1, has_id, out);
        }
    }
}

/// Validates a bulk query; on success the root resource and its `query:` filter.
fn validate(query: &str) -> Result<(Doc, Resource), Value> {
    let doc = graphql::parse(query).map_err(|e| {
        invalid(&format!(
            "Invalid bulk query: {}",
            e.0["message"].as_str().unwrap_or_default()
        ))
    })?;
    let ctx = Ctx::new(&doc, Map::new());
    let mut sel = None;
    for d in &doc.definitions {
        match d {
            Definition::Operation(OperationDefinition::Query(q)) => {
                sel = sel.or(Some(&q.selection_set))
            }
            Definition::Operation(OperationDefinition::SelectionSet(s)) => sel = sel.or(Some(s)),
            Definition::Operation(_) => {
                return Err(invalid(
                    "Invalid operation type. Only `query` operations are supported.",
                ));
            }
            Definition::Fragment(_) => {}
        }
    }
    let Some(sel) = sel else {
        return Err(invalid(
            "Bulk queries must contain at least one connection.",
        ));
    };
    let roots = ctx.fields("*", sel);
    if roots.iter().any(|f| f.name == "node") {
        return Err(invalid(
            "Bulk queries cannot contain a top level `node` field.",
        ));
    }
    let mut conns = Vec::new();
    walk(&ctx, sel, 0, true, &mut conns);
    let with_nodes: Vec<String> = conns
        .iter()
        .filter(|c| c.nodes)
        .map(|c| format!("'{}'", c.name))
        .collect();
    if !with_nodes.is_empty() {
        return Err(invalid(&format!(
            "All connection fields in a bulk query must select their contents using 'edges' > 'node', e.g: 'orders {{ edges {{ node {{'. Selecting via 'nodes' is not supported. Invalid connection fields: {}.",
            with_nodes.join(", ")
        )));
    }
    if conns.is_empty() {
        return Err(invalid(
            "Bulk queries must contain at least one connection.",
        ));
    }
    if conns.iter().any(|c| c.depth > 2) {
        return Err(invalid(
            "Bulk queries cannot contain connections with a nesting depth greater than 2.",
        ));
    }
    if conns.len() > 5 {
        return Err(invalid(
            "Bulk queries cannot contain more than 5 connections.",
        ));
    }
    let no_id: Vec<&str> = conns
        .iter()
        .filter(|c| c.depth > 1 && !c.parent_has_id)
        .map(|c| c.name.as_str())
        .collect();
    if !no_id.is_empty() {
        return Err(invalid(&format!(
            "The parent 'node' field for a nested connection must select the 'id' field without an alias and must be of 'ID' return type. Connection fields without 'id': {}.",
            no_id.join(", ")
        )));
    }
    let root = roots
        .iter()
        .find_map(|f| Resource::parse(&f.name).map(|r| (r, *f)));
    let Some((resource, f)) = root else {
        return Err(invalid(
            "Bulk queries must contain at least one connection.",
        ));
    };
    let mut path = vec![Value::String(f.name.clone())];
    let node = resource.type_name();
    let edges = ctx.fields("*", &f.selection_set);
    for e in edges {
        for n in ctx
            .fields("*", &e.selection_set)
            .into_iter()
            .filter(|x| x.name == "node")
        {
            if let Err(err) = graphql::check(&ctx, node, &n.selection_set, &mut path, Some(250)) {
                return Err(invalid(
                    err.0["message"].as_str().unwrap_or("Invalid bulk query"),
                ));
            }
        }
    }
    drop(ctx);
    Ok((doc, resource))
}

/// The root connection field of a validated plan.
fn root_field(doc: &Doc, resource: Resource) -> Option<&Fld> {
    for d in &doc.definitions {
        let sel = match d {
            Definition::Operation(OperationDefinition::Query(q)) => &q.selection_set,
            Definition::Operation(OperationDefinition::SelectionSet(s)) => s,
            _ => continue,
        };
        for i in &sel.items {
            if let graphql_parser::query::Selection::Field(f) = i
                && Resource::parse(&f.name) == Some(resource)
            {
                return Some(f);
            }
        }
    }
    None
}

/// The node selection (`edges { node { … } }`) of a connection field.
fn node_selection<'a>(ctx: &'a Ctx<'_>, f: &'a Fld) -> Vec<&'a Sel> {
    let mut out = Vec::new();
    for e in ctx.fields("*", &f.selection_set) {
        if e.name == "edges" {
            for n in ctx.fields("*", &e.selection_set) {
                if n.name == "node" {
                    out.push(&n.selection_set);
                }
            }
        }
    }
    out
}

/// Appends the JSONL lines of root number `k` (index `i` in the store) to `out`; returns the
/// number of objects written. Children of every third root come before their parent.
fn lines_for(
    s: &Shared,
    ctx: &Ctx<'_>,
    plan: &Plan,
    root: &Fld,
    k: usize,
    out: &mut Vec<u8>,
) -> u64 {
    let i = plan.roots[k];
    let value = {
        let metas = s.store.metas(plan.resource);
        let Some(m) = metas.get(i) else { return 0 };
        s.store.graphql(plan.resource, i, m)
    };
    let ty = plan.resource.type_name();
    let mut parent = Map::new();
    let mut children: Vec<Value> = Vec::new();
    let parent_id = value.get("id").cloned().unwrap_or(Value::Null);
    for sel in node_selection(ctx, root) {
        for f in ctx.fields(ty, sel) {
            match graphql::field_kind(ty, &f.name) {
                Some(Kind::Connection(child_ty)) => {
                    let items = value
                        .get(&f.name)
                        .and_then(Value::as_array)
                        .map_or(&[][..], Vec::as_slice);
                    for item in items {
                        for cs in node_selection(ctx, f) {
                            let mut c = match graphql::project(ctx, child_ty, cs, item, &mut 0) {
                                Value::Object(m) => m,
                                _ => Map::new(),
                            };
                            c.insert("__parentId".to_owned(), parent_id.clone());
                            children.push(Value::Object(c));
                        }
                    }
                }
                _ => {
                    parent.insert(
                        graphql::key(f),
                        graphql::project_field(ctx, ty, f, &value, &mut 0),
                    );
                }
            }
        }
    }
    let write = |v: &Value, out: &mut Vec<u8>| {
        if serde_json::to_writer(&mut *out, v).is_ok() {
            out.push(b'\n');
        }
    };
    let parent = Value::Object(parent);
    if k % 3 == 1 {
        children.iter().for_each(|c| write(c, out));
        write(&parent, out);
    } else {
        write(&parent, out);
        children.iter().for_each(|c| write(c, out));
    }
    1 + children.len() as u64
}

/// Generates the file (or its byte range `skip..skip+take`) and hands chunks to `emit`;
/// stops when `emit` returns false. Returns (objects, bytes) of the whole pass.
fn generate(
    s: &Shared,
    plan: &Plan,
    roots: usize,
    skip: u64,
    take: u64,
    mut emit: impl FnMut(Bytes) -> bool,
) -> (u64, u64) {
    let ctx = Ctx::new(&plan.doc, Map::new());
    let Some(root) = root_field(&plan.doc, plan.resource) else {
        return (0, 0);
    };
    let mut pos = 0u64;
    let mut objects = 0u64;
    let mut line = Vec::with_capacity(4096);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let stop = skip.saturating_add(take);
    for k in 0..roots {
        line.clear();
        objects += lines_for(s, &ctx, plan, root, k, &mut line);
        let (a, b) = (pos, pos + line.len() as u64);
        if b > skip && a < stop {
            let from = skip.saturating_sub(a) as usize;
            let to = (stop.min(b) - a) as usize;
            buf.extend_from_slice(&line[from..to]);
        }
        pos = b;
        if buf.len() >= CHUNK && !emit(Bytes::from(std::mem::take(&mut buf))) {
            return (objects, pos);
        }
        if pos >= stop {
            break;
        }
    }
    if !buf.is_empty() {
        emit(Bytes::from(buf));
    }
    (objects, pos)
}

fn api_version_allows_five(version: &str) -> bool {
    version == "unstable" || version >= "2026-01"
}

/// `bulkOperationRunQuery(query:)`: the payload `{bulkOperation, userErrors}`.
pub(crate) fn run(s: &Arc<Shared>, version: &str, query: &str) -> Value {
    let (doc, resource) = match validate(query) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let now = Instant::now();
    let mut st = lock(&s.bulk);
    let running: Vec<u64> = st
        .ops
        .iter()
        .filter(|o| o.running(s, now))
        .map(|o| o.n)
        .collect();
    let cap = if api_version_allows_five(version) {
        5
    } else {
        1
    };
    if running.len() >= cap {
        let msg = format!(
            "A bulk query operation for this app and shop is already in progress: {}.",
            gid(running[0])
        );
        return user_error(Value::Null, &msg, json!("OPERATION_IN_PROGRESS"));
    }
    // the roots: the root connection's `query:` filter, ascending by id
    let roots = {
        let ctx = Ctx::new(&doc, Map::new());
        let filter = root_field(&doc, resource)
            .and_then(|f| ctx.arg(f, "query"))
            .and_then(|v| v.as_str().map(graphql::parse_search))
            .unwrap_or_default();
        let metas = s.store.metas(resource);
        (0..metas.len())
            .filter(|&i| filter.matches(&metas[i]))
            .collect::<Vec<_>>()
    };
    st.next += 1;
    let n = 1_000_000_000 + st.next;
    let plan = Arc::new(Plan {
        doc,
        resource,
        roots,
    });
    let summary = Arc::new(Mutex::new(None));
    {
        let (s2, plan2, sum2) = (s.clone(), plan.clone(), summary.clone());
        tokio::task::spawn_blocking(move || {
            let (objects, bytes) = generate(&s2, &plan2, plan2.roots.len(), 0, u64::MAX, |_| true);
            *lock(&sum2) = Some(Summary {
                objects,
                roots: plan2.roots.len() as u64,
                bytes,
                done: Instant::now(),
            });
        });
    }
    let op = BulkOp {
        n,
        query: query.to_owned(),
        created: now,
        created_at: Utc::now(),
        plan,
        canceled_at: None,
        fail: s.config.bulk_fail.clone(),
        summary,
    };
    let v = op.json(s);
    st.ops.push(op);
    drop(st);
    s.stats().bulk_started += 1;
    json!({"bulkOperation": v, "userErrors": []})
}

/// `bulkOperationCancel(id:)`.
pub(crate) fn cancel(s: &Shared, id: &str) -> Value {
    let now = Instant::now();
    let mut st = lock(&s.bulk);
    let Some(op) = st.ops.iter_mut().find(|o| gid(o.n) == id) else {
        return user_error(json!(["id"]), "Bulk operation does not exist", Value::Null);
    };
    if !op.running(s, now) || op.canceled_at.is_some() {
        return user_error(
            Value::Null,
            "A bulk operation cannot be canceled when it is completed",
            Value::Null,
        );
    }
    op.canceled_at = Some(now);
    let v = op.json(s);
    drop(st);
    s.stats().bulk_canceled += 1;
    json!({"bulkOperation": v, "userErrors": []})
}

/// A bulk operation by GID.
pub(crate) fn get(s: &Shared, id: &str) -> Option<Value> {
    lock(&s.bulk)
        .ops
        .iter()
        .find(|o| gid(o.n) == id)
        .map(|o| o.json(s))
}

/// The newest bulk operation.
pub(crate) fn current(s: &Shared) -> Option<Value> {
    lock(&s.bulk).ops.last().map(|o| o.json(s))
}

/// `GET /bulk/{n}.jsonl` (or `{n}-partial.jsonl`) on the download listener.
pub(crate) async fn download(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    req: Request,
) -> Response {
    let signed = req
        .uri()
        .query()
        .is_some_and(|q| q.contains("X-Goog-Signature="));
    if !signed {
        return (
            StatusCode::FORBIDDEN,
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code></Error>",
        )
            .into_response();
    }
    let Some(stem) = file.strip_suffix(".jsonl") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (num, partial) = match stem.strip_suffix("-partial") {
        Some(n) => (n, true),
        None => (stem, false),
    };
    let Ok(n) = num.parse::<u64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = Instant::now();
    let found = {
        let st = lock(&s.bulk);
        st.ops
            .iter()
            .find(|o| o.n == n)
            .map(|o| (o.plan.clone(), o.status(&s, now), *lock(&o.summary)))
    };
    let Some((plan, status, Some(summary))) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if (partial && status != "FAILED") || (!partial && status != "COMPLETED") {
        return StatusCode::NOT_FOUND.into_response();
    }
    s.stats().downloads += 1;
    let (roots, size) = if partial {
        (plan.roots.len() / 2, None)
    } else {
        (plan.roots.len(), Some(summary.bytes))
    };
    let range = req
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok())));
    let (skip, take, status_code) = match (range, size) {
        (Some((a, b)), Some(size)) => {
            if a >= size {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert("content-range", v);
                }
                return r;
            }
            let last = b.unwrap_or(size - 1).min(size - 1);
            (a, last + 1 - a, StatusCode::PARTIAL_CONTENT)
        }
        _ => (0, u64::MAX, StatusCode::OK),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        generate(&s2, &plan, roots, skip, take, |b| {
            tx.blocking_send(b).is_ok()
        });
    });
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<Bytes, std::io::Error>))
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status_code;
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/jsonl"),
    );
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    if let Some(size) = size {
        let len = take.min(size - skip);
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            h.insert("content-length", v);
        }
        if status_code == StatusCode::PARTIAL_CONTENT
            && let Ok(v) = HeaderValue::from_str(&format!("bytes {skip}-{}/{size}", skip + len - 1))
        {
            h.insert("content-range", v);
        }
    }
    r
}
