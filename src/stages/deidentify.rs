//! `deidentify`: finds PII in text fields with the recognizers of `crate::detect` and
//! replaces each detection according to its action (`tag`, `indexed`, `redact`, `mask`).
//!
//! Keyed actions: `token` replaces a detection with its keyed token (the same token
//! `pseudonymize` gives the same value of the same type, and remembered in the vault
//! when there is one); `encrypt` replaces it with `<dc1.kid.body>`, an AES-256-GCM cell
//! bound to the field, which `decrypt` restores.
//!
//! Invariants: a row stage (pure, per batch); replacements are applied left to right on
//! non-overlapping detections, so neighbouring text is never touched; findings hold
//! counts per field and type and masked examples only, never a raw value.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::config::stages::default_min_score;
pub use crate::config::stages::{Action, ColumnRule, DeidentifyConfig, MinScore, RecognizerConfig};
use crate::config::PipelineSource;
use crate::crypto::cell::CellEncryptor;
use crate::crypto::token::Tokenizer;
use crate::crypto::vault::VaultEntry;
use crate::crypto::RunKeys;
use crate::detect::check_type_name;
use crate::detect::{CustomRecognizer, DetectConfig, Detection, Detector, EntityType};
use crate::engine::batch::Batch;
use crate::engine::{Findings, RowStage};
use crate::error::{Error, Result};
use crate::stages::fields::{map_strings_rows, resolve, resolve_fields, StringPath};

impl MinScore {
    /// The default threshold and the per-type ones, checked (0..=1, known type names).
    pub fn resolve(&self) -> std::result::Result<(f32, Vec<(EntityType, f32)>), String> {
        let check = |name: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(format!("min_score {name} = {v}: must be between 0 and 1"))
            }
        };
        match self {
            MinScore::All(v) => Ok((check("", *v)?, Vec::new())),
            MinScore::PerType(m) => {
                let mut base = default_min_score();
                let mut per = Vec::new();
                for (k, v) in m {
                    if k == "default" {
                        base = check(k, *v)?;
                    } else {
                        let e = EntityType::parse(k).ok_or_else(|| unknown_entity(k))?;
                        per.push((e, check(k, *v)?));
                    }
                }
                Ok((base, per))
            }
        }
    }
}

impl schemars::JsonSchema for ColumnRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ColumnRule".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "auto (the action of the column's dominant entity type) or an action",
            "type": "string",
            "enum": ["auto", "tag", "indexed", "redact", "mask", "token", "encrypt"]
        })
    }
}

impl<'de> Deserialize<'de> for ColumnRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        let s = String::deserialize(d)?;
        if s == "auto" {
            return Ok(ColumnRule::Auto);
        }
        Action::deserialize(s.clone().into_deserializer())
            .map(ColumnRule::Action)
            .map_err(|_: serde::de::value::Error| {
                serde::de::Error::custom(format!(
                    "unknown column rule `{s}`: use auto, tag, indexed, redact, mask, token or encrypt"
                ))
            })
    }
}

impl ColumnRule {
    pub fn action(self) -> Option<Action> {
        match self {
            ColumnRule::Action(a) => Some(a),
            ColumnRule::Auto => None,
        }
    }
}

impl DeidentifyConfig {
    /// Whether building the stage reads a sample of the input (structured columns whose
    /// type is not declared).
    pub fn needs_sample(&self) -> bool {
        self.columns.keys().any(|c| !self.types.contains_key(c))
    }

    /// Every action the stage may apply.
    pub fn all_actions(&self) -> impl Iterator<Item = Action> + '_ {
        std::iter::once(self.action)
            .chain(self.actions.values().copied())
            .chain(self.columns.values().filter_map(|r| r.action()))
    }
}

/// A structured column and what its values become.
struct Structured {
    path: StringPath,
    action: Action,
    kind: &'static str,
    entity: Option<EntityType>,
}

/// Values sampled to type a structured column.
pub const SAMPLE_VALUES: usize = 1000;

/// The dominant type of a column: the type one detection covering the whole (trimmed)
/// value has, in at least half of the sampled values. Returns (type, share).
fn dominant_type(detector: &Detector, values: &[String]) -> Option<(EntityType, f64)> {
    let mut found = Vec::new();
    let mut counts: BTreeMap<EntityType, usize> = BTreeMap::new();
    for v in values {
        let t = v.trim();
        detector.detect(t, &mut found);
        if let [d] = found.as_slice() {
            if d.start == 0 && d.end == t.len() {
                *counts.entry(d.entity).or_default() += 1;
            }
        }
    }
    let (e, n) = counts.into_iter().max_by_key(|(_, n)| *n)?;
    let share = n as f64 / values.len() as f64;
    (share >= 0.5).then_some((e, share))
}

/// The type a pipeline names: a built-in one, or its own (interned for the run).
fn entity_named(name: &str) -> std::result::Result<EntityType, String> {
    if let Some(e) = EntityType::parse(name) {
        return Ok(e);
    }
    check_type_name(name)?;
    // Leaked once per pipeline type name: a handful of bytes for the life of the process,
    // so a type stays a `Copy` value like the built-in ones.
    Ok(EntityType::Custom(Box::leak(
        name.to_string().into_boxed_str(),
    )))
}

/// The detector settings a `deidentify` stage asks for.
pub fn detect_config(cfg: &DeidentifyConfig) -> std::result::Result<DetectConfig, String> {
    let entities = match &cfg.entities {
        None => EntityType::ALL.to_vec(),
        Some(names) => parse_entities(names)?,
    };
    let custom = cfg
        .recognizers
        .iter()
        .map(|r| {
            if !(0.0..=1.0).contains(&r.score) {
                return Err(format!(
                    "recognizer {}: score must be between 0 and 1",
                    r.entity
                ));
            }
            Ok(CustomRecognizer {
                entity: entity_named(&r.entity)?,
                pattern: r.pattern.clone(),
                validator: r.validator,
                context: r.context.clone(),
                score: r.score,
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let deny = cfg
        .deny
        .iter()
        .map(|(name, terms)| Ok((entity_named(name)?, terms.clone())))
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let (min_score, min_scores) = cfg.min_score.resolve()?;
    Ok(DetectConfig {
        entities,
        min_score,
        custom,
        deny,
        min_scores,
        allow: cfg.allow.clone(),
    })
}

/// What the residual re-scan looks for: the built-in types and every type a
/// de-identification stage of the pipeline defined (its recognizers and deny-lists).
pub fn residual_detect_config(file: &crate::config::PipelineFile) -> crate::detect::DetectConfig {
    let mut detect = crate::detect::DetectConfig::default();
    for s in &file.stages {
        if let crate::config::StageConfig::Deidentify(c) = s {
            if let Ok(d) = detect_config(c) {
                detect.custom.extend(d.custom);
                detect.deny.extend(d.deny);
                // Values the pipeline allows are not residual PII either.
                detect.allow.extend(d.allow);
                detect.min_scores.extend(d.min_scores);
            }
        }
    }
    detect
}

/// Per-batch state of the keyed actions.
struct Keyed<'p> {
    vault: HashMap<String, VaultEntry>,
    enc: Option<CellEncryptor<'p>>,
    aad: Vec<u8>,
    error: Option<Error>,
    /// The current row's record id (`[keys] record_id`), bound into encrypted spans.
    record: Option<String>,
}

pub struct Deidentify {
    paths: Vec<StringPath>,
    detector: Arc<Detector>,
    default_action: Action,
    actions: BTreeMap<EntityType, Action>,
    keys: Option<Arc<RunKeys>>,
    tokenizer: Option<Tokenizer>,
    /// Column of `[keys] record_id`, when spans are encrypted and one is configured.
    record_col: Option<usize>,
    structured: Vec<Structured>,
    /// Whether any action is `indexed` (then numbers are kept per record).
    indexes: bool,
    /// How each structured column was typed, for the report.
    columns_info: serde_json::Value,
    /// The stage looks for exactly what the residual re-scan looks for (it is the
    /// pipeline's only `deidentify` stage, with the default types and threshold), so a
    /// value it found nothing in is vouched clean (`Batch::clean`) and not scanned again.
    vouches: bool,
}

/// Masks a value the way Chinese services display personal data: a phone keeps its
/// first 3 and last 4 digits (`138****5678`), an ID card its first 6 and last 4, a bank
/// card its last 4, a name its surname (`张*`, `J*** S****`), an e-mail its domain and
/// the first character (`z***@example.com`); anything else keeps at most the last
/// quarter of its characters.
pub fn mask(value: &str, entity: EntityType) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let keep = |first: usize, last: usize| -> String {
        if first + last >= n {
            return "*".repeat(n);
        }
        chars
            .iter()
            .enumerate()
            .map(|(i, c)| if i < first || i + last >= n { *c } else { '*' })
            .collect()
    };
    match entity {
        EntityType::Email => match value.split_once(['@', '＠']) {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => keep(0, n / 4),
        },
        EntityType::Phone if n >= 11 => keep(3, 4),
        EntityType::CnIdCard => keep(6, 4),
        EntityType::BankCard => keep(0, 4),
        EntityType::Person if value.is_ascii() => value
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| format!("{f}{}", "*".repeat(c.count())))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
        EntityType::Person => keep(1, 0),
        _ => keep(0, (n / 4).min(4)),
    }
}

/// Parses entity type names from a pipeline file; the error lists the known names.
pub fn parse_entities(names: &[String]) -> std::result::Result<Vec<EntityType>, String> {
    names
        .iter()
        .map(|n| EntityType::parse(n).ok_or_else(|| unknown_entity(n)))
        .collect()
}

fn unknown_entity(n: &str) -> String {
    let known: Vec<&str> = EntityType::ALL.iter().map(|e| e.as_str()).collect();
    format!("unknown entity type `{n}` (known: {})", known.join(", "))
}

/// How a structured column is typed: its entity (or its own type) and how it was
/// decided, or, for an `auto` column no type dominates, scanned as text.
enum ColumnTyping {
    Typed(&'static str, Option<EntityType>, serde_json::Value),
    Text(serde_json::Value),
}

/// Types the structured column `name`: by its declaration in `types`, else by the type
/// that dominates a sample of its values, else (unless `auto`) by its own name.
fn type_column(
    cfg: &DeidentifyConfig,
    name: &str,
    rule: &ColumnRule,
    path: &StringPath,
    detector: &Detector,
    sample: Option<&arrow::array::RecordBatch>,
    err: &impl Fn(&str, String) -> Error,
) -> Result<ColumnTyping> {
    if let Some(t) = cfg.types.get(name) {
        check_type_name(t).map_err(|e| err(t, e))?;
        let e = entity_named(t).map_err(|e| err(t, e))?;
        return Ok(ColumnTyping::Typed(
            e.as_str(),
            Some(e),
            serde_json::json!({ "type": t, "typed_by": "declared" }),
        ));
    }
    let mut values = Vec::new();
    if let Some(b) = sample {
        crate::stages::fields::for_each_string(b.column(path.column), &path.steps, &mut |_, v| {
            if values.len() < SAMPLE_VALUES {
                values.push(v.to_string());
            }
        });
    }
    Ok(match dominant_type(detector, &values) {
        Some((e, share)) => ColumnTyping::Typed(
            e.as_str(),
            Some(e),
            serde_json::json!({ "type": e.as_str(), "typed_by": "sample", "sampled": values.len(), "share": (share * 1000.0).round() / 1000.0 }),
        ),
        None if *rule == ColumnRule::Auto => ColumnTyping::Text(
            serde_json::json!({ "type": null, "typed_by": "sample", "sampled": values.len(), "treated_as": "text" }),
        ),
        None => {
            let own: &'static str =
                Box::leak(crate::detect::column_type_name(name).into_boxed_str());
            ColumnTyping::Typed(
                own,
                None,
                serde_json::json!({ "type": own, "typed_by": "column name", "sampled": values.len() }),
            )
        }
    })
}

impl Deidentify {
    pub fn build(
        cfg: &DeidentifyConfig,
        schema: &SchemaRef,
        src: &PipelineSource,
        index: usize,
        keys: Option<&Arc<RunKeys>>,
        sample: Option<&arrow::array::RecordBatch>,
    ) -> Result<Self> {
        let err = |needle: &str, msg: String| {
            Error::Config(format!(
                "{}: deidentify: {msg}",
                src.stage_at(index, needle)
            ))
        };
        for c in cfg.columns.keys() {
            if cfg.fields.as_ref().is_some_and(|f| f.contains(c)) {
                return Err(err(c, format!("`{c}` is both in `fields` (scanned as text) and in `columns` (one value); choose one")));
            }
        }
        for c in cfg.types.keys() {
            if !cfg.columns.contains_key(c) {
                return Err(err(
                    c,
                    format!("`types` names `{c}`, which is not in `columns`"),
                ));
            }
        }
        let mut paths = resolve_fields(schema, cfg.fields.as_deref(), err)?;
        cfg.min_score.resolve().map_err(|e| err("min_score", e))?;
        let dc = detect_config(cfg).map_err(|e| err("entit", e))?;
        let own: Vec<EntityType> = dc
            .custom
            .iter()
            .map(|c| c.entity)
            .chain(dc.deny.iter().map(|d| d.0))
            .collect();
        let mut actions = BTreeMap::new();
        for (name, a) in &cfg.actions {
            let e = EntityType::parse(name)
                .or_else(|| own.iter().copied().find(|o| o.as_str() == name))
                .ok_or_else(|| err(name, unknown_entity(name)))?;
            actions.insert(e, *a);
        }
        let detector = Detector::try_new(&dc).map_err(|e| err("pattern", e))?;
        let deidentify_stages = src
            .file
            .stages
            .iter()
            .filter(|s| matches!(s, crate::config::StageConfig::Deidentify(_)))
            .count();
        let vouches = deidentify_stages == 1 && residual_detect_config(&src.file) == dc;
        let action_of = |e: EntityType| actions.get(&e).copied().unwrap_or(cfg.action);

        // Structured columns: typed by declaration, else by a sample of the input.
        let mut structured = Vec::new();
        let mut info = serde_json::Map::new();
        for (name, rule) in &cfg.columns {
            let path = resolve(schema, name).map_err(|e| {
                err(name, format!("{e}; structured columns must be text (use pseudonymize or encrypt for other types)"))
            })?;
            let (kind, entity, how) =
                match type_column(cfg, name, rule, &path, &detector, sample, &err)? {
                    ColumnTyping::Typed(kind, entity, how) => (kind, entity, how),
                    ColumnTyping::Text(how) => {
                        info.insert(name.clone(), how);
                        if !paths.iter().any(|p| &p.name == name) {
                            paths.push(path);
                        }
                        continue;
                    }
                };
            let action = match rule.action() {
                Some(a) => a,
                None => entity.map(action_of).unwrap_or(cfg.action),
            };
            let mut how = how;
            how["action"] = serde_json::to_value(action).unwrap_or_default();
            info.insert(name.clone(), how);
            paths.retain(|p| p.name != path.name);
            structured.push(Structured {
                path,
                action,
                kind,
                entity,
            });
        }

        let uses = |a: Action| {
            std::iter::once(cfg.action)
                .chain(cfg.actions.values().copied())
                .chain(structured.iter().map(|s| s.action))
                .any(|x| x == a)
        };
        let keys = keys.filter(|_| uses(Action::Token) || uses(Action::Encrypt));
        let tokenizer = keys.filter(|_| uses(Action::Token)).map(|k| {
            Tokenizer::new(
                k.ring.primary(),
                &k.scope,
                own.iter()
                    .map(|e| e.as_str())
                    .chain(structured.iter().map(|s| s.kind)),
            )
        });
        if let Some(k) = keys.filter(|_| uses(Action::Encrypt)) {
            let mut tf = k.text_fields.lock().expect("fields lock");
            for name in paths
                .iter()
                .map(|p| &p.name)
                .chain(structured.iter().map(|s| &s.path.name))
            {
                if !tf.contains(name) {
                    tf.push(name.clone());
                }
            }
        }
        let record_col = match keys.filter(|_| uses(Action::Encrypt)).and_then(|k| k.record_id.clone()) {
            Some(r) => Some(schema.index_of(&r).map_err(|_| {
                err("encrypt", format!("[keys] record_id `{r}` is not a column here, so encrypted spans cannot be bound to their record"))
            })?),
            None => None,
        };
        Ok(Deidentify {
            paths,
            detector: Arc::new(detector),
            default_action: cfg.action,
            actions,
            keys: keys.cloned(),
            tokenizer,
            record_col,
            indexes: uses(Action::Indexed),
            structured,
            columns_info: serde_json::Value::Object(info),
            vouches,
        })
    }

    fn action(&self, e: EntityType) -> Action {
        self.actions.get(&e).copied().unwrap_or(self.default_action)
    }

    /// Appends what `value` (of type `kind`) becomes under action `a`. `numbering` holds
    /// the record's `indexed` numbers so far.
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        a: Action,
        kind: &'static str,
        entity: Option<EntityType>,
        value: &str,
        field: &str,
        numbering: &mut Vec<(&'static str, String)>,
        keyed: &mut Keyed<'_>,
        out: &mut String,
    ) {
        match a {
            Action::Tag => {
                out.push('<');
                out.push_str(kind);
                out.push('>');
            }
            Action::Indexed => {
                let same = numbering
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .position(|(_, v)| v == value);
                let n = match same {
                    Some(i) => i + 1,
                    None => {
                        numbering.push((kind, value.to_string()));
                        numbering.iter().filter(|(k, _)| *k == kind).count()
                    }
                };
                out.push('<');
                out.push_str(kind);
                out.push('_');
                out.push_str(itoa::Buffer::new().format(n));
                out.push('>');
            }
            Action::Redact => {}
            Action::Mask => out.push_str(&mask(value, entity.unwrap_or(EntityType::Custom(kind)))),
            Action::Token => match self.tokenizer.as_ref().and_then(|t| t.token(kind, value)) {
                Some(tok) => {
                    if self.keys.as_ref().is_some_and(|k| k.has_vault())
                        && !keyed.vault.contains_key(&tok.text)
                    {
                        keyed.vault.insert(
                            tok.text.clone(),
                            VaultEntry {
                                token: tok.text.clone(),
                                entity: kind.to_string(),
                                full_mac: tok.full_mac,
                                value: Zeroizing::new(value.to_string()),
                            },
                        );
                    }
                    out.push_str(&tok.text);
                }
                None => {
                    keyed.error.get_or_insert(Error::Internal(format!(
                        "deidentify: no token key for {kind}"
                    )));
                }
            },
            Action::Encrypt => {
                // On any failure the value is dropped and the batch fails: never leave
                // the plaintext in place.
                if let (Some(k), Some(enc)) = (self.keys.as_ref(), keyed.enc.as_mut()) {
                    out.push('<');
                    if let Err(e) = enc.encrypt(
                        value.as_bytes(),
                        &k.export_id,
                        field,
                        keyed.record.as_deref(),
                        &mut keyed.aad,
                        out,
                    ) {
                        keyed.error.get_or_insert(e);
                    }
                    out.push('>');
                } else {
                    keyed.error.get_or_insert(Error::Internal(
                        "deidentify: encrypt without a data key pool".into(),
                    ));
                }
            }
        }
    }

    /// The value with every detection replaced, or None when there is none.
    #[allow(clippy::too_many_arguments)]
    fn replace(
        &self,
        text: &str,
        field: &str,
        found: &mut Vec<Detection>,
        counts: &mut BTreeMap<&'static str, u64>,
        examples: &mut BTreeMap<&'static str, Vec<String>>,
        keyed: &mut Keyed<'_>,
        numbering: &mut Vec<(&'static str, String)>,
    ) -> Option<String> {
        self.detector.detect(text, found);
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for d in found.iter() {
            let value = &text[d.start..d.end];
            let kind = d.entity.as_str();
            *counts.entry(kind).or_default() += 1;
            let ex = examples.entry(kind).or_default();
            if ex.len() < 3 {
                ex.push(mask(value, d.entity));
            }
            out.push_str(&text[last..d.start]);
            self.render(
                self.action(d.entity),
                kind,
                Some(d.entity),
                value,
                field,
                numbering,
                keyed,
                &mut out,
            );
            last = d.end;
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

impl RowStage for Deidentify {
    fn process(&self, mut batch: Batch, findings: &mut Findings) -> Result<Batch> {
        let mut columns = batch.data.columns().to_vec();
        let mut found = Vec::new();
        let mut examples = BTreeMap::new();
        let mut keyed = Keyed {
            vault: HashMap::new(),
            enc: self
                .keys
                .as_ref()
                .and_then(|k| k.dek_pool.as_ref())
                .map(CellEncryptor::lazy),
            aad: Vec::new(),
            error: None,
            record: None,
        };
        let ids = crate::stages::encrypt::record_ids(&batch.data, self.record_col)?;
        let ids = ids.as_ref().map(arrow::array::AsArray::as_string::<i32>);
        let record_of = |row: usize| {
            ids.and_then(|a| {
                (!arrow::array::Array::is_null(a, row)).then(|| a.value(row).to_string())
            })
        };
        // `indexed` numbers are per record, across all of the stage's fields.
        let mut numbering: HashMap<usize, Vec<(&'static str, String)>> = HashMap::new();
        let mut scratch = Vec::new();
        let mut clean = rustc_hash::FxHashSet::default();
        for path in &self.paths {
            let mut counts = BTreeMap::new();
            let mut changed = 0u64;
            let mut f = |row: usize, s: &str| {
                if ids.is_some() {
                    keyed.record = record_of(row);
                }
                let n = if self.indexes {
                    numbering.entry(row).or_default()
                } else {
                    &mut scratch
                };
                let r = self.replace(
                    s,
                    &path.name,
                    &mut found,
                    &mut counts,
                    &mut examples,
                    &mut keyed,
                    n,
                );
                changed += r.is_some() as u64;
                if r.is_none() && self.vouches {
                    clean.insert(xxhash_rust::xxh3::xxh3_128(s.as_bytes()));
                }
                r
            };
            if let Some(new) = map_strings_rows(&columns[path.column], &path.steps, &mut f)? {
                columns[path.column] = new;
            }
            for (e, n) in counts {
                findings.add_field(&path.name, e, n);
                findings.add_total(e, n);
            }
            findings.add_field(&path.name, "values_changed", changed);
        }
        for c in &self.structured {
            let mut n_values = 0u64;
            let mut f = |row: usize, s: &str| {
                n_values += 1;
                if ids.is_some() {
                    keyed.record = record_of(row);
                }
                let ex = examples.entry(c.kind).or_default();
                if ex.len() < 3 {
                    ex.push(mask(s, c.entity.unwrap_or(EntityType::Custom(c.kind))));
                }
                let n = if self.indexes {
                    numbering.entry(row).or_default()
                } else {
                    &mut scratch
                };
                let mut out = String::new();
                self.render(
                    c.action,
                    c.kind,
                    c.entity,
                    s,
                    &c.path.name,
                    n,
                    &mut keyed,
                    &mut out,
                );
                Some(out)
            };
            if let Some(new) = map_strings_rows(&columns[c.path.column], &c.path.steps, &mut f)? {
                columns[c.path.column] = new;
            }
            findings.add_field(&c.path.name, c.kind, n_values);
            findings.add_total(c.kind, n_values);
            findings.add_field(&c.path.name, "values_changed", n_values);
        }
        for (e, ex) in examples {
            findings.set_info(&format!("examples_masked.{e}"), ex);
        }
        if !self.structured.is_empty()
            || self.columns_info.as_object().is_some_and(|o| !o.is_empty())
        {
            findings.set_info("columns", &self.columns_info);
        }
        if let Some(e) = keyed.error {
            return Err(e);
        }
        if let Some(k) = &self.keys {
            if !keyed.vault.is_empty() {
                findings.add_total("vault_entries_sent", keyed.vault.len() as u64);
                k.remember(keyed.vault.into_values().collect())?;
            }
        }
        batch.data = arrow::array::RecordBatch::try_new(batch.data.schema(), columns)?;
        batch.clean.extend(clean);
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_display_conventions() {
        assert_eq!(mask("13812345678", EntityType::Phone), "138****5678");
        assert_eq!(
            mask("11010519491231002X", EntityType::CnIdCard),
            "110105********002X"
        );
        assert_eq!(
            mask("6222021234567890", EntityType::BankCard),
            "************7890"
        );
        assert_eq!(mask("张三丰", EntityType::Person), "张**");
        assert_eq!(mask("John Smith", EntityType::Person), "J*** S****");
        assert_eq!(mask("E12345678", EntityType::Passport), "*******78");
        assert_eq!(
            mask("zhang.san@example.com", EntityType::Email),
            "z***@example.com"
        );
        assert_eq!(mask("abc", EntityType::Passport), "***");
    }

    fn stage(action: Action) -> Deidentify {
        Deidentify {
            paths: Vec::new(),
            detector: Arc::new(Detector::new(&DetectConfig::default())),
            default_action: action,
            actions: BTreeMap::new(),
            keys: None,
            tokenizer: None,
            structured: Vec::new(),
            record_col: None,
            indexes: true,
            columns_info: serde_json::Value::Null,
            vouches: false,
        }
    }

    fn apply(action: Action, text: &str) -> String {
        let s = stage(action);
        let (mut f, mut c, mut e) = (Vec::new(), BTreeMap::new(), BTreeMap::new());
        let mut k = Keyed {
            vault: HashMap::new(),
            enc: None,
            aad: Vec::new(),
            error: None,
            record: None,
        };
        s.replace(
            text,
            "text",
            &mut f,
            &mut c,
            &mut e,
            &mut k,
            &mut Vec::new(),
        )
        .unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn replacements_keep_neighbouring_text() {
        let text = "联系电话13812345678，邮箱zhang@example.com。登录IP为117.128.79.146。";
        assert_eq!(
            apply(Action::Tag, text),
            "联系电话<PHONE>，邮箱<EMAIL>。登录IP为<IP_ADDRESS>。"
        );
        assert_eq!(apply(Action::Redact, text), "联系电话，邮箱。登录IP为。");
        let twice = "打13812345678或13912345678，再打13812345678";
        assert_eq!(
            apply(Action::Indexed, twice),
            "打<PHONE_1>或<PHONE_2>，再打<PHONE_1>"
        );
        assert_eq!(apply(Action::Tag, "没有个人信息"), "没有个人信息");
        // Disguised values (full-width digits, invisible characters) are found without
        // a normalize stage, and replaced whole.
        assert_eq!(
            apply(
                Action::Tag,
                "电话１３８１２３４５６７８，证件1101\u{200B}0519491231002X。"
            ),
            "电话<PHONE>，证件<CN_ID_CARD>。"
        );
        assert_eq!(
            apply(Action::Mask, "邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
            "邮箱ｚ***@ｅｘａｍｐｌｅ．ｃｏｍ"
        );
    }
}
