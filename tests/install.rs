//! What installing the tool gives besides the binary: shell completions and a man page
//! generated from the CLI definition, and the pipeline file's JSON Schema.

mod common;

use common::*;

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for (shell, marker) in [
        ("bash", "_datacustoms()"),
        ("zsh", "#compdef datacustoms"),
        ("fish", "complete -c datacustoms"),
    ] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        // Every subcommand is offered.
        for sub in ["run", "verify", "scan", "keys", "budget"] {
            assert!(text.contains(sub), "{shell}: no `{sub}`");
        }
    }
    let o = bin().arg("man").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        page.contains(".TH datacustoms 1") && page.contains("state\\-dir"),
        "{page}"
    );
}

#[test]
fn the_committed_pipeline_schema_is_what_the_binary_generates() {
    let o = bin().arg("schema").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let generated = String::from_utf8(o.stdout).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipeline.schema.json"))
            .unwrap();
    assert_eq!(
        generated.trim_end(),
        committed.trim_end(),
        "pipeline.schema.json is stale: run `datacustoms schema > pipeline.schema.json`"
    );
    let v: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(v["additionalProperties"], false);
    for key in ["input", "output", "stages", "gate", "keys", "assessment"] {
        assert!(v["properties"][key].is_object(), "no `{key}` in the schema");
    }
    // Every stage type is there.
    let text = generated.as_str();
    for t in [
        "normalize",
        "dedup",
        "deidentify",
        "pseudonymize",
        "encrypt",
        "project",
        "dp_release",
    ] {
        assert!(text.contains(&format!("\"{t}\"")), "no stage type {t}");
    }
}

#[test]
fn a_reader_that_went_away_ends_the_output_quietly() {
    // `datacustoms schema | head -c 0`: the pipe's reading end is closed before the
    // binary writes, so its write fails with a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("datacustoms"))
        .arg("schema")
        .stdout(std::process::Stdio::from(writer))
        .output()
        .unwrap();
    assert_eq!(code(&o), 141, "{}", stderr(&o));
    assert!(!stderr(&o).contains("internal error"), "{}", stderr(&o));
}
