//! The GraphQL Admin API: `POST /admin/api/{version}/graphql.json`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use graphql_parser::query::{
    Definition, Document, Field, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
    TypeCondition, Value as GValue,
};
use serde_json::{Map, Value, json};

use crate::data::{Meta, Resource};
use crate::{Shared, json_error, json_response};

/// Largest `first`/`last`.
const MAX_PAGE: i64 = 250;
/// Largest single-query cost.
const MAX_COST: u64 = 1000;
/// `first` assumed for a nested connection that gives none (bulk queries need none).
const DEFAULT_NESTED_FIRST: i64 = 10;

/// What a field of the fake schema returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar,
    Object(&'static str),
    Connection(&'static str),
}

/// The fake schema: the kind of `field` on type `ty`, `None` if the field does not exist.
pub(crate) fn field_kind(ty: &str, field: &str) -> Option<Kind> {
    use Kind::{Connection as C, Object as O, Scalar as S};
    if field == "__typename" {
        return Some(S);
    }
    if let Some(node) = ty.strip_suffix("Connection") {
        return match field {
            "edges" => Some(O(edge_type(node))),
            "nodes" => Some(O(static_type(node))),
            "pageInfo" => Some(O("PageInfo")),
            _ => None,
        };
    }
    if let Some(node) = ty.strip_suffix("Edge") {
        return match field {
            "cursor" => Some(S),
            "node" => Some(O(static_type(node))),
            _ => None,
        };
    }
    let k = match (ty, field) {
        ("QueryRoot", "orders") => C("Order"),
        ("QueryRoot", "customers") => C("Customer"),
        ("QueryRoot", "products") => C("Product"),
        ("QueryRoot", "order") => O("Order"),
        ("QueryRoot", "customer") => O("Customer"),
        ("QueryRoot", "product") => O("Product"),
        ("QueryRoot", "node") => O("Node"),
        ("QueryRoot", "bulkOperation" | "currentBulkOperation") => O("BulkOperation"),
        ("Mutation", "bulkOperationRunQuery") => O("BulkOperationRunQueryPayload"),
        ("Mutation", "bulkOperationCancel") => O("BulkOperationCancelPayload"),
        ("BulkOperationRunQueryPayload" | "BulkOperationCancelPayload", "bulkOperation") => {
            O("BulkOperation")
        }
        ("BulkOperationRunQueryPayload" | "BulkOperationCancelPayload", "userErrors") => {
            O("UserError")
        }
        ("UserError", "field" | "message" | "code") => S,
        (
            "BulkOperation",
            "id" | "status" | "type" | "errorCode" | "createdAt" | "completedAt" | "objectCount"
            | "rootObjectCount" | "fileSize" | "url" | "partialDataUrl" | "query",
        ) => S,
        ("PageInfo", "hasNextPage" | "hasPreviousPage" | "startCursor" | "endCursor") => S,
        (
            "Order",
            "id"
            | "legacyResourceId"
            | "name"
            | "email"
            | "createdAt"
            | "updatedAt"
            | "processedAt"
            | "closedAt"
            | "cancelledAt"
            | "closed"
            | "cancelReason"
            | "currencyCode"
            | "displayFinancialStatus"
            | "displayFulfillmentStatus"
            | "tags"
            | "note"
            | "test",
        ) => S,
        ("Order", "totalPriceSet" | "subtotalPriceSet" | "totalTaxSet") => O("MoneyBag"),
        ("Order", "customer") => O("Customer"),
        ("Order", "shippingAddress") => O("MailingAddress"),
        ("Order", "lineItems") => C("LineItem"),
        ("LineItem", "id" | "sku" | "title" | "quantity" | "vendor") => S,
        ("LineItem", "originalUnitPriceSet") => O("MoneyBag"),
        ("MoneyBag", "shopMoney" | "presentmentMoney") => O("MoneyV2"),
        ("MoneyV2", "amount" | "currencyCode") => S,
        (
            "MailingAddress",
            "firstName" | "lastName" | "address1" | "address2" | "city" | "provinceCode"
            | "countryCodeV2" | "zip",
        ) => S,
        (
            "Customer",
            "id" | "legacyResourceId" | "email" | "firstName" | "lastName" | "createdAt"
            | "updatedAt" | "numberOfOrders" | "tags" | "verifiedEmail" | "state",
        ) => S,
        ("Customer", "amountSpent") => O("MoneyV2"),
        (
            "Product",
            "id" | "legacyResourceId" | "title" | "handle" | "vendor" | "productType" | "status"
            | "tags" | "createdAt" | "updatedAt" | "publishedAt" | "totalInventory",
        ) => S,
        ("Product", "variants") => C("ProductVariant"),
        ("ProductVariant", "id" | "sku" | "price" | "title" | "inventoryQuantity") => S,
        ("Node", "id") => S,
        _ => return None,
    };
    Some(k)
}

fn static_type(name: &str) -> &'static str {
    match name {
        "Order" => "Order",
        "Customer" => "Customer",
        "Product" => "Product",
        "LineItem" => "LineItem",
        "ProductVariant" => "ProductVariant",
        _ => "Node",
    }
}

fn edge_type(name: &str) -> &'static str {
    match name {
        "Order" => "OrderEdge",
        "Customer" => "CustomerEdge",
        "Product" => "ProductEdge",
        "LineItem" => "LineItemEdge",
        "ProductVariant" => "ProductVariantEdge",
        _ => "NodeEdge",
    }
}

pub(crate) fn connection_type(node: &str) -> &'static str {
    match node {
        "Order" => "OrderConnection",
        "Customer" => "CustomerConnection",
        "Product" => "ProductConnection",
        "LineItem" => "LineItemConnection",
        "ProductVariant" => "ProductVariantConnection",
        _ => "NodeConnection",
    }
}

/// A GraphQL error object.
#[derive(Debug, Clone)]
pub(crate) struct GqlError(pub(crate) Value);

impl GqlError {
    fn new(message: impl Into<String>, code: &str) -> GqlError {
        GqlError(json!({"message": message.into(), "extensions": {"code": code}}))
    }

    fn at(
        message: impl Into<String>,
        pos: graphql_parser::Pos,
        path: &[Value],
        code: &str,
    ) -> GqlError {
        GqlError(json!({
            "message": message.into(),
            "locations": [{"line": pos.line, "column": pos.column}],
            "path": path,
            "extensions": {"code": code},
        }))
    }
}

pub(crate) type Doc = Document<'static, String>;
pub(crate) type Sel = SelectionSet<'static, String>;
pub(crate) type Fld = Field<'static, String>;

/// Parses a document, mapping parser errors to Shopify's `syntax error, …` text.
pub(crate) fn parse(query: &str) -> Result<Doc, GqlError> {
    match graphql_parser::parse_query::<String>(query) {
        Ok(d) => Ok(d.into_static()),
        Err(e) => {
            let text = e.to_string();
            let text = text.strip_prefix("query parse error: ").unwrap_or(&text);
            let mut lines = text.lines();
            let head = lines.next().unwrap_or_default();
            let (line, col) = head
                .strip_prefix("Parse error at ")
                .and_then(|p| p.split_once(':'))
                .map_or((1, 1), |(l, c)| {
                    (l.parse().unwrap_or(1), c.parse().unwrap_or(1))
                });
            let detail: Vec<String> = lines
                .filter(|l| !l.is_empty())
                .map(|l| {
                    if l.contains("end of input") {
                        "unexpected end of file".to_owned()
                    } else {
                        let mut c = l.chars();
                        c.next()
                            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    }
                })
                .collect();
            let detail = if detail.is_empty() {
                "unexpected token".to_owned()
            } else {
                detail.join(", ")
            };
            Err(GqlError::new(
                format!("syntax error, {detail} at [{line}, {col}]"),
                "PARSE_ERROR",
            ))
        }
    }
}

/// Document-wide context: variables and fragments.
pub(crate) struct Ctx<'d> {
    pub(crate) vars: Map<String, Value>,
    pub(crate) fragments: HashMap<String, &'d FragmentDefinition<'static, String>>,
}

impl<'d> Ctx<'d> {
    pub(crate) fn new(doc: &'d Doc, vars: Map<String, Value>) -> Ctx<'d> {
        let fragments = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::Fragment(f) => Some((f.name.clone(), f)),
                Definition::Operation(_) => None,
            })
            .collect();
        Ctx { vars, fragments }
    }

    /// The fields of a selection set that apply to type `ty` (fragments flattened).
    pub(crate) fn fields<'a>(&'a self, ty: &str, sel: &'a Sel) -> Vec<&'a Fld> {
        let mut out = Vec::new();
        self.collect(ty, sel, &mut out, 0);
        out
    }

    fn collect<'a>(&'a self, ty: &str, sel: &'a Sel, out: &mut Vec<&'a Fld>, depth: usize) {
        if depth > 20 {
            return;
        }
        for item in &sel.items {
            match item {
                Selection::Field(f) => out.push(f),
                Selection::InlineFragment(f) => {
                    let applies = match &f.type_condition {
                        None => true,
                        Some(TypeCondition::On(t)) => ty == "*" || t == ty || t == "Node",
                    };
                    if applies {
                        self.collect(ty, &f.selection_set, out, depth + 1);
                    }
                }
                Selection::FragmentSpread(s) => {
                    if let Some(fd) = self.fragments.get(&s.fragment_name) {
                        let TypeCondition::On(t) = &fd.type_condition;
                        if ty == "*" || t == ty || t == "Node" {
                            self.collect(ty, &fd.selection_set, out, depth + 1);
                        }
                    }
                }
            }
        }
    }

    /// An argument's JSON value, variables resolved.
    pub(crate) fn arg(&self, f: &Fld, name: &str) -> Option<Value> {
        let v = f
            .arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)?;
        let j = self.value(v);
        if j.is_null() { None } else { Some(j) }
    }

    fn value(&self, v: &GValue<'static, String>) -> Value {
        match v {
            GValue::Variable(n) => self.vars.get(n).cloned().unwrap_or(Value::Null),
            GValue::Int(n) => n.as_i64().map_or(Value::Null, Value::from),
            GValue::Float(x) => json!(x),
            GValue::String(s) => Value::String(s.clone()),
            GValue::Boolean(b) => Value::Bool(*b),
            GValue::Null => Value::Null,
            GValue::Enum(e) => Value::String(e.clone()),
            GValue::List(l) => Value::Array(l.iter().map(|x| self.value(x)).collect()),
            GValue::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), self.value(x))).collect())
            }
        }
    }
}

pub(crate) fn key(f: &Fld) -> String {
    f.alias.clone().unwrap_or_else(|| f.name.clone())
}

/// Static check of a selection on type `ty`: unknown fields, page sizes; returns the cost of
/// the selection (object fields 1 + their selection, connections 2 + first × node cost).
pub(crate) fn check(
    ctx: &Ctx<'_>,
    ty: &str,
    sel: &Sel,
    path: &mut Vec<Value>,
    nested_default: Option<i64>,
) -> Result<u64, GqlError> {
    let mut cost = 0u64;
    for f in ctx.fields(ty, sel) {
        path.push(Value::String(key(f)));
        let Some(kind) = field_kind(ty, &f.name) else {
            let mut e = GqlError::at(
                format!("Field '{}' doesn't exist on type '{ty}'", f.name),
                f.position,
                path,
                "undefinedField",
            );
            e.0["extensions"]["typeName"] = json!(ty);
            e.0["extensions"]["fieldName"] = json!(f.name);
            return Err(e);
        };
        match kind {
            Kind::Scalar => {}
            Kind::Object(t) => {
                if f.selection_set.items.is_empty() {
                    return Err(GqlError::at(
                        format!(
                            "Field must have selections (field '{}' returns {t} but has no selections. Did you mean '{} {{ ... }}'?)",
                            f.name, f.name
                        ),
                        f.position,
                        path,
                        "selectionMismatch",
                    ));
                }
                let inner = if t == "Node" { node_type_of(ctx, f) } else { t };
                cost += 1 + check(ctx, inner, &f.selection_set, path, nested_default)?;
            }
            Kind::Connection(node) => {
                let n = page_size(ctx, f, path, nested_default)?;
                let node_cost =
                    1 + connection_node_cost(ctx, node, &f.selection_set, path, nested_default)?;
                cost += 2 + n * node_cost;
            }
        }
        path.pop();
    }
    Ok(cost)
}

/// The cost of one node of a connection (its `edges { node }` / `nodes` selections).
fn connection_node_cost(
    ctx: &Ctx<'_>,
    node: &str,
    sel: &Sel,
    path: &mut Vec<Value>,
    nested_default: Option<i64>,
) -> Result<u64, GqlError> {
    let conn = connection_type(node);
    let mut best = 0;
    for f in ctx.fields(conn, sel) {
        path.push(Value::String(key(f)));
        let c = match (field_kind(conn, &f.name), f.name.as_str()) {
            (None, _) => {
                let mut e = GqlError::at(
                    format!("Field '{}' doesn't exist on type '{conn}'", f.name),
                    f.position,
                    path,
                    "undefinedField",
                );
                e.0["extensions"]["typeName"] = json!(conn);
                e.0["extensions"]["fieldName"] = json!(f.name);
                return Err(e);
            }
            (_, "nodes") => check(ctx, node, &f.selection_set, path, nested_default)?,
            (_, "edges") => {
                let edge = edge_type(node);
                let mut c = 0;
                for e in ctx.fields(edge, &f.selection_set) {
                    path.push(Value::String(key(e)));
                    match e.name.as_str() {
                        "node" => {
                            c = c.max(check(ctx, node, &e.selection_set, path, nested_default)?)
                        }
                        "cursor" | "__typename" => {}
                        other => {
                            let mut err = GqlError::at(
                                format!("Field '{other}' doesn't exist on type '{edge}'"),
                                e.position,
                                path,
                                "undefinedField",
                            );
                            err.0["extensions"]["typeName"] = json!(edge);
                            err.0["extensions"]["fieldName"] = json!(other);
                            return Err(err);
                        }
                    }
                    path.pop();
                }
                c
            }
            _ => check(ctx, "PageInfo", &f.selection_set, path, nested_default).map(|_| 0)?,
        };
        best = best.max(c);
        path.pop();
    }
    Ok(best)
}

/// `first`/`last` of a connection field, validated.
fn page_size(
    ctx: &Ctx<'_>,
    f: &Fld,
    path: &[Value],
    nested_default: Option<i64>,
) -> Result<u64, GqlError> {
    let first = ctx.arg(f, "first").and_then(|v| v.as_i64());
    let last = ctx.arg(f, "last").and_then(|v| v.as_i64());
    let n = match (first, last) {
        (Some(_), Some(_)) => {
            return Err(GqlError::at(
                "providing both first and last is not supported",
                f.position,
                path,
                "BAD_REQUEST",
            ));
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => match nested_default {
            Some(d) => d,
            None => {
                return Err(GqlError::at(
                    "you must provide one of first or last",
                    f.position,
                    path,
                    "BAD_REQUEST",
                ));
            }
        },
    };
    if n > MAX_PAGE {
        let which = if first.is_some() { "first" } else { "last" };
        return Err(GqlError::at(
            format!(
                "{which} cannot exceed 250. To query larger amounts of data with fewer limits, bulk operations should be used instead."
            ),
            f.position,
            path,
            "BAD_REQUEST",
        ));
    }
    if n < 0 {
        return Err(GqlError::at(
            "first must be greater than or equal to 0",
            f.position,
            path,
            "BAD_REQUEST",
        ));
    }
    Ok(n as u64)
}

/// The type a `node(id:)` field resolves to, from its GID.
fn node_type_of(ctx: &Ctx<'_>, f: &Fld) -> &'static str {
    let id = ctx
        .arg(f, "id")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match id
        .strip_prefix("gid://shopify/")
        .and_then(|r| r.split('/').next())
    {
        Some("BulkOperation") => "BulkOperation",
        Some("Order") => "Order",
        Some("Customer") => "Customer",
        Some("Product") => "Product",
        _ => "Node",
    }
}

/// Projects a stored GraphQL-shaped value onto a (checked) selection; adds the actual cost.
pub(crate) fn project(ctx: &Ctx<'_>, ty: &str, sel: &Sel, v: &Value, cost: &mut u64) -> Value {
    if let Value::Array(items) = v {
        return Value::Array(
            items
                .iter()
                .map(|x| project(ctx, ty, sel, x, cost))
                .collect(),
        );
    }
    if v.is_null() {
        return Value::Null;
    }
    let mut out = Map::new();
    for f in ctx.fields(ty, sel) {
        out.insert(key(f), project_field(ctx, ty, f, v, cost));
    }
    Value::Object(out)
}

/// Projects one field of a stored object.
pub(crate) fn project_field(ctx: &Ctx<'_>, ty: &str, f: &Fld, v: &Value, cost: &mut u64) -> Value {
    if f.name == "__typename" {
        return Value::String(ty.to_owned());
    }
    let val = v.get(&f.name).unwrap_or(&Value::Null);
    match field_kind(ty, &f.name) {
        Some(Kind::Object(t)) => {
            *cost += 1;
            project(ctx, t, &f.selection_set, val, cost)
        }
        Some(Kind::Connection(node)) => nested_connection(ctx, node, f, val, cost),
        _ => val.clone(),
    }
}

fn gid_num(v: &Value) -> i64 {
    v.get("id")
        .and_then(Value::as_str)
        .and_then(|s| s.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn cursor(id: i64, value: &Value) -> String {
    STANDARD.encode(json!({"last_id": id, "last_value": value}).to_string())
}

fn decode_cursor(c: &str) -> Option<(i64, Value)> {
    let raw = STANDARD.decode(c).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((v.get("last_id")?.as_i64()?, v.get("last_value")?.clone()))
}

/// A connection nested in a node (`lineItems`, `variants`) over the stored array.
fn nested_connection(ctx: &Ctx<'_>, node: &str, f: &Fld, val: &Value, cost: &mut u64) -> Value {
    let items: &[Value] = val.as_array().map_or(&[], Vec::as_slice);
    let after = ctx
        .arg(f, "after")
        .and_then(|c| c.as_str().and_then(decode_cursor))
        .map(|c| c.0);
    let start = after.map_or(0, |id| {
        items
            .iter()
            .position(|x| gid_num(x) == id)
            .map_or(items.len(), |p| p + 1)
    });
    let n = ctx
        .arg(f, "first")
        .or_else(|| ctx.arg(f, "last"))
        .and_then(|v| v.as_u64())
        .unwrap_or(DEFAULT_NESTED_FIRST as u64) as usize;
    let end = (start + n).min(items.len());
    let page: Vec<(String, &Value)> = items[start..end]
        .iter()
        .map(|x| (cursor(gid_num(x), &json!(gid_num(x))), x))
        .collect();
    *cost += 2;
    connection_value(
        ctx,
        node,
        &f.selection_set,
        &page,
        start > 0,
        end < items.len(),
        cost,
    )
}

/// Builds `{edges, nodes, pageInfo}` for a page of stored nodes.
fn connection_value(
    ctx: &Ctx<'_>,
    node: &str,
    sel: &Sel,
    page: &[(String, &Value)],
    has_prev: bool,
    has_next: bool,
    cost: &mut u64,
) -> Value {
    let conn = connection_type(node);
    let mut out = Map::new();
    let mut counted = false;
    for f in ctx.fields(conn, sel) {
        let v = match f.name.as_str() {
            "__typename" => Value::String(conn.to_owned()),
            "nodes" | "edges" => {
                let mut c = 0;
                let list: Vec<Value> = page
                    .iter()
                    .map(|(cur, n)| {
                        let mut nc = 1;
                        let v = if f.name == "nodes" {
                            project(ctx, node, &f.selection_set, n, &mut nc)
                        } else {
                            let mut e = Map::new();
                            for ef in ctx.fields(edge_type(node), &f.selection_set) {
                                let ev = match ef.name.as_str() {
                                    "cursor" => Value::String(cur.clone()),
                                    "node" => project(ctx, node, &ef.selection_set, n, &mut nc),
                                    _ => Value::String(edge_type(node).to_owned()),
                                };
                                e.insert(key(ef), ev);
                            }
                            Value::Object(e)
                        };
                        c += nc;
                        v
                    })
                    .collect();
                if !counted {
                    *cost += c;
                    counted = true;
                }
                Value::Array(list)
            }
            _ => {
                let mut p = Map::new();
                for pf in ctx.fields("PageInfo", &f.selection_set) {
                    let pv = match pf.name.as_str() {
                        "hasNextPage" => Value::Bool(has_next),
                        "hasPreviousPage" => Value::Bool(has_prev),
                        "startCursor" => page
                            .first()
                            .map_or(Value::Null, |p| Value::String(p.0.clone())),
                        "endCursor" => page
                            .last()
                            .map_or(Value::Null, |p| Value::String(p.0.clone())),
                        _ => Value::String("PageInfo".to_owned()),
                    };
                    p.insert(key(pf), pv);
                }
                Value::Object(p)
            }
        };
        out.insert(key(f), v);
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// search syntax

/// One applied search predicate.
#[derive(Clone, Debug)]
pub(crate) struct Pred {
    field: &'static str,
    op: &'static str,
    value: i64,
    text: Option<String>,
}

/// A parsed `query:` argument.
#[derive(Clone, Debug, Default)]
pub(crate) struct Search {
    pub(crate) preds: Vec<Pred>,
    pub(crate) parsed: Vec<Value>,
    pub(crate) warnings: Vec<Value>,
}

fn tokens(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in q.chars() {
        match quote {
            Some(qc) => {
                cur.push(c);
                if c == qc {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                cur.push(c);
                quote = Some(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn fmt_shop(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

fn invalid_field(name: &str) -> Value {
    json!({"field": name, "message": "Invalid search field for this query.", "code": "invalid_field"})
}

/// Parses Shopify search syntax for `updated_at`, `created_at`, `id` and `status` terms.
/// The shop's time zone is UTC.
pub(crate) fn parse_search(q: &str) -> Search {
    let mut s = Search::default();
    let mut pending: Vec<String> = tokens(q);
    pending.reverse();
    while let Some(tok) = pending.pop() {
        if tok == "AND" {
            continue;
        }
        let Some((field, rest)) = tok.split_once(':') else {
            continue;
        };
        let (op, val) = [">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .unwrap_or(("=", rest));
        let quoted = val.len() >= 2
            && ((val.starts_with('\'') && val.ends_with('\''))
                || (val.starts_with('"') && val.ends_with('"')));
        let range_key = match op {
            ">=" => "range_gte",
            "<=" => "range_lte",
            ">" => "range_gt",
            "<" => "range_lt",
            _ => "match_all",
        };
        match field {
            "updated_at" | "created_at" | "processed_at" => {
                let f: &'static str = match field {
                    "updated_at" => "updated_at",
                    "created_at" => "created_at",
                    _ => "processed_at",
                };
                let secs = if quoted {
                    parse_ts(&val[1..val.len() - 1])
                } else if let Some((head, tail)) = val.split_once(':') {
                    // unquoted: the value stops at the first ':'; the rest becomes a new term
                    pending.push(tail.to_owned());
                    NaiveDateTime::parse_from_str(&format!("{head}:00:00"), "%Y-%m-%dT%H:%M:%S")
                        .ok()
                        .map(|d| d.and_utc().timestamp())
                } else {
                    parse_ts(val)
                };
                if let Some(secs) = secs {
                    s.parsed
                        .push(json!({"field": f, range_key: fmt_shop(secs)}));
                    s.preds.push(Pred {
                        field: f,
                        op,
                        value: secs,
                        text: None,
                    });
                }
            }
            "id" => {
                let v = val.trim_matches(|c| c == '\'' || c == '"');
                if let Ok(n) = v.parse::<i64>() {
                    s.parsed
                        .push(json!({"field": "id", range_key: n.to_string()}));
                    s.preds.push(Pred {
                        field: "id",
                        op,
                        value: n,
                        text: None,
                    });
                }
            }
            "status" => {
                let v = val.trim_matches(|c| c == '\'' || c == '"').to_lowercase();
                s.parsed.push(json!({"field": "status", "match_all": v}));
                s.preds.push(Pred {
                    field: "status",
                    op: "=",
                    value: 0,
                    text: Some(v),
                });
            }
            other => {
                s.parsed.push(json!({"field": other, "match_all": val}));
                s.warnings.push(invalid_field(other));
            }
        }
    }
    s
}

fn parse_ts(v: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp())
}

impl Search {
    pub(crate) fn matches(&self, m: &Meta) -> bool {
        self.preds.iter().all(|p| {
            let x = match p.field {
                "updated_at" => m.updated,
                "created_at" | "processed_at" => m.created,
                "id" => m.id,
                _ => {
                    return p
                        .text
                        .as_deref()
                        .is_none_or(|t| t == "any" || t == m.status());
                }
            };
            match p.op {
                ">=" => x >= p.value,
                "<=" => x <= p.value,
                ">" => x > p.value,
                "<" => x < p.value,
                _ => x == p.value,
            }
        })
    }

    /// The `extensions.search` entry when there are warnings.
    fn extension(&self, path: &[Value], query: &str) -> Option<Value> {
        if self.warnings.is_empty() {
            return None;
        }
        let parsed = if self.parsed.len() == 1 {
            self.parsed[0].clone()
        } else {
            json!({"and": self.parsed})
        };
        Some(json!({"path": path, "query": query, "parsed": parsed, "warnings": self.warnings}))
    }
}

// ---------------------------------------------------------------------------------------------
// execution

/// Sort value of a record for a sort key (`ID`, `UPDATED_AT`, `CREATED_AT` in epoch ms).
fn sort_value(sort: &str, m: &Meta) -> i64 {
    match sort {
        "UPDATED_AT" => m.updated * 1000,
        "CREATED_AT" => m.created * 1000,
        _ => m.id,
    }
}

struct RootOut {
    value: Value,
    search: Option<Value>,
}

fn root_connection(
    s: &Shared,
    ctx: &Ctx<'_>,
    resource: Resource,
    f: &Fld,
    path: &[Value],
    cost: &mut u64,
) -> Result<RootOut, GqlError> {
    if !s.has_scope(resource.scope()) {
        let scope = resource.scope();
        return Err(GqlError(json!({
            "message": format!("Access denied for {} field. Required access: `{scope}` access scope.", f.name),
            "locations": [{"line": f.position.line, "column": f.position.column}],
            "path": path,
            "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes", "requiredAccess": format!("`{scope}` access scope.")},
        })));
    }
    let q = ctx
        .arg(f, "query")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let search = parse_search(&q);
    let sort = ctx
        .arg(f, "sortKey")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "ID".to_owned());
    let reverse = ctx
        .arg(f, "reverse")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let metas = s.store.metas(resource);
    let mut idx: Vec<usize> = (0..metas.len())
        .filter(|&i| search.matches(&metas[i]))
        .collect();
    let key_of = |i: usize| (sort_value(&sort, &metas[i]), metas[i].id);
    if sort != "ID" {
        idx.sort_by_key(|&i| key_of(i));
    }
    if reverse {
        idx.reverse();
    }
    let bad_cursor = || {
        GqlError::at(
            "Invalid cursor for current pagination sort",
            f.position,
            path,
            "BAD_REQUEST",
        )
    };
    let decode = |c: &Value| -> Result<(i64, i64), GqlError> {
        let (id, val) = c.as_str().and_then(decode_cursor).ok_or_else(bad_cursor)?;
        Ok((val.as_i64().ok_or_else(bad_cursor)?, id))
    };
    // `idx` is ordered by (sort value, id), descending when `reverse`
    let before_or_at = |k: (i64, i64), c: (i64, i64)| if reverse { k >= c } else { k <= c };
    let strictly_before = |k: (i64, i64), c: (i64, i64)| if reverse { k > c } else { k < c };
    let mut start = 0;
    let mut end = idx.len();
    if let Some(c) = ctx.arg(f, "after") {
        let c = decode(&c)?;
        start = idx.partition_point(|&i| before_or_at(key_of(i), c));
    }
    if let Some(c) = ctx.arg(f, "before") {
        let c = decode(&c)?;
        end = idx
            .partition_point(|&i| strictly_before(key_of(i), c))
            .max(start);
    }
    if let Some(n) = ctx.arg(f, "first").and_then(|v| v.as_u64()) {
        end = end.min(start + n as usize);
    } else if let Some(n) = ctx.arg(f, "last").and_then(|v| v.as_u64()) {
        start = start.max(end.saturating_sub(n as usize));
    }
    let has_prev = start > 0;
    let has_next = end < idx.len();
    let nodes: Vec<(String, Value)> = idx[start..end]
        .iter()
        .map(|&i| {
            (
                cursor(metas[i].id, &json!(sort_value(&sort, &metas[i]))),
                s.store.graphql(resource, i, &metas[i]),
            )
        })
        .collect();
    drop(metas);
    let page: Vec<(String, &Value)> = nodes.iter().map(|(c, v)| (c.clone(), v)).collect();
    *cost += 2;
    let value = connection_value(
        ctx,
        resource.type_name(),
        &f.selection_set,
        &page,
        has_prev,
        has_next,
        cost,
    );
    Ok(RootOut {
        value,
        search: search.extension(path, &q),
    })
}

fn single_record(s: &Shared, ctx: &Ctx<'_>, f: &Fld, cost: &mut u64) -> Value {
    let id = ctx
        .arg(f, "id")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut parts = id
        .strip_prefix("gid://shopify/")
        .unwrap_or_default()
        .split('/');
    let (kind, num) = (
        parts.next().unwrap_or_default(),
        parts.next().and_then(|n| n.parse::<i64>().ok()),
    );
    if kind == "BulkOperation" {
        *cost += 1;
        return match crate::bulk::get(s, &id) {
            Some(op) => project(ctx, "BulkOperation", &f.selection_set, &op, &mut 0),
            None => Value::Null,
        };
    }
    let resource = match kind {
        "Order" => Resource::Orders,
        "Customer" => Resource::Customers,
        "Product" => Resource::Products,
        _ => return Value::Null,
    };
    let Some(num) = num else { return Value::Null };
    let metas = s.store.metas(resource);
    let Ok(i) = metas.binary_search_by_key(&num, |m| m.id) else {
        return Value::Null;
    };
    let v = s.store.graphql(resource, i, &metas[i]);
    drop(metas);
    *cost += 1;
    project(ctx, resource.type_name(), &f.selection_set, &v, cost)
}

fn throttle_status(s: &Shared, available: f64) -> Value {
    json!({
        "maximumAvailable": s.config.graphql_bucket,
        "currentlyAvailable": available.floor() as i64,
        "restoreRate": s.config.graphql_restore_per_sec,
    })
}

fn errors_body(errors: Vec<Value>) -> Response {
    json_response(StatusCode::OK, json!({ "errors": errors }).to_string())
}

pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    Path((version, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    if rest != "graphql.json" {
        return json_error(StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#);
    }
    s.stats().graphql_requests += 1;
    if let Some(r) = s.check_token(req.headers()) {
        return r;
    }
    if !crate::rest::valid_version(&version) {
        return json_error(StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#);
    }
    if let Some(r) = s.check_shop() {
        return r;
    }
    let raw_graphql = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/graphql"));
    let Ok(body) = axum::body::to_bytes(req.into_body(), 16 << 20).await else {
        return json_error(
            StatusCode::BAD_REQUEST,
            r#"{"errors":{"query":"Required parameter missing or invalid"}}"#,
        );
    };
    let (query, vars, op_name) = if raw_graphql {
        (
            String::from_utf8_lossy(&body).into_owned(),
            Map::new(),
            None,
        )
    } else {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(q) = v.get("query").and_then(Value::as_str) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                r#"{"errors":{"query":"Required parameter missing or invalid"}}"#,
            );
        };
        let vars = v
            .get("variables")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let op = v
            .get("operationName")
            .and_then(Value::as_str)
            .map(str::to_owned);
        (q.to_owned(), vars, op)
    };
    execute(&s, &version, &query, vars, op_name.as_deref())
}

fn execute(
    s: &Arc<Shared>,
    version: &str,
    query: &str,
    vars: Map<String, Value>,
    op_name: Option<&str>,
) -> Response {
    let doc = match parse(query) {
        Ok(d) => d,
        Err(e) => return errors_body(vec![e.0]),
    };
    let ctx = Ctx::new(&doc, vars);
    let ops: Vec<&OperationDefinition<'static, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(o) => Some(o),
            Definition::Fragment(_) => None,
        })
        .collect();
    let op = match op_name {
        Some(n) => ops.iter().find(|o| match o {
            OperationDefinition::Query(q) => q.name.as_deref() == Some(n),
            OperationDefinition::Mutation(m) => m.name.as_deref() == Some(n),
            _ => false,
        }),
        None => ops.first(),
    };
    let Some(op) = op else {
        return errors_body(vec![
            json!({"message": "No operation named in the document", "extensions": {"code": "BAD_REQUEST"}}),
        ]);
    };
    let (root_ty, sel, label) = match op {
        OperationDefinition::SelectionSet(sel) => ("QueryRoot", sel, "query".to_owned()),
        OperationDefinition::Query(q) => (
            "QueryRoot",
            &q.selection_set,
            format!(
                "query{}",
                q.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
            ),
        ),
        OperationDefinition::Mutation(m) => (
            "Mutation",
            &m.selection_set,
            format!(
                "mutation{}",
                m.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
            ),
        ),
        OperationDefinition::Subscription(_) => {
            return errors_body(vec![
                json!({"message": "Subscriptions are not supported", "extensions": {"code": "BAD_REQUEST"}}),
            ]);
        }
    };
    // static validation and requested cost
    let mut path = vec![Value::String(label)];
    let mut raw = 0u64;
    let mut fixed = 0u64;
    for f in ctx.fields(root_ty, sel) {
        path.push(Value::String(key(f)));
        let Some(kind) = field_kind(root_ty, &f.name) else {
            let mut e = GqlError::at(
                format!("Field '{}' doesn't exist on type '{root_ty}'", f.name),
                f.position,
                &path,
                "undefinedField",
            );
            e.0["extensions"]["typeName"] = json!(root_ty);
            e.0["extensions"]["fieldName"] = json!(f.name);
            return errors_body(vec![e.0]);
        };
        let checked = match kind {
            Kind::Connection(node) => page_size(&ctx, f, &path, None).and_then(|n| {
                let nc = 1 + connection_node_cost(
                    &ctx,
                    node,
                    &f.selection_set,
                    &mut path,
                    Some(DEFAULT_NESTED_FIRST),
                )?;
                raw += 2 + n * nc;
                Ok(())
            }),
            Kind::Object(t) if root_ty == "QueryRoot" => {
                let t = if t == "Node" {
                    node_type_of(&ctx, f)
                } else {
                    t
                };
                check(
                    &ctx,
                    t,
                    &f.selection_set,
                    &mut path,
                    Some(DEFAULT_NESTED_FIRST),
                )
                .map(|c| {
                    raw += c;
                    fixed += 1;
                })
            }
            Kind::Object(t) => check(
                &ctx,
                t,
                &f.selection_set,
                &mut path,
                Some(DEFAULT_NESTED_FIRST),
            )
            .map(|_| fixed += 10),
            Kind::Scalar => Ok(()),
        };
        if let Err(e) = checked {
            let mut v = e.0;
            if v["message"]
                .as_str()
                .is_some_and(|m| m.contains("first or last") || m.contains("cannot exceed"))
            {
                return json_response(
                    StatusCode::OK,
                    json!({"errors": [v], "data": null}).to_string(),
                );
            }
            v.as_object_mut().map(|o| o.remove("data"));
            return errors_body(vec![v]);
        }
        path.pop();
    }
    let requested = if root_ty == "Mutation" {
        fixed.max(10)
    } else {
        (fixed + raw.div_ceil(20)).max(1)
    };
    if requested > MAX_COST {
        s.stats().max_cost_exceeded += 1;
        let msg = format!(
            "Query cost is {requested}, which exceeds the single query max cost limit ({MAX_COST}).\n\nSee https://shopify.dev/docs/api/usage/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/docs/api/usage/bulk-operations/queries for usage details.\n"
        );
        return errors_body(vec![
            json!({"message": msg, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_COST, "documentation": "https://shopify.dev/api/usage/rate-limits"}}),
        ]);
    }
    // admission by the requested cost
    let now = tokio::time::Instant::now();
    {
        let mut b = crate::lock(&s.gql_bucket);
        let el = now.duration_since(b.at).as_secs_f64();
        b.available =
            (b.available + el * s.config.graphql_restore_per_sec).min(s.config.graphql_bucket);
        b.at = now;
        if requested as f64 > b.available {
            let status = throttle_status(s, b.available);
            drop(b);
            s.stats().graphql_throttled += 1;
            let body = json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": null, "throttleStatus": status}},
            });
            return json_response(StatusCode::OK, body.to_string());
        }
    }
    // execution
    let mut data = Map::new();
    let mut searches = Vec::new();
    let mut actual_raw = 0u64;
    let mut actual_fixed = 0u64;
    let mut errors = Vec::new();
    let mut path = vec![path[0].clone()];
    for f in ctx.fields(root_ty, sel) {
        path.push(Value::String(key(f)));
        let v = match (root_ty, f.name.as_str()) {
            (_, "__typename") => Value::String(root_ty.to_owned()),
            ("QueryRoot", name @ ("orders" | "customers" | "products")) => {
                let r = Resource::parse(name).unwrap_or(Resource::Orders);
                match root_connection(s, &ctx, r, f, &path, &mut actual_raw) {
                    Ok(out) => {
                        searches.extend(out.search);
                        out.value
                    }
                    Err(e) => {
                        errors.push(e.0);
                        Value::Null
                    }
                }
            }
            ("QueryRoot", "node" | "order" | "customer" | "product" | "bulkOperation") => {
                single_record(s, &ctx, f, &mut actual_fixed)
            }
            ("QueryRoot", "currentBulkOperation") => {
                actual_fixed += 1;
                crate::bulk::current(s).map_or(Value::Null, |op| {
                    project(&ctx, "BulkOperation", &f.selection_set, &op, &mut 0)
                })
            }
            ("Mutation", "bulkOperationRunQuery") => {
                actual_fixed += 10;
                let q = ctx
                    .arg(f, "query")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let payload = crate::bulk::run(s, version, &q);
                project(
                    &ctx,
                    "BulkOperationRunQueryPayload",
                    &f.selection_set,
                    &payload,
                    &mut 0,
                )
            }
            ("Mutation", "bulkOperationCancel") => {
                actual_fixed += 10;
                let id = ctx
                    .arg(f, "id")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let payload = crate::bulk::cancel(s, &id);
                project(
                    &ctx,
                    "BulkOperationCancelPayload",
                    &f.selection_set,
                    &payload,
                    &mut 0,
                )
            }
            _ => Value::Null,
        };
        data.insert(key(f), v);
        path.pop();
    }
    if !errors.is_empty() {
        return json_response(
            StatusCode::OK,
            json!({"errors": errors, "data": null}).to_string(),
        );
    }
    let actual = if root_ty == "Mutation" {
        actual_fixed.max(10)
    } else {
        (actual_fixed + actual_raw.div_ceil(20)).max(1)
    };
    let available = {
        let mut b = crate::lock(&s.gql_bucket);
        b.available -= actual as f64;
        b.available
    };
    s.stats()
        .graphql_points_at
        .push((now.duration_since(s.start), actual as f64));
    let mut ext = Map::new();
    ext.insert(
        "cost".to_owned(),
        json!({"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": throttle_status(s, available)}),
    );
    if !searches.is_empty() {
        ext.insert("search".to_owned(), Value::Array(searches));
    }
    json_response(
        StatusCode::OK,
        json!({"data": data, "extensions": ext}).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_timestamp_is_hour_truncated_with_warning() {
        let s = parse_search("updated_at:>=2026-01-01T05:30:00Z");
        assert_eq!(s.preds.len(), 1);
        assert_eq!(s.preds[0].value, 1_767_243_600); // 2026-01-01T05:00:00Z
        assert_eq!(s.warnings, vec![invalid_field("30")]);
        assert_eq!(s.parsed[1], json!({"field": "30", "match_all": "00Z"}));
        let t = parse_search("updated_at:>=2026-01-01T00:00:00Z");
        assert_eq!(t.warnings, vec![invalid_field("00")]);
        let q = parse_search("updated_at:>='2026-01-01T05:30:00Z' AND id:>5");
        assert!(q.warnings.is_empty());
        assert_eq!(q.preds[0].value, 1_767_245_400);
        assert_eq!(q.preds[1].value, 5);
    }

    #[test]
    fn parse_error_text() {
        let e = parse("{ orders(first: 1) {").err().map(|e| e.0);
        let e = e.unwrap_or_default();
        assert_eq!(e["extensions"]["code"], "PARSE_ERROR");
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("syntax error, "),
            "{e}"
        );
    }
}
