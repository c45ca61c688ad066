//! The streaming engine: reader thread → bounded channel → row stages on rayon →
//! sequencer → barrier stages → writer thread.
//!
//! Invariants: memory is bounded by the channel capacities and the batch size, never by
//! the input size; barrier stages and the writer see batches in input order, so output
//! does not depend on the thread count; every row is accounted for (see `run`).

pub mod batch;
pub mod progress;
pub mod residual;
pub mod run;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use batch::Batch;

/// Typed counters a stage reports: per field (`fields["text"]["nfkc_changed"]`) and for
/// the stage as a whole (`totals["cells_changed"]`). Mergeable, so parallel workers can
/// each keep their own and the engine adds them up.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Findings {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub totals: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, BTreeMap<String, u64>>,
    /// What is not a counter: the parameters a stage chose, histograms, semantics notes.
    /// Merged in input order (the sequencer's), so the value of the latest batch wins,
    /// whatever the thread count.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, serde_json::Value>,
}

impl Findings {
    pub fn add_total(&mut self, metric: &str, n: u64) {
        if n > 0 {
            *self.totals.entry(metric.to_string()).or_default() += n;
        }
    }

    pub fn add_field(&mut self, field: &str, metric: &str, n: u64) {
        if n > 0 {
            *self
                .fields
                .entry(field.to_string())
                .or_default()
                .entry(metric.to_string())
                .or_default() += n;
        }
    }

    pub fn set_info(&mut self, key: &str, value: impl Serialize) {
        let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.info.insert(key.to_string(), v);
    }

    pub fn merge(&mut self, other: Findings) {
        self.info.extend(other.info);
        for (k, v) in other.totals {
            *self.totals.entry(k).or_default() += v;
        }
        for (f, m) in other.fields {
            let dst = self.fields.entry(f).or_default();
            for (k, v) in m {
                *dst.entry(k).or_default() += v;
            }
        }
    }
}

/// A stateless stage: a pure function of one batch, run in parallel and out of order.
pub trait RowStage: Send + Sync {
    fn process(&self, batch: Batch, findings: &mut Findings) -> Result<Batch>;
}

/// A stateful stage: sees every batch once, in input order, on one thread. It may drop
/// rows (as duplicates) through `Batch::drop_duplicates`. To see values as they were at
/// its place in the pipeline, it reads what its own row part attached to the batch.
pub trait BarrierStage: Send {
    /// Called once before the first batch, with where the export is being staged.
    fn open(&mut self, _ctx: &StageContext) -> Result<()> {
        Ok(())
    }
    fn process(&mut self, batch: Batch, findings: &mut Findings) -> Result<Batch>;
    /// True when the stage must see the whole input before it can decide about the
    /// first row (dedup keeping the longest copy): the engine then makes a first pass
    /// that runs the row stages up to this one and hands every batch, in input order,
    /// to `observe`, then calls `end_prepass`, then makes the normal pass. Only the
    /// first barrier stage of a pipeline may ask for it, so the rows it observes are
    /// exactly the rows it later processes.
    fn needs_prepass(&self) -> bool {
        false
    }
    fn observe(&mut self, _batch: &mut Batch, _findings: &mut Findings) -> Result<()> {
        Ok(())
    }
    fn end_prepass(&mut self, _findings: &mut Findings) -> Result<()> {
        Ok(())
    }
    /// Called once after the last batch. Returns the files the stage wrote into the
    /// staging directory, so the engine hashes them into the manifest and audit log.
    fn finish(&mut self, _findings: &mut Findings) -> Result<Vec<StageFile>> {
        Ok(Vec::new())
    }
}

/// What a barrier stage may know about the run it is part of.
pub struct StageContext {
    /// The export's staging directory: files written here are committed with the export.
    pub staging: std::path::PathBuf,
    /// Input files by `Batch::file` index: the name shown in reports, and whether rows
    /// are located by line (JSONL) or by row (Parquet).
    pub inputs: Vec<(String, crate::config::Format)>,
    /// The run's id (`--run-id`).
    pub run_id: String,
    /// SHA-256 over the resolved input paths and sizes: the default DP `dataset_id`.
    pub inputs_digest: String,
    /// The pipeline's `name`, for the DP ledger's description of a dataset.
    pub pipeline: String,
}

/// A file a stage wrote into the export, relative to the export root.
pub struct StageFile {
    pub path: String,
    pub rows: Option<u64>,
}

/// One pipeline stage as the engine runs it: a row part, a barrier part, or both.
pub struct StageRunner {
    /// The `type` from the pipeline file.
    pub type_name: &'static str,
    pub row: Option<Box<dyn RowStage>>,
    pub barrier: Option<Box<dyn BarrierStage>>,
}

impl StageRunner {
    pub fn kind(&self) -> &'static str {
        match (&self.row, &self.barrier) {
            (_, Some(_)) => "barrier",
            _ => "row",
        }
    }
}
