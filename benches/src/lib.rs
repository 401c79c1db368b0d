//! Shared data for DataForge's benchmarks: deterministic Shopify-like orders.
//!
//! An order has about 12 columns after `flatten` (nested `customer`, and `line_items` kept as
//! an array), money as strings and timestamps with an offset, as the Shopify Admin API sends them.

use std::io::Write;
use std::path::Path;

use dataforge_core::{Record, Value};

const FIRST: &[&str] = &[
    "Ada", "Grace", "Linus", "Zoë", "Hedy", "Alan", "Barbara", "Ken",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Łukasiewicz",
    "Lamarr",
    "Turing",
    "Liskov",
];
const STATUS: &[&str] = &[
    "paid",
    "paid",
    "paid",
    "pending",
    "refunded",
    "partially_paid",
];
const TITLES: &[&str] = &[
    "Widget",
    "Gadget",
    "Gizmo — deluxe",
    "Sprocket",
    "Doohickey",
];

/// A small deterministic generator (SplitMix64), so every run sees the same data.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Order `i` as one line of JSON (no trailing newline).
pub fn order_json(i: u64) -> String {
    let r = mix(i);
    let id = 5_000_000_000_000 + i;
    let first = FIRST[(r % FIRST.len() as u64) as usize];
    let last = LAST[((r >> 8) % LAST.len() as u64) as usize];
    let status = STATUS[((r >> 16) % STATUS.len() as u64) as usize];
    let items = 1 + (r >> 24) % 3;
    let mut total_cents = 0u64;
    let mut line_items = String::new();
    for k in 0..items {
        let rk = mix(r ^ k);
        let price = 199 + rk % 20_000;
        let qty = 1 + (rk >> 20) % 4;
        total_cents += price * qty;
        if k > 0 {
            line_items.push(',');
        }
        line_items.push_str(&format!(
            r#"{{"id":{},"title":"{}","quantity":{},"price":"{}.{:02}","sku":"SKU-{}"}}"#,
            id * 10 + k,
            TITLES[((rk >> 32) % TITLES.len() as u64) as usize],
            qty,
            price / 100,
            price % 100,
            rk % 100_000
        ));
    }
    let day = 1 + (r >> 40) % 28;
    let hour = (r >> 48) % 24;
    format!(
        r##"{{"id":{id},"name":"#{num}","email":"{fl}.{ll}{n}@example.com","created_at":"2026-08-{day:02}T{hour:02}:14:09+02:00","total_price":"{tp}.{tc:02}","currency":"EUR","financial_status":"{status}","customer":{{"id":{cid},"first_name":"{first}","last_name":"{last}","email":"{fl}.{ll}{n}@example.com"}},"line_items":[{line_items}]}}"##,
        num = 1000 + i,
        fl = first.to_lowercase(),
        ll = last.to_lowercase(),
        n = i % 997,
        tp = total_cents / 100,
        tc = total_cents % 100,
        cid = 7_000_000 + (r >> 4) % 100_000,
    )
}

/// Order `i` as a [`Record`].
pub fn order_record(i: u64) -> Record {
    // The generator writes valid JSON objects; a failure here is a bug in `order_json`.
    parse_object(&order_json(i))
}

fn parse_object(text: &str) -> Record {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(r)) => r,
        other => panic!("order generator produced invalid JSON: {other:?}"),
    }
}

/// Writes orders `0..n` as JSONL to `path`.
///
/// # Errors
/// Any I/O error.
pub fn write_orders_jsonl(path: &Path, n: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for i in 0..n {
        out.write_all(order_json(i).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes orders `0..n` to `path` as one JSON array, an element per line.
///
/// # Errors
/// Any I/O error.
pub fn write_orders_json_array(path: &Path, n: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(b"[")?;
    for i in 0..n {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(order_json(i).as_bytes())?;
    }
    out.write_all(b"\n]\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_valid_deterministic_and_nested() {
        assert_eq!(order_json(42), order_json(42));
        let r = order_record(7);
        assert_eq!(r.len(), 9); // 12 columns once `customer` is flattened
        assert!(r.get("customer").and_then(Value::as_object).is_some());
        assert!(matches!(r.get("line_items"), Some(Value::Array(a)) if !a.is_empty()));
    }
}
