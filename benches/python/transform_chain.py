"""The transform chain of benches/benches/transforms.rs in plain Python over a list of dicts.

This is the original project's approach: each transform is a function over dicts, a bad row is
skipped with a warning. Usage: python3 transform_chain.py ORDERS.jsonl [BATCH]
Prints one JSON line: {"rows_in": .., "rows_out": .., "seconds": .., "rows_per_sec": ..,
"streaming_rows_per_sec": ..}.
Loading the JSON is not timed, as in the Rust benchmark. Two ways are timed, as there:
- the whole list: every row is loaded first, then the chain runs over the list;
- streaming: BATCH rows (default 1000) are loaded, then the chain runs over them (only that is
  timed), and so on, as a pipeline that reads batch by batch feeds its transforms.
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


def streaming(lines, batch):
    """Seconds spent in the chain when it runs batch by batch on just-loaded rows; rows kept."""
    seconds = 0.0
    kept = 0
    for i in range(0, len(lines), batch):
        rows = [json.loads(line) for line in lines[i:i + batch]]
        start = time.perf_counter()
        out, _ = chain(rows)
        kept += len(out)
        del out
        seconds += time.perf_counter() - start
    return seconds, kept


def main():
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.readlines()
    rows = [json.loads(line) for line in lines]
    best = None
    for _ in range(3):
        start = time.perf_counter()
        out, _ = chain(rows)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    kept = len(out)
    del out, rows
    best_streaming = None
    for _ in range(3):
        elapsed, streamed_kept = streaming(lines, batch)
        assert streamed_kept == kept
        best_streaming = elapsed if best_streaming is None else min(best_streaming, elapsed)
    print(json.dumps({
        "rows_in": len(lines),
        "rows_out": kept,
        "seconds": best,
        "rows_per_sec": len(lines) / best,
        "streaming_rows_per_sec": len(lines) / best_streaming,
    }))


if __name__ == "__main__":
    main()
