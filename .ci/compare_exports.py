"""Asserts that two datacustoms exports hold the same thing: the same rows in the same
order (JSONL parts concatenated; Parquet parts read back as JSONL by the engine itself, a
pipeline without stages, so this script needs nothing but the standard library), the same
quarantine.jsonl and dedup_clusters.jsonl, and the same report.json apart from its
volatile fields. Used by .ci/drivers.sh; tests/sharded.rs checks the same in Rust.

    compare_exports.py A B [--rows-of A2 B2] [--dp] [--bin DATACUSTOMS] [--ignore KEY.PATH]...

--rows-of compares the rows of two other folders instead (the decrypted exports of two
encrypted ones: ciphertext is random by design). --dp compares two aggregates-only
exports whose noise was drawn independently: the same release files, and the same report
but for the budget ledger's hash chain (it hashes the released values)."""

import argparse
import json
import pathlib
import subprocess
import tempfile

# As tests/sharded.rs's VOLATILE: times (the residual re-scan's too), threads, peak memory, how the
# rows are cut into parts, and the number of data keys (each task attempt draws its own).
VOLATILE = [
    ("started_at",),
    ("finished_at",),
    ("seconds",),
    ("threads",),
    ("peak_memory_bytes",),
    ("output", "parts"),
    ("output", "bytes"),
    ("keys", "data_keys"),
    ("residual", "cpu_seconds"),
]


def rows(export: pathlib.Path, binary: str) -> bytes:
    parts = sorted((export / "data").glob("part-*"))
    if not any(p.suffix == ".parquet" for p in parts):
        return b"".join(p.read_bytes() for p in parts)
    with tempfile.TemporaryDirectory() as t:
        t = pathlib.Path(t)
        (t / "as-jsonl.toml").write_text('[input]\npath = "-"\n[output]\npath = "-"\nformat = "jsonl"\n')
        cmd = [binary, "-q", "run", str(t / "as-jsonl.toml"), "--input", str(export / "data"), "--output", str(t / "out")]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"reading {export} back as JSONL failed:\n{done.stderr}"
        return b"".join(p.read_bytes() for p in sorted((t / "out" / "data").glob("part-*")))


def report(export: pathlib.Path, dp: bool, ignore: list) -> dict:
    r = json.loads((export / "report.json").read_text())
    for path in VOLATILE + [tuple(k.split(".")) for k in ignore]:
        node = r
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    for s in r.get("stages", []):
        s.pop("cpu_seconds", None)
        if dp:
            s.get("findings", {}).get("info", {}).get("ledger", {}).pop("chain", None)
    return r


def same_file(a: pathlib.Path, b: pathlib.Path, name: str) -> None:
    fa, fb = a / name, b / name
    assert fa.exists() == fb.exists() and (not fa.exists() or fa.read_bytes() == fb.read_bytes()), f"{name} differs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=pathlib.Path)
    ap.add_argument("b", type=pathlib.Path)
    ap.add_argument("--rows-of", nargs=2, type=pathlib.Path)
    ap.add_argument("--dp", action="store_true")
    ap.add_argument("--bin", default="datacustoms")
    # Report keys (dotted) that differ by construction, such as a scheduler's run id.
    ap.add_argument("--ignore", action="append", default=[])
    args = ap.parse_args()
    a, b = args.a, args.b
    if args.dp:
        names = lambda e: sorted(p.name for p in (e / "aggregates").iterdir())
        assert names(a) and names(a) == names(b), f"different releases: {names(a)} != {names(b)}"
        what = f"{len(names(b))} release files"
    else:
        ra, rb = (rows(e, args.bin) for e in (args.rows_of or (a, b)))
        assert ra, f"{a} exports no rows"
        assert ra == rb, "the exports' rows differ"
        what = f"{len(ra)} bytes of rows, {len(list((b / 'data').glob('part-*')))} parts in the sharded one"
    same_file(a, b, "quarantine.jsonl")
    same_file(a, b, "dedup_clusters.jsonl")
    ra, rb = report(a, args.dp, args.ignore), report(b, args.dp, args.ignore)
    assert ra == rb, "report.json differs:\n" + "\n".join(
        f"  {k}: {ra.get(k)!r} != {rb.get(k)!r}" for k in sorted(set(ra) | set(rb)) if ra.get(k) != rb.get(k)
    )
    print(f"same export: {what}")


if __name__ == "__main__":
    main()
