//! The customs declaration in a real browser: the quickstart's report.html, in English and
//! Chinese, rendered by headless Chromium (scripts/render-report.sh) to a PNG.
//!
//! Needs Debian's `chromium` (and `fonts-noto-cjk` for the Chinese glyphs), so it is
//! ignored by default: `cargo test --release --test browser -- --ignored`.

mod common;
use common::*;

#[test]
#[ignore = "needs chromium: cargo test --release --test browser -- --ignored"]
fn every_bundled_declaration_renders_in_chromium_in_english_and_chinese() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    copy_from_checkout(
        d,
        &[
            "pipelines/quickstart.toml",
            "pipelines/dedup.toml",
            "pipelines/deidentify.toml",
            "pipelines/orders-dp.toml",
            "pipelines/orders-parquet.toml",
            "pipelines/orders-protect.toml",
            "pipelines/orders-provinces.txt",
            "sample-data/chat.jsonl",
            "sample-data/orders.parquet",
        ],
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render-report.sh");
    for p in [
        "quickstart",
        "dedup",
        "deidentify",
        "orders-dp",
        "orders-parquet",
        "orders-protect",
    ] {
        for lang in ["en", "zh"] {
            let out = format!("out-{p}-{lang}");
            let pipeline = format!("pipelines/{p}.toml");
            run_ok(
                d,
                &["run", "-q", &pipeline, "--lang", lang, "--output", &out],
            );
            let page = std::fs::read_to_string(d.join(&out).join("report.html")).unwrap();
            if lang == "zh" {
                for english in ["Summary", "Charts", "Fields", "Evidence", "Status", "none"] {
                    assert!(
                        !page.contains(&format!(">{english}<")),
                        "{p}: English `{english}` on the Chinese page"
                    );
                }
            }
            if p == "orders-protect" {
                assert!(page.contains("token"), "{p}: techniques missing");
                assert!(
                    page.contains("class=\"note pi\""),
                    "{p}: no personal-information notice"
                );
            }
            if p == "orders-dp" {
                // Privacy unit, bounds, threshold and the budget spent of its cap.
                for fact in ["user_id", "1 行/组", "433", " / 40 ("] {
                    let fact = if lang == "en" {
                        fact.replace("1 行/组", "1 rows per group")
                    } else {
                        fact.to_string()
                    };
                    assert!(page.contains(&fact), "{p} {lang}: `{fact}` missing");
                }
            }
            let png = d.join(format!("{p}-{lang}.png"));
            let r = std::process::Command::new(&script)
                .arg(d.join(&out))
                .arg(&png)
                .output()
                .unwrap();
            assert!(
                r.status.success(),
                "{p} {lang}: render failed: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            // A rendered page with tables is far from a blank PNG.
            let bytes = std::fs::metadata(&png).unwrap().len();
            assert!(bytes > 30_000, "{p} {lang}: {bytes} bytes");
        }
    }
}
