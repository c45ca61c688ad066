//! The `dedup` stage against a labelled near-duplicate corpus (tests/support/neardup.rs):
//! near mode meets its precision / recall bar, never merges a hard negative, and gives
//! byte-identical exports at 1 and 2 threads; exact mode drops exactly the copies that
//! are identical after normalisation. Run with `--nocapture` to see the score tables.

mod common;
#[path = "support/neardup.rs"]
mod neardup;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use common::*;
use neardup::{Doc, Kind, Truth};
use serde_json::Value;

const DOCS: usize = 6000;
const SEED: u64 = 11;

/// Writes the corpus to `dir/corpus.jsonl`.
fn corpus(dir: &Path) -> (Vec<Doc>, Vec<Truth>) {
    let (docs, truth) = neardup::generate(DOCS, SEED);
    std::fs::write(dir.join("corpus.jsonl"), neardup::to_jsonl(&docs)).unwrap();
    (docs, truth)
}

struct Export {
    dir: PathBuf,
    data: Vec<(String, Vec<u8>)>,
    kept: Vec<Value>,
    clusters_bytes: Vec<u8>,
    clusters: Vec<Value>,
    report: Value,
}

/// Runs a dedup pipeline over `dir/corpus.jsonl` into `dir/NAME`. Small batches, so
/// that two threads really split the work.
fn run_dedup(dir: &Path, name: &str, mode: &str, threads: usize) -> Export {
    run_dedup_with(dir, name, mode, threads, "")
}

/// `run_dedup` with `extra` lines in the dedup stage.
fn run_dedup_with(dir: &Path, name: &str, mode: &str, threads: usize, extra: &str) -> Export {
    let toml = format!(
        "name = \"dedup-quality\"\n\
         [input]\npath = \"corpus.jsonl\"\nbatch_rows = 500\n\
         [output]\npath = \"{name}\"\nformat = \"jsonl\"\n\
         [[stages]]\ntype = \"dedup\"\nfields = [\"text\"]\nmode = \"{mode}\"\nthreshold = 0.8\n{extra}"
    );
    std::fs::write(dir.join(format!("{name}.toml")), toml).unwrap();
    let threads = threads.to_string();
    let o = run_in(
        dir,
        &[
            "run",
            &format!("{name}.toml"),
            "--threads",
            &threads,
            "--quiet",
        ],
    );
    assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
    let out = dir.join(name);
    let data = data_files(&out);
    let kept = data
        .iter()
        .flat_map(|(_, bytes)| {
            std::str::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let clusters_path = out.join("dedup_clusters.jsonl");
    let clusters_bytes = std::fs::read(&clusters_path).unwrap();
    Export {
        data,
        kept,
        clusters: read_lines(&clusters_path),
        clusters_bytes,
        report: read_json(&out.join("report.json")),
        dir: out,
    }
}

fn id_of(v: &Value, side: &str) -> String {
    v[side]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {side}.id in {v}"))
        .to_string()
}

fn rows(report: &Value, key: &str) -> u64 {
    // `rows` carries the totals flattened (rows.in); accept rows.total.in as well.
    let r = &report["rows"];
    r["total"][key]
        .as_u64()
        .or_else(|| r[key].as_u64())
        .unwrap_or_else(|| panic!("no rows.{key} in report: {r}"))
}

/// Checks that hold for any correct dedup export and returns its (dropped, matched) pairs.
fn check_export(docs: &[Doc], e: &Export, mode: &str) -> Vec<(String, String)> {
    let index: HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i))
        .collect();

    // Row accounting.
    let (rin, out, dups) = (
        rows(&e.report, "in"),
        rows(&e.report, "out"),
        rows(&e.report, "duplicates"),
    );
    assert_eq!(rin, docs.len() as u64);
    assert_eq!(rin, out + dups, "rows in = out + duplicates");
    assert_eq!(out, e.kept.len() as u64);
    assert_eq!(
        dups,
        e.clusters.len() as u64,
        "one cluster line per dropped row"
    );
    let totals = &e.report["stages"][0]["findings"]["totals"];
    let counted: u64 = totals
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("dropped_"))
                .map(|(_, v)| v.as_u64().unwrap())
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(counted, dups, "dropped_* counters: {totals}");

    // Cluster lines: each dropped once, matched earlier, kept never dropped.
    let mut pairs = Vec::new();
    let mut dropped: HashSet<String> = HashSet::new();
    let mut line_offset = None;
    let mut off_similarity = Vec::new();
    for c in &e.clusters {
        let (d, m, k) = (id_of(c, "dropped"), id_of(c, "matched"), id_of(c, "kept"));
        let (di, mi, ki) = (index[d.as_str()], index[m.as_str()], index[k.as_str()]);
        assert!(mi < di, "matched must be earlier: {c}");
        assert!(ki < di, "kept must be earlier: {c}");
        assert!(dropped.insert(d.clone()), "dropped twice: {c}");
        let line = c["dropped"]["line"].as_u64().expect("dropped.line") as i64;
        let off = line - di as i64;
        assert!(
            off == 0 || off == 1,
            "line number {line} for index {di}: {c}"
        );
        assert_eq!(*line_offset.get_or_insert(off), off, "line numbering: {c}");
        let (a, b) = (&docs[di].text, &docs[mi].text);
        let sim = c["similarity"].as_f64().expect("similarity");
        match c["mode"].as_str() {
            Some("exact") => {
                assert_eq!(neardup::normalise(a), neardup::normalise(b), "{c}");
                assert_eq!(sim, 1.0, "{c}");
            }
            Some("near") => {
                assert_eq!(mode, "near", "near match in exact mode: {c}");
                // The stage compares sets of 32-bit shingle hashes: a rare collision
                // moves a similarity by about 1 / |A ∪ B|. A different normalisation
                // or shingling would move many, by more.
                let j = neardup::text_jaccard(a, b);
                assert!(sim >= 0.8, "similarity below threshold: {c}");
                assert!(j >= 0.8 - 0.003, "near match below threshold ({j}): {c}");
                if (sim - j).abs() > 1e-4 {
                    assert!(
                        (sim - j).abs() < 0.003,
                        "similarity {sim} vs exact {j}: {c}"
                    );
                    off_similarity.push((c.clone(), j));
                }
            }
            other => panic!("mode {other:?}: {c}"),
        }
        pairs.push((d, m));
    }
    assert!(
        off_similarity.len() <= 2,
        "similarities that differ from the exact Jaccard: {off_similarity:?}"
    );
    for c in &e.clusters {
        assert!(
            !dropped.contains(&id_of(c, "kept")),
            "kept id was dropped: {c}"
        );
    }

    // Kept rows: exactly the undropped documents, in input order, unchanged.
    let expected: Vec<&Doc> = docs.iter().filter(|d| !dropped.contains(&d.id)).collect();
    assert_eq!(e.kept.len(), expected.len());
    for (k, d) in e.kept.iter().zip(&expected) {
        assert_eq!(k, &serde_json::to_value(d).unwrap());
    }
    pairs
}

#[test]
fn near_dedup_quality_and_thread_determinism() {
    let t = tempfile::tempdir().unwrap();
    let (docs, truth) = corpus(t.path());
    let one = run_dedup(t.path(), "out1", "near", 1);
    let two = run_dedup(t.path(), "out2", "near", 2);
    assert!(
        one.data == two.data,
        "data/ differs between 1 and 2 threads"
    );
    assert!(
        one.clusters_bytes == two.clusters_bytes,
        "dedup_clusters.jsonl differs between 1 and 2 threads"
    );
    let v = bin().arg("verify").arg(&one.dir).output().unwrap();
    assert_eq!(code(&v), 0, "verify: {}", stderr(&v));

    let pairs = check_export(&docs, &one, "near");
    let s = neardup::score(&truth, &pairs);
    println!(
        "near, threshold 0.8, {DOCS} docs (seed {SEED}):\n{}",
        s.table()
    );
    assert_eq!(s.unknown_ids, 0);
    assert_eq!(s.negatives_merged, 0, "{}", s.table());
    assert!(s.pair_precision >= 0.99, "{}", s.table());
    assert!(s.precision >= 0.99, "{}", s.table());
    assert!(s.recall >= 0.98, "{}", s.table());
}

/// The index bounded by `memory_mb` (generations frozen to disk, rows held until theirs
/// is decided) decides exactly as the index held in memory: same rows out in the same
/// order, same `dedup_clusters.jsonl`.
#[test]
fn a_bounded_index_decides_as_the_index_in_memory() {
    let near = tempfile::tempdir().unwrap();
    corpus(near.path());
    // Exact mode's index is about 80 bytes a record: 1 MiB is several generations only
    // past ten thousand records, so it gets short records, a third of them copies (some
    // differing in case only, which the canonical form folds).
    let exact = tempfile::tempdir().unwrap();
    let lines: String = (0..40_000)
        .map(|i| {
            let n = if i % 3 == 0 { i / 7 } else { i };
            let text = if i % 5 == 0 {
                format!("Record {n}")
            } else {
                format!("record {n}")
            };
            format!("{{\"id\":\"r{i}\",\"text\":\"{text}\"}}\n")
        })
        .collect();
    std::fs::write(exact.path().join("corpus.jsonl"), lines).unwrap();
    for (mode, t) in [("near", &near), ("exact", &exact)] {
        let memory = run_dedup(t.path(), &format!("{mode}-memory"), mode, 2);
        let bounded = run_dedup_with(
            t.path(),
            &format!("{mode}-bounded"),
            mode,
            2,
            "memory_mb = 1\n",
        );
        let info = |e: &Export| e.report["stages"][0]["findings"]["info"].clone();
        assert_eq!(info(&memory)["passes"], 1, "{mode}");
        assert!(info(&memory).get("bounded_index").is_none(), "{mode}");
        assert_eq!(info(&bounded)["passes"], 1, "{mode}");
        let generations = info(&bounded)["bounded_index"]["generations"]
            .as_u64()
            .unwrap();
        assert!(generations >= 2, "{mode}: {generations} generations");
        // Each generation settles full, not early for memory its presizing left out.
        assert_eq!(
            info(&bounded)["bounded_index"]["settled_for_memory"],
            0,
            "{mode}"
        );
        // A generation settles before it outgrows its half of memory_mb (its tables and
        // vectors are sized up front for the records it takes).
        let peak = info(&bounded)["index_bytes"].as_u64().unwrap();
        assert!(peak <= 1 << 19, "{mode}: generation peaked at {peak} bytes");
        assert!(
            memory.data == bounded.data,
            "{mode}: data/ differs between the bounded and the in-memory index"
        );
        assert!(
            memory.clusters_bytes == bounded.clusters_bytes,
            "{mode}: dedup_clusters.jsonl differs between the bounded and the in-memory index"
        );
        assert!(!memory.clusters.is_empty());
        let v = bin().arg("verify").arg(&bounded.dir).output().unwrap();
        assert_eq!(code(&v), 0, "verify: {}", stderr(&v));
    }
}

#[test]
fn exact_mode_drops_exactly_the_normalised_copies() {
    let t = tempfile::tempdir().unwrap();
    let (docs, truth) = corpus(t.path());
    let e = run_dedup(t.path(), "exact", "exact", 2);
    let pairs = check_export(&docs, &e, "exact");
    println!(
        "exact, {DOCS} docs (seed {SEED}); recall is against the near-duplicate groups, \
         so edited variants and copies in groups that start with an edit count as missed:\n{}",
        neardup::score(&truth, &pairs).table()
    );

    // Seed, exact and normalised copies of one cluster are identical after
    // normalisation; every one after the first must go, and nothing else.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut expected: HashSet<&str> = HashSet::new();
    for t in &truth {
        if matches!(t.kind, Kind::Seed | Kind::Exact | Kind::Normalised)
            && !seen.insert(t.cluster.as_str())
        {
            expected.insert(t.id.as_str());
        }
    }
    let dropped: HashSet<&str> = pairs.iter().map(|(d, _)| d.as_str()).collect();
    let kind: HashMap<&str, Kind> = truth.iter().map(|t| (t.id.as_str(), t.kind)).collect();
    for k in [Kind::Exact, Kind::Normalised] {
        let want = expected.iter().filter(|id| kind[*id] == k).count();
        let got = expected
            .iter()
            .filter(|id| kind[*id] == k && dropped.contains(*id))
            .count();
        assert!(want > 0);
        assert_eq!(got, want, "{} copies caught (recall must be 1.0)", k.name());
    }
    let wrong: Vec<_> = dropped
        .iter()
        .filter(|id| !expected.contains(*id))
        .map(|id| (id, kind[id]))
        .collect();
    assert!(wrong.is_empty(), "dropped in exact mode: {wrong:?}");
    assert_eq!(dropped.len(), expected.len());
}
