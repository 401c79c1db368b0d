"""The transform chain of benches/benches/transforms.rs in plain Python over a list of dicts.

This is the original project's approach: each transform is a function over dicts, a bad row is
skipped with a warning. Usage: python3 transform_chain.py ORDERS.jsonl
Prints one JSON line: {"rows_in": .., "rows_out": .., "seconds": .., "rows_per_sec": ..}.
Loading the JSON is not timed, as in the Rust benchmark.
"""
import json
import sys
import time
from datetime import datetime

RENAME = {"name": "order_name", "customer_id": "customer"}


def flatten(rec, sep="_"):
    out = {}

    def go(prefix, obj):
        for k, v in obj.items():
            name = f"{prefix}{sep}{k}" if prefix else k
            if isinstance(v, dict) and v:
                go(name, v)
            else:
                out[name] = v

    go("", rec)
    return out


def rename(rec):
    return {RENAME.get(k, k): v for k, v in rec.items()}


def cast(rec):
    rec["total_price"] = float(rec["total_price"])
    rec["created_at"] = datetime.fromisoformat(rec["created_at"])
    return rec


def keep(rec):
    return rec["financial_status"] == "paid" and rec["total_price"] > 100.0


def add_column(rec):
    rec["total_with_vat"] = rec["total_price"] * 1.21
    return rec


def chain(rows):
    out = []
    skipped = 0
    for row in rows:
        try:
            rec = cast(rename(flatten(row)))
            if keep(rec):
                out.append(add_column(rec))
        except (KeyError, ValueError, TypeError):
            skipped += 1
    return out, skipped


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    best = None
    for _ in range(3):
        start = time.perf_counter()
        out, _ = chain(rows)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    print(json.dumps({
        "rows_in": len(rows),
        "rows_out": len(out),
        "seconds": best,
        "rows_per_sec": len(rows) / best,
    }))


if __name__ == "__main__":
    main()
