//! Helpers shared by the end-to-end tests: run the binary, write pipelines and inputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The binary, with its state folder (keyring, ledgers) in a temporary folder of this
/// test process, never the user's own.
pub fn bin() -> Command {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(|| tempfile::tempdir().expect("state folder"));
    let mut c = Command::cargo_bin("datacustoms").expect("binary built");
    c.env_remove("DATACUSTOMS_LOG")
        .env("DATACUSTOMS_STATE_DIR", state.path().join("state"));
    c
}

/// Runs `datacustoms ARGS` in `dir`, with the state folder `dir/.datacustoms`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .env("DATACUSTOMS_STATE_DIR", dir.join(".datacustoms"))
        .args(args)
        .output()
        .expect("run datacustoms")
}

/// Runs `datacustoms ARGS` in `dir` and asserts it succeeded (printing its stderr if not).
pub fn run_ok(dir: &Path, args: &[&str]) -> Output {
    let o = run_in(dir, args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    o
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a pipeline file `p.toml` in `dir` with the given input and output and extra TOML.
pub fn pipeline(dir: &Path, input: &str, output: &str, extra: &str) -> PathBuf {
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"t\"\n[input]\npath = \"{input}\"\n[output]\npath = \"{output}\"\n{extra}"
        ),
    )
    .unwrap();
    p
}

/// Runs one `deidentify` stage with `action = "tag"` on `dir/in.jsonl` (field `text`) into
/// `dir/out`: the quality tests' common pipeline.
pub fn run_tagging(dir: &Path) {
    pipeline(
        dir,
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\naction = \"tag\"\n",
    );
    run_ok(dir, &["run", "p.toml", "--quiet"]);
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// All files under `dir/data`, sorted, with their bytes.
pub fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A deterministic chat-like JSONL corpus of about `bytes` bytes, fast to make.
pub fn write_corpus(path: &Path, bytes: u64) -> u64 {
    use std::io::Write;
    let f = std::fs::File::create(path).unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let words = [
        "数据",
        "出境",
        "安全",
        "评估",
        "模型",
        "训练",
        "customs",
        "export",
        "privacy",
        "hello",
        "world",
        "，",
        "。",
        "ｆｕｌｌ",
        "  ",
        "\u{3000}",
        "１２３",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut written, mut n) = (0u64, 0u64);
    let mut text = String::new();
    while written < bytes {
        text.clear();
        let len = 20 + next() % 120;
        for _ in 0..len {
            text.push_str(words[(next() % words.len() as u64) as usize]);
            text.push(' ');
        }
        let rec = serde_json::json!({
            "id": format!("r{n:09}"),
            "user_id": format!("u{:05}", next() % 5000),
            "text": text,
            "meta": {"source": "gen", "rating": (next() % 5) as i64, "tags": ["a", "b"]},
        });
        let line = serde_json::to_string(&rec).unwrap();
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        written += line.len() as u64 + 1;
        n += 1;
    }
    w.flush().unwrap();
    n
}

/// Rewrites the manifest entry of `rel` (SHA-256 and size) after a test edited the file,
/// as a forger would, so that what catches the edit is a later check, not the hash.
pub fn reseal(export: &Path, rel: &str) {
    use sha2::Digest;
    let bytes = std::fs::read(export.join(rel)).unwrap();
    let mpath = export.join("manifest.json");
    let mut m = read_json(&mpath);
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == rel {
            f["sha256"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
            f["bytes"] = (bytes.len() as u64).into();
        }
    }
    std::fs::write(mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Copies repo files (paths relative to the checkout, e.g. `sample-data/orders.parquet`)
/// into `dir` at the same relative paths, so a bundled pipeline runs there unchanged.
pub fn copy_from_checkout(dir: &Path, files: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in files {
        let dst = dir.join(f);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), dst).unwrap();
    }
}

/// `rows` as `in.jsonl` in `dir`, one JSON object a line.
pub fn write_rows(dir: &Path, rows: &[serde_json::Value]) {
    let s: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("in.jsonl"), s).unwrap();
}
