//! `verify`'s checklist and the signed manifest: an export edited and re-hashed by
//! someone without the exporter's key fails; `--trusted-key` pins the signer.

mod common;
use common::*;

use std::path::Path;

fn export(dir: &Path) {
    let s: String = (0..50)
        .map(|i| format!("{{\"id\":{i},\"text\":\"第{i}条\"}}\n"))
        .collect();
    std::fs::write(dir.join("in.jsonl"), s).unwrap();
    pipeline(dir, "in.jsonl", "out", "");
    run_ok(dir, &["run", "-q", "p.toml"]);
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn verify_prints_a_checklist_and_checks_the_signature() {
    let t = tempfile::tempdir().unwrap();
    export(t.path());
    let o = run_ok(t.path(), &["verify", "out"]);
    let list = stdout(&o);
    for item in [
        "✓ files:",
        "✓ signature: manifest signed with Ed25519",
        "✓ audit chain:",
        "✓ rows:",
    ] {
        assert!(list.contains(item), "{item} missing from:\n{list}");
    }
    let sig = read_json(&t.path().join("out/manifest.sig"));
    let pk = sig["public_key"].as_str().unwrap().to_string();
    // The public key `keys describe` prints is the one that signed.
    let d = run_in(t.path(), &["keys", "describe"]);
    assert!(stdout(&d).contains(&pk), "{}", stdout(&d));
    assert_eq!(
        code(&run_in(t.path(), &["verify", "out", "--trusted-key", &pk])),
        0
    );
    let other = run_in(
        t.path(),
        &["verify", "out", "--trusted-key", "bm90IHRoZSBrZXk="],
    );
    assert_eq!(code(&other), 80);
    assert!(stdout(&other).contains("✗ signature"), "{}", stdout(&other));

    // Edit a data file and re-hash it into the manifest, as a forger would: the hashes
    // agree again, the signature does not.
    let part = t.path().join("out/data/part-00000.jsonl");
    let edited = std::fs::read_to_string(&part)
        .unwrap()
        .replace("第7条", "第8条");
    std::fs::write(&part, &edited).unwrap();
    reseal(&t.path().join("out"), "data/part-00000.jsonl");
    let o = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&o), 80);
    let list = stdout(&o);
    assert!(
        list.contains("✓ files:"),
        "the forger's hashes match:\n{list}"
    );
    assert!(list.contains("✗ signature"), "{list}");
    assert!(
        stderr(&o).contains("changed after signing"),
        "{}",
        stderr(&o)
    );

    // Without the signature file the export is unsigned: refused.
    std::fs::remove_file(t.path().join("out/manifest.sig")).unwrap();
    let o = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&o), 80);
    assert!(stderr(&o).contains("unsigned"), "{}", stderr(&o));
}
