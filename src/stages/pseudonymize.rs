//! `pseudonymize`: replaces whole column values with keyed tokens (`PHONE_v1_9f3a…`),
//! and remembers them in the vault when the pipeline has one.
//!
//! Invariants: a row stage (pure, per batch): a token depends only on the root key,
//! the scope, the type and the canonical value, so output is identical at any thread
//! count, across files and runs; nulls stay null; a non-string column becomes a string
//! column of tokens; the type of a value is the column's declared type or, for columns
//! without one, the type the recognizers find when one detection covers the whole
//! value, else the column's own name (`user_id` → `USER_ID`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use zeroize::Zeroizing;

pub use crate::config::stages::PseudonymizeConfig;
use crate::config::PipelineSource;
use crate::crypto::token::Tokenizer;
use crate::crypto::vault::VaultEntry;
use crate::crypto::RunKeys;
use crate::detect::column_type_name;
use crate::detect::{DetectConfig, Detection, Detector};
use crate::engine::batch::Batch;
use crate::engine::{Findings, RowStage};
use crate::error::{Error, Result};
use crate::stages::fields::{map_strings, resolve, StringPath};

/// How one column's values are typed.
enum Kind {
    Declared(String),
    /// Detected per value, else the column's own type name.
    Auto(String),
}

struct Target {
    path: StringPath,
    /// A top-level non-string column: its values are cast to text first.
    cast: bool,
    kind: Kind,
}

pub struct Pseudonymize {
    targets: Vec<Target>,
    tokenizer: Tokenizer,
    keys: Arc<RunKeys>,
    detector: Option<Detector>,
    schema: SchemaRef,
}

impl Pseudonymize {
    pub fn build(
        cfg: &PseudonymizeConfig,
        schema: &SchemaRef,
        src: &PipelineSource,
        index: usize,
        keys: &Arc<RunKeys>,
    ) -> Result<(Self, SchemaRef)> {
        let err = |needle: &str, msg: String| {
            Error::Config(format!(
                "{}: pseudonymize: {msg}",
                src.stage_at(index, needle)
            ))
        };
        if cfg.columns.is_empty() {
            return Err(err(
                "columns",
                "name at least one column in `columns`".into(),
            ));
        }
        for (col, t) in &cfg.types {
            if !cfg.columns.contains(col) {
                return Err(err(
                    col,
                    format!("`types` names `{col}`, which is not in `columns`"),
                ));
            }
            crate::detect::check_type_name(t).map_err(|e| err(t, e))?;
        }
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut targets = Vec::new();
        for name in &cfg.columns {
            if keys.record_id.as_deref() == Some(name.as_str()) {
                return Err(err(name, format!("`{name}` is the [keys] record_id, which ciphertext is bound to; it cannot be tokenized")));
            }
            let (path, cast) = match resolve(schema, name) {
                Ok(p) => (p, false),
                Err(e) => match schema.index_of(name) {
                    Ok(i) if castable(schema.field(i).data_type()) => (
                        StringPath {
                            name: name.clone(),
                            column: i,
                            steps: Vec::new(),
                        },
                        true,
                    ),
                    Ok(i) => {
                        return Err(err(name, format!("column `{name}` is {}; tokens replace strings, numbers, dates and booleans", schema.field(i).data_type())))
                    }
                    Err(_) => return Err(err(name, e)),
                },
            };
            if cast {
                let f = &schema.fields()[path.column];
                fields[path.column] = Field::new(f.name(), DataType::Utf8, f.is_nullable())
                    .with_metadata(f.metadata().clone());
            }
            let kind = match cfg.types.get(name) {
                Some(t) => Kind::Declared(t.clone()),
                None => Kind::Auto(column_type_name(name)),
            };
            targets.push(Target { path, cast, kind });
        }
        let own: Vec<&str> = targets
            .iter()
            .map(|t| match &t.kind {
                Kind::Declared(s) | Kind::Auto(s) => s.as_str(),
            })
            .collect();
        let tokenizer = Tokenizer::new(keys.ring.primary(), &keys.scope, own);
        let detector = targets
            .iter()
            .any(|t| matches!(t.kind, Kind::Auto(_)))
            .then(|| Detector::new(&DetectConfig::default()));
        let out = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        Ok((
            Pseudonymize {
                targets,
                tokenizer,
                keys: keys.clone(),
                detector,
                schema: out.clone(),
            },
            out,
        ))
    }
}

fn castable(dt: &DataType) -> bool {
    dt.is_primitive() || matches!(dt, DataType::Boolean)
}

/// The type of a value in an auto-typed column: the detected type when exactly one
/// detection covers the whole (trimmed) value.
fn detect_whole<'a>(
    detector: &Detector,
    value: &str,
    found: &mut Vec<Detection>,
    fallback: &'a str,
) -> std::borrow::Cow<'a, str> {
    let t = value.trim();
    detector.detect(t, found);
    match found.as_slice() {
        [d] if d.start == 0 && d.end == t.len() => std::borrow::Cow::Borrowed(d.entity.as_str()),
        _ => std::borrow::Cow::Borrowed(fallback),
    }
}

impl RowStage for Pseudonymize {
    fn process(&self, mut batch: Batch, findings: &mut Findings) -> Result<Batch> {
        let mut columns = batch.data.columns().to_vec();
        let remember = self.keys.has_vault();
        let mut vault: HashMap<String, VaultEntry> = HashMap::new();
        let mut found = Vec::new();
        for t in &self.targets {
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            let mut failure = None;
            let mut f = |s: &str| -> Option<String> {
                let kind: std::borrow::Cow<str> = match &t.kind {
                    Kind::Declared(k) => k.as_str().into(),
                    Kind::Auto(fallback) => match &self.detector {
                        Some(d) => detect_whole(d, s, &mut found, fallback),
                        None => fallback.as_str().into(),
                    },
                };
                let Some(tok) = self.tokenizer.token(&kind, s) else {
                    failure.get_or_insert_with(|| kind.to_string());
                    return None;
                };
                *counts.entry(kind.to_string()).or_default() += 1;
                if remember && !vault.contains_key(&tok.text) {
                    vault.insert(
                        tok.text.clone(),
                        VaultEntry {
                            token: tok.text.clone(),
                            entity: kind.into_owned(),
                            full_mac: tok.full_mac,
                            value: Zeroizing::new(s.to_string()),
                        },
                    );
                }
                Some(tok.text)
            };
            let source: ArrayRef = if t.cast {
                arrow::compute::cast(&columns[t.path.column], &DataType::Utf8)?
            } else {
                columns[t.path.column].clone()
            };
            let steps = &t.path.steps;
            let new = map_strings(&source, steps, &mut f)?;
            if let Some(k) = failure {
                return Err(Error::Internal(format!(
                    "pseudonymize: no token key for type {k}"
                )));
            }
            columns[t.path.column] = new.unwrap_or(source);
            let mut total = 0;
            for (k, n) in counts {
                findings.add_field(&t.path.name, &k, n);
                total += n;
            }
            findings.add_field(&t.path.name, "tokens", total);
            findings.add_total("tokens", total);
        }
        if remember {
            findings.add_total("vault_entries_sent", vault.len() as u64);
            self.keys.remember(vault.into_values().collect())?;
        }
        batch.data = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok(batch)
    }
}
