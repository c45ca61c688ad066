"""Asserts that two datacustoms exports hold the same thing: the same rows in the same
order (JSONL parts concatenated), the same quarantine.jsonl, and the same report.json
apart from its volatile fields. Used by .ci/drivers.sh; tests/sharded.rs checks the same in
Rust."""

import json
import pathlib
import sys

VOLATILE = [("started_at",), ("finished_at",), ("seconds",), ("threads",), ("output", "parts"), ("output", "bytes")]


def rows(export: pathlib.Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((export / "data").glob("part-*")))


def report(export: pathlib.Path) -> dict:
    r = json.loads((export / "report.json").read_text())
    for path in VOLATILE:
        node = r
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    for s in r.get("stages", []):
        s.pop("cpu_seconds", None)
    return r


def main(a: str, b: str) -> None:
    a, b = pathlib.Path(a), pathlib.Path(b)
    assert rows(a), f"{a} exports no rows"
    assert rows(a) == rows(b), "the exports' rows differ"
    qa, qb = a / "quarantine.jsonl", b / "quarantine.jsonl"
    assert qa.exists() == qb.exists() and (not qa.exists() or qa.read_bytes() == qb.read_bytes()), "quarantine.jsonl differs"
    ra, rb = report(a), report(b)
    assert ra == rb, "report.json differs:\n" + "\n".join(
        f"  {k}: {ra.get(k)!r} != {rb.get(k)!r}" for k in sorted(set(ra) | set(rb)) if ra.get(k) != rb.get(k)
    )
    print(f"same export: {len(rows(a))} bytes of rows, {len(list((b / 'data').glob('part-*')))} parts in the sharded one")


if __name__ == "__main__":
    main(*sys.argv[1:3])
