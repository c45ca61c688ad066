//! `keep = "first"` with the index bounded by `memory_mb`, in one pass over the input.
//!
//! Each batch is judged as the in-memory barrier judges it, against an in-memory
//! generation of the index (every record since the last freeze), and then held: its
//! data in a temporary file as Arrow IPC (`Held`), the rest in memory. A generation's
//! tables and vectors are sized up front for as many records as half of `memory_mb`
//! holds (`start_generation`; grown by doubling, they filled the budget at 139,264
//! records at the default `memory_mb`, sized up front they hold 180,224); when the next
//! batch would take it past them (or past half of `memory_mb`) it is settled and frozen:
//! - its records' exact hashes are merge-joined against the frozen generations' sorted
//!   hash runs, and its LSH slots against their sorted band sections (`FrozenLsh`), so a
//!   record finds the earliest earlier match wherever it is;
//! - its records are resolved in input order (an earlier frozen match wins over one in
//!   the generation), their drops written to `dedup_clusters.jsonl` and kept as a drop
//!   list (`settled`);
//! - it is written out (hash run, band sections, slot records, record locations) and
//!   its vectors emptied for the next; the last generation, at the end of the input,
//!   is not written out (`settle_last`: nothing is probed against it);
//! - the held batches go on, in input order, without the rows of the drop list.
//!
//! A sharded run's `dedup` step (`decide_all`) judges the saved signatures the same way
//! and splits the whole drop list by shard. The decision differs
//! from the one-pass one only where a generation boundary falls: a bucket holds the
//! earliest `max_bucket` records of each generation (so a probe may look at more
//! candidates, never fewer), and a record that is an exact copy of a frozen one is in
//! its generation's LSH index (it can only add matches identical to its original's).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use arrow::array::{BooleanArray, RecordBatch};
use rustc_hash::FxHashMap;

use super::{count_probe, BatchSignatures, DedupIndex, DocMeta, Mode, Verdict, NONE};
use crate::engine::batch::Batch;
use crate::engine::{Findings, PassOn};
use crate::error::{Error, Result};
use crate::stages::lsh::{FrozenLsh, LshIndex, Probe};

/// Frozen records' locations a settle keeps for the drops that match them.
const LOCATIONS_KEPT: usize = 1 << 15;

/// A record of the current generation as the first pass left it.
#[derive(Clone, Copy)]
pub(super) enum Pending {
    /// An exact copy of the generation's record with this ordinal.
    Exact(u32),
    /// A near copy of an earlier record in the generation (ordinal, similarity).
    Near(u32, f64),
    /// No match in the generation.
    New,
}

/// Bytes of a frozen record location: file, line, root, id start, id length.
const DOC_BYTES: usize = 4 + 8 + 4 + 8 + 4;
/// An id length meaning "no id".
const NO_ID: u32 = u32::MAX;
/// Bytes of rows held on disk per MiB of `memory_mb` (256 MiB: 2 GiB).
const HELD_PER_MEMORY_MB: u64 = 8 << 20;
/// Bytes of an exact-hash run entry: the hash, the ordinal.
const HASH_BYTES: usize = 16 + 4;

pub(super) struct Bounded {
    pub memory_mb: u64,
    /// Bytes the in-memory generation may take: half of `memory_mb`; the rest is for
    /// settling it (its candidate pairs with the frozen generations, 8 bytes each, a
    /// few dozen per record).
    budget: usize,
    /// Records a generation holds at most: as many as its presized tables and vectors
    /// take within `budget` (`DedupIndex::start_generation`).
    records: usize,
    pub pending: Vec<Pending>,
    lsh: FrozenLsh,
    /// Sorted (hash, ordinal) runs, one per frozen generation.
    exact_runs: Vec<File>,
    /// The temporary files, created when the stage opens.
    files: Option<Files>,
    ids_len: u64,
    /// The drops of the settled generations not yet applied to held batches (all of
    /// them in a sharded run's step), (file, line) in input order.
    settled: VecDeque<(u32, u64)>,
    held: Option<Held>,
    /// Bytes of rows a generation may hold on disk (`HELD_PER_MEMORY_MB` per MiB of
    /// `memory_mb`): long records fill the disk before they fill the index, so a
    /// generation also settles when its held rows reach this.
    held_limit: u64,
    /// Generations settled because of `held_limit`.
    pub settled_for_disk: usize,
    /// Generations settled short of their records because their memory outgrew the
    /// budget: none, when the presizing holds (a long id per record can still do it); a
    /// run that has some says so once in a warning.
    pub settled_for_memory: usize,
    /// Whether the last generation has settled: it is never frozen (nothing is probed
    /// against it), so it counts apart from the frozen ones.
    last_settled: bool,
    pub peak_bytes: usize,
}

struct Files {
    /// Frozen record locations (`DOC_BYTES` each, by ordinal) and their ids.
    docs: File,
    ids: File,
}

impl Bounded {
    /// Creates the temporary files (when the stage opens, not when the plan is built).
    pub fn open(&mut self) -> Result<()> {
        if self.files.is_none() {
            self.files = Some(Files {
                docs: temp()?,
                ids: temp()?,
            });
        }
        Ok(())
    }

    fn files(&self) -> &Files {
        self.files.as_ref().expect("opened before the first batch")
    }
}

fn temp() -> Result<File> {
    let dir = std::env::temp_dir();
    tempfile::tempfile_in(&dir)
        .map_err(|e| Error::io("dedup: cannot create a file for the index in", &dir, e))
}

/// The next fixed-size entry of a temporary file read in order (None at its end).
fn next_entry<const N: usize>(r: &mut BufReader<File>) -> Result<Option<[u8; N]>> {
    if r.fill_buf().map_err(|e| io_error("read", e))?.is_empty() {
        return Ok(None);
    }
    let mut b = [0u8; N];
    r.read_exact(&mut b).map_err(|e| io_error("read", e))?;
    Ok(Some(b))
}

fn io_error(what: &str, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("dedup: cannot {what} the index's temporary files"),
        source,
    }
}

impl Bounded {
    pub fn new(memory_mb: u64) -> Self {
        Bounded {
            memory_mb,
            budget: (memory_mb.saturating_mul(1 << 20) / 2) as usize,
            records: usize::MAX,
            pending: Vec::new(),
            lsh: FrozenLsh::with_memory(memory_mb),
            exact_runs: Vec::new(),
            files: None,
            ids_len: 0,
            settled: VecDeque::new(),
            held: None,
            held_limit: memory_mb.max(1).saturating_mul(HELD_PER_MEMORY_MB),
            settled_for_disk: 0,
            settled_for_memory: 0,
            peak_bytes: 0,
            last_settled: false,
        }
    }

    /// Settles whose candidate pairs passed their share of `memory_mb`, and the sorted
    /// runs on disk they took.
    pub fn pair_runs(&self) -> (usize, usize) {
        (self.lsh.settles_past_pair_budget, self.lsh.pair_runs)
    }

    pub fn generations(&self) -> usize {
        self.exact_runs.len() + usize::from(self.last_settled)
    }

    /// The frozen record `ord`: file, line, root and id.
    fn doc(&self, ord: u32) -> Result<(u32, u64, u32, Option<String>)> {
        let mut b = [0u8; DOC_BYTES];
        self.files()
            .docs
            .read_exact_at(&mut b, u64::from(ord) * DOC_BYTES as u64)
            .map_err(|e| io_error("read", e))?;
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let (file, line, root, start, len) =
            (u32_at(0), u64_at(4), u32_at(12), u64_at(16), u32_at(24));
        let id = if len == NO_ID {
            None
        } else {
            let mut bytes = vec![0u8; len as usize];
            self.files()
                .ids
                .read_exact_at(&mut bytes, start)
                .map_err(|e| io_error("read", e))?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok((file, line, root, id))
    }

    /// The drops decided so far (a sharded run's step, after the last generation).
    pub fn take_settled(&mut self) -> Vec<(u32, u64)> {
        std::mem::take(&mut self.settled).into()
    }

    /// Whether the rows of a batch (its file and lines) are kept, consuming their
    /// drops from the front of `settled`.
    fn keep(&mut self, file: u32, origins: &[u64]) -> Vec<bool> {
        origins
            .iter()
            .map(|&o| {
                let dropped = self.settled.front() == Some(&(file, o));
                if dropped {
                    self.settled.pop_front();
                }
                !dropped
            })
            .collect()
    }

    /// After the last batch: every batch released, every drop applied.
    pub fn check_done(&self) -> Result<()> {
        if let Some(h) = self.held.as_ref().filter(|h| !h.batches.is_empty()) {
            return Err(Error::Internal(format!(
                "dedup: {} batches still held after the last batch",
                h.batches.len()
            )));
        }
        if !self.settled.is_empty() {
            return Err(Error::Internal(format!(
                "dedup: {} drops decided for rows never passed on",
                self.settled.len()
            )));
        }
        Ok(())
    }
}

/// The batches of the generation being judged, in input order: their data in a
/// temporary file (one Arrow IPC stream per batch, so a batch whose schema differs
/// needs nothing special), the rest (origins, rejections, findings of the row stages)
/// in memory, which is small beside the data.
struct Held {
    file: BufWriter<File>,
    /// Bytes of the held batches' data (in memory, as Arrow counts it).
    bytes: u64,
    /// Each batch, and whether its data is in the file (a batch without rows is not).
    batches: VecDeque<(Batch, bool)>,
}

impl Held {
    fn new() -> Result<Held> {
        Ok(Held {
            file: BufWriter::with_capacity(1 << 20, temp()?),
            bytes: 0,
            batches: VecDeque::new(),
        })
    }

    fn push(&mut self, mut batch: Batch) -> Result<()> {
        let spilled = batch.num_rows() > 0;
        if spilled {
            let schema = batch.data.schema();
            let data = std::mem::replace(&mut batch.data, RecordBatch::new_empty(schema.clone()));
            self.bytes += data.get_array_memory_size() as u64;
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut self.file, &schema)?;
            w.write(&data)?;
            w.finish()?;
        }
        self.batches.push_back((batch, spilled));
        Ok(())
    }

    /// Every held batch with its data back, in order, one at a time; the file emptied
    /// for the next generation.
    fn drain(&mut self, mut each: impl FnMut(Batch) -> Result<()>) -> Result<()> {
        self.file.flush().map_err(|e| io_error("write", e))?;
        let f = self.file.get_mut();
        f.rewind().map_err(|e| io_error("read", e))?;
        let mut r = BufReader::with_capacity(1 << 20, &*f);
        while let Some((mut batch, spilled)) = self.batches.pop_front() {
            if spilled {
                let stream = arrow::ipc::reader::StreamReader::try_new(&mut r, None)?;
                // SAFETY: the bytes are what `push` wrote from valid arrays moments ago,
                // in this process, into an unlinked temporary file no one else can
                // name; validating them again (every string's UTF-8 above all) was 1.3 %
                // of the 1 GiB pipeline's CPU time.
                let mut stream = unsafe { stream.with_skip_validation(true) };
                batch.data = stream.next().ok_or_else(|| {
                    Error::Internal("dedup: a held batch is missing from its file".into())
                })??;
                if stream.next().is_some() {
                    return Err(Error::Internal(
                        "dedup: a held batch's stream went on".into(),
                    ));
                }
            }
            each(batch)?;
        }
        drop(r);
        self.bytes = 0;
        // Rewound, not truncated: the next generation's batches overwrite these bytes,
        // whose pages are still in the page cache. Truncated, every generation wrote
        // into new pages, each one allocated (and, on a VM that reports free pages to
        // its host, faulted in again by the host) as the file grew back. Bytes past
        // the next generation's end are never read: `drain` reads as many streams as
        // were pushed. The file stays as long as the largest generation's batches.
        f.rewind().map_err(|e| io_error("write", e))
    }
}

impl DedupIndex {
    /// Bytes the in-memory generation holds.
    pub(super) fn generation_bytes(&self) -> usize {
        let pending = self
            .bounded
            .as_ref()
            .map_or(0, |b| b.pending.capacity() * std::mem::size_of::<Pending>());
        self.docs.capacity() * std::mem::size_of::<DocMeta>()
            + self.id_arena.capacity()
            + self.exact.capacity() * (16 + 4 + 1)
            + self.lsh.as_ref().map_or(0, |l| l.bytes())
            + pending
    }

    /// A record's file, line, root and id, from memory or a frozen generation.
    pub(super) fn doc_meta(&self, ord: u32) -> Result<(u32, u64, u32, Option<String>)> {
        if ord < self.docs_base {
            let b = self
                .bounded
                .as_ref()
                .expect("frozen records in bounded mode only");
            return b.doc(ord);
        }
        let i = (ord - self.docs_base) as usize;
        let d = &self.docs[i];
        let start = if i == 0 {
            0
        } else {
            self.docs[i - 1].id_end as usize
        };
        let id = d
            .has_id
            .then(|| self.id_arena[start..d.id_end as usize].to_string());
        Ok((d.file, d.line, d.root, id))
    }

    /// One batch: judged, then held until its generation settles (full, or holding
    /// `held_limit` bytes of rows); then every held batch goes on, in input order.
    pub(super) fn hold_bounded(
        &mut self,
        mut batch: Batch,
        f: &mut Findings,
        out: &mut PassOn<'_>,
    ) -> Result<()> {
        if let Some(sigs) = batch.attachments[self.index].take() {
            let sigs = sigs
                .downcast::<BatchSignatures>()
                .map_err(|_| Error::Internal("dedup: attachment of another stage".into()))?;
            self.observe_any((batch.file, &batch.origins), &sigs, f)?;
        }
        let b = self.bounded.as_mut().expect("bounded mode");
        if b.held.is_none() {
            b.held = Some(Held::new()?);
        }
        let held = b.held.as_mut().expect("just made");
        held.push(batch)?;
        if held.bytes > b.held_limit && !self.docs.is_empty() {
            b.settled_for_disk += 1;
            self.settle(f)?;
        }
        // No record of the generation in memory: every held row is decided.
        if self.docs.is_empty() {
            self.release_held(out)?;
        }
        Ok(())
    }

    /// The held batches, without the rows the settled generations dropped.
    pub(super) fn release_held(&mut self, out: &mut PassOn<'_>) -> Result<()> {
        let b = self.bounded.as_mut().expect("bounded mode");
        let Some(mut held) = b.held.take() else {
            return Ok(());
        };
        tracing::debug!(
            batches = held.batches.len(),
            drops = b.settled.len(),
            "dedup: the batches held for a generation go on"
        );
        let result = held.drain(|mut batch| {
            let keep = b.keep(batch.file, &batch.origins);
            if keep.iter().any(|k| !k) {
                batch.drop_duplicates(&BooleanArray::from(keep))?;
            }
            out(batch)
        });
        b.held = Some(held);
        result
    }

    /// One batch's verdicts against the in-memory generation, kept until it settles
    /// (which it does here once another batch would take it past its records or
    /// once it outgrows its budget).
    pub(super) fn observe_bounded(
        &mut self,
        verdicts: Vec<Verdict>,
        f: &mut Findings,
    ) -> Result<()> {
        // A generation settles when one more batch like this one would take it past
        // its records.
        let batch = verdicts.len();
        let b = self.bounded.as_mut().expect("bounded mode");
        for v in verdicts {
            b.pending.push(match v {
                Verdict::Empty => continue,
                Verdict::Exact(m) => Pending::Exact(m),
                Verdict::Added(_, Some((m, j))) => Pending::Near(m, j),
                Verdict::Added(_, None) => Pending::New,
            });
        }
        let bytes = self.generation_bytes();
        let b = self.bounded.as_mut().expect("bounded mode");
        b.peak_bytes = b.peak_bytes.max(bytes);
        let full = self.docs.len() + batch > b.records;
        if bytes > b.budget || full {
            if !full {
                b.settled_for_memory += 1;
                if b.settled_for_memory == 1 {
                    tracing::warn!(
                        records = self.docs.len(),
                        planned = b.records,
                        bytes,
                        budget = b.budget,
                        "dedup: a generation outgrew its half of memory_mb before it was full; \
                         it settles early (more generations, each settle slower): the report's \
                         bounded_index.settled_for_memory counts them"
                    );
                }
            }
            self.settle(f)?;
        }
        Ok(())
    }

    /// Records a generation holds in `budget` with its tables and vectors presized
    /// (`start_generation`): the most over the band tables' sizes (a power of two each,
    /// at most 3/4 full), with a tenth of the budget left for what varies (ids, buckets
    /// of several records).
    pub(super) fn generation_records(&self) -> usize {
        let b = self.bounded.as_ref().expect("bounded mode");
        let room = b.budget / 10 * 9;
        // Per record: its location and pending verdict, and its exact-hash entry at the
        // map's lowest load (7/16).
        let per_record = std::mem::size_of::<DocMeta>()
            + std::mem::size_of::<Pending>()
            + (std::mem::size_of::<(u128, u32)>() + 1) * 16 / 7;
        let p = &self.params;
        let bytes = |n: usize| {
            n * per_record
                + if p.mode == Mode::Near {
                    LshIndex::reserved_bytes(p.bands, p.num_hashes, n)
                } else {
                    0
                }
        };
        // The largest count that fits: `bytes` grows with it (by steps at the tables'
        // sizes), so a binary search.
        let (mut lo, mut hi) = (0usize, room);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if bytes(mid) <= room {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo.max(1)
    }

    /// Sizes an empty generation for `generation_records` records up front.
    pub(super) fn start_generation(&mut self) {
        let n = self.generation_records();
        self.docs.reserve_exact(n);
        self.exact.reserve(n);
        if let Some(lsh) = self.lsh.as_mut() {
            lsh.reserve(n);
        }
        let b = self.bounded.as_mut().expect("bounded mode");
        b.pending.reserve_exact(n);
        b.records = n;
    }

    /// Resolves the in-memory generation against the frozen ones, records its drops and
    /// freezes it.
    pub(super) fn settle(&mut self, f: &mut Findings) -> Result<()> {
        self.settle_as(f, false)
    }

    /// After the last record: settles the generation in memory without freezing it
    /// (nothing comes after it to be probed against it: its band sections, slot
    /// records, locations and hashes would be written for nothing, and a next
    /// generation's tables made for nothing). It stays in memory as it is.
    pub(super) fn settle_last(&mut self, f: &mut Findings) -> Result<()> {
        self.settle_as(f, true)
    }

    fn settle_as(&mut self, f: &mut Findings, last: bool) -> Result<()> {
        let n = self.docs.len();
        let b = self.bounded.as_ref().expect("bounded mode");
        if n == 0 || b.last_settled {
            return Ok(());
        }
        let base = self.docs_base;
        // The generation's distinct texts (their first record), in hash order.
        let mut hashes: Vec<(u128, u32)> = self.exact.iter().map(|(&h, &o)| (h, o)).collect();
        hashes.sort_unstable();
        let exact_frozen = self.exact_in_frozen(&hashes)?;
        let near_frozen = self.near_in_frozen(&exact_frozen, f, last)?;
        // The matched and kept records' roots and locations, each read once per settle:
        // a frozen record's are two `pread`s, and many drops share one (a cluster's
        // root, a template's first record). Read three times for each drop instead, they
        // were 155 K of the 268 MB pipeline's 245 K `pread` calls (`strace -c`).
        let mut locations: FxHashMap<u32, (u32, Rc<str>)> = FxHashMap::default();
        for i in 0..n {
            let ord = base + i as u32;
            let pending = self.bounded.as_ref().expect("bounded mode").pending[i];
            let found = match pending {
                Pending::Exact(m) => {
                    let x = exact_frozen[(m - base) as usize];
                    Some((if x == NONE { m } else { x }, "exact", 1.0))
                }
                _ if exact_frozen[i] != NONE => Some((exact_frozen[i], "exact", 1.0)),
                _ if near_frozen[i].is_some() => near_frozen[i].map(|(m, j)| (m, "near", j)),
                Pending::Near(m, j) => Some((m, "near", j)),
                Pending::New => None,
            };
            let Some((matched, mode, similarity)) = found else {
                continue;
            };
            let (root, matched_loc) = self.frozen_location(matched, &mut locations)?;
            let kept_loc = if root == matched {
                matched_loc.clone()
            } else {
                self.frozen_location(root, &mut locations)?.1
            };
            self.docs[i].root = root;
            f.add_total(&format!("dropped_{mode}"), 1);
            let dropped = self.doc_location(ord)?;
            self.write_drop(&dropped, (&matched_loc, &kept_loc), root, mode, similarity)?;
            let (file, line) = (self.docs[i].file, self.docs[i].line);
            let b = self.bounded.as_mut().expect("bounded mode");
            b.settled.push_back((file, line));
        }
        if last {
            self.bounded.as_mut().expect("bounded mode").last_settled = true;
        } else {
            self.freeze(&hashes, &exact_frozen)?;
        }
        tracing::debug!(
            last,
            generation = self.bounded.as_ref().map_or(0, |b| b.generations()),
            records = n,
            "dedup: a generation of the index settled (and frozen unless last)"
        );
        Ok(())
    }

    /// A record's root and location, through `cache` (at most `LOCATIONS_KEPT`).
    fn frozen_location(
        &self,
        ord: u32,
        cache: &mut FxHashMap<u32, (u32, Rc<str>)>,
    ) -> Result<(u32, Rc<str>)> {
        if let Some((root, loc)) = cache.get(&ord) {
            return Ok((*root, loc.clone()));
        }
        let (file, line, root, id) = self.doc_meta(ord)?;
        let loc: Rc<str> = self.location(file, line, id.as_deref()).into();
        // Bounded (a few MB at most) whatever a generation's drops: emptied when full.
        if cache.len() >= LOCATIONS_KEPT {
            cache.clear();
        }
        cache.insert(ord, (root, loc.clone()));
        Ok((root, loc))
    }

    /// Per record of the generation: the frozen record with the same text (NONE if none).
    fn exact_in_frozen(&self, hashes: &[(u128, u32)]) -> Result<Vec<u32>> {
        let base = self.docs_base;
        let mut found = vec![NONE; self.docs.len()];
        let b = self.bounded.as_ref().expect("bounded mode");
        for run in &b.exact_runs {
            let mut r = BufReader::with_capacity(
                1 << 20,
                run.try_clone().map_err(|e| io_error("read", e))?,
            );
            r.rewind().map_err(|e| io_error("read", e))?;
            let next = |r: &mut BufReader<File>| -> Result<Option<(u128, u32)>> {
                let Some(e) = next_entry::<HASH_BYTES>(r)? else {
                    return Ok(None);
                };
                Ok(Some((
                    u128::from_le_bytes(e[..16].try_into().expect("16 bytes")),
                    u32::from_le_bytes(e[16..].try_into().expect("4 bytes")),
                )))
            };
            let mut theirs = next(&mut r)?;
            for &(h, o) in hashes {
                while let Some((th, _)) = theirs {
                    if th >= h {
                        break;
                    }
                    theirs = next(&mut r)?;
                }
                match theirs {
                    None => break,
                    Some((th, x)) if th == h => {
                        let slot = &mut found[(o - base) as usize];
                        if *slot == NONE {
                            *slot = x;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(found)
    }

    /// Per record of the generation: its earliest near match among the frozen records
    /// (records with a frozen exact copy are not probed); freezes the LSH generation.
    fn near_in_frozen(
        &mut self,
        exact_frozen: &[u32],
        f: &mut Findings,
        last: bool,
    ) -> Result<Vec<Option<(u32, f64)>>> {
        let base = self.docs_base;
        let mut found = vec![None; self.docs.len()];
        let (Some(lsh), Some(b)) = (self.lsh.as_mut(), self.bounded.as_mut()) else {
            return Ok(found);
        };
        let first = lsh.base_slot();
        let ask: Vec<bool> = (0..lsh.len())
            .map(|i| exact_frozen[(lsh.ord(first + i as u32) - base) as usize] == NONE)
            .collect();
        let mut work = Probe::default();
        for (ord, m, j) in b
            .lsh
            .settle(lsh, &ask, self.pool.as_ref(), &mut work, last)?
        {
            found[(ord - base) as usize] = Some((m, j));
        }
        count_probe(f, &work);
        Ok(found)
    }

    /// Writes the settled generation out and starts the next.
    fn freeze(&mut self, hashes: &[(u128, u32)], exact_frozen: &[u32]) -> Result<()> {
        let base = self.docs_base;
        let n = self.docs.len();
        let mut b = self.bounded.take().expect("bounded mode");
        let result: Result<()> = (|| {
            let run = temp()?;
            let mut w = BufWriter::with_capacity(1 << 20, &run);
            for &(h, o) in hashes
                .iter()
                .filter(|(_, o)| exact_frozen[(o - base) as usize] == NONE)
            {
                w.write_all(&h.to_le_bytes())
                    .and_then(|_| w.write_all(&o.to_le_bytes()))
                    .map_err(|e| io_error("write", e))?;
            }
            w.flush().map_err(|e| io_error("write", e))?;
            drop(w);
            b.exact_runs.push(run);
            let mut docs = Vec::with_capacity(n * DOC_BYTES);
            for (i, d) in self.docs.iter().enumerate() {
                let start = if i == 0 { 0 } else { self.docs[i - 1].id_end };
                let (id_start, id_len) = if d.has_id {
                    (b.ids_len + start, (d.id_end - start) as u32)
                } else {
                    (0, NO_ID)
                };
                docs.extend_from_slice(&d.file.to_le_bytes());
                docs.extend_from_slice(&d.line.to_le_bytes());
                docs.extend_from_slice(&d.root.to_le_bytes());
                docs.extend_from_slice(&id_start.to_le_bytes());
                docs.extend_from_slice(&id_len.to_le_bytes());
            }
            let files = b.files();
            files
                .docs
                .write_all_at(&docs, u64::from(base) * DOC_BYTES as u64)
                .and_then(|_| files.ids.write_all_at(self.id_arena.as_bytes(), b.ids_len))
                .map_err(|e| io_error("write", e))?;
            b.ids_len += self.id_arena.len() as u64;
            Ok(())
        })();
        self.bounded = Some(b);
        result?;
        self.docs_base += n as u32;
        // Emptied, not freed: the next generation takes as much (`start_generation`),
        // and memory given back and taken again comes as new pages, each zeroed by the
        // kernel (dearer still on a virtual machine that returns freed memory).
        self.docs.clear();
        self.id_arena.clear();
        self.exact.clear();
        self.bounded.as_mut().expect("bounded mode").pending.clear();
        self.start_generation();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn with_drops(drops: &[(u32, u64)]) -> Bounded {
        let mut b = Bounded::new(1);
        b.settled = drops.iter().copied().collect();
        b
    }

    #[test]
    fn held_rows_are_dropped_as_listed_in_order() {
        let mut b = with_drops(&[(0, 3), (0, 7), (1, 0)]);
        assert_eq!(b.keep(0, &[1, 3, 5]), [true, false, true]);
        assert_eq!(b.keep(0, &[7, 9]), [false, true]);
        assert_eq!(b.keep(1, &[0, 1]), [false, true]);
        b.check_done().unwrap();
    }

    #[test]
    fn a_drop_never_met_fails_the_run() {
        let mut b = with_drops(&[(0, 3), (0, 7)]);
        // Line 7 never comes.
        assert_eq!(b.keep(0, &[3, 5, 8]), [false, true, true]);
        let e = b.check_done().unwrap_err().to_string();
        assert!(
            e.contains("1 drops decided for rows never passed on"),
            "{e}"
        );
    }

    fn batch(file: u32, data: RecordBatch) -> Batch {
        let origins = (0..data.num_rows() as u64).collect();
        Batch::new(0, file, data, origins)
    }

    #[test]
    fn held_batches_come_back_in_order_with_their_data() {
        let ints =
            RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)])
                .unwrap();
        let strings = RecordBatch::try_from_iter([(
            "s",
            Arc::new(StringArray::from(vec![Some("a"), None])) as _,
        )])
        .unwrap();
        let mut h = Held::new().unwrap();
        let empty = RecordBatch::new_empty(ints.schema());
        // The file is rewound, not truncated, between generations: a smaller one after
        // a larger one must not read the larger one's bytes past its own end, and a
        // larger one after must overwrite them whole.
        let rounds: [&[&RecordBatch]; 4] = [
            &[&ints, &empty, &strings],
            &[&strings],
            &[&empty],
            &[&ints, &strings, &ints, &strings],
        ];
        for (round, held) in rounds.iter().enumerate() {
            for (i, data) in held.iter().enumerate() {
                h.push(batch(i as u32, (*data).clone())).unwrap();
            }
            let mut back = Vec::new();
            h.drain(|b| {
                back.push(b);
                Ok(())
            })
            .unwrap();
            let files: Vec<u32> = back.iter().map(|b| b.file).collect();
            assert_eq!(
                files,
                (0..held.len() as u32).collect::<Vec<_>>(),
                "round {round}"
            );
            for (b, data) in back.iter().zip(held.iter()) {
                assert_eq!(&b.data, *data, "round {round}");
            }
            assert!(h.batches.is_empty());
        }
    }
}
