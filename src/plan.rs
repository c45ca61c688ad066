//! `Plan`: everything resolved before the first row is read. The "high" half of the
//! ripgrep-style split: inputs expanded, schema known (declared, inferred or read from
//! Parquet), stages built against the schema they will see, output settled.
//! The engine only ever sees a `Plan`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use rand::Rng;

use crate::config::{Format, PipelineSource};
use crate::engine::StageRunner;
use crate::error::{Error, Result};
use crate::io::jsonl::check_decodable;
use crate::io::schema::declared_schema;
use crate::io::sink::SinkOptions;
use crate::io::source::{infer_jsonl_schema, parquet_schema, resolve_inputs, InputFile};

/// The assessment a run makes (see `evidence::assessment`).
pub struct AssessmentPlan {
    pub cfg: crate::evidence::assessment::AssessmentConfig,
    pub scanner: crate::evidence::assessment::SubjectScanner,
    pub year: i32,
    pub max_mechanism: Option<String>,
    /// Per field, the techniques the pipeline applies.
    pub techniques: std::collections::BTreeMap<String, Vec<String>>,
    /// Per input field, its declared data grade (GB/T 43697).
    pub grades: std::collections::BTreeMap<String, String>,
    /// `[gate] min_k`.
    pub min_k: Option<u64>,
}

/// What the command line adds to or overrides in the pipeline file.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    pub inputs: Vec<String>,
    pub output: Option<PathBuf>,
    pub threads: Option<usize>,
    pub overwrite: bool,
    pub strict: bool,
    pub quiet: bool,
    pub run_id: Option<String>,
    pub quarantine_dir: Option<PathBuf>,
    /// Overrides `[keys] keyring`.
    pub keyring: Option<String>,
    /// Overrides `[output] lang`.
    pub lang: Option<crate::evidence::html::Lang>,
    /// `--state-dir`: the folder of the keyring, the ledgers and the home quarantine
    /// (see `crate::state`).
    pub state_dir: Option<PathBuf>,
    /// `--wait`: how long to wait for another run's lock on the output.
    pub wait: Option<std::time::Duration>,
    /// `validate`: plan only, creating nothing (a missing default keyring is stood in
    /// for by a throwaway one).
    pub validate: bool,
    /// A sharded run's frozen decisions (`plan.json`), set by its steps.
    pub frozen: Option<Frozen>,
}

/// What a sharded run's `plan` decided once and every task of the run reuses, so that
/// no task decides again on what it happens to see (`shard::plan_file`).
#[derive(Debug, Clone, Default)]
pub struct Frozen {
    /// The input schema and where it came from (JSONL: sampled or scanned once, at
    /// planning).
    pub schema: Option<(SchemaRef, String)>,
    /// The assessment's year.
    pub year: Option<i32>,
    /// The secret every task builds its stages' random keys from (DP's group-hash seed
    /// and sampling key), so that they agree across the tasks of a run.
    pub seed: Option<[u8; 32]>,
    /// The vault this process writes tokens to instead of the pipeline's: a task's
    /// own (merged at home by `finalize`), or none (`plan` and `finalize` tokenize
    /// nothing).
    pub vault: Option<Option<PathBuf>>,
}

pub struct Plan {
    pub source: PipelineSource,
    pub inputs: Vec<InputFile>,
    pub input_format: Format,
    /// The schema the stages see (after a read projection, if any).
    pub schema: SchemaRef,
    /// With a projection: the files' full schema, which every Parquet input must have.
    pub file_schema: Option<SchemaRef>,
    /// Parquet columns to read (indices into `file_schema`), when only some are needed.
    pub projection: Option<Vec<usize>>,
    pub schema_source: String,
    pub stages: Vec<StageRunner>,
    pub output_schema: SchemaRef,
    pub output_dir: PathBuf,
    pub sink: SinkOptions,
    pub overwrite: bool,
    pub strict: bool,
    pub quiet: bool,
    pub wait: Option<std::time::Duration>,
    pub threads: usize,
    pub run_id: String,
    pub quarantine_dir: PathBuf,
    pub batch_rows: usize,
    pub warnings: Vec<String>,
    /// The residual-PII re-scan: on when a stage de-identifies or a gate is set.
    pub residual: Option<crate::engine::residual::ResidualScanner>,
    /// `[gate] max_residual`.
    pub max_residual: Option<u64>,
    /// `[gate] max_quarantined`.
    pub max_quarantined: Option<crate::config::MaxQuarantined>,
    /// `[output] rows`: false for an aggregates-only export.
    pub write_rows: bool,
    /// Language of report.html.
    pub lang: crate::evidence::html::Lang,
    /// Per field, the techniques the pipeline applies (suppression, masking, token, …).
    pub techniques: std::collections::BTreeMap<String, Vec<String>>,
    /// Keys, present when a stage tokenizes or encrypts.
    pub keys: Option<std::sync::Arc<crate::crypto::RunKeys>>,
    /// `[assessment]`, resolved: subject counting, the year, the gate.
    pub assessment: Option<AssessmentPlan>,
    /// The keyring whose primary key signs the manifest, when `keys` is None (the
    /// pipeline's `[keys] keyring`, or the local default, created on first use).
    pub signer: Option<crate::crypto::Keyring>,
}

impl Plan {
    /// Reads the pipeline and everything it names, and freezes each decision a run
    /// depends on: the inputs, the schema, the stages (and the schema after each), the
    /// keys, the gates and the assessment. The steps are functions of their own below.
    pub fn build(pipeline: &Path, opts: RunOptions) -> Result<Plan> {
        let mut source = PipelineSource::load(pipeline)?;
        let state = std::cell::OnceCell::new();
        let state = || -> Result<&crate::state::StateDir> {
            if let Some(s) = state.get() {
                return Ok(s);
            }
            let s = crate::state::StateDir::resolve(opts.state_dir.as_deref())?;
            Ok(state.get_or_init(|| s))
        };
        fill_state_defaults(&mut source.file, &state)?;
        let file = &source.file;
        let patterns = if opts.inputs.is_empty() {
            file.input.path.to_vec()
        } else {
            opts.inputs.clone()
        };
        let mut warnings = Vec::new();
        let inputs = resolve_inputs(&patterns, file.input.format, &mut warnings)?;
        let input_format = inputs
            .first()
            .map(|f| f.format)
            .or(file.input.format)
            .unwrap_or(Format::Jsonl);
        let frozen = opts.frozen.clone().unwrap_or_default();
        let (schema, schema_source) = match frozen.schema {
            Some(s) => s,
            None => input_schema(&source, &inputs, input_format, &mut warnings)?,
        };

        let run_id = match opts.run_id {
            Some(id) => validate_run_id(&id)?,
            None => new_run_id(),
        };
        let keys = load_keys(
            &source,
            opts.keyring.as_deref(),
            &run_id,
            &state,
            (opts.validate, frozen.vault.as_ref()),
        )?;

        // An aggregates-only export whose every stage is a DP release needs only the
        // columns its queries name: a Parquet input is read with just those.
        let (schema, file_schema, projection) = match needed_columns(file, &schema) {
            Some(cols) if input_format == Format::Parquet && !file.output.rows => {
                let projected = Arc::new(schema.project(&cols)?);
                (projected, Some(schema.clone()), Some(cols))
            }
            _ => (schema, None, None),
        };
        let (stages, current) = build_stages(
            &source,
            &inputs,
            &schema,
            keys.as_ref(),
            frozen.seed.as_ref(),
        )?;
        check_after_encryption(&source, keys.as_ref().and_then(|k| k.record_id.clone()))?;
        check_record_id_reaches_export(&source, keys.as_deref(), &current)?;
        check_barrier_order(&source, &stages)?;

        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        if threads == 0 {
            return Err(Error::Usage("--threads must be at least 1".into()));
        }
        let output_dir = opts
            .output
            .unwrap_or_else(|| PathBuf::from(&file.output.path));
        let quarantine_dir = match opts.quarantine_dir {
            Some(d) => d,
            None => state()?.quarantine(),
        }
        .join(&run_id);
        if file.input.batch_rows == 0 {
            return Err(Error::Config(format!(
                "{}: [input] batch_rows must be at least 1",
                source.path.display()
            )));
        }
        let max_residual = file.gate.as_ref().and_then(|g| g.max_residual);
        let max_quarantined = max_quarantined(file, &source.path)?;
        let residual = residual_scanner(file, max_residual, keys.as_deref(), &current);
        let signer = match &keys {
            Some(_) => None,
            None => {
                let spec = opts
                    .keyring
                    .clone()
                    .or_else(|| file.keys.as_ref().and_then(|k| k.keyring.clone()));
                Some(keyring_or_default(spec, &state, opts.validate)?)
            }
        };
        let (max_mechanism, min_k) = assessment_gates(&source)?;
        let root = match (&keys, &signer) {
            (Some(k), _) => k.ring.primary(),
            (None, Some(r)) => r.primary(),
            (None, None) => unreachable!("a plan always has a signing key"),
        };
        let assessment = assessment_plan(
            &source,
            &schema,
            &current,
            root,
            (max_mechanism, min_k, frozen.year),
            &mut warnings,
        )?;
        Ok(Plan {
            file_schema,
            projection,
            assessment,
            signer,
            write_rows: file.output.rows,
            lang: opts.lang.unwrap_or(file.output.lang),
            techniques: techniques(file),
            keys,
            residual,
            max_residual,
            max_quarantined,
            inputs,
            input_format,
            schema,
            schema_source,
            stages,
            output_schema: current,
            sink: sink_options(file, input_format)?,
            overwrite: opts.overwrite || file.output.overwrite,
            strict: opts.strict,
            quiet: opts.quiet,
            threads,
            run_id,
            quarantine_dir,
            wait: opts.wait,
            batch_rows: file.input.batch_rows,
            output_dir,
            warnings,
            source,
        })
    }
}

/// The schema of the input as the stages first see it, and where it came from
/// (`parquet`, `declared`, `sample`, `scan`, or a CSV header).
fn input_schema(
    source: &PipelineSource,
    inputs: &[InputFile],
    input_format: Format,
    warnings: &mut Vec<String>,
) -> Result<(SchemaRef, String)> {
    let file = &source.file;
    Ok(match input_format {
        Format::Parquet => {
            if let Some(s) = &file.input.schema {
                return Err(Error::Config(format!(
                    "{}: `schema` applies to JSONL input; Parquet files carry their own",
                    source.at(s.span())
                )));
            }
            let found = inputs.iter().find_map(|f| parquet_schema(&f.path).ok());
            let Some(schema) = found else {
                return Err(Error::Data(format!(
                    "no input is a readable Parquet file ({} tried); check the files or the [input] path",
                    inputs.len()
                )));
            };
            (schema, "parquet".to_string())
        }
        Format::Csv => csv_input_schema(&file.input, source, inputs)?,
        Format::Jsonl => {
            let spec = file.input.schema.as_ref();
            match spec.map(|s| (s.get_ref(), s.span())) {
                None => infer(inputs, Some(file.input.sample_lines), "sample", warnings)?,
                Some((toml::Value::String(m), _)) if m == "sample" => {
                    infer(inputs, Some(file.input.sample_lines), "sample", warnings)?
                }
                Some((toml::Value::String(m), _)) if m == "scan" => infer(inputs, None, "scan", warnings)?,
                Some((v @ toml::Value::Array(_), span)) => {
                    let s = declared_schema(v, &source.at(span.clone()))?;
                    for f in s.fields() {
                        check_decodable(f.data_type()).map_err(|e| {
                            Error::Config(format!("{}: field `{}`: {e}", source.at(span.clone()), f.name()))
                        })?;
                    }
                    (s, "declared".to_string())
                }
                Some((_, span)) => {
                    return Err(Error::Config(format!(
                        "{}: `schema` must be \"sample\", \"scan\" or a list of {{ name = ..., type = ... }}",
                        source.at(span)
                    )))
                }
            }
        }
    })
}

/// Builds each stage on the schema the one before it outputs; returns the stages and the
/// export's schema. A de-identify stage that calibrates on sample values gets the input's
/// first rows as the stages before it leave them (read once, on first need).
fn build_stages(
    source: &PipelineSource,
    inputs: &[InputFile],
    schema: &SchemaRef,
    keys: Option<&Arc<crate::crypto::RunKeys>>,
    seed: Option<&[u8; 32]>,
) -> Result<(Vec<StageRunner>, SchemaRef)> {
    let mut stages = Vec::new();
    let mut current = schema.clone();
    let mut raw_sample: Option<Option<arrow::array::RecordBatch>> = None;
    for (i, cfg) in source.file.stages.iter().enumerate() {
        let needs_sample =
            matches!(cfg, crate::config::StageConfig::Deidentify(c) if c.needs_sample());
        let sample = if needs_sample {
            let raw = match &raw_sample {
                Some(r) => r.clone(),
                None => {
                    let r = read_sample(inputs, schema, crate::stages::deidentify::SAMPLE_VALUES)?;
                    raw_sample = Some(r.clone());
                    r
                }
            };
            raw.map(|b| sample_through(b, &stages)).transpose()?
        } else {
            None
        };
        let (stage, out) = crate::stages::build(
            cfg,
            i,
            &current,
            source,
            inputs,
            keys,
            sample.as_ref(),
            seed,
        )?;
        stages.push(stage);
        current = out;
    }
    Ok((stages, current))
}

/// The residual-PII re-scan of the export's rows: on when a stage de-identifies or
/// `[gate] max_residual` is set; the columns an `encrypt` stage turns into ciphertext
/// and the fields a `pseudonymize` stage turns into tokens (`token_fields`) are left out.
fn residual_scanner(
    file: &crate::config::PipelineFile,
    max_residual: Option<u64>,
    keys: Option<&crate::crypto::RunKeys>,
    output: &SchemaRef,
) -> Option<crate::engine::residual::ResidualScanner> {
    let deidentifies = file
        .stages
        .iter()
        .any(|s| matches!(s, crate::config::StageConfig::Deidentify(_)));
    (deidentifies || max_residual.is_some()).then(|| {
        let encrypted: Vec<String> = keys
            .map(|k| {
                let columns = k.columns.lock().expect("columns lock");
                columns.iter().map(|c| c.path.clone()).collect()
            })
            .unwrap_or_default();
        crate::engine::residual::ResidualScanner::new(
            output,
            &crate::stages::deidentify::residual_detect_config(file),
            &encrypted,
            &token_fields(&file.stages),
        )
    })
}

/// The fields that reach the export holding keyed tokens only: every field a
/// `pseudonymize` stage names (it replaces each whole value; nulls stay null), unless a
/// `project` stage comes after it (a rename could give the name to another column).
/// A token (`USER_ID_v1_` and 32 hex digits) holds no PII, but its hex digits can look
/// like a phone number now and then, and scanning them cost half the re-scan of the
/// short fields on the chat corpus.
fn token_fields(stages: &[crate::config::StageConfig]) -> Vec<String> {
    use crate::config::StageConfig;
    stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            StageConfig::Pseudonymize(p)
                if !stages[i + 1..]
                    .iter()
                    .any(|t| matches!(t, StageConfig::Project(_))) =>
            {
                Some(p.columns.iter().cloned())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// With encrypted columns, `[keys] record_id` must reach the export: `decrypt` reads it
/// back to find each row's key.
fn check_record_id_reaches_export(
    source: &PipelineSource,
    keys: Option<&crate::crypto::RunKeys>,
    output: &SchemaRef,
) -> Result<()> {
    let Some(k) = keys else {
        return Ok(());
    };
    let encrypted = !k.columns.lock().expect("columns lock").is_empty();
    if let (Some(r), true) = (&k.record_id, encrypted) {
        if output.index_of(r).is_err() {
            return Err(Error::Config(format!(
                "{}: [keys] record_id `{r}` must reach the export (decrypt reads it back); a later stage drops it",
                source.path.display()
            )));
        }
    }
    Ok(())
}

/// A stage that reads the input twice must be the first that drops rows (the run makes
/// one first pass, for that stage).
fn check_barrier_order(source: &PipelineSource, stages: &[StageRunner]) -> Result<()> {
    let Some(first) = stages.iter().position(|s| s.barrier.is_some()) else {
        return Ok(());
    };
    for tp in first + 1..stages.len() {
        let name = stages[tp].type_name;
        if !stages[tp]
            .barrier
            .as_ref()
            .is_some_and(|b| b.needs_prepass())
        {
            continue;
        }
        return Err(Error::Config(format!(
            "{}: stage {} ({name}) reads the input twice, so it must be the first stage \
             that drops rows; move it before stage {} ({})",
            source.stage_at(tp, "keep"),
            tp + 1,
            first + 1,
            stages[first].type_name
        )));
    }
    Ok(())
}

/// `[gate] max_mechanism` and `[gate] min_k`, checked against `[assessment]`.
fn assessment_gates(source: &PipelineSource) -> Result<(Option<String>, Option<u64>)> {
    let file = &source.file;
    let max_mechanism = file.gate.as_ref().and_then(|g| g.max_mechanism.clone());
    if let Some(m) = &max_mechanism {
        if crate::evidence::assessment::rank(m).is_none() {
            return Err(Error::Config(format!(
                "{}: [gate] max_mechanism `{m}`: use exempt, standard_contract or security_assessment",
                source.path.display()
            )));
        }
        if file.assessment.is_none() {
            return Err(Error::Config(format!(
                "{}: [gate] max_mechanism needs an [assessment] section (which subjects to count)",
                source.path.display()
            )));
        }
    }
    let min_k = file.gate.as_ref().and_then(|g| g.min_k);
    if let Some(k) = min_k {
        let qi = file
            .assessment
            .as_ref()
            .map(|a| a.quasi_identifiers.len())
            .unwrap_or(0);
        if k == 0 || qi == 0 {
            return Err(Error::Config(format!(
                "{}: [gate] min_k needs k ≥ 1 and [assessment] quasi_identifiers (the columns classes are formed by)",
                source.path.display()
            )));
        }
    }
    Ok((max_mechanism, min_k))
}

/// `[assessment]`, resolved: the fields' grades, the subject scanner keyed by `root`,
/// the year, and the k-anonymity columns checked against the export's schema.
fn assessment_plan(
    source: &PipelineSource,
    schema: &SchemaRef,
    output: &SchemaRef,
    root: &crate::crypto::keys::RootKey,
    (max_mechanism, min_k, year): (Option<String>, Option<u64>, Option<i32>),
    warnings: &mut Vec<String>,
) -> Result<Option<AssessmentPlan>> {
    let file = &source.file;
    let Some(cfg) = &file.assessment else {
        return Ok(None);
    };
    let fields: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let grades = cfg
        .grades(&fields)
        .map_err(|e| e.prefixed(&source.path.display().to_string()))?;
    let mut cfg = cfg.clone();
    // Important data (acknowledged) takes the security assessment route.
    if grades.values().any(|g| g == "important") {
        cfg.declares.important_data = true;
    }
    // k-anonymity is over the exported rows: the columns must be output columns
    // (checked here, before anything is read).
    let declared = !cfg.quasi_identifiers.is_empty() || cfg.sensitive_attribute.is_some();
    if declared && !file.output.rows {
        warnings.push(
            "[assessment] quasi_identifiers: no k-anonymity for an aggregates-only export ([output] rows = false): it ships no rows".into(),
        );
    }
    if declared && file.output.rows {
        crate::evidence::kanon::ClassTally::new(
            output,
            &cfg.quasi_identifiers,
            cfg.sensitive_attribute.as_deref(),
            min_k,
        )
        .map_err(|e| Error::Config(format!("{}: {e}", source.path.display())))?;
    }
    let year = cfg
        .year
        .or(year)
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().year());
    let scanner = crate::evidence::assessment::SubjectScanner::new(&cfg, schema, root, year)
        .map_err(|e| Error::Config(format!("{}: {e}", source.path.display())))?;
    Ok(Some(AssessmentPlan {
        cfg,
        scanner,
        year,
        max_mechanism,
        techniques: techniques(file),
        grades,
        min_k,
    }))
}

/// `[output]`'s file settings; the format defaults to the input's (Parquet for CSV).
fn sink_options(file: &crate::config::PipelineFile, input_format: Format) -> Result<SinkOptions> {
    Ok(SinkOptions {
        format: match file.output.format {
            Some(Format::Csv) => {
                return Err(Error::Config(
                    "[output] format = \"csv\": exports are written as jsonl or parquet".into(),
                ))
            }
            Some(f) => f,
            // A table in, a table out.
            None if input_format == Format::Csv => Format::Parquet,
            None => input_format,
        },
        max_file_bytes: file.output.max_file_bytes.0.max(1),
        row_group_rows: file.output.row_group_rows,
        compression: file.output.compression,
    })
}

pub(crate) fn infer(
    inputs: &[InputFile],
    limit: Option<usize>,
    mode: &str,
    warnings: &mut Vec<String>,
) -> Result<(SchemaRef, String)> {
    let inf = infer_jsonl_schema(inputs, limit)?;
    let (records, conflicts) = (inf.records, inf.conflicts);
    if conflicts > 0 {
        warnings.push(format!(
            "{conflicts} of the {records} records read to infer the schema disagree on a field's type; \
             records of the minority type are quarantined as schema_mismatch (declare the schema to choose)"
        ));
    }
    let schema: SchemaRef = if records == 0 {
        std::sync::Arc::new(Schema::empty())
    } else {
        inf.finish()
    };
    Ok((schema, format!("{mode} ({records} records)")))
}

/// The schema of CSV input: the one declared, else the first file's header with
/// every column a string.
fn csv_input_schema(
    input: &crate::config::InputConfig,
    source: &PipelineSource,
    inputs: &[InputFile],
) -> Result<(SchemaRef, String)> {
    match input.schema.as_ref().map(|s| (s.get_ref(), s.span())) {
        Some((v @ toml::Value::Array(_), span)) => {
            Ok((declared_schema(v, &source.at(span))?, "declared".to_string()))
        }
        None => csv_header(inputs),
        Some((toml::Value::String(m), _)) if m == "sample" || m == "scan" => csv_header(inputs),
        Some((_, span)) => Err(Error::Config(format!(
            "{}: `schema` for CSV input is a list of {{ name = ..., type = ... }} (typed columns), or left out (every column a string)",
            source.at(span)
        ))),
    }
}

fn csv_header(inputs: &[InputFile]) -> Result<(SchemaRef, String)> {
    Ok((
        csv_header_schema(inputs)?,
        "csv header (every column a string)".to_string(),
    ))
}

/// The schema of CSV input without a declared one: the first file's header, every
/// column a nullable string.
pub(crate) fn csv_header_schema(inputs: &[InputFile]) -> Result<SchemaRef> {
    let Some(input) = inputs.first() else {
        return Ok(std::sync::Arc::new(Schema::empty()));
    };
    let bar = indicatif::ProgressBar::hidden();
    let (reader, _) = crate::io::source::open_jsonl(input, &bar)?;
    let records =
        crate::io::csv::Records::new(reader, crate::io::csv::delimiter(&input.path), None)
            .map_err(|e| Error::Data(format!("{}: {e}", input.display)))?;
    Ok(std::sync::Arc::new(crate::io::csv::header_schema(
        records.names(),
    )))
}

/// Run ids become file names: keep them to a safe alphabet.
fn validate_run_id(id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::Usage(format!(
            "--run-id `{id}`: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let suffix: u32 = rand::rng().random_range(0..0x100_0000);
    format!("{}-{suffix:06x}", now.format(&fmt).unwrap_or_default())
}

/// Refuses stages after an encrypting one that would make the export undecryptable:
/// rewriting, renaming or dropping an encrypted column, an encrypted text field or the
/// `[keys] record_id` that every ciphertext is bound to.
fn check_after_encryption(source: &PipelineSource, record_id: Option<String>) -> Result<()> {
    use crate::config::StageConfig;
    use crate::stages::deidentify::Action;
    let mut bound: Vec<String> = Vec::new();
    let touches =
        |names: &[String], bound: &[String]| names.iter().find(|n| bound.contains(n)).cloned();
    for (i, st) in source.file.stages.iter().enumerate() {
        if !bound.is_empty() {
            let hit = match st {
                StageConfig::Project(c) => c
                    .drop
                    .as_deref()
                    .and_then(|d| touches(d, &bound))
                    .or_else(|| touches(&c.rename.keys().cloned().collect::<Vec<_>>(), &bound))
                    .or_else(|| {
                        c.keep
                            .as_ref()
                            .and_then(|k| bound.iter().find(|b| !k.contains(b)).cloned())
                    }),
                StageConfig::Pseudonymize(c) => touches(&c.columns, &bound),
                StageConfig::Encrypt(c) => touches(&c.columns, &bound),
                StageConfig::Deidentify(c) => match &c.fields {
                    None => Some("(every text field)".to_string()),
                    Some(f) => touches(f, &bound).or_else(|| {
                        touches(&c.columns.keys().cloned().collect::<Vec<_>>(), &bound)
                    }),
                },
                StageConfig::Normalize(c) => match (&c.fields, &record_id) {
                    (None, Some(r)) => Some(r.clone()),
                    (Some(f), _) => touches(f, &bound),
                    _ => None,
                },
                _ => None,
            };
            if let Some(name) = hit {
                return Err(Error::Config(format!(
                    "{}: stage {} ({}) would change, rename or drop `{name}` after it was encrypted or bound into ciphertext; \
                     move it before the encrypting stage, or name its fields explicitly",
                    source.stage_at(i, &name),
                    i + 1,
                    st.type_name()
                )));
            }
        }
        let encrypts = match st {
            StageConfig::Encrypt(c) => {
                bound.extend(c.columns.iter().cloned());
                true
            }
            StageConfig::Deidentify(c) if c.all_actions().any(|a| a == Action::Encrypt) => {
                bound.extend(c.fields.iter().flatten().cloned());
                bound.extend(c.columns.keys().cloned());
                true
            }
            _ => false,
        };
        if encrypts {
            if let Some(r) = &record_id {
                if !bound.contains(r) {
                    bound.push(r.clone());
                }
            }
        }
    }
    Ok(())
}

/// Per field, the techniques a pipeline applies to it, for the assessment.
fn techniques(
    file: &crate::config::PipelineFile,
) -> std::collections::BTreeMap<String, Vec<String>> {
    use crate::config::StageConfig;
    use crate::stages::deidentify::Action;
    let mut t: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut add = |field: &str, what: &str| {
        let v = t.entry(field.to_string()).or_default();
        if !v.iter().any(|x| x == what) {
            v.push(what.to_string());
        }
    };
    let name = |a: Action| match a {
        Action::Tag | Action::Indexed | Action::Redact => "suppression",
        Action::Mask => "masking",
        Action::Token => "token",
        Action::Encrypt => "encryption",
    };
    for s in &file.stages {
        match s {
            StageConfig::Deidentify(c) => {
                let fields = c
                    .fields
                    .clone()
                    .unwrap_or_else(|| vec!["(every text field)".into()]);
                for f in &fields {
                    for a in std::iter::once(c.action).chain(c.actions.values().copied()) {
                        add(f, name(a));
                    }
                }
                for (col, rule) in &c.columns {
                    match rule.action() {
                        Some(a) => add(col, name(a)),
                        None => {
                            for a in std::iter::once(c.action).chain(c.actions.values().copied()) {
                                add(col, name(a));
                            }
                        }
                    }
                }
            }
            StageConfig::Pseudonymize(c) => c.columns.iter().for_each(|col| add(col, "token")),
            StageConfig::Encrypt(c) => c.columns.iter().for_each(|col| add(col, "encryption")),
            StageConfig::Project(c) => c
                .drop
                .iter()
                .flatten()
                .for_each(|col| add(col, "suppression")),
            StageConfig::DpRelease(c) => {
                for q in &c.queries {
                    for col in q.group_by.iter().chain(q.column.iter()) {
                        add(col, "DP (aggregates)");
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// The input columns a pipeline reads, when it can say (every stage is a DP release):
/// privacy units, group-by and value columns, in input order.
fn needed_columns(file: &crate::config::PipelineFile, schema: &SchemaRef) -> Option<Vec<usize>> {
    use crate::config::StageConfig;
    if file.stages.is_empty() || file.assessment.is_some() || file.gate.is_some() {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    for st in &file.stages {
        let StageConfig::DpRelease(c) = st else {
            return None;
        };
        names.extend(c.privacy_unit.as_deref());
        for q in &c.queries {
            names.extend(q.group_by.iter().map(String::as_str));
            names.extend(q.column.as_deref());
        }
    }
    let mut cols: Vec<usize> = names
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    cols.sort_unstable();
    cols.dedup();
    (!cols.is_empty()).then_some(cols)
}

/// The first `rows` records of the first input, decoded with the run's schema: what
/// stages that type columns by sampling look at.
fn read_sample(
    inputs: &[InputFile],
    schema: &SchemaRef,
    rows: usize,
) -> Result<Option<arrow::array::RecordBatch>> {
    let Some(input) = inputs.first() else {
        return Ok(None);
    };
    match input.format {
        Format::Parquet => {
            let f = std::fs::File::open(&input.path)
                .map_err(|e| Error::io("cannot open", &input.path, e))?;
            let mut r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)?
                .with_batch_size(rows)
                .build()?;
            Ok(r.next()
                .transpose()?
                .filter(|b| b.schema().fields() == schema.fields()))
        }
        Format::Jsonl => {
            use std::io::BufRead;
            let bar = indicatif::ProgressBar::hidden();
            let (reader, _) = crate::io::source::open_jsonl(input, &bar)?;
            let mut chunk = crate::io::jsonl::LinesChunk::new(0);
            for (i, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(|e| Error::io("cannot read", &input.path, e))?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                chunk.push(&line, i as u64 + 1);
                if chunk.len() == rows {
                    break;
                }
            }
            if chunk.is_empty() {
                return Ok(None);
            }
            Ok(Some(crate::io::jsonl::decode(&chunk, schema)?.data))
        }
        Format::Csv => {
            let bar = indicatif::ProgressBar::hidden();
            let (reader, _) = crate::io::source::open_jsonl(input, &bar)?;
            let records = crate::io::csv::Records::new(
                reader,
                crate::io::csv::delimiter(&input.path),
                Some(schema),
            )
            .map_err(|e| Error::Data(format!("{}: {e}", input.display)))?;
            let mut chunk = crate::io::jsonl::LinesChunk::new(0);
            for item in records {
                if let Ok(crate::io::csv::Item::Record { line, json }) = item {
                    chunk.push(&json, line);
                    if chunk.len() == rows {
                        break;
                    }
                }
            }
            if chunk.is_empty() {
                return Ok(None);
            }
            Ok(Some(crate::io::jsonl::decode(&chunk, schema)?.data))
        }
    }
}

/// A sample batch after the row stages built so far (barrier stages only drop rows, so
/// they are skipped). Keyed stages run too: a sample value may reach the vault early,
/// which is harmless (inserts are idempotent and the value is in the input anyway).
fn sample_through(
    raw: arrow::array::RecordBatch,
    stages: &[StageRunner],
) -> Result<arrow::array::RecordBatch> {
    let n = raw.num_rows();
    let mut batch = crate::engine::batch::Batch::new(0, 0, raw, (1..=n as u64).collect());
    batch.attachments = (0..stages.len() + 1).map(|_| None).collect();
    let mut findings = crate::engine::Findings::default();
    for s in stages {
        if let Some(r) = &s.row {
            batch = r.process(batch, &mut findings)?;
        }
    }
    Ok(batch.data)
}

/// Loads the root keys when a stage tokenizes or encrypts (and only then, so pipelines
/// without keyed stages never touch key material).
fn load_keys<'s>(
    source: &PipelineSource,
    keyring: Option<&str>,
    run_id: &str,
    state: &impl Fn() -> Result<&'s crate::state::StateDir>,
    (validate, vault): (bool, Option<&Option<PathBuf>>),
) -> Result<Option<std::sync::Arc<crate::crypto::RunKeys>>> {
    let file = &source.file;
    let (tokenizes, encrypts) = file
        .stages
        .iter()
        .map(|s| s.uses_keys())
        .fold((false, false), |a, b| (a.0 || b.0, a.1 || b.1));
    if !tokenizes && !encrypts {
        if file.keys.is_some() {
            tracing::info!("[keys] is set but no stage tokenizes or encrypts: no key is loaded");
        }
        return Ok(None);
    }
    let cfg = file.keys.clone().unwrap_or_default();
    if cfg.scope.trim().is_empty() {
        return Err(Error::Config(format!(
            "{}: [keys] scope must not be empty",
            source.path.display()
        )));
    }
    let spec = keyring.map(str::to_string).or_else(|| cfg.keyring.clone());
    let ring = keyring_or_default(spec, state, validate)?;
    // Validating opens no vault: it would create one.
    let mut cfg = cfg;
    if validate {
        cfg.vault = None;
    }
    // A sharded run's task writes its tokens to a vault of its own, if the pipeline
    // keeps one at all; `plan` and `finalize` open none.
    if let Some(v) = vault {
        cfg.vault = cfg
            .vault
            .as_ref()
            .and(v.as_ref())
            .map(|p| p.display().to_string());
    }
    if cfg.vault.is_some() && !tokenizes {
        tracing::info!("[keys] vault is set but no stage makes tokens: the vault is not opened");
    }
    Ok(Some(std::sync::Arc::new(crate::crypto::RunKeys::new(
        ring, &cfg, run_id, encrypts, tokenizes,
    )?)))
}

/// The keyring `spec` names, or the state folder's own, created on first use. When only
/// validating, a missing default keyring is not created: a throwaway one stands in.
fn keyring_or_default<'s>(
    spec: Option<String>,
    state: &impl Fn() -> Result<&'s crate::state::StateDir>,
    validate: bool,
) -> Result<crate::crypto::Keyring> {
    use crate::crypto::keys::{load_or_create_local, KeySource};
    match spec {
        Some(s) => load_or_create_local(&KeySource::parse(&s)?, false),
        None if validate && !state()?.keyring().exists() => {
            tracing::info!(
                "no keyring at {} yet: a run creates it; validating with a throwaway one",
                state()?.keyring().display()
            );
            let tmp = tempfile::tempdir()
                .map_err(|e| Error::io("cannot create", &std::env::temp_dir(), e))?;
            crate::crypto::keys::init_keyring(&tmp.path().join("keyring.json"), None)
        }
        None => load_or_create_local(&KeySource::parse(&state()?.keyring_spec())?, true),
    }
}

/// Ledger paths the pipeline leaves unset become the state folder's, and paths written
/// `state:NAME` name a file there.
fn fill_state_defaults<'s>(
    file: &mut crate::config::PipelineFile,
    state: &impl Fn() -> Result<&'s crate::state::StateDir>,
) -> Result<()> {
    use crate::state::{in_state, StateDir};
    let fill = |p: &mut String, default: fn(&StateDir) -> PathBuf| -> Result<()> {
        if p.is_empty() {
            *p = default(state()?).display().to_string();
        } else if let Some(name) = in_state(p) {
            *p = state()?.path.join(name).display().to_string();
        }
        Ok(())
    };
    for st in &mut file.stages {
        if let crate::config::StageConfig::DpRelease(c) = st {
            fill(&mut c.ledger, StateDir::ledger)?;
        }
    }
    if let Some(a) = &mut file.assessment {
        fill(&mut a.year_ledger, StateDir::year_ledger)?;
    }
    if let Some(v) = file.keys.as_mut().and_then(|k| k.vault.as_mut()) {
        fill(v, StateDir::vault)?;
    }
    Ok(())
}

/// `[gate] max_quarantined`, a share checked to lie in 0..=1.
fn max_quarantined(
    file: &crate::config::PipelineFile,
    path: &std::path::Path,
) -> Result<Option<crate::config::MaxQuarantined>> {
    let m = file.gate.as_ref().and_then(|g| g.max_quarantined);
    if let Some(crate::config::MaxQuarantined::Share(s)) = m {
        if !(0.0..=1.0).contains(&s) {
            return Err(Error::Config(format!(
                "{}: [gate] max_quarantined = {s}: a share is between 0 and 1 (or give a number of rows)",
                path.display()
            )));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenized_fields_unless_a_projection_follows() {
        let stages = |toml: &str| {
            crate::config::PipelineSource::parse(
                Path::new("p.toml"),
                &format!("[input]\npath = \"in.jsonl\"\n[output]\npath = \"out\"\n{toml}"),
            )
            .unwrap()
            .stages
        };
        let pseudo =
            "[[stages]]\ntype = \"pseudonymize\"\ncolumns = [\"user_id\", \"meta.author\"]\n";
        let deid = "[[stages]]\ntype = \"deidentify\"\nfields = [\"text\"]\n";
        let project = "[[stages]]\ntype = \"project\"\ndrop = [\"email\"]\n";
        assert_eq!(
            token_fields(&stages(&format!("{pseudo}{deid}"))),
            ["user_id", "meta.author"]
        );
        assert_eq!(
            token_fields(&stages(&format!("{project}{pseudo}"))),
            ["user_id", "meta.author"]
        );
        assert!(token_fields(&stages(&format!("{pseudo}{project}"))).is_empty());
        assert!(token_fields(&stages(deid)).is_empty());
    }

    #[test]
    fn run_ids() {
        assert!(validate_run_id("nightly-2026.11.22_a").is_ok());
        assert!(validate_run_id("../etc").is_err());
        assert!(validate_run_id("").is_err());
        let id = new_run_id();
        assert!(validate_run_id(&id).is_ok(), "{id}");
    }
}
