//! `GET /v4/spreadsheets/…`: metadata, `values.get`, `values.batchGet`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::a1::{self, Rect};
use crate::auth;
use crate::cell::Render;
use crate::{Shared, Spreadsheet, Tab, json_response, lock};

/// Rows per chunk of a streamed answer.
const CHUNK_ROWS: u64 = 1000;
/// Answers from generated tabs with more rows than this are streamed.
const STREAM_ABOVE: u64 = 2000;

enum Endpoint {
    Meta,
    Get(String),
    Batch,
}

fn google_error(status: StatusCode, message: &str, code_name: &str) -> Response {
    let body = json!({"error": {
        "code": status.as_u16(),
        "message": message,
        "status": code_name,
    }});
    json_response(status, body.to_string())
}

fn bad_range(range: &str) -> Response {
    google_error(
        StatusCode::BAD_REQUEST,
        &format!("Unable to parse range: {range}"),
        "INVALID_ARGUMENT",
    )
}

fn bad_arg(message: &str) -> Response {
    google_error(StatusCode::BAD_REQUEST, message, "INVALID_ARGUMENT")
}

/// The query options of a values request.
struct Options {
    columns: bool,
    render: Render,
}

fn options(q: &[(String, String)]) -> Result<Options, Response> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let columns = match get("majorDimension") {
        None | Some("ROWS" | "DIMENSION_UNSPECIFIED") => false,
        Some("COLUMNS") => true,
        Some(other) => {
            return Err(bad_arg(&format!(
                "Invalid value at 'major_dimension' (type.googleapis.com/google.apps.sheets.v4.Dimension), \"{other}\""
            )));
        }
    };
    let serial_dates = match get("dateTimeRenderOption") {
        None | Some("SERIAL_NUMBER") => true,
        Some("FORMATTED_STRING") => false,
        Some(other) => {
            return Err(bad_arg(&format!(
                "Invalid value at 'date_time_render_option' (type.googleapis.com/google.apps.sheets.v4.DateTimeRenderOption), \"{other}\""
            )));
        }
    };
    let render = match get("valueRenderOption") {
        None | Some("FORMATTED_VALUE") => Render::Formatted,
        Some("UNFORMATTED_VALUE") => Render::Unformatted { serial_dates },
        Some("FORMULA") => Render::Formula { serial_dates },
        Some(other) => {
            return Err(bad_arg(&format!(
                "Invalid value at 'value_render_option' (type.googleapis.com/google.apps.sheets.v4.ValueRenderOption), \"{other}\""
            )));
        }
    };
    Ok(Options { columns, render })
}

/// `GET /v4/spreadsheets/{*rest}`.
pub(crate) async fn handle(State(s): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let raw = uri
        .path()
        .strip_prefix("/v4/spreadsheets/")
        .unwrap_or_default();
    let (id_raw, endpoint) = match raw.split_once('/') {
        None => (raw, Endpoint::Meta),
        Some((id, "values:batchGet")) => (id, Endpoint::Batch),
        Some((id, rest)) => match rest.strip_prefix("values/") {
            Some(range) if !range.is_empty() => (
                id,
                Endpoint::Get(percent_decode_str(range).decode_utf8_lossy().into_owned()),
            ),
            _ => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
        },
    };
    let id = percent_decode_str(id_raw).decode_utf8_lossy().into_owned();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let key = query
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.as_str());
    let caller = match auth::authenticate(&s, &headers, key) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !s.config.api_enabled {
        return auth::service_disabled();
    }
    if let Some(r) = auth::admit(&s) {
        return r;
    }
    {
        let mut st = s.stats();
        match &endpoint {
            Endpoint::Meta => st.spreadsheet_gets += 1,
            Endpoint::Get(_) => st.values_gets += 1,
            Endpoint::Batch => st.batch_gets += 1,
        }
    }
    let Some(book) = lock(&s.spreadsheets).get(&id).cloned() else {
        return google_error(
            StatusCode::NOT_FOUND,
            "Requested entity was not found.",
            "NOT_FOUND",
        );
    };
    if let Some(r) = auth::authorize(&s, caller) {
        return r;
    }
    match endpoint {
        Endpoint::Meta => metadata(&id, &book),
        Endpoint::Get(range) => {
            let opts = match options(&query) {
                Ok(o) => o,
                Err(r) => return r,
            };
            let (tab, rect, echo) = match resolve(&book, &range) {
                Some(x) => x,
                None => return bad_range(&range),
            };
            let rows = rect.map_or(0, |r| r.rows());
            if tab.is_generated()
                && !opts.columns
                && rows > STREAM_ABOVE
                && let Some(rect) = rect
            {
                served(&s, &[range], rows);
                return stream_generated(tab, rect, echo, opts.render);
            }
            let vr = value_range(&tab, rect, &echo, &opts);
            served(&s, &[range], count_rows(&vr));
            json_response(StatusCode::OK, vr.to_string())
        }
        Endpoint::Batch => {
            let opts = match options(&query) {
                Ok(o) => o,
                Err(r) => return r,
            };
            let ranges: Vec<String> = query
                .iter()
                .filter(|(k, _)| k == "ranges")
                .map(|(_, v)| v.clone())
                .collect();
            let mut out = Vec::with_capacity(ranges.len());
            let mut total = 0;
            for range in &ranges {
                let Some((tab, rect, echo)) = resolve(&book, range) else {
                    return bad_range(range);
                };
                let vr = value_range(&tab, rect, &echo, &opts);
                total += count_rows(&vr);
                out.push(vr);
            }
            served(&s, &ranges, total);
            let mut body = serde_json::Map::new();
            body.insert("spreadsheetId".into(), Value::String(id));
            if !out.is_empty() {
                body.insert("valueRanges".into(), Value::Array(out));
            }
            json_response(StatusCode::OK, Value::Object(body).to_string())
        }
    }
}

fn served(s: &Shared, ranges: &[String], rows: u64) {
    let mut st = s.stats();
    st.ranges_served.extend(ranges.iter().cloned());
    st.rows_served += rows;
    st.max_rows_in_one_response = st.max_rows_in_one_response.max(rows);
}

fn count_rows(vr: &Value) -> u64 {
    vr.get("values")
        .and_then(Value::as_array)
        .map_or(0, |v| v.len() as u64)
}

fn metadata(id: &str, book: &Spreadsheet) -> Response {
    let sheets: Vec<Value> = book
        .tabs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"properties": {
                "sheetId": t.sheet_id,
                "title": t.title,
                "index": i,
                "sheetType": "GRID",
                "gridProperties": {
                    "rowCount": t.row_count(),
                    "columnCount": t.column_count(),
                },
            }})
        })
        .collect();
    let body = json!({
        "spreadsheetId": id,
        "properties": {
            "title": book.title,
            "locale": "en_US",
            "autoRecalc": "ON_CHANGE",
            "timeZone": "Etc/GMT",
        },
        "sheets": sheets,
        "spreadsheetUrl": format!("https://docs.google.com/spreadsheets/d/{id}/edit"),
    });
    json_response(StatusCode::OK, body.to_string())
}

/// Finds the tab and rectangle of a range; the echo is sheet-qualified A1.
fn resolve(book: &Spreadsheet, range: &str) -> Option<(Arc<Tab>, Option<Rect>, String)> {
    let titles: Vec<&str> = book.tabs.iter().map(|t| t.title.as_str()).collect();
    let req = a1::parse(range, &titles)?;
    let tab = match &req.sheet {
        Some(title) => book.tabs.iter().find(|t| t.title == *title)?,
        None => book.tabs.first()?,
    };
    let (rect, cells) = a1::resolve(req.cells, tab.row_count(), tab.column_count());
    let echo = format!("{}!{cells}", a1::quote_title(&tab.title));
    Some((tab.clone(), rect, echo))
}

/// One rendered row (or column), cut after its last non-empty cell.
fn line(cells: impl Iterator<Item = crate::cell::Cell>, render: Render) -> Vec<Value> {
    let cells: Vec<_> = cells.collect();
    let last = cells.iter().rposition(|c| !c.is_empty());
    match last {
        None => Vec::new(),
        Some(l) => cells[..=l].iter().map(|c| c.render(render)).collect(),
    }
}

/// A `ValueRange` built in memory.
fn value_range(tab: &Tab, rect: Option<Rect>, echo: &str, opts: &Options) -> Value {
    let mut lines: Vec<Vec<Value>> = Vec::new();
    if let Some(r) = rect {
        if opts.columns {
            for c in r.col0..=r.col1 {
                lines.push(line(
                    (r.row0..=r.row1).map(|row| tab.cell(row, c).into_owned()),
                    opts.render,
                ));
            }
        } else {
            for row in r.row0..=r.row1 {
                lines.push(line(
                    (r.col0..=r.col1).map(|c| tab.cell(row, c).into_owned()),
                    opts.render,
                ));
            }
        }
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let mut m = serde_json::Map::new();
    m.insert("range".into(), Value::String(echo.to_owned()));
    m.insert(
        "majorDimension".into(),
        Value::String(if opts.columns { "COLUMNS" } else { "ROWS" }.to_owned()),
    );
    if !lines.is_empty() {
        m.insert(
            "values".into(),
            Value::Array(lines.into_iter().map(Value::Array).collect()),
        );
    }
    Value::Object(m)
}

/// A `ValueRange` of a generated tab (no empty cells) streamed in chunks of rows.
fn stream_generated(tab: Arc<Tab>, rect: Rect, echo: String, render: Render) -> Response {
    let head = format!(
        "{{\"range\":{},\"majorDimension\":\"ROWS\",\"values\":[",
        Value::String(echo)
    );
    let first =
        futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(head)) });
    let rows = futures::stream::unfold(rect.row0, move |next| {
        let tab = tab.clone();
        async move {
            if next > rect.row1 {
                return None;
            }
            let end = (next + CHUNK_ROWS - 1).min(rect.row1);
            let mut buf = String::with_capacity(((end - next + 1) * 64) as usize);
            for row in next..=end {
                if row != rect.row0 {
                    buf.push(',');
                }
                let l = line(
                    (rect.col0..=rect.col1).map(|c| tab.cell(row, c).into_owned()),
                    render,
                );
                buf.push_str(&Value::Array(l).to_string());
            }
            Some((Ok(Bytes::from(buf)), end + 1))
        }
    });
    let last = futures::stream::once(async { Ok(Bytes::from_static(b"]}")) });
    let body = Body::from_stream(futures::StreamExt::chain(
        futures::StreamExt::chain(first, rows),
        last,
    ));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}
