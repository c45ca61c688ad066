//! `datacustoms scan`: a PII inventory of an input, without writing an export — which
//! fields hold which PII types, how many, and which sensitivity grade each field gets.
//!
//! It reads the input the way `run` does (same readers, same schema inference, same
//! quarantine rules) and detects with the same recognizers as `deidentify`. Invariants:
//! memory is bounded by the reader channel and the worker count; the counts do not depend
//! on the thread count, and the masked examples are the first ones in input order; no
//! raw value is ever part of the report.

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;

use rayon::iter::{ParallelBridge, ParallelIterator};
use serde::Serialize;

use crate::config::Format;
use crate::detect::SENSITIVE_CATEGORIES;
use crate::detect::{DetectConfig, Detection, Detector, EntityType};
use crate::engine::progress::new_bar;
use crate::error::{Error, Result};
use crate::io::jsonl::decode;
use crate::io::source::{
    parquet_schema, read_inputs, resolve_inputs, Chunk, ReaderConfig, ReaderEvent,
};
use crate::stages::deidentify::mask;
use crate::stages::fields::{for_each_string, resolve_fields, StringPath};

pub struct ScanOptions {
    pub inputs: Vec<String>,
    /// String fields to scan (`text`, `messages.content`); all string fields if None.
    pub fields: Option<Vec<String>>,
    pub threads: Option<usize>,
    pub quiet: bool,
    /// Fields the user declares sensitive by category (`diagnosis` → `health`), which no
    /// recognizer can tell from the values.
    pub declared: Vec<(String, String)>,
}

/// What `scan` reports (also its JSON form).
#[derive(Debug, Serialize)]
pub struct ScanReport {
    pub tool: &'static str,
    pub tool_version: &'static str,
    pub inputs: Vec<String>,
    pub schema_source: String,
    pub records: u64,
    pub quarantined_records: u64,
    pub detections: u64,
    pub by_type: BTreeMap<String, u64>,
    /// Per field: counts per type, records with at least one hit, and the grade.
    pub fields: BTreeMap<String, FieldInventory>,
    pub examples_masked: BTreeMap<String, Vec<String>>,
    /// The sensitive types (PIPL art. 28) among those found.
    pub sensitive_types: Vec<String>,
    /// Per type, how many candidates scored in each tenth of 0..1 (`[0.2, 0.3)` is
    /// bin 2; 1.0 falls in bin 9), counted from 0.2 up, below the 0.5 threshold too:
    /// where to set a stage's `min_score` for a type.
    pub score_histograms: BTreeMap<String, [u64; 10]>,
}

/// Candidates from this score up are put in the histograms.
const HISTOGRAM_FLOOR: f32 = 0.2;
/// The default threshold (`deidentify`'s `min_score`) for counts and examples.
const THRESHOLD: f32 = 0.5;

#[derive(Debug, Default, Serialize)]
pub struct FieldInventory {
    /// "sensitive PI", "general PI" or "no PI detected".
    pub grade: String,
    pub values_with_pii: u64,
    pub records_with_pii: u64,
    pub by_type: BTreeMap<String, u64>,
    /// The sensitive category the user declared for this field, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<String>,
}

/// Per-worker partial counts, merged at the end (merging is order-independent).
#[derive(Default)]
struct Partial {
    records: u64,
    quarantined: u64,
    /// (path, type) → count
    counts: BTreeMap<(usize, EntityType), u64>,
    values_with_pii: BTreeMap<usize, u64>,
    records_with_pii: BTreeMap<usize, u64>,
    /// type → (batch index, row, masked) of the earliest examples seen.
    examples: BTreeMap<EntityType, Vec<(u64, usize, String)>>,
    histograms: BTreeMap<EntityType, [u64; 10]>,
}

impl Partial {
    fn merge(mut self, other: Partial) -> Partial {
        self.records += other.records;
        self.quarantined += other.quarantined;
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        for (k, v) in other.values_with_pii {
            *self.values_with_pii.entry(k).or_default() += v;
        }
        for (k, v) in other.records_with_pii {
            *self.records_with_pii.entry(k).or_default() += v;
        }
        for (k, v) in other.histograms {
            let h = self.histograms.entry(k).or_default();
            for (a, b) in h.iter_mut().zip(v) {
                *a += b;
            }
        }
        for (k, v) in other.examples {
            let e = self.examples.entry(k).or_default();
            e.extend(v);
            e.sort();
            e.truncate(3);
        }
        self
    }
}

impl ScanReport {
    /// The readable table: one line per field with its grade and counts.
    pub fn table(&self) -> String {
        let width = self
            .fields
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut s = format!(
            "{:<width$}  {:<14}  {:>8}  types\n",
            "field", "grade", "records"
        );
        for (name, f) in &self.fields {
            let types: Vec<String> = f.by_type.iter().map(|(t, n)| format!("{t} {n}")).collect();
            s.push_str(&format!(
                "{name:<width$}  {:<14}  {:>8}  {}\n",
                match &f.declared {
                    Some(c) => format!("{} ({c})", f.grade),
                    None => f.grade.clone(),
                },
                f.records_with_pii,
                types.join(", ")
            ));
        }
        s.push_str(&format!(
            "{} records scanned ({} quarantined), {} detections{}\n",
            self.records,
            self.quarantined_records,
            self.detections,
            if self.sensitive_types.is_empty() {
                String::new()
            } else {
                format!("; sensitive PI: {}", self.sensitive_types.join(", "))
            }
        ));
        if !self.score_histograms.is_empty() {
            s.push_str(
                "scores (candidates per tenth, 0.2 to 1.0; the default min_score is 0.5):\n",
            );
            for (t, h) in &self.score_histograms {
                let bins: Vec<String> = h[2..].iter().map(|n| n.to_string()).collect();
                s.push_str(&format!("  {t:<18} {}\n", bins.join(" ")));
            }
        }
        s
    }
}

pub fn scan(opts: &ScanOptions) -> Result<ScanReport> {
    if opts.inputs.is_empty() {
        return Err(Error::Usage("scan: name at least one input".into()));
    }
    let mut skipped = Vec::new();
    let inputs = resolve_inputs(&opts.inputs, None, &mut skipped)?;
    for w in &skipped {
        tracing::warn!("{w}");
    }
    let format = inputs.first().map_or(Format::Jsonl, |f| f.format);
    let mut warnings = Vec::new();
    let (schema, schema_source) = match format {
        Format::Parquet => {
            let s = inputs
                .iter()
                .find_map(|f| parquet_schema(&f.path).ok())
                .ok_or_else(|| Error::Data("no input is a readable Parquet file".into()))?;
            (s, "parquet".to_string())
        }
        Format::Jsonl => crate::plan::infer(&inputs, Some(1000), "sample", &mut warnings)?,
        Format::Csv => (
            crate::plan::csv_header_schema(&inputs)?,
            "csv header".to_string(),
        ),
    };
    for (field, cat) in &opts.declared {
        if !SENSITIVE_CATEGORIES.contains(&cat.as_str()) {
            return Err(Error::Usage(format!(
                "--sensitive {field}={cat}: the category must be one of {}",
                SENSITIVE_CATEGORIES.join(", ")
            )));
        }
        if schema.index_of(field).is_err()
            && crate::stages::fields::resolve(&schema, field).is_err()
        {
            let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::Usage(format!(
                "--sensitive {field}={cat}: no field `{field}` in the input (fields: {})",
                known.join(", ")
            )));
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let paths: Vec<StringPath> = resolve_fields(&schema, opts.fields.as_deref(), |_, e| {
        Error::Usage(format!("scan --fields: {e}"))
    })?;
    let detector = Detector::new(&DetectConfig {
        min_score: HISTOGRAM_FLOOR,
        ..DetectConfig::default()
    });
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Internal(format!("cannot start worker threads: {e}")))?;
    let bar = new_bar(inputs.iter().map(|f| f.bytes).sum(), opts.quiet);
    let cfg = ReaderConfig {
        batch_rows: 8192,
        chunk_bytes: 8 << 20,
        schema: schema.clone(),
        projection: None,
        worker_row_group_bytes: crate::io::source::WORKER_ROW_GROUP_BYTES,
    };
    let (tx, rx) = sync_channel::<ReaderEvent>(threads * 2);
    let (partial, read) = std::thread::scope(|s| {
        let (inputs, cfg, bar) = (&inputs, &cfg, &bar);
        let reader = s.spawn(move || read_inputs(inputs, cfg, &tx, bar));
        let partial = pool.install(|| {
            rx.into_iter()
                .par_bridge()
                .map(|ev| scan_event(ev, &schema, &paths, &detector))
                .try_reduce(Partial::default, |a, b| Ok(a.merge(b)))
        });
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("reader panicked".into())));
        (partial, read)
    });
    bar.finish_and_clear();
    read?;
    let p = partial?;

    let mut report = ScanReport {
        tool: "datacustoms",
        tool_version: env!("CARGO_PKG_VERSION"),
        inputs: inputs.iter().map(|f| f.display.clone()).collect(),
        schema_source,
        records: p.records,
        quarantined_records: p.quarantined,
        detections: p.counts.values().sum(),
        by_type: BTreeMap::new(),
        fields: paths
            .iter()
            .map(|path| (path.name.clone(), FieldInventory::default()))
            .collect(),
        examples_masked: p
            .examples
            .into_iter()
            .map(|(e, v)| (e.as_str().to_string(), v.into_iter().map(|x| x.2).collect()))
            .collect(),
        sensitive_types: Vec::new(),
        score_histograms: p
            .histograms
            .iter()
            .map(|(e, h)| (e.as_str().to_string(), *h))
            .collect(),
    };
    for ((pi, e), n) in &p.counts {
        *report.by_type.entry(e.as_str().to_string()).or_default() += n;
        let f = report
            .fields
            .get_mut(&paths[*pi].name)
            .expect("a scanned field");
        *f.by_type.entry(e.as_str().to_string()).or_default() += n;
        if e.is_sensitive() && !report.sensitive_types.contains(&e.as_str().to_string()) {
            report.sensitive_types.push(e.as_str().to_string());
        }
    }
    report.sensitive_types.sort();
    for (pi, path) in paths.iter().enumerate() {
        let f = report.fields.get_mut(&path.name).expect("a scanned field");
        f.values_with_pii = p.values_with_pii.get(&pi).copied().unwrap_or(0);
        f.records_with_pii = p.records_with_pii.get(&pi).copied().unwrap_or(0);
        let sensitive = f
            .by_type
            .keys()
            .any(|t| EntityType::parse(t).is_some_and(EntityType::is_sensitive));
        f.grade = if sensitive || f.declared.is_some() {
            "sensitive PI"
        } else if f.by_type.is_empty() {
            "no PI detected"
        } else {
            "general PI"
        }
        .to_string();
    }
    // Declared categories make a field sensitive whatever its values look like.
    for (field, cat) in &opts.declared {
        let f = report.fields.entry(field.clone()).or_default();
        f.declared = Some(cat.clone());
        f.grade = "sensitive PI".into();
    }
    Ok(report)
}

fn scan_event(
    ev: ReaderEvent,
    schema: &arrow::datatypes::SchemaRef,
    paths: &[StringPath],
    detector: &Detector,
) -> Result<Partial> {
    let mut p = Partial::default();
    let (index, data) = match ev {
        ReaderEvent::Chunk(i, Chunk::Lines(lines), _) => {
            let d = decode(&lines, schema)?;
            p.quarantined += d.rejections.len() as u64;
            (i, d.data)
        }
        ReaderEvent::Chunk(i, Chunk::Arrow { batch, .. }, _) => (i, batch),
        ReaderEvent::Chunk(i, Chunk::RowGroup(job), _) => {
            let (parts, rejection) = job.decode();
            p.quarantined += rejection.len() as u64;
            let batches: Vec<_> = parts.into_iter().map(|(_, b)| b).collect();
            let data = match batches.first() {
                Some(b) => arrow::compute::concat_batches(&b.schema(), &batches).map_err(|e| {
                    Error::Internal(format!("cannot join a row group's batches: {e}"))
                })?,
                None => return Ok(p),
            };
            (i, data)
        }
        ReaderEvent::Chunk(_, Chunk::Rejected(_), _) => {
            p.quarantined += 1;
            return Ok(p);
        }
        ReaderEvent::Opened(_) | ReaderEvent::Done(_) => return Ok(p),
    };
    p.records += data.num_rows() as u64;
    let mut found: Vec<Detection> = Vec::new();
    for (pi, path) in paths.iter().enumerate() {
        // Values of one record come together, records in order.
        let mut last_row = None;
        for_each_string(data.column(path.column), &path.steps, &mut |row, s| {
            detector.detect(s, &mut found);
            for d in &found {
                let bin = ((d.score * 10.0) as usize).min(9);
                p.histograms.entry(d.entity).or_default()[bin] += 1;
            }
            // Candidates above the floor but below the threshold only feed the
            // histograms; dropping them after overlap resolution keeps exactly the
            // detections a run at the threshold makes (a weaker span never displaces
            // a stronger one).
            found.retain(|d| d.score >= THRESHOLD);
            if found.is_empty() {
                return;
            }
            *p.values_with_pii.entry(pi).or_default() += 1;
            if last_row != Some(row) {
                *p.records_with_pii.entry(pi).or_default() += 1;
                last_row = Some(row);
            }
            for d in &found {
                *p.counts.entry((pi, d.entity)).or_default() += 1;
                let ex = p.examples.entry(d.entity).or_default();
                if ex.len() < 3 {
                    ex.push((index, row, mask(&s[d.start..d.end], d.entity)));
                }
            }
        });
    }
    Ok(p)
}
