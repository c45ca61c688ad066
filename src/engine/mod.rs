//! The streaming engine: reader thread → bounded channel → row stages on rayon →
//! sequencer → barrier stages → writer thread.
//!
//! Invariants: memory is bounded by the channel capacities and the batch size, never by
//! the input size; barrier stages and the writer see batches in input order, so output
//! does not depend on the thread count; every row is accounted for (see `run`).

pub mod batch;
pub mod progress;
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

    pub fn merge(&mut self, other: Findings) {
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
    fn process(&mut self, batch: Batch, findings: &mut Findings) -> Result<Batch>;
    /// Called once after the last batch.
    fn finish(&mut self, _findings: &mut Findings) -> Result<()> {
        Ok(())
    }
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
