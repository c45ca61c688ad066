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
use std::io::{Seek, Write};
use std::os::unix::fs::FileExt;

use crate::error::{Error, Result};

/// A bucket value with this bit set is an index into `Buckets::lists`; without it, the
/// bucket's only slot.
const MULTI: u32 = 1 << 31;

/// One band's buckets: band key → value (a slot, or `MULTI` | index into
/// `Buckets::lists`), open addressing with linear probing, 8 bytes an entry: `size`
/// places (a power of two) from `start` of its storage (`Buckets::store`).
///
/// Hand-written because a probe looks up every band of a record at once: it computes all
/// the home positions and prefetches them before probing, so the cache misses of the 25
/// lookups overlap instead of coming one after another as with a general-purpose map
/// (that lookup loop was the largest cost of near dedup at 1 GB). The tables of a
/// bounded index's generation, sized up front, share one allocation so that a settle can
/// take it whole for its candidate pairs (`Buckets::take_storage`): freed band tables
/// stayed resident in the allocator's heap while the pairs took new memory beside them.
/// Tables that grow (an unbounded index) each have their own, so that each grows when it
/// fills (the bands fill at different rates) and only one is copied at a time.
#[derive(Clone, Copy)]
struct BandTable {
    start: usize,
    size: usize,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

/// Where a key is, or where it would go (an index into the storage).
enum Place {
    Found(usize),
    Vacant(usize),
}

impl BandTable {
    /// The places a table takes to hold `keys` keys without growing (at most 3/4 full).
    fn entries_for(keys: usize) -> usize {
        keys.saturating_mul(4)
            .div_ceil(3)
            .next_power_of_two()
            .max(1024)
    }

    /// Band keys are hashes already: their low bits pick the home position.
    #[inline]
    fn home(&self, key: u32) -> usize {
        self.start + (key as usize & (self.size - 1))
    }

    #[inline]
    fn prefetch(&self, s: &[u64], key: u32) {
        prefetch_ptr(s[self.home(key)..].as_ptr());
    }

    #[inline]
    fn place(&self, s: &[u64], key: u32) -> Place {
        let mask = self.size - 1;
        let mut i = self.home(key) - self.start;
        loop {
            let e = s[self.start + i];
            if e == EMPTY {
                return Place::Vacant(self.start + i);
            }
            if (e >> 32) as u32 == key {
                return Place::Found(self.start + i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Every `(key << 32) | slot` entry, buckets of several slots expanded, sorted.
    /// A key's entries come out together and in slot order (a bucket's list grows in
    /// slot order), so sorting by the key alone (a stable radix sort over four bytes,
    /// not eight) sorts them; checked, with a full sort if ever not so.
    #[cfg(test)]
    fn entries_into(&self, s: &[u64], lists: &[Vec<u32>], out: &mut Vec<u64>) {
        out.clear();
        for &e in s[self.start..self.start + self.size]
            .iter()
            .filter(|&&e| e != EMPTY)
        {
            let (key, v) = (e >> 32, e as u32);
            if v & MULTI == 0 {
                out.push(e);
            } else {
                let list = &lists[(v & !MULTI) as usize];
                out.extend(list.iter().map(|&s| (key << 32) | u64::from(s)));
            }
        }
        sort_by_high_half(out);
    }

    fn get(&self, s: &[u64], key: u32) -> Option<u32> {
        match self.place(s, key) {
            Place::Found(i) => Some(s[i] as u32),
            Place::Vacant(_) => None,
        }
    }

    fn set(s: &mut [u64], i: usize, value: u32) {
        s[i] = (s[i] & !0xFFFF_FFFF) | u64::from(value);
    }

    /// Fills the vacant place `i` (from `place`); whether the table is now more than 3/4
    /// full (the caller grows the tables: probes stay within a cache line or two).
    fn fill(&mut self, s: &mut [u64], i: usize, key: u32, value: u32) -> bool {
        debug_assert!(value != u32::MAX);
        s[i] = (u64::from(key) << 32) | u64::from(value);
        self.len += 1;
        self.len * 4 > self.size * 3
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

/// `prefetch_ptr` for every cache line of a slot's stored sketches (192 bytes with 128
/// hashes: three or four lines).
#[inline]
fn prefetch_stored(stored: &[u8]) {
    for line in stored.chunks(64) {
        prefetch_ptr(line.as_ptr());
    }
    if let Some(last) = stored.last() {
        prefetch_ptr(last);
    }
}

/// The band buckets: per band, band key → the slots (records in the index, numbered in
/// input order) with that key. Most keys hold one record, stored inline in the table;
/// larger buckets live in `lists`, in slot order.
struct Buckets {
    /// Tables sized up front (`for_records`): every band's, one after the other.
    storage: Vec<u64>,
    /// Tables that grow (`new`): each band's own.
    own: Vec<Vec<u64>>,
    tables: Vec<BandTable>,
    lists: Vec<Vec<u32>>,
    cap: usize,
}

impl Buckets {
    /// Buckets whose tables grow as they fill.
    fn new(bands: usize, cap: usize) -> Self {
        let size = BandTable::entries_for(0);
        Buckets {
            storage: Vec::new(),
            own: (0..bands).map(|_| vec![EMPTY; size]).collect(),
            tables: (0..bands)
                .map(|_| BandTable {
                    start: 0,
                    size,
                    len: 0,
                })
                .collect(),
            lists: Vec::new(),
            cap,
        }
    }

    /// The storage band `b`'s table lives in.
    #[inline]
    fn store(&self, b: usize) -> &[u64] {
        if self.own.is_empty() {
            &self.storage
        } else {
            &self.own[b]
        }
    }

    /// Band `b`'s table and the storage it lives in, to change them (over the fields,
    /// so that `cap` and `lists` stay free to use beside them).
    #[inline]
    fn table_in<'a>(
        tables: &'a mut [BandTable],
        storage: &'a mut Vec<u64>,
        own: &'a mut [Vec<u64>],
        b: usize,
    ) -> (&'a mut BandTable, &'a mut Vec<u64>) {
        let s = if own.is_empty() { storage } else { &mut own[b] };
        (&mut tables[b], s)
    }

    /// Buckets whose tables hold `records` records without growing, in `storage`'s
    /// memory (emptied; it grows if it must, and gives back what the tables do not
    /// need).
    ///
    /// The storage comes from the last settle's pairs, which may have grown it past the
    /// tables' size (up to the pair budget, half of `memory_mb`, when buckets fill as
    /// generations freeze). Kept, that capacity counted in the next generation's
    /// bytes (`bytes`) over its budget, so every generation after it settled after
    /// one batch: at 4.3 GB of chat text, from the 14th generation on, 8,192 records
    /// instead of 155,648, and the settles' cost, which grows with the generations
    /// frozen, ran away (`a_table_storage_is_no_larger_than_its_tables`; end to end,
    /// `generations_after_a_large_settle_take_their_records`).
    fn for_records(bands: usize, cap: usize, records: usize, mut storage: Vec<u64>) -> Self {
        let size = BandTable::entries_for(records);
        storage.clear();
        storage.shrink_to(bands * size);
        storage.resize(bands * size, EMPTY);
        Buckets {
            storage,
            own: Vec::new(),
            tables: (0..bands)
                .map(|b| BandTable {
                    start: b * size,
                    size,
                    len: 0,
                })
                .collect(),
            lists: Vec::new(),
            cap,
        }
    }

    /// The tables' memory, for another use (a settle's pairs); the buckets are left
    /// empty, with tables of no places, until made again (`for_records`).
    fn take_storage(&mut self) -> Vec<u64> {
        self.tables.clear();
        self.own = Vec::new();
        self.lists = Vec::new();
        std::mem::take(&mut self.storage)
    }

    /// Band `b`'s table at twice its places, in storage of its own, its entries placed
    /// again (tables sized up front first move to storage of their own, which they
    /// never need: `a_table_sized_for_its_keys_never_grows`).
    fn grow(&mut self, b: usize) {
        if self.own.is_empty() {
            let shared = std::mem::take(&mut self.storage);
            self.own = self
                .tables
                .iter_mut()
                .map(|t| {
                    let own = shared[t.start..t.start + t.size].to_vec();
                    t.start = 0;
                    own
                })
                .collect();
        }
        let t = &mut self.tables[b];
        let old = std::mem::replace(&mut self.own[b], vec![EMPTY; t.size * 2]);
        t.size *= 2;
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            if let Place::Vacant(j) = t.place(&self.own[b], (e >> 32) as u32) {
                self.own[b][j] = e;
            }
        }
    }

    fn prefetch(&self, keys: &[u32]) {
        for (b, (t, &key)) in self.tables.iter().zip(keys).enumerate() {
            t.prefetch(self.store(b), key);
        }
    }

    /// Adds `slot` under each band key; returns how many bands took it (a full bucket
    /// does not).
    fn insert(&mut self, keys: &[u32], slot: u32) -> Result<usize> {
        self.prefetch(keys);
        let mut added = 0;
        for (b, &key) in keys.iter().enumerate().take(self.tables.len()) {
            let (t, s) = Buckets::table_in(&mut self.tables, &mut self.storage, &mut self.own, b);
            match t.place(s, key) {
                Place::Vacant(i) => {
                    if t.fill(s, i, key, slot) {
                        self.grow(b);
                    }
                    added += 1;
                }
                Place::Found(i) => {
                    let v = s[i] as u32;
                    if v & MULTI == 0 {
                        if self.cap >= 2 {
                            if self.lists.len() as u32 >= MULTI - 1 {
                                return Err(Error::Data(
                                    "dedup: more than 2 147 483 646 LSH buckets with several records; split the input".into(),
                                ));
                            }
                            BandTable::set(s, i, MULTI | self.lists.len() as u32);
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
        // In steps, so that the cache misses of one step overlap across the bands: the
        // bucket values; then the list headers of the buckets with several slots; then
        // their slots. (Reading a list as soon as its bucket was found made those two
        // misses one after the other, band after band.)
        const MOST: usize = 64;
        let mut values = [0u32; MOST];
        if keys.len() > MOST {
            for (b, (t, &key)) in self.tables.iter().zip(keys).enumerate() {
                if let Some(v) = t.get(self.store(b), key) {
                    self.gather_value(v, since, out);
                }
            }
            return;
        }
        let mut n = 0;
        for (b, (t, &key)) in self.tables.iter().zip(keys).enumerate() {
            if let Some(v) = t.get(self.store(b), key) {
                if v & MULTI != 0 {
                    prefetch_ptr(&self.lists[(v & !MULTI) as usize]);
                }
                values[n] = v;
                n += 1;
            }
        }
        for &v in &values[..n] {
            if v & MULTI != 0 {
                prefetch_ptr(self.lists[(v & !MULTI) as usize].as_ptr());
            }
        }
        for &v in &values[..n] {
            self.gather_value(v, since, out);
        }
    }

    /// The slots at or after `since` of one bucket's value.
    #[inline]
    fn gather_value(&self, v: u32, since: u32, out: &mut Vec<u32>) {
        if v & MULTI == 0 {
            if v >= since {
                out.push(v);
            }
        } else {
            let list = &self.lists[(v & !MULTI) as usize];
            // Slot order: the ones at or after `since` are at the end.
            let from = if since == 0 {
                0
            } else {
                list.partition_point(|&s| s < since)
            };
            out.extend_from_slice(&list[from..]);
        }
    }

    fn bytes(&self) -> usize {
        let tables =
            self.storage.capacity() * 8 + self.own.iter().map(|t| t.capacity() * 8).sum::<usize>();
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
        if cfg!(target_endian = "little") {
            // The set's memory as it is (bytemuck's safe view of it as bytes): one copy,
            // not a push per value (this runs for every indexed record).
            self.pending.extend_from_slice(bytemuck::cast_slice(set));
        } else {
            for v in set {
                self.pending.extend_from_slice(&v.to_le_bytes());
            }
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

    fn read(&self, offset: u64, len: u32, out: &mut Vec<u32>) -> Result<()> {
        let n = len as usize * 4;
        out.clear();
        out.resize(len as usize, 0);
        // Straight into the set's memory (bytemuck's safe view of it as bytes): a set is
        // read for every verification, so a second copy through a byte buffer cost
        // a pass over gigabytes on a large corpus.
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out.as_mut_slice());
        if offset >= self.flushed {
            let start = (offset - self.flushed) as usize;
            bytes.copy_from_slice(&self.pending[start..start + n]);
        } else {
            self.file
                .read_exact_at(bytes, offset)
                .map_err(|e| spill_error("read", e))?;
        }
        if cfg!(target_endian = "big") {
            out.iter_mut().for_each(|x| *x = u32::from_le(*x));
        }
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
#[cfg(test)]
pub(crate) fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    jaccard_at_least(a, b, 0.0).unwrap_or(0.0)
}

/// The Jaccard similarity of two sorted, duplicate-free sets, or None as soon as it
/// cannot reach `threshold` however the rest of them go (most verified candidates fall
/// short).
///
/// Eight elements of each side at a time while both have eight left: every element of
/// one block against every element of the other (64 equality tests, which the compiler
/// turns into vector compares), then the block whose last element is smaller moves on
/// (both when they are equal). An element is met again only by blocks whose elements
/// are all larger, so each shared element counts once. Hand-written because no crate
/// intersects sorted sets like this with the early exit; measured on sets of 150
/// hashes with a Jaccard near 0.8, 190 ns against 420 for the element-wise merge below
/// (which still does the ends). That merge's steps do not branch on the data: on sets
/// this alike a branch on which side is smaller mispredicts about every other step.
pub(crate) fn jaccard_at_least(a: &[u32], b: &[u32], threshold: f64) -> Option<f64> {
    if a.is_empty() && b.is_empty() {
        return Some(1.0);
    }
    let ratio = |inter: usize| inter as f64 / (a.len() + b.len() - inter) as f64;
    // The best the sets can still do: every element left on the shorter side shared.
    let hopeless = |i: usize, j: usize, inter: usize| {
        ratio(inter + (a.len() - i).min(b.len() - j)) < threshold
    };
    const W: usize = 8;
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i + W <= a.len() && j + W <= b.len() {
        if hopeless(i, j, inter) {
            return None;
        }
        for _ in 0..8 {
            let x: &[u32; W] = a[i..i + W].try_into().expect("W elements");
            let y: &[u32; W] = b[j..j + W].try_into().expect("W elements");
            let mut shared = 0u32;
            for p in x {
                for q in y {
                    shared += u32::from(p == q);
                }
            }
            inter += shared as usize;
            let (last_x, last_y) = (x[W - 1], y[W - 1]);
            i += W * usize::from(last_x <= last_y);
            j += W * usize::from(last_y <= last_x);
            if i + W > a.len() || j + W > b.len() {
                break;
            }
        }
    }
    while i < a.len() && j < b.len() {
        if hopeless(i, j, inter) {
            return None;
        }
        for _ in 0..64 {
            let (x, y) = (a[i], b[j]);
            inter += usize::from(x == y);
            i += usize::from(x <= y);
            j += usize::from(y <= x);
            if i == a.len() || j == b.len() {
                break;
            }
        }
    }
    let j = ratio(inter);
    (j >= threshold).then_some(j)
}

/// How many positions of two sketches hold the same byte: sixteen at a time, each of
/// sixteen one-byte counters adding one per equal byte, which the compiler makes a
/// vector compare and subtract per sixteen bytes (SSE2, in every x86-64). Hand-written
/// because the byte-wise count does not vectorise (a count per byte, a branch each);
/// eight bytes a word by bit tricks (the way before) took 2.3 times as long on 128-byte
/// sketches. A counter takes at most 255 blocks before it is emptied into the total.
fn agreement(a: &[u8], b: &[u8]) -> usize {
    const LANES: usize = 16;
    const BLOCK: usize = 255 * LANES;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut total = 0;
    for (a, b) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        total += ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .filter(|(x, y)| x == y)
            .count();
        let mut acc = [0u8; LANES];
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                acc[i] += u8::from(x[i] == y[i]);
            }
        }
        total += acc.iter().map(|&c| usize::from(c)).sum::<usize>();
    }
    total
}

/// Bytes of a record's count sketch: 128 counts of four bits.
pub(crate) const COUNT_BYTES: usize = 64;

/// How many of `set`'s hashes fall in each of 128 buckets (by their top seven bits),
/// two four-bit counts a byte, low bucket first; a count of 15 means 15 or more. Two
/// sets share at most, per bucket, the smaller of their counts there, so the counts
/// bound their Jaccard similarity from above (`counts_may_match`) without an estimate's
/// error: on the chat corpus, 97 % of the candidates that passed the MinHash sketch
/// and then failed the exact check fail this bound first, without their set being read
/// from the spill.
pub(crate) fn count_sketch(set: &[u32], out: &mut Vec<u8>) {
    let mut counts = [0u8; 2 * COUNT_BYTES];
    for &h in set {
        let b = (h >> 25) as usize;
        counts[b] = counts[b].saturating_add(1);
    }
    out.extend(
        counts
            .chunks_exact(2)
            .map(|c| c[0].min(15) | c[1].min(15) << 4),
    );
}

/// Bytes a record's sketches take with `num_hashes` MinHash values: the 8-bit sketch,
/// then the count sketch.
pub(crate) fn stored_len(num_hashes: usize) -> usize {
    num_hashes + COUNT_BYTES
}

/// Whether sets of `a_len` and `b_len` hashes whose count sketches are `a` and `b` may
/// have a Jaccard similarity of at least `threshold`: the sum over buckets of the
/// smaller count is at least their intersection, and the ratio `jaccard_at_least`
/// computes only grows with it. A bucket full on both sides (15: the count is not
/// known) leaves the bound unknown, and the pair passes. Never false for a pair that
/// reaches the threshold (`count_bound_never_discards_a_match` checks).
#[inline]
fn counts_may_match(a: &[u8], b: &[u8], a_len: usize, b_len: usize, threshold: f64) -> bool {
    debug_assert_eq!((a.len(), b.len()), (COUNT_BYTES, COUNT_BYTES));
    let (mut shared, mut unknown) = (0u32, false);
    // Byte-wise, so that it vectorises: both halves of each byte at once.
    for (&x, &y) in a.iter().zip(b) {
        shared += u32::from((x & 15).min(y & 15)) + u32::from((x >> 4).min(y >> 4));
        let both = x & y;
        unknown |= both & 15 == 15 || both >> 4 == 15;
    }
    if unknown || a_len + b_len == 0 {
        return true;
    }
    let shared = (shared as usize).min(a_len.min(b_len));
    shared as f64 / (a_len + b_len - shared) as f64 >= threshold
}

/// What the index needs of a record: its band keys, sketches and shingle set.
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub keys: &'a [u32],
    /// The 8-bit MinHash sketch, then the count sketch (`LshSettings::stored_len`).
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

impl LshSettings {
    /// Bytes a slot stores for the prefilter: the 8-bit MinHash sketch, then the count
    /// sketch (`count_sketch`).
    pub fn stored_len(&self) -> usize {
        stored_len(self.num_hashes)
    }

    /// Whether a candidate (`len` shingles, `theirs` stored as a slot stores it) may
    /// reach the threshold with a query of `q_len` shingles (`q` stored alike); counts a
    /// discarded one.
    #[inline]
    fn may_match(
        &self,
        q_len: usize,
        q: &[u8],
        len: u32,
        theirs: &[u8],
        probe: &mut Probe,
    ) -> bool {
        // Jaccard is at most the ratio of the set sizes: free to check, and it spares the
        // sketch (two cache lines) of most records of a different length.
        let k = self.num_hashes;
        // The sketch before the count bound: it costs less a pair, and most pairs fail
        // it (counts first made a 1.07 GB run's settle prefilter 2.7-2.8 s instead of
        // 1.9). The bound then discards 97% of the pairs that pass the sketch and would
        // fail the exact check, without reading their sets.
        let pass = self.sizes_may_match(q_len, len)
            && agreement(&q[..k], &theirs[..k]) as f64 / k as f64 >= self.prefilter
            && counts_may_match(&q[k..], &theirs[k..], q_len, len as usize, self.threshold);
        if !pass {
            probe.prefiltered += 1;
        }
        pass
    }

    /// Whether sets of `q_len` and `len` shingles may reach the threshold: Jaccard is at
    /// most the ratio of their sizes.
    #[inline]
    fn sizes_may_match(&self, q_len: usize, len: u32) -> bool {
        let (small, large) = if len as usize <= q_len {
            (len as f64, q_len as f64)
        } else {
            (q_len as f64, len as f64)
        };
        small >= self.threshold * large
    }

    /// The size classes (`size_class`) of the sets a set of `len` shingles may match:
    /// those holding a size that passes `sizes_may_match` with it. The sizes that pass
    /// are one interval around `len` (the ratio falls on both sides of it), and the size
    /// of a class nearest to `len` is the one that passes if any does.
    fn classes_may_match(&self, len: u32) -> (u8, u8) {
        let passes = |c: u8| {
            let (lo, hi) = class_bounds(c);
            self.sizes_may_match(len as usize, len.clamp(lo, hi))
        };
        let own = size_class(len);
        let (mut lo, mut hi) = (own, own);
        while lo > 0 && passes(lo - 1) {
            lo -= 1;
        }
        while hi < u8::MAX && passes(hi + 1) {
            hi += 1;
        }
        (lo, hi)
    }

    /// The exact Jaccard similarity of two sets if it reaches the threshold; counts the
    /// verification.
    fn verify(&self, a: &[u32], b: &[u32], probe: &mut Probe) -> Option<f64> {
        probe.verified += 1;
        let j = jaccard_at_least(a, b, self.threshold);
        if j.is_none() {
            probe.rejected += 1;
        }
        j
    }
}

/// The index: buckets, and per slot its ordinal, sketch and spilled set. Slots are
/// numbered from `base`: a bounded index (`FrozenLsh`) freezes its slots to disk and
/// goes on numbering where they ended.
pub(crate) struct LshIndex {
    settings: LshSettings,
    buckets: Buckets,
    base: u32,
    slot_ord: Vec<u32>,
    /// Bounded mode: per band, each slot's key in it, to probe the frozen generations
    /// with (band-major: a settle reads one band's keys at a time, and a record-major
    /// array made that read a cache miss per key).
    keys: Option<Vec<Vec<u32>>>,
    /// Per slot: (offset, length) of its shingle set in the spill.
    sets: Vec<(u64, u32)>,
    /// `sketches[slot * stored_len..]`: 8-bit MinHash values and the count sketch, to
    /// discard candidates that are clearly below the threshold, or cannot reach it,
    /// before reading their shingle sets.
    sketches: Vec<u8>,
    spill: SpillFile,
    /// Bounded mode, between a settle and the next generation: the memory the settle's
    /// candidate pairs took from the band tables, for the next generation's tables.
    spare: Vec<u64>,
}

impl LshIndex {
    pub fn new(settings: LshSettings) -> Result<Self> {
        Ok(LshIndex {
            buckets: Buckets::new(settings.bands, settings.max_bucket),
            settings,
            base: 0,
            slot_ord: Vec::new(),
            keys: None,
            sets: Vec::new(),
            sketches: Vec::new(),
            spill: SpillFile::new()?,
            spare: Vec::new(),
        })
    }

    /// The slot the next record added gets.
    pub fn next_slot(&self) -> u32 {
        self.base + self.slot_ord.len() as u32
    }

    /// The first slot held in memory (slots before it are frozen).
    pub fn base_slot(&self) -> u32 {
        self.base
    }

    /// Slots held in memory.
    pub fn len(&self) -> usize {
        self.slot_ord.len()
    }

    pub fn ord(&self, slot: u32) -> u32 {
        self.slot_ord[(slot - self.base) as usize]
    }

    /// Keeps each slot's band keys from now on (bounded mode).
    pub fn keep_keys(&mut self) {
        let bands = self.settings.bands;
        self.keys.get_or_insert_with(|| vec![Vec::new(); bands]);
    }

    /// Makes room for `records` more slots up front (an empty generation of a bounded
    /// index): its tables and vectors then take what that many need and never double
    /// on the way, so a generation of a given memory holds more records.
    pub fn reserve(&mut self, records: usize) {
        let s = &self.settings;
        if self.slot_ord.is_empty() {
            let storage = std::mem::take(&mut self.spare);
            self.buckets = Buckets::for_records(s.bands, s.max_bucket, records, storage);
        }
        self.slot_ord.reserve_exact(records);
        self.sets.reserve_exact(records);
        self.sketches.reserve_exact(records * s.stored_len());
        if let Some(keys) = &mut self.keys {
            keys.iter_mut().for_each(|k| k.reserve_exact(records));
        }
    }

    /// Bytes of memory `reserve(records)` takes: the tables, and per record its
    /// ordinal, set location, sketch and (bounded mode) band keys.
    pub fn reserved_bytes(bands: usize, num_hashes: usize, records: usize) -> usize {
        bands * 8 * BandTable::entries_for(records)
            + records * (4 + 16 + num_hashes + COUNT_BYTES + 4 * bands)
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
        debug_assert_eq!(q.sketch.len(), self.settings.stored_len());
        self.sketches.extend_from_slice(q.sketch);
        self.slot_ord.push(ord);
        if let Some(keys) = &mut self.keys {
            debug_assert_eq!(keys.len(), q.keys.len(), "a key per band");
            keys.iter_mut()
                .zip(q.keys)
                .for_each(|(k, &key)| k.push(key));
        }
        self.buckets.insert(q.keys, slot)
    }

    /// Starts loading the band-table entries of `q`'s keys (a hint: the barrier asks for
    /// a record a few ahead of the one it judges, whose lookups and insertion then find
    /// them in cache).
    #[inline]
    pub fn prefetch_keys(&self, q: &Query<'_>) {
        self.buckets.prefetch(q.keys);
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
    /// threshold (after the prefilter).
    pub fn similar(
        &self,
        q: &Query<'_>,
        slot: u32,
        probe: &mut Probe,
        set: &mut Vec<u32>,
    ) -> Result<Option<f64>> {
        let at = (slot - self.base) as usize;
        let (offset, len) = self.sets[at];
        let k = self.settings.stored_len();
        let theirs = &self.sketches[at * k..(at + 1) * k];
        if !self
            .settings
            .may_match(q.set.len(), q.sketch, len, theirs, probe)
        {
            return Ok(None);
        }
        self.spill.read(offset, len, set)?;
        Ok(self.settings.verify(q.set, set, probe))
    }

    /// Asks the CPU to start loading what `similar` reads of `slot`: candidates are
    /// scattered over the index, so each one is a few cache misses, and overlapping
    /// them with the work on the previous ones is most of the probe's speed.
    #[inline]
    fn prefetch(&self, slot: u32) {
        let at = (slot - self.base) as usize;
        prefetch_ptr(self.sets[at..].as_ptr());
        let k = self.settings.stored_len();
        prefetch_stored(&self.sketches[at * k..(at + 1) * k]);
    }

    /// The earliest record at or after slot `since` whose similarity with `q` reaches the
    /// threshold.
    pub fn probe(&self, q: &Query<'_>, since: u32, s: &mut Scratch) -> Result<Probe> {
        let mut probe = Probe::default();
        let Scratch { candidates, set } = s;
        self.candidates(q, since, candidates, &mut probe);
        const AHEAD: usize = 4;
        for &c in candidates.iter().take(AHEAD) {
            self.prefetch(c);
        }
        for (i, &c) in candidates.iter().enumerate() {
            if let Some(&next) = candidates.get(i + AHEAD) {
                self.prefetch(next);
            }
            if let Some(j) = self.similar(q, c, &mut probe, set)? {
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
            + self
                .keys
                .as_ref()
                .map_or(0, |k| k.iter().map(|k| k.capacity() * 4).sum())
            + self.slot_ord.capacity() * 4
            + self.sets.capacity() * 16
            + self.sketches.capacity()
            + self.spare.capacity() * 8
    }

    pub fn spill_bytes(&self) -> u64 {
        self.spill.bytes()
    }
}

/// A slot's record in a frozen generation: its sketch, then its set's offset and length
/// in the spill and its ordinal.
const SLOT_TAIL: usize = 8 + 4 + 4;

/// The first set size of each size class: every size below 64 is a class of its own,
/// then each class is an eleventh wider than the one before, about 9 % (the last, from
/// about a billion, holds every size from its first on). A frozen band entry's class is
/// written beside it (one byte), so a settle's join leaves out the pairs whose sizes
/// alone rule them out (`LshSettings::classes_may_match`) without looking up the frozen
/// record: at 1.07 GB of chat, 42 % of the distinct pairs (a length looked up at random
/// per pair instead cost more than it saved).
const CLASS_STARTS: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut c = 1;
    while c < 256 {
        let prev = t[c - 1] as u64;
        let next = if c <= 64 {
            c as u64
        } else {
            prev + prev.div_ceil(11)
        };
        assert!(next <= u32::MAX as u64, "size classes end below u32::MAX");
        t[c] = next as u32;
        c += 1;
    }
    t
};

/// The size class of a set of `len` shingles (`CLASS_STARTS`).
fn size_class(len: u32) -> u8 {
    (CLASS_STARTS.partition_point(|&start| start <= len) - 1) as u8
}

/// The smallest and largest set size of class `c`.
fn class_bounds(c: u8) -> (u32, u32) {
    let hi = CLASS_STARTS
        .get(c as usize + 1)
        .map_or(u32::MAX, |&next| next - 1);
    (CLASS_STARTS[c as usize], hi)
}

/// One frozen generation: slots `base..base + len`.
struct Generation {
    base: u32,
    len: u32,
    /// Each band's `(key << 32) | slot` entries, sorted; band `b` is entries
    /// `sections[b]..sections[b + 1]`.
    bands: File,
    sections: Vec<u64>,
    /// The size class of each entry of `bands` (`size_class` of its slot's set), one
    /// byte each, at the entry's index.
    classes: File,
    /// `len` slot records (`stored_len + SLOT_TAIL` bytes each).
    slots: File,
}

/// The generations of a bounded index frozen to temporary files (unlinked, so they
/// vanish with the process). They are probed a whole in-memory generation at a time
/// (`settle`): per band, the sorted keys of one merge-join the sorted keys of the
/// other, so the frozen ones are read in order, a chunk at a time, and none is held in
/// memory.
pub(crate) struct FrozenLsh {
    gens: Vec<Generation>,
    /// Most candidate pairs a settle holds in memory: past it they go to sorted runs on
    /// disk, merged as the prefilter reads them. Pairs per record grow with the frozen
    /// generations up to bands × `max_bucket` (800 by default): on 1 M variants of one
    /// notice, 51 M pairs a settle (410 MB) and as many survivors (1.2 GB) before these
    /// budgets.
    pair_budget: usize,
    /// Most prefilter survivors held before they are verified: past it, those held are
    /// verified, and later ones only for records not matched yet (survivors come in
    /// frozen-slot order, so a record's earliest match is still the one found).
    survivor_budget: usize,
    /// Settles whose pairs passed `pair_budget`, and the runs they wrote (the report's).
    pub settles_past_pair_budget: usize,
    pub pair_runs: usize,
    /// The files of earlier settles' runs, written over by later ones: a new file's
    /// pages are new memory, which this kind of virtual machine makes dear (a host
    /// fault per page once the guest has given it back), while pages written over are
    /// still cached. On 1 M template variants (196 MB, four or five runs a settle) the
    /// run's system time went from 24.7 to 14.7 s (of about 83 CPU-seconds).
    spare_runs: Vec<File>,
    /// Entries of a frozen bucket (of one generation, as the join meets it) from which a
    /// record asking it is verified at once against the bucket's first record (`Eager`):
    /// once that matches, none of the record's later candidates is a pair any more.
    hot: usize,
}

/// A bucket this full is hot (`FrozenLsh::hot`). At 16 few of the chat corpus's buckets
/// are (at 1.07 GB about 230 records a settle find their match this way), while one
/// template's variants fill each bucket to `max_bucket` (32) in their first generation.
const HOT_BUCKET: usize = 16;
/// Hot buckets a record is verified against at once, at most.
const EAGER_TRIES: u8 = 2;

impl Default for FrozenLsh {
    fn default() -> Self {
        FrozenLsh {
            gens: Vec::new(),
            pair_budget: usize::MAX,
            survivor_budget: usize::MAX,
            settles_past_pair_budget: 0,
            pair_runs: 0,
            spare_runs: Vec::new(),
            hot: HOT_BUCKET,
        }
    }
}

/// A candidate pair of a frozen probe: `(frozen slot << 32) | local slot`.
type Pair = u64;

/// A frozen candidate that passed the prefilter.
struct Survivor {
    local: u32,
    slot: u32,
    ord: u32,
    offset: u64,
    len: u32,
}

fn write_u64s(w: &mut impl Write, v: &[u64]) -> std::io::Result<()> {
    if cfg!(target_endian = "little") {
        // The entries' memory as it is: one copy, not a call per entry.
        return w.write_all(bytemuck::cast_slice(v));
    }
    for x in v {
        w.write_all(&x.to_le_bytes())?;
    }
    Ok(())
}

/// Entries `at..at + n` of a file of little-endian u64s, read straight into `out`'s
/// memory (bytemuck's safe view of it as bytes; a settle reads every frozen section,
/// and converting through a byte buffer was a pass more over all of them).
fn read_u64s(f: &File, at: u64, n: usize, out: &mut Vec<u64>) -> Result<()> {
    out.clear();
    out.resize(n, 0);
    f.read_exact_at(bytemuck::cast_slice_mut(out.as_mut_slice()), at * 8)
        .map_err(|e| frozen_error("read", e))?;
    if cfg!(target_endian = "big") {
        out.iter_mut().for_each(|x| *x = u64::from_le(*x));
    }
    Ok(())
}

/// One band of an in-memory generation (`keys`, the band key of each of its slots,
/// numbered from `base`), sorted by key: into `mine` its table's entries, `(key << 32) |
/// slot`, and into `q` those `ask` names, `(key << 32) | position`. A bucket takes a
/// generation's slots in slot order up to `cap` (`Buckets::insert`; the first always),
/// so its entries are the first `cap` slots of each key; one sort of the keys (`all`,
/// a buffer) makes both lists, where gathering the entries from the table and sorting
/// them, and sorting `q` apart, was most of a settle's preparation (1.4 of 1.6 s over
/// the 11 settles of the 1.07 GB chat corpus). `band_entries_are_the_tables` checks it
/// against the tables.
fn band_entries(
    keys: &[u32],
    base: u32,
    cap: usize,
    ask: &[bool],
    all: &mut Vec<u64>,
    mine: &mut Vec<u64>,
    q: &mut Vec<u64>,
) {
    all.clear();
    all.extend(
        keys.iter()
            .enumerate()
            .map(|(i, &key)| (u64::from(key) << 32) | i as u64),
    );
    // In slot order already: sorting by the key sorts them.
    sort_by_high_half(all);
    mine.clear();
    q.clear();
    let cap = cap.max(1);
    let mut i = 0;
    while i < all.len() {
        let key = all[i] >> 32;
        let end = run_end(all, i, key);
        let run = &all[i..end];
        mine.extend(
            run[..cap.min(run.len())]
                .iter()
                .map(|&e| (key << 32) | u64::from(base + e as u32)),
        );
        q.extend(run.iter().filter(|&&e| ask[e as u32 as usize]));
        i = end;
    }
}

/// Wall seconds between one call of `seconds` and the next.
struct Lap(std::time::Instant);

impl Lap {
    fn start() -> Lap {
        Lap(std::time::Instant::now())
    }

    fn seconds(&mut self) -> f64 {
        let now = std::time::Instant::now();
        let s = (now - self.0).as_secs_f64();
        self.0 = now;
        s
    }
}

/// The end of the run of entries with key `key` in `v` (sorted by key) from `at`.
fn run_end(v: &[u64], at: usize, key: u64) -> usize {
    at + v[at..].iter().take_while(|&&e| e >> 32 == key).count()
}

/// Writes the earliest entries of each bucket of a sorted section, up to `cap` with the
/// `held[i]` frozen ones of the bucket starting at `i`, and each one's `class` to
/// `classes`; returns how many it wrote.
fn write_capped(
    w: &mut impl Write,
    classes: &mut impl Write,
    section: &[u64],
    held: &[u32],
    cap: usize,
    class: impl Fn(u64) -> u8,
) -> Result<usize> {
    let mut kept = 0;
    let mut i = 0;
    let mut buf = Vec::new();
    while i < section.len() {
        let key = section[i] >> 32;
        let end = run_end(section, i, key);
        let room = cap.saturating_sub(held[i] as usize).min(end - i);
        let entries = &section[i..i + room];
        buf.clear();
        buf.extend(entries.iter().map(|&e| class(e)));
        write_u64s(w, entries)
            .and_then(|_| classes.write_all(&buf))
            .map_err(|e| frozen_error("write", e))?;
        kept += room;
        i = end;
    }
    Ok(kept)
}

fn temp_file() -> Result<File> {
    let dir = std::env::temp_dir();
    tempfile::tempfile_in(&dir).map_err(|e| {
        Error::io(
            "dedup: cannot create a file for the index's generations in",
            &dir,
            e,
        )
    })
}

/// Merge-joins two lists of `(key << 32) | value` sorted by key: for each key in both,
/// calls `each` with the position of the first list's entries with that key, them, and
/// the second list's. Walks the shorter list's keys and gallops through the longer
/// (a frozen section can be many times an in-memory generation's keys).
fn join(a: &[u64], b: &[u64], mut each: impl FnMut(usize, &[u64], &[u64])) {
    if a.len() <= b.len() {
        walk(a, b, |i, xs, _, ys| each(i, xs, ys));
    } else {
        walk(b, a, |_, ys, i, xs| each(i, xs, ys));
    }
}

/// What a join calls for each shared key (see `join`).
type OnKey<'a> = dyn FnMut(usize, &[u64], &[u64]) + 'a;

/// `join(a, long, on_a)` and `join(b, long, on_b)` in one pass when the three lists are
/// of a size: the two merges' loads do not depend on each other, so the processor
/// overlaps them (each merge alone waits on its own loads every step).
fn join_both(
    a: &[u64],
    b: &[u64],
    long: &[u64],
    mut on_a: impl FnMut(usize, &[u64], &[u64]),
    mut on_b: impl FnMut(usize, &[u64], &[u64]),
) {
    let alike = |x: &[u64]| long.len() <= 8 * x.len() && x.len() <= 8 * long.len();
    if !alike(a) || !alike(b) {
        join(a, long, on_a);
        join(b, long, on_b);
        return;
    }
    let run = |v: &[u64], at: usize| run_end(v, at, v[at] >> 32);
    // One merge's step: `i` in `x`, `j` in `long`.
    let step = |x: &[u64], i: &mut usize, j: &mut usize, each: &mut OnKey<'_>| {
        let (p, q) = (x[*i] >> 32, long[*j] >> 32);
        if p == q {
            let (end, long_end) = (run(x, *i), run(long, *j));
            each(*i, &x[*i..end], &long[*j..long_end]);
            (*i, *j) = (end, long_end);
        } else {
            *i += usize::from(p < q);
            *j += usize::from(q < p);
        }
    };
    let (mut i, mut j, mut k, mut l) = (0, 0, 0, 0);
    loop {
        let (live_a, live_b) = (i < a.len() && j < long.len(), k < b.len() && l < long.len());
        if !live_a && !live_b {
            return;
        }
        if live_a {
            step(a, &mut i, &mut j, &mut on_a);
        }
        if live_b {
            step(b, &mut k, &mut l, &mut on_b);
        }
    }
}

/// Sorts `(key << 32) | value` entries whose entries of each key are in value order
/// (wherever they stand): a stable radix sort by the key's four bytes, then a check
/// that the whole is sorted (one pass), with a full sort if not.
fn sort_by_high_half(v: &mut [u64]) {
    radsort::sort_by_key(v, |&e| (e >> 32) as u32);
    if !v.is_sorted() {
        v.sort_unstable();
    }
}

/// `join(q, long, on_q)` and `join(mine, long, on_mine)` when every key of `q` is a key
/// of `mine` (`keys_within`): one merge of `mine` against `long`, and `q`'s entries of
/// each shared key found from a cursor that only moves forward. A settle's asked slots'
/// keys are among its band table's (a key whose bucket was full is still in the table),
/// so the second merge `join_both` runs, as long as the first, is not needed.
fn join_within(
    q: &[u64],
    mine: &[u64],
    long: &[u64],
    mut on_q: impl FnMut(usize, &[u64], &[u64]),
    mut on_mine: impl FnMut(usize, &[u64], &[u64]),
) {
    let mut at = 0;
    join(mine, long, |i, xs, ys| {
        on_mine(i, xs, ys);
        let key = xs[0] >> 32;
        at = seek(q, at, key);
        let end = run_end(q, at, key);
        if end > at {
            on_q(at, &q[at..end], ys);
        }
        at = end;
    });
}

/// Whether every key of `q` is a key of `mine` (both sorted by key).
fn keys_within(q: &[u64], mine: &[u64]) -> bool {
    let mut j = 0;
    q.iter().all(|&e| {
        j = seek(mine, j, e >> 32);
        j < mine.len() && mine[j] >> 32 == e >> 32
    })
}

/// `join` walking `short`'s keys and galloping through `long` (merging the two when they
/// are of a size): `each` gets the position of `short`'s entries with the key and them,
/// then the same of `long`'s.
fn walk(short: &[u64], long: &[u64], mut each: impl FnMut(usize, &[u64], usize, &[u64])) {
    let run = |v: &[u64], at: usize| run_end(v, at, v[at] >> 32);
    let (mut i, mut j) = (0, 0);
    if long.len() <= 8 * short.len() {
        // Lists of about the same length (an in-memory generation against a frozen one
        // of the same size): a linear merge whose steps do not branch on the data
        // (galloping would mispredict about every other step).
        while i < short.len() && j < long.len() {
            let (a, b) = (short[i] >> 32, long[j] >> 32);
            if a == b {
                let (end, long_end) = (run(short, i), run(long, j));
                each(i, &short[i..end], j, &long[j..long_end]);
                (i, j) = (end, long_end);
            } else {
                i += usize::from(a < b);
                j += usize::from(b < a);
            }
        }
        return;
    }
    while i < short.len() {
        let end = run(short, i);
        j = seek(long, j, short[i] >> 32);
        if j == long.len() {
            return;
        }
        if long[j] >> 32 == short[i] >> 32 {
            let long_end = run(long, j);
            each(i, &short[i..end], j, &long[j..long_end]);
            j = long_end;
        }
        i = end;
    }
}

/// The first position at or after `from` whose key is at least `key` (exponential, then
/// binary search).
fn seek(v: &[u64], from: usize, key: u64) -> usize {
    let (mut lo, mut hi, mut step) = (from, from, 1);
    while hi < v.len() && v[hi] >> 32 < key {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    let hi = hi.min(v.len());
    lo + v[lo..hi].partition_point(|&e| e >> 32 < key)
}

fn frozen_error(what: &str, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("dedup: cannot {what} a frozen generation of the index"),
        source,
    }
}

impl FrozenLsh {
    /// A bounded index's frozen generations whose settles take at most about half of
    /// `memory_mb` for their candidate pairs and an eighth for the pairs that pass the
    /// prefilter. The in-memory generation has the other half, most of it band tables,
    /// whose memory a settle's pairs take; what stays (sketches, set places, keys)
    /// is about a sixth of `memory_mb` at the default settings.
    pub fn with_memory(memory_mb: u64) -> Self {
        let bytes = memory_mb.max(1).saturating_mul(1 << 20) as usize;
        FrozenLsh::with_budgets(
            bytes / 2 / std::mem::size_of::<Pair>(),
            bytes / 8 / std::mem::size_of::<Survivor>(),
        )
    }

    /// Explicit budgets, in pairs and in survivors (at least one of each).
    fn with_budgets(pairs: usize, survivors: usize) -> Self {
        FrozenLsh {
            pair_budget: pairs.max(1),
            survivor_budget: survivors.max(1),
            ..FrozenLsh::default()
        }
    }

    /// Settles the in-memory generation `g` (which must keep its keys, `keep_keys`):
    /// for each of its slots that `ask` names (by position), the earliest frozen record
    /// whose similarity with it reaches the threshold, as (the slot's ordinal, the
    /// match's ordinal, the similarity); then writes `g` out as a new generation and
    /// empties it (it numbers its next slots on; the spill stays with it, so set
    /// offsets stay valid).
    ///
    /// Buckets keep their bound across generations: a bucket's entries in `g` are
    /// written out only up to `max_bucket` with the frozen ones (the earliest), so a
    /// probe of the frozen generations looks at no more than `bands × max_bucket`
    /// records, as in memory.
    ///
    /// The `last` generation is settled the same way but not written out.
    pub fn settle(
        &mut self,
        g: &mut LshIndex,
        ask: &[bool],
        pool: Option<&rayon::ThreadPool>,
        work: &mut Probe,
        last: bool,
    ) -> Result<Vec<(u32, u32, f64)>> {
        let t = std::time::Instant::now();
        let bands = if last {
            None
        } else {
            Some((temp_file()?, temp_file()?))
        };
        // The band tables are not needed to settle (each band's entries come from the
        // slots' keys, `band_entries`): the candidate pairs take their memory, and give it
        // back to the next generation's tables (`LshIndex::spare`). A settle's pairs are
        // its largest vector (tens of MB at 1 GiB of input, growing with the generations
        // frozen): in memory of their own, next to the freed tables (which stay resident
        // in the allocator's heap), they were most of the peak's growth with the
        // generations, and new memory costs new pages, each zeroed by the kernel.
        let mut pairs = g.buckets.take_storage();
        if pairs.capacity() < g.spare.capacity() {
            pairs = std::mem::take(&mut g.spare);
        }
        g.spare = Vec::new();
        pairs.clear();
        let mut runs = Vec::new();
        let mut spare = std::mem::take(&mut self.spare_runs);
        let mut eager = Eager::new(g, self.hot);
        let sections = self.pairs(
            g,
            ask,
            bands.as_ref().map(|(b, c)| (b, c)),
            &mut pairs,
            (&mut runs, &mut spare),
            &mut eager,
        );
        let bounds = eager.finish(work);
        let (sections, bounds) = (sections?, bounds?);
        let joined = t.elapsed();
        let mut found = vec![None; g.slot_ord.len()];
        let mut checked = Checked::default();
        let result = self.check(
            g,
            &pairs,
            &runs,
            &bounds,
            pool,
            work,
            &mut found,
            &mut checked,
        );
        pairs.clear();
        g.spare = pairs;
        result?;
        // A match found in the join is the answer unless the pairs before it hold one.
        let mut eager_matches = 0;
        for (local, f) in found.iter_mut().enumerate() {
            if f.is_none() && bounds.before(local) != u32::MAX {
                let (_, ord, j) = bounds.at[local];
                *f = Some((ord, j));
                eager_matches += 1;
            }
        }
        tracing::debug!(
            frozen = self.gens.len(),
            pairs = checked.pairs,
            pair_runs = runs.len(),
            survivors = checked.survivors,
            verified_in = checked.rounds,
            eager_matches,
            join_s = joined.as_secs_f64(),
            prefilter_s = checked.prefilter_s,
            verify_s = checked.verify_s,
            "dedup: a generation's band keys settled against the frozen ones"
        );
        self.settles_past_pair_budget += usize::from(!runs.is_empty());
        self.pair_runs += runs.len();
        spare.extend(runs.into_iter().map(|r| r.file));
        self.spare_runs = spare;
        let found = found
            .into_iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|(ord, j)| (g.slot_ord[i], ord, j)))
            .collect();
        let Some((bands, classes)) = bands else {
            return Ok(found);
        };
        let slots = temp_file()?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &slots);
        let k = g.settings.stored_len();
        let io = |e| frozen_error("write", e);
        for (i, &(offset, len)) in g.sets.iter().enumerate() {
            w.write_all(&g.sketches[i * k..(i + 1) * k])
                .and_then(|_| w.write_all(&offset.to_le_bytes()))
                .and_then(|_| w.write_all(&len.to_le_bytes()))
                .and_then(|_| w.write_all(&g.slot_ord[i].to_le_bytes()))
                .map_err(io)?;
        }
        w.flush().map_err(io)?;
        drop(w);
        self.gens.push(Generation {
            base: g.base,
            len: g.slot_ord.len() as u32,
            bands,
            sections,
            classes,
            slots,
        });
        g.base = g.next_slot();
        // Emptied, not freed: the next generation reserves as much (see
        // `DedupIndex::freeze`).
        g.slot_ord.clear();
        g.sets.clear();
        g.sketches.clear();
        if let Some(keys) = &mut g.keys {
            keys.iter_mut().for_each(Vec::clear);
        }
        Ok(found)
    }

    /// Prefilters the settle's distinct pairs (`pairs` in memory, merged with the sorted
    /// `runs` on disk when there are any) in frozen-slot order and verifies the
    /// survivors, a `survivor_budget` at a time, into `found` (per local slot, its
    /// earliest match).
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        g: &LshIndex,
        pairs: &[Pair],
        runs: &[PairRun],
        bounds: &Bounds,
        pool: Option<&rayon::ThreadPool>,
        work: &mut Probe,
        found: &mut [Option<(u32, f64)>],
        checked: &mut Checked,
    ) -> Result<()> {
        let mut pre = Prefilter::default();
        let mut survivors = Vec::new();
        let mut block = |block: &[Pair],
                         survivors: &mut Vec<Survivor>,
                         found: &mut [Option<(u32, f64)>],
                         checked: &mut Checked,
                         work: &mut Probe|
         -> Result<()> {
            // In pieces of at most the survivor budget's pairs, so that survivors never
            // pass it by more than a piece's.
            for piece in block.chunks(self.survivor_budget) {
                let t = std::time::Instant::now();
                checked.pairs += piece.len();
                // Once a round has verified, the pairs of the records it matched are
                // passed over (their earliest match is found); before, none is.
                let matched = (checked.rounds > 0).then_some(&*found);
                let skip = |local: usize, slot: u32| {
                    slot >= bounds.before(local) || matched.is_some_and(|m| m[local].is_some())
                };
                self.prefilter(g, piece, skip, &mut pre, survivors, work)?;
                checked.prefilter_s += t.elapsed().as_secs_f64();
                if survivors.len() >= self.survivor_budget {
                    self.verify_round(g, survivors, pool, work, found, checked)?;
                }
            }
            Ok(())
        };
        if runs.is_empty() {
            block(pairs, &mut survivors, found, checked, work)?;
        } else {
            let mut merged = MergedPairs::new(runs, pairs)?;
            let mut buf = Vec::with_capacity(MERGE_BLOCK);
            while merged.fill(&mut buf, MERGE_BLOCK)? {
                block(&buf, &mut survivors, found, checked, work)?;
            }
        }
        if !survivors.is_empty() {
            self.verify_round(g, &mut survivors, pool, work, found, checked)?;
        }
        Ok(())
    }

    /// Verifies the survivors held (sorted here) into `found`, and empties them.
    fn verify_round(
        &self,
        g: &LshIndex,
        survivors: &mut Vec<Survivor>,
        pool: Option<&rayon::ThreadPool>,
        work: &mut Probe,
        found: &mut [Option<(u32, f64)>],
        checked: &mut Checked,
    ) -> Result<()> {
        let t = std::time::Instant::now();
        survivors.sort_unstable_by_key(|s| (s.local, s.slot));
        checked.survivors += survivors.len();
        checked.rounds += 1;
        self.verify(g, survivors, pool, work, found)?;
        survivors.clear();
        checked.verify_s += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Per local slot not in `found` yet, the first of its `survivors` (sorted by local
    /// slot, then frozen slot, that is input order) that verifies, into `found`.
    fn verify(
        &self,
        g: &LshIndex,
        survivors: &[Survivor],
        pool: Option<&rayon::ThreadPool>,
        work: &mut Probe,
        found: &mut [Option<(u32, f64)>],
    ) -> Result<()> {
        let mut groups: Vec<&[Survivor]> = Vec::new();
        let mut rest = survivors;
        while let Some(first) = rest.first() {
            let end = rest.partition_point(|s| s.local == first.local);
            if found[first.local as usize].is_none() {
                groups.push(&rest[..end]);
            }
            rest = &rest[end..];
        }
        type Found = (u32, Option<(u32, f64)>, Probe);
        let one =
            |(mine, theirs): &mut (Vec<u32>, SetCache), group: &&[Survivor]| -> Result<Found> {
                let mut p = Probe::default();
                let local = group[0].local;
                let (offset, len) = g.sets[local as usize];
                g.spill.read(offset, len, mine)?;
                for s in group.iter() {
                    let set = theirs.get(&g.spill, s.offset, s.len)?;
                    if let Some(j) = g.settings.verify(mine, set, &mut p) {
                        return Ok((local, Some((s.ord, j)), p));
                    }
                }
                Ok((local, None, p))
            };
        let results: Vec<Result<Found>> = match pool {
            Some(pool) => pool.install(|| {
                use rayon::prelude::*;
                groups.par_iter().map_init(Default::default, one).collect()
            }),
            None => {
                let mut s = Default::default();
                groups.iter().map(|g| one(&mut s, g)).collect()
            }
        };
        for r in results {
            let (local, m, p) = r?;
            work.verified += p.verified;
            work.rejected += p.rejected;
            found[local as usize] = m;
        }
        Ok(())
    }

    /// The distinct (frozen slot, local slot) pairs that share a band key, sorted, into
    /// `pairs` (empty) and, past `pair_budget`, into sorted runs on disk (`runs`; the
    /// pairs of different runs may repeat); and `g`'s band sections, capped, written to
    /// `out` (returns their boundaries; none without `out`). A record whose frozen
    /// bucket is hot is checked at once (`eager`), and once it matches, its pairs with
    /// later frozen records are not made.
    fn pairs(
        &self,
        g: &LshIndex,
        ask: &[bool],
        out: Option<(&File, &File)>,
        pairs: &mut Vec<Pair>,
        (runs, spare): (&mut Vec<PairRun>, &mut Vec<File>),
        eager: &mut Eager<'_>,
    ) -> Result<Vec<u64>> {
        debug_assert!(pairs.is_empty());
        let cap = g.settings.max_bucket;
        let keys = g.keys.as_ref().expect("a bounded index keeps its keys");
        let writer = |f| std::io::BufWriter::with_capacity(1 << 20, f);
        let mut w = out.map(|(bands, classes)| (writer(bands), writer(classes)));
        let mut sections = vec![0u64];
        let (mut q, mut mine, mut all, mut sec, mut sec_classes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Per local slot: its set's size class, and the classes of the frozen sets it may
        // match (`LshSettings::classes_may_match`).
        let own: Vec<u8> = g.sets.iter().map(|&(_, len)| size_class(len)).collect();
        let may: Vec<(u8, u8)> = g
            .sets
            .iter()
            .zip(ask)
            .map(|(&(_, len), &asked)| {
                if asked {
                    g.settings.classes_may_match(len)
                } else {
                    (0, u8::MAX)
                }
            })
            .collect();
        // Per key of `g`'s section: how many frozen records the bucket holds already.
        let mut held: Vec<u32> = Vec::new();
        // Seconds spent in each part, for the debug line: preparing a band's keys,
        // reading the frozen sections, joining, writing this generation's sections and
        // sorting the pairs.
        let (mut prep_s, mut read_s, mut join_s, mut write_s) = (0.0, 0.0, 0.0, 0.0);
        let mut lap = Lap::start();
        for (b, keys) in keys.iter().enumerate() {
            band_entries(keys, g.base, cap, ask, &mut all, &mut mine, &mut q);
            held.clear();
            held.resize(mine.len(), 0);
            // Always so, by construction (`band_entries`: each key's first slot is an
            // entry); checked once per band, not assumed.
            let within = keys_within(&q, &mine);
            prep_s += lap.seconds();
            if !within {
                tracing::debug!(
                    band = b,
                    "dedup: asked keys outside the band's entries; two merges"
                );
            }
            for gen in &self.gens {
                // A section in chunks (memory stays flat however many records are
                // frozen); a bucket split between two chunks joins in two parts.
                const CHUNK: u64 = 1 << 16;
                let (mut at, to) = (gen.sections[b], gen.sections[b + 1]);
                while at < to {
                    let n = CHUNK.min(to - at);
                    read_u64s(&gen.bands, at, n as usize, &mut sec)?;
                    sec_classes.resize(n as usize, 0);
                    gen.classes
                        .read_exact_at(&mut sec_classes, at)
                        .map_err(|e| frozen_error("read", e))?;
                    at += n;
                    read_s += lap.seconds();
                    let (lo, hi) = (sec[0] >> 32, sec[sec.len() - 1] >> 32);
                    let range = |v: &[u64]| {
                        v.partition_point(|&e| e >> 32 < lo)..v.partition_point(|&e| e >> 32 <= hi)
                    };
                    let (rq, rm) = (range(&q), range(&mine));
                    let from = rm.start;
                    let (sec, sec_classes) = (&sec, &sec_classes);
                    let on_q = |_: usize, qs: &[u64], group: &[u64]| {
                        // `group` is a run of `sec`: its entries' classes are the same
                        // run of `sec_classes`.
                        let from = (group.as_ptr() as usize - sec.as_ptr() as usize) / 8;
                        debug_assert_eq!(sec[from..from + group.len()].as_ptr(), group.as_ptr());
                        let classes = &sec_classes[from..from + group.len()];
                        for &e in qs {
                            let local = e & 0xFFFF_FFFF;
                            let before = eager.bound(gen, local as usize, group);
                            let (lo, hi) = may[local as usize];
                            pairs.extend(
                                group
                                    .iter()
                                    .zip(classes)
                                    .filter(|&(&f, &c)| (f as u32) < before && lo <= c && c <= hi)
                                    .map(|(&f, _)| (f << 32) | local),
                            );
                        }
                    };
                    let on_mine =
                        |i: usize, _: &[u64], group: &[u64]| held[from + i] += group.len() as u32;
                    if within {
                        join_within(&q[rq], &mine[rm], sec, on_q, on_mine);
                    } else {
                        join_both(&q[rq], &mine[rm], sec, on_q, on_mine);
                    }
                    // Checked per chunk: the budget is passed by at most one chunk's
                    // pairs.
                    if pairs.len() >= self.pair_budget && !compact(pairs, self.pair_budget) {
                        runs.push(PairRun::write(pairs, spare)?);
                    }
                    join_s += lap.seconds();
                }
            }
            if let Some((w, wc)) = w.as_mut() {
                let class = |e: u64| own[(e as u32 - g.base) as usize];
                let kept = write_capped(w, wc, &mine, &held, cap, class)?;
                sections.push(sections.last().expect("a start") + kept as u64);
            }
            write_s += lap.seconds();
        }
        if let Some((mut w, mut wc)) = w {
            w.flush()
                .and_then(|_| wc.flush())
                .map_err(|e| frozen_error("write", e))?;
        }
        // In place: a radix sort would take as much memory again.
        let raw_pairs = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        tracing::debug!(
            raw_pairs,
            distinct = pairs.len(),
            prep_s,
            read_s,
            join_s,
            write_s,
            sort_s = lap.seconds(),
            "dedup: a settle's join, by part"
        );
        Ok(sections)
    }

    /// Appends to `survivors` the `pairs` (sorted, a piece of the settle's, after the
    /// pieces before in order) whose frozen side passes the size and sketch
    /// prefilter, read from the generations' slot files in order (`at` carries the
    /// place in them from piece to piece); those `skip` names (a local slot matched
    /// already, or a frozen slot at or past its `Eager` bound) are passed over.
    fn prefilter(
        &self,
        g: &LshIndex,
        pairs: &[Pair],
        skip: impl Fn(usize, u32) -> bool,
        at: &mut Prefilter,
        survivors: &mut Vec<Survivor>,
        work: &mut Probe,
    ) -> Result<()> {
        let k = g.settings.stored_len();
        let rec = k + SLOT_TAIL;
        // Slots read at once: a chunk of a generation's slot file.
        const CHUNK: u64 = 8192;
        let Prefilter {
            buf,
            loaded,
            gen: gi,
        } = at;
        // The local sides of the pairs are scattered over the generation in memory:
        // their sketch and set size are fetched a few pairs ahead.
        const AHEAD: usize = 8;
        let fetch = |pair: u64| {
            let local = (pair & 0xFFFF_FFFF) as usize;
            prefetch_stored(&g.sketches[local * k..(local + 1) * k]);
            prefetch_ptr(g.sets[local..].as_ptr());
        };
        pairs.iter().take(AHEAD).for_each(|&p| fetch(p));
        // Pairs come in frozen-slot order: the generation only moves forward.
        for (n, &pair) in pairs.iter().enumerate() {
            if let Some(&next) = pairs.get(n + AHEAD) {
                fetch(next);
            }
            let (slot, local) = ((pair >> 32) as u32, (pair & 0xFFFF_FFFF) as usize);
            if skip(local, slot) {
                continue;
            }
            while self.gens[*gi].base + self.gens[*gi].len <= slot {
                *gi += 1;
            }
            let gen = &self.gens[*gi];
            let at = u64::from(slot - gen.base);
            let chunk = at / CHUNK;
            if *loaded != Some((*gi, chunk)) {
                let first = chunk * CHUNK;
                let count = CHUNK.min(u64::from(gen.len) - first) as usize;
                buf.resize(count * rec, 0);
                gen.slots
                    .read_exact_at(buf, first * rec as u64)
                    .map_err(|e| frozen_error("read", e))?;
                *loaded = Some((*gi, chunk));
            }
            let r = &buf[(at % CHUNK) as usize * rec..][..rec];
            let (sketch, tail) = r.split_at(k);
            let offset = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
            let len = u32::from_le_bytes(tail[8..12].try_into().expect("4 bytes"));
            let ord = u32::from_le_bytes(tail[12..16].try_into().expect("4 bytes"));
            let q_len = g.sets[local].1 as usize;
            let q_sketch = &g.sketches[local * k..(local + 1) * k];
            if g.settings.may_match(q_len, q_sketch, len, sketch, work) {
                survivors.push(Survivor {
                    local: local as u32,
                    slot,
                    ord,
                    offset,
                    len,
                });
            }
        }
        Ok(())
    }
}

/// A settle's candidates verified during its join, before they are pairs. A record
/// whose frozen bucket is hot (`FrozenLsh::hot` entries or more: a template's variants,
/// or buckets filled over many generations) is checked at once against that bucket's
/// first (earliest) record, the way the prefilter and verification would check the pair;
/// if they match, that record bounds the record's answer — its earliest match is that
/// one or an earlier one — so its pairs with later frozen records are never made, and
/// the prefilter passes over those made before. The answer is the one without it: only
/// candidates that cannot be the earliest match are left out (property test
/// `eager_checks_do_not_change_the_matches`).
struct Eager<'a> {
    g: &'a LshIndex,
    hot: usize,
    bounds: Bounds,
    /// Per local slot: how many frozen records it was checked against here, and the last.
    tried: Vec<u8>,
    last_tried: Vec<u32>,
    /// The frozen slot whose record `record` holds, and whether `theirs` holds its set.
    cached: Option<u32>,
    cached_set: bool,
    record: Vec<u8>,
    theirs: Vec<u32>,
    mine: Vec<u32>,
    work: Probe,
    error: Option<Error>,
}

impl<'a> Eager<'a> {
    fn new(g: &'a LshIndex, hot: usize) -> Self {
        Eager {
            g,
            hot,
            bounds: Bounds {
                has: vec![0; g.slot_ord.len().div_ceil(64)],
                at: vec![(u32::MAX, 0, 0.0); g.slot_ord.len()],
            },
            tried: vec![0; g.slot_ord.len()],
            last_tried: vec![u32::MAX; g.slot_ord.len()],
            cached: None,
            cached_set: false,
            record: Vec::new(),
            theirs: Vec::new(),
            mine: Vec::new(),
            work: Probe::default(),
            error: None,
        }
    }

    /// The frozen slot before which `local`'s candidates in `group` (a bucket of `gen`,
    /// in slot order) can still be its earliest match: checks it against the group's
    /// first slot first when the group is hot and `local` has no bound yet.
    #[inline]
    fn bound(&mut self, gen: &Generation, local: usize, group: &[u64]) -> u32 {
        let before = self.bounds.before(local);
        if before != u32::MAX || group.len() < self.hot {
            return before;
        }
        self.try_hot(gen, local, group)
    }

    #[inline(never)]
    fn try_hot(&mut self, gen: &Generation, local: usize, group: &[u64]) -> u32 {
        // A record's hot buckets often begin with the same record: it is tried once.
        let slot = group[0] as u32;
        if self.tried[local] >= EAGER_TRIES
            || self.last_tried[local] == slot
            || self.error.is_some()
        {
            return u32::MAX;
        }
        self.last_tried[local] = slot;
        self.tried[local] += 1;
        match self.check(gen, local, slot) {
            Ok(Some((ord, j))) => {
                self.bounds.at[local] = (slot, ord, j);
                self.bounds.has[local / 64] |= 1 << (local % 64);
                slot
            }
            Ok(None) => u32::MAX,
            Err(e) => {
                self.error = Some(e);
                u32::MAX
            }
        }
    }

    /// `local` against frozen `slot` of `gen`: the prefilter, then the exact Jaccard.
    fn check(&mut self, gen: &Generation, local: usize, slot: u32) -> Result<Option<(u32, f64)>> {
        let g = self.g;
        let k = g.settings.stored_len();
        let rec = k + SLOT_TAIL;
        if self.cached != Some(slot) {
            self.cached = None;
            self.record.resize(rec, 0);
            gen.slots
                .read_exact_at(&mut self.record, u64::from(slot - gen.base) * rec as u64)
                .map_err(|e| frozen_error("read", e))?;
            self.cached_set = false;
            self.cached = Some(slot);
        }
        let (sketch, tail) = self.record.split_at(k);
        let offset = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(tail[8..12].try_into().expect("4 bytes"));
        let ord = u32::from_le_bytes(tail[12..16].try_into().expect("4 bytes"));
        let (q_offset, q_len) = g.sets[local];
        let q_sketch = &g.sketches[local * k..(local + 1) * k];
        if !g
            .settings
            .may_match(q_len as usize, q_sketch, len, sketch, &mut self.work)
        {
            return Ok(None);
        }
        if !self.cached_set {
            g.spill.read(offset, len, &mut self.theirs)?;
            self.cached_set = true;
        }
        g.spill.read(q_offset, q_len, &mut self.mine)?;
        Ok(g.settings
            .verify(&self.mine, &self.theirs, &mut self.work)
            .map(|j| (ord, j)))
    }

    /// The matches found, each bounding its record's answer; the checks' counts added
    /// to `work`.
    fn finish(self, work: &mut Probe) -> Result<Bounds> {
        if let Some(e) = self.error {
            return Err(e);
        }
        work.prefiltered += self.work.prefiltered;
        work.verified += self.work.verified;
        work.rejected += self.work.rejected;
        Ok(self.bounds)
    }
}

/// Per local slot of a settle, the match `Eager` found for it, if any.
struct Bounds {
    /// A bit per local slot, set when it has a match: most records of most corpora
    /// have none, and the join and the prefilter ask for every pair, so they read
    /// these bits (a few dozen KB) rather than `at`.
    has: Vec<u64>,
    /// Per local slot: the match's frozen slot, ordinal and similarity.
    at: Vec<(u32, u32, f64)>,
}

impl Bounds {
    /// The frozen slot before which `local`'s earliest match lies, or is that slot's
    /// record (`u32::MAX`: no bound).
    #[inline]
    fn before(&self, local: usize) -> u32 {
        if self.has[local / 64] >> (local % 64) & 1 != 0 {
            self.at[local].0
        } else {
            u32::MAX
        }
    }
}

/// Where `FrozenLsh::prefilter` stands in the slot files between pieces of pairs: the
/// chunk of slot records loaded, which generation's, and the generation reached.
#[derive(Default)]
struct Prefilter {
    buf: Vec<u8>,
    loaded: Option<(usize, u64)>,
    gen: usize,
}

/// What a settle's check did, for its debug line.
#[derive(Default)]
struct Checked {
    pairs: usize,
    survivors: usize,
    rounds: usize,
    prefilter_s: f64,
    verify_s: f64,
}

/// Pairs merged from runs at a time.
const MERGE_BLOCK: usize = 1 << 16;

/// The frozen sets a verifying thread read last, by their place in the spill
/// (direct-mapped). Survivors are verified per local slot; on template-like text the
/// same few frozen records (the earliest of each bucket) survive for thousands of local
/// slots, and each was read from the spill again (a system call and a copy) for every
/// one of them. Sets longer than `SetCache::MOST` are read as before, so a thread's
/// cache holds at most 1,024 × 1,024 hashes (4 MiB).
#[derive(Default)]
struct SetCache {
    entries: Vec<(u64, Vec<u32>)>,
    /// For the sets not kept.
    other: Vec<u32>,
}

impl SetCache {
    const BITS: u32 = 10;
    const MOST: u32 = 1024;

    /// The set of `len` hashes at `offset` of `spill`.
    fn get(&mut self, spill: &SpillFile, offset: u64, len: u32) -> Result<&[u32]> {
        if len > Self::MOST {
            spill.read(offset, len, &mut self.other)?;
            return Ok(&self.other);
        }
        if self.entries.is_empty() {
            self.entries = vec![(u64::MAX, Vec::new()); 1 << Self::BITS];
        }
        // Offsets are multiples of four: Fibonacci hashing of the set's index.
        let at = ((offset >> 2).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize;
        let (at_offset, set) = &mut self.entries[at];
        if *at_offset != offset || set.len() != len as usize {
            // Not valid while being read (a failed read leaves it empty of meaning).
            *at_offset = u64::MAX;
            spill.read(offset, len, set)?;
            *at_offset = offset;
        }
        Ok(set)
    }
}

/// A settle's pairs that reached `budget`, sorted and without repeats in place; whether
/// that left room (at most half the budget), so that they need not go to a run on disk.
/// Raw pairs repeat (a pair that shares several bands is made in each: 44 % of the raw
/// pairs of the 1.07 GB chat corpus), and a run costs new pages and a merge; when they
/// do not repeat enough (the template corpus's, 34 M distinct a settle) they go to a
/// run as they are, sorted once (`PairRun::write`). Each compaction that keeps the pairs in memory leaves at
/// least half the budget for new ones, so the sorting costs each raw pair at most about
/// two sorts' worth.
fn compact(pairs: &mut Vec<Pair>, budget: usize) -> bool {
    pairs.sort_unstable();
    pairs.dedup();
    pairs.len() <= budget / 2
}

/// A settle's candidate pairs past its budget: sorted and without repeats, in an
/// unlinked temporary file.
struct PairRun {
    file: File,
    len: u64,
}

impl PairRun {
    /// Writes `pairs` (sorted, without repeats: `compact` leaves them so) out, over a
    /// `spare` file if there is one, and empties `pairs`.
    fn write(pairs: &mut Vec<Pair>, spare: &mut Vec<File>) -> Result<PairRun> {
        debug_assert!(pairs.windows(2).all(|w| w[0] < w[1]), "compacted pairs");
        let mut file = match spare.pop() {
            Some(f) => f,
            None => temp_file()?,
        };
        file.rewind().map_err(|e| frozen_error("write", e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &file);
        write_u64s(&mut w, pairs)
            .and_then(|_| w.flush())
            .map_err(|e| frozen_error("write", e))?;
        drop(w);
        let len = pairs.len() as u64;
        pairs.clear();
        Ok(PairRun { file, len })
    }
}

/// The distinct pairs of sorted runs and a sorted in-memory list, in order: a k-way
/// merge (the runs are few: one per `pair_budget` of pairs) reading each run a block
/// at a time.
struct MergedPairs<'a> {
    runs: Vec<RunHead<'a>>,
    rest: &'a [Pair],
    last: Option<Pair>,
}

/// A run being merged: its current block, the position in it, and the next entry of
/// the run to read.
struct RunHead<'a> {
    run: &'a PairRun,
    block: Vec<Pair>,
    at: usize,
    next: u64,
}

impl RunHead<'_> {
    fn head(&self) -> Option<Pair> {
        self.block.get(self.at).copied()
    }

    /// Steps past the head, reading the run's next block at the end of this one.
    fn advance(&mut self) -> Result<()> {
        self.at += 1;
        if self.at == self.block.len() {
            let n = (self.run.len - self.next).min(MERGE_BLOCK as u64) as usize;
            read_u64s(&self.run.file, self.next, n, &mut self.block)?;
            self.next += n as u64;
            self.at = 0;
        }
        Ok(())
    }
}

impl<'a> MergedPairs<'a> {
    fn new(runs: &'a [PairRun], rest: &'a [Pair]) -> Result<MergedPairs<'a>> {
        let mut heads = Vec::with_capacity(runs.len());
        for run in runs {
            let mut head = RunHead {
                run,
                block: vec![0],
                at: 0,
                next: 0,
            };
            head.advance()?;
            heads.push(head);
        }
        Ok(MergedPairs {
            runs: heads,
            rest,
            last: None,
        })
    }

    /// Replaces `out` with up to `n` more pairs; false when there are none.
    fn fill(&mut self, out: &mut Vec<Pair>, n: usize) -> Result<bool> {
        out.clear();
        while out.len() < n {
            let mut best = self.rest.first().map(|&v| (v, None));
            for (i, h) in self.runs.iter().enumerate() {
                if let Some(v) = h.head() {
                    if best.is_none_or(|(b, _)| v < b) {
                        best = Some((v, Some(i)));
                    }
                }
            }
            let Some((v, from)) = best else {
                break;
            };
            match from {
                Some(i) => self.runs[i].advance()?,
                None => self.rest = &self.rest[1..],
            }
            if self.last != Some(v) {
                out.push(v);
                self.last = Some(v);
            }
        }
        Ok(!out.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(bands: usize, cap: usize) -> Buckets {
        Buckets::new(bands, cap)
    }

    impl Buckets {
        /// Sets `key`'s value in band `b`'s table, as a map does.
        fn put(&mut self, b: usize, key: u32, value: u32) {
            let (t, s) = Buckets::table_in(&mut self.tables, &mut self.storage, &mut self.own, b);
            match t.place(s, key) {
                Place::Found(i) => BandTable::set(s, i, value),
                Place::Vacant(i) => {
                    if t.fill(s, i, key, value) {
                        self.grow(b);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// Each band's table answers as a map does, through its growth, whether the
        /// tables start in storage of their own or shared (keys collide in their low
        /// bits on purpose; the second band gets fewer keys, so the tables grow apart).
        #[test]
        fn band_table_is_a_map(
            ops in proptest::collection::vec((0u32..3000, 0u32..1000), 0..3000),
            shared in proptest::bool::ANY,
        ) {
            let mut b = if shared { Buckets::for_records(2, 1, 0, Vec::new()) } else { Buckets::new(2, 1) };
            let mut model = std::collections::HashMap::new();
            for (k, v) in ops {
                for band in 0..2 {
                    let key = k.wrapping_mul(1 << 20) ^ (k % 7) ^ band as u32;
                    if band == 1 && k % 3 != 0 {
                        continue;
                    }
                    b.put(band, key, v);
                    model.insert((band, key), v);
                }
            }
            for (&(band, k), &v) in &model {
                proptest::prop_assert_eq!(b.tables[band].get(b.store(band), k), Some(v));
            }
            proptest::prop_assert_eq!(b.tables[0].len + b.tables[1].len, model.len());
            proptest::prop_assert_eq!(b.tables[0].get(b.store(0), 12345), model.get(&(0, 12345)).copied());
        }
    }

    /// A generation's tables made in storage a settle's pairs grew take only what they
    /// need of it (the rest counted over the generation's budget: `for_records`).
    #[test]
    fn a_table_storage_is_no_larger_than_its_tables() {
        // Storage a settle's pairs grew to four times what the tables take.
        let (bands, records) = (25, 5000);
        let need = bands * BandTable::entries_for(records);
        let grown: Vec<u64> = Vec::with_capacity(4 * need);
        let b = Buckets::for_records(bands, 32, records, grown);
        assert_eq!(b.storage.len(), need);
        assert!(b.storage.capacity() < 2 * need, "{}", b.storage.capacity());
        assert!(b.bytes() < 2 * need * 8);
        // Storage too small grows to the tables' size.
        let b = Buckets::for_records(bands, 32, records, Vec::with_capacity(10));
        assert_eq!(b.storage.len(), need);
    }

    /// A table sized for n keys takes them without growing (a bounded index's
    /// generation counts on it to stay within its memory).
    #[test]
    fn a_table_sized_for_its_keys_never_grows() {
        for n in [0, 1, 767, 768, 769, 5000, 196_608] {
            let mut b = Buckets::for_records(1, 1, n, Vec::new());
            let size = b.storage.len();
            for k in 0..n as u32 {
                b.insert(&[k.wrapping_mul(0x9E37_79B9)], k).unwrap();
            }
            assert_eq!(b.storage.len(), size, "{n} keys");
            assert!(
                size <= (8 * n).div_ceil(3).max(1024),
                "{n} keys: {size} places"
            );
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
    fn gathering_in_steps_and_band_by_band_agree() {
        // 40 bands take the stepped gather, 70 the band-by-band one: the same slots.
        for bands in [40, 70] {
            let mut b = buckets(bands, 4);
            for slot in 0..12u32 {
                let keys: Vec<u32> = (0..bands as u32)
                    .map(|band| band * 100 + slot % 3)
                    .collect();
                b.insert(&keys, slot).unwrap();
            }
            let keys: Vec<u32> = (0..bands as u32)
                .map(|band| band * 100 + band % 4)
                .collect();
            for since in [0, 2, 5] {
                let mut out = Vec::new();
                b.gather(&keys, since, &mut out);
                out.sort_unstable();
                let mut want = Vec::new();
                for band in 0..bands as u32 {
                    let r = band % 4;
                    want.extend(
                        (0..12u32)
                            .filter(|s| s % 3 == r)
                            .take(4)
                            .filter(|&s| s >= since),
                    );
                }
                want.sort_unstable();
                assert_eq!(out, want, "{bands} bands, since {since}");
            }
        }
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
            sketch: &ANY_SKETCH,
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

    fn bounded(max_bucket: usize) -> LshIndex {
        let mut idx = LshIndex::new(LshSettings {
            bands: 2,
            num_hashes: 4,
            threshold: 0.8,
            prefilter: 0.0,
            max_candidates: 10,
            max_bucket,
        })
        .unwrap();
        idx.keep_keys();
        idx
    }

    fn q<'a>(keys: &'a [u32], set: &'a [u32]) -> Query<'a> {
        Query {
            keys,
            sketch: &ANY_SKETCH,
            set,
        }
    }

    #[test]
    fn frozen_generations_find_the_earliest_match_in_input_order() {
        // The last generation settles alike, and is not frozen.
        for last in [false, true] {
            let set: Vec<u32> = (0..10).collect();
            let near: Vec<u32> = (0..9).chain([50]).collect(); // Jaccard 9/11 with `set`
            let other: Vec<u32> = (100..110).collect();
            let unrelated: Vec<u32> = (200..210).collect();
            let mut idx = bounded(8);
            let mut frozen = FrozenLsh::default();
            let mut work = Probe::default();
            idx.add(10, &q(&[1, 2], &other)).unwrap();
            idx.add(11, &q(&[1, 2], &near)).unwrap();
            let found = frozen
                .settle(&mut idx, &[true, true], None, &mut work, false)
                .unwrap();
            assert!(found.is_empty());
            idx.add(12, &q(&[3, 2], &set)).unwrap();
            let found = frozen
                .settle(&mut idx, &[true], None, &mut work, false)
                .unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!((found[0].0, found[0].1), (12, 11));
            assert!((found[0].2 - 9.0 / 11.0).abs() < 1e-9);
            assert_eq!(idx.base_slot(), 3);
            // A copy of `set` shares band 1 with every frozen slot: the earliest that
            // verifies is ord 11 (ord 10 is rejected), not the identical ord 12.
            idx.add(20, &q(&[9, 2], &set)).unwrap();
            idx.add(21, &q(&[1, 2], &unrelated)).unwrap();
            idx.add(22, &q(&[7, 7], &set)).unwrap();
            idx.add(23, &q(&[3, 8], &set)).unwrap();
            // Not asked: ord 23 is not probed.
            let found = frozen
                .settle(&mut idx, &[true, true, true, false], None, &mut work, last)
                .unwrap();
            assert_eq!(
                found.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>(),
                [(20, 11)]
            );
            assert_eq!(frozen.gens.len(), if last { 2 } else { 3 }, "last {last}");
        }
    }

    /// Generations of records (two band keys and a set each) added to a bounded index
    /// and settled one after the other, the last as the last: each settle's matches,
    /// and the probe counts of them all.
    type Records = Vec<((u32, u32), std::collections::BTreeSet<u32>)>;
    /// Per settle, (record's ordinal, its match's ordinal, similarity) of each match.
    type Settled = Vec<Vec<(u32, u32, f64)>>;
    /// Two to four generations of 1 to `records - 1` records each: two band keys under
    /// `keys`, and a shingle set of 1 to `set - 1` values under `values`.
    fn generations(
        keys: u32,
        values: u32,
        set: usize,
        records: usize,
    ) -> impl proptest::strategy::Strategy<Value = Vec<Records>> {
        proptest::collection::vec(
            proptest::collection::vec(
                (
                    (0..keys, 0..keys),
                    proptest::collection::btree_set(0..values, 1..set),
                ),
                1..records,
            ),
            2..5,
        )
    }

    fn settle_generations(mut frozen: FrozenLsh, gens: &[Records]) -> (Settled, Probe) {
        let mut idx = bounded(3);
        let mut work = Probe::default();
        let mut found = Vec::new();
        let mut ord = 0;
        for (i, records) in gens.iter().enumerate() {
            for ((a, b), set) in records {
                let set: Vec<u32> = set.iter().copied().collect();
                idx.add(ord, &q(&[*a, *b], &set)).unwrap();
                ord += 1;
            }
            let ask = vec![true; records.len()];
            found.push(
                frozen
                    .settle(&mut idx, &ask, None, &mut work, i + 1 == gens.len())
                    .unwrap(),
            );
        }
        (found, work)
    }

    proptest::proptest! {
        /// Budgets change where a settle keeps its pairs and when it verifies, not what
        /// it finds: with one pair and one survivor at a time (runs on disk, merged;
        /// a verification round per survivor) every generation's matches and the
        /// verification counts are those of an unbounded settle.
        #[test]
        fn settle_budgets_do_not_change_the_matches(
            gens in generations(4, 14, 10, 12),
            pairs in 1usize..6,
            survivors in 1usize..4,
        ) {
            let mut runs = Vec::new();
            for frozen in [FrozenLsh::default(), FrozenLsh::with_budgets(pairs, survivors)] {
                let (found, work) = settle_generations(frozen, &gens);
                runs.push((found, work.verified, work.rejected));
            }
            proptest::prop_assert_eq!(&runs[0], &runs[1]);
        }

        /// Checking records against hot buckets during the join (here every bucket is
        /// hot) leaves out only candidates that cannot be a record's earliest match:
        /// every generation's matches are those of a settle without it, with budgets or
        /// without.
        #[test]
        fn eager_checks_do_not_change_the_matches(
            gens in generations(3, 12, 9, 14),
            hot in 1usize..4,
            budgets in proptest::option::of((1usize..6, 1usize..4)),
        ) {
            let mut runs = Vec::new();
            let eager = match budgets {
                Some((p, s)) => FrozenLsh::with_budgets(p, s),
                None => FrozenLsh::default(),
            };
            for frozen in [FrozenLsh { hot: usize::MAX, ..FrozenLsh::default() }, FrozenLsh { hot, ..eager }] {
                runs.push(settle_generations(frozen, &gens).0);
            }
            proptest::prop_assert_eq!(&runs[0], &runs[1]);
        }

        /// The merge of sorted runs and a sorted list yields their distinct values in
        /// order, a block at a time; a run written over a longer one's file reads back
        /// as itself.
        #[test]
        fn merged_pairs_are_the_sorted_distinct_union(
            lists in proptest::collection::vec(proptest::collection::vec(0u64..50, 1..40), 0..4),
            rest in proptest::collection::vec(0u64..50, 0..40),
            block in 1usize..7,
        ) {
            let mut runs = Vec::new();
            let mut want: Vec<u64> = rest.clone();
            for l in &lists {
                want.extend(l);
                let mut longer: Vec<u64> = (100..200).collect();
                let mut spare = vec![PairRun::write(&mut longer, &mut Vec::new()).unwrap().file];
                let mut l = l.clone();
                compact(&mut l, usize::MAX);
                runs.push(PairRun::write(&mut l, &mut spare).unwrap());
                proptest::prop_assert!(l.is_empty() && spare.is_empty());
            }
            want.sort_unstable();
            want.dedup();
            let mut rest = rest;
            rest.sort_unstable();
            rest.dedup();
            let mut merged = MergedPairs::new(&runs, &rest).unwrap();
            let (mut got, mut buf): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
            while merged.fill(&mut buf, block).unwrap() {
                proptest::prop_assert!(buf.len() <= block);
                got.extend(&buf);
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn compaction_keeps_the_distinct_pairs_and_says_whether_they_fit() {
        let mut pairs = vec![5, 3, 5, 9, 3, 3, 1, 9];
        assert!(compact(&mut pairs, 8), "4 distinct pairs fit half of 8");
        assert_eq!(pairs, [1, 3, 5, 9]);
        pairs.extend([2, 2]);
        assert!(!compact(&mut pairs, 8), "5 distinct pairs do not");
        assert_eq!(pairs, [1, 2, 3, 5, 9]);
    }

    /// The cache hands back the spill's sets whatever the order they are asked in:
    /// sets that share a cache entry, the same set again, sets too long to keep.
    #[test]
    fn cached_sets_are_the_spills() {
        let mut spill = SpillFile::new().unwrap();
        let mut sets = Vec::new();
        for i in 0..3000u32 {
            let len = if i % 97 == 0 {
                SetCache::MOST + 3
            } else {
                i % 40
            };
            let set: Vec<u32> = (0..len).map(|v| v * 7 + i).collect();
            let offset = spill.append(&set).unwrap();
            sets.push((offset, set));
        }
        let mut cache = SetCache::default();
        let mut x: u64 = 0x9E37_79B9;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (offset, set) = &sets[(x % 3000) as usize];
            let got = cache.get(&spill, *offset, set.len() as u32).unwrap();
            assert_eq!(got, set.as_slice());
        }
    }

    #[test]
    fn frozen_buckets_keep_their_cap_across_generations() {
        let set: Vec<u32> = (0..10).collect();
        let other: Vec<u32> = (100..110).collect();
        for (cap, want) in [(2, None), (8, Some(12))] {
            let mut idx = bounded(cap);
            let mut frozen = FrozenLsh::default();
            let mut work = Probe::default();
            idx.add(10, &q(&[1, 2], &other)).unwrap();
            idx.add(11, &q(&[1, 2], &other)).unwrap();
            frozen
                .settle(&mut idx, &[true, true], None, &mut work, false)
                .unwrap();
            // Band 1's bucket 2 holds two frozen records: with a cap of 2, ord 12 is
            // left out of it when its generation is frozen.
            idx.add(12, &q(&[3, 2], &set)).unwrap();
            frozen
                .settle(&mut idx, &[true], None, &mut work, false)
                .unwrap();
            idx.add(20, &q(&[9, 2], &set)).unwrap();
            let found = frozen
                .settle(&mut idx, &[true], None, &mut work, true)
                .unwrap();
            assert_eq!(found.first().map(|f| f.1), want, "cap {cap}");
        }
    }

    proptest::proptest! {
        #[test]
        fn agreement_counts_equal_bytes(
            pairs in proptest::collection::vec((0u8..4, 0u8..4, proptest::bool::ANY), 0..140)
        ) {
            // Small values and forced equal bytes: many matches, zero and 0x80 bytes.
            let a: Vec<u8> = pairs.iter().map(|p| p.0 * 0x40).collect();
            let b: Vec<u8> = pairs.iter().map(|p| if p.2 { p.0 * 0x40 } else { p.1 * 0x40 }).collect();
            let want = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            proptest::prop_assert_eq!(agreement(&a, &b), want);
        }
    }

    /// Past 255 blocks of sixteen equal bytes a counter would wrap: it is emptied first.
    #[test]
    fn agreement_counts_past_a_counters_range() {
        for n in [0, 15, 16, 4080, 4081, 10_000] {
            let a = vec![7u8; n];
            assert_eq!(agreement(&a, &a), n);
            let mut b = a.clone();
            b.iter_mut().step_by(3).for_each(|x| *x = 8);
            assert_eq!(agreement(&a, &b), n - n.div_ceil(3));
        }
    }

    /// The stored sketches of a test record with 4 hashes: the same MinHash sketch for
    /// every record, and counts all full (unknown), so only the exact check decides.
    const ANY_SKETCH: [u8; 4 + COUNT_BYTES] = {
        let mut s = [0xFF; 4 + COUNT_BYTES];
        s[0] = 0;
        s[1] = 0;
        s[2] = 0;
        s[3] = 0;
        s
    };

    /// A set of hashes drawn from `buckets` of the 128 count buckets only (so that
    /// counts reach 15 and more), `low` picking within a bucket.
    fn bucketed(picks: &[(u32, u32)], buckets: u32) -> Vec<u32> {
        let set: std::collections::BTreeSet<u32> = picks
            .iter()
            .map(|&(b, low)| (b % buckets) << 25 | (low & 0x1FF_FFFF))
            .collect();
        set.into_iter().collect()
    }

    proptest::proptest! {
        /// The count bound passes every pair whose Jaccard reaches the threshold, also
        /// when counts saturate (sets crowded into a few buckets, one bucket full on both
        /// sides); fails if the bound takes the larger count, or ignores full buckets.
        #[test]
        fn count_bound_never_discards_a_match(
            a in proptest::collection::vec((0u32..128, 0u32..64), 0..400),
            toggles in proptest::collection::vec((0u32..128, 0u32..64), 0..60),
            buckets in proptest::sample::select(vec![1u32, 2, 8, 128]),
            threshold in 0.01f64..1.0,
        ) {
            let a_set = bucketed(&a, buckets);
            // A near copy: `a` with a few elements toggled.
            let mut near: std::collections::BTreeSet<u32> = a_set.iter().copied().collect();
            for t in bucketed(&toggles, buckets) {
                if !near.remove(&t) {
                    near.insert(t);
                }
            }
            let b_set: Vec<u32> = near.into_iter().collect();
            let (mut ca, mut cb) = (Vec::new(), Vec::new());
            count_sketch(&a_set, &mut ca);
            count_sketch(&b_set, &mut cb);
            proptest::prop_assert_eq!((ca.len(), cb.len()), (COUNT_BYTES, COUNT_BYTES));
            if jaccard_at_least(&a_set, &b_set, threshold).is_some() {
                proptest::prop_assert!(counts_may_match(&ca, &cb, a_set.len(), b_set.len(), threshold));
            }
        }
    }

    #[test]
    fn count_bound_discards_sets_apart() {
        // 100 hashes each, the same buckets, four shared: Jaccard 4/196. Their counts
        // share at most 100 (the bound passes 0.5), but a set in other buckets shares
        // none with them.
        let a: Vec<u32> = (0..100u32)
            .map(|i| (i % 50) << 25 | i)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let b: Vec<u32> = (96..196u32)
            .map(|i| (i % 50) << 25 | i)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let c: Vec<u32> = (0..100u32)
            .map(|i| (64 + i % 50) << 25 | i)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let sketch = |s: &[u32]| {
            let mut out = Vec::new();
            count_sketch(s, &mut out);
            out
        };
        let (ca, cb, cc) = (sketch(&a), sketch(&b), sketch(&c));
        assert!(counts_may_match(&ca, &cb, a.len(), b.len(), 0.5));
        assert!(!counts_may_match(&ca, &cc, a.len(), c.len(), 0.05));
        assert!(counts_may_match(&ca, &ca, a.len(), a.len(), 1.0));
        // Two saturated buckets on both sides: unknown, so the pair passes.
        let full: Vec<u32> = (0..40u32).map(|i| (i % 2) << 25 | i).collect();
        let other: Vec<u32> = (100..140u32).map(|i| (i % 2) << 25 | i).collect();
        let (cf, co) = (sketch(&full), sketch(&other));
        assert!(counts_may_match(&cf, &co, full.len(), other.len(), 0.9));
    }

    proptest::proptest! {
        #[test]
        fn jaccard_at_least_is_the_exact_jaccard_past_the_threshold(
            a in proptest::collection::btree_set(0u32..400, 0..300),
            b in proptest::collection::btree_set(0u32..400, 0..300),
            threshold in 0.0f64..1.0,
            toggles in (proptest::bool::ANY, proptest::collection::vec(0u32..400, 0..40)),
        ) {
            let (a, mut b): (Vec<u32>, Vec<u32>) = (a.into_iter().collect(), b.into_iter().collect());
            if toggles.0 {
                // A near copy: `a` with a few elements toggled.
                let mut near: std::collections::BTreeSet<u32> = a.iter().copied().collect();
                for t in &toggles.1 {
                    if !near.remove(t) {
                        near.insert(*t);
                    }
                }
                b = near.into_iter().collect();
            }
            let inter = a.iter().filter(|x| b.binary_search(x).is_ok()).count();
            let union = a.len() + b.len() - inter;
            let exact = if union == 0 { 1.0 } else { inter as f64 / union as f64 };
            let want = (exact >= threshold).then_some(exact);
            proptest::prop_assert_eq!(jaccard_at_least(&a, &b, threshold), want);
            proptest::prop_assert_eq!(jaccard(&a, &b), exact);
        }
    }

    proptest::proptest! {
        /// A frozen section holds each bucket's earliest entries up to the cap less the
        /// frozen ones, in order, and reads back as written.
        #[test]
        fn capped_sections_keep_the_earliest_and_read_back(
            keys in proptest::collection::vec(0u64..30, 0..300),
            frozen in proptest::collection::vec(0u32..6, 30),
            cap in 0usize..6,
        ) {
            let mut section: Vec<u64> = keys.iter().enumerate().map(|(i, &k)| (k << 32) | i as u64).collect();
            section.sort_unstable();
            let held: Vec<u32> = section.iter().map(|&e| frozen[(e >> 32) as usize]).collect();
            let mut want = Vec::new();
            let mut i = 0;
            while i < section.len() {
                let key = section[i] >> 32;
                let n = section[i..].iter().take_while(|&&e| e >> 32 == key).count();
                let room = cap.saturating_sub(held[i] as usize).min(n);
                want.extend_from_slice(&section[i..i + room]);
                i += n;
            }
            let (mut file, mut classes) = (tempfile::tempfile().unwrap(), Vec::new());
            let class = |e: u64| (e as u8).wrapping_mul(7);
            let kept = write_capped(&mut file, &mut classes, &section, &held, cap, class).unwrap();
            proptest::prop_assert_eq!(kept, want.len());
            let mut got = Vec::new();
            read_u64s(&file, 0, kept, &mut got).unwrap();
            proptest::prop_assert_eq!(classes, want.iter().map(|&e| class(e)).collect::<Vec<_>>());
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        /// A settle's band entries made from the slots' keys are the band tables'
        /// entries, and its asked entries the asked slots' keys, both sorted.
        #[test]
        fn band_entries_are_the_tables(
            slot_keys in proptest::collection::vec(proptest::collection::vec(0u32..12, 3), 0..200),
            asked in proptest::collection::vec(proptest::bool::ANY, 200),
            cap in 0usize..5,
            base in 0u32..1000,
        ) {
            let mut buckets = Buckets::new(3, cap);
            for (i, keys) in slot_keys.iter().enumerate() {
                buckets.insert(keys, base + i as u32).unwrap();
            }
            let ask = &asked[..slot_keys.len()];
            let (mut all, mut mine, mut q, mut want) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (b, table) in buckets.tables.iter().enumerate() {
                let keys: Vec<u32> = slot_keys.iter().map(|k| k[b]).collect();
                band_entries(&keys, base, cap, ask, &mut all, &mut mine, &mut q);
                table.entries_into(buckets.store(b), &buckets.lists, &mut want);
                proptest::prop_assert_eq!(&mine, &want);
                let mut want_q: Vec<u64> = (0..keys.len())
                    .filter(|&i| ask[i])
                    .map(|i| (u64::from(keys[i]) << 32) | i as u64)
                    .collect();
                want_q.sort_unstable();
                proptest::prop_assert_eq!(&q, &want_q);
            }
        }
    }

    #[test]
    fn size_classes_cover_every_size_in_order() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(63), 63);
        assert_eq!(size_class(u32::MAX), u8::MAX);
        assert_eq!(class_bounds(u8::MAX).1, u32::MAX);
        for c in 0..u8::MAX {
            let (lo, hi) = class_bounds(c);
            assert!(lo <= hi, "class {c}");
            assert_eq!((size_class(lo), size_class(hi)), (c, c), "class {c}");
            assert_eq!(class_bounds(c + 1).0, hi + 1, "class {c}");
        }
    }

    proptest::proptest! {
        /// A pair whose sizes pass the size test has the frozen set's class among those
        /// the query's set may match: leaving the others out at the join loses no pair
        /// the prefilter would keep. Checked by mutation: narrowing the range by a
        /// class on either side fails it.
        #[test]
        fn size_classes_keep_every_pair_the_sizes_allow(
            q in 0u32..20_000,
            theirs in 0u32..20_000,
            big in 0u32..4,
            threshold in 0.05f64..1.0,
        ) {
            let scale = |v: u32| v.saturating_mul([1, 1, 997, 211_000][big as usize]);
            let (q, theirs) = (scale(q), scale(theirs));
            let s = LshSettings {
                bands: 1,
                num_hashes: 8,
                threshold,
                prefilter: 0.0,
                max_candidates: 1,
                max_bucket: 1,
            };
            let (lo, hi) = s.classes_may_match(q);
            let c = size_class(theirs);
            if s.sizes_may_match(q as usize, theirs) {
                proptest::prop_assert!(lo <= c && c <= hi, "{q} {theirs} {threshold}: {c} not in {lo}..={hi}");
            }
            // And the range is no wider than it must be: its end classes hold a size that
            // passes.
            for end in [lo, hi] {
                let (a, b) = class_bounds(end);
                proptest::prop_assert!(s.sizes_may_match(q as usize, q.clamp(a, b)));
            }
        }
    }

    proptest::proptest! {
        /// Sorting by the key sorts entries whose values run in order per key, and a
        /// list that breaks that is still sorted in full.
        #[test]
        fn sorting_by_the_key_sorts(
            keys in proptest::collection::vec(0u64..50, 0..300),
            ordered in proptest::bool::ANY,
        ) {
            let mut v: Vec<u64> = keys.iter().enumerate().map(|(i, &k)| (k << 32) | i as u64).collect();
            if !ordered {
                v.reverse();
            }
            let mut want = v.clone();
            want.sort_unstable();
            sort_by_high_half(&mut v);
            proptest::prop_assert_eq!(v, want);
        }
    }

    /// `(key << 32) | position` entries of `keys`, sorted.
    fn keyed(keys: &[u64]) -> Vec<u64> {
        let mut l: Vec<u64> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k << 32) | i as u64)
            .collect();
        l.sort_unstable();
        l
    }

    /// What a join reports: (0 for `a`'s, 1 for `b`'s, position, entries, `long`'s).
    type Reported = Vec<(u8, usize, Vec<u64>, Vec<u64>)>;

    /// What `one_pass` reports through its two callbacks (`a`'s, then `b`'s), and what
    /// `join(a, long)` then `join(b, long)` report.
    fn two_joins_against(
        a: &[u64],
        b: &[u64],
        long: &[u64],
        one_pass: impl FnOnce(
            &mut dyn FnMut(usize, &[u64], &[u64]),
            &mut dyn FnMut(usize, &[u64], &[u64]),
        ),
    ) -> (Reported, Reported) {
        let mut want = Vec::new();
        join(a, long, |i, xs, ys| {
            want.push((0u8, i, xs.to_vec(), ys.to_vec()))
        });
        join(b, long, |i, xs, ys| {
            want.push((1u8, i, xs.to_vec(), ys.to_vec()))
        });
        let (mut got, mut got_b) = (Vec::new(), Vec::new());
        one_pass(
            &mut |i, xs, ys| got.push((0u8, i, xs.to_vec(), ys.to_vec())),
            &mut |i, xs, ys| got_b.push((1u8, i, xs.to_vec(), ys.to_vec())),
        );
        got.extend(got_b);
        (got, want)
    }

    proptest::proptest! {
        /// With `q`'s keys among `mine`'s, one merge finds what two joins find; and
        /// `keys_within` tells whether they are.
        #[test]
        fn join_within_is_two_joins(
            mine in proptest::collection::vec(0u64..80, 0..120),
            picks in proptest::collection::vec(0usize..1000, 0..120),
            stray in proptest::option::of(0u64..90),
            long in proptest::collection::vec(0u64..80, 0..120),
        ) {
            let mut q_keys: Vec<u64> = if mine.is_empty() {
                Vec::new()
            } else {
                picks.iter().map(|&p| mine[p % mine.len()]).collect()
            };
            let within = stray.is_none_or(|k| mine.contains(&k));
            q_keys.extend(stray);
            let (q, mine, long) = (keyed(&q_keys), keyed(&mine), keyed(&long));
            proptest::prop_assert_eq!(keys_within(&q, &mine), within);
            proptest::prop_assume!(within);
            let (got, want) = two_joins_against(&q, &mine, &long, |on_q, on_mine| {
                join_within(&q, &mine, &long, on_q, on_mine)
            });
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        #[test]
        fn join_both_is_two_joins(
            a in proptest::collection::vec(0u64..80, 0..120),
            b in proptest::collection::vec(0u64..80, 0..120),
            long in proptest::collection::vec(0u64..80, 0..120),
        ) {
            let (a, b, long) = (keyed(&a), keyed(&b), keyed(&long));
            let (got, want) = two_joins_against(&a, &b, &long, |on_a, on_b| {
                join_both(&a, &b, &long, on_a, on_b)
            });
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        #[test]
        fn join_pairs_every_shared_key(
            a in proptest::collection::vec((0u64..60, 0u64..5), 0..200),
            b in proptest::collection::vec((0u64..60, 0u64..5), 0..50),
        ) {
            let list = |v: &[(u64, u64)]| {
                let mut l: Vec<u64> = v.iter().map(|&(k, x)| (k << 32) | x).collect();
                l.sort_unstable();
                l
            };
            let (a, b) = (list(&a), list(&b));
            let mut want = Vec::new();
            for (i, &x) in a.iter().enumerate() {
                for &y in &b {
                    if x >> 32 == y >> 32 {
                        want.push((i, x, y));
                    }
                }
            }
            for (a, b, flip) in [(&a, &b, false), (&b, &a, true)] {
                let mut got = Vec::new();
                join(a, b, |at, xs, ys| {
                    assert_eq!(xs[0], a[at]);
                    for (n, &x) in xs.iter().enumerate() {
                        for &y in ys {
                            got.push(if flip { (0, y, x) } else { (at + n, x, y) });
                        }
                    }
                });
                let mut want = want.clone();
                if flip {
                    want.iter_mut().for_each(|w| w.0 = 0);
                }
                got.sort_unstable();
                want.sort_unstable();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
