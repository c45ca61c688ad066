//! The near-dedup barrier's LSH index (`dedup`, `mode = "near"`): band buckets of
//! bounded size, the 8-bit MinHash sketch and the spilled shingle set of every record in
//! it, and candidate verification.
//!
//! Work per record is bounded by design: a bucket holds at most `max_bucket` records
//! (the earliest; a record that finds a bucket full is left out of that band only), so a
//! probe looks at no more than `bands × max_bucket` records however large the corpus
//! grows. A near duplicate shares about `bands × J^rows` bands with its original (8 of 25
//! at J = 0.8), so it is still found through any band whose bucket took the original;
//! the records left out of every band are counted (`records_unfindable`).
//!
//! Probes only read the index, so the barrier runs a batch's probes on all threads
//! against the index as it stood before the batch, then decides the batch in input
//! order (`probe` with `since` for the records the batch itself added).

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::error::{Error, Result};

/// A bucket value with this bit set is an index into `Buckets::lists`; without it, the
/// bucket's only slot.
const MULTI: u32 = 1 << 31;

/// One band's buckets: band key → value (a slot, or `MULTI` | index into
/// `Buckets::lists`), open addressing with linear probing, 8 bytes an entry.
/// Hand-written because a probe looks up every band of a record at once: it computes all
/// the home positions and prefetches them before probing, so the cache misses of the 25
/// lookups overlap instead of coming one after another as with a general-purpose map
/// (that lookup loop was the largest cost of near dedup at 1 GB).
struct BandTable {
    /// `(key << 32) | value`, or `EMPTY`. Values never reach `u32::MAX`.
    entries: Vec<u64>,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

/// Where a key is, or where it would go.
enum Place {
    Found(usize),
    Vacant(usize),
}

impl BandTable {
    fn new() -> Self {
        BandTable {
            entries: vec![EMPTY; 1024],
            len: 0,
        }
    }

    /// Band keys are hashes already: their low bits pick the home position.
    #[inline]
    fn home(&self, key: u32) -> usize {
        key as usize & (self.entries.len() - 1)
    }

    #[inline]
    fn prefetch(&self, key: u32) {
        prefetch_ptr(self.entries[self.home(key)..].as_ptr());
    }

    #[inline]
    fn place(&self, key: u32) -> Place {
        let mask = self.entries.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                return Place::Vacant(i);
            }
            if (e >> 32) as u32 == key {
                return Place::Found(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn get(&self, key: u32) -> Option<u32> {
        match self.place(key) {
            Place::Found(i) => Some(self.entries[i] as u32),
            Place::Vacant(_) => None,
        }
    }

    fn set(&mut self, i: usize, value: u32) {
        self.entries[i] = (self.entries[i] & !0xFFFF_FFFF) | u64::from(value);
    }

    /// Fills the vacant place `i` (from `place`); the table may grow, so places found
    /// before are stale afterwards.
    fn fill(&mut self, i: usize, key: u32, value: u32) {
        debug_assert!(value != u32::MAX);
        self.entries[i] = (u64::from(key) << 32) | u64::from(value);
        self.len += 1;
        // At most 3/4 full: probes stay within a cache line or two.
        if self.len * 4 > self.entries.len() * 3 {
            let grown = vec![EMPTY; self.entries.len() * 2];
            let old = std::mem::replace(&mut self.entries, grown);
            for e in old.into_iter().filter(|&e| e != EMPTY) {
                if let Place::Vacant(j) = self.place((e >> 32) as u32) {
                    self.entries[j] = e;
                }
            }
        }
    }
}

/// Asks the CPU to start loading the cache line at `p` (a hint: no effect on memory).
#[inline]
fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes no memory, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The band buckets: per band, band key → the slots (records in the index, numbered in
/// input order) with that key. Most keys hold one record, stored inline in the table;
/// larger buckets live in `lists`, in slot order.
struct Buckets {
    tables: Vec<BandTable>,
    lists: Vec<Vec<u32>>,
    cap: usize,
}

impl Buckets {
    fn new(bands: usize, cap: usize) -> Self {
        Buckets {
            tables: (0..bands).map(|_| BandTable::new()).collect(),
            lists: Vec::new(),
            cap,
        }
    }

    fn prefetch(&self, keys: &[u32]) {
        for (t, &key) in self.tables.iter().zip(keys) {
            t.prefetch(key);
        }
    }

    /// Adds `slot` under each band key; returns how many bands took it (a full bucket
    /// does not).
    fn insert(&mut self, keys: &[u32], slot: u32) -> Result<usize> {
        self.prefetch(keys);
        let mut added = 0;
        for (t, &key) in self.tables.iter_mut().zip(keys) {
            match t.place(key) {
                Place::Vacant(i) => {
                    t.fill(i, key, slot);
                    added += 1;
                }
                Place::Found(i) => {
                    let v = t.entries[i] as u32;
                    if v & MULTI == 0 {
                        if self.cap >= 2 {
                            if self.lists.len() as u32 >= MULTI - 1 {
                                return Err(Error::Data(
                                    "dedup: more than 2 147 483 646 LSH buckets with several records; split the input".into(),
                                ));
                            }
                            t.set(i, MULTI | self.lists.len() as u32);
                            self.lists.push(vec![v, slot]);
                            added += 1;
                        }
                    } else {
                        let list = &mut self.lists[(v & !MULTI) as usize];
                        if list.len() < self.cap {
                            list.push(slot);
                            added += 1;
                        }
                    }
                }
            }
        }
        Ok(added)
    }

    /// Appends the slots at or after `since` that share a band key with `keys` (not
    /// sorted; a slot appears once per shared band).
    fn gather(&self, keys: &[u32], since: u32, out: &mut Vec<u32>) {
        self.prefetch(keys);
        for (t, &key) in self.tables.iter().zip(keys) {
            match t.get(key) {
                None => {}
                Some(v) if v & MULTI == 0 && v >= since => out.push(v),
                Some(v) if v & MULTI == 0 => {}
                Some(v) => {
                    let list = &self.lists[(v & !MULTI) as usize];
                    // Slot order: the ones at or after `since` are at the end.
                    let from = list.partition_point(|&s| s < since);
                    out.extend_from_slice(&list[from..]);
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        let tables: usize = self.tables.iter().map(|t| t.entries.capacity() * 8).sum();
        let lists: usize = self
            .lists
            .iter()
            .map(|l| l.capacity() * 4 + std::mem::size_of::<Vec<u32>>())
            .sum();
        tables + lists
    }
}

/// Shingle sets of indexed records, appended to an unlinked temporary file (so it
/// vanishes with the process) and read back for verification.
struct SpillFile {
    file: File,
    flushed: u64,
    pending: Vec<u8>,
}

impl SpillFile {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir();
        let file = tempfile::tempfile_in(&dir).map_err(|e| {
            Error::io(
                "dedup: cannot create a spill file for shingle sets in",
                &dir,
                e,
            )
        })?;
        Ok(SpillFile {
            file,
            flushed: 0,
            pending: Vec::with_capacity(4 << 20),
        })
    }

    fn append(&mut self, set: &[u32]) -> Result<u64> {
        let offset = self.flushed + self.pending.len() as u64;
        for v in set {
            self.pending.extend_from_slice(&v.to_le_bytes());
        }
        if self.pending.len() >= 4 << 20 {
            self.file
                .write_all_at(&self.pending, self.flushed)
                .map_err(|e| spill_error("write", e))?;
            self.flushed += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(offset)
    }

    fn read(&self, offset: u64, len: u32, bytes: &mut Vec<u8>, out: &mut Vec<u32>) -> Result<()> {
        let n = len as usize * 4;
        bytes.resize(n, 0);
        if offset >= self.flushed {
            let start = (offset - self.flushed) as usize;
            bytes.copy_from_slice(&self.pending[start..start + n]);
        } else {
            self.file
                .read_exact_at(bytes, offset)
                .map_err(|e| spill_error("read", e))?;
        }
        out.clear();
        out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.flushed + self.pending.len() as u64
    }
}

fn spill_error(what: &str, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("dedup: cannot {what} the shingle-set spill file"),
        source,
    }
}

/// Exact Jaccard similarity of two sorted, duplicate-free sets.
pub(crate) fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// What the index needs of a record: its band keys, 8-bit sketch and shingle set.
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub keys: &'a [u32],
    pub sketch: &'a [u8],
    pub set: &'a [u32],
}

/// One probe's outcome: the earliest verified match (slot, Jaccard) and the work done.
#[derive(Default, Clone, Copy)]
pub(crate) struct Probe {
    pub matched: Option<(u32, f64)>,
    pub prefiltered: u64,
    pub verified: u64,
    pub rejected: u64,
    /// More distinct candidates than `max_candidates`: only the earliest were looked at.
    pub limited: bool,
}

/// Per-thread buffers of a probe.
#[derive(Default)]
pub(crate) struct Scratch {
    pub candidates: Vec<u32>,
    pub bytes: Vec<u8>,
    pub set: Vec<u32>,
}

/// Settings of the index.
pub(crate) struct LshSettings {
    pub bands: usize,
    pub num_hashes: usize,
    pub threshold: f64,
    /// Sketch agreement below which a candidate is discarded unverified.
    pub prefilter: f64,
    pub max_candidates: usize,
    pub max_bucket: usize,
}

/// The index: buckets, and per slot its ordinal, sketch and spilled set.
pub(crate) struct LshIndex {
    settings: LshSettings,
    buckets: Buckets,
    slot_ord: Vec<u32>,
    /// Per slot: (offset, length) of its shingle set in the spill.
    sets: Vec<(u64, u32)>,
    /// `sketches[slot * num_hashes..]`: 8-bit MinHash values, to discard candidates that
    /// are clearly below the threshold before reading their shingle sets.
    sketches: Vec<u8>,
    spill: SpillFile,
}

impl LshIndex {
    pub fn new(settings: LshSettings) -> Result<Self> {
        Ok(LshIndex {
            buckets: Buckets::new(settings.bands, settings.max_bucket),
            settings,
            slot_ord: Vec::new(),
            sets: Vec::new(),
            sketches: Vec::new(),
            spill: SpillFile::new()?,
        })
    }

    /// The slot the next record added gets.
    pub fn next_slot(&self) -> u32 {
        self.slot_ord.len() as u32
    }

    pub fn ord(&self, slot: u32) -> u32 {
        self.slot_ord[slot as usize]
    }

    /// Adds record `ord`; returns how many bands took it.
    pub fn add(&mut self, ord: u32, q: &Query<'_>) -> Result<usize> {
        let slot = self.next_slot();
        if slot >= MULTI {
            return Err(Error::Data(
                "dedup: more than 2 147 483 647 records in the near-duplicate index; split the input"
                    .into(),
            ));
        }
        let offset = self.spill.append(q.set)?;
        self.sets.push((offset, q.set.len() as u32));
        self.sketches.extend_from_slice(q.sketch);
        self.slot_ord.push(ord);
        self.buckets.insert(q.keys, slot)
    }

    /// The distinct slots at or after `since` sharing a band with `q`, in slot order; at
    /// most `max_candidates` (the earliest; `probe.limited` says some were left out).
    pub fn candidates(&self, q: &Query<'_>, since: u32, out: &mut Vec<u32>, probe: &mut Probe) {
        out.clear();
        self.buckets.gather(q.keys, since, out);
        out.sort_unstable();
        out.dedup();
        if out.len() > self.settings.max_candidates {
            out.truncate(self.settings.max_candidates);
            probe.limited = true;
        }
    }

    /// The exact Jaccard similarity of `q` and the record at `slot` if it reaches the
    /// threshold (after the sketch prefilter).
    pub fn similar(
        &self,
        q: &Query<'_>,
        slot: u32,
        probe: &mut Probe,
        bytes: &mut Vec<u8>,
        set: &mut Vec<u32>,
    ) -> Result<Option<f64>> {
        // Jaccard is at most the ratio of the set sizes: free to check, and it spares the
        // sketch (two cache lines) of most records of a different length.
        let (offset, len) = self.sets[slot as usize];
        let (small, large) = if len as usize <= q.set.len() {
            (len as f64, q.set.len() as f64)
        } else {
            (q.set.len() as f64, len as f64)
        };
        if small < self.settings.threshold * large {
            probe.prefiltered += 1;
            return Ok(None);
        }
        let k = self.settings.num_hashes;
        let theirs = &self.sketches[slot as usize * k..(slot as usize + 1) * k];
        let agree = q.sketch.iter().zip(theirs).filter(|(a, b)| a == b).count();
        if (agree as f64 / k as f64) < self.settings.prefilter {
            probe.prefiltered += 1;
            return Ok(None);
        }
        self.spill.read(offset, len, bytes, set)?;
        let j = jaccard(q.set, set);
        probe.verified += 1;
        if j >= self.settings.threshold {
            Ok(Some(j))
        } else {
            probe.rejected += 1;
            Ok(None)
        }
    }

    /// Asks the CPU to start loading what `similar` reads of `slot`: candidates are
    /// scattered over the index, so each one is a few cache misses, and overlapping
    /// them with the work on the previous ones is most of the probe's speed.
    #[inline]
    fn prefetch(&self, slot: u32) {
        let at = slot as usize;
        prefetch_ptr(self.sets[at..].as_ptr());
        let k = self.settings.num_hashes;
        prefetch_ptr(self.sketches[at * k..].as_ptr());
        prefetch_ptr(self.sketches[(at + 1) * k - 1..].as_ptr());
    }

    /// The earliest record at or after slot `since` whose similarity with `q` reaches the
    /// threshold.
    pub fn probe(&self, q: &Query<'_>, since: u32, s: &mut Scratch) -> Result<Probe> {
        let mut probe = Probe::default();
        let Scratch {
            candidates,
            bytes,
            set,
        } = s;
        self.candidates(q, since, candidates, &mut probe);
        const AHEAD: usize = 4;
        for &c in candidates.iter().take(AHEAD) {
            self.prefetch(c);
        }
        for (i, &c) in candidates.iter().enumerate() {
            if let Some(&next) = candidates.get(i + AHEAD) {
                self.prefetch(next);
            }
            if let Some(j) = self.similar(q, c, &mut probe, bytes, set)? {
                probe.matched = Some((c, j));
                break;
            }
        }
        Ok(probe)
    }

    /// `probe` for each query (None: nothing to probe) against the index as it stands,
    /// on `pool`'s threads when there is one.
    pub fn probe_all(
        &self,
        queries: &[Option<Query<'_>>],
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<Vec<Probe>> {
        use rayon::prelude::*;
        let one = |s: &mut Scratch, q: &Option<Query<'_>>| match q {
            Some(q) => self.probe(q, 0, s),
            None => Ok(Probe::default()),
        };
        match pool {
            Some(pool) => pool.install(|| {
                queries
                    .par_iter()
                    .with_min_len(16)
                    .map_init(Scratch::default, one)
                    .collect()
            }),
            None => {
                let mut s = Scratch::default();
                queries.iter().map(|q| one(&mut s, q)).collect()
            }
        }
    }

    /// Bytes held in memory (the spill excluded).
    pub fn bytes(&self) -> usize {
        self.buckets.bytes()
            + self.slot_ord.capacity() * 4
            + self.sets.capacity() * 16
            + self.sketches.capacity()
    }

    pub fn spill_bytes(&self) -> u64 {
        self.spill.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(bands: usize, cap: usize) -> Buckets {
        Buckets::new(bands, cap)
    }

    proptest::proptest! {
        /// The table answers as a map does, through its growth (keys collide in their
        /// low bits on purpose).
        #[test]
        fn band_table_is_a_map(ops in proptest::collection::vec((0u32..3000, 0u32..1000), 0..3000)) {
            let mut t = BandTable::new();
            let mut model = std::collections::HashMap::new();
            for (k, v) in ops {
                let key = k.wrapping_mul(1 << 20) ^ (k % 7);
                match t.place(key) {
                    Place::Found(i) => t.set(i, v),
                    Place::Vacant(i) => t.fill(i, key, v),
                }
                model.insert(key, v);
            }
            for (&k, &v) in &model {
                proptest::prop_assert_eq!(t.get(k), Some(v));
            }
            proptest::prop_assert_eq!(t.len, model.len());
            proptest::prop_assert_eq!(t.get(12345), model.get(&12345).copied());
        }
    }

    #[test]
    fn buckets_keep_the_earliest_up_to_the_cap() {
        let mut b = buckets(2, 3);
        assert_eq!(b.insert(&[7, 1], 0).unwrap(), 2);
        assert_eq!(b.insert(&[7, 2], 1).unwrap(), 2);
        assert_eq!(b.insert(&[7, 3], 2).unwrap(), 2);
        // Band 0's bucket 7 is full: slot 3 goes into band 1 only.
        assert_eq!(b.insert(&[7, 4], 3).unwrap(), 1);
        let mut out = Vec::new();
        b.gather(&[7, 4], 0, &mut out);
        out.sort_unstable();
        assert_eq!(out, [0, 1, 2, 3]);
        out.clear();
        b.gather(&[7, 9], 1, &mut out);
        assert_eq!(out, [1, 2]);
    }

    #[test]
    fn a_bucket_of_one_refuses_the_second() {
        let mut b = buckets(1, 1);
        assert_eq!(b.insert(&[5], 0).unwrap(), 1);
        assert_eq!(b.insert(&[5], 1).unwrap(), 0);
        let mut out = Vec::new();
        b.gather(&[5], 0, &mut out);
        assert_eq!(out, [0]);
    }

    #[test]
    fn probes_find_the_earliest_match_and_honour_since() {
        let mut idx = LshIndex::new(LshSettings {
            bands: 2,
            num_hashes: 4,
            threshold: 0.8,
            prefilter: 0.0,
            max_candidates: 10,
            max_bucket: 8,
        })
        .unwrap();
        let set: Vec<u32> = (0..10).collect();
        let other: Vec<u32> = (100..110).collect();
        let q = |set| Query {
            keys: &[1, 2],
            sketch: &[0, 0, 0, 0],
            set,
        };
        idx.add(10, &q(&other)).unwrap();
        idx.add(11, &q(&set)).unwrap();
        idx.add(12, &q(&set)).unwrap();
        let mut s = Scratch::default();
        let p = idx.probe(&q(&set), 0, &mut s).unwrap();
        assert_eq!(p.matched.map(|(slot, _)| idx.ord(slot)), Some(11));
        assert_eq!((p.verified, p.rejected), (2, 1));
        let p = idx.probe(&q(&set), 2, &mut s).unwrap();
        assert_eq!(p.matched.map(|(slot, _)| slot), Some(2));
        let all = idx.probe_all(&[None, Some(q(&other))], None).unwrap();
        assert!(all[0].matched.is_none());
        assert_eq!(all[1].matched.map(|(slot, _)| slot), Some(0));
    }
}
