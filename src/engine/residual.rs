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
use serde::{Deserialize, Serialize};

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
    /// the pipeline's own (`cfg`, already validated by the stages that declared them),
    /// except the columns an `encrypt` stage turned into ciphertext (`ciphertext`) and
    /// the fields that hold keyed tokens (`tokens`, by path: `user_id`, `meta.author`):
    /// random base64 and hex hold no PII, but now and then a run of them looks like a
    /// name or a phone number, which would refuse an export under `max_residual = 0` at
    /// random.
    pub fn new(
        output: &Schema,
        cfg: &DetectConfig,
        ciphertext: &[String],
        tokens: &[String],
    ) -> Self {
        ResidualScanner {
            paths: string_paths(output)
                .into_iter()
                .filter(|p| {
                    !ciphertext.contains(output.field(p.column).name()) && !tokens.contains(&p.name)
                })
                .collect(),
            detector: Detector::new(cfg),
        }
    }

    pub fn field_names(&self) -> Vec<String> {
        self.paths.iter().map(|p| p.name.clone()).collect()
    }

    /// Records the hits of a batch in `batch.residual`, and the time the scan took in
    /// `batch.residual_time`.
    pub fn scan(&self, batch: &mut Batch) {
        let started = std::time::Instant::now();
        let mut found: Vec<Detection> = Vec::new();
        let mut hits = Vec::new();
        for (pi, path) in self.paths.iter().enumerate() {
            let Some(col) = batch.data.columns().get(path.column) else {
                continue;
            };
            for_each_string(col, &path.steps, &mut |row, s| {
                if !batch.clean.is_empty()
                    && batch
                        .clean
                        .contains(&xxhash_rust::xxh3::xxh3_128(s.as_bytes()))
                {
                    return;
                }
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
        batch.residual_time = started.elapsed();
    }
}

/// The residual scan's totals as `report.json` shows them. A sharded run keeps one per
/// shard and merges them in shard order (`merge`): the same totals and examples as one
/// process.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ResidualTally {
    pub scanned: bool,
    pub fields: Vec<String>,
    pub hits: u64,
    pub by_type: BTreeMap<String, u64>,
    pub by_field: BTreeMap<String, BTreeMap<String, u64>>,
    pub examples_masked: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateResult>,
    /// Seconds the scan took, summed over the worker threads (as a stage's
    /// `cpu_seconds`): it runs the recognizers again on every value a `deidentify`
    /// stage changed and on every string field no such stage vouched for, so it is a
    /// stage's worth of work that no stage's figure shows.
    #[serde(default)]
    pub cpu_seconds: f64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
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

    /// Counts the hits of the rows still in the batch, and the scan's time.
    pub fn add(&mut self, batch: &mut Batch) {
        self.cpu_seconds += std::mem::take(&mut batch.residual_time).as_secs_f64();
        let hits = std::mem::take(&mut batch.residual);
        if hits.is_empty() {
            return;
        }
        let surviving: HashSet<u64> = batch.origins.iter().copied().collect();
        for h in hits {
            if surviving.contains(&h.origin) {
                self.count(h);
            }
        }
    }

    /// Counts one hit of a surviving row.
    fn count(&mut self, h: ResidualHit) {
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
        if ex.len() < EXAMPLES {
            ex.push(h.masked);
        }
    }

    /// Adds the tally of the rows that come after this one's (the next shard's): the
    /// counts add up and the first examples stay first, as one tally of all the rows
    /// would have them. The gate is decided after the merge.
    pub fn merge(&mut self, later: ResidualTally) {
        self.scanned |= later.scanned;
        self.cpu_seconds += later.cpu_seconds;
        if self.fields.is_empty() {
            self.fields = later.fields;
        }
        self.hits += later.hits;
        for (t, n) in later.by_type {
            *self.by_type.entry(t).or_default() += n;
        }
        for (f, types) in later.by_field {
            let mine = self.by_field.entry(f).or_default();
            for (t, n) in types {
                *mine.entry(t).or_default() += n;
            }
        }
        for (t, ex) in later.examples_masked {
            let mine = self.examples_masked.entry(t).or_default();
            let room = EXAMPLES.saturating_sub(mine.len());
            mine.extend(ex.into_iter().take(room));
        }
    }
}

/// Masked examples kept per type.
const EXAMPLES: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::EntityType;
    use proptest::prelude::*;

    const TYPES: [EntityType; 3] = [EntityType::Phone, EntityType::Email, EntityType::Person];

    fn hit(i: usize, t: usize, path: u16) -> ResidualHit {
        ResidualHit {
            origin: i as u64,
            path,
            entity: TYPES[t],
            masked: format!("masked-{i}"),
        }
    }

    fn fields() -> Vec<String> {
        vec!["text".into(), "messages.content".into(), "title".into()]
    }

    #[test]
    fn ciphertext_columns_are_not_scanned() {
        use arrow::datatypes::{DataType, Field};
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("ts", DataType::Utf8, true),
        ]);
        let cfg = DetectConfig::default();
        let all = ResidualScanner::new(&schema, &cfg, &[], &[]);
        assert_eq!(all.field_names(), ["text", "ts"]);
        let some = ResidualScanner::new(&schema, &cfg, &["ts".to_string()], &[]);
        assert_eq!(some.field_names(), ["text"]);
    }

    #[test]
    fn token_fields_are_not_scanned() {
        use arrow::datatypes::{DataType, Field, Fields};
        let meta = Fields::from(vec![
            Field::new("author", DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
        ]);
        let schema = Schema::new(vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new("meta", DataType::Struct(meta), true),
        ]);
        let cfg = DetectConfig::default();
        let tokens = ["user_id".to_string(), "meta.author".to_string()];
        let scanner = ResidualScanner::new(&schema, &cfg, &[], &tokens);
        assert_eq!(scanner.field_names(), ["meta.note"]);
    }

    proptest! {
        /// Tallies of consecutive shards, merged in order, are the tally of all rows,
        /// and a tally survives its JSON (a shard's result file).
        #[test]
        fn shard_tallies_merge_into_the_whole(
            hits in proptest::collection::vec((0usize..3, 0u16..3), 0..60),
            cuts in proptest::collection::vec(0usize..60, 0..5),
        ) {
            let mut whole = ResidualTally::new(fields());
            for (i, &(t, p)) in hits.iter().enumerate() {
                whole.count(hit(i, t, p));
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(hits.len())).collect();
            cuts.sort_unstable();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(hits.len());
            let mut merged = ResidualTally::default();
            for w in bounds.windows(2) {
                let mut shard = ResidualTally::new(fields());
                for (i, &(t, p)) in hits.iter().enumerate().take(w[1]).skip(w[0]) {
                    shard.count(hit(i, t, p));
                }
                let json = serde_json::to_string(&shard).unwrap();
                merged.merge(serde_json::from_str(&json).unwrap());
            }
            prop_assert_eq!(merged, whole);
        }
    }
}
