//! The residual-PII re-scan: after every stage, the text that is about to leave is
//! scanned again with the same recognizers, and the `[gate] max_residual` setting can
//! refuse the export.
//!
//! Split like the stages: the scan runs on the workers after the last row stage
//! (`ResidualScanner::scan`, parallel), and the sequencer counts only the hits of rows
//! that survive the barrier stages (`ResidualTally::add`), matched by their origin line,
//! so a duplicate that dedup drops does not count. Barriers that edit text run after
//! the scan (paragraph dedup only removes text), so the count can only be too high,
//! never too low. Reports hold counts and masked examples, never a value.

use std::collections::{BTreeMap, HashSet};

use arrow::datatypes::Schema;
use serde::Serialize;

use crate::detect::{DetectConfig, Detection, Detector};
use crate::engine::batch::Batch;
use crate::engine::batch::ResidualHit;
use crate::stages::deidentify::mask;
use crate::stages::fields::{for_each_string, string_paths, StringPath};

pub struct ResidualScanner {
    paths: Vec<StringPath>,
    detector: Detector,
}

impl ResidualScanner {
    /// Scans every string field of the output schema with the built-in recognizers and
    /// the pipeline's own (`cfg`, already validated by the stages that declared them).
    pub fn new(output: &Schema, cfg: &DetectConfig) -> Self {
        ResidualScanner {
            paths: string_paths(output),
            detector: Detector::new(cfg),
        }
    }

    pub fn field_names(&self) -> Vec<String> {
        self.paths.iter().map(|p| p.name.clone()).collect()
    }

    /// Records the hits of a batch in `batch.residual`.
    pub fn scan(&self, batch: &mut Batch) {
        let mut found: Vec<Detection> = Vec::new();
        let mut hits = Vec::new();
        for (pi, path) in self.paths.iter().enumerate() {
            let Some(col) = batch.data.columns().get(path.column) else {
                continue;
            };
            for_each_string(col, &path.steps, &mut |row, s| {
                self.detector.detect(s, &mut found);
                for d in &found {
                    hits.push(ResidualHit {
                        origin: batch.origins[row],
                        path: pi as u16,
                        entity: d.entity,
                        masked: mask(&s[d.start..d.end], d.entity),
                    });
                }
            });
        }
        batch.residual = hits;
    }
}

/// The residual scan's totals as `report.json` shows them.
#[derive(Debug, Default, Serialize)]
pub struct ResidualTally {
    pub scanned: bool,
    pub fields: Vec<String>,
    pub hits: u64,
    pub by_type: BTreeMap<String, u64>,
    pub by_field: BTreeMap<String, BTreeMap<String, u64>>,
    pub examples_masked: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateResult>,
}

#[derive(Debug, Serialize)]
pub struct GateResult {
    pub max_residual: u64,
    pub passed: bool,
}

impl ResidualTally {
    pub fn new(fields: Vec<String>) -> Self {
        ResidualTally {
            scanned: true,
            fields,
            ..Default::default()
        }
    }

    /// Counts the hits of the rows still in the batch.
    pub fn add(&mut self, batch: &mut Batch) {
        let hits = std::mem::take(&mut batch.residual);
        if hits.is_empty() {
            return;
        }
        let surviving: HashSet<u64> = batch.origins.iter().copied().collect();
        for h in hits {
            if !surviving.contains(&h.origin) {
                continue;
            }
            let t = h.entity.as_str().to_string();
            self.hits += 1;
            *self.by_type.entry(t.clone()).or_default() += 1;
            *self
                .by_field
                .entry(self.fields[h.path as usize].clone())
                .or_default()
                .entry(t.clone())
                .or_default() += 1;
            let ex = self.examples_masked.entry(t).or_default();
            if ex.len() < 3 {
                ex.push(h.masked);
            }
        }
    }
}
