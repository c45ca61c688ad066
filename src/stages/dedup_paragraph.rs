//! `dedup` with `scope = "paragraph"`: removes repeated paragraphs (boilerplate such as
//! footers, disclaimers, navigation lines) across the corpus while keeping every record.
//!
//! Two passes, both over the values as they reach this barrier: the first counts, per
//! paragraph, how many records contain it (exact 128-bit hashes of the canonical
//! paragraph: a Bloom filter's false positive would delete unique text); the second
//! keeps the first occurrence of every paragraph that appears in at least `min_repeats`
//! records and removes the later ones. Paragraphs that repeat inside one record are
//! left alone. Both passes read the same values, so later row stages may change the
//! text without confusing the counts.
//! Memory: one hash-table entry (16-byte hash + 4-byte count) per distinct paragraph,
//! never the text.

use rustc_hash::{FxHashMap, FxHashSet};
use xxhash_rust::xxh3::xxh3_128;

pub use crate::config::stages::Split;
use crate::engine::batch::Batch;
use crate::engine::{BarrierStage, Findings};
use crate::error::Result;
use crate::stages::fields::{for_each_string, map_strings, StringPath};

/// The count's top bit marks "first occurrence already written" in the second pass.
const EMITTED: u32 = 1 << 31;

pub struct ParagraphDedup {
    paths: Vec<StringPath>,
    split: Split,
    min_repeats: u32,
    canonical: Canonical,
    counts: FxHashMap<u128, u32>,
    in_record: FxHashSet<u128>,
    /// In a sharded run's `apply` task: the counts came from the deciding step (with
    /// EMITTED set for paragraphs an earlier shard holds), so there is no first pass.
    prepared: bool,
}

impl ParagraphDedup {
    pub fn new(
        paths: Vec<StringPath>,
        split: Split,
        min_repeats: u32,
        canonical: Canonical,
    ) -> Self {
        ParagraphDedup {
            paths,
            split,
            min_repeats,
            canonical,
            counts: FxHashMap::default(),
            in_record: FxHashSet::default(),
            prepared: false,
        }
    }

    /// The same stage with other counts (a sharded run's recorder or applier).
    fn with_counts(&self, counts: FxHashMap<u128, u32>, prepared: bool) -> Self {
        ParagraphDedup {
            paths: self.paths.clone(),
            split: self.split,
            min_repeats: self.min_repeats,
            canonical: self.canonical.clone(),
            counts,
            in_record: FxHashSet::default(),
            prepared,
        }
    }
}

type Canonical = std::sync::Arc<dyn Fn(&str) -> String + Send + Sync>;

/// In a sharded run, the per-shard files of paragraph dedup: what each `map` task
/// counted, and what each `apply` task starts from.
const COUNTS_FILE: &str = "paragraph-counts.bin";

fn shard_file(dir: &std::path::Path, k: usize) -> std::path::PathBuf {
    dir.join(format!("paragraphs-{k}.bin"))
}

/// Writes (hash, value) pairs after a leading u64, 20 bytes each.
fn write_counts(
    path: &std::path::Path,
    lead: u64,
    entries: impl Iterator<Item = (u128, u32)>,
) -> Result<()> {
    let mut bytes = lead.to_le_bytes().to_vec();
    for (h, c) in entries {
        bytes.extend_from_slice(&h.to_le_bytes());
        bytes.extend_from_slice(&c.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| crate::error::Error::io("cannot write", path, e))
}

fn read_counts(path: &std::path::Path) -> Result<(u64, Vec<(u128, u32)>)> {
    let bytes = std::fs::read(path).map_err(|e| crate::error::Error::io("cannot read", path, e))?;
    if bytes.len() < 8 || (bytes.len() - 8) % 20 != 0 {
        return Err(crate::error::Error::Data(format!(
            "{}: not a paragraph count file",
            path.display()
        )));
    }
    let lead = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let entries = bytes[8..]
        .chunks_exact(20)
        .map(|c| {
            (
                u128::from_le_bytes(c[..16].try_into().expect("16 bytes")),
                u32::from_le_bytes(c[16..].try_into().expect("4 bytes")),
            )
        })
        .collect();
    Ok((lead, entries))
}

/// Stands in for paragraph dedup in a sharded run's `map` task: counts, as the first
/// pass does, in how many records of the shard each paragraph occurs, and writes the
/// counts (and the paragraphs seen) to `COUNTS_FILE`.
struct ParagraphRecorder {
    inner: ParagraphDedup,
    seen: Findings,
    path: std::path::PathBuf,
}

impl BarrierStage for ParagraphRecorder {
    fn process(&mut self, mut batch: Batch, _f: &mut Findings) -> Result<Batch> {
        self.inner.observe(&mut batch, &mut self.seen)?;
        Ok(batch)
    }

    fn finish(&mut self, _f: &mut Findings) -> Result<Vec<crate::engine::StageFile>> {
        let seen = self
            .seen
            .totals
            .get("paragraphs_seen")
            .copied()
            .unwrap_or(0);
        write_counts(
            &self.path,
            seen,
            self.inner.counts.iter().map(|(h, c)| (*h, *c)),
        )?;
        Ok(Vec::new())
    }
}

/// The paragraph's hash, or None for a blank paragraph (never counted or removed).
fn hash(canonical: &Canonical, unit: &str) -> Option<u128> {
    let c = canonical(unit);
    (!c.is_empty()).then(|| xxh3_128(c.as_bytes()))
}

/// Splits `text` into (unit, separator-after) pieces that concatenate back to `text`.
fn units(text: &str, split: Split) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (end, sep_end) = match split {
            Split::Line => match rest.find('\n') {
                Some(i) => (i, i + 1),
                None => (rest.len(), rest.len()),
            },
            Split::BlankLine => {
                // A unit ends at a line break followed by a blank line; the separator
                // runs over all the blank lines.
                let mut found = None;
                let mut search = 0;
                while let Some(i) = rest[search..].find('\n') {
                    let i = search + i;
                    let after = &rest[i + 1..];
                    let blank = after
                        .find('\n')
                        .is_some_and(|j| after[..j].trim().is_empty());
                    if blank {
                        let mut sep = i + 1;
                        while let Some(j) = rest[sep..].find('\n') {
                            if rest[sep..sep + j].trim().is_empty() {
                                sep += j + 1;
                            } else {
                                break;
                            }
                        }
                        found = Some((i, sep));
                        break;
                    }
                    search = i + 1;
                }
                found.unwrap_or((rest.len(), rest.len()))
            }
        };
        out.push((&rest[..end], &rest[end..sep_end]));
        rest = &rest[sep_end..];
    }
    out
}

impl BarrierStage for ParagraphDedup {
    fn edits_values(&self) -> bool {
        true
    }
    fn needs_prepass(&self) -> bool {
        !self.prepared
    }

    fn decided_apart(&self) -> bool {
        true
    }

    fn recorder(&self, dir: &std::path::Path) -> Result<Option<Box<dyn BarrierStage>>> {
        Ok(Some(Box::new(ParagraphRecorder {
            inner: self.with_counts(FxHashMap::default(), false),
            seen: Findings::default(),
            path: dir.join(COUNTS_FILE),
        })))
    }

    /// Sums the shards' counts (a paragraph's records add up across shards, each record
    /// being in one shard), keeps the repeated paragraphs as the first pass does, and
    /// gives each shard those paragraphs with EMITTED set where an earlier shard holds
    /// one: there the first occurrence was kept already.
    fn decide_all(
        &mut self,
        signed: &[(std::path::PathBuf, u32)],
        out: &std::path::Path,
        f: &mut Findings,
    ) -> Result<Vec<crate::engine::StageFile>> {
        let mut first: FxHashMap<u128, usize> = FxHashMap::default();
        for (k, (dir, _)) in signed.iter().enumerate() {
            let (seen, entries) = read_counts(&dir.join(COUNTS_FILE))?;
            f.add_total("paragraphs_seen", seen);
            for (h, c) in entries {
                let n = self.counts.entry(h).or_default();
                *n = (*n + c).min(EMITTED - 1);
                first.entry(h).or_insert(k);
            }
        }
        self.end_prepass(f)?;
        for k in 0..signed.len() {
            let entries = self
                .counts
                .keys()
                .map(|h| (*h, if first[h] < k { 1 | EMITTED } else { 1 }));
            write_counts(&shard_file(out, k), 0, entries)?;
        }
        self.finish(f)
    }

    fn applier(&self, decided: &std::path::Path, k: usize) -> Result<Box<dyn BarrierStage>> {
        let (_, entries) = read_counts(&shard_file(decided, k))?;
        Ok(Box::new(
            self.with_counts(entries.into_iter().collect(), true),
        ))
    }

    fn shardable(&self) -> bool {
        // An applier (counts prepared) runs in `apply` tasks as a row-by-row edit.
        self.prepared
    }

    fn save_shard(&mut self, _dir: &std::path::Path) -> Result<()> {
        Ok(())
    }

    fn absorb_shard(&mut self, _dir: &std::path::Path) -> Result<()> {
        Ok(())
    }

    fn observe(&mut self, batch: &mut Batch, f: &mut Findings) -> Result<()> {
        // Count each paragraph once per record: collect a record's hashes, then add.
        let mut per_row: Vec<Vec<u128>> = vec![Vec::new(); batch.num_rows()];
        for path in &self.paths {
            for_each_string(
                batch.data.column(path.column),
                &path.steps,
                &mut |row, s| {
                    for (u, _) in units(s, self.split) {
                        if let Some(h) = hash(&self.canonical, u) {
                            per_row[row].push(h);
                        }
                    }
                },
            );
        }
        for hashes in per_row {
            self.in_record.clear();
            for h in hashes {
                f.add_total("paragraphs_seen", 1);
                if self.in_record.insert(h) {
                    let c = self.counts.entry(h).or_default();
                    *c = (*c + 1).min(EMITTED - 1);
                }
            }
        }
        Ok(())
    }

    fn end_prepass(&mut self, f: &mut Findings) -> Result<()> {
        let min = self.min_repeats;
        self.counts.retain(|_, c| *c >= min);
        self.counts.shrink_to_fit();
        f.add_total("repeated_paragraphs", self.counts.len() as u64);
        Ok(())
    }

    fn process(&mut self, mut batch: Batch, f: &mut Findings) -> Result<Batch> {
        let mut columns = batch.data.columns().to_vec();
        let split = self.split;
        let canonical = &self.canonical;
        let counts = &mut self.counts;
        for path in &self.paths {
            let (mut removed, mut bytes, mut changed) = (0u64, 0u64, 0u64);
            let mut edit = |s: &str| -> Option<String> {
                let pieces = units(s, split);
                let mut keep = Vec::with_capacity(pieces.len());
                let mut any = false;
                for (u, _) in &pieces {
                    let drop = match hash(canonical, u).and_then(|h| counts.get_mut(&h)) {
                        Some(c) if *c & EMITTED != 0 => true,
                        Some(c) => {
                            *c |= EMITTED;
                            false
                        }
                        None => false,
                    };
                    any |= drop;
                    keep.push(!drop);
                }
                if !any {
                    return None;
                }
                let mut out = String::with_capacity(s.len());
                for ((u, sep), k) in pieces.iter().zip(keep) {
                    if k {
                        out.push_str(u);
                        out.push_str(sep);
                    } else {
                        removed += 1;
                        bytes += (u.len() + sep.len()) as u64;
                    }
                }
                changed += 1;
                Some(out)
            };
            if let Some(new) = map_strings(&columns[path.column], &path.steps, &mut edit)? {
                columns[path.column] = new;
            }
            f.add_field(&path.name, "paragraphs_removed", removed);
            f.add_field(&path.name, "bytes_removed", bytes);
            f.add_field(&path.name, "values_changed", changed);
            f.add_total("paragraphs_removed", removed);
        }
        batch.data = arrow::array::RecordBatch::try_new(batch.data.schema(), columns)?;
        Ok(batch)
    }

    fn finish(&mut self, f: &mut Findings) -> Result<Vec<crate::engine::StageFile>> {
        f.set_info("scope", "paragraph");
        f.set_info(
            "semantics",
            format!(
                "a paragraph ({}) found in at least {} records is kept where it first \
                 occurs and removed from later records; records are never dropped; two \
                 passes over the input",
                match self.split {
                    Split::Line => "a line",
                    Split::BlankLine => "a block separated by blank lines",
                },
                self.min_repeats
            ),
        );
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_concatenate_back() {
        for text in [
            "a\nb\n\nc",
            "one\n\n\n two \nthree\n",
            "",
            "\n\n",
            "no breaks",
            "中文第一段。\n\n第二段\n第三行",
        ] {
            for split in [Split::Line, Split::BlankLine] {
                let u = units(text, split);
                let joined: String = u.iter().map(|(a, b)| format!("{a}{b}")).collect();
                assert_eq!(joined, text, "{split:?}");
            }
        }
        let b: Vec<&str> = units("a\nb\n\n\nc", Split::BlankLine)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(b, ["a\nb", "c"]);
        let l: Vec<&str> = units("a\nb\n\nc", Split::Line)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(l, ["a", "b", "", "c"]);
    }
}
