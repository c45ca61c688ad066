//! What installing the tool gives besides the binary: shell completions and a man page
//! generated from the CLI definition.

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
