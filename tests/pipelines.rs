//! Every example pipeline under pipelines/ runs on the bundled sample data and its export
//! passes `verify`; the quickstart can be rerun in the same place.

mod common;
use common::*;

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the example pipelines and the sample data into `dir`, so runs there keep
/// their keyrings, vaults and ledgers out of the checkout.
fn checkout_copy(dir: &Path) {
    for sub in ["pipelines", "sample-data"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(root().join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
}

#[test]
fn every_example_pipeline_runs_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("work");
    checkout_copy(&work);
    let mut n = 0;
    for e in std::fs::read_dir(work.join("pipelines")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        n += 1;
        let out = t.path().join(p.file_stem().unwrap());
        let o = bin()
            .current_dir(&work)
            .args(["run", "--quiet", "--quarantine-dir"])
            .arg(t.path().join("q"))
            .arg(&p)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}: {}", p.display(), stderr(&o));
        let v = bin().arg("verify").arg(&out).output().unwrap();
        assert_eq!(code(&v), 0, "{}: {}", p.display(), stderr(&v));
        // The declaration: one self-contained page with inline charts.
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        if ["quickstart", "dedup", "deidentify", "orders-dp"].contains(&stem.as_str()) {
            assert!(page.contains("<svg"), "{stem}: no chart");
        }
        assert!(!page.contains("<script") && !page.contains(" src=") && !page.contains(" href="));
        let r = read_json(&out.join("report.json"));
        if stem == "quickstart" {
            // The customs declaration a reviewer reads: assessment, grading, charts.
            for needle in [
                "Cross-border mechanism",
                "PII found by field, as read",
                "k-anonymity: records by the size of their equivalence class",
                "sensitive PI",
            ] {
                assert!(
                    page.contains(needle),
                    "quickstart report.html lacks {needle}"
                );
            }
            let a = &r["assessment"];
            assert_eq!(a["fields"].as_array().unwrap().len(), 7);
            assert!(a["distinct_subjects"].as_u64().unwrap() > 0);
            assert!(a["k_anonymity"]["k"].as_u64().unwrap() > 0);
        }
        if r["output"]["rows_written"] == false {
            // Aggregates only: exact counts stay at home.
            assert!(r["withheld"].is_object(), "{}", p.display());
        } else {
            assert!(r["rows"]["out"].as_u64().unwrap() > 0, "{}", p.display());
        }
    }
    assert!(n >= 2, "expected example pipelines, found {n}");
}

#[test]
fn quickstart_reruns_and_changes_what_it_should() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("qs");
    for _ in 0..2 {
        let o = bin()
            .current_dir(root())
            .args(["run", "pipelines/quickstart.toml", "--quiet", "--output"])
            .arg(&out)
            .arg("--quarantine-dir")
            .arg(t.path().join("q"))
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let r = read_json(&out.join("report.json"));
    let f = &r["stages"][0]["findings"]["fields"]["text"];
    assert!(f["nfkc_changed"].as_u64().unwrap() > 0, "{f}");
    assert!(f["invisible_stripped"].as_u64().unwrap() > 0, "{f}");
    assert_eq!(r["output"]["schema"][1]["name"], "uid");
    assert_eq!(r["rows"]["reconciled"], true);
    assert!(r["rows"]["duplicates"].as_u64().unwrap() > 0);
}

/// The sample corpus's truth file marks 222 duplicates (exact and near, of `text`);
/// `pipelines/dedup.toml` must drop every one of them and nothing that is not a copy.
#[test]
fn dedup_pipeline_drops_the_sample_duplicates() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("d");
    let o = bin()
        .current_dir(root())
        .args(["run", "pipelines/dedup.toml", "--quiet", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let truth: std::collections::HashMap<String, serde_json::Value> =
        read_lines(&root().join("sample-data/chat.truth.jsonl"))
            .into_iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t))
            .collect();
    let dropped = read_lines(&out.join("dedup_clusters.jsonl"));
    let marked = truth.values().filter(|t| !t["dup_of"].is_null()).count();
    assert_eq!(marked, 222);
    let caught = dropped
        .iter()
        .filter(|d| !truth[d["dropped"]["id"].as_str().unwrap()]["dup_of"].is_null())
        .count();
    assert_eq!(caught, marked, "every marked duplicate is dropped");
    // The generator's sentence templates make a few unmarked records true copies too:
    // those must really be at or above the threshold.
    for d in &dropped {
        assert!(d["similarity"].as_f64().unwrap() >= 0.8, "{d}");
    }
    assert!(dropped.len() <= marked + 5, "{}", dropped.len());
}

/// `pipelines/deidentify.toml` on the sample corpus: for every entity type the detector
/// knows, the share of the truth file's values that no longer appear in the output
/// (scored per record, also in NFKC form) meets the recall bars of the
/// de-identification issue.
#[test]
fn deidentify_pipeline_removes_the_sample_pii() {
    use unicode_normalization::UnicodeNormalization;
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("d");
    let o = bin()
        .current_dir(root())
        .args(["run", "pipelines/deidentify.toml", "--quiet", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows: std::collections::HashMap<String, String> =
        std::fs::read_to_string(out.join("data/part-00000.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["id"].as_str().unwrap().to_string(), l.to_string())
            })
            .collect();
    let mut seen = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for truth in read_lines(&root().join("sample-data/chat.truth.jsonl")) {
        let row = &rows[truth["id"].as_str().unwrap()];
        let row: String = serde_json::from_str::<serde_json::Value>(row)
            .unwrap()
            .to_string();
        for e in truth["entities"].as_array().unwrap() {
            let v = e["value"].as_str().unwrap();
            let survives = row.contains(v) || row.contains(&v.nfkc().collect::<String>());
            let s = seen.entry(e["type"].as_str().unwrap().into()).or_default();
            s.0 += 1;
            s.1 += survives as u32;
        }
    }
    let bars = [
        ("CN_ID_CARD", 0.99),
        ("BANK_CARD", 0.99),
        ("CN_USCC", 0.99),
        ("IBAN", 0.99),
        ("EMAIL", 0.99),
        ("IP_ADDRESS", 0.99),
        ("US_SSN", 0.99),
        ("PHONE", 0.98),
        ("CN_LICENSE_PLATE", 0.98),
        ("PASSPORT", 0.98),
        ("DATE_OF_BIRTH", 0.95),
        ("PERSON", 0.95),
        ("ADDRESS", 0.93),
    ];
    for (ty, bar) in bars {
        let (n, left) = seen[ty];
        let recall = 1.0 - left as f64 / n as f64;
        println!("{ty:<18} {n:>4} recall {recall:.3}");
        assert!(
            recall >= bar,
            "{ty}: recall {recall:.3} < {bar} ({left} of {n} left)"
        );
    }
}
