//! The `dp_release` stage end to end: contribution bounding, public and private keys,
//! the budget ledger (caps, replay on retry), the DP passport, aggregates-only exports,
//! and the bundled orders pipeline.

mod common;
use common::*;

use std::path::Path;

/// Reads `aggregates/<name>.csv` into (key columns joined by `|`, value, half-width).
fn table(export: &Path, name: &str) -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(export.join(format!("aggregates/{name}.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let nkeys = header.len() - 2;
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[..nkeys].join("|"),
                f[nkeys].parse().unwrap(),
                f[nkeys + 1].parse().unwrap(),
            )
        })
        .collect()
}

/// Five groups; user "heavy" has 1,000 rows spread over all of them; 50 light users have
/// one row each in group g0; key g9 is public but has no rows.
fn write_events(dir: &Path) {
    let mut s = String::new();
    for i in 0..1000 {
        s.push_str(&format!(
            "{{\"user\":\"heavy\",\"g\":\"g{}\",\"amount\":{}}}\n",
            i % 5,
            100 + i % 7
        ));
    }
    for u in 0..50 {
        s.push_str(&format!(
            "{{\"user\":\"u{u}\",\"g\":\"g0\",\"amount\":10}}\n"
        ));
    }
    std::fs::write(dir.join("events.jsonl"), s).unwrap();
}

fn dp_pipeline(dir: &Path, queries: &str, budget: &str) {
    let text = format!(
        "name = \"t\"\n[input]\npath = \"events.jsonl\"\n[output]\npath = \"out\"\noverwrite = true\nrows = false\n\
         [[stages]]\ntype = \"dp_release\"\nprivacy_unit = \"user\"\nledger = \"ledger.sqlite\"\ndataset_id = \"events\"\n{budget}\n{queries}"
    );
    std::fs::write(dir.join("p.toml"), text).unwrap();
}

/// ε so large that the discrete Laplace noise is 0 with overwhelming probability
/// (scale ≈ 1e-9): the released values are then the bounded true values.
const EXACT: &str = "epsilon = 1e10";

#[test]
fn contributions_are_bounded_and_public_keys_are_all_released() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    let keys = "keys = [\"g0\", \"g1\", \"g2\", \"g3\", \"g4\", \"g9\"]";
    dp_pipeline(
        t.path(),
        &format!(
            "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"g\"]\n{keys}\n{EXACT}\nmax_partitions = 2\nmax_rows_per_partition = 3\n\
             [[stages.queries]]\nname = \"s\"\naggregate = \"sum\"\ncolumn = \"amount\"\nbounds = [0, 50]\nresolution = 1\ngroup_by = [\"g\"]\n{keys}\n{EXACT}\nmax_partitions = 2\nmax_rows_per_partition = 3\n"
        ),
        "",
    );
    run_ok(t.path(), &["run", "-q", "p.toml"]);
    let out = t.path().join("out");
    assert!(
        !out.join("data").exists(),
        "rows = false: no data/ in the export"
    );
    let n = table(&out, "n");
    assert_eq!(
        n.len(),
        6,
        "every public key, including g9 with no rows: {n:?}"
    );
    let total: f64 = n.iter().map(|r| r.1).sum();
    // The heavy user: at most L0·L∞ = 2·3 = 6 rows in all; light users: 50 in g0.
    assert_eq!(total, 56.0, "{n:?}");
    let heavy: f64 = n.iter().filter(|r| r.0 != "g0").map(|r| r.1).sum::<f64>() + (n[0].1 - 50.0);
    assert!(heavy <= 6.0);
    assert_eq!(
        n.iter().find(|r| r.0 == "g9").unwrap().1,
        0.0,
        "a zero-count public key is released"
    );
    // Sums: values clamped to [0, 50]: heavy adds at most 6 × 50.
    let s = table(&out, "s");
    let sum: f64 = s.iter().map(|r| r.1).sum();
    assert_eq!(sum, 50.0 * 10.0 + 300.0, "{s:?}");
    let r = read_json(&out.join("report.json"));
    let rel = &r["stages"][0]["findings"]["info"]["releases"];
    assert_eq!(rel[0]["sensitivity"]["count_l1"], 6);
    assert_eq!(rel[1]["sensitivity"]["sum_l1"], 300);
    assert_eq!(r["output"]["rows_written"], false);
    let v = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
}

#[test]
fn private_keys_need_the_threshold_and_follow_the_formula() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    // g1..g4 hold only the heavy user (at most 3 rows each after bounding): a key one
    // person alone makes must not be released; g0 has 50 people.
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"g\"]\nepsilon = 1.0\ndelta = 1e-6\nmax_partitions = 5\nmax_rows_per_partition = 3\n",
        "",
    );
    run_ok(t.path(), &["run", "-q", "p.toml"]);
    let n = table(&t.path().join("out"), "n");
    assert!(
        n.iter().all(|r| r.0 == "g0"),
        "only g0 can pass the threshold: {n:?}"
    );
    let r = read_json(&t.path().join("out/report.json"));
    let rel = &r["stages"][0]["findings"]["info"]["releases"][0];
    // τ = L∞ + ⌈b·ln(L0 / (δ(1 + q)))⌉ with b = L0·L∞/ε = 15, q = e^(−1/15).
    let b: f64 = 15.0;
    let q = (-1.0 / b).exp();
    let tau = 3 + (b * (5.0 / (1e-6 * (1.0 + q))).ln()).ceil() as u64;
    assert_eq!(rel["threshold"].as_u64().unwrap(), tau);
    // The release probability of a single-person key is at most δ / L0 at τ, and above
    // it one step lower.
    let p = |k: u64| q.powf((k - 3) as f64) / (1.0 + q);
    assert!(p(tau) <= 1e-6 / 5.0 && p(tau - 1) > 1e-6 / 5.0);
    assert_eq!(rel["group_keys"], "private (Laplace thresholding)");
    // Private keys without delta: a configuration error.
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"g\"]\nepsilon = 1.0\nmax_partitions = 5\nmax_rows_per_partition = 3\n",
        "",
    );
    let o = run_in(t.path(), &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(stderr(&o).contains("delta"), "{}", stderr(&o));
    // A privacy unit without bounds: a configuration error.
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\nepsilon = 1.0\n",
        "",
    );
    let o = run_in(t.path(), &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 78);
    assert!(stderr(&o).contains("max_partitions"), "{}", stderr(&o));
}

#[test]
fn the_ledger_refuses_past_the_cap_and_replays_a_retried_run() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\nepsilon = 1.0\nmax_partitions = 1\nmax_rows_per_partition = 1\n",
        "budget = { total_epsilon = 2.5 }",
    );
    let run = |id: &str| run_in(t.path(), &["run", "-q", "--run-id", id, "p.toml"]);
    assert_eq!(code(&run("first")), 0);
    let first = std::fs::read(t.path().join("out/aggregates/n.csv")).unwrap();
    // A retry with the same run id re-emits the recorded release: no new noise, no spend.
    for _ in 0..3 {
        let o = run("first");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(
            std::fs::read(t.path().join("out/aggregates/n.csv")).unwrap(),
            first
        );
    }
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(
        r["stages"][0]["findings"]["info"]["releases"][0]["replayed"],
        true
    );
    assert_eq!(
        r["stages"][0]["findings"]["info"]["ledger"]["totals_after"]["epsilon"],
        1.0
    );
    // Changing the query under the same run id is refused.
    let changed = std::fs::read_to_string(t.path().join("p.toml")).unwrap();
    std::fs::write(
        t.path().join("p.toml"),
        changed.replace("epsilon = 1.0", "epsilon = 0.5"),
    )
    .unwrap();
    let o = run("first");
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(stderr(&o).contains("other parameters"), "{}", stderr(&o));
    std::fs::write(t.path().join("p.toml"), changed).unwrap();
    assert_eq!(code(&run("second")), 0);
    // The third release would spend 3.0 > 2.5: refused before any noise, nothing recorded.
    let o = run("third");
    assert_eq!(code(&o), 80, "{}", stderr(&o));
    assert!(stderr(&o).contains("over the cap"), "{}", stderr(&o));
    // Raising the cap in the pipeline does not raise the dataset's cap in the ledger.
    let raised = std::fs::read_to_string(t.path().join("p.toml"))
        .unwrap()
        .replace("total_epsilon = 2.5", "total_epsilon = 100.0");
    std::fs::write(t.path().join("p.toml"), raised).unwrap();
    assert_eq!(code(&run("fourth")), 80);
    let show = run_in(t.path(), &["budget", "show", "ledger.sqlite"]);
    let text = String::from_utf8_lossy(&show.stdout).to_string();
    assert!(text.contains("dataset events: 2 release(s)"), "{text}");
    // The ledger says what the dataset is: the pipeline and its inputs.
    assert!(text.contains("pipeline `"), "{text}");
    assert!(text.contains("inputs: "), "{text}");
    assert!(text.contains("last release 20"), "{text}");
    assert!(
        text.contains("epsilon spent 2.000000  remaining 0.500000 of 2.5"),
        "{text}"
    );
}

#[test]
fn the_passport_agrees_with_the_report_and_verify_checks_it() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"m\"\naggregate = \"mean\"\ncolumn = \"amount\"\nbounds = [0, 200]\nrho = 0.5\nmax_partitions = 1\nmax_rows_per_partition = 2\n\
         [[stages.queries]]\nname = \"h\"\naggregate = \"histogram\"\ncolumn = \"amount\"\nbins = [0, 50, 100, 200]\nepsilon = 1.0\nmax_partitions = 2\nmax_rows_per_partition = 2\n",
        "",
    );
    run_ok(t.path(), &["run", "-q", "p.toml"]);
    let out = t.path().join("out");
    let p = read_json(&out.join("dp_passport.jsonld"));
    assert_eq!(p["@type"], "DPPassport");
    assert!(p["@context"]["@vocab"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(p["privacy_unit"]["column"], "user");
    assert_eq!(p["releases"][0]["mechanism"], "discrete Gaussian");
    assert_eq!(p["releases"][1]["mechanism"], "discrete Laplace");
    assert_eq!(table(&out, "h").len(), 3, "one row per public bin");
    assert_eq!(code(&run_in(t.path(), &["verify", "out"])), 0);
    // Against the ledger kept at home: the releases and the noisy values match.
    let v = run_in(t.path(), &["verify", "out", "--ledger", "ledger.sqlite"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(String::from_utf8_lossy(&v.stdout)
        .contains("✓ DP ledger ledger.sqlite: records the passport's 2 release(s)"));
    // An aggregates table the passport does not list (added to the manifest by a forger):
    // nothing in the ledger vouches for it.
    std::fs::copy(
        out.join("aggregates/h.parquet"),
        out.join("aggregates/x.parquet"),
    )
    .unwrap();
    let mpath = out.join("manifest.json");
    let original = std::fs::read(&mpath).unwrap();
    let mut m = read_json(&mpath);
    let entry = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "aggregates/h.parquet")
        .unwrap()
        .clone();
    let mut x = entry.clone();
    x["path"] = serde_json::json!("aggregates/x.parquet");
    m["files"].as_array_mut().unwrap().push(x);
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let v = run_in(t.path(), &["verify", "out", "--ledger", "ledger.sqlite"]);
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("aggregates/x.parquet: not a release of the DP passport"),
        "{}",
        stderr(&v)
    );
    std::fs::write(&mpath, original).unwrap();
    std::fs::remove_file(out.join("aggregates/x.parquet")).unwrap();
    assert_eq!(
        code(&run_in(
            t.path(),
            &["verify", "out", "--ledger", "ledger.sqlite"]
        )),
        0
    );
    // A ledger that never recorded this run: verify fails.
    std::fs::create_dir(t.path().join("other")).unwrap();
    dp_pipeline(
        &t.path().join("other"),
        "[[stages.queries]]\nname = \"h\"\naggregate = \"count\"\nepsilon = 1.0\nmax_partitions = 1\nmax_rows_per_partition = 1\n",
        "",
    );
    write_events(&t.path().join("other"));
    assert_eq!(
        code(&run_in(&t.path().join("other"), &["run", "-q", "p.toml"])),
        0
    );
    let v = run_in(
        t.path(),
        &["verify", "out", "--ledger", "other/ledger.sqlite"],
    );
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("DP ledger: no release `m`"),
        "{}",
        stderr(&v)
    );
    // Change the passport's ε and reseal the manifest: verify still catches it.
    let mut edited = p.clone();
    edited["releases"][1]["epsilon"] = serde_json::json!(0.01);
    std::fs::write(
        out.join("dp_passport.jsonld"),
        serde_json::to_vec_pretty(&edited).unwrap(),
    )
    .unwrap();
    reseal(&out, "dp_passport.jsonld");
    let v = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&v), 80);
    assert!(
        stderr(&v).contains("release `h` differs from the report"),
        "{}",
        stderr(&v)
    );
}

#[test]
fn without_a_privacy_unit_the_record_is_the_unit_and_the_report_says_so() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    let text = format!(
        "name = \"t\"\n[input]\npath = \"events.jsonl\"\n[output]\npath = \"out\"\nrows = false\n\
         [[stages]]\ntype = \"dp_release\"\nledger = \"ledger.sqlite\"\n\
         [[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"g\"]\nkeys = [\"g0\", \"g1\"]\n{EXACT}\n"
    );
    std::fs::write(t.path().join("p.toml"), text).unwrap();
    run_ok(t.path(), &["run", "-q", "p.toml"]);
    let n = table(&t.path().join("out"), "n");
    assert_eq!(
        n,
        vec![
            ("g0".to_string(), 250.0, 0.0),
            ("g1".to_string(), 200.0, 0.0)
        ]
    );
    let p = read_json(&t.path().join("out/dp_passport.jsonld"));
    assert!(p["privacy_unit"]["note"]
        .as_str()
        .unwrap()
        .contains("each record is treated as one person"));
    // The default dataset id is a SHA-256 of the inputs, never the pipeline name.
    let id = p["dataset_id"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    assert_ne!(id, "t");
}

#[test]
fn the_bundled_orders_pipeline_releases_counts_and_sums() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    copy_from_checkout(
        d,
        &[
            "sample-data/orders.parquet",
            "pipelines/orders-dp.toml",
            "pipelines/orders-provinces.txt",
        ],
    );
    run_ok(d, &["run", "-q", "pipelines/orders-dp.toml"]);
    let out = d.join("out/orders-dp");
    let by_province = table(&out, "users_by_province");
    assert_eq!(
        by_province.len(),
        34,
        "all public provinces, including ones with no orders"
    );
    // 7,866 users, one province each: the noisy total is close to it.
    let total: f64 = by_province.iter().map(|r| r.1).sum();
    assert!((total - 7866.0).abs() < 200.0, "{total}");
    assert!(!table(&out, "revenue_by_category").is_empty());
    assert_eq!(code(&run_in(d, &["verify", "out/orders-dp"])), 0);
    let show = run_in(d, &["budget", "show", ".datacustoms/ledger.sqlite"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("3 release(s)"));
}

#[test]
fn an_aggregates_only_export_ships_no_exact_count() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\nepsilon = 1.0\nmax_partitions = 1\nmax_rows_per_partition = 1\n",
        "",
    );
    run_ok(t.path(), &["run", "-q", "--run-id", "r1", "p.toml"]);
    let out = t.path().join("out");
    let r = read_json(&out.join("report.json"));
    assert!(
        r.get("rows").is_none() && r.get("quarantine").is_none(),
        "{r}"
    );
    assert!(r["withheld"]["kept_at_home"]
        .as_str()
        .unwrap()
        .contains("r1"));
    assert!(r["stages"][0]["findings"].get("fields").is_none());
    // 1,050 rows went in: that number appears nowhere in what ships.
    for f in [
        "report.json",
        "audit.jsonl",
        "dp_passport.jsonld",
        "manifest.json",
    ] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        // As a number of its own: not inside a hash, an id or a fraction of a second.
        let b = text.as_bytes();
        let standalone = text.match_indices("1050").any(|(i, _)| {
            let part = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'_';
            let before = i > 0 && part(b[i - 1]);
            let after = b.get(i + 4).is_some_and(|&c| part(c));
            !before && !after
        });
        assert!(!standalone, "{f} holds the exact row count");
        assert!(!text.contains("rows_in"), "{f}");
    }
    // The full report is kept at home.
    let home = read_json(&t.path().join(".datacustoms/quarantine/r1/report.json"));
    assert_eq!(home["rows"]["in"], 1050);
    assert_eq!(code(&run_in(t.path(), &["verify", "out"])), 0);
}

/// Past `memory_mb` the units' rows go through temporary files; the release is the same.
#[test]
fn units_rows_spill_to_disk_past_memory_mb_with_the_same_release() {
    let t = tempfile::tempdir().unwrap();
    // 10,000 users × 6 rows over 5 groups (g = row % 5: at most 2 rows per user and
    // group), amounts 1..=6: with L0 = 5 and L∞ = 2 nothing is cut, so the bounded
    // values are the true ones and both runs must agree exactly.
    let mut s = String::new();
    let mut truth = std::collections::BTreeMap::<String, (f64, f64)>::new();
    for u in 0..10_000 {
        for r in 0..6 {
            let g = format!("g{}", (u + r) % 5);
            let amount = (r + 1) as f64;
            let e = truth.entry(g.clone()).or_default();
            e.0 += 1.0;
            e.1 += amount;
            s.push_str(&format!(
                "{{\"user\":\"u{u}\",\"g\":\"{g}\",\"amount\":{amount}}}\n"
            ));
        }
    }
    std::fs::write(t.path().join("events.jsonl"), s).unwrap();
    let queries = format!(
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"g\"]\nkeys = [\"g0\", \"g1\", \"g2\", \"g3\", \"g4\"]\n{EXACT}\nmax_partitions = 5\nmax_rows_per_partition = 2\n\
         [[stages.queries]]\nname = \"s\"\naggregate = \"sum\"\ncolumn = \"amount\"\nbounds = [0, 10]\nresolution = 1\ngroup_by = [\"g\"]\nkeys = [\"g0\", \"g1\", \"g2\", \"g3\", \"g4\"]\n{EXACT}\nmax_partitions = 5\nmax_rows_per_partition = 2\n"
    );
    let mut results = Vec::new();
    for memory in ["", "memory_mb = 1"] {
        dp_pipeline(t.path(), &queries, memory);
        let o = run_ok(t.path(), &["run", "--log-format", "json", "p.toml"]);
        assert_eq!(
            stderr(&o).contains("went through temporary files"),
            !memory.is_empty(),
            "{}",
            stderr(&o)
        );
        let out = t.path().join("out");
        results.push((table(&out, "n"), table(&out, "s")));
    }
    assert_eq!(results[0], results[1]);
    for (g, v, _) in &results[1].0 {
        assert_eq!(*v, truth[g].0, "count {g}");
    }
    for (g, v, _) in &results[1].1 {
        assert_eq!(*v, truth[g].1, "sum {g}");
    }
}

/// A public key listed twice would be released twice with fresh noise for one ε: refused.
#[test]
fn duplicate_public_keys_and_reserved_group_names_are_config_errors() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    dp_pipeline(
        t.path(),
        &format!("[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"g\"]\nkeys = [\"g0\", \"g1\", \"g0\"]\n{EXACT}\nmax_partitions = 1\nmax_rows_per_partition = 1\n"),
        "",
    );
    let o = run_in(t.path(), &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("public key g0 is listed twice"),
        "{}",
        stderr(&o)
    );
    // A group column named like the aggregates table's own columns.
    let events = std::fs::read_to_string(t.path().join("events.jsonl"))
        .unwrap()
        .replace("\"g\":", "\"value\":");
    std::fs::write(t.path().join("events.jsonl"), events).unwrap();
    dp_pipeline(
        t.path(),
        &format!("[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\ngroup_by = [\"value\"]\nkeys = [\"g0\"]\n{EXACT}\nmax_partitions = 1\nmax_rows_per_partition = 1\n"),
        "",
    );
    let o = run_in(t.path(), &["run", "-q", "p.toml"]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(stderr(&o).contains("clashes"), "{}", stderr(&o));
}

#[test]
fn verify_reports_a_passport_chain_broken_by_a_deleted_ledger() {
    let t = tempfile::tempdir().unwrap();
    write_events(t.path());
    dp_pipeline(
        t.path(),
        "[[stages.queries]]\nname = \"n\"\naggregate = \"count\"\nepsilon = 1.0\nmax_partitions = 1\nmax_rows_per_partition = 1\n",
        "",
    );
    let run = |out: &str| run_ok(t.path(), &["run", "-q", "p.toml", "--output", out]);
    let verify = |out: &str, prev: &str| run_in(t.path(), &["verify", out, "--previous", prev]);
    run("e1");
    run("e2");
    run("e3");
    // Directly after, and with a release in between: the chain continues.
    let o = verify("e2", "e1");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        list.contains("0 release(s) in between, same chain head"),
        "{list}"
    );
    let o = verify("e3", "e1");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 release(s) in between"));
    // The ledger is deleted: the next run spends from a full budget, and says so.
    std::fs::remove_file(t.path().join("ledger.sqlite")).unwrap();
    run("e4");
    let o = verify("e4", "e3");
    assert_eq!(code(&o), 80, "{}", String::from_utf8_lossy(&o.stdout));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(list.contains("reset or replaced"), "{list}");
    assert!(list.contains("total epsilon went down"), "{list}");
}
