#!/usr/bin/env python3
"""Streaming keep-first near-dedup with datasketch: the baseline that
benches/dedup_vs_datasketch.sh compares the datacustoms `dedup` stage against.

    dedup_datasketch.py CORPUS.jsonl PAIRS.jsonl [--threshold 0.8] [--num-perm 128]

CORPUS.jsonl has {"id", "text"} lines (examples/gen_neardup.rs). For each document in
order: MinHash(num_perm) of its character 5-gram shingles, query a MinHashLSH(threshold,
num_perm) holding every earlier document; if anything comes back the document is
dropped and paired with the smallest returned id (ids are in input order, so that is
the earliest candidate). Every document is inserted, dropped or not, so it can match
"any earlier document" as the stage does. No exact verification of candidates: this is
plain datasketch usage. PAIRS.jsonl gets one {"dropped": {"id"}, "matched": {"id"}}
line per dropped document, the shape `gen_neardup score` reads.
"""

import argparse
import json
import re
import sys
import time
import unicodedata

from datasketch import MinHash, MinHashLSH

SHINGLE = 5
_WS = re.compile(r"\s+")


def normalise(text):
    """NFKC, lower-case, whitespace runs to one space, trimmed: the stage's definition.

    Differences from the Rust side (str::to_lowercase, char::is_whitespace), none of
    which the generated corpus exercises:
    * Python's \\s and str.strip() also treat U+001C..U+001F (information separators)
      as whitespace; Unicode White_Space, which Rust uses, does not.
    * Both lower-case with the full Unicode mappings including final sigma, but each
      uses its own Unicode version (Python 3.11: 14.0), as does NFKC.
    """
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def shingles(norm):
    """Set of char 5-grams; a shorter non-empty text is its own single shingle."""
    n = len(norm)
    if n == 0:
        return set()
    if n < SHINGLE:
        return {norm}
    return {norm[i : i + SHINGLE] for i in range(n - SHINGLE + 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("pairs")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    a = ap.parse_args()

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=a.threshold, num_perm=a.num_perm)
    docs = dropped = 0
    with open(a.corpus, encoding="utf-8") as f, open(a.pairs, "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            m = MinHash(num_perm=a.num_perm)
            m.update_batch([s.encode("utf-8") for s in shingles(normalise(rec["text"]))])
            hits = lsh.query(m)
            if hits:
                dropped += 1
                pair = {"dropped": {"id": rec["id"]}, "matched": {"id": min(hits)}}
                out.write(json.dumps(pair) + "\n")
            lsh.insert(rec["id"], m)
            docs += 1
    secs = time.perf_counter() - t0
    print(
        f"datasketch: {docs} docs, {dropped} dropped, {secs:.1f} s, {docs / secs:.0f} docs/s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
