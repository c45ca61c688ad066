//! The shard protocol (`../shared/SCALEOUT.md`, issue 15): the work directory a sharded
//! run keeps at home, the task folders its steps commit into (`task`), how the input is
//! cut (`inputs`), the frozen plan (`plan_file`) and the steps themselves with the local
//! executor (`exec`: `plan`, `map`, `reduce`, `apply`, `finalize`, `status`, `run
//! --workers`).

pub mod exec;
pub mod inputs;
pub mod plan_file;
pub mod task;

use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` (and its parents) readable by its owner only: a work directory and
/// its attempts hold records that have not been cleaned yet.
fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| Error::io("creating", dir, e))
}
