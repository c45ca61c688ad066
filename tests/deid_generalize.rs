//! The `deidentify` stage against an evaluation corpus built independently of the
//! recognizers: values drawn from two third-party fake-data generators (Faker and
//! mimesis) in their own surface forms, put into hand-written sentence templates, and
//! committed as `tests/data/deid_eval/{dev,heldout}.jsonl` (built by
//! `scripts/deid_eval/build.py`; see `scripts/deid_eval/README.md`).
//!
//! The corpus has two halves with different templates. The *dev* half is for looking at:
//! with `DEID_EVAL_DUMP=1` (and `--nocapture`) every miss and every lost negative is
//! printed. The *held-out* half stands in for corpora nobody on the project sees: only
//! its counts are printed, never its texts, and the floors below are asserted on it
//! alone. Do not tune recognizers on held-out output.
//!
//! Scoring (output-based, as in `tests/support/pii_eval.rs`):
//! - recall per (type, lang): a planted value is caught when neither it nor its NFKC
//!   form occurs verbatim in the output text any more (a partial replacement counts);
//! - precision per type, from the tags (`action = "tag"` writes `<TYPE>`): per record,
//!   `spurious_T` is the number of `<T>` tags beyond the number of planted T values, and
//!   `precision_T = caught_T / (caught_T + spurious_T)`;
//! - look-alikes kept: the share of hard negatives whose value still occurs verbatim.

mod common;
#[path = "support/pii_eval.rs"]
mod pii_eval;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use common::*;
use pii_eval::TYPES;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

/// Recall floors on the held-out half: (type, lang — "zh", "en" or "*" for both —,
/// minimum recall). A floor naming a (type, lang) with no planted values fails the test.
///
/// Issue 13's bars (PERSON and ADDRESS ≥ 0.95, every other type ≥ 0.99), higher where the
/// recognizers reach more (ADDRESS). Raise a floor whenever the recognizers improve; never
/// lower one to make a change pass.
const HELDOUT_FLOORS: &[(&str, &str, f64)] = &[
    ("PERSON", "zh", 0.95),
    ("PERSON", "en", 0.95),
    ("ADDRESS", "zh", 0.98),
    ("ADDRESS", "en", 0.98),
    ("PHONE", "zh", 0.99),
    ("PHONE", "en", 0.99),
    ("CN_ID_CARD", "zh", 0.99),
    ("BANK_CARD", "*", 0.99),
    ("EMAIL", "*", 0.99),
    ("URL", "*", 0.99),
    ("IP_ADDRESS", "*", 0.99),
    ("CN_LICENSE_PLATE", "zh", 0.99),
    ("PASSPORT", "*", 0.99),
    ("US_SSN", "en", 0.99),
    ("IBAN", "en", 0.99),
    ("DATE_OF_BIRTH", "zh", 0.99),
    ("DATE_OF_BIRTH", "en", 0.99),
];
/// Minimum tag precision of every type on the held-out half, asserted for types with at
/// least `PRECISION_MIN_EVIDENCE` caught values plus spurious tags.
const PRECISION_FLOOR: f64 = 0.95;
const PRECISION_MIN_EVIDENCE: usize = 20;
/// Minimum share of held-out hard negatives kept verbatim (all kinds together).
const KEPT_FLOOR: f64 = 0.97;

const NEG_KINDS: [&str; 9] = [
    "company",
    "product",
    "place",
    "surname_word",
    "date",
    "order_no",
    "tracking_no",
    "amount",
    "time",
];
const LANGS: [&str; 2] = ["zh", "en"];
const SOURCES: [&str; 3] = ["faker", "mimesis", "composed"];

#[derive(Clone)]
struct Entity {
    ty: String,
    value: String,
    source: String,
}

#[derive(Clone)]
struct Negative {
    kind: String,
    value: String,
}

struct Record {
    id: String,
    lang: String,
    text: String,
    entities: Vec<Entity>,
    negatives: Vec<Negative>,
}

fn corpus_path(half: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/deid_eval")
        .join(format!("{half}.jsonl"))
}

fn str_of<'a>(v: &'a Value, key: &str, ctx: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: `{key}` is not a string"))
}

fn load(half: &str) -> Vec<Record> {
    let path = corpus_path(half);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let ctx = format!("{half}.jsonl line {}", i + 1);
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let list = |key: &str| -> Vec<Value> {
                v[key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{ctx}: `{key}` is not an array"))
                    .clone()
            };
            Record {
                id: str_of(&v, "id", &ctx).to_string(),
                lang: str_of(&v, "lang", &ctx).to_string(),
                text: str_of(&v, "text", &ctx).to_string(),
                entities: list("entities")
                    .iter()
                    .map(|e| Entity {
                        ty: str_of(e, "type", &ctx).to_string(),
                        value: str_of(e, "value", &ctx).to_string(),
                        source: str_of(e, "source", &ctx).to_string(),
                    })
                    .collect(),
                negatives: list("negatives")
                    .iter()
                    .map(|n| Negative {
                        kind: str_of(n, "kind", &ctx).to_string(),
                        value: str_of(n, "value", &ctx).to_string(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Runs one `deidentify` stage (action = "tag") over the records; returns id → output text.
fn deidentify(records: &[Record]) -> HashMap<String, String> {
    let t = tempfile::tempdir().unwrap();
    let mut input = String::new();
    for r in records {
        input.push_str(&json!({"id": r.id, "text": r.text}).to_string());
        input.push('\n');
    }
    std::fs::write(t.path().join("in.jsonl"), input).unwrap();
    run_tagging(t.path());
    let mut out = HashMap::new();
    for (name, bytes) in data_files(&t.path().join("out")) {
        if !name.ends_with(".jsonl") {
            continue;
        }
        for line in String::from_utf8(bytes).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            out.insert(
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Count {
    n: usize,
    hit: usize,
}

impl Count {
    fn add(&mut self, hit: bool) {
        self.n += 1;
        self.hit += usize::from(hit);
    }
    fn rate(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.hit as f64 / self.n as f64
        }
    }
    fn cell(&self) -> String {
        if self.n == 0 {
            format!("{:>5} {:>7}", 0, "-")
        } else {
            format!("{:>5} {:>7.4}", self.n, self.rate())
        }
    }
}

struct Miss {
    ty: String,
    value: String,
    output: String,
}

#[derive(Default)]
struct Score {
    records: usize,
    /// Records with no output row.
    missing: Vec<String>,
    /// (type, lang) → planted / caught.
    recall: BTreeMap<(String, String), Count>,
    /// (type, source) → planted / caught.
    by_source: BTreeMap<(String, String), Count>,
    spurious: BTreeMap<String, usize>,
    /// kind → n / kept.
    kept: BTreeMap<String, Count>,
    misses: Vec<Miss>,
    lost: Vec<Miss>,
}

impl Score {
    fn recall_of(&self, ty: &str, lang: &str) -> Count {
        let mut c = Count::default();
        for ((t, l), x) in &self.recall {
            if t == ty && (lang == "*" || l == lang) {
                c.n += x.n;
                c.hit += x.hit;
            }
        }
        c
    }

    /// (caught, spurious, precision); precision is NaN when both are 0.
    fn precision_of(&self, ty: &str) -> (usize, usize, f64) {
        let caught = self.recall_of(ty, "*").hit;
        let sp = self.spurious.get(ty).copied().unwrap_or(0);
        let p = if caught + sp == 0 {
            f64::NAN
        } else {
            caught as f64 / (caught + sp) as f64
        };
        (caught, sp, p)
    }

    fn kept_all(&self) -> Count {
        let mut c = Count::default();
        for x in self.kept.values() {
            c.n += x.n;
            c.hit += x.hit;
        }
        c
    }

    fn table(&self, half: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n== deid_generalize: {half} half, {} records ==",
            self.records
        );
        let _ = writeln!(
            s,
            "{:<17} {:>13} {:>13} {:>13} {:>9} {:>9}",
            "type", "zh n  recall", "en n  recall", "all n  recall", "spurious", "precision"
        );
        for ty in TYPES {
            let all = self.recall_of(ty, "*");
            let (_, sp, p) = self.precision_of(ty);
            if all.n == 0 && sp == 0 {
                continue;
            }
            let p = if p.is_nan() {
                "-".to_string()
            } else {
                format!("{p:.4}")
            };
            let _ = writeln!(
                s,
                "{:<17} {} {} {} {:>9} {:>9}",
                ty,
                self.recall_of(ty, "zh").cell(),
                self.recall_of(ty, "en").cell(),
                all.cell(),
                sp,
                p
            );
        }
        let _ = writeln!(s, "\nrecall by generator source (caught/n)");
        for ty in TYPES {
            let cells: Vec<String> = SOURCES
                .iter()
                .filter_map(|src| {
                    let c = self.by_source.get(&(ty.to_string(), src.to_string()))?;
                    Some(format!("{src} {}/{}", c.hit, c.n))
                })
                .collect();
            if !cells.is_empty() {
                let _ = writeln!(s, "  {:<17} {}", ty, cells.join("   "));
            }
        }
        let _ = writeln!(
            s,
            "\n{:<17} {:>5} {:>5} {:>7}",
            "negatives kept", "n", "kept", "rate"
        );
        for kind in NEG_KINDS {
            let c = self.kept.get(kind).copied().unwrap_or_default();
            let _ = writeln!(s, "{:<17} {:>5} {:>5} {:>7.4}", kind, c.n, c.hit, c.rate());
        }
        let c = self.kept_all();
        let _ = writeln!(s, "{:<17} {:>5} {:>5} {:>7.4}", "all", c.n, c.hit, c.rate());
        s
    }
}

fn score(records: &[Record], outputs: &HashMap<String, String>) -> Score {
    let mut sc = Score {
        records: records.len(),
        ..Score::default()
    };
    for r in records {
        let Some(out) = outputs.get(&r.id) else {
            sc.missing.push(r.id.clone());
            continue;
        };
        let mut planted: HashMap<&str, usize> = HashMap::new();
        for e in &r.entities {
            *planted.entry(e.ty.as_str()).or_default() += 1;
            let nfkc: String = e.value.nfkc().collect();
            let caught = !out.contains(&e.value) && !out.contains(&nfkc);
            sc.recall
                .entry((e.ty.clone(), r.lang.clone()))
                .or_default()
                .add(caught);
            sc.by_source
                .entry((e.ty.clone(), e.source.clone()))
                .or_default()
                .add(caught);
            if !caught {
                sc.misses.push(Miss {
                    ty: e.ty.clone(),
                    value: e.value.clone(),
                    output: out.clone(),
                });
            }
        }
        for ty in TYPES {
            let tags = out.matches(&format!("<{ty}>")).count();
            let extra = tags.saturating_sub(planted.get(ty).copied().unwrap_or(0));
            *sc.spurious.entry(ty.to_string()).or_default() += extra;
        }
        for n in &r.negatives {
            let kept = out.contains(&n.value);
            sc.kept.entry(n.kind.clone()).or_default().add(kept);
            if !kept {
                sc.lost.push(Miss {
                    ty: n.kind.clone(),
                    value: n.value.clone(),
                    output: out.clone(),
                });
            }
        }
    }
    sc
}

fn run_half(half: &str) -> Score {
    run_records(half, &load(half))
}

/// De-identifies `records`, scores them and prints the table under `name`.
fn run_records(name: &str, records: &[Record]) -> Score {
    let outputs = deidentify(records);
    let sc = score(records, &outputs);
    assert!(
        sc.missing.is_empty(),
        "{name}: {} records have no output row (first: {:?})",
        sc.missing.len(),
        sc.missing.first()
    );
    println!("{}", sc.table(name));
    sc
}

#[test]
fn dev_half_scores() {
    let sc = run_half("dev");
    if std::env::var_os("DEID_EVAL_DUMP").is_some() {
        let mut s = String::new();
        let _ = writeln!(s, "== dev misses ({}) ==", sc.misses.len());
        for m in &sc.misses {
            let _ = writeln!(s, "MISS {}\t{:?}\t{:?}", m.ty, m.value, m.output);
        }
        let _ = writeln!(s, "== dev lost negatives ({}) ==", sc.lost.len());
        for m in &sc.lost {
            let _ = writeln!(s, "LOST {}\t{:?}\t{:?}", m.ty, m.value, m.output);
        }
        println!("{s}");
    } else {
        println!(
            "dev: {} misses, {} lost negatives (set DEID_EVAL_DUMP=1 to list them)",
            sc.misses.len(),
            sc.lost.len()
        );
    }
}

#[test]
fn heldout_half_meets_floors() {
    let sc = run_half("heldout");
    assert_heldout_floors("heldout", &sc, HELDOUT_FLOORS);
}

/// Prints a held-out score's counts (never its texts) and asserts its recall
/// `floors`, its precision and its look-alikes kept.
fn assert_heldout_floors(name: &str, sc: &Score, floors: &[(&str, &str, f64)]) {
    println!(
        "{name}: {} misses, {} lost negatives",
        sc.misses.len(),
        sc.lost.len()
    );
    let mut failed = recall_failures(sc, floors);
    failed.extend(precision_and_kept_failures(sc));
    assert!(
        failed.is_empty(),
        "{name} floors missed:\n{}",
        failed.join("\n")
    );
}

/// The (type, lang, floor) recall floors `sc` misses ("*": both languages).
fn recall_failures(sc: &Score, floors: &[(&str, &str, f64)]) -> Vec<String> {
    let mut failed = Vec::new();
    for &(ty, lang, floor) in floors {
        let c = sc.recall_of(ty, lang);
        if c.n == 0 {
            failed.push(format!("floor {ty}/{lang}: no planted values"));
        } else if c.rate() < floor {
            failed.push(format!(
                "{ty}/{lang} recall {:.4} < {floor} (n = {})",
                c.rate(),
                c.n
            ));
        }
    }
    failed
}

/// The floors every held-out score meets besides recall: each type's tag precision
/// (where there is evidence enough) and the share of hard negatives kept.
fn precision_and_kept_failures(sc: &Score) -> Vec<String> {
    let mut failed = Vec::new();
    for ty in TYPES {
        let (caught, sp, p) = sc.precision_of(ty);
        if caught + sp >= PRECISION_MIN_EVIDENCE && p < PRECISION_FLOOR {
            failed.push(format!(
                "{ty} precision {p:.4} < {PRECISION_FLOOR} ({caught} caught, {sp} spurious)"
            ));
        }
    }
    let kept = sc.kept_all();
    if kept.n == 0 {
        failed.push("no hard negatives".to_string());
    } else if kept.rate() < KEPT_FLOOR {
        failed.push(format!(
            "hard negatives kept {:.4} < {KEPT_FLOOR} (n = {})",
            kept.rate(),
            kept.n
        ));
    }
    failed
}

/// Recall floors on the held-out half's mixed records (`mixed`), each type over both
/// orders. PERSON stands at 0.9500 there (4,830 of 5,084; 0.9540 on the held-out half
/// as it is): the floor is issue 13's bar, reached on 2026-12-08, never to be lowered.
const MIXED_FLOORS: &[(&str, &str, f64)] = &[
    ("PERSON", "*", 0.95),
    ("ADDRESS", "*", 0.98),
    ("PHONE", "*", 0.99),
    ("CN_ID_CARD", "*", 0.99),
    ("BANK_CARD", "*", 0.99),
    ("EMAIL", "*", 0.99),
    ("URL", "*", 0.99),
    ("IP_ADDRESS", "*", 0.99),
    ("CN_LICENSE_PLATE", "*", 0.99),
    ("PASSPORT", "*", 0.99),
    ("US_SSN", "*", 0.99),
    ("IBAN", "*", 0.99),
    ("DATE_OF_BIRTH", "*", 0.99),
];

/// Mixed-language records made from a half: its i-th Chinese record joined with an
/// English one (the (7i mod n)-th), Chinese first and English first, each way twice:
/// right after a sentence-final mark and after a space when the first text ends in one,
/// else after a space and after a line break. Entities and negatives are the two
/// records'. A record's `lang` is the language that comes first (the table's zh column
/// is Chinese first, its en column English first).
///
/// Bilingual text is common in the corpora this tool exports (Chinese customer records
/// with English mail, names and notes); each half alone has none, and a recognizer that
/// reads where a line or sentence starts can lose its English names after a Chinese
/// sentence (`……已封禁。Romero scored twice`).
fn mixed(records: &[Record]) -> Vec<Record> {
    let zh: Vec<&Record> = records.iter().filter(|r| r.lang == "zh").collect();
    let en: Vec<&Record> = records.iter().filter(|r| r.lang == "en").collect();
    let mut out = Vec::new();
    for i in 0..zh.len().min(en.len()) {
        let (a, b) = (zh[i], en[(i * 7) % en.len()]);
        for (x, y) in [(a, b), (b, a)] {
            let ends = x
                .text
                .trim_end()
                .ends_with(['。', '！', '？', '；', '.', '!', '?', ';']);
            let seps: [&str; 2] = if ends { ["", " "] } else { [" ", "\n"] };
            for sep in seps {
                out.push(Record {
                    id: format!("{}+{}+{}", x.id, y.id, sep.len()),
                    lang: x.lang.clone(),
                    text: format!("{}{sep}{}", x.text, y.text),
                    entities: x.entities.iter().chain(&y.entities).cloned().collect(),
                    negatives: x.negatives.iter().chain(&y.negatives).cloned().collect(),
                });
            }
        }
    }
    out
}

fn run_mixed(half: &str) -> Score {
    let name = format!("{half} (mixed: zh = Chinese first, en = English first)");
    run_records(&name, &mixed(&load(half)))
}

#[test]
fn dev_mixed_scores() {
    let sc = run_mixed("dev");
    if std::env::var_os("DEID_EVAL_DUMP").is_some() {
        for m in &sc.misses {
            println!("MISS {}\t{:?}\t{:?}", m.ty, m.value, m.output);
        }
    }
    println!(
        "dev mixed: {} misses, {} lost negatives",
        sc.misses.len(),
        sc.lost.len()
    );
}

#[test]
fn heldout_mixed_meets_floors() {
    let sc = run_mixed("heldout");
    assert_heldout_floors("heldout mixed", &sc, MIXED_FLOORS);
}

#[test]
fn corpus_files_are_well_formed() {
    for half in ["dev", "heldout"] {
        let records = load(half);
        assert!(records.len() >= 1000, "{half}: {} records", records.len());
        let mut ids = HashSet::new();
        let mut langs = HashSet::new();
        for r in &records {
            assert!(ids.insert(r.id.as_str()), "{half}: duplicate id {}", r.id);
            assert!(r.id.starts_with(&format!("{half}-")), "{half}: id {}", r.id);
            assert!(
                LANGS.contains(&r.lang.as_str()),
                "{}: lang {}",
                r.id,
                r.lang
            );
            langs.insert(r.lang.as_str());
            for ty in TYPES {
                assert!(
                    !r.text.contains(&format!("<{ty}>")),
                    "{}: input already holds a <{ty}> tag",
                    r.id
                );
            }
            for e in &r.entities {
                assert!(TYPES.contains(&e.ty.as_str()), "{}: type {}", r.id, e.ty);
                assert!(
                    SOURCES.contains(&e.source.as_str()),
                    "{}: source {}",
                    r.id,
                    e.source
                );
                assert!(!e.value.is_empty(), "{}: empty {} value", r.id, e.ty);
                assert!(
                    r.text.contains(&e.value),
                    "{}: {} {:?} not in the text",
                    r.id,
                    e.ty,
                    e.value
                );
            }
            for n in &r.negatives {
                assert!(
                    NEG_KINDS.contains(&n.kind.as_str()),
                    "{}: kind {}",
                    r.id,
                    n.kind
                );
                assert!(!n.value.is_empty(), "{}: empty {} value", r.id, n.kind);
                assert!(
                    r.text.contains(&n.value),
                    "{}: {} {:?} not in the text",
                    r.id,
                    n.kind,
                    n.value
                );
                for e in &r.entities {
                    assert!(
                        !e.value.contains(&n.value) && !n.value.contains(&e.value),
                        "{}: negative {:?} overlaps {} {:?}",
                        r.id,
                        n.value,
                        e.ty,
                        e.value
                    );
                }
            }
        }
        assert_eq!(langs.len(), 2, "{half}: both languages present");
    }
}
