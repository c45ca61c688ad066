//! The customs declaration in a real browser: the quickstart's report.html, in English and
//! Chinese, rendered by headless Chromium (scripts/render-report.sh) to a PNG.
//!
//! Needs Debian's `chromium` (and `fonts-noto-cjk` for the Chinese glyphs), so it is
//! ignored by default: `cargo test --release --test browser -- --ignored`.

mod common;
use common::*;

#[test]
#[ignore = "needs chromium: cargo test --release --test browser -- --ignored"]
fn the_quickstart_declaration_renders_in_chromium() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    copy_from_checkout(d, &["pipelines/quickstart.toml", "sample-data/chat.jsonl"]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render-report.sh");
    for lang in ["en", "zh"] {
        let out = format!("out-{lang}");
        run_ok(
            d,
            &[
                "run",
                "-q",
                "pipelines/quickstart.toml",
                "--lang",
                lang,
                "--output",
                &out,
            ],
        );
        let png = d.join(format!("{lang}.png"));
        let r = std::process::Command::new(&script)
            .arg(d.join(&out))
            .arg(&png)
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "render failed: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        // A rendered page with tables and charts is far from a blank PNG.
        let bytes = std::fs::metadata(&png).unwrap().len();
        assert!(bytes > 50_000, "{lang}: {bytes} bytes");
    }
}
