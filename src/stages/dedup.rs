//! `dedup`: exact and near-duplicate removal that works for every script.
//!
//! Split as the engine wants it: the row part (`DedupSignatures`, parallel) turns each
//! record's text into a canonical form, a 128-bit exact hash and, for `mode = "near"`,
//! MinHash band keys and the sorted set of shingle hashes; the barrier part
//! (`DedupIndex`) keeps the index and decides keep/drop in input order (its probes of
//! the LSH index, `lsh.rs`, run on all threads), so the result is the same at any thread
//! count and on every run.
//!
//! Near duplicates: character n-grams (default 5) over the canonical text, so Chinese,
//! Japanese and mixed text need no segmenter. One 64-bit hash per shingle feeds a
//! one-permutation MinHash with optimal densification (Shrivastava 2017): the hashing
//! cost is one hash per shingle instead of one per shingle and permutation. Every LSH
//! candidate is verified by the exact Jaccard similarity of the two shingle sets before
//! anything is dropped, so precision does not depend on the sketch. The sets live in a
//! temporary spill file at home (deleted when the run ends), never in memory and never
//! in the export; the index itself holds band keys, ordinals and locations only.
//!
//! Semantics (`keep = "first"`): a record is a duplicate when it matches an earlier
//! record, kept or dropped (exactly, or with Jaccard ≥ threshold after verification);
//! the first occurrence in input order is kept. One streaming pass.
//! Invariants: no text is stored; records whose dedup text is empty are never dropped;
//! every dropped record has one line in `dedup_clusters.jsonl`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, SchemaRef};
use rustc_hash::{FxHashMap, FxHashSet};
use unicode_normalization::UnicodeNormalization;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

pub use crate::config::stages::{DedupConfig, Keep, Mode, Scope, Shingle};
use crate::config::{Format, PipelineSource};
use crate::engine::batch::Batch;
use crate::engine::{BarrierStage, Findings, PassOn, RowStage, StageContext, StageFile};
use crate::error::{Error, Result};
use crate::stages::fields::{for_each_string, resolve_fields, StringPath};
use crate::stages::lsh::{LshIndex, LshSettings, Probe, Query, Scratch};

mod bounded;
use bounded::Bounded;

/// The audit file of what matched what, at the export root.
pub const CLUSTERS_FILE: &str = "dedup_clusters.jsonl";

/// Smallest probability that a pair exactly at the threshold becomes an LSH candidate
/// when bands × rows are chosen automatically.
const AUTO_RECALL_AT_THRESHOLD: f64 = 0.999;

/// Probability that a pair with Jaccard `j` shares at least one of `b` bands of `r` rows.
pub fn candidate_probability(j: f64, b: usize, r: usize) -> f64 {
    1.0 - (1.0 - j.powi(r as i32)).powi(b as i32)
}

/// Bands × rows for a threshold: the most rows per band (fewest false candidates to
/// verify) such that a pair exactly at the threshold is a candidate with probability
/// ≥ 0.999. Recall is what banding can lose for good; precision is restored by
/// verification, so the choice leans to recall. For 0.8 and 128 hashes: 25 × 5
/// (P = 0.99995 at J = 0.8, 0.55 at 0.5, 0.06 at 0.3), where datasketch's 9 × 13
/// gives 0.47 at J = 0.8.
pub fn choose_bands(num_hashes: usize, threshold: f64) -> (usize, usize) {
    for r in (1..=num_hashes).rev() {
        let b = num_hashes / r;
        if candidate_probability(threshold, b, r) >= AUTO_RECALL_AT_THRESHOLD {
            return (b, r);
        }
    }
    (num_hashes, 1)
}

/// The sketch agreement under which a candidate cannot plausibly reach the threshold:
/// 4 standard deviations of the MinHash estimate at the threshold below it (at least
/// 0.1), so a pair exactly at the threshold is discarded with probability about 3e-5
/// (one at 0.85 is 6 of its own deviations above the cut) while most unrelated candidates (which share a band by chance or through a common
/// sentence) are discarded without reading their shingle sets. 8-bit values agree by
/// chance 1/256 of the time, which only lets a few more candidates through.
fn prefilter_agreement(threshold: f64, num_hashes: usize) -> f64 {
    let sd = (threshold * (1.0 - threshold) / num_hashes as f64).sqrt();
    (threshold - (4.0 * sd).max(0.1)).max(0.0)
}

/// Bytes of a row's sketches (`BatchSignatures::sketches`): the MinHash sketch, then
/// the count sketch of its shingle set (`lsh::stored_len`).
fn stored_len(p: &Params) -> usize {
    crate::stages::lsh::stored_len(p.num_hashes)
}

/// Settings the row part and the barrier share.
#[derive(Debug, Clone)]
struct Params {
    mode: Mode,
    threshold: f64,
    shingle: Shingle,
    ngram: usize,
    num_hashes: usize,
    bands: usize,
    rows: usize,
    nfkc: bool,
    case_fold: bool,
    collapse_whitespace: bool,
    max_candidates: usize,
    max_bucket: usize,
}

/// Builds both halves of the stage. `index` is the stage's position in the pipeline.
pub fn build(
    cfg: &DedupConfig,
    schema: &SchemaRef,
    src: &PipelineSource,
    index: usize,
    inputs: &[crate::io::source::InputFile],
) -> Result<(DedupSignatures, DedupIndex)> {
    let err = |needle: &str, msg: String| {
        Error::Config(format!("{}: dedup: {msg}", src.stage_at(index, needle)))
    };
    let paths = resolve_fields(schema, cfg.fields.as_deref(), err)?;
    if paths.is_empty() {
        return Err(err(
            "fields",
            "the input has no string fields to compare".into(),
        ));
    }
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        return Err(err(
            "threshold",
            format!("threshold must be in (0, 1], not {}", cfg.threshold),
        ));
    }
    if cfg.ngram == 0 || cfg.ngram > MAX_NGRAM {
        return Err(err(
            "ngram",
            format!("ngram must be between 1 and {MAX_NGRAM}"),
        ));
    }
    if !(8..=1024).contains(&cfg.num_hashes) {
        return Err(err(
            "num_hashes",
            "num_hashes must be between 8 and 1024".into(),
        ));
    }
    if cfg.max_bucket == 0 {
        return Err(err("max_bucket", "max_bucket must be at least 1".into()));
    }
    if cfg.max_candidates == 0 {
        return Err(err(
            "max_candidates",
            "max_candidates must be at least 1".into(),
        ));
    }
    let (bands, rows) = match (cfg.bands, cfg.rows) {
        (None, None) => choose_bands(cfg.num_hashes, cfg.threshold),
        (Some(b), Some(r)) if b >= 1 && r >= 1 && b * r <= cfg.num_hashes => (b, r),
        (Some(_), Some(_)) => {
            return Err(err(
                "bands",
                format!(
                    "bands × rows must be at least 1 and at most num_hashes ({})",
                    cfg.num_hashes
                ),
            ))
        }
        _ => {
            return Err(err(
                "bands",
                "set both bands and rows, or neither (then they are chosen from the threshold)"
                    .into(),
            ))
        }
    };
    let priority_column = match (cfg.keep, &cfg.priority) {
        (Keep::Priority, Some(name)) => {
            let numeric = schema
                .column_with_name(name)
                .filter(|(_, f)| f.data_type().is_numeric());
            Some(
                numeric
                    .ok_or_else(|| {
                        err(
                            name,
                            format!("priority column `{name}` is not a top-level numeric column"),
                        )
                    })?
                    .0,
            )
        }
        (Keep::Priority, None) => {
            return Err(err(
                "keep",
                "keep = \"priority\" needs `priority = \"<numeric column>\"`".into(),
            ))
        }
        (_, Some(_)) => {
            return Err(err(
                "priority",
                "`priority` is only used with keep = \"priority\"".into(),
            ))
        }
        (_, None) => None,
    };
    let id_column = match &cfg.id_field {
        Some(name) => Some(id_column(schema, name).ok_or_else(|| {
            err(
                name,
                format!("id_field `{name}` is not a top-level string or integer column"),
            )
        })?),
        None => id_column(schema, "id"),
    };
    let params = Params {
        mode: cfg.mode,
        threshold: cfg.threshold,
        shingle: cfg.shingle,
        ngram: cfg.ngram,
        num_hashes: cfg.num_hashes,
        bands,
        rows,
        nfkc: cfg.nfkc,
        case_fold: cfg.case_fold,
        collapse_whitespace: cfg.collapse_whitespace,
        max_candidates: cfg.max_candidates,
        max_bucket: cfg.max_bucket,
    };
    let mut barrier = DedupIndex::new(index, params.clone(), cfg.keep);
    if cfg.keep == Keep::First {
        if cfg.memory_mb == 0 {
            return Err(err("memory_mb", "memory_mb must be at least 1".into()));
        }
        barrier.memory_mb = Some(cfg.memory_mb);
        let budget = cfg.memory_mb.saturating_mul(1 << 20);
        let records = crate::io::source::estimate_records(inputs);
        let needed = records.saturating_mul(index_bytes_per_record(&params));
        if needed > budget {
            tracing::info!(
                records,
                needed_mib = needed >> 20,
                memory_mb = cfg.memory_mb,
                "dedup: the index would outgrow memory_mb; two passes, the index kept in generations"
            );
            barrier.bounded = Some(Box::new(Bounded::new(cfg.memory_mb)));
        }
    }
    Ok((
        DedupSignatures {
            index,
            paths,
            id_column,
            priority_column,
            lengths: cfg.keep == Keep::Longest,
            probes: Probes::new(params.num_hashes),
            params,
        },
        barrier,
    ))
}

/// About how many bytes of memory the index takes per record (measured: the report's
/// `index_bytes_per_record` on the bundled generators is within a tenth of this).
fn index_bytes_per_record(p: &Params) -> u64 {
    // Location 32 B, exact-hash table entry ~24 B at its load.
    let mut bytes = 32 + 24;
    if p.mode == Mode::Near {
        // Band table entries (8 B at a load between 3/8 and 3/4), the sketch and count
        // sketch, the set's place in the spill, the ordinal.
        bytes += p.bands as u64 * 8 * 16 / 9
            + p.num_hashes as u64
            + crate::stages::lsh::COUNT_BYTES as u64
            + 16
            + 4;
    }
    bytes
}

/// Builds `scope = "paragraph"`: a barrier only (it reads the values as they reach it).
pub fn build_paragraph(
    cfg: &DedupConfig,
    schema: &SchemaRef,
    src: &PipelineSource,
    index: usize,
) -> Result<crate::stages::dedup_paragraph::ParagraphDedup> {
    let err = |needle: &str, msg: String| {
        Error::Config(format!("{}: dedup: {msg}", src.stage_at(index, needle)))
    };
    if cfg.keep != Keep::First || cfg.priority.is_some() {
        return Err(err(
            "keep",
            "scope = \"paragraph\" keeps the first occurrence of a paragraph; remove `keep` / `priority`".into(),
        ));
    }
    if cfg.min_repeats < 2 {
        return Err(err("min_repeats", "min_repeats must be at least 2".into()));
    }
    let paths = resolve_fields(schema, cfg.fields.as_deref(), err)?;
    let p = Params {
        mode: Mode::Exact,
        threshold: 1.0,
        shingle: Shingle::Char,
        ngram: 1,
        num_hashes: 0,
        bands: 0,
        rows: 0,
        nfkc: cfg.nfkc,
        case_fold: cfg.case_fold,
        collapse_whitespace: cfg.collapse_whitespace,
        max_candidates: 0,
        max_bucket: 0,
    };
    Ok(crate::stages::dedup_paragraph::ParagraphDedup::new(
        paths,
        cfg.split,
        cfg.min_repeats,
        std::sync::Arc::new(move |s| canonical(s, &p)),
    ))
}

fn id_column(schema: &SchemaRef, name: &str) -> Option<usize> {
    let (i, f) = schema.column_with_name(name)?;
    (f.data_type().is_integer()
        || matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ))
    .then_some(i)
}

/// The canonical text that is hashed: NFKC, then lower case, then every whitespace run
/// as one space, trimmed (each step as configured).
fn canonical(raw: &str, p: &Params) -> String {
    // The usual settings in one pass over the NFKC form, without intermediate
    // strings. Per-character lower-casing equals `str::to_lowercase` except for the
    // final-sigma rule, so text with a capital sigma takes the general path.
    if p.case_fold && p.collapse_whitespace && !raw.contains('Σ') {
        let mut out = String::with_capacity(raw.len());
        let mut space = false;
        let push = |out: &mut String, space: &mut bool, c: char| {
            if c.is_whitespace() {
                *space = !out.is_empty();
                return;
            }
            if *space {
                out.push(' ');
                *space = false;
            }
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if caseless(c) {
                out.push(c);
            } else {
                out.extend(c.to_lowercase());
            }
        };
        // Text that is its own NFKC form is ASCII and characters without case that are
        // not whitespace: only its ASCII upper case and whitespace change, so it is
        // copied in runs between those bytes (always character boundaries), found a
        // word at a time, instead of a character's decoding, tests and encoding each.
        let same = |out: &mut String, space: &mut bool, s: &str| {
            let b = s.as_bytes();
            let mut from = 0;
            let mut i = 0;
            loop {
                let j = next_space_or_capital(b, i);
                if j > i && *space {
                    out.push_str(&s[from..i]);
                    out.push(' ');
                    *space = false;
                    from = i;
                }
                let Some(&c) = b.get(j) else { break };
                if matches!(c, b' ' | b'\t'..=b'\r') {
                    out.push_str(&s[from..j]);
                    *space = !out.is_empty();
                    from = j + 1;
                } else {
                    if *space {
                        out.push_str(&s[from..j]);
                        out.push(' ');
                        *space = false;
                        from = j;
                    }
                    if c.is_ascii_uppercase() {
                        out.push_str(&s[from..j]);
                        out.push(c.to_ascii_lowercase() as char);
                        from = j + 1;
                    }
                }
                i = j + 1;
            }
            out.push_str(&s[from..]);
        };
        if raw.is_ascii() {
            same(&mut out, &mut space, raw);
        } else if p.nfkc {
            nfkc_pieces(raw, &mut |piece| match piece {
                Nfkc::Same(s) => same(&mut out, &mut space, s),
                Nfkc::Char(c) => push(&mut out, &mut space, c),
            });
        } else {
            raw.chars().for_each(|c| push(&mut out, &mut space, c));
        }
        return out;
    }
    let text: Cow<str> = if p.nfkc && !raw.is_ascii() {
        Cow::Owned(raw.nfkc().collect())
    } else {
        Cow::Borrowed(raw)
    };
    let text: Cow<str> = if p.case_fold {
        if text.is_ascii() {
            Cow::Owned(text.to_ascii_lowercase())
        } else {
            Cow::Owned(text.to_lowercase())
        }
    } else {
        text
    };
    if !p.collapse_whitespace {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// The first position at or after `i` holding an ASCII capital or a byte from tab to
/// space (whitespace and a few other controls), or `b.len()`: eight bytes at a time.
fn next_space_or_capital(b: &[u8], i: usize) -> usize {
    use crate::detect::ascii::{first_flagged, in_range};
    first_flagged(
        b,
        i,
        |x| in_range(x, b'\t', b' ') | in_range(x, b'A', b'Z'),
        |c| matches!(c, b'\t'..=b' ' | b'A'..=b'Z'),
    )
}

/// A piece of a text's NFKC form, in order.
enum Nfkc<'a> {
    /// Characters of the text that are their own NFKC form: ASCII, 、。, CJK
    /// ideographs, Hangul syllables (none of them whitespace, none with case but ASCII).
    Same(&'a str),
    /// One character of the form.
    Char(char),
}

/// Calls `emit` with the pieces of `raw`'s NFKC form, running the normalizer only on
/// the stretches that need it: NFKC of a text is the NFKC of its pieces when each piece
/// starts at a character whose NFKC form is one character that has combining class 0 and
/// is never the second of a composition (ASCII, CJK ideographs, Hangul syllables, 、。,
/// the full-width ASCII forms). Such a character's form is emitted as it is, unless what
/// follows it needs the normalizer (it may compose with a combining mark); runs of those
/// that are their own form are emitted as slices of `raw`, so Chinese text costs a range
/// check per character.
fn nfkc_pieces<'a>(raw: &'a str, emit: &mut impl FnMut(Nfkc<'a>)) {
    /// The NFKC form of a character that starts a piece, or None. Besides the
    /// characters that are their own form, the full-width ASCII forms (，？！：（） and
    /// full-width letters and digits, most of what else Chinese text holds) and the
    /// ideographic space, whose forms are one ASCII character: never the second of a
    /// composition, so a piece may start there too.
    fn simple(c: char) -> Option<char> {
        match c {
            '\0'..='\u{7F}'
            | '\u{3001}'..='\u{3002}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{AC00}'..='\u{D7A3}' => Some(c),
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
            '\u{3000}' => Some(' '),
            _ => None,
        }
    }
    /// What the current piece is.
    #[derive(Clone, Copy)]
    enum Lead {
        /// One character that is its own form (or nothing, at the start).
        Same,
        /// One character with another form.
        Form(char),
        /// Characters that need the normalizer.
        Stretch,
    }
    // raw[run..piece]: pieces of one character that is its own form, not emitted yet;
    // raw[piece..]: the current piece.
    let (mut run, mut piece, mut lead) = (0, 0, Lead::Same);
    /// Emits the piece `raw[piece..end]`, and the run before it, when the piece is not
    /// one character that is its own form (which joins the run, tested by the caller:
    /// most pieces).
    #[inline(never)]
    fn end_piece<'a>(
        raw: &'a str,
        emit: &mut impl FnMut(Nfkc<'a>),
        run: &mut usize,
        (piece, lead, end): (usize, Lead, usize),
    ) {
        if *run < piece {
            emit(Nfkc::Same(&raw[*run..piece]));
        }
        match lead {
            Lead::Form(form) => emit(Nfkc::Char(form)),
            _ => raw[piece..end].nfkc().for_each(|c| emit(Nfkc::Char(c))),
        }
        *run = end;
    }
    for (i, c) in raw.char_indices() {
        match simple(c) {
            Some(form) => {
                if !matches!(lead, Lead::Same) {
                    end_piece(raw, emit, &mut run, (piece, lead, i));
                }
                piece = i;
                lead = if form == c {
                    Lead::Same
                } else {
                    Lead::Form(form)
                };
            }
            None => lead = Lead::Stretch,
        }
    }
    if !matches!(lead, Lead::Same) {
        end_piece(raw, emit, &mut run, (piece, lead, raw.len()));
    }
    if run < raw.len() {
        emit(Nfkc::Same(&raw[run..]));
    }
}

/// Characters without case in the blocks Chinese, Japanese and Korean text is made of
/// (CJK symbols and punctuation, kana, CJK ideographs, Hangul syllables): lower-casing
/// them is the identity, without the Unicode table lookup.
fn caseless(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')
}

/// The longest shingle the settings allow, in characters or words.
const MAX_NGRAM: usize = 64;

/// One 64-bit hash per shingle of `text` (already canonical). A text shorter than one
/// shingle is a single shingle; an empty text has none.
fn shingle_hashes(text: &str, p: &Params, out: &mut Vec<u64>) {
    out.clear();
    if text.is_empty() {
        return;
    }
    let bytes = text.as_bytes();
    if p.shingle == Shingle::Char {
        let n = p.ngram;
        // Character n-grams: a window of `ngram` characters ends where the next starts.
        if text.is_ascii() {
            // A character is a byte.
            if bytes.len() < n {
                out.push(xxh3_64(bytes));
            } else {
                out.extend(bytes.windows(n).map(xxh3_64));
            }
            return;
        }
        // One walk over the character boundaries (and the end), the last `RING` kept
        // (more than any `ngram` the settings allow): the window ending at a boundary
        // starts `n` boundaries back.
        const RING: usize = (MAX_NGRAM + 1).next_power_of_two();
        assert!(n < RING, "ngram is at most {MAX_NGRAM}");
        let mut ring = [0usize; RING];
        let ends = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()));
        for (k, end) in ends.enumerate() {
            if k >= n {
                out.push(xxh3_64(&bytes[ring[(k - n) % RING]..end]));
            }
            ring[k % RING] = end;
        }
        if out.is_empty() {
            // A text shorter than one shingle is one shingle.
            out.push(xxh3_64(bytes));
        }
        return;
    }
    // Word n-grams: byte offsets of the words and of their ends.
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(st)) => {
                starts.push(st);
                ends.push(i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        starts.push(st);
        ends.push(text.len());
    }
    if starts.len() < p.ngram {
        if let (Some(&a), Some(&b)) = (starts.first(), ends.last()) {
            out.push(xxh3_64(&bytes[a..b]));
        }
        return;
    }
    out.reserve(starts.len() + 1 - p.ngram);
    for i in 0..=starts.len() - p.ngram {
        out.push(xxh3_64(&bytes[starts[i]..ends[i + p.ngram - 1]]));
    }
}

/// splitmix64's finaliser: a cheap, well-mixed 64-bit permutation.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One-permutation MinHash with optimal densification: each shingle hash picks a bin
/// from its high bits and competes there with its low 32 bits; empty bins copy the value
/// of the first non-empty bin on a fixed pseudo-random probe sequence, which keeps the
/// collision probability of every bin equal to the Jaccard similarity.
/// Hand-written because no maintained crate implements densified one-permutation
/// hashing; `hashes` must not be empty.
#[cfg(test)]
fn signature(hashes: &[u64], k: usize, sig: &mut Vec<u32>, filled: &mut Vec<u64>) {
    signature_with(hashes, k, &Probes::new(k), sig, filled)
}

/// The first `PROBES` bins of every bin's densification probe sequence: the sequence
/// depends on the bin only, so it is computed once per stage instead of once per empty
/// bin of every record (short texts leave about half of the 128 bins empty).
#[derive(Debug, Clone)]
struct Probes {
    k: usize,
    table: Vec<u16>,
}

const PROBES: usize = 8;

impl Probes {
    fn new(k: usize) -> Self {
        let table = (0..k)
            .flat_map(|i| (0..PROBES as u64).map(move |a| probe_bin(i, a, k) as u16))
            .collect();
        Probes { k, table }
    }
}

/// The bin an empty bin `i` copies from at `attempt` (if that one is filled).
fn probe_bin(i: usize, attempt: u64, k: usize) -> usize {
    (((mix(((i as u64) << 32) | attempt) >> 32) * k as u64) >> 32) as usize
}

fn signature_with(
    hashes: &[u64],
    k: usize,
    probes: &Probes,
    sig: &mut Vec<u32>,
    filled: &mut Vec<u64>,
) {
    debug_assert_eq!(probes.k, k);
    sig.clear();
    sig.resize(k, u32::MAX);
    if k <= 128 {
        return signature_small(hashes, k, probes, sig);
    }
    // One bit per bin: the empty bins are then found a word at a time, and which of a
    // bin's first `PROBES` probes is filled is a bit test each, without a branch (as
    // a byte per bin, the filled tests were mispredicted branches, about half of the
    // signature's time on the chat corpus's short texts).
    filled.clear();
    filled.resize(k.div_ceil(64), 0);
    // Branch-free: a bin's value starts at u32::MAX, so the minimum is the first value
    // or a smaller one, as "empty or smaller" would have it.
    for &h in hashes {
        let bin = (((h >> 32) * k as u64) >> 32) as usize;
        sig[bin] = sig[bin].min(h as u32);
        filled[bin / 64] |= 1 << (bin % 64);
    }
    densify(sig, k, probes, filled, |j| {
        filled[j / 64] >> (j % 64) & 1 == 1
    });
}

/// Fills each empty bin of `sig` (a bit not set in `words`, the bitmap of its `k` bins)
/// with the value of the first filled bin of its probe sequence (`is_filled` tests a
/// bin of the same bitmap): the densification both bitmaps share, inlined into each so
/// that its tests are theirs.
#[inline(always)]
fn densify(
    sig: &mut [u32],
    k: usize,
    probes: &Probes,
    words: &[u64],
    is_filled: impl Fn(usize) -> bool,
) {
    for (w, &word) in words.iter().enumerate() {
        // The bins of this word that are empty (and exist: the last word may be part).
        let bins = (k - w * 64).min(64);
        let mut empty = !word & (u64::MAX >> (64 - bins));
        while empty != 0 {
            let i = w * 64 + empty.trailing_zeros() as usize;
            empty &= empty - 1;
            let table = &probes.table[i * PROBES..(i + 1) * PROBES];
            let mut hits = 0u32;
            for (a, &j) in table.iter().enumerate() {
                hits |= (is_filled(usize::from(j)) as u32) << a;
            }
            let j = if hits != 0 {
                usize::from(table[hits.trailing_zeros() as usize])
            } else {
                // Past the table (rare: fewer than one bin in 2^8 empty bins at half
                // full): the sequence goes on as computed.
                (PROBES as u64..)
                    .map(|a| probe_bin(i, a, k))
                    .find(|&j| is_filled(j))
                    .expect("a filled bin: `hashes` is not empty")
            };
            sig[i] = sig[j];
        }
    }
}

/// `signature_with` for at most 128 bins (the default `num_hashes` is 128), `sig` sized
/// and cleared: the bitmap of filled bins is two words on the stack, indexed by a
/// masked bit, so a probe's test is a load and a shift without a bounds check (the
/// bitmap in a vector cost a check and a branch per probe: the densification of the
/// chat corpus's short texts, about half their bins empty, was a seventh of the row
/// part's instructions). The same values as the general path
/// (`densification_is_the_reference_one` covers both).
fn signature_small(hashes: &[u64], k: usize, probes: &Probes, sig: &mut [u32]) {
    debug_assert!((1..=128).contains(&k) && sig.len() == k);
    let mut filled = [0u64; 2];
    for &h in hashes {
        let bin = (((h >> 32) * k as u64) >> 32) as usize;
        sig[bin] = sig[bin].min(h as u32);
        filled[(bin >> 6) & 1] |= 1 << (bin & 63);
    }
    let words = &filled[..k.div_ceil(64)];
    densify(sig, k, probes, words, |j| {
        filled[(j >> 6) & 1] >> (j & 63) & 1 == 1
    });
}

/// Appends the distinct low 32 bits of `hashes`, sorted, to `set` (the row's shingle
/// set). Shingle hashes are uniform, so a counting sort on their top bits, with at
/// least as many buckets as hashes, leaves about one hash per bucket, and one pass of
/// insertion sort finishes the buckets (each hash moves only within its bucket); the
/// distinct values are then copied out. Measured on 8 MB of chat, this is about a
/// third of the instructions of a radix sort from 128 hashes on and a comparison sort
/// below, each followed by an in-place dedup. A bucket of more than
/// `MAX_BUCKET` hashes (crafted texts, not chance) takes the comparison sort instead,
/// so that the insertion sort cannot go quadratic; sets past `1 << MAX_BITS` hashes
/// take the radix sort, whose buckets would be larger.
fn push_sorted_set(
    hashes: &[u64],
    set: &mut Vec<u32>,
    scratch: &mut Vec<u32>,
    counts: &mut Vec<u32>,
) {
    const SMALL_SET: usize = 16;
    const MAX_BITS: u32 = 16;
    const MAX_BUCKET: u32 = 32;
    let n = hashes.len();
    scratch.clear();
    if !(SMALL_SET..=1 << MAX_BITS).contains(&n) {
        scratch.extend(hashes.iter().map(|&h| h as u32));
        if n < SMALL_SET {
            scratch.sort_unstable();
        } else {
            radsort::sort(scratch);
        }
    } else {
        let bits = n.next_power_of_two().trailing_zeros().max(1);
        let shift = 32 - bits;
        counts.clear();
        counts.resize(1 << bits, 0);
        for &h in hashes {
            counts[(h as u32 >> shift) as usize] += 1;
        }
        // Each bucket's start, and the largest bucket.
        let (mut sum, mut most) = (0, 0);
        for c in counts.iter_mut() {
            most = most.max(*c);
            (*c, sum) = (sum, sum + *c);
        }
        scratch.resize(n, 0);
        for &h in hashes {
            let at = &mut counts[(h as u32 >> shift) as usize];
            scratch[*at as usize] = h as u32;
            *at += 1;
        }
        if most > MAX_BUCKET {
            scratch.sort_unstable();
        } else {
            for i in 1..n {
                let v = scratch[i];
                let mut j = i;
                while j > 0 && scratch[j - 1] > v {
                    scratch[j] = scratch[j - 1];
                    j -= 1;
                }
                scratch[j] = v;
            }
        }
    }
    set.reserve(n);
    if let Some(&first) = scratch.first() {
        set.push(first);
        for w in scratch.windows(2) {
            if w[1] != w[0] {
                set.push(w[1]);
            }
        }
    }
}

fn band_keys(sig: &[u32], bands: usize, rows: usize, out: &mut Vec<u32>) {
    for b in 0..bands {
        let mut h = mix(b as u64 ^ 0x5eed);
        for &v in &sig[b * rows..(b + 1) * rows] {
            h = mix(h ^ v as u64);
        }
        out.push(h as u32);
    }
}

/// What the row part hands the barrier for one batch (flat arrays, one entry per row).
struct BatchSignatures {
    /// None: the record has no text to compare.
    exact: Vec<Option<u128>>,
    /// Canonical length in chars (`keep = "longest"` only; zeros otherwise).
    chars: Vec<u32>,
    /// `bands` keys per row (near mode; zeros for empty rows).
    band_keys: Vec<u32>,
    /// Per row (near mode), the low byte of every MinHash value, then the count sketch
    /// of its shingle set (`lsh::count_sketch`): `stored_len` bytes, as the index
    /// stores them.
    sketches: Vec<u8>,
    /// Sorted shingle-hash sets, `sets[set_ends[i-1]..set_ends[i]]` for row i.
    sets: Vec<u32>,
    set_ends: Vec<usize>,
    /// The id column's value as JSON text, when there is an id column.
    ids: Option<Vec<Option<String>>>,
    /// The priority column as f64 (`keep = "priority"`; null is -inf).
    priority: Option<Vec<f64>>,
}

/// The row part: canonical text, exact hash, MinHash band keys and shingle sets.
pub struct DedupSignatures {
    index: usize,
    paths: Vec<StringPath>,
    id_column: Option<usize>,
    priority_column: Option<usize>,
    /// Whether the barrier needs canonical lengths (`keep = "longest"`).
    lengths: bool,
    params: Params,
    probes: Probes,
}

impl DedupSignatures {
    /// The batch's one text column when the stage reads exactly one top-level `Utf8`
    /// column (no nested steps), whose values are then the rows' texts.
    fn one_string_column<'a>(&self, batch: &'a Batch) -> Option<&'a arrow::array::StringArray> {
        match self.paths.as_slice() {
            [path] if path.steps.is_empty() => {
                batch.data.column(path.column).as_string_opt::<i32>()
            }
            _ => None,
        }
    }
}

impl RowStage for DedupSignatures {
    fn process(&self, mut batch: Batch, _findings: &mut Findings) -> Result<Batch> {
        let n = batch.num_rows();
        // Each row's text: one top-level string column's values as they are (the usual
        // `fields = ["text"]`), or the fields' strings joined by newlines into a copy.
        let mut joined: Vec<String>;
        let texts: Vec<&str> = match self.one_string_column(&batch) {
            Some(column) => (0..n)
                .map(|i| {
                    if column.is_null(i) {
                        ""
                    } else {
                        column.value(i)
                    }
                })
                .collect(),
            None => {
                joined = vec![String::new(); n];
                let mut has_text = vec![false; n];
                for path in &self.paths {
                    for_each_string(
                        batch.data.column(path.column),
                        &path.steps,
                        &mut |row, s| {
                            if has_text[row] {
                                joined[row].push('\n');
                            }
                            joined[row].push_str(s);
                            has_text[row] = true;
                        },
                    );
                }
                joined.iter().map(String::as_str).collect()
            }
        };
        let p = &self.params;
        let near = p.mode == Mode::Near;
        let mut out = BatchSignatures {
            exact: Vec::with_capacity(n),
            chars: Vec::with_capacity(n),
            band_keys: Vec::with_capacity(if near { n * p.bands } else { 0 }),
            sketches: Vec::with_capacity(if near { n * stored_len(p) } else { 0 }),
            sets: Vec::new(),
            set_ends: Vec::with_capacity(if near { n } else { 0 }),
            ids: self.id_column.map(|c| id_values(batch.data.column(c))),
            priority: match self.priority_column {
                Some(c) => Some(priority_values(batch.data.column(c))?),
                None => None,
            },
        };
        let (mut hashes, mut sig, mut filled) = (Vec::new(), Vec::new(), Vec::new());
        let (mut scratch, mut counts) = (Vec::new(), Vec::new());
        for &text in &texts {
            let canon = canonical(text, p);
            if canon.is_empty() {
                out.exact.push(None);
                out.chars.push(0);
                if near {
                    out.band_keys.extend(std::iter::repeat_n(0, p.bands));
                    out.sketches.extend(std::iter::repeat_n(0, stored_len(p)));
                    out.set_ends.push(out.sets.len());
                }
                continue;
            }
            out.exact.push(Some(xxh3_128(canon.as_bytes())));
            out.chars.push(if self.lengths {
                canon.chars().count().min(u32::MAX as usize) as u32
            } else {
                0
            });
            if near {
                shingle_hashes(&canon, p, &mut hashes);
                signature_with(&hashes, p.num_hashes, &self.probes, &mut sig, &mut filled);
                band_keys(&sig, p.bands, p.rows, &mut out.band_keys);
                out.sketches.extend(sig.iter().map(|&v| v as u8));
                let start = out.sets.len();
                push_sorted_set(&hashes, &mut out.sets, &mut scratch, &mut counts);
                crate::stages::lsh::count_sketch(&out.sets[start..], &mut out.sketches);
                out.set_ends.push(out.sets.len());
            }
        }
        batch.attachments[self.index] = Some(Box::new(out));
        Ok(batch)
    }
}

fn priority_values(col: &ArrayRef) -> Result<Vec<f64>> {
    let f = arrow::compute::cast(col, &DataType::Float64)?;
    let f = f.as_primitive::<arrow::datatypes::Float64Type>();
    Ok((0..f.len())
        .map(|i| {
            if f.is_null(i) || f.value(i).is_nan() {
                f64::NEG_INFINITY
            } else {
                f.value(i)
            }
        })
        .collect())
}

/// The id column as JSON text per row (None for null).
fn id_values(col: &ArrayRef) -> Vec<Option<String>> {
    fn strings<'a>(len: usize, get: impl Fn(usize) -> Option<&'a str>) -> Vec<Option<String>> {
        (0..len)
            .map(|i| get(i).map(|s| serde_json::to_string(s).expect("a string")))
            .collect()
    }
    match col.data_type() {
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            strings(a.len(), |i| (!a.is_null(i)).then(|| a.value(i)))
        }
        DataType::LargeUtf8 => {
            let a = col.as_string::<i64>();
            strings(a.len(), |i| (!a.is_null(i)).then(|| a.value(i)))
        }
        DataType::Utf8View => {
            let a = col.as_string_view();
            strings(a.len(), |i| (!a.is_null(i)).then(|| a.value(i)))
        }
        _ => {
            let f =
                arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())
                    .expect("integers can be formatted");
            (0..col.len())
                .map(|i| (!col.is_null(i)).then(|| f.value(i).to_string()))
                .collect()
        }
    }
}

/// Where an indexed record came from. Ordinals index `DedupIndex::docs`.
struct DocMeta {
    file: u32,
    line: u64,
    /// Ordinal of the kept record of its cluster (itself when kept).
    root: u32,
    /// End of its id in `DedupIndex::id_arena` (the start is the previous record's end).
    id_end: u64,
    has_id: bool,
}

const NONE: u32 = u32::MAX;

/// One record as the barrier sees it: where it is and what the row part computed.
struct Record<'a> {
    file: u32,
    line: u64,
    id: Option<&'a str>,
    exact: u128,
    /// What the LSH index needs (near mode only; empty otherwise).
    near: Query<'a>,
}

/// Adds one probe's work to the findings.
fn count_probe(f: &mut Findings, p: &Probe) {
    for (name, n) in [
        ("candidates_prefiltered", p.prefiltered),
        ("candidates_verified", p.verified),
        ("candidates_rejected", p.rejected),
        ("candidate_limit_reached", p.limited as u64),
    ] {
        if n > 0 {
            f.add_total(name, n);
        }
    }
}

fn clusters_error(source: std::io::Error) -> Error {
    Error::Io {
        context: format!("cannot write {CLUSTERS_FILE}"),
        source,
    }
}

/// The barrier part: the exact-hash table, the LSH band index and the keep/drop decision.
pub struct DedupIndex {
    index: usize,
    params: Params,
    keep: Keep,
    docs: Vec<DocMeta>,
    id_arena: String,
    exact: FxHashMap<u128, u32>,
    /// Near mode: the LSH index (opened with the stage), of every record that is not
    /// an exact copy.
    lsh: Option<LshIndex>,
    /// Probes a batch on this many threads (`--threads`; none: on the barrier's own).
    pool: Option<rayon::ThreadPool>,
    clusters: Option<BufWriter<File>>,
    cluster_lines: u64,
    inputs: Vec<(String, Format)>,
    /// Dropped records per kept record.
    cluster_sizes: FxHashMap<u32, u32>,
    scratch: Scratch,
    /// `keep = "longest"` / `"priority"`: the clusters built in the first pass.
    clusters_two_pass: Option<TwoPass>,
    /// Ordinal of `docs[0]` (bounded mode: the records before it are frozen).
    docs_base: u32,
    /// `keep = "first"` over more records than `memory_mb` holds: the index in
    /// generations, the batches held until theirs settles (`bounded.rs`).
    bounded: Option<Box<Bounded>>,
    /// `keep = "first"`: the index's memory setting (MiB), for the warning when a
    /// one-pass index outgrew it after all.
    memory_mb: Option<u64>,
}

/// What a record of a batch matched when the barrier came to it.
enum Verdict {
    /// No text to compare.
    Empty,
    /// An exact copy of the record with this ordinal (not added to the index).
    Exact(u32),
    /// Added to the index as the first ordinal; its earliest near match before it.
    Added(u32, Option<(u32, f64)>),
}

/// Why a record belongs to its cluster: a record it was verified against.
#[derive(Clone, Copy)]
struct Link {
    other: u32,
    similarity: f32,
    exact: bool,
}

/// First-pass state of the two-pass policies: clusters are the connected components of
/// the verified-similarity graph (union-find over ordinals), and each keeps its best
/// member. Ordinals count the records with text in input order, in both passes.
#[derive(Default)]
struct TwoPass {
    parent: Vec<u32>,
    score: Vec<f64>,
    link: Vec<Option<Link>>,
    /// After the first pass: the kept ordinal of each record's cluster.
    keeper: Vec<u32>,
    /// Second pass: the next ordinal.
    cursor: usize,
}

impl TwoPass {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32, link: Link) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb) as usize] = ra.min(rb);
        }
        // Every member of a cluster gets a link: the newcomer to what it matched, and
        // a record without one (the first of its cluster) back to the newcomer.
        if self.link[a as usize].is_none() {
            self.link[a as usize] = Some(link);
        }
        if self.link[b as usize].is_none() {
            self.link[b as usize] = Some(Link { other: a, ..link });
        }
    }
}

impl DedupIndex {
    fn new(index: usize, params: Params, keep: Keep) -> Self {
        DedupIndex {
            docs_base: 0,
            bounded: None,
            memory_mb: None,
            index,
            keep,
            docs: Vec::new(),
            id_arena: String::new(),
            exact: FxHashMap::default(),
            lsh: None,
            pool: None,
            clusters: None,
            cluster_lines: 0,
            inputs: Vec::new(),
            cluster_sizes: FxHashMap::default(),
            scratch: Scratch::default(),
            clusters_two_pass: (keep != Keep::First).then(TwoPass::default),
            params,
        }
    }

    fn location(&self, file: u32, line: u64, id: Option<&str>) -> String {
        let (name, format) = &self.inputs[file as usize];
        let unit = match format {
            Format::Jsonl | Format::Csv => "line",
            Format::Parquet => "row",
        };
        let name = serde_json::to_string(name).expect("a string");
        match id {
            Some(id) => format!(r#"{{"file":{name},"{unit}":{line},"id":{id}}}"#),
            None => format!(r#"{{"file":{name},"{unit}":{line}}}"#),
        }
    }

    fn doc_location(&self, ord: u32) -> Result<String> {
        let (file, line, _, id) = self.doc_meta(ord)?;
        Ok(self.location(file, line, id.as_deref()))
    }

    /// Adds a record's location and returns its ordinal.
    fn push_doc(&mut self, r: &Record<'_>) -> Result<u32> {
        let ord = self.docs_base as usize + self.docs.len();
        if ord >= NONE as usize {
            return Err(Error::Data(
                "dedup: more than 4 294 967 294 distinct records; split the input".into(),
            ));
        }
        if let Some(id) = r.id {
            self.id_arena.push_str(id);
        }
        self.docs.push(DocMeta {
            file: r.file,
            line: r.line,
            root: ord as u32,
            id_end: self.id_arena.len() as u64,
            has_id: r.id.is_some(),
        });
        Ok(ord as u32)
    }

    /// Adds a record to the index and returns its ordinal. `banded`: also into the LSH
    /// index (near mode).
    fn insert(&mut self, r: &Record<'_>, banded: bool, f: &mut Findings) -> Result<u32> {
        let ord = self.push_doc(r)?;
        self.exact.entry(r.exact).or_insert(ord);
        if let Some(lsh) = self.lsh.as_mut().filter(|_| banded) {
            let added = lsh.add(ord, &r.near)?;
            if added < self.params.bands {
                f.add_total("bucket_full", (self.params.bands - added) as u64);
                if added == 0 {
                    f.add_total("records_unfindable", 1);
                }
            }
        }
        f.add_total("records_indexed", 1);
        Ok(ord)
    }

    fn lsh(&self) -> &LshIndex {
        self.lsh.as_ref().expect("opened before the first batch")
    }

    /// The record at `row` of a batch, as the row part described it.
    fn record<'a>(
        sigs: &'a BatchSignatures,
        (file, origins): (u32, &[u64]),
        row: usize,
        p: &Params,
    ) -> Option<Record<'a>> {
        let exact = sigs.exact[row]?;
        let mut r = Record {
            file,
            line: origins[row],
            id: sigs.ids.as_ref().and_then(|ids| ids[row].as_deref()),
            exact,
            near: Query {
                keys: &[],
                sketch: &[],
                set: &[],
            },
        };
        if p.mode == Mode::Near {
            let (b, k) = (p.bands, stored_len(p));
            let start = if row == 0 { 0 } else { sigs.set_ends[row - 1] };
            r.near = Query {
                keys: &sigs.band_keys[row * b..(row + 1) * b],
                sketch: &sigs.sketches[row * k..(row + 1) * k],
                set: &sigs.sets[start..sigs.set_ends[row]],
            };
        }
        Some(r)
    }

    /// The first `n` records of a batch (`record` for each row).
    fn records<'a>(
        sigs: &'a BatchSignatures,
        at: (u32, &[u64]),
        n: usize,
        p: &Params,
    ) -> Vec<Option<Record<'a>>> {
        (0..n).map(|row| Self::record(sigs, at, row, p)).collect()
    }

    fn record_drop(
        &mut self,
        dropped: String,
        matched: u32,
        root: u32,
        mode: &str,
        similarity: f64,
    ) -> Result<()> {
        let matched_loc = self.doc_location(matched)?;
        let kept_loc = self.doc_location(root)?;
        self.write_drop(&dropped, (&matched_loc, &kept_loc), root, mode, similarity)
    }

    /// `record_drop` with the matched and kept records' locations already made.
    fn write_drop(
        &mut self,
        dropped: &str,
        (matched_loc, kept_loc): (&str, &str),
        root: u32,
        mode: &str,
        similarity: f64,
    ) -> Result<()> {
        *self.cluster_sizes.entry(root).or_default() += 1;
        let line = format!(
            r#"{{"dropped":{dropped},"matched":{matched_loc},"kept":{kept_loc},"mode":"{mode}","similarity":{}}}"#,
            (similarity * 10_000.0).round() / 10_000.0
        );
        let w = self
            .clusters
            .as_mut()
            .expect("opened before the first batch");
        writeln!(w, "{line}").map_err(clusters_error)?;
        self.cluster_lines += 1;
        Ok(())
    }
}

impl DedupIndex {
    /// Second pass of the two-pass policies: drops every record that is not its
    /// cluster's keeper.
    fn process_decided(
        &mut self,
        at: (u32, &[u64]),
        sigs: &BatchSignatures,
        keep: &mut [bool],
        f: &mut Findings,
    ) -> Result<()> {
        for (row, k) in keep.iter_mut().enumerate() {
            let Some(record) = Self::record(sigs, at, row, &self.params) else {
                f.add_total("skipped_empty", 1);
                continue;
            };
            let tp = self.clusters_two_pass.as_mut().expect("two-pass state");
            let ord = tp.cursor;
            tp.cursor += 1;
            let same = self
                .docs
                .get(ord)
                .is_some_and(|d| d.file == record.file && d.line == record.line);
            if !same {
                return Err(Error::Data(
                    "dedup: the input changed between the two passes (keep = \"longest\" or \"priority\" reads it twice); rerun on input that does not change".into(),
                ));
            }
            let keeper = tp.keeper[ord];
            if keeper as usize == ord {
                continue;
            }
            let link = tp.link[ord].expect("a dropped record has a link");
            *k = false;
            let mode = if link.exact { "exact" } else { "near" };
            f.add_total(&format!("dropped_{mode}"), 1);
            let dropped = self.location(record.file, record.line, record.id);
            self.record_drop(dropped, link.other, keeper, mode, link.similarity as f64)?;
        }
        Ok(())
    }
}

impl DedupIndex {
    /// One batch observed before any decision: the two-pass policies' first pass, or a
    /// bounded index's judging of a batch it holds (or of a shard's saved signatures).
    fn observe_any(
        &mut self,
        at: (u32, &[u64]),
        sigs: &BatchSignatures,
        f: &mut Findings,
    ) -> Result<()> {
        if self.bounded.is_none() {
            return self.observe_sigs(at, sigs, f);
        }
        let records = Self::records(sigs, at, at.1.len(), &self.params);
        let verdicts = self.judge(&records, f)?;
        self.observe_bounded(verdicts, f)
    }

    /// The first pass of the two-pass policies over one batch's records (`at`: their
    /// file and lines).
    fn observe_sigs(
        &mut self,
        at: (u32, &[u64]),
        sigs: &BatchSignatures,
        f: &mut Findings,
    ) -> Result<()> {
        for row in 0..at.1.len() {
            let Some(record) = Self::record(sigs, at, row, &self.params) else {
                continue;
            };
            let score = match (&sigs.priority, self.keep) {
                (Some(p), _) => p[row],
                (None, _) => sigs.chars[row] as f64,
            };
            let exact_match = self.exact.get(&record.exact).copied();
            let mut probe = Probe::default();
            let mut candidates = std::mem::take(&mut self.scratch.candidates);
            candidates.clear();
            if exact_match.is_none() && self.params.mode == Mode::Near {
                self.lsh()
                    .candidates(&record.near, 0, &mut candidates, &mut probe);
            }
            let ord = self.insert(&record, exact_match.is_none(), f)?;
            let tp = self.clusters_two_pass.as_mut().expect("two-pass state");
            tp.parent.push(ord);
            tp.score.push(score);
            tp.link.push(None);
            if let Some(first) = exact_match {
                let link = Link {
                    other: first,
                    similarity: 1.0,
                    exact: true,
                };
                tp.union(ord, first, link);
            }
            for &c in &candidates {
                let lsh = self.lsh.as_ref().expect("near mode");
                let other = lsh.ord(c);
                let tp = self.clusters_two_pass.as_mut().expect("two-pass state");
                if tp.find(other) == tp.find(ord) {
                    continue;
                }
                let Scratch { set, .. } = &mut self.scratch;
                if let Some(j) = lsh.similar(&record.near, c, &mut probe, set)? {
                    let link = Link {
                        other,
                        similarity: j as f32,
                        exact: false,
                    };
                    tp.union(ord, other, link);
                }
            }
            self.scratch.candidates = candidates;
            count_probe(f, &probe);
        }
        Ok(())
    }

    /// What each of a batch's records matches among the records before it, in input
    /// order; adds the records that are not exact copies to the index. Near mode: each
    /// probes the index as it stood before the batch on all threads, then the records
    /// the batch added itself in order. Bounded mode also gives exact copies an ordinal.
    fn judge(&mut self, records: &[Option<Record<'_>>], f: &mut Findings) -> Result<Vec<Verdict>> {
        let (probes, since) = match &self.lsh {
            Some(lsh) => {
                let mut in_batch = FxHashSet::default();
                let queries: Vec<Option<Query<'_>>> = records
                    .iter()
                    .map(|r| {
                        r.as_ref()
                            .filter(|r| {
                                !self.exact.contains_key(&r.exact) && in_batch.insert(r.exact)
                            })
                            .map(|r| r.near)
                    })
                    .collect();
                (
                    lsh.probe_all(&queries, self.pool.as_ref())?,
                    lsh.next_slot(),
                )
            }
            None => (Vec::new(), 0),
        };
        let mut verdicts = Vec::with_capacity(records.len());
        // The band tables are larger than the caches: each record's lookups (the probe
        // of this batch's slots, then its insertion) are a cache miss per band, so the
        // entries of the record `AHEAD` rows on are asked for now.
        const AHEAD: usize = 4;
        let prefetch = |lsh: &Option<LshIndex>, row: usize| {
            if let (Some(lsh), Some(Some(r))) = (lsh, records.get(row)) {
                lsh.prefetch_keys(&r.near);
            }
        };
        (0..AHEAD).for_each(|row| prefetch(&self.lsh, row));
        for (row, record) in records.iter().enumerate() {
            prefetch(&self.lsh, row + AHEAD);
            let Some(record) = record else {
                f.add_total("skipped_empty", 1);
                verdicts.push(Verdict::Empty);
                continue;
            };
            if let Some(&ord) = self.exact.get(&record.exact) {
                if self.bounded.is_some() {
                    self.push_doc(record)?;
                }
                verdicts.push(Verdict::Exact(ord));
                continue;
            }
            let mut matched = None;
            if let Some(lsh) = &self.lsh {
                let before = probes[row];
                count_probe(f, &before);
                matched = before.matched;
                if matched.is_none() && lsh.next_slot() > since {
                    let p = lsh.probe(&record.near, since, &mut self.scratch)?;
                    count_probe(f, &p);
                    matched = p.matched;
                }
            }
            let matched = matched.map(|(slot, j)| (self.lsh().ord(slot), j));
            // Dropped records are indexed too: a later record may match only them (an
            // edit of the dropped copy), and it belongs to the same cluster. Indexing
            // only kept records lost 4% recall on tests/dedup_quality.rs.
            let ord = self.insert(record, true, f)?;
            verdicts.push(Verdict::Added(ord, matched));
        }
        Ok(verdicts)
    }

    /// The keep (true) or drop decision for each of one batch's records (`at`: their
    /// file and lines), recording every drop in `dedup_clusters.jsonl`.
    fn decide(
        &mut self,
        at: (u32, &[u64]),
        sigs: &BatchSignatures,
        f: &mut Findings,
    ) -> Result<Vec<bool>> {
        let n = at.1.len();
        let mut keep = vec![true; n];
        let one_pass_rows = if self.clusters_two_pass.is_some() {
            self.process_decided(at, sigs, &mut keep, f)?;
            0
        } else {
            n
        };
        let records = Self::records(sigs, at, one_pass_rows, &self.params);
        let verdicts = self.judge(&records, f)?;
        for (row, (record, verdict)) in records.iter().zip(verdicts).enumerate() {
            let Some(record) = record else { continue };
            let (matched, mode, similarity) = match verdict {
                Verdict::Empty | Verdict::Added(_, None) => continue,
                Verdict::Exact(m) => (m, "exact", 1.0),
                Verdict::Added(ord, Some((m, j))) => {
                    let root = self.docs[(m - self.docs_base) as usize].root;
                    self.docs[(ord - self.docs_base) as usize].root = root;
                    (m, "near", j)
                }
            };
            keep[row] = false;
            f.add_total(&format!("dropped_{mode}"), 1);
            let root = self.docs[(matched - self.docs_base) as usize].root;
            let dropped = self.location(record.file, record.line, record.id);
            self.record_drop(dropped, matched, root, mode, similarity)?;
        }
        Ok(keep)
    }
}

impl BarrierStage for DedupIndex {
    fn decided_apart(&self) -> bool {
        true
    }

    /// A sharded run's `map` task: the recorder that stands in for this barrier.
    fn recorder(&self, dir: &std::path::Path) -> Result<Option<Box<dyn BarrierStage>>> {
        let path = dir.join(SIGNATURES_FILE);
        let f = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        Ok(Some(Box::new(SigRecorder {
            index: self.index,
            path,
            out: BufWriter::with_capacity(1 << 20, f),
            buf: Vec::new(),
        })))
    }

    /// The first pass of a two-pass policy over a shard's saved signatures.
    fn decide_all(
        &mut self,
        signed: &[(std::path::PathBuf, u32)],
        out: &std::path::Path,
        f: &mut Findings,
    ) -> Result<Vec<StageFile>> {
        if self.needs_prepass() || self.bounded.is_some() {
            for (dir, first) in signed {
                self.for_each_saved(dir, *first, |me, _, file, origins, sigs| {
                    me.observe_any((file, origins), sigs, f)
                })?;
            }
            self.end_prepass(f)?;
        }
        if let Some(b) = self.bounded.as_mut() {
            // Decided in the first pass: each shard gets its drops, by its own files.
            let drops = b.take_settled();
            for (k, (_, first)) in signed.iter().enumerate() {
                let next = signed.get(k + 1).map_or(u32::MAX, |(_, n)| *n);
                let mine: Vec<(u32, u64)> = drops
                    .iter()
                    .filter(|(file, _)| (*first..next).contains(file))
                    .map(|&(file, o)| (file - first, o))
                    .collect();
                crate::engine::DropList::write(&drops_file(out, k), &mine)?;
            }
            return self.finish(f);
        }
        for (k, (dir, first)) in signed.iter().enumerate() {
            let mut drops = Vec::new();
            self.for_each_saved(dir, *first, |me, local, file, origins, sigs| {
                let keep = me.decide((file, origins), sigs, f)?;
                drops.extend(
                    keep.iter()
                        .zip(origins)
                        .filter(|(k, _)| !**k)
                        .map(|(_, o)| (local, *o)),
                );
                Ok(())
            })?;
            crate::engine::DropList::write(&drops_file(out, k), &drops)?;
        }
        self.finish(f)
    }

    fn applier(&self, decided: &std::path::Path, k: usize) -> Result<Box<dyn BarrierStage>> {
        Ok(Box::new(crate::engine::DropList::load(&drops_file(
            decided, k,
        ))?))
    }
    fn needs_prepass(&self) -> bool {
        self.clusters_two_pass.is_some()
    }

    fn observe(&mut self, batch: &mut Batch, f: &mut Findings) -> Result<()> {
        let Some(sigs) = batch.attachments[self.index].take() else {
            return Ok(());
        };
        let sigs = sigs
            .downcast::<BatchSignatures>()
            .map_err(|_| Error::Internal("dedup: attachment of another stage".into()))?;
        self.observe_any((batch.file, &batch.origins), &sigs, f)
    }

    fn end_prepass(&mut self, f: &mut Findings) -> Result<()> {
        if self.bounded.is_some() {
            return self.settle_last(f);
        }
        let tp = self.clusters_two_pass.as_mut().expect("two-pass state");
        let n = tp.parent.len();
        let mut best = vec![NONE; n];
        for ord in 0..n as u32 {
            let root = tp.find(ord) as usize;
            let b = best[root];
            if b == NONE || tp.score[ord as usize] > tp.score[b as usize] {
                best[root] = ord;
            }
        }
        tp.keeper = (0..n as u32)
            .map(|ord| best[tp.find(ord) as usize])
            .collect();
        tp.parent = Vec::new();
        tp.score = Vec::new();
        tp.cursor = 0;
        Ok(())
    }

    fn open(&mut self, ctx: &StageContext) -> Result<()> {
        self.inputs = ctx.inputs.clone();
        let path = ctx.staging.join(CLUSTERS_FILE);
        let f = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        self.clusters = Some(BufWriter::new(f));
        if let Some(b) = self.bounded.as_mut() {
            b.open()?;
        }
        if self.params.mode == Mode::Near {
            let p = &self.params;
            self.lsh = Some(LshIndex::new(LshSettings {
                bands: p.bands,
                num_hashes: p.num_hashes,
                threshold: p.threshold,
                prefilter: prefilter_agreement(p.threshold, p.num_hashes),
                max_candidates: p.max_candidates,
                max_bucket: p.max_bucket,
            })?);
            if self.bounded.is_some() {
                self.lsh.as_mut().expect("just opened").keep_keys();
            }
            if ctx.threads > 1 && self.pool.is_none() {
                self.pool = Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(ctx.threads)
                        .thread_name(|i| format!("datacustoms-dedup-{i}"))
                        .build()
                        .map_err(|e| Error::Internal(format!("cannot start dedup threads: {e}")))?,
                );
            }
        }
        if self.bounded.is_some() && self.docs.is_empty() {
            self.start_generation();
        }
        Ok(())
    }

    /// Bounded: the batch is held until its generation settles (`bounded.rs`).
    fn hold(&mut self, batch: Batch, f: &mut Findings, out: &mut PassOn<'_>) -> Result<()> {
        if self.bounded.is_some() {
            return self.hold_bounded(batch, f, out);
        }
        out(self.process(batch, f)?)
    }

    fn release(&mut self, f: &mut Findings, out: &mut PassOn<'_>) -> Result<()> {
        if self.bounded.is_some() {
            self.settle_last(f)?;
            self.release_held(out)?;
        }
        Ok(())
    }

    fn process(&mut self, mut batch: Batch, f: &mut Findings) -> Result<Batch> {
        if self.bounded.is_some() {
            return Err(Error::Internal(
                "dedup: a bounded index holds its batches (hold, not process)".into(),
            ));
        }
        let Some(sigs) = batch.attachments[self.index].take() else {
            return Ok(batch); // an empty batch: the row part did not run
        };
        let sigs = sigs
            .downcast::<BatchSignatures>()
            .map_err(|_| Error::Internal("dedup: attachment of another stage".into()))?;
        let keep = self.decide((batch.file, &batch.origins), &sigs, f)?;
        if keep.iter().any(|k| !k) {
            batch.drop_duplicates(&BooleanArray::from(keep))?;
        }
        Ok(batch)
    }

    fn finish(&mut self, f: &mut Findings) -> Result<Vec<StageFile>> {
        if let Some(b) = &self.bounded {
            b.check_done()?;
        }
        if let Some(mut w) = self.clusters.take() {
            w.flush()
                .and_then(|_| w.get_ref().sync_all())
                .map_err(clusters_error)?;
        }
        let histogram = self.cluster_histogram();
        f.add_total("clusters", self.cluster_sizes.len() as u64);
        tracing::debug!(clusters = self.cluster_sizes.len(), histogram = ?histogram, "dedup: clusters closed");
        self.describe_decision(f);
        f.set_info("cluster_sizes", &histogram);
        f.set_info("clusters_file", CLUSTERS_FILE);
        self.describe_memory(f);
        Ok(vec![StageFile {
            path: CLUSTERS_FILE.into(),
            rows: Some(self.cluster_lines),
        }])
    }
}

impl DedupIndex {
    /// Clusters by size (the kept record and its dropped copies).
    fn cluster_histogram(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut histogram = std::collections::BTreeMap::new();
        for &dropped in self.cluster_sizes.values() {
            let bucket = match dropped as u64 + 1 {
                2 => "2",
                3..=4 => "3-4",
                5..=8 => "5-8",
                9..=16 => "9-16",
                17..=64 => "17-64",
                _ => "65+",
            };
            *histogram.entry(bucket).or_default() += 1;
        }
        histogram
    }

    /// The report's words on what was decided and how: mode, policy, semantics, passes,
    /// canonical form and the LSH parameters.
    fn describe_decision(&self, f: &mut Findings) {
        let p = &self.params;
        let bounded = self.bounded.is_some();
        f.set_info("mode", p.mode);
        f.set_info("keep", self.keep);
        f.set_info(
            "semantics",
            match self.keep {
                Keep::First if bounded => {
                    "a record is dropped when it matches an earlier record (kept or \
                     dropped); the first occurrence in input order is kept; one pass, the \
                     index bounded by memory_mb (rows held on disk until their generation \
                     of the index is decided)"
                }
                Keep::First => {
                    "a record is dropped when it matches an earlier record (kept or \
                     dropped); the first occurrence in input order is kept; one pass"
                }
                Keep::Longest => {
                    "clusters are the connected components of verified matches; each \
                     keeps its longest record (ties: the first); two passes over the input"
                }
                Keep::Priority => {
                    "clusters are the connected components of verified matches; each \
                     keeps its record with the highest priority value (ties: the first); \
                     two passes over the input"
                }
            },
        );
        f.set_info("passes", if self.keep == Keep::First { 1 } else { 2 });
        f.set_info(
            "canonical_form",
            serde_json::json!({ "nfkc": p.nfkc, "case_fold": p.case_fold, "collapse_whitespace": p.collapse_whitespace }),
        );
        if p.mode == Mode::Near {
            f.set_info(
                "lsh",
                serde_json::json!({
                    "threshold": p.threshold,
                    "shingle": p.shingle,
                    "ngram": p.ngram,
                    "num_hashes": p.num_hashes,
                    "bands": p.bands,
                    "rows": p.rows,
                    "candidate_probability_at_threshold":
                        (candidate_probability(p.threshold, p.bands, p.rows) * 1e6).round() / 1e6,
                    "verification": "exact Jaccard of the shingle sets",
                    "max_bucket": p.max_bucket,
                    "buckets": "each LSH bucket holds the earliest max_bucket records; a record \
                        that finds one full is left out of that band only (bucket_full), and one \
                        left out of every band cannot be matched as near (records_unfindable)",
                }),
            );
        }
    }

    /// The report's words on memory: the index's bytes (bounded: its largest in-memory
    /// generation, and the generations), the spill, and an index that outgrew
    /// `memory_mb` in one pass after all.
    fn describe_memory(&self, f: &mut Findings) {
        if self.params.mode == Mode::Near {
            f.set_info(
                "spill_bytes",
                self.lsh.as_ref().map_or(0, LshIndex::spill_bytes),
            );
        }
        if let Some(b) = &self.bounded {
            f.set_info("index_bytes", b.peak_bytes);
            let (past_budget, runs) = b.pair_runs();
            f.set_info(
                "bounded_index",
                serde_json::json!({
                    "memory_mb": b.memory_mb,
                    "generations": b.generations(),
                    "settled_for_disk": b.settled_for_disk,
                    "settled_for_memory": b.settled_for_memory,
                    "settles_past_pair_budget": past_budget,
                    "pair_runs": runs,
                    "how": "the inputs held more records than memory_mb's index holds: the \
                        index was frozen to temporary files a generation at a time, each \
                        generation decided against the frozen ones when full (or when its \
                        rows held on disk until then reach 8 × memory_mb: settled_for_disk, \
                        or when its memory outgrew half of memory_mb first: settled_for_memory); \
                        an LSH bucket keeps its earliest max_bucket records across generations; \
                        a generation's candidate pairs past half of memory_mb went to sorted \
                        runs on disk (settles_past_pair_budget, pair_runs)",
                }),
            );
            return;
        }
        let index_bytes = self.generation_bytes();
        f.set_info("index_bytes", index_bytes);
        let records = (self.docs_base as usize + self.docs.len()).max(1) as f64;
        f.set_info(
            "index_bytes_per_record",
            (index_bytes as f64 / records).round(),
        );
        if let Some(mb) = self.memory_mb.filter(|mb| index_bytes as u64 > mb << 20) {
            // The records were underestimated (the first MiB of a file unlike the rest).
            tracing::warn!(
                "dedup: the index grew to {} MiB, past memory_mb = {mb}: the input held more \
                 records than its first MiB suggested; set memory_mb lower to bound it",
                index_bytes >> 20
            );
            f.set_info("index_over_memory_mb", true);
        }
    }
}

/// The drops of shard `k` in the dedup step's folder.
fn drops_file(dir: &std::path::Path, k: usize) -> std::path::PathBuf {
    dir.join(format!("drops-{k}.bin"))
}

/// The file a sharded run's `map` task records its records' signatures in (`SigRecorder`),
/// for the home `dedup` step to decide on (`decide_all`).
pub const SIGNATURES_FILE: &str = "dedup-signatures.bin";

// A batch's signatures as a sharded run's task saves them. Hand-written little-endian
// framing: the vectors are flat arrays of integers, and no serialization crate is a
// dependency; a length prefix before each array.
fn put_u32s(w: &mut Vec<u8>, v: impl ExactSizeIterator<Item = u32>) {
    w.extend_from_slice(&(v.len() as u64).to_le_bytes());
    for x in v {
        w.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_u64s(w: &mut Vec<u8>, v: impl ExactSizeIterator<Item = u64>) {
    w.extend_from_slice(&(v.len() as u64).to_le_bytes());
    for x in v {
        w.extend_from_slice(&x.to_le_bytes());
    }
}

/// Reads what `put_*` wrote.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::Data("dedup: a truncated signatures file".into()));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn len(&mut self) -> Result<usize> {
        let n = self.u64()? as usize;
        if n > self.bytes.len() {
            return Err(Error::Data("dedup: a corrupt signatures file".into()));
        }
        Ok(n)
    }
    fn u32s(&mut self) -> Result<Vec<u32>> {
        (0..self.len()?).map(|_| self.u32()).collect()
    }
    fn u64s(&mut self) -> Result<Vec<u64>> {
        (0..self.len()?).map(|_| self.u64()).collect()
    }
}

impl BatchSignatures {
    /// One batch's frame: its file, its records' lines and their signatures.
    fn encode(&self, file: u32, origins: &[u64], w: &mut Vec<u8>) {
        w.extend_from_slice(&file.to_le_bytes());
        put_u64s(w, origins.iter().copied());
        w.extend_from_slice(&(self.exact.len() as u64).to_le_bytes());
        for e in &self.exact {
            match e {
                Some(h) => {
                    w.push(1);
                    w.extend_from_slice(&h.to_le_bytes());
                }
                None => w.push(0),
            }
        }
        put_u32s(w, self.chars.iter().copied());
        put_u32s(w, self.band_keys.iter().copied());
        put_u64s(w, self.sketches.iter().map(|&b| u64::from(b)));
        put_u32s(w, self.sets.iter().copied());
        put_u64s(w, self.set_ends.iter().map(|&e| e as u64));
        match &self.ids {
            Some(ids) => {
                w.push(1);
                w.extend_from_slice(&(ids.len() as u64).to_le_bytes());
                for id in ids {
                    match id {
                        Some(t) => {
                            w.push(1);
                            w.extend_from_slice(&(t.len() as u64).to_le_bytes());
                            w.extend_from_slice(t.as_bytes());
                        }
                        None => w.push(0),
                    }
                }
            }
            None => w.push(0),
        }
        match &self.priority {
            Some(p) => {
                w.push(1);
                put_u64s(w, p.iter().map(|x| x.to_bits()));
            }
            None => w.push(0),
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<(u32, Vec<u64>, BatchSignatures)> {
        let file = r.u32()?;
        let origins = r.u64s()?;
        let n = r.len()?;
        let exact = (0..n)
            .map(|_| {
                Ok(match r.u8()? {
                    0 => None,
                    _ => Some(u128::from_le_bytes(
                        r.take(16)?.try_into().expect("16 bytes"),
                    )),
                })
            })
            .collect::<Result<_>>()?;
        let chars = r.u32s()?;
        let band_keys = r.u32s()?;
        let sketches = r.u64s()?.into_iter().map(|b| b as u8).collect();
        let sets = r.u32s()?;
        let set_ends = r.u64s()?.into_iter().map(|e| e as usize).collect();
        let ids = match r.u8()? {
            0 => None,
            _ => {
                let n = r.len()?;
                Some(
                    (0..n)
                        .map(|_| {
                            Ok(match r.u8()? {
                                0 => None,
                                _ => {
                                    let len = r.len()?;
                                    Some(String::from_utf8_lossy(r.take(len)?).into_owned())
                                }
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            }
        };
        let priority = match r.u8()? {
            0 => None,
            _ => Some(r.u64s()?.into_iter().map(f64::from_bits).collect()),
        };
        Ok((
            file,
            origins,
            BatchSignatures {
                exact,
                chars,
                band_keys,
                sketches,
                sets,
                set_ends,
                ids,
                priority,
            },
        ))
    }
}

/// Stands in for the dedup barrier in a sharded run's `map` task: records each batch's
/// signatures (in input order) into `SIGNATURES_FILE` and passes every row on; the home
/// `dedup` step decides on them all (`DedupIndex::decide_all`).
pub struct SigRecorder {
    index: usize,
    path: std::path::PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
}

impl BarrierStage for SigRecorder {
    fn process(&mut self, mut batch: Batch, _f: &mut Findings) -> Result<Batch> {
        let Some(sigs) = batch.attachments[self.index].take() else {
            return Ok(batch);
        };
        let sigs = sigs
            .downcast::<BatchSignatures>()
            .map_err(|_| Error::Internal("dedup: attachment of another stage".into()))?;
        self.buf.clear();
        sigs.encode(batch.file, &batch.origins, &mut self.buf);
        self.out
            .write_all(&(self.buf.len() as u64).to_le_bytes())
            .and_then(|_| self.out.write_all(&self.buf))
            .map_err(|e| Error::io("cannot write", &self.path, e))?;
        Ok(batch)
    }

    fn finish(&mut self, _f: &mut Findings) -> Result<Vec<StageFile>> {
        self.out
            .flush()
            .map_err(|e| Error::io("cannot write", &self.path, e))?;
        Ok(Vec::new())
    }
}

impl DedupIndex {
    /// Each frame of a task folder's `SIGNATURES_FILE`, in order, with its file index
    /// moved by `file_offset` (the shard's first file in the run).
    fn for_each_saved(
        &mut self,
        dir: &std::path::Path,
        file_offset: u32,
        mut each: impl FnMut(&mut Self, u32, u32, &[u64], &BatchSignatures) -> Result<()>,
    ) -> Result<()> {
        use std::io::Read;
        let path = dir.join(SIGNATURES_FILE);
        let io = |e| Error::io("cannot read", &path, e);
        let f = File::open(&path).map_err(io)?;
        // Frame by frame: a shard's file is about its text's size again.
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut frame = Vec::new();
        loop {
            let mut len = [0u8; 8];
            match r.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io(e)),
            }
            frame.resize(u64::from_le_bytes(len) as usize, 0);
            r.read_exact(&mut frame).map_err(io)?;
            let (file, origins, sigs) = BatchSignatures::decode(&mut Reader {
                bytes: &frame,
                at: 0,
            })?;
            each(self, file, file + file_offset, &origins, &sigs)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::lsh::jaccard;

    fn params(mode: Mode) -> Params {
        let (bands, rows) = choose_bands(128, 0.8);
        Params {
            mode,
            threshold: 0.8,
            shingle: Shingle::Char,
            ngram: 5,
            num_hashes: 128,
            bands,
            rows,
            nfkc: true,
            case_fold: true,
            collapse_whitespace: true,
            max_candidates: 1000,
            max_bucket: 32,
        }
    }

    fn set_of(text: &str, p: &Params) -> Vec<u32> {
        let mut h = Vec::new();
        shingle_hashes(&canonical(text, p), p, &mut h);
        let mut s: Vec<u32> = h.iter().map(|&x| x as u32).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// The canonical form step by step: NFKC and lower case through the general path
    /// (whitespace not collapsed), then every whitespace run as one space, trimmed.
    fn step_by_step(text: &str) -> String {
        let mut slow = params(Mode::Exact);
        slow.collapse_whitespace = false;
        canonical(text, &slow)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn fast_canonical_form_equals_the_step_by_step_one() {
        let p = params(Mode::Exact);
        for text in [
            "  Ｈｅｌｌｏ\u{3000}WORLD\n",
            "ΟΔΟΣ Σ",
            "İstanbul ǅ ﬁ ①",
            "你好，\n 世界 ＡＢＣ",
            "Café 你好 ÄÖ 안녕 カナ",
            "Cafe\u{301} ｶﾅ",
        ] {
            assert_eq!(canonical(text, &p), step_by_step(text), "{text}");
        }
    }

    proptest::proptest! {
        /// The one-pass form (runs copied between ASCII upper case and whitespace,
        /// characters one by one elsewhere) is NFKC, lower case and collapsed
        /// whitespace step by step, whatever the mix.
        #[test]
        fn fast_canonical_form_equals_the_step_by_step_one_on_any_mix(
            picks in proptest::collection::vec(0usize..40, 0..40),
        ) {
            const POOL: [char; 40] = [
                'a', 'Z', '😀', 'e', ' ', ' ', '\t', '\n', '\r', '\u{B}', '\u{C}', '\u{85}',
                '\u{A0}', '\u{3000}', '\u{2028}', '1', '.', '你', '好', '。', '、', '，',
                'Ａ', 'ｚ', '가', '\u{301}', '\u{308}', 'é', 'Ä', 'İ', 'ǅ', 'ﬁ', '①', 'ｶ',
                'ﾞ', 'Ω', 'σ', '\u{4DC0}', 'カ', '\u{1100}',
            ];
            let text: String = picks.iter().map(|&i| POOL[i]).collect();
            proptest::prop_assert_eq!(canonical(&text, &params(Mode::Exact)), step_by_step(&text));
        }
    }

    proptest::proptest! {
        /// Mostly ASCII, for the word-at-a-time search of capitals and whitespace
        /// (controls next to whitespace included).
        #[test]
        fn fast_canonical_form_equals_the_step_by_step_one_on_ascii(
            text in "[a-zA-Z0-9 \t\n\u{b}\u{c}\r\u{e}\u{1f}@\\[`{你]{0,70}",
        ) {
            proptest::prop_assert_eq!(canonical(&text, &params(Mode::Exact)), step_by_step(&text));
        }
    }

    #[test]
    fn canonical_form_folds_width_case_and_spacing() {
        let p = params(Mode::Exact);
        assert_eq!(
            canonical("  Ｈｅｌｌｏ\u{3000}WORLD\n\t１２３ ", &p),
            "hello world 123"
        );
        assert_eq!(canonical("你好，\n 世界", &p), "你好, 世界");
        assert_eq!(canonical(" \n ", &p), "");
    }

    #[test]
    fn bands_favour_recall_at_the_threshold() {
        assert_eq!(choose_bands(128, 0.8), (25, 5));
        for t in [0.5, 0.7, 0.8, 0.9, 0.95] {
            let (b, r) = choose_bands(128, t);
            assert!(b * r <= 128);
            assert!(candidate_probability(t, b, r) >= AUTO_RECALL_AT_THRESHOLD);
        }
        // datasketch's choice for 0.8 / 128 finds fewer than half the pairs at 0.8.
        assert!(candidate_probability(0.8, 9, 13) < 0.5);
    }

    #[test]
    fn chinese_shingles_are_characters_not_clauses() {
        let p = params(Mode::Near);
        let a = set_of("今天天气很好，我们一起去公园散步吧。", &p);
        let b = set_of("今天天气很好，我们一起去公园跑步吧。", &p);
        let j = jaccard(&a, &b);
        assert!(j > 0.5 && j < 1.0, "{j}");
        assert_eq!(set_of("短", &p).len(), 1);
        assert!(set_of("", &p).is_empty());
    }

    #[test]
    fn char_shingles_are_every_window_of_n_characters() {
        let p = params(Mode::Near);
        let mut h = Vec::new();
        for text in [
            "abcdef",
            "abcde",
            "abcd",
            "a",
            "中文字符串的窗口",
            "ｶﾅ文字éa",
        ] {
            let starts: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let expected: Vec<u64> = if starts.len() - 1 < p.ngram {
                vec![xxh3_64(text.as_bytes())]
            } else {
                starts
                    .windows(p.ngram + 1)
                    .map(|w| xxh3_64(&text.as_bytes()[w[0]..w[p.ngram]]))
                    .collect()
            };
            shingle_hashes(text, &p, &mut h);
            assert_eq!(h, expected, "{text}");
        }
    }

    proptest::proptest! {
        /// Every window of `ngram` characters, whatever the text (ASCII, two- to
        /// four-byte characters, shorter than one shingle) and the shingle length (up
        /// to the longest the settings allow, which the ring of boundaries holds).
        #[test]
        fn char_shingles_are_the_windows_of_any_text(
            text in "([a-z ]|é|文|😀){1,40}",
            ngram in proptest::sample::select(vec![1usize, 2, 5, 9, 63, MAX_NGRAM]),
        ) {
            let p = Params { ngram, ..params(Mode::Near) };
            let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let expected: Vec<u64> = if starts.len() - 1 < ngram {
                vec![xxh3_64(text.as_bytes())]
            } else {
                starts.windows(ngram + 1).map(|w| xxh3_64(&text.as_bytes()[w[0]..w[ngram]])).collect()
            };
            let mut h = Vec::new();
            shingle_hashes(&text, &p, &mut h);
            proptest::prop_assert_eq!(h, expected);
        }
    }

    #[test]
    fn word_shingles() {
        let mut p = params(Mode::Near);
        p.shingle = Shingle::Word;
        p.ngram = 2;
        let mut h = Vec::new();
        shingle_hashes("the cat sat", &p, &mut h);
        assert_eq!(h, [xxh3_64(b"the cat"), xxh3_64(b"cat sat")]);
        shingle_hashes("cat", &p, &mut h);
        assert_eq!(h, [xxh3_64(b"cat")]);
    }

    /// The NFKC form as `nfkc_pieces` has it, checking that the text it hands over as
    /// it is holds only characters that are their own form.
    fn nfkc_by_pieces(text: &str) -> String {
        let mut fast = String::new();
        nfkc_pieces(text, &mut |piece| match piece {
            Nfkc::Same(s) => {
                assert!(!s.is_empty());
                for c in s.chars() {
                    assert!(c.is_ascii() || (caseless(c) && !c.is_whitespace()), "{c:?}");
                    assert_eq!(c.to_string().nfkc().collect::<String>(), c.to_string());
                }
                fast.push_str(s);
            }
            Nfkc::Char(c) => fast.push(c),
        });
        fast
    }

    #[test]
    fn full_width_forms_and_the_ideographic_space_are_their_nfkc_forms() {
        for c in ('\u{FF00}'..='\u{FF60}').chain(['\u{3000}', '\u{2FFF}', '\u{3003}']) {
            let text = c.to_string();
            assert_eq!(
                nfkc_by_pieces(&text),
                text.nfkc().collect::<String>(),
                "{c:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn nfkc_in_stretches_equals_nfkc(picks in proptest::collection::vec(0usize..48, 0..40)) {
            // Stable characters next to what composes, decomposes or reorders.
            const POOL: [char; 48] = [
                'a', 'e', 'A', ' ', '1', '你', '好', '中', '。', '、', '，', '：', '（', 'Ａ', '１',
                '\u{301}', '\u{308}', '\u{323}', '\u{3099}', '\u{309A}', 'か', 'ハ', 'ｶ', 'ﾞ',
                '가', '\u{1100}', '\u{1161}', '\u{11A8}', 'ﬁ', '①', 'é', 'Å', 'Ω', '\u{212B}',
                '\u{F900}', '\u{3000}', '\u{200B}', 'ǅ', '\u{0F73}', '\u{1E9B}', '！', '？',
                'ｚ', '～', '\u{FF5F}', '＜', '\u{0338}', '<',
            ];
            let text: String = picks.iter().map(|&i| POOL[i]).collect();
            proptest::prop_assert_eq!(nfkc_by_pieces(&text), text.nfkc().collect::<String>());
        }
    }

    proptest::proptest! {
        /// The set of a row is its hashes' distinct low 32 bits in order, whatever
        /// their number (the comparison sort below 16, the buckets, the radix sort past
        /// 2^16), repeats, or hashes crowding into one bucket (`spread` keeps only some
        /// low bits of the value, or of its top bits).
        #[test]
        fn sorted_sets_are_the_sorted_distinct_hashes(
            seeds in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..700),
            spread in 0u32..4,
            big in proptest::prelude::any::<bool>(),
        ) {
            let mut hashes: Vec<u64> = seeds.iter().map(|&s| match spread {
                0 => s,
                1 => s & 0xFFFF_FFFF_0000_003F,
                2 => s & 0xFFFF_FFFF_07FF_FFFF,
                _ => s % 97,
            }).collect();
            if big {
                let more = hashes.len().max(1);
                hashes.extend((0..(1 << 16) + 1).map(|i| mix(i as u64 * more as u64)));
            }
            let mut expected: Vec<u32> = hashes.iter().map(|&h| h as u32).collect();
            expected.sort_unstable();
            expected.dedup();
            let mut set = vec![7, 3];
            push_sorted_set(&hashes, &mut set, &mut Vec::new(), &mut Vec::new());
            proptest::prop_assert_eq!(&set[..2], &[7, 3]);
            proptest::prop_assert_eq!(&set[2..], &expected[..]);
        }
    }

    #[test]
    fn caseless_characters_have_no_lower_case() {
        for c in ('\u{3000}'..='\u{9FFF}').chain('\u{AC00}'..='\u{D7A3}') {
            assert!(caseless(c));
            assert!(c.to_lowercase().eq(std::iter::once(c)), "{c:?}");
        }
        assert!(!caseless('A') && !caseless('Ä') && !caseless('Ａ'));
    }

    /// The signature as it was computed before the probe table and the bitmap, bin by
    /// bin.
    fn reference(hashes: &[u64], k: usize) -> Vec<u32> {
        let mut sig = vec![u32::MAX; k];
        let mut filled = vec![false; k];
        for &h in hashes {
            let bin = (((h >> 32) * k as u64) >> 32) as usize;
            if !filled[bin] || (h as u32) < sig[bin] {
                sig[bin] = h as u32;
                filled[bin] = true;
            }
        }
        for i in 0..k {
            if filled[i] {
                continue;
            }
            let j = (0..).map(|a| probe_bin(i, a, k)).find(|&j| filled[j]);
            sig[i] = sig[j.expect("an endless sequence")];
        }
        sig
    }

    proptest::proptest! {
        /// Any number of bins (a last bitmap word in part, one bin, thousands) and any
        /// fill, down to a single hash, where most empty bins go past the probe table.
        #[test]
        fn densification_is_the_reference_one(
            k in 1usize..700,
            seeds in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..300),
        ) {
            let hashes: Vec<u64> = seeds.iter().map(|&s| mix(s)).collect();
            let (mut sig, mut filled) = (Vec::new(), Vec::new());
            signature(&hashes, k, &mut sig, &mut filled);
            proptest::prop_assert_eq!(sig, reference(&hashes, k));
        }
    }

    #[test]
    fn densification_through_the_table_is_the_computed_one() {
        let (mut sig, mut filled) = (Vec::new(), Vec::new());
        for (k, n) in [
            (128, 1),
            (128, 3),
            (128, 60),
            (128, 400),
            (64, 2),
            (1024, 50),
        ] {
            let hashes: Vec<u64> = (0..n).map(|i| mix(i as u64 * 7 + k as u64)).collect();
            signature(&hashes, k, &mut sig, &mut filled);
            assert_eq!(sig, reference(&hashes, k), "k {k}, {n} hashes");
        }
    }

    #[test]
    fn jaccard_of_sorted_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
        assert_eq!(jaccard(&[1], &[]), 0.0);
    }

    #[test]
    fn signature_agreement_tracks_jaccard() {
        // Two sets with Jaccard 0.8: 900 shared hashes, 112 + 113 private ones.
        let shared: Vec<u64> = (0..900u64).map(|i| mix(i + 1)).collect();
        let a: Vec<u64> = shared
            .iter()
            .copied()
            .chain((0..112).map(|i| mix(10_000 + i)))
            .collect();
        let b: Vec<u64> = shared
            .iter()
            .copied()
            .chain((0..113).map(|i| mix(20_000 + i)))
            .collect();
        let (mut sa, mut sb, mut f) = (Vec::new(), Vec::new(), Vec::new());
        signature(&a, 1024, &mut sa, &mut f);
        signature(&b, 1024, &mut sb, &mut f);
        let agree = sa.iter().zip(&sb).filter(|(x, y)| x == y).count() as f64 / 1024.0;
        assert!((agree - 0.8).abs() < 0.06, "{agree}");
        // Densification fills every bin even for tiny sets, deterministically.
        signature(&[mix(1)], 128, &mut sa, &mut f);
        assert!(sa.iter().all(|&v| v == mix(1) as u32));
    }
}
