//! A task's folder in a sharded run's work directory, and its atomic commit.
//!
//! Engines retry tasks, and some run two attempts of one task at once (Spark
//! speculation, a zombie pod, a retried Ray task whose first attempt was only slow). So
//! every attempt writes into a folder of its own, `WORK/<step>/<index>/.attempt-<id>/`,
//! and commits by renaming that folder to `WORK/<step>/<index>/done`:
//!
//! - commit = fsync every file and folder of the attempt, write `result.json` (fsync),
//!   fsync the attempt folder, then `rename(.attempt-<id>, done)`. A directory rename is
//!   atomic on POSIX filesystems, NFS included; `done` is never empty (it holds
//!   `result.json`), so a rename onto it fails instead of replacing it;
//! - the first committer wins: a later attempt finds `done` taken, deletes its own
//!   folder and reports the winner's result. Any attempt is equivalent to any other
//!   (same plan, same input), so which one wins does not change the export;
//! - readers open only `done` folders; an attempt that crashed leaves its folder behind,
//!   which nothing reads and `sweep` removes (the `finalize` step does, at the end).
//!
//! Nothing here reads or writes row data: the caller writes its files into
//! `Attempt::path()` and hands `commit` the JSON summary of what it wrote.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The committed folder's name.
const DONE: &str = "done";
/// The prefix of an attempt's folder.
const ATTEMPT: &str = ".attempt-";
/// The summary an attempt commits, written last.
pub const RESULT: &str = "result.json";

/// The folder of one task of one step: `WORK/<step>/<index>`.
#[derive(Debug, Clone)]
pub struct TaskDir {
    root: PathBuf,
}

/// What a commit came to.
#[derive(Debug)]
pub enum Outcome {
    /// This attempt's folder is now `done`.
    Committed(serde_json::Value),
    /// Another attempt had committed first: this one's folder is gone, and the value is
    /// the winner's `result.json`.
    Lost(serde_json::Value),
}

impl Outcome {
    /// The committed `result.json`, whichever attempt wrote it.
    pub fn result(&self) -> &serde_json::Value {
        match self {
            Outcome::Committed(r) | Outcome::Lost(r) => r,
        }
    }
}

impl TaskDir {
    /// Task `index` of `step` under the work directory `work`. `step` is a plain name
    /// (`map`, `dedup-buckets`): a path separator or a leading dot is refused.
    pub fn new(work: &Path, step: &str, index: u32) -> Result<TaskDir> {
        let plain = !step.is_empty()
            && !step.starts_with('.')
            && step
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !plain {
            return Err(Error::Usage(format!(
                "step name {step:?}: only letters, digits, '-' and '_'"
            )));
        }
        Ok(TaskDir {
            root: work.join(step).join(index.to_string()),
        })
    }

    /// The committed folder (it may not exist yet).
    pub fn done(&self) -> PathBuf {
        self.root.join(DONE)
    }

    /// The committed `result.json`, or None while no attempt has committed.
    pub fn committed(&self) -> Result<Option<serde_json::Value>> {
        let path = self.done().join(RESULT);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Data(format!("{}: not a task result: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading", &path, e)),
        }
    }

    /// A new attempt's empty folder (owner-only on Unix).
    pub fn begin(&self) -> Result<Attempt> {
        fs::create_dir_all(&self.root).map_err(|e| Error::io("creating", &self.root, e))?;
        let id: u64 = rand::random();
        let dir = self.root.join(format!("{ATTEMPT}{id:016x}"));
        super::private_dir(&dir)?;
        Ok(Attempt {
            dir,
            task: self.clone(),
            open: true,
        })
    }

    /// Removes the folders of attempts that never committed (crashed, killed); returns
    /// how many. Only safe once no attempt of this task can still be running.
    pub fn sweep(&self) -> Result<usize> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("listing", &self.root, e)),
        };
        let mut n = 0;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &self.root, e))?;
            if entry.file_name().to_string_lossy().starts_with(ATTEMPT) {
                let p = entry.path();
                fs::remove_dir_all(&p).map_err(|e| Error::io("removing", &p, e))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// One attempt of a task: a private folder to write into, then `commit`. Dropped
/// without a commit (an error on the way), it removes its folder.
#[derive(Debug)]
pub struct Attempt {
    dir: PathBuf,
    task: TaskDir,
    open: bool,
}

impl Attempt {
    /// The folder this attempt writes its files into.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `result` as `result.json`, makes everything durable and renames the
    /// folder to `done`, unless another attempt did first (then this one's folder is
    /// removed and the winner's result returned).
    pub fn commit(mut self, result: &serde_json::Value) -> Result<Outcome> {
        let path = self.dir.join(RESULT);
        let bytes = serde_json::to_vec_pretty(result)
            .map_err(|e| Error::Internal(format!("task result: {e}")))?;
        let mut f = fs::File::create(&path).map_err(|e| Error::io("writing", &path, e))?;
        f.write_all(&bytes)
            .map_err(|e| Error::io("writing", &path, e))?;
        sync_tree(&self.dir)?;
        let done = self.task.done();
        self.open = false;
        match fs::rename(&self.dir, &done) {
            Ok(()) => {
                sync_dir(&self.task.root)?;
                Ok(Outcome::Committed(result.clone()))
            }
            Err(_) if done.join(RESULT).exists() => {
                // `done` is taken (ENOTEMPTY / EEXIST): the first committer won.
                fs::remove_dir_all(&self.dir).map_err(|e| Error::io("removing", &self.dir, e))?;
                let winner = self.task.committed()?.ok_or_else(|| {
                    Error::Internal(format!("{}: committed without a result", done.display()))
                })?;
                Ok(Outcome::Lost(winner))
            }
            Err(e) => {
                self.open = true;
                Err(Error::io("committing", &done, e))
            }
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.open {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// fsync every file and folder under `dir`, `dir` last.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let p = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io("reading", &p, e))?;
        if kind.is_dir() {
            sync_tree(&p)?;
        } else {
            fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("syncing", &p, e))?;
        }
    }
    sync_dir(dir)
}

/// fsync a folder, so the names in it (a rename, a new file) are durable.
fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("syncing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(a: &Attempt, name: &str, text: &str) {
        let p = a.path().join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn an_attempt_commits_once_and_a_later_one_loses() {
        let work = tempfile::tempdir().unwrap();
        let task = TaskDir::new(work.path(), "map", 3).unwrap();
        assert!(task.committed().unwrap().is_none());
        let first = task.begin().unwrap();
        write(&first, "data/part-00003-00000.jsonl", "{\"a\":1}\n");
        let second = task.begin().unwrap();
        write(&second, "data/part-00003-00000.jsonl", "{\"a\":2}\n");
        let out = first.commit(&json!({"attempt": 1})).unwrap();
        assert!(matches!(out, Outcome::Committed(_)));
        let second_dir = second.path().to_path_buf();
        let out = second.commit(&json!({"attempt": 2})).unwrap();
        assert!(matches!(&out, Outcome::Lost(r) if r["attempt"] == 1));
        assert!(!second_dir.exists(), "the loser's folder is removed");
        let part = fs::read_to_string(task.done().join("data/part-00003-00000.jsonl")).unwrap();
        assert_eq!(part, "{\"a\":1}\n");
        assert_eq!(task.committed().unwrap().unwrap()["attempt"], 1);
        assert_eq!(out.result()["attempt"], 1);
    }

    #[test]
    fn concurrent_attempts_commit_exactly_one() {
        let work = tempfile::tempdir().unwrap();
        let task = TaskDir::new(work.path(), "map", 0).unwrap();
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let task = task.clone();
                    s.spawn(move || {
                        let a = task.begin().unwrap();
                        write(&a, "rows", &format!("{i}"));
                        a.commit(&json!({ "attempt": i })).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Committed(_)))
            .collect();
        assert_eq!(won.len(), 1);
        let winner = won[0].result()["attempt"].as_u64().unwrap();
        // Every attempt reports the winner's result, and the files are the winner's.
        assert!(outcomes.iter().all(|o| o.result()["attempt"] == winner));
        let rows = fs::read_to_string(task.done().join("rows")).unwrap();
        assert_eq!(rows, winner.to_string());
        assert_eq!(task.sweep().unwrap(), 0, "no attempt folder is left");
    }

    #[test]
    fn a_crashed_attempt_leaves_nothing_a_reader_sees_and_is_swept() {
        let work = tempfile::tempdir().unwrap();
        let task = TaskDir::new(work.path(), "map", 1).unwrap();
        // A process killed mid-write: its folder stays, uncommitted.
        let crashed = task.begin().unwrap();
        write(&crashed, "rows", "partial");
        std::mem::forget(crashed);
        assert!(task.committed().unwrap().is_none());
        // An attempt dropped on an error removes its own folder.
        let failed = task.begin().unwrap();
        let failed_dir = failed.path().to_path_buf();
        drop(failed);
        assert!(!failed_dir.exists());
        // A retry commits; the crashed folder is swept later.
        let retry = task.begin().unwrap();
        write(&retry, "rows", "whole");
        retry.commit(&json!({"rows": 1})).unwrap();
        assert_eq!(task.sweep().unwrap(), 1);
        assert_eq!(
            fs::read_to_string(task.done().join("rows")).unwrap(),
            "whole"
        );
        assert_eq!(task.committed().unwrap().unwrap()["rows"], 1);
    }

    #[test]
    fn step_names_are_plain() {
        let work = Path::new("/w");
        for bad in ["", "../x", "a/b", ".attempt-1", "done\n"] {
            assert!(TaskDir::new(work, bad, 0).is_err(), "{bad:?}");
        }
        let t = TaskDir::new(work, "dedup-buckets", 7).unwrap();
        assert_eq!(t.done(), Path::new("/w/dedup-buckets/7/done"));
    }
}
