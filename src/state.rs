//! The state folder: where the keyring, the DP budget ledger, the year ledger and the
//! home quarantine live unless a pipeline names its own paths.
//!
//! State must outlive the folder a command runs from: a scheduler (Airflow's
//! BashOperator, cron, a CI job) starts each task in a fresh temporary folder, and state
//! kept there would mean a new signing key, a fresh privacy budget and year-to-date
//! subject counts of zero on every run. So the folder is, in this order:
//!
//! 1. `--state-dir DIR` on the command line;
//! 2. the `DATACUSTOMS_STATE_DIR` environment variable;
//! 3. `.datacustoms/` in the working folder when it already exists (what versions before
//!    the state folder used), with a warning saying how to make it explicit;
//! 4. the per-user state folder: `$XDG_STATE_HOME/datacustoms`, else
//!    `~/.local/state/datacustoms`.
//!
//! Invariants: the path is absolute (a relative flag or variable is taken against the
//! working folder once, here); a state folder under the system's temporary folder gets a
//! warning, since it is likely to vanish between runs. Nothing is created here: each
//! file is created by its owner when first written.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The environment variable naming the state folder.
pub const ENV: &str = "DATACUSTOMS_STATE_DIR";

/// Where the state folder came from (for messages and the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    WorkingFolder,
    User,
}

#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
    pub origin: Origin,
}

impl StateDir {
    /// Resolves the state folder (see the module docs). `flag` is `--state-dir`.
    pub fn resolve(flag: Option<&Path>) -> Result<StateDir> {
        let env = std::env::var_os(ENV).filter(|v| !v.is_empty());
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("cannot read the working folder", Path::new("."), e))?;
        let home = std::env::var_os("HOME").filter(|v| !v.is_empty());
        let xdg = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty());
        let dir = Self::choose(
            flag,
            env.as_deref().map(Path::new),
            &cwd,
            xdg.as_deref().map(Path::new),
            home.as_deref().map(Path::new),
        )?;
        dir.warn();
        Ok(dir)
    }

    /// The resolution itself, without the process environment (tested directly).
    fn choose(
        flag: Option<&Path>,
        env: Option<&Path>,
        cwd: &Path,
        xdg: Option<&Path>,
        home: Option<&Path>,
    ) -> Result<StateDir> {
        let (path, origin) = if let Some(f) = flag {
            (cwd.join(f), Origin::Flag)
        } else if let Some(e) = env {
            (cwd.join(e), Origin::Env)
        } else if cwd.join(".datacustoms").is_dir() {
            (cwd.join(".datacustoms"), Origin::WorkingFolder)
        } else if let Some(x) = xdg.filter(|x| x.is_absolute()) {
            (x.join("datacustoms"), Origin::User)
        } else if let Some(h) = home {
            (h.join(".local/state/datacustoms"), Origin::User)
        } else {
            return Err(Error::Usage(format!(
                "no state folder: HOME is not set; pass --state-dir DIR or set {ENV} \
                 (the keyring, the DP budget ledger and the year ledger live there)"
            )));
        };
        Ok(StateDir { path, origin })
    }

    fn warn(&self) {
        // Once per process: a sharded run's home step resolves the folder more than once.
        static WARNED: std::sync::Once = std::sync::Once::new();
        let mut first = false;
        WARNED.call_once(|| first = true);
        if !first {
            return;
        }
        if self.origin == Origin::WorkingFolder {
            tracing::warn!(
                "using the state folder {} found in the working folder; pass --state-dir or set {ENV} \
                 so that runs from other folders (a scheduler's) use the same keyring and ledgers",
                self.path.display()
            );
        }
        if under_temp(&self.path) {
            tracing::warn!(
                "the state folder {} is under a temporary folder: the keyring, the DP budget ledger \
                 and the year ledger there may be deleted between runs; point --state-dir or {ENV} \
                 at a lasting folder",
                self.path.display()
            );
        }
    }

    /// The local keyring, created on first use.
    pub fn keyring(&self) -> PathBuf {
        self.path.join("keyring.json")
    }

    /// The `file:` key source of the local keyring.
    pub fn keyring_spec(&self) -> String {
        format!("file:{}", self.keyring().display())
    }

    /// The DP budget ledger.
    pub fn ledger(&self) -> PathBuf {
        self.path.join("ledger.sqlite")
    }

    /// The year ledger of the cross-border assessment.
    pub fn year_ledger(&self) -> PathBuf {
        self.path.join("year-ledger.sqlite")
    }

    /// The re-identification vault a pipeline names as `state:vault.sqlite`, and the
    /// default of `reidentify --vault`.
    pub fn vault(&self) -> PathBuf {
        self.path.join("vault.sqlite")
    }

    /// Quarantined rows of each run, a folder per run id.
    pub fn quarantine(&self) -> PathBuf {
        self.path.join("quarantine")
    }
}

/// Whether `p` lies under the system's temporary folder (or `/tmp`).
fn under_temp(p: &Path) -> bool {
    let tmp = std::env::temp_dir();
    p.starts_with(&tmp) || p.starts_with("/tmp") || p.starts_with("/var/tmp")
}

/// `p` taken against `base` when relative (a path written in a pipeline file is relative
/// to the file's folder, not to wherever the command runs). `state:NAME` paths are left
/// for `in_state`.
pub fn against(base: &Path, p: &str) -> String {
    let path = Path::new(p);
    if path.is_absolute() || p.is_empty() || p.starts_with(STATE_PREFIX) {
        p.to_string()
    } else {
        lexical(&base.join(path)).display().to_string()
    }
}

/// `p` with `.` dropped and each `..` taken against the name before it, without reading
/// the file system (`pipelines/../out` → `out`), so messages and reports show plain paths.
fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            // Above the root is the root.
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::RootDir)) => {}
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// How a pipeline file names a file in the state folder: `vault = "state:vault.sqlite"`.
pub const STATE_PREFIX: &str = "state:";

/// The name after `state:`, when `p` is written so.
pub fn in_state(p: &str) -> Option<&str> {
    p.strip_prefix(STATE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_env_then_working_folder_then_user() {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path();
        let home = Path::new("/home/u");
        let c = |flag: Option<&str>, env: Option<&str>, xdg: Option<&str>| {
            StateDir::choose(
                flag.map(Path::new),
                env.map(Path::new),
                cwd,
                xdg.map(Path::new),
                Some(home),
            )
            .unwrap()
        };
        let d = c(Some("st"), Some("/e"), None);
        assert_eq!((d.path, d.origin), (cwd.join("st"), Origin::Flag));
        let d = c(None, Some("/e"), None);
        assert_eq!((d.path, d.origin), (PathBuf::from("/e"), Origin::Env));
        let d = c(None, None, Some("/x"));
        assert_eq!(d.path, PathBuf::from("/x/datacustoms"));
        // A relative XDG_STATE_HOME is invalid by the spec: ignored.
        let d = c(None, None, Some("rel"));
        assert_eq!(d.path, home.join(".local/state/datacustoms"));
        std::fs::create_dir(cwd.join(".datacustoms")).unwrap();
        let d = c(None, None, Some("/x"));
        assert_eq!(
            (d.path, d.origin),
            (cwd.join(".datacustoms"), Origin::WorkingFolder)
        );
        assert!(
            StateDir::choose(None, None, Path::new("/nonexistent"), None, None)
                .unwrap_err()
                .to_string()
                .contains(ENV)
        );
    }

    #[test]
    fn pipeline_paths_are_taken_against_the_file_folder() {
        assert_eq!(against(Path::new("/p"), "data/x.jsonl"), "/p/data/x.jsonl");
        assert_eq!(against(Path::new("/p"), "/abs/x"), "/abs/x");
        assert_eq!(against(Path::new("pipelines"), "../x"), "x");
        assert_eq!(against(Path::new("/p/q"), "../../../x"), "/x");
        assert_eq!(against(Path::new("a"), "../../x"), "../x");
        assert_eq!(against(Path::new(""), "./x"), "x");
        assert_eq!(against(Path::new("/p"), "state:v.sqlite"), "state:v.sqlite");
        assert_eq!(in_state("state:v.sqlite"), Some("v.sqlite"));
    }

    #[test]
    fn temporary_folders_are_recognised() {
        assert!(under_temp(&std::env::temp_dir().join("s")));
        assert!(!under_temp(Path::new("/home/u/.local/state/datacustoms")));
    }
}
