//! `datacustoms verify EXPORT_DIR`: the check a reviewer runs before an export leaves.
//! Re-hashes every file against the manifest, recounts data rows, finds files added or
//! removed, checks the audit chain and the reconciliation recorded in the report.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Component, Path};

use serde_json::Value;

use crate::detect::{DetectConfig, Detector};
use crate::error::{Error, Result};
use crate::evidence::audit::verify_chain;
use crate::evidence::manifest::{Manifest, MANIFEST};
use crate::evidence::report::REPORT;
use crate::io::source::sha256_file;

#[derive(Debug)]
pub struct Verified {
    pub files: usize,
    pub rows: u64,
    /// Detections found by the residual re-scan (when the run scanned).
    pub residual: Option<u64>,
    pub audit_events: u64,
    /// The checklist: one item per check, with what failed.
    pub checks: Vec<Check>,
}

/// One item of the checklist `verify` prints.
#[derive(Debug, Clone)]
pub struct Check {
    pub item: String,
    pub problems: Vec<String>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The checklist as printed: `✓ item` or `✗ item` followed by its problems.
pub fn checklist(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(if c.ok() { "✓ " } else { "✗ " });
        out.push_str(&c.item);
        out.push('\n');
        for p in &c.problems {
            out.push_str("    - ");
            out.push_str(p);
            out.push('\n');
        }
    }
    out
}

/// Verifies an export; `Error::Refused` lists every problem found.
pub fn verify(dir: &Path) -> Result<Verified> {
    verify_with(dir, &VerifyOptions::default())?.into_result(dir)
}

/// What a reviewer at home may add to `verify`.
#[derive(Debug, Default, Clone)]
pub struct VerifyOptions<'a> {
    /// The pipeline file the export was made with (its recognizers join the re-scan).
    pub pipeline: Option<&'a Path>,
    /// The exporter's Ed25519 public key (base64).
    pub trusted_key: Option<&'a str>,
    /// The DP ledger the run recorded its releases in: the passport and the aggregates
    /// are checked against it.
    pub ledger: Option<&'a Path>,
    /// An earlier export of the same dataset: this export's DP passport must continue
    /// the ledger chain that one's saw (no reset ledger).
    pub previous: Option<&'a Path>,
}

/// The DP passport, read once: against the report, against the ledger at home
/// (`--ledger`), and as the continuation of an earlier export's (`--previous`).
fn check_dp(
    dir: &Path,
    report: &Value,
    opts: &VerifyOptions<'_>,
    problems: &mut Vec<String>,
    close: &mut dyn FnMut(String, &mut Vec<String>),
) {
    use crate::dp::passport;
    let read = |p: &Path| {
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let pp = dir.join(passport::FILE);
    if !pp.exists() {
        return;
    }
    let pass = read(&pp);
    match &pass {
        Some(p) => problems.extend(passport::check(p, report)),
        None => problems.push("dp_passport.jsonld: not JSON".into()),
    }
    close("DP passport: agrees with the report".into(), problems);
    match opts.ledger {
        Some(l) => {
            let n = pass
                .as_ref()
                .map_or(0, |p| passport::check_ledger(dir, p, l, problems));
            close(
                format!("DP ledger {}: records the passport's {n} release(s), with the same parameters and the exported aggregates", l.display()),
                problems,
            );
        }
        None => close(
            "DP ledger: not checked (it stays at home; `--ledger LEDGER` checks the passport and aggregates against it)".into(),
            problems,
        ),
    }
    if let Some(prev) = opts.previous {
        let item = match (read(&prev.join(passport::FILE)), &pass) {
            (Some(older), Some(newer)) => passport::check_continuity(&older, newer, problems),
            _ => {
                problems.push(format!(
                    "{}: no readable DP passport to continue",
                    prev.display()
                ));
                "DP ledger chain: not checked".into()
            }
        };
        close(item, problems);
    }
}

/// Every file the manifest lists: a safe path, present, its size and SHA-256, and for a
/// data part its row count; then any file present but not listed. Returns the rows in
/// the data parts and their paths.
fn check_files(
    dir: &Path,
    manifest: &Manifest,
    problems: &mut Vec<String>,
) -> (u64, Vec<std::path::PathBuf>) {
    let mut listed = BTreeSet::new();
    let mut data_rows = 0u64;
    let mut data_parts = Vec::new();

    for f in &manifest.files {
        let rel = Path::new(&f.path);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            problems.push(format!("manifest lists an unsafe path `{}`", f.path));
            continue;
        }
        listed.insert(f.path.clone());
        let path = dir.join(rel);
        if !path.is_file() {
            problems.push(format!("{}: listed in the manifest but missing", f.path));
            continue;
        }
        match sha256_file(&path) {
            Ok((sha, bytes)) => {
                if bytes != f.bytes {
                    problems.push(format!(
                        "{}: size {bytes} bytes, manifest says {}",
                        f.path, f.bytes
                    ));
                }
                if sha != f.sha256 {
                    problems.push(format!(
                        "{}: SHA-256 differs from the manifest (file was changed)",
                        f.path
                    ));
                    continue;
                }
            }
            Err(e) => {
                problems.push(format!("{}: {e}", f.path));
                continue;
            }
        }
        if f.path.starts_with("data/") {
            match (count_rows(&path), f.rows) {
                (Ok(n), Some(m)) if n == m => {
                    data_rows += n;
                    data_parts.push(path.clone());
                }
                (Ok(n), m) => problems.push(format!(
                    "{}: holds {n} rows, manifest says {}",
                    f.path,
                    m.map_or("nothing".into(), |m| m.to_string())
                )),
                (Err(e), _) => problems.push(format!("{}: cannot count rows: {e}", f.path)),
            }
        }
    }

    let mut present = Vec::new();
    list_files(dir, dir, &mut present);
    for p in present {
        if p != MANIFEST && p != crate::evidence::signature::SIGNATURE && !listed.contains(&p) {
            problems.push(format!("{p}: not in the manifest (file was added)"));
        }
    }

    (data_rows, data_parts)
}

/// The audit log's hash chain, and its last line against the manifest's chain head.
/// Returns the number of events.
fn check_audit(dir: &Path, manifest: &Manifest, problems: &mut Vec<String>) -> u64 {
    let audit_events = match verify_chain(&dir.join("audit.jsonl")) {
        Ok(n) => n,
        Err(e) => {
            problems.push(e);
            0
        }
    };
    if !manifest.audit_head.is_empty() && problems.is_empty() {
        match crate::evidence::audit::head(&dir.join("audit.jsonl")) {
            Ok(h) if h == manifest.audit_head => {}
            Ok(_) => problems.push(
                "audit.jsonl: its last line is not the chain head the manifest records".into(),
            ),
            Err(e) => problems.push(e.to_string()),
        }
    }
    audit_events
}

/// Runs every check and returns the checklist (failures included: see
/// `Verified::into_result`). `verify`, re-scanning with the recognizers and deny-lists of `pipeline` besides the
/// built-in ones. The file must be the one the export was made with (its SHA-256 is in
/// the manifest): the reviewer at home has it, and it never travels with the export,
/// since deny-lists may name people.
pub fn verify_with(dir: &Path, opts: &VerifyOptions<'_>) -> Result<Verified> {
    let (pipeline, trusted_key) = (opts.pipeline, opts.trusted_key);
    if !dir.is_dir() {
        return Err(Error::NotFound(format!(
            "export {} not found",
            dir.display()
        )));
    }
    let manifest = Manifest::load(dir).map_err(Error::Refused)?;
    let detect = match pipeline {
        None => DetectConfig::default(),
        Some(p) => {
            let src = crate::config::PipelineSource::load(p)?;
            if src.sha256 != manifest.pipeline_sha256 {
                return Err(Error::Usage(format!(
                    "{} is not the pipeline this export was made with (its SHA-256 differs from the manifest's pipeline_sha256)",
                    p.display()
                )));
            }
            crate::stages::deidentify::residual_detect_config(&src.file)
        }
    };
    let mut problems = Vec::new();
    let mut checks: Vec<Check> = Vec::new();
    // Moves the problems found since the last item into a new checklist item.
    let mut close = |item: String, problems: &mut Vec<String>| {
        checks.push(Check {
            item,
            problems: std::mem::take(problems),
        });
    };
    let (data_rows, data_parts) = check_files(dir, &manifest, &mut problems);
    if data_rows != manifest.rows && problems.is_empty() {
        problems.push(format!(
            "data parts hold {data_rows} rows, manifest says {}",
            manifest.rows
        ));
    }
    close(
        format!(
            "files: {} listed in the manifest, SHA-256 and size match, none added or missing",
            manifest.files.len()
        ),
        &mut problems,
    );

    match crate::evidence::signature::check(dir, trusted_key) {
        Ok(who) => close(
            format!("signature: manifest signed with Ed25519 {who}"),
            &mut problems,
        ),
        Err(e) => {
            problems.push(e);
            close("signature: manifest signed".into(), &mut problems);
        }
    }

    let audit_events = check_audit(dir, &manifest, &mut problems);
    close(
        format!("audit chain: {audit_events} events, each line hashes the previous"),
        &mut problems,
    );
    let mut residual = None;
    match std::fs::read(dir.join(REPORT)).map(|b| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(report)) => {
            check_report(&report, manifest.rows, &mut problems);
            close(
                "rows: in = out + duplicates + quarantined, in total and per input file".into(),
                &mut problems,
            );
            check_dp(dir, &report, opts, &mut problems, &mut close);
            // The cross-border assessment and k-anonymity, against the recorded gate.
            if report["assessment"].is_object() {
                let item = check_assessment(&report, &mut problems);
                close(item, &mut problems);
                if report["assessment"]["k_anonymity"].is_object() {
                    let item = check_k_anonymity(&report, &data_parts, &mut problems);
                    close(item, &mut problems);
                } else if report["gate"]["min_k"].is_u64()
                    && report["output"]["rows_written"] != false
                {
                    problems.push(
                        "report.json records [gate] min_k but no k-anonymity of the rows".into(),
                    );
                    close("k-anonymity".into(), &mut problems);
                }
            }
            // The residual-PII re-scan, against the gate the run recorded.
            if report["residual"]["scanned"] == true {
                let max = report["residual"]["gate"]["max_residual"].as_u64();
                // The fields the run scanned (every string field but ciphertext and
                // tokens); an export without the list is scanned whole.
                let fields: Option<Vec<String>> =
                    report["residual"]["fields"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    });
                let hits = rescan(
                    &data_parts,
                    &Detector::new(&detect),
                    &manifest,
                    fields.as_deref(),
                    max,
                    &mut problems,
                );
                residual = Some(hits);
                let gate = max
                    .map(|m| format!(", gate max_residual = {m}"))
                    .unwrap_or_default();
                close(
                    format!("residual PII re-scan: {hits} detections in data/{gate}"),
                    &mut problems,
                );
            }
        }
        _ => {
            problems.push("report.json: missing or not JSON".into());
            close("report".into(), &mut problems);
        }
    }

    Ok(Verified {
        files: manifest.files.len(),
        rows: manifest.rows,
        audit_events,
        residual,
        checks,
    })
}

impl Verified {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::ok)
    }

    /// `Error::Refused` listing every problem, unless every check passed.
    pub fn into_result(self, dir: &Path) -> Result<Verified> {
        if self.passed() {
            return Ok(self);
        }
        let problems: Vec<String> = self
            .checks
            .iter()
            .flat_map(|c| c.problems.clone())
            .collect();
        Err(Error::Refused(format!(
            "export {} failed verification:\n  - {}",
            dir.display(),
            problems.join("\n  - ")
        )))
    }
}

fn check_report(report: &Value, manifest_rows: u64, problems: &mut Vec<String>) {
    let status = report.get("status").and_then(Value::as_str).unwrap_or("");
    if status != "complete" {
        problems.push(format!("report.json: status is `{status}`, not `complete`"));
    }
    // An aggregates-only export withholds its exact counts (they stay at home).
    if report["output"]["rows_written"] == false && report.get("withheld").is_some() {
        return;
    }
    let rows = &report["rows"];
    let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    let check = |v: &Value, what: &str, problems: &mut Vec<String>| {
        match (get(v, "in"), get(v, "out"), get(v, "duplicates"), get(v, "quarantined")) {
            (Some(i), Some(o), Some(d), Some(q)) if i == o + d + q => {}
            (Some(i), Some(o), Some(d), Some(q)) => problems.push(format!(
                "report.json: {what}: rows in ({i}) != out ({o}) + duplicates ({d}) + quarantined ({q})"
            )),
            _ => problems.push(format!("report.json: {what}: row counts missing")),
        }
    };
    check(rows, "total", problems);
    if let Some(files) = rows.get("files").and_then(Value::as_array) {
        for f in files {
            let name = f.get("path").and_then(Value::as_str).unwrap_or("?");
            check(f, name, problems);
        }
    }
    let written = report["output"]["rows_written"].as_bool().unwrap_or(true);
    if written && get(rows, "out") != Some(manifest_rows) {
        problems.push(format!(
            "report.json: rows.out is {}, the manifest's data parts hold {manifest_rows}",
            get(rows, "out").map_or("missing".into(), |n| n.to_string())
        ));
    }
}

/// The mechanisms recomputed from the recorded counts and declarations, the year's within
/// `[gate] max_mechanism`, no core data, important data acknowledged. Returns the item.
fn check_assessment(report: &Value, problems: &mut Vec<String>) -> String {
    use crate::evidence::assessment::{mechanism, rank, Declares};
    let a = &report["assessment"];
    let declares: Declares = serde_json::from_value(a["declares"].clone()).unwrap_or_default();
    let year = &a["year_to_date"];
    for (what, v) in [("this export", a), ("year to date", year)] {
        // Aggregates-only exports withhold the counts (they stay at home).
        if let (Some(n), Some(s)) = (
            v["distinct_subjects"].as_u64(),
            v["sensitive_subjects"].as_u64(),
        ) {
            let (m, _) = mechanism(n, s, &declares);
            if v["mechanism"] != m {
                problems.push(format!(
                    "report.json: assessment ({what}): {n} subjects, {s} with sensitive PI and the declarations need `{m}`, the report says {}",
                    v["mechanism"]
                ));
            }
        }
    }
    let ym = year["mechanism"].as_str().unwrap_or("");
    let gate = report["gate"]["max_mechanism"].as_str();
    if let Some(max) = gate {
        if rank(ym).is_none() || rank(ym) > rank(max) {
            problems.push(format!(
                "cross-border: the year's totals need `{ym}`, more than the recorded [gate] max_mechanism = {max}"
            ));
        }
    }
    let fields = a["fields"].as_array().cloned().unwrap_or_default();
    let core: Vec<&str> = fields
        .iter()
        .filter(|f| f["data_grade"] == "core")
        .filter_map(|f| f["name"].as_str())
        .collect();
    if !core.is_empty() {
        problems.push(format!("fields declared core data: {}", core.join(", ")));
    }
    let important = fields.iter().any(|f| f["data_grade"] == "important");
    let acknowledged = a["important_data"]["acknowledged"]
        .as_str()
        .is_some_and(|s| !s.trim().is_empty());
    if important && !(acknowledged && declares.important_data) {
        problems.push(
            "important data without an acknowledgement (or not declared to the mechanism)".into(),
        );
    }
    format!(
        "cross-border: mechanism `{}` (year to date `{ym}`){}; {} field(s) graded, no core data{}",
        a["mechanism"].as_str().unwrap_or("?"),
        gate.map(|m| format!(", within [gate] max_mechanism = {m}"))
            .unwrap_or_default(),
        fields.len(),
        if important {
            ", important data acknowledged"
        } else {
            ""
        }
    )
}

/// k-anonymity recomputed from the data parts, compared with the report and the
/// recorded `[gate] min_k`. Returns the item.
fn check_k_anonymity(
    report: &Value,
    parts: &[std::path::PathBuf],
    problems: &mut Vec<String>,
) -> String {
    let k = &report["assessment"]["k_anonymity"];
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let qi = names(&k["quasi_identifiers"]);
    let sensitive = k["sensitive_attribute"].as_str().map(String::from);
    let min_k = report["gate"]["min_k"].as_u64();
    let recomputed = recompute_k(parts, &qi, sensitive.as_deref(), min_k);
    match recomputed {
        Err(e) => problems.push(format!("k-anonymity: cannot recompute from data/: {e}")),
        Ok(r) => {
            for (what, ours) in [
                ("k", r.k),
                ("classes", Some(r.classes)),
                ("records", Some(r.records)),
                ("l", r.l),
            ] {
                if k[what].as_u64() != ours {
                    problems.push(format!(
                        "k-anonymity: the report says {what} = {}, data/ gives {}",
                        k[what],
                        ours.map_or("none".into(), |v| v.to_string())
                    ));
                }
            }
            // The rest of what the report (and its chart) shows must match too.
            let ours = serde_json::to_value(&r).unwrap_or_default();
            for what in [
                "records_in_classes_below",
                "class_sizes",
                "records_in_classes_with_l_1",
            ] {
                if k[what] != ours[what] {
                    problems.push(format!(
                        "k-anonymity: the report's {what} differs from what data/ gives"
                    ));
                }
            }
            if let (Some(m), Some(kk)) = (min_k, r.k) {
                if kk < m {
                    problems.push(format!(
                        "k-anonymity: smallest class of {kk} record(s), below the recorded [gate] min_k = {m}"
                    ));
                }
            }
        }
    }
    format!(
        "k-anonymity over ({}): k = {}{}, recomputed from data/{}",
        qi.join(", "),
        k["k"],
        k["l"]
            .as_u64()
            .map(|l| format!(", l = {l}"))
            .unwrap_or_default(),
        min_k
            .map(|m| format!(", gate min_k = {m}"))
            .unwrap_or_default()
    )
}

fn recompute_k(
    parts: &[std::path::PathBuf],
    qi: &[String],
    sensitive: Option<&str>,
    min_k: Option<u64>,
) -> std::result::Result<crate::evidence::kanon::KAnonymity, String> {
    use crate::evidence::kanon::ClassTally;
    let mut tally: Option<ClassTally> = None;
    for part in parts {
        if part.to_string_lossy().ends_with(".parquet") {
            let f = std::fs::File::open(part).map_err(|e| e.to_string())?;
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .and_then(|b| b.build())
                .map_err(|e| e.to_string())?;
            for batch in reader {
                let batch = batch.map_err(|e| e.to_string())?;
                let t = match &mut tally {
                    Some(t) => t,
                    None => tally.insert(ClassTally::new(&batch.schema(), qi, sensitive, min_k)?),
                };
                t.add(&batch).map_err(|e| e.to_string())?;
            }
        } else {
            // JSONL: values as the text JSON gives them (strings unquoted); the classes
            // are the same partition as the run's, which is all k and l depend on.
            let t = match &mut tally {
                Some(t) => t,
                None => {
                    let fields: Vec<arrow::datatypes::Field> = qi
                        .iter()
                        .map(String::as_str)
                        .chain(sensitive)
                        .map(|n| {
                            arrow::datatypes::Field::new(n, arrow::datatypes::DataType::Utf8, true)
                        })
                        .collect();
                    tally.insert(ClassTally::new(
                        &arrow::datatypes::Schema::new(fields),
                        qi,
                        sensitive,
                        min_k,
                    )?)
                }
            };
            let f = std::fs::File::open(part).map_err(|e| e.to_string())?;
            let text = |v: &Value| -> Option<String> {
                match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                }
            };
            for (i, line) in BufReader::new(f).lines().enumerate() {
                let line = line.map_err(|e| e.to_string())?;
                let v: Value = serde_json::from_str(&line)
                    .map_err(|e| format!("{} line {}: {e}", part.display(), i + 1))?;
                let q: Vec<Option<String>> = qi.iter().map(|c| text(&v[c])).collect();
                let q: Vec<Option<&str>> = q.iter().map(|x| x.as_deref()).collect();
                let s = sensitive.map(|c| text(&v[c]));
                t.push(&q, s.as_ref().map(|x| x.as_deref()))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    match tally {
        Some(t) => t.finish().map_err(|e| e.to_string()),
        None => {
            // No data part: an empty tally over the declared columns.
            let fields: Vec<arrow::datatypes::Field> = qi
                .iter()
                .map(|n| arrow::datatypes::Field::new(n, arrow::datatypes::DataType::Utf8, true))
                .collect();
            ClassTally::new(&arrow::datatypes::Schema::new(fields), qi, None, min_k)?
                .finish()
                .map_err(|e| e.to_string())
        }
    }
}

/// PII detections in every string value of a data part (JSONL or Parquet).
/// The residual-PII re-scan of the data parts: the fields the run scanned (`fields`,
/// by path; all when None) less the columns the manifest lists as ciphertext: the
/// detections, with a problem for a part that cannot be read and for more than the
/// recorded `max_residual`.
fn rescan(
    parts: &[std::path::PathBuf],
    detector: &Detector,
    manifest: &Manifest,
    fields: Option<&[String]>,
    max_residual: Option<u64>,
    problems: &mut Vec<String>,
) -> u64 {
    let encrypted: Vec<String> = manifest
        .encryption
        .as_ref()
        .map(|e| e.columns.iter().map(|c| c.path.clone()).collect())
        .unwrap_or_default();
    let mut hits = 0u64;
    for part in parts {
        match residual_hits(part, detector, &encrypted, fields) {
            Ok(n) => hits += n,
            Err(e) => problems.push(format!("{}: cannot re-scan: {e}", part.display())),
        }
    }
    if let Some(max) = max_residual.filter(|m| hits > *m) {
        problems.push(format!(
            "residual PII: the re-scan finds {hits} detections in data/, more than the recorded [gate] max_residual = {max}"
        ));
    }
    hits
}

fn residual_hits(
    path: &Path,
    detector: &Detector,
    encrypted: &[String],
    fields: Option<&[String]>,
) -> std::result::Result<u64, String> {
    let mut found = Vec::new();
    let mut hits = 0u64;
    let scanned = |name: &str| fields.is_none_or(|f| f.iter().any(|x| x == name));
    let mut scan = |field: &str, s: &str| {
        if scanned(field) {
            detector.detect(s, &mut found);
            hits += found.len() as u64;
        }
    };
    if path.to_string_lossy().ends_with(".parquet") {
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .and_then(|b| b.build())
            .map_err(|e| e.to_string())?;
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            let schema = batch.schema();
            for p in crate::stages::fields::string_paths(&schema) {
                if encrypted.contains(schema.field(p.column).name()) {
                    continue;
                }
                crate::stages::fields::for_each_string(
                    batch.column(p.column),
                    &p.steps,
                    &mut |_, s| scan(&p.name, s),
                );
            }
        }
    } else {
        // `path`: the field's name as the run's report gives it (`messages.content`:
        // lists are transparent).
        fn walk(v: &Value, path: &mut String, scan: &mut dyn FnMut(&str, &str)) {
            match v {
                Value::String(s) => scan(path, s),
                Value::Array(a) => a.iter().for_each(|x| walk(x, path, scan)),
                Value::Object(o) => {
                    for (k, x) in o {
                        let at = path.len();
                        if at > 0 {
                            path.push('.');
                        }
                        path.push_str(k);
                        walk(x, path, scan);
                        path.truncate(at);
                    }
                }
                _ => {}
            }
        }
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| e.to_string())?;
            let mut v: Value =
                serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
            if let Value::Object(o) = &mut v {
                o.retain(|k, _| !encrypted.contains(k));
            }
            walk(&v, &mut String::new(), &mut scan);
        }
    }
    Ok(hits)
}

fn count_rows(path: &Path) -> std::result::Result<u64, String> {
    let name = path.to_string_lossy();
    if name.ends_with(".parquet") {
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let r = parquet::file::reader::SerializedFileReader::new(f).map_err(|e| e.to_string())?;
        use parquet::file::reader::FileReader;
        Ok(r.metadata().file_metadata().num_rows() as u64)
    } else {
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut n = 0u64;
        for line in BufReader::new(f).split(b'\n') {
            line.map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok(n)
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            list_files(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The re-scan reads the fields the run scanned, by path, and no others.
    #[test]
    fn residual_rescan_reads_the_fields_the_run_scanned() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("part-00000.jsonl");
        std::fs::write(
            &part,
            "{\"user_id\":\"13812345678\",\"meta\":{\"note\":\"call 13812345678\"},\"m\":[{\"c\":\"13812345678\"}]}\n",
        )
        .unwrap();
        let detector = Detector::new(&DetectConfig::default());
        let hits =
            |fields: Option<&[String]>| residual_hits(&part, &detector, &[], fields).unwrap();
        assert_eq!(hits(None), 3);
        assert_eq!(hits(Some(&["meta.note".into()])), 1);
        assert_eq!(hits(Some(&["m.c".into(), "meta.note".into()])), 2);
        assert_eq!(hits(Some(&[])), 0);
        assert_eq!(
            residual_hits(&part, &detector, &["user_id".into()], None).unwrap(),
            2
        );
    }
}
