//! `project`: keep, drop or rename top-level columns. Dropping a column is the bluntest
//! and surest de-identification there is; renaming lets an export match a recipient's
//! schema. Invariant: a row stage; the output schema is fixed when the plan is built, and
//! absent-key bookkeeping follows renames and drops.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};

pub use crate::config::stages::ProjectConfig;
use crate::config::PipelineSource;
use crate::engine::batch::Batch;
use crate::engine::{Findings, RowStage};
use crate::error::{Error, Result};

pub struct Project {
    /// Input column index of each output column.
    take: Vec<usize>,
    dropped: Vec<(usize, String)>,
    renames: Vec<(String, String)>,
    schema: SchemaRef,
}

impl Project {
    pub fn build(
        cfg: &ProjectConfig,
        input: &SchemaRef,
        src: &PipelineSource,
        index: usize,
    ) -> Result<(Self, SchemaRef)> {
        let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
        let lookup = |s: &String| -> Result<usize> {
            names.iter().position(|n| n == s).ok_or_else(|| {
                Error::Config(format!(
                    "{}: project: no column `{s}` (columns: {})",
                    src.stage_at(index, s),
                    names.join(", ")
                ))
            })
        };
        let keep: Vec<bool> = match (&cfg.keep, &cfg.drop) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(format!(
                    "{}: project: give `keep` or `drop`, not both",
                    src.stage_at(index, "drop")
                )))
            }
            (Some(k), None) => {
                let idx = k.iter().map(lookup).collect::<Result<Vec<_>>>()?;
                (0..names.len()).map(|i| idx.contains(&i)).collect()
            }
            (None, Some(d)) => {
                let idx = d.iter().map(lookup).collect::<Result<Vec<_>>>()?;
                (0..names.len()).map(|i| !idx.contains(&i)).collect()
            }
            (None, None) => vec![true; names.len()],
        };
        let mut renames = Vec::new();
        for (old, new) in &cfg.rename {
            let Some(i) = names.iter().position(|n| n == old) else {
                return Err(Error::Config(format!(
                    "{}: project: cannot rename `{old}`: no such column (columns: {})",
                    src.stage_at(index, old),
                    names.join(", ")
                )));
            };
            if !keep[i] {
                return Err(Error::Config(format!(
                    "{}: project: `{old}` is both dropped and renamed",
                    src.stage_at(index, old)
                )));
            }
            renames.push((old.clone(), new.clone()));
        }
        let mut fields: Vec<Field> = Vec::new();
        let mut take = Vec::new();
        for (i, f) in input.fields().iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let name = renames
                .iter()
                .find(|(o, _)| o == f.name())
                .map_or(f.name().clone(), |(_, n)| n.clone());
            if fields.iter().any(|x| x.name() == &name) {
                return Err(Error::Config(format!(
                    "project: two output columns would be called `{name}`"
                )));
            }
            fields.push(f.as_ref().clone().with_name(name));
            take.push(i);
        }
        let dropped = (0..names.len())
            .filter(|i| !keep[*i])
            .map(|i| (i, names[i].to_string()))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
        Ok((
            Project {
                take,
                dropped,
                renames,
                schema: schema.clone(),
            },
            schema,
        ))
    }
}

impl RowStage for Project {
    fn process(&self, mut batch: Batch, findings: &mut Findings) -> Result<Batch> {
        for (i, name) in &self.dropped {
            let col = batch.data.column(*i);
            findings.add_field(
                name,
                "values_dropped",
                (col.len() - col.null_count()) as u64,
            );
            batch.absent.drop_column(name);
        }
        for (old, new) in &self.renames {
            batch.absent.rename_column(old, new);
        }
        let cols = self
            .take
            .iter()
            .map(|&i| batch.data.column(i).clone())
            .collect();
        batch.data = RecordBatch::try_new(self.schema.clone(), cols)?;
        findings.add_total("rows", batch.data.num_rows() as u64);
        Ok(batch)
    }
}
