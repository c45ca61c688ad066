//! Keys, tokens, the vault and field encryption, end to end through the CLI:
//! decrypt ∘ encrypt = identity on every supported Arrow type; reidentify ∘ token =
//! identity through the vault; tokens stable across runs, thread counts and split
//! inputs; moved, tampered and wrong-key ciphertext rejected with the documented exit
//! codes; DEK rollover; keyring permissions; no key byte in anything a run writes.

mod common;
use common::*;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, LargeStringArray, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use base64::Engine;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

/// A fixed test root key, handed to runs through `env:DC_TEST_KEY`.
const KEY: [u8; 32] = *b"datacustoms-test-root-key-32byte";

fn key_b64(k: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(k)
}

/// Runs `datacustoms ARGS` in `dir` with the test key in DC_TEST_KEY and another in DC_OTHER_KEY.
/// `decrypt out --output OUTPUT` in `dir` with the test key.
fn decrypt_out(dir: &Path, output: &str) -> std::process::Output {
    run_keyed(
        dir,
        &[
            "decrypt",
            "out",
            "--output",
            output,
            "--keyring",
            "env:DC_TEST_KEY",
        ],
    )
}

fn run_keyed(dir: &Path, args: &[&str]) -> std::process::Output {
    bin()
        .current_dir(dir)
        .env("DC_TEST_KEY", key_b64(&KEY))
        .env("DC_OTHER_KEY", key_b64(&[0x5a; 32]))
        .args(args)
        .output()
        .expect("run datacustoms")
}

fn ok(o: &std::process::Output) {
    assert_eq!(code(o), 0, "stderr: {}", stderr(o));
}

fn typed_batch(n: usize) -> RecordBatch {
    let nul = |i: usize| i % 7 == 3;
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n as i64))),
        (
            "s",
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (!nul(i)).then(|| format!("张三{i} O'Brien \"q\""))),
            )),
        ),
        (
            "ls",
            Arc::new(LargeStringArray::from_iter(
                (0..n).map(|i| (!nul(i)).then(|| format!("l{i}"))),
            )),
        ),
        (
            "i8",
            Arc::new(Int8Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some((i % 250) as i8 - 100)),
            )),
        ),
        (
            "i16",
            Arc::new(Int16Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(i as i16 * -3)),
            )),
        ),
        (
            "i32",
            Arc::new(Int32Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(i as i32 * 1_000_003)),
            )),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(u64::MAX - i as u64)),
            )),
        ),
        (
            "f32",
            Arc::new(Float32Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(i as f32 / 3.0)),
            )),
        ),
        (
            "f64",
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(-(i as f64) * 1e-9)),
            )),
        ),
        (
            "b",
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(i % 2 == 0)),
            )),
        ),
        (
            "d",
            Arc::new(Date32Array::from_iter(
                (0..n).map(|i| (!nul(i)).then_some(19_000 + i as i32)),
            )),
        ),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    (0..n).map(|i| (!nul(i)).then_some(1_767_225_600_000_000 + i as i64)),
                )
                .with_timezone("+08:00"),
            ),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from_iter(
                    (0..n).map(|i| (!nul(i)).then_some(i as i128 * 101 - 5000)),
                )
                .with_precision_and_scale(12, 2)
                .unwrap(),
            ),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from_iter(
                (0..n).map(|i| (!nul(i)).then(|| vec![i as u8, 0, 255])),
            )),
        ),
    ];
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), *name != "id"))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, cols.into_iter().map(|(_, a)| a).collect()).unwrap()
}

fn write_parquet(path: &Path, b: &RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

fn read_parquet(path: &Path) -> RecordBatch {
    let f = std::fs::File::open(path).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

const ENCRYPT_ALL: &str = "columns = [\"s\", \"ls\", \"i8\", \"i16\", \"i32\", \"u64\", \"f32\", \"f64\", \"b\", \"d\", \"ts\", \"dec\", \"bin\"]";

#[test]
fn decrypt_restores_every_supported_type_from_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let input = typed_batch(3000);
    write_parquet(&dir.path().join("in.parquet"), &input);
    pipeline(
        dir.path(),
        "in.parquet",
        "out",
        &format!("[keys]\nkeyring = \"env:DC_TEST_KEY\"\nrecord_id = \"id\"\n[[stages]]\ntype = \"encrypt\"\n{ENCRYPT_ALL}\n"),
    );
    ok(&run_keyed(dir.path(), &["run", "-q", "p.toml"]));
    let enc = read_parquet(&dir.path().join("out/data/part-00000.parquet"));
    for f in enc.schema().fields().iter().skip(1) {
        assert_eq!(
            f.data_type(),
            &DataType::Utf8,
            "{} is stored as text cells",
            f.name()
        );
    }
    let s = enc
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert!(s.value(0).starts_with("dc1."));
    assert!(s.is_null(3), "nulls are never encrypted");
    ok(&run_keyed(dir.path(), &["verify", "out"]));

    ok(&decrypt_out(dir.path(), "dec"));
    let back = read_parquet(&dir.path().join("dec/data/part-00000.parquet"));
    assert_eq!(back.schema().fields(), input.schema().fields());
    {
        // Restored personal data: only the owner may read it.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("dec"), 0o700);
        assert_eq!(mode("dec/data/part-00000.parquet"), 0o600);
    }
    for i in 0..input.num_columns() {
        assert_eq!(
            back.column(i).to_data(),
            input.column(i).to_data(),
            "column {}",
            input.schema().field(i).name()
        );
    }
}

#[test]
fn decrypt_restores_jsonl_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..500 {
        let amount = if i % 9 == 0 {
            "null".to_string()
        } else {
            format!("{}.25", i)
        };
        let meta = if i % 5 == 0 {
            String::new()
        } else {
            format!(",\"meta\":{{\"k\":{i}}}")
        };
        text.push_str(&format!(
            "{{\"id\":\"r{i}\",\"card\":\"62220212345678{i:05}\",\"amount\":{amount},\"vip\":{},\"note\":\"电话1381234{i:04}，请回电\"{meta}}}\n",
            i % 2 == 0
        ));
    }
    std::fs::write(dir.path().join("in.jsonl"), &text).unwrap();
    let stages = "[keys]\nkeyring = \"env:DC_TEST_KEY\"\nrecord_id = \"id\"\n\
        [[stages]]\ntype = \"deidentify\"\nfields = [\"note\"]\naction = \"encrypt\"\n\
        [[stages]]\ntype = \"encrypt\"\ncolumns = [\"card\", \"amount\", \"vip\", \"meta\"]\n";
    // `meta` is a struct: refused with a clear error first.
    pipeline(dir.path(), "in.jsonl", "out", stages);
    let o = run_keyed(dir.path(), &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(stderr(&o).contains("column `meta`"), "{}", stderr(&o));
    pipeline(
        dir.path(),
        "in.jsonl",
        "out",
        &stages.replace(", \"meta\"]", "]"),
    );
    ok(&run_keyed(dir.path(), &["run", "-q", "p.toml"]));
    let exported = std::fs::read_to_string(dir.path().join("out/data/part-00000.jsonl")).unwrap();
    assert!(
        !exported.contains("1381234"),
        "phone numbers are encrypted in the text"
    );
    assert!(exported.contains("电话<dc1."), "{}", &exported[..300]);
    ok(&decrypt_out(dir.path(), "dec"));
    // The reference: the same input through no stage at all.
    pipeline(dir.path(), "in.jsonl", "plain", "");
    ok(&run_keyed(dir.path(), &["run", "-q", "p.toml"]));
    assert_eq!(
        data_files(&dir.path().join("dec")),
        data_files(&dir.path().join("plain"))
    );
    // Encrypted spans are bound to their record too: swapping two rows' notes fails.
    let part = dir.path().join("out/data/part-00000.jsonl");
    let mut rows: Vec<serde_json::Value> = std::fs::read_to_string(&part)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (a, b) = (rows[1]["note"].clone(), rows[2]["note"].clone());
    rows[1]["note"] = b;
    rows[2]["note"] = a;
    let t: String = rows.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&part, t).unwrap();
    reseal(&dir.path().join("out"), "data/part-00000.jsonl");
    let o = decrypt_out(dir.path(), "dec2");
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("column `note`"), "{}", stderr(&o));
}

#[test]
fn moved_tampered_and_wrong_key_ciphertext_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!(
            "{{\"id\":{i},\"card\":\"6222021234567{i:03}\",\"phone\":\"1390000{i:04}\"}}\n"
        ));
    }
    std::fs::write(dir.path().join("in.jsonl"), text).unwrap();
    pipeline(
        dir.path(),
        "in.jsonl",
        "out",
        "[keys]\nkeyring = \"env:DC_TEST_KEY\"\nrecord_id = \"id\"\n[[stages]]\ntype = \"encrypt\"\ncolumns = [\"card\", \"phone\"]\n",
    );
    ok(&run_keyed(dir.path(), &["run", "-q", "p.toml"]));
    let part = "data/part-00000.jsonl";
    let original = std::fs::read_to_string(dir.path().join("out").join(part)).unwrap();
    let lines: Vec<serde_json::Value> = original
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let write = |lines: &[serde_json::Value]| {
        let t: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.path().join("out").join(part), t).unwrap();
        reseal(&dir.path().join("out"), part);
    };
    let decrypt = |keyring: &str| {
        run_keyed(
            dir.path(),
            &[
                "decrypt",
                "out",
                "--output",
                "dec",
                "--overwrite",
                "--keyring",
                keyring,
            ],
        )
    };

    // A cell moved to another row: the record id in the AAD no longer matches.
    let mut moved = lines.clone();
    moved[5]["card"] = lines[4]["card"].clone();
    write(&moved);
    let o = decrypt("env:DC_TEST_KEY");
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("line 6, column `card`"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dir.path().join("dec").exists(),
        "nothing is written on failure"
    );

    // A cell moved to another column of the same row.
    let mut swapped = lines.clone();
    swapped[2]["phone"] = lines[2]["card"].clone();
    write(&swapped);
    let o = decrypt("env:DC_TEST_KEY");
    assert_eq!(code(&o), 65);
    assert!(
        stderr(&o).contains("line 3, column `phone`"),
        "{}",
        stderr(&o)
    );

    // A tampered tag: one base64url character changed near the end.
    let mut tampered = lines.clone();
    let cell = lines[7]["card"].as_str().unwrap().to_string();
    let at = cell.len() - 10;
    let c = cell.as_bytes()[at];
    let flipped = format!(
        "{}{}{}",
        &cell[..at],
        if c == b'A' { 'B' } else { 'A' },
        &cell[at + 1..]
    );
    tampered[7]["card"] = flipped.into();
    write(&tampered);
    let o = decrypt("env:DC_TEST_KEY");
    assert_eq!(code(&o), 65);
    assert!(
        stderr(&o).contains("fails authentication"),
        "{}",
        stderr(&o)
    );

    // The untouched file decrypts; the wrong root key is a key error (78).
    write(&lines);
    ok(&decrypt("env:DC_TEST_KEY"));
    let o = decrypt("env:DC_OTHER_KEY");
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    // A file changed without resealing the manifest is refused before decryption.
    std::fs::write(
        dir.path().join("out").join(part),
        original.replace("dc1.", "dc1.x"),
    )
    .unwrap();
    assert_eq!(code(&decrypt("env:DC_TEST_KEY")), 65);
}

#[test]
fn data_keys_roll_over_at_the_cap_and_rewrap_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..95)
        .map(|i| format!("{{\"id\":{i},\"secret\":\"value {i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("in.jsonl"), text).unwrap();
    ok(&run_in(
        dir.path(),
        &["keys", "init", "--keyring", "ring.json"],
    ));
    let p = "name = \"t\"\n[input]\npath = \"in.jsonl\"\nbatch_rows = 7\n[output]\npath = \"out\"\n\
        [keys]\nkeyring = \"file:ring.json\"\nmax_cells_per_dek = 10\n[[stages]]\ntype = \"encrypt\"\ncolumns = [\"secret\"]\n";
    std::fs::write(dir.path().join("p.toml"), p).unwrap();
    ok(&run_in(
        dir.path(),
        &["run", "-q", "--threads", "2", "p.toml"],
    ));
    let m = read_json(&dir.path().join("out/manifest.json"));
    let deks = m["encryption"]["deks"].as_array().unwrap();
    assert_eq!(deks.len(), 10, "95 cells at 10 per data key");
    assert!(deks.iter().all(|d| d["cells"].as_u64().unwrap() <= 10));
    assert_eq!(
        deks.iter()
            .map(|d| d["cells"].as_u64().unwrap())
            .sum::<u64>(),
        95
    );

    // Rotate and rewrap: the manifest's DEKs move to version 2, data files untouched,
    // the export still verifies and decrypts.
    let before = data_files(&dir.path().join("out"));
    ok(&run_in(
        dir.path(),
        &[
            "keys",
            "rotate",
            "--keyring",
            "ring.json",
            "--rewrap",
            "out",
        ],
    ));
    let m2 = read_json(&dir.path().join("out/manifest.json"));
    let new_id = m2["encryption"]["deks"][0]["wrapping_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(new_id.starts_with("k2-"), "{new_id}");
    assert_eq!(before, data_files(&dir.path().join("out")));
    ok(&run_in(dir.path(), &["verify", "out"]));
    // The report and the declaration name the new key id too.
    let report = read_json(&dir.path().join("out/report.json"));
    assert!(
        report["keys"]["key_ids"].to_string().contains(&new_id),
        "{report}"
    );
    let page = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(page.contains(&new_id));
    ok(&run_in(
        dir.path(),
        &[
            "decrypt",
            "out",
            "--output",
            "dec",
            "--keyring",
            "file:ring.json",
        ],
    ));
    let lines = read_lines(&dir.path().join("dec/data/part-00000.jsonl"));
    assert_eq!(lines.len(), 95);
    assert_eq!(lines[42]["secret"], "value 42");
    let d = run_in(
        dir.path(),
        &["keys", "describe", "--keyring", "file:ring.json"],
    );
    let out = String::from_utf8_lossy(&d.stdout).to_string();
    assert!(
        out.contains("version   1") && out.contains("version   2") && out.contains(&new_id),
        "{out}"
    );
}

fn token_input(lines: std::ops::Range<usize>) -> String {
    lines
        .map(|i| {
            let u = i % 37;
            format!(
                "{{\"id\":{i},\"user_id\":\"u{u:04}\",\"phone\":\"1380013{u:04}\",\"email\":\"user{u}@example.com\",\"text\":\"客户手机13800130{u:03}，邮箱user{u}@example.com，订单{i}\"}}\n",
                u = u
            )
        })
        .collect()
}

const TOKEN_STAGES: &str = "[keys]\nkeyring = \"env:DC_TEST_KEY\"\nscope = \"lab\"\nvault = \"vault.sqlite\"\n\
    [[stages]]\ntype = \"pseudonymize\"\ncolumns = [\"user_id\", \"phone\", \"email\"]\ntypes = { phone = \"PHONE\" }\n\
    [[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\naction = \"token\"\n\
    [gate]\nmax_residual = 0\n";

#[test]
fn tokens_are_stable_across_runs_threads_and_split_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("all.jsonl"), token_input(0..400)).unwrap();
    std::fs::create_dir(d.join("split")).unwrap();
    std::fs::write(d.join("split/a.jsonl"), token_input(0..170)).unwrap();
    std::fs::write(d.join("split/b.jsonl"), token_input(170..400)).unwrap();
    let p = format!("name = \"t\"\n[input]\npath = \"all.jsonl\"\nbatch_rows = 16\n[output]\npath = \"out\"\n{TOKEN_STAGES}");
    std::fs::write(d.join("p.toml"), p).unwrap();
    ok(&run_keyed(
        d,
        &["run", "-q", "--threads", "1", "--output", "t1", "p.toml"],
    ));
    ok(&run_keyed(
        d,
        &["run", "-q", "--threads", "2", "--output", "t2", "p.toml"],
    ));
    ok(&run_keyed(
        d,
        &["run", "-q", "--threads", "2", "--output", "t3", "p.toml"],
    ));
    ok(&run_keyed(
        d,
        &[
            "run",
            "-q",
            "--input",
            "split/*.jsonl",
            "--output",
            "split-out",
            "p.toml",
        ],
    ));
    let a = data_files(&d.join("t1"));
    assert_eq!(a, data_files(&d.join("t2")), "thread count changes nothing");
    assert_eq!(a, data_files(&d.join("t3")), "a rerun changes nothing");
    let rows = read_lines(&d.join("t1/data/part-00000.jsonl"));
    let split: Vec<serde_json::Value> = read_lines(&d.join("split-out/data/part-00000.jsonl"));
    assert_eq!(
        rows, split,
        "splitting the input into two files changes nothing"
    );

    // Shapes and linkage: the phone column and the phone in the text share a token;
    // spellings of one e-mail share one; the residual gate passed (exit 0 above).
    let r0 = &rows[0];
    let phone = r0["phone"].as_str().unwrap();
    assert!(
        phone.starts_with("PHONE_v1_") && phone.len() == 9 + 32,
        "{phone}"
    );
    assert!(
        r0["text"].as_str().unwrap().contains(phone),
        "{}",
        r0["text"]
    );
    let email = r0["email"].as_str().unwrap();
    assert!(email.starts_with("EMAIL_v1_"), "auto-typed: {email}");
    assert!(r0["text"].as_str().unwrap().contains(email));
    assert!(r0["user_id"].as_str().unwrap().starts_with("USER_ID_v1_"));
    assert_eq!(
        rows[0]["phone"], rows[37]["phone"],
        "same value, same token"
    );
    assert_ne!(rows[0]["phone"], rows[1]["phone"]);
    // The residual re-scan leaves the token columns out (tokens hold no PII) and scans
    // the de-identified text.
    let report = read_json(&d.join("t1/report.json"));
    assert_eq!(
        report["residual"]["fields"],
        serde_json::json!(["text"]),
        "{}",
        report["residual"]
    );
    // `verify` re-scans the same fields.
    let v = run_keyed(d, &["verify", "t1"]);
    ok(&v);
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("residual PII re-scan: 0 detections"),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );

    // Another scope: unlinkable tokens.
    let other = std::fs::read_to_string(d.join("p.toml"))
        .unwrap()
        .replace("scope = \"lab\"", "scope = \"other\"");
    std::fs::write(d.join("p.toml"), other).unwrap();
    ok(&run_keyed(
        d,
        &["run", "-q", "--output", "scoped", "p.toml"],
    ));
    let scoped = read_lines(&d.join("scoped/data/part-00000.jsonl"));
    assert_ne!(scoped[0]["phone"], rows[0]["phone"]);
    assert_eq!(scoped[0]["id"], rows[0]["id"]);
}

#[test]
fn reidentify_restores_tokens_through_the_vault_and_merged_vaults() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.jsonl"), token_input(0..100)).unwrap();
    std::fs::write(
        d.join("b.jsonl"),
        token_input(100..200).replace("u00", "v00"),
    )
    .unwrap();
    pipeline(
        d,
        "a.jsonl",
        "out-a",
        &TOKEN_STAGES.replace("vault.sqlite", "va.sqlite"),
    );
    ok(&run_keyed(d, &["run", "-q", "p.toml"]));
    pipeline(
        d,
        "b.jsonl",
        "out-b",
        &TOKEN_STAGES.replace("vault.sqlite", "vb.sqlite"),
    );
    ok(&run_keyed(d, &["run", "-q", "p.toml"]));
    let report = read_json(&d.join("out-a/report.json"));
    assert!(
        report["keys"]["vault"]["inserted"].as_u64().unwrap() > 0,
        "{}",
        report["keys"]
    );

    // Model output that came back: tokens in new text, plus one unknown token.
    let rows = read_lines(&d.join("out-a/data/part-00000.jsonl"));
    let phone_tok = rows[3]["phone"].as_str().unwrap().to_string();
    let fake = format!("PHONE_v1_{}", "0".repeat(32));
    let back = format!(
        "{{\"label\":\"回电 {phone_tok}\",\"lines\":\"第一行\\n{phone_tok}\",\"unknown\":\"{fake}\"}}\n{}",
        std::fs::read_to_string(d.join("out-a/data/part-00000.jsonl")).unwrap()
    );
    std::fs::write(d.join("back.jsonl"), back).unwrap();
    let o = run_keyed(
        d,
        &[
            "reidentify",
            "back.jsonl",
            "--vault",
            "va.sqlite",
            "--output",
            "restored.jsonl",
            "--keyring",
            "env:DC_TEST_KEY",
        ],
    );
    ok(&o);
    assert!(
        stderr(&o).contains("1 unknown tokens kept"),
        "{}",
        stderr(&o)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(d.join("restored.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600, "reidentified data: owner only");
    }
    let restored = read_lines(&d.join("restored.jsonl"));
    assert_eq!(restored[0]["label"], "回电 13800130003");
    assert_eq!(
        restored[0]["lines"], "第一行\n13800130003",
        "a token right after a JSON escape"
    );
    assert_eq!(restored[0]["unknown"], fake.as_str());
    let original = read_lines(&d.join("a.jsonl"));
    for (r, o) in restored[1..].iter().zip(&original) {
        assert_eq!(r, o, "reidentify ∘ token = identity");
    }

    // A merged vault knows both runs' tokens; merging again adds nothing.
    ok(&run_in(
        d,
        &["vault", "merge", "merged.sqlite", "va.sqlite", "vb.sqlite"],
    ));
    let o = run_in(d, &["vault", "merge", "merged.sqlite", "vb.sqlite"]);
    ok(&o);
    assert!(stderr(&o).contains("0 entries added"), "{}", stderr(&o));
    let b_rows = std::fs::read_to_string(d.join("out-b/data/part-00000.jsonl")).unwrap();
    std::fs::write(d.join("back-b.jsonl"), b_rows).unwrap();
    ok(&run_keyed(
        d,
        &[
            "reidentify",
            "back-b.jsonl",
            "--vault",
            "merged.sqlite",
            "--output",
            "restored-b.jsonl",
            "--keyring",
            "env:DC_TEST_KEY",
        ],
    ));
    assert_eq!(
        read_lines(&d.join("restored-b.jsonl")),
        read_lines(&d.join("b.jsonl"))
    );
    // The wrong key cannot read the vault.
    let o = run_keyed(
        d,
        &[
            "reidentify",
            "back-b.jsonl",
            "--vault",
            "merged.sqlite",
            "--output",
            "x.jsonl",
            "--keyring",
            "env:DC_OTHER_KEY",
        ],
    );
    assert_eq!(code(&o), 78, "{}", stderr(&o));
}

#[test]
fn keyring_permissions_and_first_run_creation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), token_input(0..10)).unwrap();
    // No [keys] at all: the default local keyring is created, with a notice.
    pipeline(
        d,
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"pseudonymize\"\ncolumns = [\"user_id\"]\n",
    );
    let o = run_in(d, &["run", "p.toml"]);
    ok(&o);
    assert!(
        stderr(&o).contains("created a local keyring"),
        "{}",
        stderr(&o)
    );
    let ring = d.join(".datacustoms/keyring.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&ring).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A second run reuses it: same tokens.
        ok(&run_in(d, &["run", "-q", "--output", "out2", "p.toml"]));
        assert_eq!(data_files(&d.join("out")), data_files(&d.join("out2")));
        // Readable by the group: refused, with the fix.
        std::fs::set_permissions(&ring, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = run_in(d, &["run", "-q", "--output", "out3", "p.toml"]);
        assert_eq!(code(&o), 78);
        assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    }
    // `keys init` never replaces a keyring.
    let o = run_in(
        d,
        &["keys", "init", "--keyring", ".datacustoms/keyring.json"],
    );
    assert_eq!(code(&o), 73, "{}", stderr(&o));
}

/// Every form a key could leak in.
fn leak_forms(k: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    vec![
        k.to_vec(),
        hex::encode(k).into_bytes(),
        hex::encode_upper(k).into_bytes(),
        STANDARD.encode(k).into_bytes(),
        STANDARD_NO_PAD.encode(k).into_bytes(),
        URL_SAFE.encode(k).into_bytes(),
        URL_SAFE_NO_PAD.encode(k).into_bytes(),
    ]
}

fn assert_no_leak(what: &str, bytes: &[u8], keys: &[Vec<u8>]) {
    for (i, k) in keys.iter().enumerate() {
        assert!(
            !bytes.windows(k.len()).any(|w| w == k.as_slice()),
            "{what} contains key material (form {i})"
        );
    }
}

fn all_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_key_material_in_any_output_log_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), token_input(0..300)).unwrap();
    let stages = format!(
        "{}[[stages]]\ntype = \"encrypt\"\ncolumns = [\"id\"]\n",
        TOKEN_STAGES.replace("[gate]\nmax_residual = 0\n", "")
    );
    pipeline(d, "in.jsonl", "out", &stages);
    let mut outputs = Vec::new();
    for args in [
        vec!["run", "p.toml"],
        vec![
            "--log-format",
            "json",
            "run",
            "--output",
            "out-json",
            "p.toml",
        ],
        vec!["verify", "out"],
        vec![
            "decrypt",
            "out",
            "--output",
            "dec",
            "--keyring",
            "env:DC_TEST_KEY",
        ],
        vec![
            "decrypt",
            "out",
            "--output",
            "dec2",
            "--keyring",
            "env:DC_OTHER_KEY",
        ],
        vec![
            "reidentify",
            "out/data/part-00000.jsonl",
            "--vault",
            "vault.sqlite",
            "--output",
            "re.jsonl",
            "--keyring",
            "env:DC_TEST_KEY",
        ],
        vec!["keys", "describe", "--keyring", "env:DC_TEST_KEY"],
    ] {
        let o = run_keyed(d, &args);
        outputs.push((format!("{args:?}"), o));
    }
    assert_eq!(code(&outputs[0].1), 0, "{}", stderr(&outputs[0].1));
    assert_eq!(
        code(&outputs[4].1),
        78,
        "wrong key: {}",
        stderr(&outputs[4].1)
    );
    let forms = leak_forms(&KEY);
    for (what, o) in &outputs {
        assert_no_leak(&format!("stderr of {what}"), &o.stderr, &forms);
        assert_no_leak(&format!("stdout of {what}"), &o.stdout, &forms);
    }
    let mut files = Vec::new();
    all_files(d, &mut files);
    assert!(files.len() > 10, "{files:?}");
    for f in files {
        if f.file_name().is_some_and(|n| n == "p.toml") {
            continue;
        }
        assert_no_leak(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            &forms,
        );
    }
}

#[test]
fn the_bundled_orders_pipeline_protects_decrypts_and_reidentifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_from_checkout(
        d,
        &[
            "sample-data/orders.parquet",
            "pipelines/orders-protect.toml",
        ],
    );
    ok(&run_in(d, &["run", "-q", "pipelines/orders-protect.toml"]));
    ok(&run_in(d, &["verify", "out/orders-protect"]));
    let exported = read_parquet(&d.join("out/orders-protect/data/part-00000.parquet"));
    let original = read_parquet(&d.join("sample-data/orders.parquet"));
    let col = |b: &RecordBatch, n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
    let phones = col(&exported, "phone");
    let phones = phones.as_any().downcast_ref::<StringArray>().unwrap();
    assert!(phones.iter().flatten().all(|p| p.starts_with("PHONE_v1_")));
    let ids = col(&exported, "id_card");
    let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
    assert!(ids.iter().flatten().all(|c| c.starts_with("dc1.")));

    ok(&run_in(
        d,
        &["decrypt", "out/orders-protect", "--output", "out/dec"],
    ));
    let dec = read_parquet(&d.join("out/dec/data/part-00000.parquet"));
    assert_eq!(
        col(&dec, "id_card").to_data(),
        col(&original, "id_card").to_data()
    );

    ok(&run_in(
        d,
        &[
            "reidentify",
            "out/orders-protect/data/part-00000.parquet",
            "--vault",
            ".datacustoms/vault.sqlite",
            "--output",
            "out/reid.parquet",
        ],
    ));
    let re = read_parquet(&d.join("out/reid.parquet"));
    for name in ["user_id", "name", "email"] {
        assert_eq!(
            col(&re, name).to_data(),
            col(&original, name).to_data(),
            "{name}"
        );
    }
}

#[test]
fn stages_after_encryption_may_not_break_decryption() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        "{\"id\":\"a1\",\"card\":\"6222021234567890\",\"note\":\"x\"}\n",
    )
    .unwrap();
    let head = "[keys]\nkeyring = \"env:DC_TEST_KEY\"\nrecord_id = \"id\"\n[[stages]]\ntype = \"encrypt\"\ncolumns = [\"card\"]\n";
    for (later, needle) in [
        (
            "[[stages]]\ntype = \"project\"\ndrop = [\"card\"]\n",
            "card",
        ),
        (
            "[[stages]]\ntype = \"project\"\nrename = { id = \"rid\" }\n",
            "id",
        ),
        ("[[stages]]\ntype = \"normalize\"\n", "id"),
        ("[[stages]]\ntype = \"deidentify\"\n", "every text field"),
    ] {
        pipeline(dir.path(), "in.jsonl", "out", &format!("{head}{later}"));
        let o = run_keyed(dir.path(), &["run", "-q", "p.toml"]);
        assert_eq!(code(&o), 78, "{later}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{later}: {}", stderr(&o));
    }
    // Naming other fields explicitly is fine.
    pipeline(
        dir.path(),
        "in.jsonl",
        "out",
        &format!("{head}[[stages]]\ntype = \"deidentify\"\nfields = [\"note\"]\n"),
    );
    let o = run_keyed(dir.path(), &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
