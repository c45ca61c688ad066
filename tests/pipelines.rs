//! Every example pipeline under pipelines/ runs on the bundled sample data and its export
//! passes `verify`; the quickstart can be rerun in the same place.

mod common;
use common::*;

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_example_pipeline_runs_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(root().join("pipelines")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        n += 1;
        let out = t.path().join(p.file_stem().unwrap());
        let o = bin()
            .current_dir(root())
            .args(["run", "--quiet", "--quarantine-dir"])
            .arg(t.path().join("q"))
            .arg(&p)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}: {}", p.display(), stderr(&o));
        let v = bin().arg("verify").arg(&out).output().unwrap();
        assert_eq!(code(&v), 0, "{}: {}", p.display(), stderr(&v));
        let r = read_json(&out.join("report.json"));
        assert!(r["rows"]["out"].as_u64().unwrap() > 0, "{}", p.display());
    }
    assert!(n >= 2, "expected example pipelines, found {n}");
}

#[test]
fn quickstart_reruns_and_changes_what_it_should() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("qs");
    for _ in 0..2 {
        let o = bin()
            .current_dir(root())
            .args(["run", "pipelines/quickstart.toml", "--quiet", "--output"])
            .arg(&out)
            .arg("--quarantine-dir")
            .arg(t.path().join("q"))
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let r = read_json(&out.join("report.json"));
    let f = &r["stages"][0]["findings"]["fields"]["text"];
    assert!(f["nfkc_changed"].as_u64().unwrap() > 0, "{f}");
    assert!(f["invisible_stripped"].as_u64().unwrap() > 0, "{f}");
    assert_eq!(r["output"]["schema"][1]["name"], "uid");
    assert_eq!(r["rows"]["reconciled"], true);
}
