//! `report.json`: what was found and done, per stage and per field, and the row
//! reconciliation. Counts and masked examples only, never a raw value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::Findings;

pub const REPORT: &str = "report.json";

#[derive(Debug, Serialize)]
pub struct Report {
    pub report_version: u32,
    pub tool: &'static str,
    pub tool_version: &'static str,
    pub run_id: String,
    /// "complete" (or "refused" once export gates exist).
    pub status: String,
    pub pipeline: PipelineInfo,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    pub threads: usize,
    /// The most memory this process held at once (resident set: Linux's `VmHWM`), for
    /// sizing the machine or pod that runs it; absent where the system does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    pub input: InputInfo,
    pub output: OutputInfo,
    pub rows: Rows,
    pub quarantine: QuarantineInfo,
    pub stages: Vec<StageReport>,
    /// The residual-PII re-scan of the export; filled in by the de-identification stage.
    pub residual: serde_json::Value,
    /// Key ids, token scope, custody statement and vault counts, when a stage used keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<crate::crypto::run::KeysReport>,
    /// Per field, the techniques the pipeline applies.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub techniques: std::collections::BTreeMap<String, Vec<String>>,
    /// Data subjects, the year's totals and the cross-border mechanism.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<crate::evidence::assessment::Assessment>,
    /// The gates the pipeline set ([gate]: max_residual, max_mechanism, min_k), so that
    /// `verify` can check the export against them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<serde_json::Value>,
    /// Why the export was refused (with `status = "refused"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PipelineInfo {
    pub name: Option<String>,
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct InputInfo {
    pub format: String,
    /// "declared", "sample (N records)", "scan (N records)" or "parquet".
    pub schema_source: String,
    pub schema: Vec<FieldInfo>,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct FieldInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Debug, Serialize)]
pub struct OutputInfo {
    pub format: String,
    pub schema: Vec<FieldInfo>,
    pub parts: usize,
    pub bytes: u64,
    /// false: an aggregates-only export, whose rows were counted but not written.
    pub rows_written: bool,
}

#[derive(Debug, Default, Serialize, Deserialize, Clone, PartialEq)]
pub struct RowCounts {
    #[serde(rename = "in")]
    pub rows_in: u64,
    pub out: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub blank_lines: u64,
}

impl RowCounts {
    pub fn reconciles(&self) -> bool {
        self.rows_in == self.out + self.duplicates + self.quarantined
    }
    pub fn add(&mut self, o: &RowCounts) {
        self.rows_in += o.rows_in;
        self.out += o.out;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
        self.blank_lines += o.blank_lines;
    }
}

#[derive(Debug, Serialize)]
pub struct FileRows {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(flatten)]
    pub rows: RowCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Rows {
    #[serde(flatten)]
    pub total: RowCounts,
    pub reconciled: bool,
    pub files: Vec<FileRows>,
}

#[derive(Debug, Default, Serialize)]
pub struct QuarantineInfo {
    pub records: u64,
    pub rows: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// Where the raw records were kept (at home; never in the export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_dir: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StageReport {
    pub index: usize,
    #[serde(rename = "type")]
    pub type_name: String,
    pub kind: String,
    /// CPU seconds spent in the stage, summed over threads.
    pub cpu_seconds: f64,
    pub findings: Findings,
}

/// This process's peak resident set so far: `VmHWM` in `/proc/self/status`. Unlike
/// `getrusage`'s `ru_maxrss`, it is the process's own: `ru_maxrss` carries over the
/// peak of the parent's address space at `exec` (so a child of a large test harness
/// reports the harness's peak), `VmHWM` belongs to the address space made at `exec`.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn peak_memory_is_read_and_follows_what_the_process_touched() {
        let before = super::peak_memory_bytes().expect("VmHWM on Linux");
        assert!(before > 0);
        let mut v = vec![0u8; 64 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        std::hint::black_box(&v);
        let after = super::peak_memory_bytes().unwrap();
        assert!(after >= before.max(64 << 20), "{before} then {after}");
    }
}
