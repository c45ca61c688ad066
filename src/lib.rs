//! datacustoms: a customs checkpoint for training data.
//!
//! Streams Parquet and JSONL corpora through stages (normalize, project, and the
//! de-identification, dedup, pseudonymization, encryption and DP stages as they land) and
//! writes an export with the evidence a reviewer needs: `report.json`, `manifest.json`,
//! a hash-chained `audit.jsonl` and `quarantine.jsonl`.
//!
//! ```no_run
//! use datacustoms::{Pipeline, RunOptions};
//! let summary = Pipeline::from_path("pipelines/quickstart.toml".as_ref(), RunOptions::default())?
//!     .run()?;
//! println!("{} rows out", summary.rows.out);
//! # Ok::<(), datacustoms::Error>(())
//! ```

pub mod config;
pub mod crypto;
pub mod detect;
pub mod dp;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod io;
pub mod plan;
pub mod restore;
pub mod scan;
pub mod shard;
pub mod stages;
pub mod state;

pub use engine::run::RunSummary;
pub use error::{Error, Result};
pub use evidence::verify::{verify, Verified};
pub use plan::{Plan, RunOptions};

/// A pipeline ready to run: the public entry point.
pub struct Pipeline {
    plan: Plan,
}

impl Pipeline {
    /// Loads a pipeline file and resolves everything it needs (inputs, schema, stages).
    pub fn from_path(path: &std::path::Path, opts: RunOptions) -> Result<Self> {
        Ok(Pipeline {
            plan: Plan::build(path, opts)?,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Runs the pipeline and writes the export.
    pub fn run(self) -> Result<RunSummary> {
        engine::run::run(self.plan)
    }
}
