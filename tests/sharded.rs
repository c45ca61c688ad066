//! The shard protocol end to end (`plan`, `map`, `finalize`, `status`, `run --workers`):
//! a sharded run writes the export one process writes — the same rows in the same
//! order, the same quarantine and the same report apart from its volatile fields —
//! whatever the order, duplication or crashes of its tasks.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Fields of report.json that differ between any two runs (timing, threads, peak memory, how the
/// rows were cut into part files, the DP ledger's chain head, which covers each
/// release's time), and, for an encrypting pipeline, how many data keys were drawn (one
/// pool per task attempt, by design).
const VOLATILE: &[&str] = &[
    "/stages/0/findings/info/ledger/chain/after/head",
    "/started_at",
    "/finished_at",
    "/seconds",
    "/threads",
    "/peak_memory_bytes",
    "/output/parts",
    "/output/bytes",
    "/keys/data_keys",
    "/residual/cpu_seconds",
];

/// A test folder holding the bundled pipelines and sample data, and the sample data
/// cut into several input files: `in-jsonl/chat-0K.jsonl` (one malformed line in the
/// third) and `in-pq/data/part-0000K.parquet`.
fn setup() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    copy_from_checkout(
        d,
        &[
            "pipelines/deidentify.toml",
            "pipelines/orders-parquet.toml",
            "pipelines/orders-protect.toml",
            "pipelines/dedup.toml",
            "pipelines/quickstart.toml",
            "pipelines/orders-provinces.txt",
            "sample-data/chat.jsonl",
            "sample-data/orders.parquet",
        ],
    );
    let text = std::fs::read_to_string(d.join("sample-data/chat.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::create_dir_all(d.join("in-jsonl")).unwrap();
    for (k, chunk) in lines.chunks(lines.len().div_ceil(4)).enumerate() {
        let mut body = chunk.join("\n") + "\n";
        if k == 2 {
            body.push_str("{\"broken\n");
        }
        std::fs::write(d.join(format!("in-jsonl/chat-0{k}.jsonl")), body).unwrap();
    }
    std::fs::write(
        d.join("split.toml"),
        "[input]\npath = \"sample-data/orders.parquet\"\n[output]\npath = \"in-pq\"\nformat = \"parquet\"\nmax_file_bytes = \"200k\"\n",
    )
    .unwrap();
    run_ok(d, &["-q", "run", "split.toml"]);
    assert!(
        data_files(&d.join("in-pq")).len() >= 3,
        "the Parquet input is cut in several files"
    );
    std::fs::write(
        d.join("pipelines/assess.toml"),
        r#"name = "assess"
[input]
path = "../in-jsonl"
[output]
path = "../out/assess"
[[stages]]
type = "deidentify"
fields = ["text", "messages.content"]
action = "tag"
[assessment]
subject_columns = ["user_id"]
subject_types = ["CN_ID_CARD", "PHONE", "EMAIL"]
exporter = "test-co"
recipient = "lab"
quasi_identifiers = ["lang"]
"#,
    )
    .unwrap();
    // Dedup with a two-pass policy (the longest of each cluster is kept), exact and
    // near; and with paragraph scope.
    let dedup = std::fs::read_to_string(d.join("pipelines/dedup.toml")).unwrap();
    std::fs::write(
        d.join("pipelines/dedup-longest.toml"),
        dedup.replace(r#"keep = "first""#, r#"keep = "longest""#),
    )
    .unwrap();
    std::fs::write(
        d.join("pipelines/dedup-exact.toml"),
        dedup.replace(r#"mode = "near""#, r#"mode = "exact""#),
    )
    .unwrap();
    // The index bounded by memory_mb (the sample's 2,000 records need more than 1 MiB):
    // two passes with generations; the dedup step decides the same way.
    std::fs::write(
        d.join("pipelines/dedup-bounded.toml"),
        dedup.replace(r#"keep = "first""#, "keep = \"first\"\nmemory_mb = 1"),
    )
    .unwrap();
    assert!(dedup.contains(r#"keep = "first""#) && dedup.contains(r#"mode = "near""#));
    let paragraph = dedup.replace(r#"keep = "first""#, r#"scope = "paragraph""#);
    std::fs::write(d.join("pipelines/dedup-paragraph.toml"), &paragraph).unwrap();
    // Two dedup stages, paragraph then near record dedup: a sharded run decides them in
    // two rounds, the second on what is left after the first (`in-para`).
    std::fs::write(
        d.join("pipelines/dedup-twice.toml"),
        format!(
            "{paragraph}\n[[stages]]\ntype = \"dedup\"\nfields = [\"text\"]\nmode = \"near\"\n"
        ),
    )
    .unwrap();
    paragraphs_input(&d.join("in-para"));
    // Tokens without a vault and encrypted cells, on JSONL.
    std::fs::write(
        d.join("pipelines/protect-jsonl.toml"),
        r#"name = "protect-jsonl"
[input]
path = "../in-jsonl"
[output]
path = "../out/protect-jsonl"
[keys]
scope = "test"
record_id = "id"
[[stages]]
type = "deidentify"
fields = ["text", "messages.content"]
action = "tag"
[[stages]]
type = "pseudonymize"
columns = ["user_id"]
[[stages]]
type = "encrypt"
columns = ["ts"]
"#,
    )
    .unwrap();
    // DP with bounds that never bind and ε so large that the noise is 0 with probability
    // 1 - 2e^-50 per value, so the released values of two runs can be compared.
    std::fs::write(
        d.join("pipelines/dp.toml"),
        r#"name = "dp"
[input]
path = "../in-pq/data"
[output]
path = "../out/dp"
rows = false
[[stages]]
type = "dp_release"
privacy_unit = "user_id"
budget = { total_epsilon = 1e13, total_delta = 1e-3 }
  [[stages.queries]]
  name = "users_by_province"
  aggregate = "count"
  group_by = ["province"]
  keys_file = "orders-provinces.txt"
  epsilon = 1e9
  max_partitions = 100
  max_rows_per_partition = 100
  [[stages.queries]]
  name = "revenue_by_category"
  aggregate = "sum"
  column = "amount"
  bounds = [0, 2000]
  resolution = 0.01
  group_by = ["category"]
  epsilon = 1e12
  delta = 1e-6
  max_partitions = 100
  max_rows_per_partition = 100
"#,
    )
    .unwrap();
    t
}

/// Input for two dedup rounds, in three files, where the second round's decisions
/// depend on the first's edits: records that are near duplicates only through a long
/// boilerplate line (paragraph dedup removes it from all but the first, after which the
/// rest are not alike), near duplicates in their own words across files (dropped either
/// way), and records unlike any other.
fn paragraphs_input(dir: &Path) {
    // `count` words drawn by a linear congruential generator seeded with `n`: unlike
    // any other draw's.
    let words = |n: usize, count: usize| {
        let vocabulary = [
            "river", "amber", "copper", "lantern", "orchid", "granite", "velvet", "harbor",
            "meadow", "thistle", "cobalt", "saffron", "willow", "ember", "quartz", "falcon",
            "juniper", "marble", "pepper", "tundra", "violet", "walnut", "zephyr", "basil",
        ];
        let mut x = n as u64 * 2_654_435_761 + 12_345;
        (0..count)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                vocabulary[(x >> 33) as usize % vocabulary.len()]
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    std::fs::create_dir_all(dir).unwrap();
    // Two boilerplate lines of 200 words: with one, two records' 5-gram sets are 90 %
    // the same whatever their own 5 words are.
    let boiler = [words(1_000, 200), words(2_000, 200)];
    for k in 0..3 {
        let mut body = String::new();
        for i in 0..30 {
            let text = match i % 3 {
                0 => format!("{}\n{}", boiler[i % 2], words(k * 30 + i, 5)),
                1 => format!(
                    "story {}: the delivery to the north warehouse was late again because the truck broke down near the river crossing{}",
                    i / 3,
                    if k == 1 { ", again" } else { "" }
                ),
                _ => format!("record {k} {i}: {}", "lorem ipsum ".repeat(1 + (i + k) % 4) + &(k * 100 + i).to_string()),
            };
            body.push_str(
                &serde_json::json!({"id": format!("p-{k}-{i}"), "text": text, "messages": [{"role": "user", "content": "hello"}]}).to_string(),
            );
            body.push('\n');
        }
        std::fs::write(dir.join(format!("para-0{k}.jsonl")), body).unwrap();
    }
}

/// `datacustoms ARGS` in `dir` with the state folder `dir/STATE`.
fn run_state(dir: &Path, state: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = bin();
    c.current_dir(dir)
        .env("DATACUSTOMS_STATE_DIR", dir.join(state))
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run datacustoms")
}

fn ok(o: Output) -> Output {
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    o
}

/// Runs `pipeline` on `input` in one process into `out/single`, then moves the state
/// folder aside (its ledgers and vault saw that run) keeping the keyring, so the next
/// run starts from the same state.
fn single(dir: &Path, pipeline: &str, input: &str) -> PathBuf {
    ok(run_state(
        dir,
        "state",
        &[
            "-q",
            "run",
            pipeline,
            "--input",
            input,
            "--output",
            "out/single",
            "--run-id",
            "r1",
        ],
        &[],
    ));
    fresh_state(dir, "state-single");
    dir.join("out/single")
}

/// Renames the state folder to `aside` and starts a new one with the same keyring.
fn fresh_state(dir: &Path, aside: &str) {
    std::fs::rename(dir.join("state"), dir.join(aside)).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::copy(
        dir.join(aside).join("keyring.json"),
        dir.join("state/keyring.json"),
    )
    .unwrap();
}

/// `run --workers 2` with `extra` arguments into `out/NAME`.
fn sharded(dir: &Path, pipeline: &str, input: &str, name: &str, extra: &[&str]) -> PathBuf {
    let out = format!("out/{name}");
    let mut args = vec![
        "-q",
        "run",
        pipeline,
        "--input",
        input,
        "--output",
        &out,
        "--run-id",
        "r1",
        "--workers",
        "2",
    ];
    args.extend_from_slice(extra);
    ok(run_state(dir, "state", &args, &[]));
    dir.join(out)
}

/// The report without its volatile fields.
fn report(export: &Path) -> serde_json::Value {
    let mut r = read_json(&export.join("report.json"));
    for p in VOLATILE {
        let (parent, key) = p.rsplit_once('/').unwrap();
        if let Some(o) = r
            .pointer_mut(if parent.is_empty() { "" } else { parent })
            .and_then(|v| v.as_object_mut())
        {
            o.remove(key);
        }
    }
    for s in r["stages"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("cpu_seconds");
    }
    r
}

/// The exported rows in order: JSONL parts concatenated, or Parquet parts' batches.
fn rows(export: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in data_files(export) {
        if name.ends_with(".parquet") {
            let r = ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(export.join("data").join(&name)).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
            for b in r {
                let b = b.unwrap();
                let mut w = arrow_json::LineDelimitedWriter::new(&mut out);
                w.write(&b).unwrap();
                w.finish().unwrap();
            }
        } else {
            out.extend(bytes);
        }
    }
    out
}

/// The DP releases of an export: each file of `aggregates/` by name.
fn aggregates(e: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(e.join("aggregates"))
        .unwrap()
        .map(|f| {
            let f = f.unwrap();
            (f.file_name(), std::fs::read(f.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// The export `b` holds what `a` holds: rows or aggregates, quarantine, report; and it
/// verifies.
fn assert_same_export(dir: &Path, a: &Path, b: &Path) {
    if a.join("aggregates").exists() {
        assert!(aggregates(a) == aggregates(b), "different DP releases");
    } else {
        let (ra, rb) = (rows(a), rows(b));
        assert!(!ra.is_empty());
        assert!(
            ra == rb,
            "{} and {} export different rows",
            a.display(),
            b.display()
        );
    }
    let q = |e: &Path| std::fs::read(e.join("quarantine.jsonl")).ok();
    assert_eq!(q(a), q(b), "quarantine.jsonl differs");
    let clusters = |e: &Path| std::fs::read(e.join("dedup_clusters.jsonl")).ok();
    assert!(clusters(a) == clusters(b), "dedup_clusters.jsonl differs");
    assert_eq!(report(a), report(b));
    ok(run_state(
        dir,
        "state",
        &["-q", "verify", b.to_str().unwrap()],
        &[],
    ));
}

#[test]
fn every_shardable_pipeline_shards_into_the_export_one_process_writes() {
    let t = setup();
    let d = t.path();
    for (pipeline, input, shards) in [
        ("pipelines/deidentify.toml", "in-jsonl", "4"),
        ("pipelines/assess.toml", "in-jsonl", "3"),
        ("pipelines/orders-parquet.toml", "in-pq/data", "3"),
        ("pipelines/orders-protect.toml", "in-pq/data", "2"),
        ("pipelines/protect-jsonl.toml", "in-jsonl", "2"),
        ("pipelines/dp.toml", "in-pq/data", "3"),
        ("pipelines/dedup.toml", "in-jsonl", "4"),
        ("pipelines/dedup-exact.toml", "in-jsonl", "3"),
        ("pipelines/dedup-longest.toml", "in-jsonl", "3"),
        ("pipelines/dedup-bounded.toml", "in-jsonl", "3"),
        ("pipelines/quickstart.toml", "in-jsonl", "2"),
        ("pipelines/dedup-paragraph.toml", "in-jsonl", "3"),
        ("pipelines/dedup-twice.toml", "in-para", "3"),
    ] {
        let one = single(d, pipeline, input);
        let name = pipeline
            .trim_start_matches("pipelines/")
            .trim_end_matches(".toml");
        let many = sharded(d, pipeline, input, name, &["--shards", shards]);
        if !pipeline.ends_with("dp.toml") {
            let parts = data_files(&many).len();
            assert!(parts > 1, "{pipeline}: several shards, several parts");
        }
        if pipeline.contains("protect") {
            // Ciphertext is random by design: compare what decrypts.
            for (e, to) in [(&one, "out/dec-single"), (&many, "out/dec-many")] {
                ok(run_state(
                    d,
                    "state",
                    &["-q", "decrypt", e.to_str().unwrap(), "--output", to],
                    &[],
                ));
            }
            let (a, b) = (
                rows(&d.join("out/dec-single")),
                rows(&d.join("out/dec-many")),
            );
            assert!(
                !a.is_empty() && a == b,
                "{pipeline}: the decrypted rows differ"
            );
            assert_eq!(report(&one), report(&many));
            ok(run_state(
                d,
                "state",
                &["-q", "verify", many.to_str().unwrap()],
                &[],
            ));
        } else {
            assert_same_export(d, &one, &many);
        }
        if pipeline.ends_with("dp.toml") {
            // Noise is drawn and budget spent once, at home; a rerun of the run id
            // replays the releases instead of spending again.
            let spent = |d: &Path| {
                let o = ok(run_state(d, "state", &["budget", "show"], &[]));
                String::from_utf8_lossy(&o.stdout).into_owned()
            };
            assert!(spent(d).contains("2 release(s)"), "{}", spent(d));
            let again = sharded(
                d,
                pipeline,
                input,
                "dp-again",
                &["--shards", shards, "--overwrite"],
            );
            assert!(spent(d).contains("2 release(s)"), "{}", spent(d));
            assert!(aggregates(&many) == aggregates(&again));
            let replayed = &report(&again)["stages"][0]["findings"]["info"]["releases"];
            assert!(replayed
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["replayed"] == true));
        }
        std::fs::remove_dir_all(d.join("out")).unwrap();
        std::fs::remove_dir_all(d.join("state-single")).unwrap();
    }
    // The work directory is gone once the export is written.
    assert!(!d.join("state/work/r1").exists());
}

#[test]
fn one_shard_writes_byte_identical_parts() {
    let t = setup();
    let d = t.path();
    for (pipeline, input) in [
        ("pipelines/deidentify.toml", "in-jsonl"),
        ("pipelines/orders-parquet.toml", "in-pq/data"),
    ] {
        let one = single(d, pipeline, input);
        let many = sharded(d, pipeline, input, "one-shard", &["--shards", "1"]);
        assert_eq!(data_files(&one), data_files(&many), "{pipeline}");
        assert_same_export(d, &one, &many);
        std::fs::remove_dir_all(d.join("out")).unwrap();
        std::fs::remove_dir_all(d.join("state-single")).unwrap();
    }
}

/// `plan` into `work` (4 shards of the JSONL input), returning the number of shards.
fn plan(d: &Path, work: &str, out: &str) -> usize {
    let o = ok(run_state(
        d,
        "state",
        &[
            "-q",
            "plan",
            "pipelines/deidentify.toml",
            "--input",
            "in-jsonl",
            "--output",
            out,
            "--run-id",
            "r1",
            "--work",
            work,
            "--shards",
            "4",
        ],
        &[],
    ));
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["steps"][0]["argv"][1], "map");
    v["shards"].as_u64().unwrap() as usize
}

fn map(d: &Path, work: &str, k: usize, env: &[(&str, &str)]) -> Output {
    run_state(
        d,
        "state",
        &["-q", "map", work, "--shard", &k.to_string()],
        env,
    )
}

#[test]
fn tasks_in_any_order_duplicated_or_crashed_give_the_same_export() {
    let t = setup();
    let d = t.path();
    let one = single(d, "pipelines/deidentify.toml", "in-jsonl");

    // In reverse order, with finalize refusing (75, retryable) while a task is missing.
    let n = plan(d, "w-rev", "out/rev");
    assert_eq!(n, 4);
    for k in (1..n).rev() {
        ok(map(d, "w-rev", k, &[]));
    }
    let early = run_state(d, "state", &["-q", "finalize", "w-rev"], &[]);
    assert_eq!(code(&early), 75, "{}", stderr(&early));
    assert!(
        stderr(&early).contains("map tasks 0 of 4"),
        "{}",
        stderr(&early)
    );
    let status: serde_json::Value =
        serde_json::from_slice(&ok(run_state(d, "state", &["status", "w-rev"], &[])).stdout)
            .unwrap();
    assert_eq!(
        status["steps"][0]["committed"],
        serde_json::json!([1, 2, 3])
    );
    assert_eq!(status["finalized"], false);
    ok(map(d, "w-rev", 0, &[]));
    // A task run again after its commit is a no-op.
    let again = ok(map(d, "w-rev", 0, &[]));
    assert!(String::from_utf8_lossy(&again.stdout).contains("\"already\""));
    ok(run_state(
        d,
        "state",
        &["-q", "finalize", "w-rev", "--keep-work"],
        &[],
    ));
    assert_same_export(d, &one, &d.join("out/rev"));
    let status: serde_json::Value =
        serde_json::from_slice(&ok(run_state(d, "state", &["status", "w-rev"], &[])).stdout)
            .unwrap();
    assert_eq!(status["finalized"], true);
    // A finalize retried after its commit is a no-op, which removes the work directory.
    let manifest = std::fs::read(d.join("out/rev/manifest.json")).unwrap();
    ok(run_state(d, "state", &["-q", "finalize", "w-rev"], &[]));
    assert_eq!(
        std::fs::read(d.join("out/rev/manifest.json")).unwrap(),
        manifest
    );
    assert!(
        !d.join("w-rev").exists(),
        "finalize removes the work directory"
    );

    // Two attempts of every task at once: one commits, the other loses harmlessly.
    plan(d, "w-dup", "out/dup");
    let children: Vec<_> = (0..n)
        .flat_map(|k| [k, k])
        .map(|k| {
            let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("datacustoms"));
            c.current_dir(d)
                .env("DATACUSTOMS_STATE_DIR", d.join("state"))
                .args(["-q", "map", "w-dup", "--shard", &k.to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outcomes: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.contains("\"committed\""))
            .count(),
        n
    );
    ok(run_state(d, "state", &["-q", "finalize", "w-dup"], &[]));
    assert_same_export(d, &one, &d.join("out/dup"));

    // A task killed before its commit leaves nothing committed; killed after, its commit
    // stands. Either way the run, resumed with the same run id and work directory, ends
    // in the same export.
    for (when, name) in [
        ("before-commit", "crash-before"),
        ("after-commit", "crash-after"),
    ] {
        let crash = format!("map:1:{when}");
        let resume = crash_run(d, "pipelines/deidentify.toml", "4", &crash, name);
        let committed = d.join(name).join("map/1/done").exists();
        assert_eq!(committed, when == "after-commit");
        resume();
        assert_same_export(d, &one, &d.join("out").join(name));
    }
}

/// `run --workers 2` of `pipeline` into `out/NAME` with work folder NAME, crashed at
/// `crash` (`DATACUSTOMS_CRASH_AT`): asserts it failed and wrote no export; returns the
/// same run again, which resumes.
fn crash_run<'a>(
    d: &'a Path,
    pipeline: &'a str,
    shards: &'a str,
    crash: &str,
    name: &'a str,
) -> impl FnOnce() + 'a {
    let out = format!("out/{name}");
    let args = move || {
        [
            "-q",
            "run",
            pipeline,
            "--input",
            "in-jsonl",
            "--output",
            &out,
            "--run-id",
            "r1",
            "--workers",
            "2",
            "--shards",
            shards,
            "--work",
            name,
        ]
        .map(String::from)
    };
    let failed = run_state(
        d,
        "state",
        &args().each_ref().map(String::as_str),
        &[("DATACUSTOMS_CRASH_AT", crash)],
    );
    assert_ne!(code(&failed), 0);
    assert!(
        !d.join("out").join(name).exists(),
        "no export from a failed run"
    );
    move || {
        ok(run_state(
            d,
            "state",
            &args().each_ref().map(String::as_str),
            &[],
        ));
    }
}

#[test]
fn what_cannot_run_sharded_is_refused_with_its_exit_code() {
    let t = setup();
    let d = t.path();
    // --strict: the malformed line in the third file fails its map task with 65, and
    // the run with it; no export is written.
    let o = run_state(
        d,
        "state",
        &[
            "-q",
            "run",
            "pipelines/deidentify.toml",
            "--input",
            "in-jsonl",
            "--output",
            "out/strict",
            "--workers",
            "2",
            "--shards",
            "4",
            "--strict",
            "--work",
            "w-strict",
        ],
        &[],
    );
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("chat-02.jsonl"), "{}", stderr(&o));
    assert!(!d.join("out/strict").exists());
    // The work folder is private to its owner: it holds records not yet cleaned.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("w-strict"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // Two dedup stages (paragraph, then record): two rounds of steps; a step the plan
    // does not have is a usage error (64) that names the ones it has.
    let o = ok(run_state(
        d,
        "state",
        &[
            "-q",
            "plan",
            "pipelines/dedup-twice.toml",
            "--input",
            "in-para",
            "--work",
            "w-twice",
        ],
        &[],
    ));
    let steps: Vec<String> = serde_json::from_str::<serde_json::Value>(
        String::from_utf8_lossy(&o.stdout).lines().last().unwrap(),
    )
    .unwrap()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        steps,
        ["map", "dedup", "apply", "dedup-2", "apply-2", "finalize"]
    );
    for args in [
        &["reduce", "w-twice", "--step", "dedup-3", "--part", "0"][..],
        &["apply", "w-twice", "--shard", "0", "--step", "apply-3"][..],
    ] {
        let o = run_state(d, "state", args, &[]);
        assert_eq!(code(&o), 64, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("dedup, dedup-2") || stderr(&o).contains("apply, apply-2"),
            "{}",
            stderr(&o)
        );
    }

    // An input changed since the plan: the task refuses (65), finalize too.
    plan(d, "w", "out/changed");
    let f = d.join("in-jsonl/chat-01.jsonl");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("{\"text\": \"one more\"}\n");
    std::fs::write(&f, text).unwrap();
    let o = map(d, "w", 1, &[]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("chat-01.jsonl changed since the plan"),
        "{}",
        stderr(&o)
    );

    // Another plan into the same work directory is refused (78); no shard K beyond the plan (64).
    let o = run_state(
        d,
        "state",
        &[
            "-q",
            "plan",
            "pipelines/deidentify.toml",
            "--input",
            "in-jsonl",
            "--run-id",
            "r2",
            "--work",
            "w",
        ],
        &[],
    );
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert_eq!(code(&map(d, "w", 9, &[])), 64);
}

/// Processes whose command line names `needle`.
#[cfg(target_os = "linux")]
fn processes_naming(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn an_interrupted_sharded_run_stops_its_tasks_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir_all(d.join("in")).unwrap();
    for k in 0..2 {
        write_corpus(&d.join(format!("in/part-{k}.jsonl")), 60 << 20);
    }
    std::fs::write(
        d.join("p.toml"),
        "[input]\npath = \"in\"\n[output]\npath = \"out\"\n[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\n",
    )
    .unwrap();
    let work = d.join("work-interrupted");
    let args = [
        "-q",
        "run",
        "p.toml",
        "--workers",
        "2",
        "--threads",
        "2",
        "--run-id",
        "r1",
        "--work",
        work.to_str().unwrap(),
    ];
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("datacustoms"))
        .current_dir(d)
        .env("DATACUSTOMS_STATE_DIR", d.join("state"))
        .args(args)
        // Not a pipe: the tasks inherit it, and reading it to its end would wait for
        // them.
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until both map tasks are at work.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while processes_naming(work.to_str().unwrap())
        .iter()
        .filter(|c| c.contains(" map "))
        .count()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the map tasks never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let k = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let mut child = child;
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(
        processes_naming(work.to_str().unwrap()).is_empty(),
        "task processes outlived the run: {:?}",
        processes_naming(work.to_str().unwrap())
    );
    assert!(!d.join("out").exists());
    // The same command resumes and writes the export.
    ok(run_state(d, "state", &args, &[]));
    ok(run_state(d, "state", &["-q", "verify", "out"], &[]));
    assert!(!work.exists());
}

#[test]
fn a_dedup_run_survives_crashes_in_its_dedup_and_apply_steps() {
    let t = setup();
    let d = t.path();
    let one = single(d, "pipelines/dedup.toml", "in-jsonl");
    for (crash, name) in [
        ("dedup:0:after-commit", "crash-dedup"),
        ("apply:1:before-commit", "crash-apply"),
    ] {
        let resume = crash_run(d, "pipelines/dedup.toml", "3", crash, name);
        let status: serde_json::Value =
            serde_json::from_slice(&ok(run_state(d, "state", &["status", name], &[])).stdout)
                .unwrap();
        let names: Vec<&str> = status["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["map", "dedup", "apply", "finalize"]);
        resume();
        assert_same_export(d, &one, &d.join("out").join(name));
    }
}
