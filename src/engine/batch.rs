//! `Batch`: a block of rows from one input file, with everything the engine needs to
//! account for them.
//!
//! Invariants: `data`, `origins` and `absent` always describe the same rows in the same
//! order; rows leave a batch only through `Batch::drop_duplicates` (counted) or as
//! rejections made while decoding (counted), so the reconciliation can be checked.

use std::any::Any;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use crate::detect::EntityType;
use crate::error::Result;
use crate::io::quarantine::Rejection;

/// JSON keys that were absent (not null) in the source records, as JSON pointers such as
/// `/meta/rating` or `/messages/1/role`, per row. Arrow has no notion of an absent key, and
/// JSONL → JSONL must keep an explicit null apart from a missing key, so the batch carries
/// them beside the data. Sparse: rows with every key present cost nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AbsentKeys {
    /// (row, pointers), sorted by row.
    entries: Vec<(u32, Vec<String>)>,
}

impl AbsentKeys {
    pub fn push(&mut self, row: u32, pointers: Vec<String>) {
        debug_assert!(self.entries.last().is_none_or(|(r, _)| *r < row));
        if !pointers.is_empty() {
            self.entries.push((row, pointers));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn for_row(&self, row: usize) -> Option<&[String]> {
        self.entries
            .binary_search_by_key(&(row as u32), |(r, _)| *r)
            .ok()
            .map(|i| self.entries[i].1.as_slice())
    }

    /// Keeps the entries of the rows where `keep` is true, renumbered.
    pub fn filter(&self, keep: &BooleanArray) -> AbsentKeys {
        if self.entries.is_empty() {
            return AbsentKeys::default();
        }
        let mut new_index = Vec::with_capacity(keep.len());
        let mut n = 0u32;
        for i in 0..keep.len() {
            new_index.push(n);
            if keep.is_valid(i) && keep.value(i) {
                n += 1;
            }
        }
        let entries = self
            .entries
            .iter()
            .filter(|(r, _)| keep.is_valid(*r as usize) && keep.value(*r as usize))
            .map(|(r, p)| (new_index[*r as usize], p.clone()))
            .collect();
        AbsentKeys { entries }
    }

    /// Forgets the entries of a dropped top-level column.
    pub fn drop_column(&mut self, name: &str) {
        let ptr = format!("/{}", json_pointer_escape(name));
        let nested = format!("{ptr}/");
        for (_, ptrs) in &mut self.entries {
            ptrs.retain(|p| p != &ptr && !p.starts_with(&nested));
        }
        self.entries.retain(|(_, p)| !p.is_empty());
    }

    /// Follows a top-level column rename, so `/old/...` becomes `/new/...`.
    pub fn rename_column(&mut self, from: &str, to: &str) {
        let from_ptr = format!("/{}", json_pointer_escape(from));
        let to_ptr = format!("/{}", json_pointer_escape(to));
        for (_, ptrs) in &mut self.entries {
            for p in ptrs.iter_mut() {
                if p == &from_ptr || p.starts_with(&format!("{from_ptr}/")) {
                    *p = format!("{to_ptr}{}", &p[from_ptr.len()..]);
                }
            }
        }
    }
}

/// RFC 6901 escaping of one reference token.
pub fn json_pointer_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['~', '/']) {
        s.replace('~', "~0").replace('/', "~1").into()
    } else {
        s.into()
    }
}

/// A block of rows from one input file on its way through the stages.
pub struct Batch {
    /// Position in the run's input order: the sequencer restores this order.
    pub index: u64,
    /// Index of the input file in `Plan::inputs`.
    pub file: u32,
    pub data: RecordBatch,
    /// 1-based line (JSONL) or row (Parquet) of each row in its input file.
    pub origins: Vec<u64>,
    pub absent: AbsentKeys,
    /// Records rejected while this batch was decoded.
    pub rejections: Vec<Rejection>,
    /// Rows dropped as duplicates by barrier stages.
    pub duplicates: u64,
    /// Per stage (by position): what a barrier's row part extracted for its barrier part,
    /// so a barrier never reads values that later row stages have changed.
    pub attachments: Vec<Option<Box<dyn Any + Send>>>,
    /// PII still present after the row stages (see `engine::residual`).
    pub residual: Vec<ResidualHit>,
    /// Time the residual scan took on this batch (`ResidualTally::cpu_seconds`).
    pub residual_time: std::time::Duration,
    /// XXH3-128 of the values a `deidentify` stage with the residual scan's own
    /// recognizers scanned and found nothing in: the scan skips a value with one of
    /// these hashes (it would find nothing again), and scans every other value.
    pub clean: rustc_hash::FxHashSet<u128>,
    /// Data subjects of the rows as read (see `evidence::assessment`).
    pub subjects: Vec<SubjectHit>,
}

impl Batch {
    /// A batch of `data` read from input file `file` (rows at `origins`), nothing
    /// attached or rejected yet.
    pub fn new(index: u64, file: u32, data: RecordBatch, origins: Vec<u64>) -> Batch {
        Batch {
            index,
            file,
            data,
            origins,
            absent: AbsentKeys::default(),
            rejections: Vec::new(),
            duplicates: 0,
            attachments: Vec::new(),
            residual: Vec::new(),
            residual_time: std::time::Duration::ZERO,
            clean: Default::default(),
            subjects: Vec::new(),
        }
    }

    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }

    /// Removes the rows where `keep` is false and counts them as duplicates.
    pub fn drop_duplicates(&mut self, keep: &BooleanArray) -> Result<()> {
        let before = self.data.num_rows();
        self.data = filter_record_batch(&self.data, keep)?;
        self.absent = self.absent.filter(keep);
        self.origins = self
            .origins
            .iter()
            .enumerate()
            .filter(|(i, _)| keep.is_valid(*i) && keep.value(*i))
            .map(|(_, o)| *o)
            .collect();
        self.duplicates += (before - self.data.num_rows()) as u64;
        Ok(())
    }
}

/// One detection in the output (`engine::residual`): which row (by origin), which
/// field, which type, and a masked example. Defined here, with the batch that carries
/// it, so the batch sits below the residual scan in the module layers.
#[derive(Debug, Clone)]
pub struct ResidualHit {
    pub origin: u64,
    pub path: u16,
    pub entity: EntityType,
    pub masked: String,
}

/// (origin, fingerprint, sensitive) for one identifier in one row
/// (`evidence::assessment`).
pub type SubjectHit = (u64, u128, bool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_keys_follow_filters_and_renames() {
        let mut a = AbsentKeys::default();
        a.push(1, vec!["/meta/rating".into()]);
        a.push(3, vec!["/meta".into(), "/text".into()]);
        let keep = BooleanArray::from(vec![true, false, true, true]);
        let mut f = a.filter(&keep);
        assert_eq!(f.for_row(0), None);
        assert_eq!(f.for_row(2).unwrap().len(), 2);
        f.rename_column("meta", "m");
        assert_eq!(f.for_row(2).unwrap()[0], "/m");
        assert_eq!(f.for_row(2).unwrap()[1], "/text");
    }

    #[test]
    fn pointer_escaping() {
        assert_eq!(json_pointer_escape("a/b~c"), "a~1b~0c");
        assert_eq!(json_pointer_escape("plain"), "plain");
    }
}
