//! End-to-end tests of the `deidentify` stage and the residual-PII gate through the CLI.

mod common;

use std::path::Path;

use common::*;

const PHONE: &str = "13812345678";
const ID: &str = "11010519491231002X";
const EMAIL: &str = "zhang.san@example.com";
const IP: &str = "117.128.79.146";

fn write_input(dir: &Path) {
    let rows = [
        serde_json::json!({"id": "r1", "text": format!("客户电话{PHONE}，身份证号{ID}。"), "note": "无"}),
        serde_json::json!({"id": "r2", "text": format!("邮箱{EMAIL}，登录IP为{IP}。"), "note": format!("备用电话{PHONE}")}),
        serde_json::json!({"id": "r3", "text": "这一条没有个人信息。", "note": null}),
    ];
    write_rows(dir, &rows);
}

/// Every file of an export, as text.
fn export_text(out: &Path) -> String {
    let mut all = String::new();
    for e in walk(out) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(e).unwrap()));
    }
    all
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn replaces_pii_and_reports_counts_and_masked_examples_only() {
    let t = tempfile::tempdir().unwrap();
    write_input(t.path());
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\", \"note\"]\naction = \"tag\"\nactions = { EMAIL = \"mask\", IP_ADDRESS = \"redact\" }\n",
    );
    let o = run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let out = t.path().join("out");
    let rows = read_lines(&out.join("data/part-00000.jsonl"));
    assert_eq!(rows[0]["text"], "客户电话<PHONE>，身份证号<CN_ID_CARD>。");
    assert_eq!(rows[1]["text"], "邮箱z***@example.com，登录IP为。");
    assert_eq!(rows[1]["note"], "备用电话<PHONE>");
    assert_eq!(rows[2]["text"], "这一条没有个人信息。");
    assert!(rows[2]["note"].is_null());
    let report = read_json(&out.join("report.json"));
    let f = &report["stages"][0]["findings"];
    assert_eq!(f["totals"]["PHONE"], 2);
    assert_eq!(f["fields"]["text"]["CN_ID_CARD"], 1);
    assert_eq!(f["fields"]["note"]["PHONE"], 1);
    assert_eq!(f["info"]["examples_masked.PHONE"][0], "138****5678");
    // Nothing left to find, and no raw value anywhere in the export or on stderr.
    assert_eq!(report["residual"]["scanned"], true);
    assert_eq!(report["residual"]["hits"], 0);
    let all = export_text(&out) + &stderr(&o);
    for raw in [PHONE, ID, EMAIL, IP] {
        assert!(!all.contains(raw), "{raw} leaked");
    }
    let v = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
}

#[test]
fn indexed_action_numbers_equal_values_alike() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("in.jsonl"),
        format!(
            "{}\n",
            serde_json::json!({"text": format!("打{PHONE}或13912345678，再打{PHONE}")})
        ),
    )
    .unwrap();
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\naction = \"indexed\"\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    assert_eq!(rows[0]["text"], "打<PHONE_1>或<PHONE_2>，再打<PHONE_1>");
}

#[test]
fn residual_pii_is_reported_and_the_gate_refuses_the_export() {
    let t = tempfile::tempdir().unwrap();
    write_input(t.path());
    let stage = "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\n";
    // Without a gate: reported, not refused.
    pipeline(t.path(), "in.jsonl", "open", stage);
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("open/report.json"));
    assert_eq!(r["residual"]["hits"], 1);
    assert_eq!(r["residual"]["by_field"]["note"]["PHONE"], 1);
    assert_eq!(r["residual"]["examples_masked"]["PHONE"][0], "138****5678");

    // With max_residual = 0: exit 80, status refused, no manifest, no data.
    pipeline(
        t.path(),
        "in.jsonl",
        "shut",
        &format!("{stage}[gate]\nmax_residual = 0\n"),
    );
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(stderr(&o).contains("max_residual"), "{}", stderr(&o));
    let out = t.path().join("shut");
    let r = read_json(&out.join("report.json"));
    assert_eq!(r["status"], "refused");
    assert_eq!(r["residual"]["gate"]["passed"], false);
    assert!(!out.join("manifest.json").exists());
    assert!(!out.join("data").exists());
    assert!(!export_text(&out).contains(PHONE));
    let v = run_in(t.path(), &["verify", "shut"]);
    assert_ne!(code(&v), 0);

    // A gate that allows the one hit passes.
    pipeline(
        t.path(),
        "in.jsonl",
        "ok",
        &format!("{stage}[gate]\nmax_residual = 1\n"),
    );
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml", "--quiet"])), 0);
    // verify repeats the scan and applies the recorded gate.
    let v = run_in(t.path(), &["verify", "ok"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(
        stderr(&v).contains("residual PII re-scan: 1 detections"),
        "{}",
        stderr(&v)
    );
}

#[test]
fn rows_dropped_as_duplicates_do_not_count_as_residual() {
    let t = tempfile::tempdir().unwrap();
    let rows = [
        serde_json::json!({"text": "同一段文字，重复出现了两次。", "note": "无"}),
        serde_json::json!({"text": "同一段文字，重复出现了两次。", "note": format!("电话{PHONE}")}),
    ];
    write_rows(t.path(), &rows);
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"dedup\"\nfields = [\"text\"]\nmode = \"exact\"\n[gate]\nmax_residual = 0\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["residual"]["hits"], 0);
    assert_eq!(r["rows"]["duplicates"], 1);
}

#[test]
fn bad_settings_name_the_line() {
    let t = tempfile::tempdir().unwrap();
    write_input(t.path());
    for (extra, needle) in [
        ("entities = [\"PHONE\", \"SHOE_SIZE\"]\n", "SHOE_SIZE"),
        ("actions = { FAX = \"tag\" }\n", "FAX"),
        ("action = \"shred\"\n", "shred"),
        ("min_score = 2.0\n", "min_score"),
    ] {
        pipeline(
            t.path(),
            "in.jsonl",
            "out",
            &format!("[[stages]]\ntype = \"deidentify\"\n{extra}"),
        );
        let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
        assert_eq!(code(&o), 78, "{extra}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra}: {}", stderr(&o));
    }
}

#[test]
fn pipeline_recognizers_and_deny_lists() {
    let t = tempfile::tempdir().unwrap();
    let rows = [
        serde_json::json!({"text": "工号EMP-004211，项目代号猎鹰计划，负责人张三丰。"}),
        serde_json::json!({"text": "Ticket EMP-123456 is not an employee id; XEMP-004211 neither."}),
        serde_json::json!({"text": "card no 4111 1111 1111 1111 vs member 4111 1111 1111 1112, Falcon Project lead"}),
    ];
    write_rows(t.path(), &rows);
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        r#"[[stages]]
type = "deidentify"
entities = ["EMAIL"]
actions = { EMPLOYEE_ID = "mask" }
deny = { PERSON = ["张三丰"], PROJECT = ["猎鹰计划", "falcon project"] }
[[stages.recognizers]]
entity = "EMPLOYEE_ID"
pattern = 'EMP-[0-9]{6}'
context = ["工号", "employee"]
[[stages.recognizers]]
entity = "MEMBER_CARD"
pattern = '[0-9]{4}(?: [0-9]{4}){3}'
validator = "luhn"
"#,
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    assert_eq!(
        rows[0]["text"],
        "工号********11，项目代号<PROJECT>，负责人<PERSON>。"
    );
    assert_eq!(
        rows[1]["text"],
        "Ticket EMP-123456 is not an employee id; XEMP-004211 neither."
    );
    assert_eq!(
        rows[2]["text"],
        "card no <MEMBER_CARD> vs member 4111 1111 1111 1112, <PROJECT> lead"
    );
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["stages"][0]["findings"]["totals"]["EMPLOYEE_ID"], 1);
    assert_eq!(r["stages"][0]["findings"]["totals"]["PROJECT"], 2);

    // Bad definitions are config errors.
    for (extra, needle) in [
        (
            "[[stages.recognizers]]\nentity = \"X_ID\"\npattern = '(['\n",
            "does not compile",
        ),
        (
            "[[stages.recognizers]]\nentity = \"lower\"\npattern = 'a'\n",
            "UPPER_SNAKE_CASE",
        ),
        (
            "[[stages.recognizers]]\nentity = \"X_ID\"\npattern = 'a'\nvalidator = \"crc\"\n",
            "crc",
        ),
    ] {
        pipeline(
            t.path(),
            "in.jsonl",
            "bad",
            &format!("[[stages]]\ntype = \"deidentify\"\n{extra}"),
        );
        let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
        assert_eq!(code(&o), 78, "{extra}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra}: {}", stderr(&o));
    }
}

#[test]
fn indexed_numbers_are_shared_across_a_records_fields() {
    let t = tempfile::tempdir().unwrap();
    write_input(t.path());
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\", \"note\"]\naction = \"indexed\"\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    // r1: one phone in text; r2: the e-mail is EMAIL_1 and the note's phone is PHONE_1.
    assert_eq!(
        rows[0]["text"],
        "客户电话<PHONE_1>，身份证号<CN_ID_CARD_1>。"
    );
    assert_eq!(rows[1]["note"], "备用电话<PHONE_1>");
    let both = format!(
        "{{\"id\":\"r9\",\"text\":\"打{PHONE}或13912345678\",\"note\":\"再打13912345678\"}}\n"
    );
    std::fs::write(t.path().join("in.jsonl"), both).unwrap();
    run_ok(t.path(), &["run", "p.toml", "--quiet", "--overwrite"]);
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    assert_eq!(rows[0]["text"], "打<PHONE_1>或<PHONE_2>");
    assert_eq!(
        rows[0]["note"], "再打<PHONE_2>",
        "same value in another field, same number"
    );
}

#[test]
fn structured_columns_take_whole_value_rules_typed_by_declaration_or_sample() {
    let t = tempfile::tempdir().unwrap();
    let mut s = String::new();
    for i in 0..60 {
        // `contact` holds phones in 55 of 60 rows: its dominant type is PHONE.
        let contact = if i % 12 == 0 {
            "请联系客服".to_string()
        } else {
            format!("1391234{i:04}")
        };
        s.push_str(&format!(
            "{{\"id\":\"r{i}\",\"contact\":\"{contact}\",\"code\":\"A-{i}\",\"city\":\"上海市\",\"text\":\"电话{PHONE}\"}}\n"
        ));
    }
    std::fs::write(t.path().join("in.jsonl"), s).unwrap();
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\naction = \"tag\"\nactions = { PHONE = \"mask\" }\n\
         columns = { contact = \"auto\", code = \"redact\", city = \"auto\", id = \"tag\" }\ntypes = { id = \"RECORD\" }\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    assert_eq!(
        rows[1]["contact"], "139****0001",
        "auto: PHONE's action (mask) on the whole value"
    );
    assert_eq!(
        rows[0]["contact"], "****服",
        "the whole value is masked even where it is no phone"
    );
    assert_eq!(rows[1]["code"], "", "redact empties a structured value");
    assert_eq!(rows[1]["id"], "<RECORD>", "declared type");
    assert_eq!(
        rows[1]["city"], "上海市",
        "no dominant type: scanned as text, nothing found"
    );
    assert_eq!(rows[1]["text"], "电话138****5678");
    let r = read_json(&t.path().join("out/report.json"));
    let cols = &r["stages"][0]["findings"]["info"]["columns"];
    assert_eq!(cols["contact"]["type"], "PHONE");
    assert_eq!(cols["contact"]["typed_by"], "sample");
    assert_eq!(cols["city"]["treated_as"], "text");
    assert_eq!(cols["id"]["typed_by"], "declared");
    // A column both scanned as text and structured is refused.
    pipeline(
        t.path(),
        "in.jsonl",
        "out2",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\ncolumns = { text = \"mask\" }\n",
    );
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(stderr(&o).contains("both in `fields`"), "{}", stderr(&o));
}

#[test]
fn verify_rescans_with_the_pipelines_own_recognizers() {
    let t = tempfile::tempdir().unwrap();
    let rows = "{\"text\":\"负责人是猎鹰计划的张三丰\",\"note\":\"猎鹰计划延期\"}\n";
    std::fs::write(t.path().join("in.jsonl"), rows).unwrap();
    // Only `text` is de-identified, so the project name stays in `note`.
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\ndeny = { PROJECT = [\"猎鹰计划\"] }\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let plain = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    assert!(
        stderr(&plain).contains("re-scan: 0 detections"),
        "{}",
        stderr(&plain)
    );
    let own = run_in(t.path(), &["verify", "out", "--pipeline", "p.toml"]);
    assert_eq!(code(&own), 0, "{}", stderr(&own));
    assert!(
        stderr(&own).contains("re-scan: 1 detections"),
        "{}",
        stderr(&own)
    );
    // Another pipeline file is refused: it is not the one the export was made with.
    let edited = std::fs::read_to_string(t.path().join("p.toml")).unwrap() + "# edited\n";
    std::fs::write(t.path().join("other.toml"), edited).unwrap();
    let o = run_in(t.path(), &["verify", "out", "--pipeline", "other.toml"]);
    assert_eq!(code(&o), 64, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not the pipeline this export was made with"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn allow_list_file_and_per_type_thresholds_from_the_pipeline() {
    let t = tempfile::tempdir().unwrap();
    let rows = [
        serde_json::json!({"id": "r1", "text": "客服热线 400-820-8820，王先生的手机 13812345678，邮箱 support@acme.com"}),
        serde_json::json!({"id": "r2", "text": "Olivia Bennett called from 212-555-0147."}),
    ];
    write_rows(t.path(), &rows);
    std::fs::write(
        t.path().join("allow.txt"),
        "# company contacts\nsupport@acme.com\n",
    )
    .unwrap();
    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\naction = \"tag\"\nallow = [\"400-820-8820\"]\nallow_file = \"allow.txt\"\nmin_score = { default = 0.5, PERSON = 0.99 }\n[gate]\nmax_residual = 0\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let rows = read_lines(&t.path().join("out/data/part-00000.jsonl"));
    // Allowed values stay, and the residual gate does not count them.
    assert_eq!(
        rows[0]["text"],
        "客服热线 400-820-8820，王先生的手机 <PHONE>，邮箱 support@acme.com"
    );
    // PERSON raised above every score it gives: names stay, phones go.
    assert_eq!(rows[1]["text"], "Olivia Bennett called from <PHONE>.");

    // A threshold out of range and an unknown type are refused with the reason.
    for bad in ["min_score = { PERSON = 1.5 }", "min_score = { NAME = 0.5 }"] {
        pipeline(
            t.path(),
            "in.jsonl",
            "out2",
            &format!("[[stages]]\ntype = \"deidentify\"\n{bad}\n"),
        );
        let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
        assert_ne!(code(&o), 0, "{bad}");
        assert!(
            stderr(&o).contains("min_score") || stderr(&o).contains("NAME"),
            "{}",
            stderr(&o)
        );
    }
    // A missing allow-list file names itself.
    pipeline(
        t.path(),
        "in.jsonl",
        "out3",
        "[[stages]]\ntype = \"deidentify\"\nallow_file = \"nope.txt\"\n",
    );
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("nope.txt"), "{}", stderr(&o));
}

#[test]
fn the_rescan_skips_only_values_a_stage_looking_for_the_same_types_found_clean() {
    let t = tempfile::tempdir().unwrap();
    let rows = [
        serde_json::json!({"text": format!("邮箱{EMAIL}"), "note": format!("电话{PHONE}")}),
        serde_json::json!({"text": "这一条没有个人信息。", "note": "无"}),
    ];
    write_rows(t.path(), &rows);
    // A stage that looks for phones only finds nothing in the e-mail text: the re-scan,
    // which looks for every type, must still scan it and find the address.
    pipeline(
        t.path(),
        "in.jsonl",
        "phones",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\", \"note\"]\nentities = [\"PHONE\"]\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("phones/report.json"));
    assert_eq!(
        r["residual"]["by_field"]["text"]["EMAIL"], 1,
        "{}",
        r["residual"]
    );
    assert_eq!(r["residual"]["hits"], 1, "{}", r["residual"]);
    // The same with a stricter threshold than the re-scan's.
    pipeline(
        t.path(),
        "in.jsonl",
        "strict",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"note\"]\nmin_score = 0.99\n[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\nentities = [\"PHONE\"]\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("strict/report.json"));
    assert_eq!(
        r["residual"]["by_field"]["text"]["EMAIL"], 1,
        "{}",
        r["residual"]
    );
    // A stage with the default types skips its clean values; its count is still what
    // verify's full re-scan of the export finds.
    pipeline(
        t.path(),
        "in.jsonl",
        "all",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("all/report.json"));
    assert_eq!(r["residual"]["hits"], 1, "{}", r["residual"]);
    assert_eq!(r["residual"]["by_field"]["note"]["PHONE"], 1);
    let v = run_in(t.path(), &["verify", "all"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(
        stderr(&v).contains("residual PII re-scan: 1 detections"),
        "{}",
        stderr(&v)
    );
}
