//! The `dp_release` stage: differentially private counts, sums, means and histograms,
//! written to `aggregates/` in the export, recorded in the budget ledger and described
//! in `dp_passport.jsonld`.
//!
//! A row part (parallel) extracts, per query and row, the privacy unit's hash, the group
//! key and the clamped fixed-point value; the barrier part bounds contributions as rows
//! arrive (per unit, the `max_partitions` groups with the smallest keyed-PRF priority —
//! a uniformly random subset — and per unit and group a reservoir of
//! `max_rows_per_partition` rows drawn with the OS CSPRNG), and at the end draws exact
//! integer noise once per released value.
//!
//! Invariants: sensitivity follows from the bounds, never from the data; every budget
//! cap is checked before any noise is drawn; a retried run (same `--run-id`) re-emits
//! the recorded release without drawing or spending again; no floating-point noise.

use std::collections::HashMap;
use std::fs::File;
use std::hash::Hasher;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use num_bigint::BigUint;
use serde::Serialize;
use serde_json::json;

use super::ledger::{Ledger, Release};
use super::sampler::{gaussian_ci95, laplace_ci95, OsBits, Ratio, Sampler};
pub use crate::config::stages::{Aggregate, Budget, DpReleaseConfig, QueryConfig};
use crate::config::PipelineSource;
use crate::engine::batch::Batch;
use crate::engine::{BarrierStage, Findings, RowStage, StageContext, StageFile};
use crate::error::{Error, Result};
use crate::io::schema::key_text;

use super::{Key, OutRow};

/// How a query is run, settled at build time.
struct Query {
    name: String,
    aggregate: Aggregate,
    value_col: Option<usize>,
    group_cols: Vec<usize>,
    group_names: Vec<String>,
    /// Fixed-point clamp bounds (units of `resolution`).
    lo: i64,
    hi: i64,
    resolution: f64,
    bounds: Option<[f64; 2]>,
    bins: Option<Vec<f64>>,
    public_keys: Option<Vec<Key>>,
    epsilon: Option<f64>,
    rho: Option<f64>,
    delta: Option<f64>,
    l0: u64,
    linf: u64,
    clamp: bool,
}

/// What the row part extracts for one query from one batch.
#[derive(Default)]
struct Extract {
    units: Vec<u64>,
    /// Per row: the group's index in `keys` (ids local to the batch, so that the
    /// barrier maps each distinct group once per batch instead of every row).
    groups: Vec<u32>,
    /// Fixed-point value (sum, mean), bin index (histogram); None: no value (null).
    values: Vec<Option<i64>>,
    /// Hash and key of every group of this batch.
    keys: Vec<(u128, Key)>,
    /// Rows skipped: null privacy unit.
    no_unit: u64,
}

/// One row of a unit, as the barrier keeps it until `finish`.
#[derive(Clone, Copy)]
struct UnitRow {
    unit: u64,
    value: i64,
    group: u32,
    has_value: bool,
}

impl UnitRow {
    /// Its `SPILLED_ROW` bytes (spill files, a shard's saved rows).
    fn to_bytes(self) -> [u8; SPILLED_ROW] {
        let mut b = [0u8; SPILLED_ROW];
        b[..8].copy_from_slice(&self.unit.to_le_bytes());
        b[8..16].copy_from_slice(&self.value.to_le_bytes());
        b[16..20].copy_from_slice(&self.group.to_le_bytes());
        b[20] = self.has_value as u8;
        b
    }

    fn from_bytes(b: &[u8]) -> UnitRow {
        UnitRow {
            unit: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            value: i64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            group: u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
            has_value: b[20] != 0,
        }
    }
}

/// Unit-row partitions (by the top bits of the unit hash), bounded in parallel.
const PARTS: usize = 64;

#[derive(Default)]
struct QueryState {
    /// Rows of units, partitioned by the high bits of the unit hash, bounded in
    /// `finish` (sorted by unit, so each unit's rows are together).
    parts: Vec<Vec<UnitRow>>,
    /// Per partition, its rows spilled so far (an unlinked temporary file).
    spill: Vec<Option<BufWriter<File>>>,
    /// Group hash → dense id, and back.
    group_ids: rustc_hash::FxHashMap<u128, u32>,
    group_hashes: Vec<u128>,
    /// Without a privacy unit: per group (count, sum) directly.
    direct: HashMap<u128, (u64, i128, u64)>,
    keys: HashMap<u128, Key>,
    no_unit: u64,
    rows: u64,
}

/// A spilled unit row: unit, value, group, has_value.
const SPILLED_ROW: usize = 8 + 8 + 4 + 1;

impl QueryState {
    /// The run's dense ids of these group hashes, new groups numbered in the order given.
    fn dense_ids(&mut self, hashes: &[u128]) -> Vec<u32> {
        hashes
            .iter()
            .map(|h| {
                let next = self.group_hashes.len() as u32;
                let id = *self.group_ids.entry(*h).or_insert(next);
                if id == next {
                    self.group_hashes.push(*h);
                }
                id
            })
            .collect()
    }

    /// Appends every partition's rows to its spill file and frees them. Returns the rows
    /// spilled.
    fn spill_out(&mut self) -> Result<u64> {
        let tmp = std::env::temp_dir();
        if self.spill.is_empty() {
            self.spill = (0..self.parts.len()).map(|_| None).collect();
        }
        let mut n = 0u64;
        for (rows, file) in self.parts.iter_mut().zip(self.spill.iter_mut()) {
            if rows.is_empty() {
                continue;
            }
            let w = match file {
                Some(w) => w,
                None => file.insert(BufWriter::with_capacity(
                    256 << 10,
                    tempfile::tempfile()
                        .map_err(|e| Error::io("cannot create a spill file in", &tmp, e))?,
                )),
            };
            for r in rows.iter() {
                w.write_all(&r.to_bytes())
                    .map_err(|e| Error::io("cannot write a spill file in", &tmp, e))?;
            }
            n += rows.len() as u64;
            *rows = Vec::new();
        }
        Ok(n)
    }
}

/// A partition's spilled rows read back, followed by those still in memory.
fn unspill(file: Option<BufWriter<File>>, mut rows: Vec<UnitRow>) -> Result<Vec<UnitRow>> {
    let Some(w) = file else {
        return Ok(rows);
    };
    let tmp = std::env::temp_dir();
    let io = |e| Error::io("cannot read back a spill file in", &tmp, e);
    let mut f = w.into_inner().map_err(|e| io(e.into_error()))?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io)?;
    let mut out = Vec::with_capacity(bytes.len() / SPILLED_ROW + rows.len());
    out.extend(bytes.chunks_exact(SPILLED_ROW).map(UnitRow::from_bytes));
    out.append(&mut rows);
    Ok(out)
}

pub struct DpRow {
    queries: Arc<Vec<Query>>,
    unit_col: Option<usize>,
    index: usize,
    seed: u64,
    unit_key: u64,
}

pub struct DpBarrier {
    cfg_unit: Option<String>,
    queries: Arc<Vec<Query>>,
    index: usize,
    state: Vec<QueryState>,
    prf: (u64, u64),
    rng: Sampler<OsBits>,
    ledger: PathBuf,
    dataset_id: Option<String>,
    budget: Budget,
    staging: PathBuf,
    run_id: String,
    inputs_digest: String,
    /// What the dataset is, in words, for the ledger (`Ledger::describe`).
    described: String,
    /// The row part's group-hash seed, to hash public keys alike.
    seed: u64,
    /// Unit rows kept in memory (all queries) before they spill.
    spill_rows: usize,
    /// Unit rows spilled so far (all queries), for the log.
    spilled: u64,
    memory_mb: u64,
}

fn group_hash(seed: u64, key: &Key) -> u128 {
    let parts: Vec<Option<&str>> = key.iter().map(|k| k.as_deref()).collect();
    group_hash_parts(seed, &parts)
}

fn group_hash_parts(seed: u64, key: &[Option<&str>]) -> u128 {
    group_hash_with(seed, key, &mut Vec::new())
}

/// The group hash, encoding the key into `buf` (reused across rows) and hashing it in
/// one call: much faster than a streaming hasher per row.
fn group_hash_with(seed: u64, key: &[Option<&str>], buf: &mut Vec<u8>) -> u128 {
    buf.clear();
    for k in key {
        match k {
            None => buf.push(0),
            Some(s) => {
                buf.push(1);
                buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
    xxhash_rust::xxh3::xxh3_128_with_seed(buf, seed)
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric()
}

pub fn build(
    cfg: &DpReleaseConfig,
    schema: &SchemaRef,
    src: &PipelineSource,
    index: usize,
    run_seed: Option<&[u8; 32]>,
) -> Result<(DpRow, DpBarrier)> {
    let err = |needle: &str, msg: String| {
        Error::Config(format!(
            "{}: dp_release: {msg}",
            src.stage_at(index, needle)
        ))
    };
    let col = |name: &str, what: &str| {
        schema.index_of(name).map_err(|_| {
            err(
                name,
                format!(
                    "{what} `{name}` is not a column (columns: {})",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    };
    let unit_col = cfg
        .privacy_unit
        .as_deref()
        .map(|u| col(u, "privacy_unit"))
        .transpose()?;
    if cfg.queries.is_empty() {
        return Err(err("queries", "add at least one [[stages.queries]]".into()));
    }
    let mut queries = Vec::new();
    for q in &cfg.queries {
        let e = |m: String| err(&q.name, format!("query `{}`: {m}", q.name));
        if q.name.is_empty()
            || !q
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(e(
                "name it with letters, digits, _ and - (it names aggregates/<name>.parquet)".into(),
            ));
        }
        if queries.iter().any(|x: &Query| x.name == q.name) {
            return Err(e("two queries have this name".into()));
        }
        match (q.epsilon, q.rho) {
            (Some(x), None) | (None, Some(x)) if x.is_finite() && x > 0.0 => {}
            (Some(_), Some(_)) => {
                return Err(e(
                    "set epsilon (discrete Laplace) or rho (discrete Gaussian), not both".into(),
                ))
            }
            _ => return Err(e(
                "set epsilon > 0 (discrete Laplace, pure DP) or rho > 0 (discrete Gaussian, zCDP)"
                    .into(),
            )),
        }
        if let Some(d) = q.delta {
            if !(d > 0.0 && d < 1.0) {
                return Err(e("delta must be in (0, 1)".into()));
            }
        }
        let (l0, linf) = match (unit_col, q.max_partitions, q.max_rows_per_partition) {
            (None, _, _) => (1, 1),
            (Some(_), Some(a), Some(b)) if a > 0 && b > 0 => (a, b),
            (Some(_), _, _) => {
                return Err(e("with a privacy_unit, set max_partitions and max_rows_per_partition (≥ 1): they bound each person's contribution, and so the sensitivity".into()))
            }
        };
        let group_cols = q
            .group_by
            .iter()
            .map(|g| col(g, "group_by column"))
            .collect::<Result<Vec<_>>>()?;
        let needs_value = matches!(
            q.aggregate,
            Aggregate::Sum | Aggregate::Mean | Aggregate::Histogram
        );
        let value_col = match (&q.column, needs_value) {
            (Some(c), true) => {
                let i = col(c, "column")?;
                if !is_numeric(schema.field(i).data_type()) {
                    return Err(e(format!(
                        "column `{c}` is {}, not a number",
                        schema.field(i).data_type()
                    )));
                }
                Some(i)
            }
            (None, true) => return Err(e("name the numeric `column` to aggregate".into())),
            (Some(_), false) => return Err(e("count takes no `column`".into())),
            (None, false) => None,
        };
        let resolution = q.resolution.unwrap_or(0.01);
        if !(resolution.is_finite() && resolution > 0.0) {
            return Err(e("resolution must be > 0".into()));
        }
        let (lo, hi) = match (q.aggregate, q.bounds) {
            (Aggregate::Sum | Aggregate::Mean, Some([a, b])) if a.is_finite() && b.is_finite() && a <= b => {
                let lo = (a / resolution).round();
                let hi = (b / resolution).round();
                if lo.abs() > 1e15 || hi.abs() > 1e15 {
                    return Err(e("bounds / resolution is too large; use a coarser resolution".into()));
                }
                (lo as i64, hi as i64)
            }
            (Aggregate::Sum | Aggregate::Mean, _) => {
                return Err(e("set bounds = [lo, hi] (lo ≤ hi): values are clamped to them, which bounds the sensitivity".into()))
            }
            _ => (0, 0),
        };
        // The sensitivities must fit their integer types: refuse what would overflow
        // (a wrapped sensitivity would mean almost no noise).
        let c = (lo.unsigned_abs()).max(hi.unsigned_abs()).max(1) as u128;
        let fits = (l0 as u128)
            .checked_mul(linf as u128)
            .and_then(|x| x.checked_mul(c))
            .is_some_and(|x| x <= u64::MAX as u128)
            && (linf as u128)
                .checked_mul(c)
                .and_then(|x| x.checked_mul(x))
                .and_then(|x| x.checked_mul(l0 as u128))
                .is_some()
            && (l0 as u128)
                .checked_mul((linf as u128) * (linf as u128))
                .is_some_and(|x| x <= u64::MAX as u128);
        if !fits {
            return Err(e("max_partitions × max_rows_per_partition × bounds / resolution is too large to compute a sensitivity; use smaller bounds, a coarser resolution or tighter bounding".into()));
        }
        let bins = match (q.aggregate, &q.bins) {
            (Aggregate::Histogram, Some(b))
                if b.len() >= 2 && b.windows(2).all(|w| w[0] < w[1]) =>
            {
                Some(b.clone())
            }
            (Aggregate::Histogram, _) => {
                return Err(e(
                    "set bins = [e0, e1, …] (at least two ascending edges)".into()
                ))
            }
            _ => None,
        };
        let mut public_keys = match (&q.keys, &q.keys_file) {
            (Some(_), Some(_)) => return Err(e("set keys or keys_file, not both".into())),
            (Some(k), None) => Some(
                k.iter()
                    .map(|v| key_from_toml(v, q.group_by.len()).map_err(&e))
                    .collect::<Result<Vec<_>>>()?,
            ),
            (None, Some(f)) => {
                // Already taken against the pipeline file's folder.
                let p = PathBuf::from(f);
                let text = std::fs::read_to_string(&p)
                    .map_err(|er| e(format!("keys_file {}: {er}", p.display())))?;
                Some(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| l.split('\t').map(|s| Some(s.to_string())).collect::<Key>())
                        .collect(),
                )
            }
            (None, None) => None,
        };
        if let Some(keys) = &public_keys {
            if let Some(bad) = keys.iter().find(|k| k.len() != q.group_by.len()) {
                return Err(e(format!(
                    "a public key has {} value(s), group_by has {}",
                    bad.len(),
                    q.group_by.len()
                )));
            }
            // A key listed twice would be released twice with fresh noise while ε is
            // charged once.
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = keys.iter().find(|k| !seen.insert(*k)) {
                return Err(e(format!(
                    "public key {} is listed twice: each key must appear once",
                    dup.iter()
                        .map(|v| v.as_deref().unwrap_or("null"))
                        .collect::<Vec<_>>()
                        .join("\t")
                )));
            }
        }
        // The aggregates tables have these columns besides the group columns.
        for reserved in ["value", "ci95_half_width"]
            .into_iter()
            .chain(bins.is_some().then_some("bin"))
        {
            if q.group_by.iter().any(|g| g == reserved) {
                return Err(e(format!(
                    "group_by column `{reserved}` clashes with the aggregates table's own `{reserved}` column; rename it with a project stage first"
                )));
            }
        }
        if q.group_by.is_empty() {
            // No grouping: one public key, the empty one.
            public_keys = Some(vec![Vec::new()]);
        }
        if public_keys.is_none() && (q.epsilon.is_none() || q.delta.is_none()) {
            return Err(e("private group keys (no `keys`) are released by Laplace thresholding: set epsilon and delta, or list the public keys".into()));
        }
        // Histogram bins are public keys of one more dimension.
        if let (Some(b), Some(keys)) = (&bins, &mut public_keys) {
            let labels = bin_labels(b);
            *keys = keys
                .iter()
                .flat_map(|k| {
                    labels.iter().map(move |l| {
                        let mut k = k.clone();
                        k.push(Some(l.clone()));
                        k
                    })
                })
                .collect();
        }
        let mut group_names = q.group_by.clone();
        if bins.is_some() {
            group_names.push("bin".into());
        }
        queries.push(Query {
            name: q.name.clone(),
            aggregate: q.aggregate,
            value_col,
            group_cols,
            group_names,
            lo,
            hi,
            resolution,
            bounds: q.bounds,
            bins,
            public_keys,
            epsilon: q.epsilon,
            rho: q.rho,
            delta: q.delta,
            l0,
            linf,
            clamp: q.clamp,
        });
    }
    // Random per run; a sharded run's tasks derive them from the run's seed instead, so
    // that every task hashes groups and units alike.
    let (seed, prf) = match run_seed {
        Some(s) => {
            use sha2::Digest;
            let d = sha2::Sha256::new()
                .chain_update(b"datacustoms dp_release keys\0")
                .chain_update(s)
                .chain_update((index as u64).to_le_bytes())
                .finalize();
            let mut prf = [0u8; 16];
            prf.copy_from_slice(&d[8..24]);
            (u64::from_le_bytes(d[..8].try_into().expect("8 bytes")), prf)
        }
        None => {
            let mut seed = [0u8; 8];
            crate::crypto::keys::fill_random(&mut seed)?;
            let mut prf = [0u8; 16];
            crate::crypto::keys::fill_random(&mut prf)?;
            (u64::from_le_bytes(seed), prf)
        }
    };
    let queries = Arc::new(queries);
    let n = queries.len();
    Ok((
        DpRow {
            queries: queries.clone(),
            unit_col,
            index,
            seed,
            unit_key: u64::from_le_bytes(prf[..8].try_into().expect("8 bytes"))
                ^ 0x9e37_79b9_7f4a_7c15,
        },
        DpBarrier {
            cfg_unit: cfg.privacy_unit.clone(),
            queries,
            index,
            state: (0..n).map(|_| QueryState::default()).collect(),
            prf: (
                u64::from_le_bytes(prf[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(prf[8..].try_into().expect("8 bytes")),
            ),
            rng: Sampler::new(OsBits::default()),
            ledger: PathBuf::from(&cfg.ledger),
            dataset_id: cfg.dataset_id.clone(),
            budget: cfg.budget.clone(),
            staging: PathBuf::new(),
            run_id: String::new(),
            inputs_digest: String::new(),
            described: String::new(),
            seed,
            spill_rows: (cfg.memory_mb.clamp(1, 1 << 30).saturating_mul(1 << 20)
                / std::mem::size_of::<UnitRow>() as u64) as usize,
            spilled: 0,
            memory_mb: cfg.memory_mb,
        },
    ))
}

/// Each planned release as a debug event: its parameters, and whether a retry replays it.
fn log_planned<V>(planned: &[Planned], recorded: &HashMap<String, V>) {
    for p in planned {
        tracing::debug!(
            query = %p.name,
            mechanism = %p.mechanism,
            epsilon = p.epsilon,
            rho = p.rho,
            delta = p.delta,
            replay = recorded.contains_key(&p.name),
            "DP release planned"
        );
    }
}

fn key_from_toml(v: &toml::Value, n: usize) -> std::result::Result<Key, String> {
    let one = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(Some(s.clone())),
        toml::Value::Integer(i) => Ok(Some(i.to_string())),
        toml::Value::Float(f) => Ok(Some(f.to_string())),
        toml::Value::Boolean(b) => Ok(Some(b.to_string())),
        other => Err(format!(
            "a public key value must be a string or number, not {other}"
        )),
    };
    match v {
        toml::Value::Array(a) => a.iter().map(one).collect(),
        v if n == 1 => Ok(vec![one(v)?]),
        _ => Err(format!(
            "with {n} group_by columns, write each public key as a list of {n} values"
        )),
    }
}

fn bin_labels(edges: &[f64]) -> Vec<String> {
    let n = edges.len() - 1;
    (0..n)
        .map(|i| {
            let close = if i + 1 == n { "<=" } else { "<" };
            format!("{} <= x {close} {}", edges[i], edges[i + 1])
        })
        .collect()
}

fn bin_of(edges: &[f64], v: f64) -> i64 {
    let n = edges.len() - 1;
    // The last edge `i` with edges[i] <= v, clamped into [0, n-1].
    let i = edges.partition_point(|e| *e <= v);
    (i.saturating_sub(1)).min(n - 1) as i64
}

impl RowStage for DpRow {
    fn process(&self, mut batch: Batch, _findings: &mut Findings) -> Result<Batch> {
        let data = &batch.data;
        let rows = data.num_rows();
        // A keyed PRF: nobody can make two unit ids collide (and so merge two people's
        // bounds) without the run's random key. Once per row for all queries.
        let units: Option<Vec<Option<u64>>> = match self.unit_col {
            Some(c) => {
                let a = key_text(data.column(c))?;
                let a = a.as_string::<i32>();
                Some(
                    (0..rows)
                        .map(|row| {
                            (!a.is_null(row)).then(|| {
                                let mut h = siphasher::sip::SipHasher13::new_with_keys(
                                    self.seed,
                                    self.unit_key,
                                );
                                h.write(a.value(row).as_bytes());
                                h.finish()
                            })
                        })
                        .collect(),
                )
            }
            None => None,
        };
        // Group columns as text, and per set of group columns the row hashes (shared by
        // the queries that group alike, histograms aside: their bin joins the key).
        let mut texts: HashMap<usize, ArrayRef> = HashMap::new();
        for q in self.queries.iter() {
            for c in &q.group_cols {
                if !texts.contains_key(c) {
                    texts.insert(*c, key_text(data.column(*c))?);
                }
            }
        }
        let labels: Vec<Vec<String>> = self
            .queries
            .iter()
            .map(|q| q.bins.as_deref().map(bin_labels).unwrap_or_default())
            .collect();
        let mut row_hashes: HashMap<&[usize], Vec<u128>> = HashMap::new();
        let mut scratch = Vec::new();
        let mut key: Vec<Option<&str>> = Vec::new();
        let mut out = Vec::with_capacity(self.queries.len());
        for (qi, q) in self.queries.iter().enumerate() {
            let labels = &labels[qi];
            let groups: Vec<&StringArray> = q
                .group_cols
                .iter()
                .map(|c| texts[c].as_string::<i32>())
                .collect();
            if q.aggregate != Aggregate::Histogram && !row_hashes.contains_key(&q.group_cols[..]) {
                let mut hs = Vec::with_capacity(rows);
                for row in 0..rows {
                    fill_key(&mut key, &groups, row);
                    hs.push(group_hash_with(self.seed, &key, &mut scratch));
                }
                row_hashes.insert(&q.group_cols[..], hs);
            }
            let shared = row_hashes
                .get(&q.group_cols[..])
                .filter(|_| q.aggregate != Aggregate::Histogram);
            let values = match q.value_col {
                Some(c) => Some(arrow::compute::cast(data.column(c), &DataType::Float64)?),
                None => None,
            };
            let values = values
                .as_ref()
                .map(|a| a.as_primitive::<arrow::datatypes::Float64Type>().clone());
            let mut ex = Extract::default();
            // Group hashes are already uniform: a cheap hasher will do.
            let mut local: rustc_hash::FxHashMap<u128, u32> = Default::default();
            for row in 0..rows {
                let unit = match &units {
                    Some(u) => match u[row] {
                        Some(u) => Some(u),
                        None => {
                            ex.no_unit += 1;
                            continue;
                        }
                    },
                    None => None,
                };
                let v = values
                    .as_ref()
                    .and_then(|v| (!v.is_null(row)).then(|| v.value(row)));
                let (value, h) = match (q.aggregate, v) {
                    // A null value falls in no bin: the row contributes nothing.
                    (Aggregate::Histogram, None) => continue,
                    (Aggregate::Histogram, Some(v)) if v.is_nan() => continue,
                    (Aggregate::Histogram, Some(v)) => {
                        let b = bin_of(q.bins.as_deref().expect("histogram bins"), v);
                        fill_key(&mut key, &groups, row);
                        key.push(Some(labels[b as usize].as_str()));
                        (Some(b), group_hash_with(self.seed, &key, &mut scratch))
                    }
                    (_, v) => {
                        let h = shared.expect("row hashes of the group columns")[row];
                        match v {
                            None => (None, h),
                            Some(v) if v.is_nan() => (None, h),
                            Some(v) => {
                                let lo = q.lo as f64 * q.resolution;
                                let hi = q.hi as f64 * q.resolution;
                                let fixed = ((v.clamp(lo, hi)) / q.resolution)
                                    .round()
                                    .clamp(q.lo as f64, q.hi as f64)
                                    as i64;
                                (Some(fixed), h)
                            }
                        }
                    }
                };
                if let Some(u) = unit {
                    ex.units.push(u);
                }
                let next = ex.keys.len() as u32;
                let id = *local.entry(h).or_insert(next);
                if id == next {
                    // Owned keys only for the groups first seen in this batch.
                    if q.aggregate != Aggregate::Histogram {
                        fill_key(&mut key, &groups, row);
                    }
                    ex.keys
                        .push((h, key.iter().map(|k| k.map(str::to_string)).collect()));
                }
                ex.groups.push(id);
                ex.values.push(value);
            }
            out.push(ex);
        }
        batch.attachments[self.index] = Some(Box::new(out));
        Ok(batch)
    }
}

/// The group key of `row`, borrowed from the group columns.
fn fill_key<'a>(key: &mut Vec<Option<&'a str>>, groups: &[&'a StringArray], row: usize) {
    key.clear();
    for g in groups {
        key.push((!g.is_null(row)).then(|| g.value(row)));
    }
}

fn prf(key: (u64, u64), unit: u64, group: u128) -> u64 {
    let mut h = siphasher::sip::SipHasher24::new_with_keys(key.0, key.1);
    h.write_u64(unit);
    h.write_u128(group);
    h.finish()
}

/// A query's state after a shard, as `save_shard` writes it beside its unit rows.
#[derive(Serialize, serde::Deserialize)]
struct SavedQuery {
    /// The shard's dense group ids, in order (first occurrence in the shard).
    group_hashes: Vec<u128>,
    direct: Vec<(u128, u64, i128, u64)>,
    keys: Vec<(u128, Key)>,
    no_unit: u64,
    rows: u64,
    unit_rows: u64,
}

impl DpBarrier {
    fn shard_files(&self, dir: &std::path::Path, qi: usize) -> (PathBuf, PathBuf) {
        (
            dir.join(format!("dp-{}-{qi}.json", self.index)),
            dir.join(format!("dp-{}-{qi}.rows", self.index)),
        )
    }

    /// Spills every query's unit rows once more are held than memory allows.
    fn spill_if_full(&mut self) -> Result<()> {
        let held: usize = self
            .state
            .iter()
            .flat_map(|st| st.parts.iter().map(Vec::len))
            .sum();
        if held > self.spill_rows {
            for st in &mut self.state {
                self.spilled += st.spill_out()?;
            }
        }
        Ok(())
    }
}

impl BarrierStage for DpBarrier {
    fn open(&mut self, ctx: &StageContext) -> Result<()> {
        self.staging = ctx.staging.clone();
        self.run_id = ctx.run_id.clone();
        self.inputs_digest = ctx.inputs_digest.clone();
        let mut files: Vec<&str> = ctx.inputs.iter().map(|(f, _)| f.as_str()).collect();
        let more = files.len().saturating_sub(3);
        files.truncate(3);
        self.described = format!(
            "pipeline `{}`; inputs: {}{}",
            ctx.pipeline,
            files.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        Ok(())
    }

    fn process(&mut self, mut batch: Batch, _findings: &mut Findings) -> Result<Batch> {
        let Some(att) = batch.attachments[self.index].take() else {
            return Err(Error::Internal(
                "dp_release: a batch reached the barrier without its extract".into(),
            ));
        };
        let extracts = *att
            .downcast::<Vec<Extract>>()
            .map_err(|_| Error::Internal("dp_release: unexpected attachment".into()))?;
        for (qi, ex) in extracts.into_iter().enumerate() {
            let st = &mut self.state[qi];
            st.no_unit += ex.no_unit;
            st.rows += ex.groups.len() as u64;
            let hashes: Vec<u128> = ex.keys.iter().map(|(h, _)| *h).collect();
            for (h, k) in ex.keys {
                st.keys.entry(h).or_insert(k);
            }
            if ex.units.is_empty() {
                for (g, v) in ex.groups.iter().zip(&ex.values) {
                    let e = st.direct.entry(hashes[*g as usize]).or_default();
                    e.0 += 1;
                    if let Some(v) = v {
                        e.1 += *v as i128;
                        e.2 += 1;
                    }
                }
                continue;
            }
            if st.parts.is_empty() {
                st.parts = (0..PARTS).map(|_| Vec::new()).collect();
            }
            // Batch-local group ids to the run's dense ids, once per distinct group.
            let ids = st.dense_ids(&hashes);
            for ((unit, g), v) in ex.units.iter().zip(&ex.groups).zip(&ex.values) {
                st.parts[(unit >> 58) as usize].push(UnitRow {
                    unit: *unit,
                    value: v.unwrap_or(0),
                    group: ids[*g as usize],
                    has_value: v.is_some(),
                });
            }
        }
        self.spill_if_full()?;
        Ok(batch)
    }

    fn shardable(&self) -> bool {
        true
    }

    /// Per query: the unit rows (spilled and held, partition by partition, in the order
    /// `process` added them) and the rest of the state as JSON. The unit hashes are
    /// keyed by the run's seed, never the unit values.
    fn save_shard(&mut self, dir: &std::path::Path) -> Result<()> {
        for qi in 0..self.state.len() {
            let (meta, rows) = self.shard_files(dir, qi);
            let st = &mut self.state[qi];
            let f = File::create(&rows).map_err(|e| Error::io("cannot create", &rows, e))?;
            let mut w = BufWriter::with_capacity(256 << 10, f);
            let mut n = 0u64;
            let spill = std::mem::take(&mut st.spill);
            let parts = std::mem::take(&mut st.parts);
            let mut spill = spill.into_iter();
            for held in parts {
                for r in unspill(spill.next().flatten(), held)? {
                    w.write_all(&r.to_bytes())
                        .map_err(|e| Error::io("cannot write", &rows, e))?;
                    n += 1;
                }
            }
            w.flush().map_err(|e| Error::io("cannot write", &rows, e))?;
            let saved = SavedQuery {
                group_hashes: std::mem::take(&mut st.group_hashes),
                direct: st
                    .direct
                    .drain()
                    .map(|(g, (c, s, v))| (g, c, s, v))
                    .collect(),
                keys: st.keys.drain().collect(),
                no_unit: st.no_unit,
                rows: st.rows,
                unit_rows: n,
            };
            std::fs::write(&meta, serde_json::to_vec(&saved)?)
                .map_err(|e| Error::io("cannot write", &meta, e))?;
        }
        Ok(())
    }

    /// Adds a shard's state: its groups get the run's dense ids in the order the shard
    /// first saw them (so, shards absorbed in order, in the order one process sees
    /// them), and its unit rows join their partitions in the order it added them.
    fn absorb_shard(&mut self, dir: &std::path::Path) -> Result<()> {
        for qi in 0..self.state.len() {
            let (meta, rows) = self.shard_files(dir, qi);
            let bytes = std::fs::read(&meta).map_err(|e| Error::io("cannot read", &meta, e))?;
            let saved: SavedQuery = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Data(format!("{}: {e}", meta.display())))?;
            let st = &mut self.state[qi];
            st.no_unit += saved.no_unit;
            st.rows += saved.rows;
            for (h, k) in saved.keys {
                st.keys.entry(h).or_insert(k);
            }
            for (g, c, s, v) in saved.direct {
                let e = st.direct.entry(g).or_default();
                e.0 += c;
                e.1 += s;
                e.2 += v;
            }
            let ids = st.dense_ids(&saved.group_hashes);
            if saved.unit_rows == 0 {
                continue;
            }
            if st.parts.is_empty() {
                st.parts = (0..PARTS).map(|_| Vec::new()).collect();
            }
            let f = File::open(&rows).map_err(|e| Error::io("cannot read", &rows, e))?;
            let mut r = std::io::BufReader::with_capacity(256 << 10, f);
            let mut b = [0u8; SPILLED_ROW];
            for i in 0..saved.unit_rows {
                r.read_exact(&mut b)
                    .map_err(|e| Error::io("cannot read", &rows, e))?;
                let mut row = UnitRow::from_bytes(&b);
                row.group = *ids.get(row.group as usize).ok_or_else(|| {
                    Error::Data(format!("{}: row {i} names no group", rows.display()))
                })?;
                self.state[qi].parts[(row.unit >> 58) as usize].push(row);
                if i % (1 << 20) == 0 {
                    self.spill_if_full()?;
                }
            }
            self.spill_if_full()?;
        }
        Ok(())
    }

    fn finish(&mut self, findings: &mut Findings) -> Result<Vec<StageFile>> {
        let dataset_id = self
            .dataset_id
            .clone()
            .unwrap_or_else(|| self.inputs_digest.clone());
        if self.spilled > 0 {
            // Not in the report: an aggregates-only export ships no count of rows.
            tracing::info!(
                "dp_release: {} unit rows went through temporary files (memory_mb = {})",
                self.spilled,
                self.memory_mb
            );
        }
        // Contribution bounding needs no ledger: done before its write transaction, so
        // that a concurrent run waits only for the caps check, the noise and the inserts.
        let mut truths: Vec<Option<HashMap<u128, (u64, i128)>>> = (0..self.queries.len())
            .map(|qi| self.truth(qi).map(Some))
            .collect::<Result<_>>()?;
        let mut ledger = Ledger::open(&self.ledger)?;
        // One write transaction from reading what was spent to recording the new spend:
        // a second run on the same ledger waits here, then sees this run's releases.
        ledger.begin()?;
        let recorded = ledger.recorded(&dataset_id, &self.run_id)?;
        ledger.describe(&dataset_id, &self.described)?;
        // Plan every release, then check the caps, before any noise is drawn.
        let mut planned = Vec::new();
        for q in self.queries.iter() {
            planned.push(plan_release(q));
        }
        // A retry replays only the release it recorded: the same query with other
        // parameters under the same run id would be a new release passed off as old.
        for p in &planned {
            if let Some(r) = recorded.get(&p.name) {
                let same = r.mechanism == p.mechanism
                    && r.epsilon == p.epsilon
                    && r.rho == p.rho
                    && r.delta == p.delta
                    && r.sensitivity == serde_json::to_string(&p.sensitivity)?;
                if !same {
                    return Err(Error::Refused(format!(
                        "run id {} already released query `{}` with other parameters (mechanism, budget or bounds); a retry must not change them — use a new --run-id",
                        self.run_id, p.name
                    )));
                }
            }
        }
        log_planned(&planned, &recorded);
        let new_spend: Vec<&Planned> = planned
            .iter()
            .filter(|p| !recorded.contains_key(&p.name))
            .collect();
        let spent = ledger.totals(&dataset_id)?;
        let chain_before = ledger.chain(&dataset_id)?;
        let add = |f: fn(&Planned) -> f64| new_spend.iter().map(|p| f(p)).sum::<f64>();
        let (ne, nr, nd) = (add(|p| p.epsilon), add(|p| p.rho), add(|p| p.delta));
        // The caps in force: the stricter of those the ledger recorded and the pipeline's
        // (a pipeline can lower a dataset's cap, never raise it).
        let stored = ledger.caps(&dataset_id)?;
        let stricter = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let caps = Budget {
            total_epsilon: stricter(stored.total_epsilon, self.budget.total_epsilon),
            total_rho: stricter(stored.total_rho, self.budget.total_rho),
            total_delta: stricter(stored.total_delta, self.budget.total_delta),
        };
        let over = over_budget(&caps, spent.epsilon + ne, spent.rho + nr, spent.delta + nd);
        if !over.is_empty() {
            return Err(Error::Refused(format!(
                "DP budget for dataset {dataset_id} exceeded (spent ε {:.6}, ρ {:.6}, δ {:e}; this run ε {ne:.6}, ρ {nr:.6}, δ {nd:e}), nothing released and no noise drawn: {}",
                spent.epsilon, spent.rho, spent.delta,
                over.join("; ")
            )));
        }
        ledger.set_caps(&dataset_id, &caps)?;

        let agg_dir = self.staging.join("aggregates");
        std::fs::create_dir_all(&agg_dir).map_err(|e| Error::io("cannot create", &agg_dir, e))?;
        let mut files = Vec::new();
        let mut releases = Vec::new();
        for (qi, p) in planned.iter().enumerate() {
            let q = self.queries[qi].clone_meta();
            let (table, replayed) = match recorded.get(&p.name) {
                Some(r) => (
                    serde_json::from_str::<Vec<OutRow>>(&r.results).map_err(|e| {
                        Error::Internal(format!("ledger results of {}: {e}", p.name))
                    })?,
                    true,
                ),
                None => {
                    let truth = truths[qi].take().unwrap_or_default();
                    (self.release(qi, p, truth)?, false)
                }
            };
            findings.add_field(&p.name, "groups_released", table.len() as u64);
            findings.add_field(&p.name, "rows_used", self.state[qi].rows);
            findings.add_field(&p.name, "rows_without_unit", self.state[qi].no_unit);
            if !replayed {
                ledger.record(&Release {
                    dataset_id: dataset_id.clone(),
                    run_id: self.run_id.clone(),
                    query: p.name.clone(),
                    mechanism: p.mechanism.into(),
                    epsilon: p.epsilon,
                    rho: p.rho,
                    delta: p.delta,
                    sensitivity: serde_json::to_string(&p.sensitivity)?,
                    results: serde_json::to_string(&table)?,
                })?;
            }
            files.extend(write_tables(&agg_dir, &q, &table)?);
            let mut entry = serde_json::to_value(p)?;
            entry["replayed"] = json!(replayed);
            releases.push(entry);
        }
        let totals = ledger.totals(&dataset_id)?;
        let chain = json!({ "before": chain_before, "after": ledger.chain(&dataset_id)? });
        ledger.commit()?;
        let unit = match &self.cfg_unit {
            Some(u) => json!({ "column": u }),
            None => {
                json!({ "column": null, "note": "no privacy_unit: each record is treated as one person, so a person with several records is less protected than epsilon says" })
            }
        };
        findings.set_info("privacy_unit", &unit);
        findings.set_info("dataset_id", &dataset_id);
        findings.set_info("releases", &releases);
        findings.set_info("ledger", json!({ "path": self.ledger.display().to_string(), "totals_after": totals, "caps": self.budget, "chain": chain }));
        tracing::info!("{}", budget_line(&dataset_id, &totals, &self.budget));
        let passport = super::passport::passport(
            &dataset_id,
            &self.run_id,
            &unit,
            &releases,
            &totals,
            &self.budget,
            &chain,
        );
        let ppath = self.staging.join(super::passport::FILE);
        let mut text = serde_json::to_vec_pretty(&passport)?;
        text.push(b'\n');
        std::fs::write(&ppath, text).map_err(|e| Error::io("cannot write", &ppath, e))?;
        files.push(StageFile {
            path: super::passport::FILE.into(),
            rows: None,
        });
        Ok(files)
    }
}

/// Everything about a release that is fixed before noise: mechanism, budget, scale,
/// sensitivity, threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub name: String,
    pub aggregate: Aggregate,
    pub mechanism: &'static str,
    pub epsilon: f64,
    pub rho: f64,
    pub delta: f64,
    pub group_keys: &'static str,
    pub sensitivity: Sensitivity,
    pub bounding: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamp: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<f64>,
    /// Per released quantity: (what, noise scale b or σ²), in integer units.
    pub noise: Vec<NoiseSpec>,
    /// Private keys: the noisy count a key needs to be released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// What was done to the noisy values after the noise (free under DP).
    pub post_processing: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sensitivity {
    /// L1 sensitivity of the count vector / of the sum vector (integer units).
    pub count_l1: u64,
    pub sum_l1: u64,
    pub count_l2_squared: u64,
    pub sum_l2_squared: u128,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoiseSpec {
    pub quantity: &'static str,
    pub distribution: &'static str,
    /// Laplace scale b, or Gaussian σ (for reading); the exact rational is derived from
    /// the float ε or ρ and the integer sensitivity at draw time.
    pub scale: f64,
    pub epsilon: f64,
    pub rho: f64,
}

impl Query {
    fn clone_meta(&self) -> QueryMeta {
        QueryMeta {
            name: self.name.clone(),
            aggregate: self.aggregate,
            group_names: self.group_names.clone(),
        }
    }
}

struct QueryMeta {
    name: String,
    aggregate: Aggregate,
    group_names: Vec<String>,
}

/// The private-key threshold τ for Laplace thresholding (see the README): a key one
/// unit alone contributes to (true count ≤ L∞) is released, with discrete Laplace noise
/// of scale b, with probability P(Z ≥ τ − L∞) = q^(τ−L∞) / (1 + q) ≤ δ / L0, q = e^(−1/b),
/// so across the unit's L0 partitions at most δ.
pub fn threshold(scale: f64, linf: u64, l0: u64, delta: f64) -> u64 {
    let q = (-1.0 / scale).exp();
    let k = (scale * ((l0 as f64) / (delta * (1.0 + q))).ln())
        .ceil()
        .max(1.0);
    linf + k as u64
}

fn plan_release(q: &Query) -> Planned {
    let c = q.lo.unsigned_abs().max(q.hi.unsigned_abs());
    let count_l1 = q.l0 * q.linf;
    let sum_l1 = count_l1 * c;
    let count_l2_squared = q.l0 * q.linf * q.linf;
    let sum_l2_squared = (q.l0 as u128) * (q.linf as u128 * c as u128).pow(2);
    let private = q.public_keys.is_none();
    let (eps, rho) = (q.epsilon.unwrap_or(0.0), q.rho.unwrap_or(0.0));
    // Budget split: private keys on a non-count query spend half on selecting keys;
    // a mean splits what is left between its sum and its count.
    let selection = private && q.aggregate != Aggregate::Count;
    let (value_eps, value_rho) = if selection {
        (eps / 2.0, rho)
    } else {
        (eps, rho)
    };
    let parts: Vec<&'static str> = match q.aggregate {
        Aggregate::Count | Aggregate::Histogram => vec!["count"],
        Aggregate::Sum => vec!["sum"],
        Aggregate::Mean => vec!["sum", "count"],
    };
    let n = parts.len() as f64;
    let mut noise = Vec::new();
    for part in &parts {
        let (l1, l2sq) = if *part == "sum" {
            (sum_l1 as f64, sum_l2_squared as f64)
        } else {
            (count_l1 as f64, count_l2_squared as f64)
        };
        if q.epsilon.is_some() {
            let e = value_eps / n;
            noise.push(NoiseSpec {
                quantity: part,
                distribution: "discrete Laplace",
                scale: l1.max(1.0) / e,
                epsilon: e,
                rho: 0.0,
            });
        } else {
            let r = value_rho / n;
            noise.push(NoiseSpec {
                quantity: part,
                distribution: "discrete Gaussian",
                scale: (l2sq.max(1.0) / (2.0 * r)).sqrt(),
                epsilon: 0.0,
                rho: r,
            });
        }
    }
    let threshold_scale = if private {
        let e = if selection { eps / 2.0 } else { eps };
        let b = (count_l1 as f64) / e;
        if selection {
            noise.push(NoiseSpec {
                quantity: "selection count",
                distribution: "discrete Laplace",
                scale: b,
                epsilon: e,
                rho: 0.0,
            });
        }
        Some(b)
    } else {
        None
    };
    Planned {
        name: q.name.clone(),
        aggregate: q.aggregate,
        mechanism: if q.epsilon.is_some() {
            "discrete Laplace"
        } else {
            "discrete Gaussian"
        },
        epsilon: eps,
        rho,
        delta: if private { q.delta.unwrap_or(0.0) } else { 0.0 },
        group_keys: if private {
            "private (Laplace thresholding)"
        } else {
            "public"
        },
        sensitivity: Sensitivity {
            count_l1,
            sum_l1,
            count_l2_squared,
            sum_l2_squared,
        },
        bounding: json!({ "max_partitions": q.l0, "max_rows_per_partition": q.linf }),
        clamp: q.bounds,
        resolution: matches!(q.aggregate, Aggregate::Sum | Aggregate::Mean).then_some(q.resolution),
        noise,
        threshold: threshold_scale.map(|b| threshold(b, q.linf, q.l0, q.delta.unwrap_or(1e-9))),
        post_processing: post_processing_note(q),
    }
}

/// One line for the run's log: what the dataset has spent and what is left.
fn budget_line(dataset: &str, t: &super::ledger::Totals, caps: &Budget) -> String {
    let part = |name: &str, spent: f64, cap: Option<f64>| {
        let spent = round_to(spent, 1e-6);
        match cap {
            Some(c) => format!(
                "{name} {spent} of {c} spent, {} left",
                round_to((c - spent).max(0.0), 1e-6)
            ),
            None => format!("{name} {spent} spent (no cap)"),
        }
    };
    let mut parts = vec![part("ε", t.epsilon, caps.total_epsilon)];
    if t.rho > 0.0 || caps.total_rho.is_some() {
        parts.push(part("ρ", t.rho, caps.total_rho));
    }
    if t.delta > 0.0 || caps.total_delta.is_some() {
        parts.push(format!(
            "δ {:e} of {}",
            t.delta,
            caps.total_delta
                .map_or("no cap".to_string(), |c| format!("{c:e}"))
        ));
    }
    format!(
        "DP budget of dataset {}: {} release(s); {}",
        if dataset.len() > 16 {
            &dataset[..16]
        } else {
            dataset
        },
        t.releases,
        parts.join("; ")
    )
}

/// The passport's words for `post_process`.
fn post_processing_note(q: &Query) -> String {
    let counts = matches!(q.aggregate, Aggregate::Count | Aggregate::Histogram);
    let rounding = if counts {
        "integers".to_string()
    } else {
        format!("the resolution {}", q.resolution)
    };
    match (q.clamp, q.aggregate) {
        (false, _) => format!("rounded to {rounding}; not clamped"),
        (true, Aggregate::Mean) => format!("clamped to the bounds; rounded to {rounding}"),
        (true, Aggregate::Sum) => {
            format!("clamped to the sign the bounds allow; rounded to {rounding}")
        }
        (true, _) => "negative counts set to 0".to_string(),
    }
}

/// Post-processing of a noisy value and its 95% half-width (see `QueryConfig::clamp`):
/// no privacy cost, since it reads nothing but the released value.
fn post_process(q: &Query, value: f64, half: f64) -> (f64, f64) {
    let counts = matches!(q.aggregate, Aggregate::Count | Aggregate::Histogram);
    let (lo, hi) = (q.lo as f64 * q.resolution, q.hi as f64 * q.resolution);
    let value = match (q.clamp, q.aggregate) {
        (false, _) => value,
        (true, Aggregate::Count | Aggregate::Histogram) => value.max(0.0),
        (true, Aggregate::Mean) => value.clamp(lo.min(hi), hi.max(lo)),
        (true, Aggregate::Sum) => {
            let v = if lo >= 0.0 { value.max(0.0) } else { value };
            if hi <= 0.0 {
                v.min(0.0)
            } else {
                v
            }
        }
    };
    if counts {
        (value.round(), round_to(half, 0.01))
    } else {
        (round_to(value, q.resolution), round_to(half, q.resolution))
    }
}

/// `x` rounded to a multiple of `unit`, as the decimal a person would write (0.01 →
/// two decimals, so 20086.670000000002 prints as 20086.67).
fn round_to(x: f64, unit: f64) -> f64 {
    let digits = (-unit.log10()).ceil().clamp(0.0, 12.0) as i32;
    let r = (x / unit).round() * unit;
    let p = 10f64.powi(digits);
    (r * p).round() / p
}

impl DpBarrier {
    /// Per group: bounded true (count, sum), then noise; private keys thresholded.
    /// The bounded true (count, sum) per group of query `qi`: contribution bounding, no
    /// noise. Done before the ledger's write transaction, which it does not need.
    fn truth(&mut self, qi: usize) -> Result<HashMap<u128, (u64, i128)>> {
        let queries = self.queries.clone();
        let q = &queries[qi];
        let st = &mut self.state[qi];
        let mut truth: HashMap<u128, (u64, i128)> = HashMap::new();
        if st.parts.is_empty() && st.spill.is_empty() {
            for (g, (n, s, nv)) in &st.direct {
                let cnt = if matches!(q.aggregate, Aggregate::Mean) {
                    *nv
                } else {
                    *n
                };
                truth.insert(*g, (cnt, *s));
            }
        } else {
            truth = bound(st, q, self.prf)?;
        }
        Ok(truth)
    }

    fn release(
        &mut self,
        qi: usize,
        p: &Planned,
        truth: HashMap<u128, (u64, i128)>,
    ) -> Result<Vec<OutRow>> {
        let queries = self.queries.clone();
        let q = &queries[qi];
        let st = &mut self.state[qi];
        // Histogram rows are grouped by key + bin already; their "value" was the bin.
        let keys: Vec<(u128, Key)> = match &q.public_keys {
            Some(keys) => keys
                .iter()
                .map(|k| (group_hash(self.seed, k), k.clone()))
                .collect(),
            None => {
                let mut v: Vec<(u128, Key)> =
                    truth.keys().map(|g| (*g, st.keys[g].clone())).collect();
                v.sort_by(|a, b| a.1.cmp(&b.1));
                v
            }
        };
        let mut out = Vec::new();
        let noise = p.noise.clone();
        // 95% half-widths, once per released quantity (they depend on the scale only).
        let half_widths: Vec<(&str, f64)> = noise
            .iter()
            .map(|n| {
                let h = if n.distribution == "discrete Laplace" {
                    laplace_ci95(n.scale)
                } else {
                    gaussian_ci95(n.scale * n.scale)
                };
                (n.quantity, h as f64)
            })
            .collect();
        for (g, key) in keys {
            let (count, sum) = truth.get(&g).copied().unwrap_or((0, 0));
            let mut values = Vec::new();
            for n in &noise {
                let true_v: i128 = match n.quantity {
                    "sum" => sum,
                    _ => count as i128,
                };
                let z = self.draw(n, p)?;
                values.push((n.quantity, true_v + z));
            }
            if let Some(tau) = p.threshold {
                let selector = values
                    .iter()
                    .find(|(w, _)| *w == "selection count")
                    .or_else(|| values.iter().find(|(w, _)| *w == "count"));
                let noisy = selector.map(|(_, v)| *v).unwrap_or(0);
                if noisy < tau as i128 {
                    continue;
                }
            }
            let get = |w: &str| {
                values
                    .iter()
                    .find(|(x, _)| *x == w)
                    .map(|(_, v)| *v)
                    .unwrap_or(0)
            };
            let ci = |w: &str| -> f64 {
                half_widths
                    .iter()
                    .find(|(x, _)| *x == w)
                    .map_or(0.0, |(_, h)| *h)
            };
            let (value, half) = match q.aggregate {
                Aggregate::Count | Aggregate::Histogram => (get("count") as f64, ci("count")),
                Aggregate::Sum => (get("sum") as f64 * q.resolution, ci("sum") * q.resolution),
                Aggregate::Mean => {
                    let c = (get("count") as f64).max(1.0);
                    let s = get("sum") as f64 * q.resolution;
                    let m = s / c;
                    (m, (ci("sum") * q.resolution + m.abs() * ci("count")) / c)
                }
            };
            let (value, half) = post_process(q, value, half);
            out.push(OutRow {
                key,
                value,
                ci95_half_width: half,
            });
        }
        Ok(out)
    }

    fn draw(&mut self, n: &NoiseSpec, p: &Planned) -> Result<i128> {
        let is_sum = n.quantity == "sum";
        let z = if n.distribution == "discrete Laplace" {
            // b = Δ₁ / ε exactly: t/s = Δ₁·den(ε) / num(ε).
            let e = Ratio::from_f64(n.epsilon).ok_or_else(|| Error::Internal("epsilon".into()))?;
            let l1 = BigUint::from(
                if is_sum {
                    p.sensitivity.sum_l1
                } else {
                    p.sensitivity.count_l1
                }
                .max(1),
            );
            self.rng.discrete_laplace(&Ratio::new(l1 * e.den, e.num))
        } else {
            // σ² = Δ₂² / (2ρ) exactly.
            let r = Ratio::from_f64(n.rho).ok_or_else(|| Error::Internal("rho".into()))?;
            let l2sq = BigUint::from(
                if is_sum {
                    p.sensitivity.sum_l2_squared
                } else {
                    p.sensitivity.count_l2_squared as u128
                }
                .max(1),
            );
            self.rng
                .discrete_gaussian(&Ratio::new(l2sq * r.den, BigUint::from(2u32) * r.num))
        };
        i128::try_from(z).map_err(|_| Error::Internal("noise beyond 128 bits".into()))
    }
}

/// Writes `aggregates/<name>.parquet` and `.csv`.
fn write_tables(dir: &std::path::Path, q: &QueryMeta, rows: &[OutRow]) -> Result<Vec<StageFile>> {
    let mut fields: Vec<Field> = q
        .group_names
        .iter()
        .map(|g| Field::new(g, DataType::Utf8, true))
        .collect();
    let count = matches!(q.aggregate, Aggregate::Count | Aggregate::Histogram);
    fields.push(Field::new(
        "value",
        if count {
            DataType::Int64
        } else {
            DataType::Float64
        },
        false,
    ));
    fields.push(Field::new("ci95_half_width", DataType::Float64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut cols: Vec<ArrayRef> = (0..q.group_names.len())
        .map(|i| {
            Arc::new(
                rows.iter()
                    .map(|r| r.key[i].clone())
                    .collect::<StringArray>(),
            ) as ArrayRef
        })
        .collect();
    cols.push(if count {
        Arc::new(rows.iter().map(|r| r.value as i64).collect::<Int64Array>())
    } else {
        Arc::new(rows.iter().map(|r| r.value).collect::<Float64Array>())
    });
    cols.push(Arc::new(
        rows.iter()
            .map(|r| r.ci95_half_width)
            .collect::<Float64Array>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    let pq = dir.join(format!("{}.parquet", q.name));
    let f = std::fs::File::create(&pq).map_err(|e| Error::io("cannot create", &pq, e))?;
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None)?;
    w.write(&batch)?;
    w.close()?;
    let csv = dir.join(format!("{}.csv", q.name));
    let f = std::fs::File::create(&csv).map_err(|e| Error::io("cannot create", &csv, e))?;
    let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(f);
    w.write(&batch)?;
    let n = Some(rows.len() as u64);
    Ok(vec![
        StageFile {
            path: format!("aggregates/{}.parquet", q.name),
            rows: n,
        },
        StageFile {
            path: format!("aggregates/{}.csv", q.name),
            rows: n,
        },
    ])
}

/// Contribution bounding over the kept unit rows, partition by partition in parallel:
/// per unit, the `l0` groups with the smallest keyed-PRF priority (a uniformly random
/// subset of its groups), and in each at most `linf` rows — for values, a uniform
/// sample without replacement drawn with the OS CSPRNG (a partial Fisher–Yates shuffle,
/// the same distribution as reservoir sampling). Returns per group the bounded
/// (count, sum). Frees the partitions as it goes.
fn bound(st: &mut QueryState, q: &Query, key: (u64, u64)) -> Result<HashMap<u128, (u64, i128)>> {
    use rayon::prelude::*;
    let parts = std::mem::take(&mut st.parts);
    let mut spill = std::mem::take(&mut st.spill);
    spill.resize_with(parts.len(), || None);
    let hashes = &st.group_hashes;
    let l0 = q.l0 as usize;
    let linf = q.linf as usize;
    let aggregate = q.aggregate;
    // One partition at a time per thread: a spilled partition is read back only here.
    let partials: Vec<rustc_hash::FxHashMap<u32, (u64, i128)>> = parts
        .into_par_iter()
        .zip(spill)
        .map(|(rows, file)| -> Result<_> {
            let mut rows = unspill(file, rows)?;
            let mut rng = Sampler::new(OsBits::default());
            // By unit (an LSD radix sort on the 64-bit key), then each unit's few rows by
            // group.
            radsort::sort_by_key(&mut rows, |r| r.unit);
            let mut s = 0;
            while s < rows.len() {
                let mut e = s + 1;
                while e < rows.len() && rows[e].unit == rows[s].unit {
                    e += 1;
                }
                if e - s > 1 {
                    rows[s..e].sort_unstable_by_key(|r| r.group);
                }
                s = e;
            }
            let mut acc: rustc_hash::FxHashMap<u32, (u64, i128)> = Default::default();
            let mut groups: Vec<(u64, usize, usize)> = Vec::new();
            let mut values: Vec<i64> = Vec::new();
            let mut i = 0;
            while i < rows.len() {
                let unit = rows[i].unit;
                groups.clear();
                let mut j = i;
                while j < rows.len() && rows[j].unit == unit {
                    let g = rows[j].group;
                    let start = j;
                    while j < rows.len() && rows[j].unit == unit && rows[j].group == g {
                        j += 1;
                    }
                    groups.push((0, start, j));
                }
                // Bottom-L0 by the keyed PRF, computed only when there is a choice.
                if groups.len() > l0 {
                    for g in groups.iter_mut() {
                        g.0 = prf(key, unit, hashes[rows[g.1].group as usize]);
                    }
                    groups.sort_unstable_by_key(|g| g.0);
                    groups.truncate(l0);
                }
                for &(_, s, e) in &groups {
                    let e_acc = acc.entry(rows[s].group).or_default();
                    match aggregate {
                        Aggregate::Count => e_acc.0 += ((e - s) as u64).min(linf as u64),
                        Aggregate::Histogram | Aggregate::Sum | Aggregate::Mean => {
                            values.clear();
                            values
                                .extend(rows[s..e].iter().filter(|r| r.has_value).map(|r| r.value));
                            let n = values.len();
                            let k = n.min(linf);
                            if n > linf {
                                for t in 0..k {
                                    let r = rng.uniform_below(&BigUint::from((n - t) as u64));
                                    let r = r.iter_u64_digits().next().unwrap_or(0) as usize;
                                    values.swap(t, t + r);
                                }
                            }
                            e_acc.0 += k as u64;
                            if aggregate != Aggregate::Histogram {
                                e_acc.1 += values[..k].iter().map(|v| *v as i128).sum::<i128>();
                            }
                        }
                    }
                }
                i = j;
            }
            Ok(acc)
        })
        .collect::<Result<_>>()?;
    let mut truth: HashMap<u128, (u64, i128)> = HashMap::new();
    for p in partials {
        for (g, (c, s)) in p {
            let e = truth.entry(hashes[g as usize]).or_default();
            e.0 += c;
            e.1 += s;
        }
    }
    Ok(truth)
}

/// Which caps totals of (ε, ρ, δ) would break. ρ counts against the ε cap too, converted
/// to (ε, δ) with the δ the δ cap leaves (or the default conversion δ without one).
pub fn over_budget(caps: &Budget, eps: f64, rho: f64, delta: f64) -> Vec<String> {
    let tol = |cap: f64| cap * (1.0 + 1e-12);
    let mut over = Vec::new();
    if let Some(c) = caps.total_rho {
        if rho > tol(c) {
            over.push(format!("total rho would be {rho:.6}, over the cap of {c}"));
        }
    }
    let conv = if rho > 0.0 {
        match caps.total_delta {
            Some(d) if d - delta > 0.0 => d - delta,
            Some(_) => 0.0,
            None => super::ledger::DEFAULT_CONVERSION_DELTA,
        }
    } else {
        0.0
    };
    if let Some(c) = caps.total_delta {
        if delta > tol(c) || (rho > 0.0 && conv <= 0.0) {
            over.push(format!("total delta would be {delta:e}, over the cap of {c:e} (or none left to convert rho)"));
        }
    }
    if let Some(c) = caps.total_epsilon {
        let as_eps = if rho > 0.0 && conv > 0.0 {
            eps + rho + 2.0 * (rho * (1.0 / conv).ln()).sqrt()
        } else {
            eps
        };
        if as_eps > tol(c) {
            over.push(format!("total epsilon would be {as_eps:.6} (rho converted at delta {conv:e}), over the cap of {c}"));
        }
    }
    over
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_counts_against_the_epsilon_cap() {
        let caps = Budget {
            total_epsilon: Some(3.0),
            total_rho: None,
            total_delta: Some(1e-5),
        };
        assert!(over_budget(&caps, 1.0, 0.0, 0.0).is_empty());
        // ρ = 0.2 at δ = 1e-5: ε = 0.2 + 2√(0.2·ln 1e5) ≈ 3.23 > 3.
        assert_eq!(over_budget(&caps, 0.0, 0.2, 0.0).len(), 1);
        assert!(over_budget(&caps, 0.0, 0.05, 0.0).is_empty());
        // No δ left to convert ρ with.
        assert!(!over_budget(&caps, 0.0, 0.05, 1e-5).is_empty());
    }

    fn query(aggregate: Aggregate, clamp: bool) -> Query {
        Query {
            name: "q".into(),
            aggregate,
            value_col: None,
            group_cols: Vec::new(),
            group_names: Vec::new(),
            lo: 0,
            hi: 200_000,
            resolution: 0.01,
            bounds: Some([0.0, 2000.0]),
            bins: None,
            public_keys: None,
            epsilon: Some(1.0),
            rho: None,
            delta: None,
            l0: 1,
            linf: 1,
            clamp,
        }
    }

    #[test]
    fn post_processing_clamps_and_rounds() {
        let count = query(Aggregate::Count, true);
        assert_eq!(post_process(&count, -1.0, 5.991464547), (0.0, 5.99));
        assert_eq!(post_process(&count, 7.0, 1.0), (7.0, 1.0));
        let mean = query(Aggregate::Mean, true);
        assert_eq!(post_process(&mean, -184.53, 3.0).0, 0.0);
        assert_eq!(post_process(&mean, 2500.0, 3.0).0, 2000.0);
        let sum = query(Aggregate::Sum, true);
        assert_eq!(post_process(&sum, -12.5, 1.0).0, 0.0);
        assert_eq!(
            post_process(&sum, 20086.670000000002, 1.234567)
                .0
                .to_string(),
            "20086.67"
        );
        assert_eq!(post_process(&sum, 1.0, 1.234567).1.to_string(), "1.23");
        // Without clamping only the rounding stays.
        let raw = query(Aggregate::Count, false);
        assert_eq!(post_process(&raw, -1.0, 0.0).0, -1.0);
        assert_eq!(round_to(0.1 + 0.2, 0.1).to_string(), "0.3");
        assert_eq!(round_to(1234.5678, 5.0), 1235.0);
        assert!(post_processing_note(&count).contains("set to 0"));
    }

    #[test]
    fn thresholds_follow_the_formula() {
        let b: f64 = 10.0;
        let q = (-1.0 / b).exp();
        let tau = threshold(b, 2, 4, 1e-6);
        let p = |k: u64| q.powf((k - 2) as f64) / (1.0 + q);
        assert!(p(tau) <= 1e-6 / 4.0 && p(tau - 1) > 1e-6 / 4.0);
    }
}
