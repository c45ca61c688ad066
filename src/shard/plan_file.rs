//! `plan.json`, the frozen decisions of a sharded run (`../shared/SCALEOUT.md` §2): what
//! every task reads first, so that all of them work on the same input, the same shards
//! and the same resolved pipeline, and refuse to run against another plan.
//!
//! Invariants:
//! - `plan_sha256` is taken over the canonical JSON of the plan without `created_at`
//!   (object keys sorted, no whitespace), so re-planning the same run gives the same
//!   digest and a resumed run is recognised;
//! - a plan written by another `tool_version` is refused (exit 78): tasks of two builds
//!   must not share a run;
//! - a work directory holds one plan: writing a different plan for the same run id is
//!   refused (exit 78), the same plan again resumes (committed tasks are skipped);
//! - the keyring is recorded as a *source* string (`command:…`, `file:…`), never key
//!   bytes; the plan holds no value from the input.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::inputs::Stamp;
use crate::error::{Error, Result};

/// The plan file's name in the work directory.
pub const PLAN_FILE: &str = "plan.json";
/// The format of `plan.json` this build writes and reads.
pub const PLAN_VERSION: u32 = 1;

/// Where a step's tasks may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    /// On any worker that sees the work directory.
    Any,
    /// At home only, beside the ledgers and the keyring (`finalize`).
    Home,
}

/// One step of the run: its tasks are `argv` with `{i}` replaced by 0..tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub tasks: u32,
    pub cpus: u32,
    #[serde(rename = "where")]
    pub place: Where,
    pub argv: Vec<String>,
}

/// One input file as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInput {
    pub index: u32,
    pub path: String,
    pub format: String,
    #[serde(flatten)]
    pub stamp: Stamp,
}

/// One shard: a contiguous run of input files `[first, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShard {
    pub k: u32,
    pub files: [u32; 2],
    pub bytes: u64,
}

/// The pipeline file the plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    pub plan_version: u32,
    pub run_id: String,
    pub tool_version: String,
    pub created_at: String,
    pub pipeline: PipelineRef,
    /// What the planner resolved: the schema, the de-identification types, LSH and DP
    /// parameters (filled by the steps that need them).
    pub resolved: serde_json::Value,
    pub inputs: Vec<PlannedInput>,
    pub inputs_digest: String,
    pub year: i32,
    pub dataset_id: String,
    pub shards: Vec<PlannedShard>,
    pub partitions: u32,
    /// The keyring's source string, never key bytes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keyring: Option<String>,
    pub output: String,
    pub steps: Vec<Step>,
}

/// What `write` found in the work directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// No plan was there; this one now is.
    New,
    /// The same plan was there: the run resumes (committed tasks are skipped).
    Resumed,
}

impl PlanFile {
    /// The digest of the canonical JSON of the plan without `created_at`.
    pub fn sha256(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a plan is plain data");
        if let Some(m) = v.as_object_mut() {
            m.remove("created_at");
        }
        // serde_json's maps are sorted by key (no `preserve_order` feature), so this
        // text is canonical.
        let text = serde_json::to_string(&v).expect("a plan is plain data");
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Refuses a plan this build cannot run (another format or build).
    pub fn check_runnable(&self) -> Result<()> {
        if self.plan_version != PLAN_VERSION {
            return Err(Error::Config(format!(
                "plan format {} (this build reads {PLAN_VERSION}): plan the run again",
                self.plan_version
            )));
        }
        let tool = env!("CARGO_PKG_VERSION");
        if self.tool_version != tool {
            return Err(Error::Config(format!(
                "the plan was made by datacustoms {} and this is {tool}: every task of a run must be the same build",
                self.tool_version
            )));
        }
        Ok(())
    }

    /// Writes the plan into `work` (created 0700), or recognises it there: the same
    /// plan resumes, another one is refused.
    pub fn write(&self, work: &Path) -> Result<Written> {
        super::private_dir(work)?;
        let path = work.join(PLAN_FILE);
        if path.exists() {
            let there = PlanFile::read(work)?;
            if there.sha256() == self.sha256() {
                return Ok(Written::Resumed);
            }
            return Err(Error::Config(format!(
                "{} holds another plan (run {}): use a new work directory, or the same pipeline, input and options to resume",
                path.display(),
                there.run_id
            )));
        }
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(format!("plan: {e}")))?;
        // Written beside and renamed: a reader never sees half a plan.
        let tmp = work.join(format!(".{PLAN_FILE}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("writing", &path, e))?;
        Ok(Written::New)
    }

    /// The plan in `work`, checked for this build.
    pub fn read(work: &Path) -> Result<PlanFile> {
        let path = work.join(PLAN_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        let plan: PlanFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Config(format!("{}: not a plan: {e}", path.display())))?;
        plan.check_runnable()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PlanFile {
        PlanFile {
            plan_version: PLAN_VERSION,
            run_id: "run-1".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            created_at: "2026-12-05T00:00:00Z".into(),
            pipeline: PipelineRef {
                path: "pipelines/chat.toml".into(),
                sha256: "ab".repeat(32),
            },
            resolved: serde_json::json!({"schema": {"text": "string"}}),
            inputs: vec![PlannedInput {
                index: 0,
                path: "/data/a.jsonl".into(),
                format: "jsonl".into(),
                stamp: Stamp {
                    display: "a.jsonl".into(),
                    bytes: 10,
                    mtime_ns: 5,
                },
            }],
            inputs_digest: "cd".repeat(32),
            year: 2026,
            dataset_id: "chat".into(),
            shards: vec![PlannedShard {
                k: 0,
                files: [0, 1],
                bytes: 10,
            }],
            partitions: 64,
            keyring: Some("file:/home/keys/ring.json".into()),
            output: "/export/chat".into(),
            steps: vec![
                Step {
                    name: "map".into(),
                    tasks: 1,
                    cpus: 1,
                    place: Where::Any,
                    argv: ["datacustoms", "map", "WORK", "--shard", "{i}"]
                        .map(String::from)
                        .to_vec(),
                },
                Step {
                    name: "finalize".into(),
                    tasks: 1,
                    cpus: 1,
                    place: Where::Home,
                    argv: ["datacustoms", "finalize", "WORK"]
                        .map(String::from)
                        .to_vec(),
                },
            ],
        }
    }

    #[test]
    fn the_digest_ignores_the_time_only() {
        let a = plan();
        let mut b = plan();
        b.created_at = "2027-01-01T00:00:00Z".into();
        assert_eq!(a.sha256(), b.sha256());
        b.shards[0].bytes = 11;
        assert_ne!(a.sha256(), b.sha256());
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["steps"][1]["where"], "home");
        assert_eq!(
            json["inputs"][0]["display"], "a.jsonl",
            "the stamp is flattened"
        );
    }

    #[test]
    fn a_work_directory_holds_one_plan() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let a = plan();
        assert_eq!(a.write(&work).unwrap(), Written::New);
        assert_eq!(PlanFile::read(&work).unwrap(), a);
        // The same plan made again (another time): the run resumes.
        let mut again = plan();
        again.created_at = "later".into();
        assert_eq!(again.write(&work).unwrap(), Written::Resumed);
        // Another plan is refused, with exit 78.
        let mut other = plan();
        other.inputs_digest = "ef".repeat(32);
        let err = other.write(&work).unwrap_err();
        assert_eq!(err.exit_code(), 78);
        assert!(err.to_string().contains("holds another plan"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&work).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn another_build_or_format_is_refused() {
        let mut p = plan();
        p.tool_version = "0.0.0-other".into();
        let err = p.check_runnable().unwrap_err();
        assert_eq!(err.exit_code(), 78);
        assert!(err.to_string().contains("same build"), "{err}");
        let mut p = plan();
        p.plan_version = PLAN_VERSION + 1;
        assert_eq!(p.check_runnable().unwrap_err().exit_code(), 78);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PLAN_FILE), "{not json").unwrap();
        assert_eq!(PlanFile::read(dir.path()).unwrap_err().exit_code(), 78);
    }
}
