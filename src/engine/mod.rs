//! The streaming engine: reader thread → bounded channel → row stages on rayon →
//! sequencer → barrier stages → writer thread. (The row part of a barrier stage after
//! one that edits values runs in the sequencer, right before its barrier.)
//!
//! Invariants: memory is bounded by the channel capacities and the batch size, never by
//! the input size; barrier stages and the writer see batches in input order, so output
//! does not depend on the thread count; every row is accounted for (see `run`).

pub mod batch;
pub mod partial;
pub mod progress;
pub mod residual;
pub mod run;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use batch::Batch;

/// Typed counters a stage reports: per field (`fields["text"]["nfkc_changed"]`) and for
/// the stage as a whole (`totals["cells_changed"]`). Mergeable, so parallel workers can
/// each keep their own and the engine adds them up.
/// Deserializable too: a sharded run's task carries its stages' findings in its result
/// file, and the home step merges them in shard order.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Findings {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub totals: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, BTreeMap<String, u64>>,
    /// What is not a counter: the parameters a stage chose, histograms, semantics notes.
    /// Merged in input order (the sequencer's), so the value of the latest batch wins,
    /// whatever the thread count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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

/// Where a barrier passes a batch on: through the barriers after it, to the writer.
pub type PassOn<'a> = dyn FnMut(Batch) -> Result<()> + 'a;

/// A stateful stage: sees every batch once, in input order, on one thread. It may drop
/// rows (as duplicates) through `Batch::drop_duplicates`. To see values as they were at
/// its place in the pipeline, it reads what its own row part attached to the batch.
pub trait BarrierStage: Send {
    /// Called once before the first batch, with where the export is being staged.
    fn open(&mut self, _ctx: &StageContext) -> Result<()> {
        Ok(())
    }
    fn process(&mut self, batch: Batch, findings: &mut Findings) -> Result<Batch>;
    /// What the engine calls for each batch: a barrier that cannot decide a batch yet
    /// (dedup with its index bounded by `memory_mb` decides a generation of records at a
    /// time) holds it and passes it on through `out` later, from this call or `release`,
    /// in input order. The others pass it on at once through `process`.
    fn hold(&mut self, batch: Batch, findings: &mut Findings, out: &mut PassOn<'_>) -> Result<()> {
        out(self.process(batch, findings)?)
    }
    /// After the last batch of the pass that writes, before `finish`: the batches still
    /// held, in input order.
    fn release(&mut self, _findings: &mut Findings, _out: &mut PassOn<'_>) -> Result<()> {
        Ok(())
    }
    /// True when the stage must see the whole input before it can decide about the
    /// first row (dedup keeping the longest copy): the engine then makes a first pass
    /// that runs the row stages up to this one and hands every batch, in input order,
    /// to `observe`, then calls `end_prepass`, then makes the normal pass. Only the
    /// first barrier stage of a pipeline may ask for it, so the rows it observes are
    /// exactly the rows it later processes.
    fn needs_prepass(&self) -> bool {
        false
    }
    /// True when the stage changes the values it passes on (paragraph dedup removes
    /// paragraphs), not only which rows: the row part of a later barrier stage (dedup's
    /// signatures) must then see the values after it, so the engine runs that row part
    /// in the barrier chain, right before its barrier, instead of on the worker pool.
    fn edits_values(&self) -> bool {
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
    /// Whether a sharded run can split this barrier: each `map` task runs `process` on
    /// its shard and `save_shard`s the state, and the home step `absorb_shard`s every
    /// shard's in order before `finish`. Only for a barrier that keeps every row as it
    /// is (it aggregates); one that drops rows (dedup) needs its own shuffle.
    fn shardable(&self) -> bool {
        false
    }
    /// Writes the state `process` built from a shard's batches into the task folder
    /// `dir` (files named after the stage's index).
    fn save_shard(&mut self, _dir: &std::path::Path) -> Result<()> {
        Err(crate::error::Error::Internal(
            "this stage cannot be split across shards".into(),
        ))
    }
    /// Whether a sharded run decides this barrier in a step of its own from what its
    /// `recorder`s saved (dedup), rather than splitting it (`shardable`).
    fn decided_apart(&self) -> bool {
        false
    }
    /// A barrier a sharded run decides at home (dedup, which drops rows): the stand-in a
    /// `map` task runs in its place, which records into the task folder `dir` what the
    /// barrier decides on and passes every row on. None for every other barrier.
    fn recorder(&self, _dir: &std::path::Path) -> Result<Option<Box<dyn BarrierStage>>> {
        Ok(None)
    }
    /// The step that decides this barrier apart: reads what every shard's recorder saved
    /// (`signed`: each task folder and its shard's first file in the run), in shard
    /// order, as one process's barrier reads the batches, and writes into `out` what each
    /// shard's `applier` needs, and this stage's own files (returned, as `finish` does).
    fn decide_all(
        &mut self,
        _signed: &[(std::path::PathBuf, u32)],
        _out: &std::path::Path,
        _findings: &mut Findings,
    ) -> Result<Vec<StageFile>> {
        Err(crate::error::Error::Internal(
            "this stage records nothing to decide on".into(),
        ))
    }
    /// What stands in for this barrier in shard `k`'s `apply` task, from what
    /// `decide_all` wrote into `decided`.
    fn applier(&self, _decided: &std::path::Path, _k: usize) -> Result<Box<dyn BarrierStage>> {
        Err(crate::error::Error::Internal(
            "this stage is not decided apart".into(),
        ))
    }
    /// Adds a shard's saved state, as if `process` had seen its batches (shards in order).
    fn absorb_shard(&mut self, _dir: &std::path::Path) -> Result<()> {
        Err(crate::error::Error::Internal(
            "this stage cannot be split across shards".into(),
        ))
    }
}

/// In a sharded run's `apply` task, what stands in for a barrier decided apart that
/// drops rows (dedup): the rows its deciding step chose, by (file index in the shard,
/// origin), are dropped as duplicates.
pub struct DropList {
    drops: std::collections::HashSet<(u32, u64)>,
}

impl DropList {
    /// The drops `write` put in `path`.
    pub fn load(path: &std::path::Path) -> Result<DropList> {
        let bytes =
            std::fs::read(path).map_err(|e| crate::error::Error::io("cannot read", path, e))?;
        Ok(DropList {
            drops: bytes
                .chunks_exact(12)
                .map(|c| {
                    (
                        u32::from_le_bytes(c[..4].try_into().expect("4 bytes")),
                        u64::from_le_bytes(c[4..].try_into().expect("8 bytes")),
                    )
                })
                .collect(),
        })
    }

    /// Writes the drops of one shard (12 bytes each).
    pub fn write(path: &std::path::Path, drops: &[(u32, u64)]) -> Result<()> {
        let mut bytes = Vec::with_capacity(drops.len() * 12);
        for (file, origin) in drops {
            bytes.extend_from_slice(&file.to_le_bytes());
            bytes.extend_from_slice(&origin.to_le_bytes());
        }
        std::fs::write(path, bytes).map_err(|e| crate::error::Error::io("cannot write", path, e))
    }
}

impl BarrierStage for DropList {
    fn process(&mut self, mut batch: Batch, _f: &mut Findings) -> Result<Batch> {
        let file = batch.file;
        let keep: Vec<bool> = batch
            .origins
            .iter()
            .map(|o| !self.drops.contains(&(file, *o)))
            .collect();
        if keep.iter().any(|k| !k) {
            batch.drop_duplicates(&arrow::array::BooleanArray::from(keep))?;
        }
        Ok(batch)
    }
    fn shardable(&self) -> bool {
        true
    }
    fn save_shard(&mut self, _dir: &std::path::Path) -> Result<()> {
        Ok(())
    }
    fn absorb_shard(&mut self, _dir: &std::path::Path) -> Result<()> {
        Ok(())
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
    /// Worker threads of the run (`--threads`), for barriers that parallelise.
    pub threads: usize,
}

/// A file a stage wrote into the export, relative to the export root.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a shard's task reports survives its result file, and findings merged in
    /// shard order are the findings of one pass (counts add, the later info wins).
    #[test]
    fn shard_accounts_round_trip_and_findings_merge_in_order() {
        let mut a = Findings::default();
        a.add_total("cells_changed", 3);
        a.add_field("text", "PERSON", 2);
        a.set_info("threshold", 0.5);
        let mut b = Findings::default();
        b.add_total("cells_changed", 4);
        b.add_field("text", "PERSON", 1);
        b.add_field("title", "EMAIL", 1);
        b.set_info("threshold", 0.7);
        fn back<T: Serialize + serde::de::DeserializeOwned>(v: &T) -> T {
            serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
        }
        assert_eq!(back(&a), a);
        assert_eq!(back(&Findings::default()), Findings::default());
        let mut whole = Findings::default();
        whole.add_total("cells_changed", 7);
        whole.add_field("text", "PERSON", 3);
        whole.add_field("title", "EMAIL", 1);
        whole.set_info("threshold", 0.7);
        let mut merged = back(&a);
        merged.merge(back(&b));
        assert_eq!(merged, whole);

        let counts = crate::evidence::report::RowCounts {
            rows_in: 10,
            out: 7,
            duplicates: 2,
            quarantined: 1,
            blank_lines: 3,
        };
        let json = serde_json::to_string(&counts).unwrap();
        assert!(json.contains("\"in\":10"), "{json}");
        assert_eq!(back(&counts), counts);
        let read = crate::io::source::FileRead {
            file: 2,
            rows: 10,
            blank_lines: 3,
            bytes: 1234,
            sha256: "ab".repeat(32),
            unreadable: Some("truncated gzip stream".into()),
        };
        assert_eq!(back(&read), read);
    }
}
