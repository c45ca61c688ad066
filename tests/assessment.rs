//! The cross-border assessment: distinct subjects of an export counted from the values as
//! they came in, the calendar-year ledger across runs (a union: reruns and split exports
//! never double-count), and the `max_mechanism` gate.

mod common;
use common::*;

use std::path::Path;

/// Rows for users `range`; users divisible by 10 carry an ID card number in their text.
fn write_users(path: &Path, range: std::ops::Range<u32>) {
    let s: String = range
        .map(|u| {
            let text = if u % 10 == 0 {
                "身份证号11010519491231002X"
            } else {
                "普通留言"
            };
            format!("{{\"user_id\":\"u{u}\",\"text\":\"{text}\"}}\n")
        })
        .collect();
    std::fs::write(path, s).unwrap();
}

fn assess_pipeline(dir: &Path, input: &str, out: &str, extra: &str) {
    let text = format!(
        "name = \"t\"\n[input]\npath = \"{input}\"\n[output]\npath = \"{out}\"\n\
         [[stages]]\ntype = \"pseudonymize\"\ncolumns = [\"user_id\"]\n\
         [[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\n\
         [assessment]\nsubject_columns = [\"user_id\"]\nexporter = \"acme\"\nyear = 2026\nyear_ledger = \"year.sqlite\"\n{extra}"
    );
    std::fs::write(dir.join("p.toml"), text).unwrap();
}

fn assessment(dir: &Path, out: &str) -> serde_json::Value {
    read_json(&dir.join(out).join("report.json"))["assessment"].clone()
}

#[test]
fn subjects_are_counted_before_transformation_and_the_year_is_a_union() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_users(&d.join("a.jsonl"), 0..100);
    write_users(&d.join("b.jsonl"), 50..150);
    assess_pipeline(d, "a.jsonl", "out-a", "");
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let a = assessment(d, "out-a");
    assert_eq!(a["distinct_subjects"], 100);
    // The ID numbers were replaced by the stage, but counted as they came in.
    assert_eq!(a["sensitive_subjects"], 10);
    assert_eq!(a["mechanism"], "standard_contract");
    assert_eq!(a["year_to_date"]["distinct_subjects"], 100);
    assert!(a["status"].as_str().unwrap().contains("not anonymised"));
    assert_eq!(a["techniques"]["user_id"][0], "token");

    // The same export again: nothing new for the year.
    let o = run_in(d, &["run", "-q", "--output", "out-a2", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        assessment(d, "out-a2")["year_to_date"]["distinct_subjects"],
        100
    );

    // An overlapping batch: the year counts the union, 150 people, 15 with an ID.
    assess_pipeline(d, "b.jsonl", "out-b", "");
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let b = assessment(d, "out-b");
    assert_eq!(b["distinct_subjects"], 100);
    assert_eq!(b["year_to_date"]["distinct_subjects"], 150);
    assert_eq!(b["year_to_date"]["sensitive_subjects"], 15);
    assert_eq!(b["year_to_date"]["exports"], 3);

    // Another year starts from zero.
    assess_pipeline(d, "b.jsonl", "out-2027", "");
    let p = std::fs::read_to_string(d.join("p.toml"))
        .unwrap()
        .replace("year = 2026", "year = 2027");
    std::fs::write(d.join("p.toml"), p).unwrap();
    assert_eq!(code(&run_in(d, &["run", "-q", "p.toml"])), 0);
    assert_eq!(
        assessment(d, "out-2027")["year_to_date"]["distinct_subjects"],
        100
    );
}

#[test]
fn the_mechanism_gate_refuses_and_leaves_the_year_ledger_unchanged() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_users(&d.join("plain.jsonl"), 1..10); // no user divisible by 10: no ID numbers
    write_users(&d.join("ids.jsonl"), 0..20);
    assess_pipeline(
        d,
        "plain.jsonl",
        "out-plain",
        "[gate]\nmax_mechanism = \"exempt\"\n",
    );
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(assessment(d, "out-plain")["mechanism"], "exempt");
    assess_pipeline(
        d,
        "ids.jsonl",
        "out-ids",
        "[gate]\nmax_mechanism = \"exempt\"\n",
    );
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("max_mechanism = exempt"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("out-ids/manifest.json").exists());
    // The refused export added nothing to the year: a permitted run still sees 9 people.
    assess_pipeline(d, "plain.jsonl", "out-plain2", "");
    assert_eq!(code(&run_in(d, &["run", "-q", "p.toml"])), 0);
    let y = assessment(d, "out-plain2")["year_to_date"].clone();
    assert_eq!(y["distinct_subjects"], 9);
    assert_eq!(y["sensitive_subjects"], 0);
    // Declaring important data needs a security assessment whatever the counts.
    assess_pipeline(
        d,
        "plain.jsonl",
        "out-imp",
        "declares = { important_data = true }\n",
    );
    assert_eq!(code(&run_in(d, &["run", "-q", "p.toml"])), 0);
    assert_eq!(assessment(d, "out-imp")["mechanism"], "security_assessment");
    // A gate without an [assessment] is a configuration error.
    pipeline(
        d,
        "plain.jsonl",
        "out-x",
        "[gate]\nmax_mechanism = \"exempt\"\n",
    );
    assert_eq!(code(&run_in(d, &["run", "-q", "p.toml"])), 78);
}
