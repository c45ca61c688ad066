//! `dp_passport.jsonld`: a JSON-LD description of every DP release in an export — the
//! privacy unit, mechanism, noise distribution and scale, ε / ρ / δ, sensitivity and
//! bounding, clamp bounds, group-key policy, and the ledger totals after the release —
//! that a reviewer can read without the tool. `verify` checks it against the report.

use serde_json::{json, Value};

use super::ledger::{Chain, Totals};
use crate::config::stages::Budget;

pub const FILE: &str = "dp_passport.jsonld";

/// The JSON-LD context: every term is defined under the datacustoms DP vocabulary, with
/// the meaning documented in the README ("The DP passport").
pub fn context() -> Value {
    json!({
        "@vocab": "https://datacustoms.dev/ns/dp#",
        "dc": "https://datacustoms.dev/ns/dp#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "epsilon": { "@id": "dc:epsilon", "@type": "xsd:double" },
        "rho": { "@id": "dc:rho", "@type": "xsd:double" },
        "delta": { "@id": "dc:delta", "@type": "xsd:double" },
        "releases": { "@id": "dc:release", "@container": "@list" },
        "privacy_unit": "dc:privacyUnit",
        "mechanism": "dc:mechanism",
        "noise": { "@id": "dc:noise", "@container": "@list" },
        "sensitivity": "dc:sensitivity",
        "bounding": "dc:contributionBounding",
        "clamp": { "@id": "dc:clampBounds", "@container": "@list" },
        "group_keys": "dc:groupKeyPolicy",
        "threshold": "dc:releaseThreshold",
        "post_processing": "dc:postProcessing",
        "ledger_after": "dc:ledgerTotalsAfterRelease",
        "ledger_chain": "dc:ledgerChain",
        "caps": "dc:budgetCaps",
        "tool_version": "dc:toolVersion"
    })
}

pub fn passport(
    dataset_id: &str,
    run_id: &str,
    unit: &Value,
    releases: &[Value],
    totals: &Totals,
    caps: &Budget,
    chain: &Value,
) -> Value {
    json!({
        "@context": context(),
        "@type": "DPPassport",
        "@id": format!("urn:datacustoms:run:{run_id}"),
        "tool": "datacustoms",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "dataset_id": dataset_id,
        "run_id": run_id,
        "privacy_unit": unit,
        "releases": releases.iter().map(|r| {
            let mut r = r.clone();
            r["@type"] = json!("DPRelease");
            r
        }).collect::<Vec<_>>(),
        "ledger_after": totals,
        "ledger_chain": chain,
        "caps": caps,
    })
}

/// Whether the passport `newer` continues the DP ledger that the earlier passport `older`
/// of the same dataset saw: the ledger must hold at least the releases it held after the
/// older run, through the same chain when nothing came in between, and the dataset's
/// spend must not have gone down. A deleted or replaced ledger (which would silently give
/// back the whole budget) fails here. Returns the checklist line.
pub fn check_continuity(older: &Value, newer: &Value, problems: &mut Vec<String>) -> String {
    let (od, nd) = (&older["dataset_id"], &newer["dataset_id"]);
    let old_run = older["run_id"].as_str().unwrap_or("?");
    if od != nd {
        problems.push(format!(
            "the earlier passport is of dataset {od}, this one of {nd}: a ledger chain links one dataset's releases"
        ));
        return "DP ledger chain: not comparable".into();
    }
    let after_old = serde_json::from_value::<Chain>(older["ledger_chain"]["after"].clone());
    let before_new = serde_json::from_value::<Chain>(newer["ledger_chain"]["before"].clone());
    let (Ok(a), Ok(b)) = (after_old, before_new) else {
        problems.push(
            "a passport has no ledger chain (made by a version before chains were recorded)".into(),
        );
        return "DP ledger chain: not recorded".into();
    };
    if b.releases < a.releases {
        problems.push(format!(
            "the DP ledger was reset or replaced: after run {old_run} it held {} release(s) of this dataset, before this run only {}; the budget spent earlier was not counted against this release",
            a.releases, b.releases
        ));
    } else if b.releases == a.releases && b.head != a.head {
        problems.push(format!(
            "the DP ledger was replaced: it holds as many releases as after run {old_run}, but not the same ones"
        ));
    }
    for k in ["epsilon", "rho", "delta"] {
        let (o, n) = (
            older["ledger_after"][k].as_f64().unwrap_or(0.0),
            newer["ledger_after"][k].as_f64().unwrap_or(0.0),
        );
        if n + 1e-12 < o {
            problems.push(format!(
                "the dataset's total {k} went down from {o} (after run {old_run}) to {n}: spend was lost from the DP ledger"
            ));
        }
    }
    let between = b.releases.saturating_sub(a.releases);
    format!(
        "DP ledger chain: continues the ledger of run {old_run} ({between} release(s) in between{})",
        if between == 0 { ", same chain head" } else { "" }
    )
}

/// Disagreements between a passport and the report's `dp_release` findings.
pub fn check(passport: &Value, report: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    let Some(stage) = stages.iter().find(|s| s["type"] == "dp_release") else {
        return vec!["dp_passport.jsonld is present but the report has no dp_release stage".into()];
    };
    let info = &stage["findings"]["info"];
    let rep = info["releases"].as_array().cloned().unwrap_or_default();
    let pas = passport["releases"].as_array().cloned().unwrap_or_default();
    if rep.len() != pas.len() {
        problems.push(format!(
            "dp_passport.jsonld lists {} releases, the report {}",
            pas.len(),
            rep.len()
        ));
    }
    for (r, p) in rep.iter().zip(&pas) {
        let mut p = p.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("@type");
        }
        if &p != r {
            problems.push(format!(
                "dp_passport.jsonld: release `{}` differs from the report",
                r["name"].as_str().unwrap_or("?")
            ));
        }
    }
    for (k, v) in [
        ("dataset_id", &info["dataset_id"]),
        ("privacy_unit", &info["privacy_unit"]),
        ("ledger_after", &info["ledger"]["totals_after"]),
        ("ledger_chain", &info["ledger"]["chain"]),
    ] {
        if &passport[k] != v {
            problems.push(format!("dp_passport.jsonld: `{k}` differs from the report"));
        }
    }
    problems
}

/// Checks every release of a passport against the ledger kept at home: the ledger must
/// hold it under the passport's dataset and run id with the same mechanism and budget,
/// and its recorded noisy results must be what `aggregates/<name>.parquet` holds.
/// Returns the number of releases checked.
pub fn check_ledger(
    dir: &std::path::Path,
    passport: &Value,
    ledger: &std::path::Path,
    problems: &mut Vec<String>,
) -> usize {
    let l = match super::ledger::Ledger::open_existing(ledger) {
        Ok(l) => l,
        Err(e) => {
            problems.push(e.to_string());
            return 0;
        }
    };
    let dataset = passport["dataset_id"].as_str().unwrap_or("");
    let run = passport["run_id"].as_str().unwrap_or("");
    let recorded = match l.recorded(dataset, run) {
        Ok(r) => r,
        Err(e) => {
            problems.push(e.to_string());
            return 0;
        }
    };
    let releases = passport["releases"].as_array().cloned().unwrap_or_default();
    for r in &releases {
        let name = r["name"].as_str().unwrap_or("?");
        let Some(rec) = recorded.get(name) else {
            problems.push(format!(
                "DP ledger: no release `{name}` for dataset {dataset}, run {run}"
            ));
            continue;
        };
        let same = r["mechanism"] == rec.mechanism.as_str()
            && r["epsilon"].as_f64() == Some(rec.epsilon)
            && r["rho"].as_f64() == Some(rec.rho)
            && r["delta"].as_f64() == Some(rec.delta)
            && serde_json::from_str::<Value>(&rec.sensitivity)
                .ok()
                .as_ref()
                == Some(&r["sensitivity"]);
        if !same {
            problems.push(format!(
                "DP ledger: release `{name}`: mechanism, budget or sensitivity differ from the passport"
            ));
        }
        let ours: Vec<super::OutRow> = match serde_json::from_str(&rec.results) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!(
                    "DP ledger: release `{name}`: results unreadable: {e}"
                ));
                continue;
            }
        };
        match aggregates(&dir.join("aggregates").join(format!("{name}.parquet"))) {
            Ok(shipped) => {
                let mut want: Vec<KeyedValue> = ours
                    .iter()
                    .map(|o| (o.key.clone(), o.value.to_bits()))
                    .collect();
                want.sort();
                if want != shipped {
                    problems.push(format!(
                        "DP ledger: aggregates/{name}.parquet differs from the noisy results the ledger recorded ({} rows recorded, {} shipped)",
                        want.len(),
                        shipped.len()
                    ));
                }
            }
            Err(e) => problems.push(format!("aggregates/{name}.parquet: {e}")),
        }
    }
    // Every aggregates table must be one of the passport's releases: a table nobody
    // recorded was never noised under the ledger's budget.
    let names: std::collections::HashSet<&str> =
        releases.iter().filter_map(|r| r["name"].as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("aggregates")) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().to_string();
            let stem = file
                .strip_suffix(".parquet")
                .or_else(|| file.strip_suffix(".csv"));
            match stem {
                Some(n) if names.contains(n) => {}
                _ => problems.push(format!(
                    "aggregates/{file}: not a release of the DP passport (nothing in the ledger vouches for it)"
                )),
            }
        }
    }
    releases.len()
}

/// A released row as compared: the group key and the bits of the noisy value.
type KeyedValue = (Vec<Option<String>>, u64);

/// (group key, value bits) of every row of an aggregates Parquet file, sorted.
fn aggregates(path: &std::path::Path) -> Result<Vec<KeyedValue>, String> {
    use arrow::array::{Array, AsArray};
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let schema = batch.schema();
        let value = schema.index_of("value").map_err(|e| e.to_string())?;
        let half = schema
            .index_of("ci95_half_width")
            .map_err(|e| e.to_string())?;
        let keys: Vec<_> = (0..batch.num_columns())
            .filter(|i| *i != value && *i != half)
            .map(|i| crate::io::schema::key_text(batch.column(i)))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let values =
            arrow::compute::cast(batch.column(value), &arrow::datatypes::DataType::Float64)
                .map_err(|e| e.to_string())?;
        let values = values.as_primitive::<arrow::datatypes::Float64Type>();
        for row in 0..batch.num_rows() {
            let key = keys
                .iter()
                .map(|k| {
                    let k = k.as_string::<i32>();
                    (!k.is_null(row)).then(|| k.value(row).to_string())
                })
                .collect();
            out.push((key, values.value(row).to_bits()));
        }
    }
    out.sort();
    Ok(out)
}
