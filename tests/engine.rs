//! The engine's promises, end to end: determinism across thread counts, reconciliation,
//! atomic exports (kill -9, --overwrite), part roll-over, JSONL round-trips, compressed
//! inputs, bounded memory, and a `verify` that catches tampering.

mod common;
use common::*;

use std::io::Write;

use assert_cmd::cargo::CommandCargoExt;
use std::path::Path;
use std::time::{Duration, Instant};

const NORMALIZE: &str = "[[stages]]\ntype = \"normalize\"\nfields = [\"text\"]\n";

#[test]
fn thread_count_does_not_change_the_data() {
    let t = tempfile::tempdir().unwrap();
    write_corpus(&t.path().join("in.jsonl"), 6 << 20);
    let extra = format!("max_file_bytes = \"1MiB\"\n{NORMALIZE}");
    std::fs::write(
        t.path().join("p.toml"),
        format!(
            "[input]\npath = \"in.jsonl\"\nbatch_rows = 300\n[output]\npath = \"out\"\n{extra}"
        ),
    )
    .unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2", "4"] {
        let out = format!("out{threads}");
        run_ok(
            t.path(),
            &[
                "run",
                "p.toml",
                "--quiet",
                "--threads",
                threads,
                "--output",
                &out,
            ],
        );
        outputs.push(data_files(&t.path().join(&out)));
    }
    assert!(
        outputs[0].len() > 3,
        "expected several parts, got {}",
        outputs[0].len()
    );
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn jsonl_roundtrip_keeps_every_field_value_and_order() {
    let t = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"id":"a","n":1,"f":1.5,"b":true,"text":"数据出境 ok","meta":{"source":"x","tags":["p","q"],"rating":4},"msgs":[{"role":"user","content":"hi"}]}"#,
        r#"{"id":"b","n":null,"f":2.0,"b":false,"text":"","meta":{"source":null,"tags":[],"rating":null},"msgs":[]}"#,
        r#"{"id":"c","n":-9007199254740993,"f":-0.001,"text":"\u0000ctrl\"quote\\","meta":null}"#,
        r#"{"f":3.25,"id":"d","meta":{"tags":null},"msgs":[{"content":"no role"},{"role":"bot","content":null}]}"#,
    ];
    std::fs::write(t.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    pipeline(t.path(), "in.jsonl", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let out = std::fs::read_to_string(t.path().join("out/data/part-00000.jsonl")).unwrap();
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 4);
    // Values, nulls and absent keys are identical; key order follows the schema (first
    // appearance), so only line 4, written in another order, changes order.
    for (g, w) in got.iter().zip(lines) {
        let gv: serde_json::Value = serde_json::from_str(g).unwrap();
        let wv: serde_json::Value = serde_json::from_str(w).unwrap();
        assert_eq!(gv, wv);
    }
    assert_eq!(got[..3], lines[..3]);
    assert!(
        got[3].starts_with(r#"{"id":"d","f":3.25,"meta":{"tags":null}"#),
        "{}",
        got[3]
    );
}

#[test]
fn compressed_inputs_directories_and_globs() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("in/sub")).unwrap();
    let rec = |i: usize| format!("{{\"id\":{i},\"text\":\"row {i}\"}}\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut plain = String::new();
    for i in 0..100 {
        gz.write_all(rec(i).as_bytes()).unwrap();
        plain.push_str(&rec(i + 100));
    }
    std::fs::write(t.path().join("in/a.jsonl.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        t.path().join("in/sub/b.jsonl.zst"),
        zstd::encode_all(plain.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    std::fs::write(t.path().join("in/c.jsonl"), rec(200)).unwrap();
    std::fs::write(t.path().join("in/notes.txt"), "ignored").unwrap();

    pipeline(t.path(), "in", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["in"], 201);
    assert_eq!(r["rows"]["out"], 201);
    assert_eq!(r["rows"]["files"].as_array().unwrap().len(), 3);

    run_ok(
        t.path(),
        &[
            "run",
            "p.toml",
            "--quiet",
            "--overwrite",
            "--input",
            "in/*.jsonl*",
        ],
    );
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["in"], 101);
}

#[test]
fn existing_output_needs_overwrite_and_no_stale_part_survives() {
    let t = tempfile::tempdir().unwrap();
    write_corpus(&t.path().join("in.jsonl"), 3 << 20);
    std::fs::write(
        t.path().join("p.toml"),
        "[input]\npath = \"in.jsonl\"\nbatch_rows = 200\n[output]\npath = \"out\"\nmax_file_bytes = \"256KiB\"\n",
    )
    .unwrap();
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml", "--quiet"])), 0);
    let many = data_files(&t.path().join("out")).len();
    assert!(many > 5, "{many} parts");
    let o = run_in(t.path(), &["run", "p.toml", "--quiet"]);
    assert_eq!(code(&o), 73);
    assert!(stderr(&o).contains("--overwrite"));

    std::fs::write(
        t.path().join("p.toml"),
        "[input]\npath = \"in.jsonl\"\n[output]\npath = \"out\"\noverwrite = true\n",
    )
    .unwrap();
    assert_eq!(code(&run_in(t.path(), &["run", "p.toml", "--quiet"])), 0);
    assert_eq!(data_files(&t.path().join("out")).len(), 1);
    assert_eq!(code(&run_in(t.path(), &["verify", "out"])), 0);
}

/// Starts a run on `bytes` of corpus in `dir` (8 MiB parts) and returns once it has
/// written two parts into its staging folder.
fn start_long_run(dir: &Path, bytes: u64) -> std::process::Child {
    write_corpus(&dir.join("in.jsonl"), bytes);
    std::fs::write(
        dir.join("p.toml"),
        format!("[input]\npath = \"in.jsonl\"\n[output]\npath = \"out\"\nmax_file_bytes = \"8MiB\"\n{NORMALIZE}"),
    )
    .unwrap();
    let mut child = std::process::Command::cargo_bin("datacustoms")
        .unwrap()
        .current_dir(dir)
        .env("DATACUSTOMS_STATE_DIR", dir.join(".datacustoms"))
        .args(["run", "p.toml", "--quiet", "--threads", "1"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let staged = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(".out.staging-"));
        if let Some(s) = staged {
            if std::fs::read_dir(s.path().join("data"))
                .map(|d| d.count())
                .unwrap_or(0)
                >= 2
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the run never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Entries `.out.*` beside the output other than its (empty) lock file.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(".out.") && f != ".out.lock")
        .collect()
}

#[test]
fn an_interrupted_run_removes_its_staging_folder_and_exits_128_plus_the_signal() {
    for (signal, exit) in [("TERM", 143), ("INT", 130)] {
        let t = tempfile::tempdir().unwrap();
        let child = start_long_run(t.path(), 200 << 20);
        let pid = child.id().to_string();
        let k = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(k.success());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(exit), "SIG{signal}: {err}");
        assert!(err.contains("removed the partial export"), "{err}");
        assert!(!t.path().join("out").exists());
        assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
    }
}

#[test]
fn killed_run_leaves_no_export_and_a_rerun_succeeds() {
    let t = tempfile::tempdir().unwrap();
    let mut child = start_long_run(t.path(), 400 << 20);
    // kill -9: nothing can clean up, the next run sweeps.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !t.path().join("out").exists(),
        "a killed run left an export"
    );
    assert!(!t.path().join("out/manifest.json").exists());

    assert!(
        !leftovers(t.path()).is_empty(),
        "kill -9 leaves the staging folder"
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet", "--threads", "2"]);
    assert_eq!(code(&run_in(t.path(), &["verify", "out"])), 0);
    // Nothing but the (empty) lock file of the output.
    assert!(leftovers(t.path()).is_empty());
    // Same data as a run that was never interrupted.
    let o = run_in(t.path(), &["run", "p.toml", "--quiet", "--output", "clean"]);
    assert_eq!(code(&o), 0);
    assert!(data_files(&t.path().join("out")) == data_files(&t.path().join("clean")));
}

fn tamper_setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    write_corpus(&t.path().join("in.jsonl"), 200 << 10);
    std::fs::write(t.path().join("in.jsonl"), {
        let mut s = std::fs::read_to_string(t.path().join("in.jsonl")).unwrap();
        s.push_str("{broken\n");
        s
    })
    .unwrap();
    pipeline(t.path(), "in.jsonl", "out", NORMALIZE);
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let out = t.path().join("out");
    assert_eq!(code(&run_in(t.path(), &["verify", "out"])), 0);
    (t, out)
}

fn verify_fails(dir: &Path, expect: &str) {
    let o = bin().args(["verify"]).arg(dir).output().unwrap();
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(expect),
        "wanted `{expect}` in: {}",
        stderr(&o)
    );
}

#[test]
fn verify_catches_a_changed_byte() {
    let (_t, out) = tamper_setup();
    let p = out.join("data/part-00000.jsonl");
    let mut b = std::fs::read(&p).unwrap();
    let i = b.len() / 2;
    b[i] = if b[i] == b'a' { b'b' } else { b'a' };
    std::fs::write(&p, b).unwrap();
    verify_fails(&out, "data/part-00000.jsonl: SHA-256 differs");
}

#[test]
fn verify_catches_deleted_and_added_files() {
    let (_t, out) = tamper_setup();
    std::fs::remove_file(out.join("quarantine.jsonl")).unwrap();
    std::fs::write(out.join("data/part-00099.jsonl"), "{}\n").unwrap();
    verify_fails(&out, "quarantine.jsonl: listed in the manifest but missing");
    verify_fails(&out, "data/part-00099.jsonl: not in the manifest");
}

#[test]
fn verify_catches_an_edited_audit_line_even_with_a_fixed_manifest() {
    let (_t, out) = tamper_setup();
    let p = out.join("audit.jsonl");
    let text = std::fs::read_to_string(&p).unwrap();
    let edited = text.replacen("\"event\":\"input_read\"", "\"event\":\"input_reed\"", 1);
    assert_ne!(text, edited);
    std::fs::write(&p, &edited).unwrap();
    verify_fails(&out, "audit.jsonl: SHA-256 differs");
    // Re-signing the manifest does not help: the chain itself is broken.
    let mut m = read_json(&out.join("manifest.json"));
    let (sha, bytes) = datacustoms::io::source::sha256_file(&p).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == "audit.jsonl" {
            f["sha256"] = sha.clone().into();
            f["bytes"] = bytes.into();
        }
    }
    std::fs::write(out.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    verify_fails(&out, "prev_sha256 does not match");
}

#[test]
fn verify_catches_a_missing_manifest() {
    let (_t, out) = tamper_setup();
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    verify_fails(&out, "incomplete");
}

/// The peak memory is the run's own (`peak_memory_bytes` in report.json, Linux's VmHWM):
/// a child's `ru_maxrss` from `wait4` also counts the peak of this test process's address
/// space at spawn, which once failed this test at 650 MiB for a run of 185. The first
/// chunk lags three seconds (`DATACUSTOMS_FAULT=slow`), as a worker may on a busy
/// machine: the bound must hold then too.
#[cfg(target_os = "linux")]
#[test]
fn one_gigabyte_runs_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let rows = write_corpus(&t.path().join("in.jsonl"), 1 << 30);
    pipeline(t.path(), "in.jsonl", "out", NORMALIZE);
    let o = bin()
        .current_dir(t.path())
        .env("DATACUSTOMS_STATE_DIR", t.path().join(".datacustoms"))
        .env("DATACUSTOMS_FAULT", "slow")
        .args(["run", "p.toml", "--quiet", "--threads", "2"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["out"].as_u64(), Some(rows));
    let peak = r["peak_memory_bytes"]
        .as_u64()
        .expect("peak_memory_bytes on Linux");
    let harness = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let harness = harness.lines().find(|l| l.starts_with("VmHWM:"));
    eprintln!(
        "1 GiB JSONL: peak memory {} MiB (this test process: {})",
        peak >> 20,
        harness.unwrap_or("VmHWM unknown")
    );
    assert!(peak < 500 << 20, "peak memory {} MiB", peak >> 20);
}

/// A worker that lags (descheduled on a busy machine: `DATACUSTOMS_FAULT=slow` holds the
/// first chunk for three seconds, `slow-tail` the first batch after the barrier) must not
/// let the others pile finished batches up behind it: the batches waiting for it count
/// against the same bound as those on the pool. Once, a CI run measured 650 MiB where
/// this engine usually takes 185 on the 1 GiB test below, from exactly that.
#[test]
fn a_lagging_worker_does_not_let_batches_pile_up_behind_it() {
    let t = tempfile::tempdir().unwrap();
    let rows = write_corpus(&t.path().join("in.jsonl"), 4 << 20);
    let stages =
        format!("[[stages]]\ntype = \"dedup\"\nmode = \"exact\"\nfields = [\"text\"]\n{NORMALIZE}");
    std::fs::write(
        t.path().join("p.toml"),
        format!(
            "[input]\npath = \"in.jsonl\"\nbatch_rows = 100\n[output]\npath = \"out\"\n{stages}"
        ),
    )
    .unwrap();
    assert!(rows > 3000, "{rows} rows: too few chunks to tell");
    for fault in ["slow", "slow-tail"] {
        let _ = std::fs::remove_dir_all(t.path().join("out"));
        let o = bin()
            .current_dir(t.path())
            .env("DATACUSTOMS_STATE_DIR", t.path().join(".datacustoms"))
            .env("DATACUSTOMS_FAULT", fault)
            .env("DATACUSTOMS_LOG", "datacustoms=debug")
            .args(["--log-format", "json", "run", "p.toml", "--threads", "2"])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(code(&o), 0, "{fault}: {err}");
        let v: serde_json::Value = err
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .find(|v: &serde_json::Value| {
                v["fields"]["message"] == "most batches back out of order at once"
            })
            .unwrap_or_else(|| panic!("{fault}: no debug event in {err}"));
        let f = &v["fields"];
        let bound = f["bound"].as_u64().unwrap();
        let (chunks, tails) = (f["chunks"].as_u64().unwrap(), f["tails"].as_u64().unwrap());
        eprintln!("{fault}: at most {chunks} chunks and {tails} tails waiting (bound {bound})");
        assert!(chunks <= bound && tails <= bound, "{fault}: {f}");
        let r = read_json(&t.path().join("out/report.json"));
        assert_eq!(
            r["rows"]["out"].as_u64().unwrap() + r["rows"]["duplicates"].as_u64().unwrap(),
            rows
        );
    }
}

#[test]
fn a_scheduler_gets_progress_lines_and_a_json_summary_as_the_last_stdout_line() {
    let t = tempfile::tempdir().unwrap();
    write_corpus(&t.path().join("in.jsonl"), 30 << 20);
    pipeline(t.path(), "in.jsonl", "out", NORMALIZE);
    // stderr is a pipe here, as under Airflow: no bar, but log lines.
    let o = bin()
        .current_dir(t.path())
        .env("DATACUSTOMS_STATE_DIR", t.path().join(".datacustoms"))
        .env("DATACUSTOMS_PROGRESS_SECS", "0.05")
        .args(["--log-format", "json", "run", "p.toml", "--threads", "1"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    for line in err.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(err.contains("\"message\":\"progress\""), "{err}");
    assert!(err.contains("\"message\":\"export written\""), "{err}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "export_written");
    assert_eq!(last["rows_in"], last["rows_out"]);
    assert!(last["rows_in"].as_u64().unwrap() > 0);
}
