//! One module per stage, its config struct beside its logic. `build` turns a
//! `[[stages]]` entry into what the engine runs, given the schema the stage will see,
//! and returns the schema it produces.

pub mod dedup;
pub mod dedup_paragraph;
pub mod deidentify;
pub mod encrypt;
pub mod fields;
pub(crate) mod lsh;
pub mod normalize;
pub mod project;
pub mod pseudonymize;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::crypto::RunKeys;

use crate::config::{PipelineSource, StageConfig};
use crate::engine::StageRunner;
use crate::error::Result;

/// `index` is the stage's position in the pipeline file (for error messages); `keys` is
/// the run's key bundle, present when some stage tokenizes or encrypts; `sample` is a
/// sample of the input as this stage will see it, for stages that ask for one; `inputs`
/// are the run's input files (dedup sizes its index from them).
#[allow(clippy::too_many_arguments)]
pub fn build(
    cfg: &StageConfig,
    index: usize,
    schema: &SchemaRef,
    src: &PipelineSource,
    inputs: &[crate::io::source::InputFile],
    keys: Option<&Arc<RunKeys>>,
    sample: Option<&arrow::array::RecordBatch>,
    seed: Option<&[u8; 32]>,
) -> Result<(StageRunner, SchemaRef)> {
    let type_name = cfg.type_name();
    let row = |r: Box<dyn crate::engine::RowStage>| StageRunner {
        type_name,
        row: Some(r),
        barrier: None,
    };
    let keys_of = || {
        keys.ok_or_else(|| {
            crate::error::Error::Internal("a keyed stage was built without keys".into())
        })
    };
    Ok(match cfg {
        StageConfig::Normalize(c) => (
            StageRunner {
                type_name,
                row: Some(Box::new(normalize::Normalize::build(
                    c, schema, src, index,
                )?)),
                barrier: None,
            },
            schema.clone(),
        ),
        StageConfig::Dedup(c) if c.scope == dedup::Scope::Paragraph => (
            StageRunner {
                type_name,
                row: None,
                barrier: Some(Box::new(dedup::build_paragraph(c, schema, src, index)?)),
            },
            schema.clone(),
        ),
        StageConfig::Dedup(c) => {
            let (row, barrier) = dedup::build(c, schema, src, index, inputs)?;
            (
                StageRunner {
                    type_name,
                    row: Some(Box::new(row)),
                    barrier: Some(Box::new(barrier)),
                },
                schema.clone(),
            )
        }
        StageConfig::Deidentify(c) => (
            row(Box::new(deidentify::Deidentify::build(
                c, schema, src, index, keys, sample,
            )?)),
            schema.clone(),
        ),
        StageConfig::Pseudonymize(c) => {
            let (s, out) = pseudonymize::Pseudonymize::build(c, schema, src, index, keys_of()?)?;
            (row(Box::new(s)), out)
        }
        StageConfig::DpRelease(c) => {
            let (r, b) = crate::dp::release::build(c, schema, src, index, seed)?;
            (
                StageRunner {
                    type_name,
                    row: Some(Box::new(r)),
                    barrier: Some(Box::new(b)),
                },
                schema.clone(),
            )
        }
        StageConfig::Encrypt(c) => {
            let (s, out) = encrypt::Encrypt::build(c, schema, src, index, keys_of()?)?;
            (row(Box::new(s)), out)
        }
        StageConfig::Project(c) => {
            let (p, out) = project::Project::build(c, schema, src, index)?;
            (
                StageRunner {
                    type_name,
                    row: Some(Box::new(p)),
                    barrier: None,
                },
                out,
            )
        }
    })
}
