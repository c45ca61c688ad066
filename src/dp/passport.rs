//! `dp_passport.jsonld`: a JSON-LD description of every DP release in an export — the
//! privacy unit, mechanism, noise distribution and scale, ε / ρ / δ, sensitivity and
//! bounding, clamp bounds, group-key policy, and the ledger totals after the release —
//! that a reviewer can read without the tool. `verify` checks it against the report.

use serde_json::{json, Value};

use super::ledger::Totals;
use super::release::Budget;

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
        "ledger_after": "dc:ledgerTotalsAfterRelease",
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
        "caps": caps,
    })
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
    ] {
        if &passport[k] != v {
            problems.push(format!("dp_passport.jsonld: `{k}` differs from the report"));
        }
    }
    problems
}
