//! The `deidentify` stage against a labelled PII corpus (tests/support/pii_eval.rs):
//! 5,000 Chinese and English customer-service / HR records with planted entities of
//! the 14 built-in types and hard negatives. Per-type recall and (tag-based) precision,
//! and the share of hard negatives kept, must meet their bars. Run with `--nocapture`
//! to see the score table and every miss.

mod common;
#[path = "support/pii_eval.rs"]
mod pii_eval;

use std::collections::HashMap;

use common::*;

const RECORDS: usize = 5_000;
const SEED: u64 = 3;

/// (type, minimum recall).
const RECALL_BARS: &[(&str, f64)] = &[
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
    ("PERSON", 0.95),
    ("ADDRESS", 0.93),
];
const NEGATIVES_KEPT: f64 = 0.95;
const PRECISION: f64 = 0.95;
/// Precision is asserted only for types with at least this many planted values.
const PRECISION_MIN_N: usize = 20;

#[test]
fn deidentify_meets_recall_precision_and_hard_negative_bars() {
    let records = pii_eval::generate(RECORDS, SEED);
    let truth: Vec<pii_eval::Truth> = records.iter().map(|(_, t)| t.clone()).collect();
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.jsonl"), pii_eval::to_jsonl(&records)).unwrap();
    run_tagging(t.path());
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    assert_eq!(rows.len(), RECORDS, "every record is exported");
    let outputs: HashMap<String, String> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // `PII_EVAL_DUMP=DIR` keeps the corpus, its truth and the output for inspection.
    if let Some(dir) = std::env::var_os("PII_EVAL_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(t.path().join("in.jsonl"), dir.join("in.jsonl")).unwrap();
        std::fs::copy(
            t.path().join("out/data/part-00000.jsonl"),
            dir.join("out.jsonl"),
        )
        .unwrap();
        let truth_lines: String = truth.iter().map(|t| format!("{}\n", t.to_json())).collect();
        std::fs::write(dir.join("truth.jsonl"), truth_lines).unwrap();
    }
    let rep = pii_eval::score(&truth, &outputs);
    println!("{}", rep.table());
    println!("{}", rep.failures());
    assert_eq!(rep.missing, 0);

    let mut failed = Vec::new();
    for &(ty, bar) in RECALL_BARS {
        let r = rep.types[ty].recall();
        if r < bar {
            failed.push(format!("{ty} recall {r:.4} < {bar}"));
        }
    }
    for ty in pii_eval::TYPES {
        let s = &rep.types[ty];
        if s.n >= PRECISION_MIN_N && s.precision() < PRECISION {
            failed.push(format!("{ty} precision {:.4} < {PRECISION}", s.precision()));
        }
    }
    let kept = rep.negatives_kept_rate();
    if kept < NEGATIVES_KEPT {
        failed.push(format!("hard negatives kept {kept:.4} < {NEGATIVES_KEPT}"));
    }
    assert!(failed.is_empty(), "bars missed:\n{}", failed.join("\n"));
}

#[test]
fn corpus_is_deterministic_and_well_formed() {
    let a = pii_eval::generate(300, SEED);
    let b = pii_eval::generate(300, SEED);
    assert_eq!(pii_eval::to_jsonl(&a), pii_eval::to_jsonl(&b));
    assert_ne!(
        pii_eval::to_jsonl(&a),
        pii_eval::to_jsonl(&pii_eval::generate(300, SEED + 1))
    );
    for (rec, truth) in &a {
        let text = rec["text"].as_str().unwrap();
        assert_eq!(rec["id"], truth.id.as_str());
        assert!(truth.entities.len() <= 3);
        for e in &truth.entities {
            assert!(
                text.contains(&e.value),
                "{} {:?} not in {text}",
                e.kind,
                e.value
            );
        }
        for n in &truth.negatives {
            assert!(
                text.contains(&n.value),
                "{} {:?} not in {text}",
                n.kind,
                n.value
            );
        }
        let j = truth.to_json();
        assert_eq!(j["id"], truth.id.as_str());
    }
}
