//! Row keys for `deduplicate` and `validate`'s `unique`: a canonical encoding of values.
//! (Their per-run state is a [`dataforge_core::RunLocal`]: owned by the run.)

use dataforge_core::Value;
use rust_decimal::Decimal;

/// Appends a canonical, unambiguous encoding of `v` to `out`, for hashing keys: equal values
/// encode equally, values of different types never do (`1`, `1.0` and `"1"` are three keys).
/// Timestamps are compared as instants, whatever their offset.
pub(crate) fn encode_key(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.extend_from_slice(&[1, u8::from(*b)]),
        Value::Int(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            let f = if *f == 0.0 { 0.0 } else { *f };
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Decimal(d) => {
            out.push(4);
            let d: Decimal = d.normalize();
            out.extend_from_slice(&d.serialize());
        }
        Value::String(s) => {
            out.push(5);
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Timestamp(t) => {
            out.push(6);
            out.extend_from_slice(&t.timestamp().to_le_bytes());
            out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
        }
        Value::Date(d) => {
            out.push(7);
            out.extend_from_slice(&chrono::Datelike::num_days_from_ce(d).to_le_bytes());
        }
        Value::Array(items) => {
            out.push(8);
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_key(item, out);
            }
        }
        Value::Object(r) => {
            out.push(9);
            out.extend_from_slice(&(r.len() as u64).to_le_bytes());
            for (k, v) in r.iter() {
                out.extend_from_slice(&(k.len() as u64).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
                encode_key(v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(&v, &mut out);
        out
    }

    #[test]
    fn keys_tell_types_apart_and_compare_instants() {
        assert_ne!(key(Value::Int(1)), key(Value::Float(1.0)));
        assert_ne!(key(Value::Int(1)), key(Value::from("1")));
        assert_eq!(key(Value::Float(0.0)), key(Value::Float(-0.0)));
        assert_eq!(
            key(Value::Decimal(Decimal::new(1250, 2))),
            key(Value::Decimal(Decimal::new(125, 1)))
        );
        let a = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:00:00+02:00").expect("ts");
        let b = chrono::DateTime::parse_from_rfc3339("2026-01-01T08:00:00Z").expect("ts");
        assert_eq!(key(Value::Timestamp(a)), key(Value::Timestamp(b)));
        assert_ne!(
            key(Value::Array(vec![Value::from("ab")])),
            key(Value::Array(vec![Value::from("a"), Value::from("b")]))
        );
    }
}
