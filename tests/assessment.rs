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
    run_ok(d, &["run", "-q", "p.toml"]);
    let a = assessment(d, "out-a");
    assert_eq!(a["distinct_subjects"], 100);
    // The ID numbers were replaced by the stage, but counted as they came in.
    assert_eq!(a["sensitive_subjects"], 10);
    assert_eq!(a["mechanism"], "standard_contract");
    assert_eq!(a["year_to_date"]["distinct_subjects"], 100);
    assert!(a["status"].as_str().unwrap().contains("not anonymised"));
    assert_eq!(a["techniques"]["user_id"][0], "token");

    // The same export again: nothing new for the year.
    run_ok(d, &["run", "-q", "--output", "out-a2", "p.toml"]);
    assert_eq!(
        assessment(d, "out-a2")["year_to_date"]["distinct_subjects"],
        100
    );

    // An overlapping batch: the year counts the union, 150 people, 15 with an ID.
    assess_pipeline(d, "b.jsonl", "out-b", "");
    run_ok(d, &["run", "-q", "p.toml"]);
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
    run_ok(d, &["run", "-q", "p.toml"]);
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

/// Nine records in three classes of (province, age): A/30 × 5 (two diagnoses), B/40 × 3
/// (one diagnosis), C/50 × 1.
fn write_classes(path: &Path) {
    let mut s = String::new();
    let rows = [
        ("A", 30, "flu", 3),
        ("A", 30, "cold", 2),
        ("B", 40, "flu", 3),
        ("C", 50, "asthma", 1),
    ];
    let mut u = 0;
    for (p, age, diag, n) in rows {
        for _ in 0..n {
            u += 1;
            s.push_str(&format!(
                "{{\"user_id\":\"u{u}\",\"text\":\"普通留言\",\"province\":\"{p}\",\"age\":{age},\"diagnosis\":\"{diag}\"}}\n"
            ));
        }
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn k_anonymity_over_known_classes_and_the_min_k_gate() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_classes(&d.join("c.jsonl"));
    let qi = "quasi_identifiers = [\"province\", \"age\"]\nsensitive_attribute = \"diagnosis\"\n";
    assess_pipeline(d, "c.jsonl", "out", &format!("{qi}[gate]\nmin_k = 1\n"));
    run_ok(d, &["run", "-q", "p.toml"]);
    let k = assessment(d, "out")["k_anonymity"].clone();
    assert_eq!(k["records"], 9);
    assert_eq!(k["classes"], 3);
    assert_eq!(k["k"], 1);
    assert_eq!(k["l"], 1);
    assert_eq!(k["records_in_classes_below"]["2"], 1);
    assert_eq!(k["records_in_classes_below"]["5"], 4);
    assert_eq!(k["records_in_classes_below"]["10"], 9);
    // B (3 records, all flu) and C (1 record) disclose the diagnosis.
    assert_eq!(k["records_in_classes_with_l_1"], 4);
    assert_eq!(k["passed"], true);
    let v = run_in(d, &["verify", "out"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let list = String::from_utf8_lossy(&v.stdout).to_string();
    assert!(
        list.contains("✓ k-anonymity over (province, age): k = 1, l = 1, recomputed from data/"),
        "{list}"
    );
    assert!(std::fs::read_to_string(d.join("out/report.html"))
        .unwrap()
        .contains("k-anonymity: records by the size of their equivalence class"));

    // A report claiming a larger k, resealed: verify recomputes k from data/.
    let rpath = d.join("out/report.json");
    let mut r = read_json(&rpath);
    r["assessment"]["k_anonymity"]["k"] = serde_json::json!(3);
    std::fs::write(&rpath, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
    reseal(&d.join("out"), "report.json");
    let v = run_in(d, &["verify", "out"]);
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("the report says k = 3, data/ gives 1"),
        "{}",
        stderr(&v)
    );

    // The k-anonymity section removed from the report: the recorded gate still needs it.
    let mut r = read_json(&rpath);
    r["assessment"]
        .as_object_mut()
        .unwrap()
        .remove("k_anonymity");
    std::fs::write(&rpath, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
    reseal(&d.join("out"), "report.json");
    let v = run_in(d, &["verify", "out"]);
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("records [gate] min_k but no k-anonymity"),
        "{}",
        stderr(&v)
    );

    // min_k = 2: refused, nothing shippable, nothing added to the year.
    assess_pipeline(d, "c.jsonl", "out2", &format!("{qi}[gate]\nmin_k = 2\n"));
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("below [gate] min_k = 2 (1 records are in classes smaller than 2)"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("out2/manifest.json").exists());
    assert!(!d.join("out2/data").exists());
    // Unknown columns are configuration errors, found before anything is read.
    assess_pipeline(d, "c.jsonl", "out3", "quasi_identifiers = [\"postcode\"]\n");
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("no column `postcode`"),
        "{}",
        stderr(&o)
    );
    // min_k needs quasi-identifiers.
    assess_pipeline(d, "c.jsonl", "out4", "[gate]\nmin_k = 2\n");
    assert_eq!(code(&run_in(d, &["run", "-q", "p.toml"])), 78);
}

#[test]
fn fields_are_graded_core_data_is_refused_and_important_data_needs_an_acknowledgement() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_users(&d.join("u.jsonl"), 0..20);
    // Core data never leaves: refused before anything is read or written.
    assess_pipeline(
        d,
        "u.jsonl",
        "out-core",
        "data_grades = { text = \"core\" }\n",
    );
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(stderr(&o).contains("core data"), "{}", stderr(&o));
    assert!(!d.join("out-core").exists());
    // Important data without the acknowledgement key: refused, and told what to set.
    assess_pipeline(
        d,
        "u.jsonl",
        "out-imp",
        "data_grades = { text = \"important\" }\n",
    );
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("acknowledge_important"),
        "{}",
        stderr(&o)
    );
    // Acknowledged: it goes, by the security assessment route.
    assess_pipeline(
        d,
        "u.jsonl",
        "out-ack",
        "data_grades = { text = \"important\" }\nacknowledge_important = \"CAC-SA-2026-0417\"\n",
    );
    run_ok(d, &["run", "-q", "p.toml"]);
    let a = assessment(d, "out-ack");
    assert_eq!(a["mechanism"], "security_assessment");
    assert_eq!(a["important_data"]["fields"][0], "text");
    assert_eq!(a["important_data"]["acknowledged"], "CAC-SA-2026-0417");
    let grade = |name: &str| {
        a["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    let text = grade("text");
    assert_eq!(text["pi"], "sensitive PI");
    assert_eq!(text["detected"]["CN_ID_CARD"], 2);
    assert_eq!(text["data_grade"], "important");
    assert_eq!(grade("user_id")["pi"], "general PI");
    assert_eq!(grade("user_id")["techniques"][0], "token");
    let v = run_in(d, &["verify", "out-ack"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(String::from_utf8_lossy(&v.stdout).contains(
        "✓ cross-border: mechanism `security_assessment` (year to date `security_assessment`); 2 field(s) graded, no core data, important data acknowledged"
    ));
    // A report whose mechanism was talked down, resealed: verify recomputes it.
    let rpath = d.join("out-ack/report.json");
    let mut r = read_json(&rpath);
    r["assessment"]["mechanism"] = serde_json::json!("exempt");
    std::fs::write(&rpath, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
    reseal(&d.join("out-ack"), "report.json");
    let v = run_in(d, &["verify", "out-ack"]);
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("need `security_assessment`, the report says \"exempt\""),
        "{}",
        stderr(&v)
    );
    // A gate the export does not meet, recorded in a resealed report: verify catches it.
    let mut r = read_json(&rpath);
    r["assessment"]["mechanism"] = serde_json::json!("security_assessment");
    r["gate"] = serde_json::json!({ "max_mechanism": "standard_contract" });
    std::fs::write(&rpath, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
    reseal(&d.join("out-ack"), "report.json");
    let v = run_in(d, &["verify", "out-ack"]);
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("more than the recorded [gate] max_mechanism = standard_contract"),
        "{}",
        stderr(&v)
    );
    // Unknown grades are configuration errors.
    assess_pipeline(d, "u.jsonl", "out-x", "data_grade = \"secret\"\n");
    assert_eq!(code(&run_in(d, &["run", "-q", "p.toml"])), 78);
}

/// A gate that refuses the export is decided before any DP release: no noise is drawn,
/// no budget spent, no aggregates left behind.
#[test]
fn a_refused_export_spends_no_dp_budget() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_classes(&d.join("c.jsonl"));
    let text = "name = \"t\"\n[input]\npath = \"c.jsonl\"\n[output]\npath = \"out\"\n\
         [[stages]]\ntype = \"dp_release\"\nprivacy_unit = \"user_id\"\nledger = \"ledger.sqlite\"\ndataset_id = \"c\"\n\
         [[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"province\"]\nkeys = [\"A\", \"B\", \"C\"]\nepsilon = 0.5\nmax_partitions = 1\nmax_rows_per_partition = 1\n\
         [assessment]\nsubject_columns = [\"user_id\"]\nyear_ledger = \"year.sqlite\"\nquasi_identifiers = [\"province\", \"age\"]\n\
         [gate]\nmin_k = 2\n";
    std::fs::write(d.join("p.toml"), text).unwrap();
    let o = run_in(d, &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(!d.join("out/aggregates").exists());
    assert!(!d.join("out/dp_passport.jsonld").exists());
    let r = read_json(&d.join("out/report.json"));
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("no DP release was drawn")));
    // The ledger holds no release: nothing was spent (the DP stage never opened it).
    assert!(!d.join("ledger.sqlite").exists());
    // With min_k = 1 the same run releases and spends.
    std::fs::write(d.join("p.toml"), text.replace("min_k = 2", "min_k = 1")).unwrap();
    run_ok(d, &["run", "-q", "--overwrite", "p.toml"]);
    assert!(d.join("out/aggregates/n.parquet").exists());
    let show = run_in(d, &["budget", "show", "ledger.sqlite"]);
    assert_eq!(code(&show), 0, "{}", stderr(&show));
}
