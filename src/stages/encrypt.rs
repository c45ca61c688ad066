//! `encrypt`: replaces the cells of whole columns with AES-256-GCM ciphertext
//! (`dc1.<kid>.<base64url>`, see `crypto::cell`), recording each column's original type
//! in the manifest so `decrypt` can restore it.
//!
//! Invariants: a row stage; each batch reserves exactly as many cell numbers as it has
//! non-null cells to encrypt, so nonces never repeat under a DEK whatever the thread
//! count; nulls stay null; an encrypted column becomes a string column.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

pub use crate::config::stages::EncryptConfig;
use crate::config::PipelineSource;
use crate::crypto::cell::CellEncryptor;
use crate::crypto::plain::{supported, CellBytes};
use crate::crypto::run::EncryptedColumn;
use crate::crypto::RunKeys;
use crate::engine::batch::Batch;
use crate::engine::{Findings, RowStage};
use crate::error::{Error, Result};

pub struct Encrypt {
    columns: Vec<(usize, String)>,
    record_id: Option<usize>,
    keys: Arc<RunKeys>,
    schema: SchemaRef,
}

/// The record ids of a batch as text (the form bound into the AAD), if configured.
pub fn record_ids(batch: &RecordBatch, column: Option<usize>) -> Result<Option<ArrayRef>> {
    column
        .map(|c| crate::io::schema::key_text(batch.column(c)))
        .transpose()
}

impl Encrypt {
    pub fn build(
        cfg: &EncryptConfig,
        schema: &SchemaRef,
        src: &PipelineSource,
        index: usize,
        keys: &Arc<RunKeys>,
    ) -> Result<(Self, SchemaRef)> {
        let err = |needle: &str, msg: String| {
            Error::Config(format!("{}: encrypt: {msg}", src.stage_at(index, needle)))
        };
        if cfg.columns.is_empty() {
            return Err(err(
                "columns",
                "name at least one column in `columns`".into(),
            ));
        }
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns = Vec::new();
        let mut recorded = keys.columns.lock().expect("columns lock");
        for name in &cfg.columns {
            let i = schema.index_of(name).map_err(|_| {
                let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                err(
                    name,
                    format!(
                        "no top-level column `{name}` (columns: {})",
                        known.join(", ")
                    ),
                )
            })?;
            let f = schema.field(i);
            if !supported(f.data_type()) {
                return Err(err(name, format!("column `{name}` is {}; encrypt takes strings, binary, booleans, numbers, dates and timestamps", f.data_type())));
            }
            if keys.record_id.as_deref() == Some(name.as_str()) {
                return Err(err(name, format!("`{name}` is the [keys] record_id that ciphertext is bound to; it cannot itself be encrypted")));
            }
            if recorded.iter().any(|c| &c.path == name) {
                return Err(err(
                    name,
                    format!("column `{name}` is already encrypted by an earlier stage"),
                ));
            }
            recorded.push(EncryptedColumn {
                path: name.clone(),
                data_type: f.data_type().clone(),
            });
            fields[i] = Field::new(f.name(), DataType::Utf8, f.is_nullable())
                .with_metadata(f.metadata().clone());
            columns.push((i, name.clone()));
        }
        let record_id = match &keys.record_id {
            None => None,
            Some(r) => Some(schema.index_of(r).map_err(|_| {
                err(
                    "columns",
                    format!("[keys] record_id names `{r}`, which is not a column here"),
                )
            })?),
        };
        let out = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        Ok((
            Encrypt {
                columns,
                record_id,
                keys: keys.clone(),
                schema: out.clone(),
            },
            out,
        ))
    }
}

impl RowStage for Encrypt {
    fn process(&self, mut batch: Batch, findings: &mut Findings) -> Result<Batch> {
        let pool = self
            .keys
            .dek_pool
            .as_ref()
            .expect("a pipeline that encrypts has a DEK pool");
        let cells: usize = self
            .columns
            .iter()
            .map(|(i, _)| {
                let c = batch.data.column(*i);
                c.len() - c.null_count()
            })
            .sum();
        let mut enc = CellEncryptor::new(pool.reserve(cells as u64)?);
        let ids = record_ids(&batch.data, self.record_id)?;
        let ids = ids.as_ref().map(|a| a.as_string::<i32>());
        let mut columns = batch.data.columns().to_vec();
        let (mut aad, mut plain, mut text) = (Vec::new(), Vec::new(), String::new());
        for (i, name) in &self.columns {
            let a = batch.data.column(*i);
            let reader = CellBytes::new(a.as_ref());
            let mut b = StringBuilder::with_capacity(a.len(), a.len() * 48);
            let mut n = 0u64;
            for row in 0..a.len() {
                if a.is_null(row) {
                    b.append_null();
                    continue;
                }
                plain.clear();
                reader.write(row, &mut plain);
                text.clear();
                let rid = ids.and_then(|ids| (!ids.is_null(row)).then(|| ids.value(row)));
                enc.encrypt(&plain, &self.keys.export_id, name, rid, &mut aad, &mut text)?;
                b.append_value(&text);
                n += 1;
            }
            columns[*i] = Arc::new(b.finish());
            findings.add_field(name, "cells_encrypted", n);
            findings.add_total("cells_encrypted", n);
        }
        batch.data = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok(batch)
    }
}
