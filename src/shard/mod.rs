//! The shard protocol's building blocks (`../shared/SCALEOUT.md`, issue 15): the work
//! directory a sharded run keeps at home, and the task folders its steps (`map`,
//! `reduce`, `apply`) commit into. The steps themselves come next; this module holds
//! what every one of them needs first: an attempt that commits atomically, once.

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
