//! State that survives the working folder: pipeline paths are the pipeline file's, and the
//! keyring and ledgers live in one state folder whatever folder a run starts in (as a
//! scheduler starts each task in a fresh temporary folder).

mod common;

use std::path::Path;

use common::*;

/// `datacustoms ARGS` run in `cwd` with the state folder `state`.
fn run_with_state(cwd: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    bin()
        .current_dir(cwd)
        .env("DATACUSTOMS_STATE_DIR", state)
        .args(args)
        .output()
        .unwrap()
}

fn write_lines(path: &Path, n: usize) {
    let text: String = (0..n)
        .map(|i| format!("{{\"user\":\"u{}\",\"amount\":{}}}\n", i % 40, i % 17))
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn pipeline_paths_are_relative_to_the_pipeline_file_not_the_working_folder() {
    let t = tempfile::tempdir().unwrap();
    let project = t.path().join("project");
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    write_lines(&project.join("data/in.jsonl"), 50);
    let p = pipeline(&project, "data/in.jsonl", "out", "");
    let state = t.path().join("state");
    let o = run_with_state(&elsewhere, &state, &["run", "-q", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(project.join("out/manifest.json").exists());
    assert!(!elsewhere.join("out").exists());
    // Nothing of the run's state lands in either folder.
    assert!(!elsewhere.join(".datacustoms").exists());
    assert!(!project.join(".datacustoms").exists());
    assert!(state.join("keyring.json").exists());
    // A missing input names the resolved path.
    let p = pipeline(&project, "data/missing.jsonl", "out", "");
    let o = run_with_state(&elsewhere, &state, &["run", "-q", p.to_str().unwrap()]);
    assert_eq!(code(&o), 66, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("project/data/missing.jsonl"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn runs_from_two_temporary_folders_share_one_key_and_one_budget() {
    let t = tempfile::tempdir().unwrap();
    let project = t.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    write_lines(&project.join("in.jsonl"), 400);
    let p = project.join("p.toml");
    std::fs::write(
        &p,
        "name = \"t\"\n[input]\npath = \"in.jsonl\"\n[output]\npath = \"out\"\noverwrite = true\nrows = false\n\
         [[stages]]\ntype = \"dp_release\"\nprivacy_unit = \"user\"\ndataset_id = \"events\"\n\
         budget = { total_epsilon = 2.5 }\n\
         [[stages.queries]]\nname = \"n\"\naggregate = \"count\"\nepsilon = 1.0\nmax_partitions = 1\nmax_rows_per_partition = 1\n",
    )
    .unwrap();
    let state = t.path().join("state");
    let mut keys = Vec::new();
    for run in ["a", "b"] {
        let cwd = t.path().join(format!("task-{run}"));
        std::fs::create_dir_all(&cwd).unwrap();
        let o = run_with_state(&cwd, &state, &["run", "-q", p.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let sig = read_json(&project.join("out/manifest.sig"));
        keys.push(sig["public_key"].as_str().unwrap().to_string());
    }
    assert_eq!(keys[0], keys[1], "both exports are signed by one key");
    // One ledger: two releases of ε = 1 are recorded, and a third would pass the cap.
    let show = run_with_state(t.path(), &state, &["budget", "show"]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("2 release(s)"),
        "{}",
        String::from_utf8_lossy(&show.stdout)
    );
    let cwd = t.path().join("task-c");
    std::fs::create_dir_all(&cwd).unwrap();
    let o = run_with_state(&cwd, &state, &["run", "-q", p.to_str().unwrap()]);
    assert_eq!(code(&o), 80, "the budget cap binds: {}", stderr(&o));
}

#[test]
fn a_state_folder_under_a_temporary_folder_gets_a_warning() {
    let t = tempfile::tempdir().unwrap();
    write_lines(&t.path().join("in.jsonl"), 10);
    let p = pipeline(t.path(), "in.jsonl", "out", "");
    let o = run_with_state(
        t.path(),
        &t.path().join("state"),
        &["run", "-q", p.to_str().unwrap()],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("under a temporary folder"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_checks_a_pipeline_and_creates_nothing() {
    let t = tempfile::tempdir().unwrap();
    let project = t.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    write_lines(&project.join("in.jsonl"), 20);
    let state = t.path().join("state");
    let p = pipeline(
        &project,
        "in.jsonl",
        "out",
        "[keys]\nscope = \"lab\"\nvault = \"state:vault.sqlite\"\n\
         [[stages]]\ntype = \"pseudonymize\"\ncolumns = [\"user\"]\n\
         [[stages]]\ntype = \"dp_release\"\nprivacy_unit = \"user\"\n\
         [[stages.queries]]\nname = \"n\"\naggregate = \"count\"\nepsilon = 1.0\nmax_partitions = 1\nmax_rows_per_partition = 1\n",
    );
    let o = run_with_state(t.path(), &state, &["validate", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("valid") && out.contains("stage 2: dp_release"),
        "{out}"
    );
    // No keyring, vault, ledger, quarantine or output was made.
    assert!(
        !state.exists(),
        "{:?}",
        std::fs::read_dir(&state).map(|d| d.count())
    );
    assert!(!project.join("out").exists() && !project.join(".out.lock").exists());
    // What a run would refuse, validate refuses with the same exit code.
    let p = pipeline(&project, "missing.jsonl", "out", "");
    let o = run_with_state(t.path(), &state, &["validate", p.to_str().unwrap()]);
    assert_eq!(code(&o), 66, "{}", stderr(&o));
    let p = pipeline(
        &project,
        "in.jsonl",
        "out",
        "[[stages]]\ntype = \"normalize\"\nnfkd = true\n",
    );
    let o = run_with_state(t.path(), &state, &["validate", p.to_str().unwrap()]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
}
