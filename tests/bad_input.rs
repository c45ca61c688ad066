//! Bad input never loses data silently: every case is quarantined with its location and
//! reason (raw bytes only at home), or fails the run under --strict, or fails with a clear
//! error naming what to fix.

mod common;
use common::*;

use std::path::Path;

const SECRET: &str = "13812345678-secret";

fn bad_jsonl(dir: &Path) {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"id\":1,\"text\":\"fine\"}\n");
    bytes.extend_from_slice(format!("{{\"id\":2,\"text\":\"{SECRET}\"\n").as_bytes()); // line 2: malformed
    bytes.extend_from_slice(b"{\"id\":3,\"text\":\"bad \xff utf8\"}\n"); // line 3
    bytes.extend_from_slice(format!("{{\"id\":\"{SECRET}\",\"text\":\"x\"}}\n").as_bytes()); // line 4: type
    bytes.extend_from_slice(b"\n"); // line 5: blank
    bytes.extend_from_slice(b"{\"id\":6,\"text\":\"ok\",\"extra\":true}\n"); // line 6: unknown field
    bytes.extend_from_slice(b"[6]\n"); // line 7: not an object
    bytes.extend_from_slice(b"{\"id\":8,\"text\":\"last\"}"); // line 8, no newline
    std::fs::write(dir.join("in.jsonl"), bytes).unwrap();
}

const DECLARED: &str =
    "schema = [{ name = \"id\", type = \"int64\" }, { name = \"text\", type = \"string\" }]\n";

fn pipeline_with_schema(dir: &Path) {
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        format!("[input]\npath = \"in.jsonl\"\n{DECLARED}[output]\npath = \"out\"\n"),
    )
    .unwrap();
}

#[test]
fn malformed_records_are_quarantined_with_location_and_reason() {
    let t = tempfile::tempdir().unwrap();
    bad_jsonl(t.path());
    pipeline_with_schema(t.path());
    run_ok(t.path(), &["run", "p.toml", "--quiet", "--run-id", "r1"]);

    let q = read_lines(&t.path().join("out/quarantine.jsonl"));
    let got: Vec<(u64, &str)> = q
        .iter()
        .map(|v| (v["line"].as_u64().unwrap(), v["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "malformed_json"),
            (3, "invalid_utf8"),
            (4, "schema_mismatch"),
            (6, "schema_mismatch"),
            (7, "not_an_object")
        ]
    );
    for v in &q {
        assert_eq!(v["file"], "in.jsonl");
        assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
        assert!(v.get("raw").is_none());
    }
    // The raw bytes are only at home, and nowhere in the export.
    let home =
        std::fs::read_to_string(t.path().join(".datacustoms/quarantine/r1/records.jsonl")).unwrap();
    assert!(home.contains(SECRET));
    for entry in walk(&t.path().join("out")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{} leaks a quarantined value",
            entry.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.path().join(".datacustoms/quarantine/r1"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "quarantine dir must be private");
    }

    let report = read_json(&t.path().join("out/report.json"));
    assert_eq!(report["rows"]["in"], 7);
    assert_eq!(report["rows"]["out"], 2);
    assert_eq!(report["rows"]["quarantined"], 5);
    assert_eq!(report["rows"]["blank_lines"], 1);
    assert_eq!(report["quarantine"]["by_reason"]["schema_mismatch"], 2);
    run_ok(t.path(), &["verify", "out"]);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn strict_fails_with_65_and_leaves_no_export() {
    let t = tempfile::tempdir().unwrap();
    bad_jsonl(t.path());
    pipeline_with_schema(t.path());
    let o = run_in(t.path(), &["run", "p.toml", "--strict"]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("in.jsonl line 2"), "{err}");
    assert!(err.contains("malformed_json"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
    assert!(!t.path().join("out").exists());
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !leftovers
            .iter()
            .any(|n| n.to_string_lossy().contains("staging")),
        "{leftovers:?}"
    );
}

#[test]
fn a_panicking_stage_fails_the_run_without_quoting_data() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.jsonl"), "{\"id\":1,\"text\":\"hello\"}\n").unwrap();
    // A stage before the barriers (on the first chunk), and one after dedup (on the first
    // batch it passes on, with more batches in flight behind it).
    let rows: String = (0..5_000)
        .map(|i| format!("{{\"id\":{i},\"text\":\"note {}\"}}\n", i % 4_000))
        .collect();
    std::fs::write(t.path().join("many.jsonl"), rows).unwrap();
    let tail = "[[stages]]\ntype = \"dedup\"\nfields = [\"text\"]\n\
        [[stages]]\ntype = \"normalize\"\nfields = [\"text\"]\n";
    for (fault, input, batch_rows, stages) in [
        ("panic", "in.jsonl", 8192, ""),
        ("tail-panic", "many.jsonl", 100, tail),
    ] {
        std::fs::write(
            t.path().join("p.toml"),
            format!(
                "name = \"t\"\n[input]\npath = \"{input}\"\nbatch_rows = {batch_rows}\n\
                 [output]\npath = \"out\"\n{stages}"
            ),
        )
        .unwrap();
        let o = bin()
            .current_dir(t.path())
            .env("DATACUSTOMS_FAULT", fault)
            .args(["run", "p.toml", "--threads", "2"])
            .output()
            .unwrap();
        let err = stderr(&o);
        // It ends (no hang), fails, writes nothing and withholds the panic message.
        assert_eq!(code(&o), 1, "{fault}: {err}");
        assert!(err.contains("internal error at src/"), "{fault}: {err}");
        assert!(err.contains("a stage panicked"), "{fault}: {err}");
        assert!(!err.contains("13812345678"), "{fault}: {err}");
        assert!(!t.path().join("out").exists(), "{fault}");
    }
}

#[test]
fn debug_logs_explain_the_run_without_values_from_the_data() {
    let t = tempfile::tempdir().unwrap();
    bad_jsonl(t.path());
    pipeline_with_schema(t.path());
    let o = bin()
        .current_dir(t.path())
        .env("DATACUSTOMS_LOG", "debug")
        .args(["run", "p.toml"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    for event in [
        "output lock taken",
        "staging folder created",
        "reconciled",
        "export committed",
    ] {
        assert!(err.contains(event), "no `{event}` debug event:\n{err}");
    }
    assert!(!err.contains(SECRET), "{err}");
}

#[test]
fn missing_input_exits_66() {
    let t = tempfile::tempdir().unwrap();
    pipeline(t.path(), "nope.jsonl", "out", "");
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 66);
    assert!(stderr(&o).contains("nope.jsonl"));
    pipeline(t.path(), "nothing-*.jsonl", "out", "");
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml"])), 66);
    assert_eq!(code(&run_in(t.path(), &["run", "missing.toml"])), 66);
}

#[test]
fn pipeline_errors_exit_78_and_name_the_line() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.jsonl"), "{\"text\":\"a\"}\n").unwrap();
    pipeline(t.path(), "in.jsonl", "out", "colour = \"red\"\n");
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 78);
    assert!(stderr(&o).contains("p.toml line 6"), "{}", stderr(&o));

    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"teleport\"\n",
    );
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("teleport") && stderr(&o).contains("line 7"),
        "{}",
        stderr(&o)
    );

    pipeline(
        t.path(),
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"normalize\"\nfields = [\"body\"]\n",
    );
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 78);
    let e = stderr(&o);
    assert!(
        e.contains("p.toml line 8") && e.contains("body") && e.contains("text"),
        "{e}"
    );
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(code(&bin().args(["run"]).output().unwrap()), 64);
    assert_eq!(code(&bin().args(["frobnicate"]).output().unwrap()), 64);
}

#[test]
fn empty_file_is_reported_not_fatal() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("in")).unwrap();
    std::fs::write(t.path().join("in/a.jsonl"), "{\"text\":\"a\"}\n").unwrap();
    std::fs::write(t.path().join("in/b.jsonl"), "").unwrap();
    pipeline(t.path(), "in", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["files"].as_array().unwrap().len(), 2);
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("b.jsonl: no records"), "{warnings}");
}

#[test]
fn truncated_gzip_is_quarantined_as_unreadable() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..5000 {
        writeln!(
            gz,
            "{{\"id\":{i},\"text\":\"row {i} with some text to compress\"}}"
        )
        .unwrap();
    }
    let bytes = gz.finish().unwrap();
    std::fs::write(t.path().join("in.jsonl.gz"), &bytes[..bytes.len() / 2]).unwrap();
    pipeline(t.path(), "in.jsonl.gz", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let q = read_lines(&t.path().join("out/quarantine.jsonl"));
    assert_eq!(q.last().unwrap()["reason"], "unreadable_file");
    let r = read_json(&t.path().join("out/report.json"));
    assert!(r["rows"]["out"].as_u64().unwrap() > 0);
    assert!(r["rows"]["files"][0]["unreadable"].is_string());
    assert_eq!(
        code(&run_in(
            t.path(),
            &["run", "p.toml", "--strict", "--overwrite", "--quiet"]
        )),
        65
    );
}

#[test]
fn json_logs_are_json_and_carry_no_values() {
    let t = tempfile::tempdir().unwrap();
    bad_jsonl(t.path());
    pipeline_with_schema(t.path());
    let o = run_ok(t.path(), &["run", "p.toml", "--log-format", "json"]);
    let err = stderr(&o);
    let mut events = 0;
    for line in err.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(v["level"].is_string());
        events += 1;
    }
    assert!(events >= 2, "{err}");
    assert!(!err.contains(SECRET), "{err}");
}

#[test]
fn json_array_input_fails_with_the_reason() {
    let t = tempfile::tempdir().unwrap();
    // Pretty-printed (line 1 is `[`) and one-line arrays, with and without a declared
    // schema (the schema sample reads the file first, the reader otherwise).
    let pretty = "[\n  {\"id\": 1, \"text\": \"a\"},\n  {\"id\": 2, \"text\": \"b\"}\n]\n";
    let one_line = "[{\"id\": 1, \"text\": \"a\"}, {\"id\": 2, \"text\": \"b\"}]\n";
    for (body, declared) in [(pretty, ""), (one_line, ""), (pretty, DECLARED)] {
        std::fs::write(t.path().join("in.json"), body).unwrap();
        std::fs::write(
            t.path().join("p.toml"),
            format!("[input]\npath = \"in.json\"\n{declared}[output]\npath = \"out\"\noverwrite = true\n"),
        )
        .unwrap();
        let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
        assert_eq!(code(&o), 65, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("in.json: line 1 opens a JSON array"), "{err}");
        assert!(err.contains("jq -c"), "{err}");
        assert!(!t.path().join("out/data").exists());
    }
}

#[test]
fn dataset_folders_skip_metadata_and_refuse_data_they_cannot_read() {
    let t = tempfile::tempdir().unwrap();
    // A folder of JSONL parts beside Hugging Face and Spark metadata: the metadata is
    // skipped, named in the report, and never read as records.
    let ds = t.path().join("ds");
    std::fs::create_dir_all(ds.join("train")).unwrap();
    std::fs::write(
        ds.join("train/part-0.jsonl"),
        "{\"text\":\"a\"}\n{\"text\":\"b\"}\n",
    )
    .unwrap();
    std::fs::write(ds.join("dataset_dict.json"), "{\"splits\": [\"train\"]}").unwrap();
    std::fs::write(
        ds.join("train/dataset_info.json"),
        "{\n  \"citation\": \"\"\n}\n",
    )
    .unwrap();
    std::fs::write(ds.join("train/state.json"), "{\n  \"_data_files\": []\n}\n").unwrap();
    std::fs::write(ds.join("train/_SUCCESS"), "").unwrap();
    pipeline(t.path(), "ds", "out", "");
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["in"], 2, "{r}");
    assert_eq!(r["rows"]["quarantined"], 0, "{r}");
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("skipped 4 metadata file(s)"),
        "{warnings}"
    );
    assert!(warnings.contains("dataset_info.json"), "{warnings}");

    // A save_to_disk folder holds its rows in Arrow files: refused with the conversion.
    let hf = t.path().join("hf");
    std::fs::create_dir_all(&hf).unwrap();
    std::fs::write(hf.join("data-00000-of-00001.arrow"), [0u8; 64]).unwrap();
    std::fs::write(hf.join("dataset_info.json"), "{}").unwrap();
    std::fs::write(hf.join("state.json"), "{}").unwrap();
    pipeline(t.path(), "hf", "out2", "");
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("data-00000-of-00001.arrow") && err.contains("to_parquet"),
        "{err}"
    );
    assert!(!t.path().join("out2").exists());
}

#[test]
fn quarantine_gate_refuses_an_export_of_quarantined_rows() {
    let t = tempfile::tempdir().unwrap();
    let write = |lines: &str, gate: &str| {
        std::fs::write(t.path().join("in.jsonl"), lines).unwrap();
        std::fs::write(
            t.path().join("p.toml"),
            format!(
                "[input]\npath = \"in.jsonl\"\n[output]\npath = \"out\"\noverwrite = true\n{gate}"
            ),
        )
        .unwrap();
    };
    // Every row quarantined: refused by default (exit 80), nothing shipped.
    write("not json\nnor this\n", "");
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 of 2 rows were quarantined"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("out/data").exists());
    assert!(!t.path().join("out/manifest.json").exists());
    // A count and a share.
    let mixed = "{\"text\":\"a\"}\nnot json\nnor this\n";
    write(mixed, "[gate]\nmax_quarantined = 1\n");
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml", "--quiet"])), 80);
    write(mixed, "[gate]\nmax_quarantined = 0.7\n");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["gate"]["max_quarantined"], 0.7);
    write(mixed, "[gate]\nmax_quarantined = 0.5\n");
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml", "--quiet"])), 80);
    // Some rows quarantined without a gate: the export goes out, as before.
    write(mixed, "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    // A share outside 0..1 is a configuration error.
    write(mixed, "[gate]\nmax_quarantined = 1.5\n");
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml", "--quiet"])), 78);
}

#[test]
fn fields_after_the_schema_sample_get_a_hint() {
    let t = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for i in 0..30 {
        if i < 20 {
            lines.push_str(&format!("{{\"id\":{i},\"text\":\"a\"}}\n"));
        } else {
            lines.push_str(&format!("{{\"id\":{i},\"text\":\"a\",\"late\":\"x\"}}\n"));
        }
    }
    std::fs::write(t.path().join("in.jsonl"), lines).unwrap();
    std::fs::write(
        t.path().join("p.toml"),
        "[input]\npath = \"in.jsonl\"\nsample_lines = 10\n[output]\npath = \"out\"\n",
    )
    .unwrap();
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = read_json(&t.path().join("out/report.json"));
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains(
            "10 rows quarantined for fields the schema sample did not see (first: /late)"
        ),
        "{warnings}"
    );
    assert!(warnings.contains("schema = \\\"scan\\\""), "{warnings}");
}

#[test]
fn a_run_on_an_output_in_use_exits_75_and_sweeps_nothing() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.jsonl"), "{\"text\":\"a\"}\n").unwrap();
    pipeline(t.path(), "in.jsonl", "out", "");
    // Another run holds the output: its lock and its live staging folder.
    let lock = std::fs::File::create(t.path().join(".out.lock")).unwrap();
    lock.try_lock().unwrap();
    std::fs::create_dir(t.path().join(".out.staging-live")).unwrap();
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 75, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("in use by another run"),
        "{}",
        stderr(&o)
    );
    assert!(t.path().join(".out.staging-live").exists());
    // With --wait, a second run waits for the lock instead (here: released after 1 s).
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        drop(lock);
    });
    let started = std::time::Instant::now();
    let o = run_in(t.path(), &["run", "p.toml", "--quiet", "--wait", "60"]);
    release.join().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    // The run that got the lock swept the leftover.
    assert!(!t.path().join(".out.staging-live").exists());
    // A wait that runs out says so.
    let lock = std::fs::File::create(t.path().join(".out.lock")).unwrap();
    lock.try_lock().unwrap();
    let o = run_in(t.path(), &["run", "p.toml", "--quiet", "--wait", "1"]);
    assert_eq!(code(&o), 75, "{}", stderr(&o));
    assert!(stderr(&o).contains("still after 1 s"), "{}", stderr(&o));
}
