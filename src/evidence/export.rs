//! The export folder's life cycle: everything is written into a staging folder beside the
//! target and renamed into place only when the run is complete.
//!
//! Invariants: a failed, refused or killed run never leaves a folder at the target path
//! that was not complete; `--overwrite` replaces the whole folder (no stale part survives);
//! leftovers of a crashed run (staging or old folders) are removed by the next run, under
//! the output's lock (`.NAME.lock`, an empty file kept beside it), so a live run's staging
//! folder is never swept: a second run on the same output fails with exit 75. An
//! interrupted run (SIGINT, SIGTERM) removes its staging folder before it exits
//! (`abort_live`); only kill -9 leaves one, for the next run to sweep.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Staging folders of the exports being written in this process. Commits and
/// `abort_live` take this lock, so an interrupted commit either finished or never began.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes the staging folder of every export this process is writing, and keeps them
/// from committing: for a signal handler that exits right after. Returns the folders
/// removed.
pub fn abort_live() -> Vec<PathBuf> {
    let mut guard = live();
    let folders = std::mem::take(&mut *guard);
    for f in &folders {
        // Writer threads may still create a part file: try again briefly.
        for _ in 0..5 {
            if std::fs::remove_dir_all(f).is_ok() || !f.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // Hold the lock until the process exits: no commit can start.
    std::mem::forget(guard);
    folders
}

use crate::error::{Error, Result};

pub struct ExportDir {
    pub target: PathBuf,
    pub staging: PathBuf,
    old: PathBuf,
    committed: bool,
    /// `.NAME.lock` beside the target, locked for the run's life: a second run on the
    /// same output is refused instead of sweeping this run's staging folder.
    _lock: std::fs::File,
}

/// Takes the output's lock file, waiting up to `wait` for another run to release it, or
/// says which output is busy.
fn lock(target: &Path, wait: Option<std::time::Duration>) -> Result<std::fs::File> {
    let path = sibling_name(target, "lock")?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("cannot create", &path, e))?;
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match f.try_lock() {
            Ok(()) => {
                tracing::debug!(lock = %path.display(), waited_ms = started.elapsed().as_millis() as u64, "output lock taken");
                return Ok(f);
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(w) = wait.filter(|w| started.elapsed() < *w) {
                    if !told {
                        tracing::info!(
                            "output {} is in use by another run: waiting for it (up to {} s)",
                            target.display(),
                            w.as_secs()
                        );
                        told = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    continue;
                }
                return Err(Error::Busy(format!(
                    "output {} is in use by another run (it holds {}){}; wait for that run to finish (--wait SECONDS), or choose another --output",
                    target.display(),
                    path.display(),
                    wait.map(|w| format!(", still after {} s", w.as_secs())).unwrap_or_default()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
        }
    }
}

fn sibling_name(target: &Path, tag: &str) -> Result<PathBuf> {
    let name = target.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::Usage(format!(
            "output path {} has no folder name",
            target.display()
        ))
    })?;
    Ok(target.with_file_name(format!(".{name}.{tag}")))
}

fn sibling(target: &Path, tag: &str, run_id: &str) -> Result<PathBuf> {
    sibling_name(target, &format!("{tag}-{run_id}"))
}

impl ExportDir {
    /// Checks the target and creates a fresh staging folder.
    pub fn prepare(target: &Path, overwrite: bool, run_id: &str) -> Result<Self> {
        Self::prepare_waiting(target, overwrite, run_id, None)
    }

    /// `prepare`, waiting up to `wait` for another run that holds the output's lock. The
    /// target is checked under the lock: a run that waited sees what the other wrote.
    pub fn prepare_waiting(
        target: &Path,
        overwrite: bool,
        run_id: &str,
        wait: Option<std::time::Duration>,
    ) -> Result<Self> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        let lock = lock(target, wait)?;
        if target.exists() && !overwrite {
            return Err(Error::OutputExists(format!(
                "output {} already exists: pass --overwrite (or set [output] overwrite = true) to replace it, or choose another --output",
                target.display()
            )));
        }
        if target.exists() && !target.is_dir() {
            return Err(Error::OutputExists(format!(
                "output {} exists and is not a folder",
                target.display()
            )));
        }
        // Leftovers are swept only under the lock: no live run holds them.
        remove_leftovers(target, parent)?;
        let staging = sibling(target, "staging", run_id)?;
        std::fs::create_dir_all(&staging).map_err(|e| Error::io("cannot create", &staging, e))?;
        tracing::debug!(staging = %staging.display(), "staging folder created");
        live().push(staging.clone());
        Ok(ExportDir {
            target: target.to_path_buf(),
            old: sibling(target, "old", run_id)?,
            staging,
            committed: false,
            _lock: lock,
        })
    }

    /// Moves the complete staging folder to the target, replacing what was there.
    pub fn commit(mut self) -> Result<()> {
        let mut live = live();
        if !live.contains(&self.staging) {
            return Err(Error::Internal("the export was interrupted".into()));
        }
        if self.target.exists() {
            std::fs::rename(&self.target, &self.old)
                .map_err(|e| Error::io("cannot move aside", &self.target, e))?;
        }
        std::fs::rename(&self.staging, &self.target)
            .map_err(|e| Error::io("cannot move into place", &self.target, e))?;
        tracing::debug!(target = %self.target.display(), "export committed (staging folder renamed)");
        self.committed = true;
        live.retain(|p| *p != self.staging);
        drop(live);
        if self.old.exists() {
            std::fs::remove_dir_all(&self.old)
                .map_err(|e| Error::io("cannot remove", &self.old, e))?;
        }
        Ok(())
    }
}

impl Drop for ExportDir {
    /// A run that did not commit leaves nothing behind.
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            live().retain(|p| *p != self.staging);
        }
    }
}

/// Removes `.NAME.staging-*` and `.NAME.old-*` folders left by killed runs. If a killed run
/// had moved the target aside but not yet moved the new one in, the old export is put back.
fn remove_leftovers(target: &Path, parent: &Path) -> Result<()> {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let fname = e.file_name();
        let Some(f) = fname.to_str() else { continue };
        let path = e.path();
        if f.starts_with(&format!(".{name}.staging-")) {
            std::fs::remove_dir_all(&path).map_err(|err| Error::io("cannot remove", &path, err))?;
            tracing::warn!(
                "removed {}: the partial export of a run that was killed",
                path.display()
            );
        } else if f.starts_with(&format!(".{name}.old-")) {
            if !target.exists() {
                std::fs::rename(&path, target)
                    .map_err(|err| Error::io("cannot restore", &path, err))?;
                tracing::warn!(
                    "restored {} from {}: a killed run had moved it aside",
                    target.display(),
                    path.display()
                );
            } else {
                std::fs::remove_dir_all(&path)
                    .map_err(|err| Error::io("cannot remove", &path, err))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_on_a_locked_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let first = ExportDir::prepare(&target, true, "r1").unwrap();
        let second = ExportDir::prepare(&target, true, "r2");
        assert!(matches!(&second, Err(Error::Busy(m)) if m.contains("in use by another run")));
        // The first run's staging folder was not swept.
        assert!(first.staging.exists());
        first.commit().unwrap();
        ExportDir::prepare(&target, true, "r3").unwrap();
    }

    #[test]
    fn overwrite_replaces_the_whole_folder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir_all(target.join("data")).unwrap();
        std::fs::write(target.join("data/part-00009.jsonl"), "stale").unwrap();
        assert!(matches!(
            ExportDir::prepare(&target, false, "r1"),
            Err(Error::OutputExists(_))
        ));
        let ex = ExportDir::prepare(&target, true, "r1").unwrap();
        std::fs::write(ex.staging.join("new"), "x").unwrap();
        ex.commit().unwrap();
        assert!(target.join("new").exists());
        assert!(!target.join("data/part-00009.jsonl").exists());
        // The output and its lock file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn an_uncommitted_run_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        {
            let ex = ExportDir::prepare(&target, false, "r2").unwrap();
            std::fs::write(ex.staging.join("partial"), "x").unwrap();
        }
        // Only the empty lock file stays (removing it could let two runs lock two files).
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [".out.lock"]);
    }
}
