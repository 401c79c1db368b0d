"""The transform chain of benches/benches/transforms.rs in plain Python over a list of dicts.

This is the original project's approach: each transform is a function over dicts, a bad row is
skipped with a warning. Usage: python3 transform_chain.py ORDERS.jsonl [BATCH]
Prints one JSON line: {"rows_in": .., "rows_out": .., "rows_per_sec": ..,
"streaming_rows_per_sec": .., "chain_only_rows_per_sec": .., "chain_only_streaming_rows_per_sec": ..}.
Loading the JSON is not timed, as in the Rust benchmark. Two ways are timed, as there:
- the whole list: every row is loaded first, then the chain runs over the list;
- streaming: BATCH rows (default 1000) are loaded, then the chain runs over them (only that is
  timed), and so on, as a pipeline that reads batch by batch feeds its transforms.
What is timed matches the Rust side: the chain, then freeing its input and its output (Rust's
transforms consume their input rows and the output batches are dropped in the timed run). The
`chain_only_` figures leave the freeing out, as this script did before, for comparison.
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


def timed(rows):
    """Runs the chain on `rows` (a list nobody else holds), then frees its input and output.

    Returns (rows kept, seconds of the chain alone, seconds including the freeing)."""
    start = time.perf_counter()
    out, _ = chain(rows)
    chained = time.perf_counter()
    kept = len(out)
    rows.clear()
    del out
    return kept, chained - start, time.perf_counter() - start


def whole_list(lines):
    """Every row loaded (untimed), then the chain over the list; (kept, chain s, total s)."""
    return timed([json.loads(line) for line in lines])


def streaming(lines, batch):
    """The chain batch by batch on just-loaded rows; (kept, chain s, total s), summed."""
    kept, chain_s, total_s = 0, 0.0, 0.0
    for i in range(0, len(lines), batch):
        k, c, t = timed([json.loads(line) for line in lines[i:i + batch]])
        kept, chain_s, total_s = kept + k, chain_s + c, total_s + t
    return kept, chain_s, total_s


def best_of_3(run):
    """The fastest of three runs, for the chain alone and with the freeing; and rows kept."""
    results = [run() for _ in range(3)]
    kept = {k for k, _, _ in results}
    assert len(kept) == 1, kept
    return kept.pop(), min(c for _, c, _ in results), min(t for _, _, t in results)


def main():
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.readlines()
    n = len(lines)
    kept, chain_s, total_s = best_of_3(lambda: whole_list(lines))
    s_kept, s_chain_s, s_total_s = best_of_3(lambda: streaming(lines, batch))
    assert s_kept == kept
    print(json.dumps({
        "rows_in": n,
        "rows_out": kept,
        "rows_per_sec": n / total_s,
        "streaming_rows_per_sec": n / s_total_s,
        "chain_only_rows_per_sec": n / chain_s,
        "chain_only_streaming_rows_per_sec": n / s_chain_s,
    }))


if __name__ == "__main__":
    main()
