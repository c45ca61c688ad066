//! `datacustoms scan`: the PII inventory of an input, without an export.

mod common;

use common::*;

#[test]
fn inventories_fields_with_grades_and_masked_examples_only() {
    let t = tempfile::tempdir().unwrap();
    let mut s = String::new();
    for i in 0..3000 {
        let r = if i % 3 == 0 {
            serde_json::json!({"id": i, "text": "客户电话13812345678，身份证号11010519491231002X。", "note": "zhang@example.com"})
        } else {
            serde_json::json!({"id": i, "text": "没有个人信息。", "note": null})
        };
        s.push_str(&format!("{r}\n"));
    }
    s.push_str("{not json\n");
    std::fs::write(t.path().join("in.jsonl"), s).unwrap();
    let mut reports = Vec::new();
    for threads in ["1", "2"] {
        let o = run_ok(
            t.path(),
            &[
                "scan",
                "in.jsonl",
                "--threads",
                threads,
                "--report",
                "r.json",
            ],
        );
        let table = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(table.contains("sensitive PI"), "{table}");
        let err = stderr(&o) + &table;
        for raw in ["13812345678", "11010519491231002X", "zhang@example.com"] {
            assert!(!err.contains(raw), "{raw} leaked: {err}");
        }
        let r = std::fs::read_to_string(t.path().join("r.json")).unwrap();
        assert!(!r.contains("13812345678") && !r.contains("zhang@example.com"));
        reports.push(serde_json::from_str::<serde_json::Value>(&r).unwrap());
    }
    let r = &reports[0];
    assert_eq!(r["records"], 3000);
    assert_eq!(r["quarantined_records"], 1);
    assert_eq!(r["fields"]["text"]["by_type"]["PHONE"], 1000);
    assert_eq!(r["fields"]["text"]["by_type"]["CN_ID_CARD"], 1000);
    assert_eq!(r["fields"]["text"]["values_with_pii"], 1000);
    assert_eq!(r["fields"]["text"]["records_with_pii"], 1000);
    assert_eq!(r["fields"]["note"]["grade"], "general PI");
    assert_eq!(r["sensitive_types"], serde_json::json!(["CN_ID_CARD"]));
    assert_eq!(r["examples_masked"]["PHONE"][0], "138****5678");
    // Score histograms per type: every phone and ID card scored in the top bins.
    let phone: u64 = r["score_histograms"]["PHONE"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(phone, 1000);
    assert_eq!(r["score_histograms"]["CN_ID_CARD"][9], 1000);
    assert_eq!(reports[0], reports[1], "same report at 1 and 2 threads");
    // No export is written.
    let entries: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
    assert_eq!(entries.len(), 2, "only the input and the report");
}

#[test]
fn scan_errors_use_the_contract_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.jsonl"), "{\"text\": \"x\"}\n").unwrap();
    assert_eq!(code(&run_in(t.path(), &["scan", "missing.jsonl"])), 66);
    assert_eq!(code(&run_in(t.path(), &["scan"])), 64);
    let o = run_in(t.path(), &["scan", "in.jsonl", "--fields", "txt"]);
    assert_eq!(code(&o), 64);
    assert!(stderr(&o).contains("string fields: text"), "{}", stderr(&o));
}

#[test]
fn declared_sensitive_fields_are_graded_sensitive() {
    let t = tempfile::tempdir().unwrap();
    let s: String = (0..20)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"diagnosis\":\"二型糖尿病\",\"text\":\"邮箱a{i}@example.com\"}}\n"
            )
        })
        .collect();
    std::fs::write(t.path().join("in.jsonl"), s).unwrap();
    let o = run_ok(
        t.path(),
        &[
            "scan",
            "in.jsonl",
            "--sensitive",
            "diagnosis=health,id=minors",
            "--report",
            "-",
        ],
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["fields"]["diagnosis"]["grade"], "sensitive PI");
    assert_eq!(r["fields"]["diagnosis"]["declared"], "health");
    assert_eq!(
        r["fields"]["id"]["grade"], "sensitive PI",
        "a non-text column can be declared"
    );
    assert_eq!(r["fields"]["text"]["grade"], "general PI");
    let table = run_in(
        t.path(),
        &["scan", "in.jsonl", "--sensitive", "diagnosis=health"],
    );
    assert!(String::from_utf8_lossy(&table.stdout).contains("sensitive PI (health)"));
    let bad = run_in(
        t.path(),
        &["scan", "in.jsonl", "--sensitive", "diagnosis=astrology"],
    );
    assert_eq!(code(&bad), 64, "{}", stderr(&bad));
    let missing = run_in(
        t.path(),
        &["scan", "in.jsonl", "--sensitive", "blood=health"],
    );
    assert_eq!(code(&missing), 64);
    assert!(
        stderr(&missing).contains("no field `blood`"),
        "{}",
        stderr(&missing)
    );
}
