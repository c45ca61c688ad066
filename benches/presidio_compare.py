"""Recall and speed of the datacustoms `deidentify` stage against Microsoft Presidio's
pattern recognizers, on one generated chat corpus with ground truth.

Called by benches/presidio_compare.sh, which generates the corpus and runs datacustoms;
this script runs Presidio, scores both against the truth file and prints the tables.

    python presidio_compare.py --chat chat.jsonl --truth truth.jsonl \
        --dc-out OUT_DIR --dc-wall SECONDS [--phone-regions CN,US,GB]

Presidio is set up fully offline: an `AnalyzerEngine` over a `SpacyNlpEngine` whose
pipeline is `spacy.blank("en")` (a tokenizer only: no model, no download, no NER), and a
`RecognizerRegistry` holding only the pattern recognizers CreditCardRecognizer,
EmailRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer (regions from
--phone-regions), UrlRecognizer and UsSsnRecognizer. Every record's `text` and each
`messages[i].content` is analysed with language "en" and score threshold 0; only the
`analyze` calls are timed (this includes the blank spaCy tokenisation Presidio runs on
every text, which its context enhancer uses). EmailRecognizer's tldextract is pointed
at its bundled public-suffix snapshot so it does not try to download the list.

Scoring:
  * datacustoms: a truth entity counts as found when neither its value nor its NFKC form
    still occurs in the same field of the output record (matched by `id`).
  * Presidio: a truth entity counts as found when a result of the corresponding type
    overlaps at least half of the truth span (Unicode character offsets).
"""

import argparse
import glob
import json
import os
import sys
import time
import unicodedata
from collections import Counter

TYPE_MAP = {
    "CREDIT_CARD": "BANK_CARD",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "US_SSN": "US_SSN",
}
ORDER = [
    "CN_ID_CARD", "PHONE", "EMAIL", "BANK_CARD", "IP_ADDRESS", "URL", "CN_USCC",
    "CN_LICENSE_PLATE", "PASSPORT", "US_SSN", "IBAN", "PERSON", "ADDRESS", "DATE_OF_BIRTH",
]


def build_analyzer(regions):
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer,
        PhoneRecognizer, UrlRecognizer, UsSsnRecognizer,
    )

    # EmailRecognizer validates domains with tldextract, which by default fetches the
    # public suffix list from the network; use the snapshot bundled with tldextract.
    import tldextract
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())

    # A SpacyNlpEngine whose `nlp` is set before AnalyzerEngine sees it: is_loaded() is
    # then true, so load() (spacy.load + spacy.cli.download of en_core_web_lg) never runs.
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    nlp_engine.nlp = {"en": spacy.blank("en")}
    registry = RecognizerRegistry(supported_languages=["en"])
    for r in (
        CreditCardRecognizer(), EmailRecognizer(), IbanRecognizer(), IpRecognizer(),
        PhoneRecognizer(supported_regions=tuple(regions)), UrlRecognizer(), UsSsnRecognizer(),
    ):
        registry.add_recognizer(r)
    analyzer = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=["en"],
        default_score_threshold=0,
    )
    return analyzer, [type(r).__name__ for r in registry.recognizers]


def fields_of(rec):
    """(field name as in the truth file, string) for text and every message content."""
    out = []
    if isinstance(rec.get("text"), str):
        out.append(("text", rec["text"]))
    for i, m in enumerate(rec.get("messages") or []):
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            out.append((f"messages[{i}].content", m["content"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chat", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--dc-out", required=True, help="datacustoms export folder")
    ap.add_argument("--dc-wall", type=float, required=True)
    ap.add_argument("--dc-rss-kb", type=int, default=0)
    ap.add_argument("--phone-regions", default="CN,US,GB")
    a = ap.parse_args()

    truth = {}
    for line in open(a.truth, encoding="utf-8"):
        d = json.loads(line)
        truth[d["id"]] = d["entities"]
    n_truth = Counter(e["type"] for ents in truth.values() for e in ents)

    # ---- datacustoms: score its output -------------------------------------------
    report = json.load(open(os.path.join(a.dc_out, "report.json"), encoding="utf-8"))
    stage_cpu = report["stages"][0]["cpu_seconds"]
    in_bytes = report["input"]["bytes"]
    dc_findings = report["stages"][0]["findings"].get("totals", {})
    out_fields = {}
    for part in sorted(glob.glob(os.path.join(a.dc_out, "data", "*.jsonl"))):
        for line in open(part, encoding="utf-8"):
            rec = json.loads(line)
            out_fields[rec["id"]] = dict(fields_of(rec))
    dc_found, missing = Counter(), 0
    for rid, ents in truth.items():
        f = out_fields.get(rid)
        if f is None:
            missing += len(ents)
            continue
        for e in ents:
            s = f.get(e["field"], "")
            v = e["value"]
            if v not in s and unicodedata.normalize("NFKC", v) not in s:
                dc_found[e["type"]] += 1

    # ---- Presidio ----------------------------------------------------------------
    analyzer, names = build_analyzer(a.phone_regions.split(","))
    texts = []  # (id, field, text)
    for line in open(a.chat, encoding="utf-8"):
        rec = json.loads(line)
        for name, s in fields_of(rec):
            texts.append((rec["id"], name, s))
    text_bytes = sum(len(s.encode("utf-8")) for _, _, s in texts)
    analyzer.analyze(text="warm up 13812345678 a@b.com", language="en")
    results = {}
    t0 = time.perf_counter()
    for rid, name, s in texts:
        results[(rid, name)] = analyzer.analyze(text=s, language="en")
    pr_secs = time.perf_counter() - t0

    pr_found, pr_dets = Counter(), Counter()
    for res in results.values():
        for r in res:
            pr_dets[TYPE_MAP.get(r.entity_type, r.entity_type)] += 1
    for rid, ents in truth.items():
        for e in ents:
            want = e["type"]
            need = (e["end"] - e["start"]) / 2
            for r in results.get((rid, e["field"]), ()):
                if TYPE_MAP.get(r.entity_type) != want:
                    continue
                if min(r.end, e["end"]) - max(r.start, e["start"]) >= need:
                    pr_found[want] += 1
                    break

    # ---- tables ------------------------------------------------------------------
    dc_wall_mbs = in_bytes / 1e6 / a.dc_wall
    dc_stage_text = text_bytes / 1e6 / stage_cpu
    pr_mbs = text_bytes / 1e6 / pr_secs
    print(f"corpus: {len(truth)} records, {in_bytes / 1e6:.2f} MB JSONL, "
          f"{len(texts)} text values ({text_bytes / 1e6:.2f} MB of text and messages.content)")
    print(f"Presidio {presidio_version()} recognizers: {', '.join(names)}; "
          f"phone regions {a.phone_regions}; NLP: spacy.blank('en') (spaCy {spacy_version()})")
    print()
    print("| tool | what is timed | seconds | MB/s |")
    print("|------|---------------|--------:|-----:|")
    print(f"| datacustoms (1 thread) | whole run, wall (read, deidentify, residual re-scan, write); input JSONL bytes | {a.dc_wall:.2f} | {dc_wall_mbs:.1f} |")
    print(f"| datacustoms (1 thread) | deidentify stage CPU s (report.json); text bytes | {stage_cpu:.2f} | {dc_stage_text:.1f} |")
    print(f"| Presidio (1 process)   | analyze() calls only; text bytes | {pr_secs:.2f} | {pr_mbs:.2f} |")
    print()
    print(f"speed ratio, same text bytes: datacustoms stage / Presidio analyze = {dc_stage_text / pr_mbs:.0f}x; "
          f"datacustoms whole run (wall, incl. I/O and re-scan) / Presidio analyze = "
          f"{(text_bytes / a.dc_wall) / (text_bytes / pr_secs):.0f}x")
    if a.dc_rss_kb:
        print(f"datacustoms peak RSS {a.dc_rss_kb / 1024:.0f} MiB")
    if missing:
        print(f"note: {missing} truth entities belong to records missing from the datacustoms output")
    print()
    print("| type | truth entities | datacustoms recall | Presidio recall | datacustoms detections | Presidio detections |")
    print("|------|---------------:|-------------------:|----------------:|-----------------------:|--------------------:|")
    presidio_types = set(TYPE_MAP.values())
    types = [t for t in ORDER if n_truth[t] or pr_dets[t] or dc_findings.get(t)]
    types += sorted(t for t in n_truth if t not in ORDER)
    tot_n = tot_dc = tot_pr = 0
    for t in types:
        n = n_truth[t]
        dc = f"{dc_found[t] / n:.4f}" if n else "-"
        if t not in presidio_types:
            pr = "0 (no recognizer)" if n else "no recognizer"
        else:
            pr = f"{pr_found[t] / n:.4f}" if n else "-"
        tot_n, tot_dc, tot_pr = tot_n + n, tot_dc + dc_found[t], tot_pr + pr_found[t]
        print(f"| {t} | {n} | {dc} | {pr} | {dc_findings.get(t, 0)} | {pr_dets[t]} |")
    print(f"| all | {tot_n} | {tot_dc / tot_n:.4f} | {tot_pr / tot_n:.4f} | {sum(dc_findings.values())} | {sum(pr_dets.values())} |")
    covered = [t for t in types if t in presidio_types and n_truth[t]]
    cn = sum(n_truth[t] for t in covered)
    if cn:
        print(f"| types Presidio covers ({', '.join(covered)}) | {cn} | "
              f"{sum(dc_found[t] for t in covered) / cn:.4f} | {sum(pr_found[t] for t in covered) / cn:.4f} | | |")


def presidio_version():
    try:
        from importlib.metadata import version
        return version("presidio-analyzer")
    except Exception:
        return "?"


def spacy_version():
    import spacy
    return spacy.__version__


if __name__ == "__main__":
    sys.exit(main())
