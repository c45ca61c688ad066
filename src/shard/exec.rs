//! The steps of a sharded run as the CLI runs them (`plan`, `map`, `reduce`, `apply`,
//! `finalize`, `status`), and the local executor that runs them as subprocesses of this
//! binary (`run --workers N`). The engine does the work (`engine::partial`); this module
//! keeps the protocol: the frozen plan, the task folders and their commits, the checks
//! that every task ran against the same plan and the same unchanged input.
//!
//! Invariants:
//! - every task rebuilds the run's `Plan` from the same pipeline file (its SHA-256 is
//!   checked), the same options, working folder and state folder, and the decisions
//!   `plan` froze (`Frozen`: the JSONL schema, the assessment's year, the stages' seed),
//!   so tasks never decide on what they happen to see;
//! - a task's input files must have the size and modification time the plan recorded
//!   (exit 65 otherwise);
//! - a task already committed under this plan is a no-op (exit 0); a missing upstream
//!   task makes `reduce`, `apply` or `finalize` exit 75, which drivers retry;
//! - v1 distributes row stages, the residual re-scan, subject counts, k-anonymity,
//!   quarantine, the vault, encryption, DP releases (whose barrier a task saves and
//!   `finalize` absorbs) and dedup stages, record or paragraph scope, each in a round of
//!   its own: decided in one `reduce` task (`dedup`, `dedup-2` ...) from what the shard
//!   tasks before it recorded (`map`, then `apply`, `apply-2` ...), then applied by the
//!   next round's shard tasks; the last `apply` tasks write the rows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::inputs::{inputs_digest, shards, ShardBy, Stamp};
use super::plan_file::{
    PipelineRef, PlanFile, PlannedInput, PlannedShard, Step, Where, PLAN_VERSION,
};
use super::task::TaskDir;
use crate::error::{Error, Result};
use crate::plan::{Frozen, Plan, RunOptions};
use crate::RunSummary;

/// The steps' names: their task folders are `WORK/<step>/<k>`.
pub const MAP: &str = "map";
pub const DEDUP: &str = "dedup";
pub const APPLY: &str = "apply";

/// The step that decides round `r`'s dedup stage: `dedup`, `dedup-2` ...
pub fn dedup_step(r: usize) -> String {
    numbered(DEDUP, r)
}

/// The shard step that applies round `r`'s decision: `apply`, `apply-2` ...
pub fn apply_step(r: usize) -> String {
    numbered(APPLY, r)
}

fn numbered(step: &str, r: usize) -> String {
    if r == 0 {
        step.to_string()
    } else {
        format!("{step}-{}", r + 1)
    }
}

/// How many dedup rounds a plan has (its `dedup`, `dedup-2` ... steps).
fn rounds(pf: &PlanFile) -> usize {
    (0..)
        .take_while(|&r| pf.steps.iter().any(|s| s.name == dedup_step(r)))
        .count()
}

/// The round of a step named `step` of the `numbered` family `base`, if the plan has it.
fn round_of(pf: &PlanFile, base: &str, step: &str) -> Result<usize> {
    (0..rounds(pf))
        .find(|&r| numbered(base, r) == step)
        .ok_or_else(|| {
            let names: Vec<String> = (0..rounds(pf)).map(|r| numbered(base, r)).collect();
            Error::Usage(if names.is_empty() {
                format!("--step {step}: this plan has no {base} step (no dedup stage)")
            } else {
                format!(
                    "--step {step}: this plan's {base} steps are {}",
                    names.join(", ")
                )
            })
        })
}

/// The folders of the committed deciding steps of rounds `0..n`.
fn decided_dirs(pf: &PlanFile, work: &Path, n: usize) -> Result<Vec<PathBuf>> {
    (0..n)
        .map(|r| Ok(committed(pf, work, &dedup_step(r))?.remove(0).0))
        .collect()
}

/// The options of the command line a run was planned with, and the decisions frozen
/// at planning: `plan.json`'s `resolved`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Resolved {
    /// Relative paths (inputs, output, pipeline-relative files) resolve from here.
    cwd: PathBuf,
    /// As given (`--state-dir`), resolved by each task from `cwd` as the plan was.
    state_dir: Option<PathBuf>,
    inputs: Vec<String>,
    /// As given (`--output`), else the pipeline's.
    output: Option<PathBuf>,
    overwrite: bool,
    strict: bool,
    quarantine_dir: Option<PathBuf>,
    lang: Option<crate::evidence::html::Lang>,
    /// The JSONL input's schema as sampled or scanned at planning.
    schema: Option<arrow::datatypes::Schema>,
    schema_source: String,
    /// The secret the tasks derive their stages' keys from (DP's group and unit hashes,
    /// its sampling key), hex; the work folder is kept at home, like the keyring.
    seed: String,
}

/// Plans a sharded run into `work`: resolves the pipeline once, freezes its decisions,
/// cuts the input into shards and writes `plan.json` (or resumes the same plan there).
pub fn plan(pipeline: &Path, opts: RunOptions, work: &Path, by: ShardBy) -> Result<PlanFile> {
    let state = crate::state::StateDir::resolve(opts.state_dir.as_deref())?;
    let mut opts = opts;
    opts.run_id = Some(match &opts.run_id {
        Some(id) => id.clone(),
        None => crate::plan::new_run_id(),
    });
    let seed = run_seed(work, opts.run_id.as_deref())?;
    opts.frozen = Some(Frozen {
        vault: Some(None),
        seed: Some(seed),
        ..Frozen::default()
    });
    let p = Plan::build(pipeline, opts.clone())?;
    crate::engine::partial::refuse_unshardable(&p)?;
    let inputs = planned_inputs(&p)?;
    let stamps: Vec<Stamp> = inputs.iter().map(|i| i.stamp.clone()).collect();
    let sizes: Vec<u64> = stamps.iter().map(|s| s.bytes).collect();
    let cut = shards(&sizes, by);
    let work_arg = absolute(work)?.display().to_string();
    let keyring = opts
        .keyring
        .clone()
        .or_else(|| p.source.file.keys.as_ref().and_then(|k| k.keyring.clone()))
        .unwrap_or_else(|| state.keyring_spec());
    let resolved = Resolved {
        cwd: std::env::current_dir().map_err(|e| Error::io("reading", Path::new("."), e))?,
        state_dir: opts.state_dir.clone(),
        inputs: opts.inputs.clone(),
        output: opts.output.clone(),
        overwrite: p.overwrite,
        strict: p.strict,
        quarantine_dir: opts.quarantine_dir.clone(),
        lang: opts.lang,
        schema: (p.input_format == crate::config::Format::Jsonl).then(|| p.schema.as_ref().clone()),
        schema_source: p.schema_source.clone(),
        seed: hex::encode(seed),
    };
    let plan = PlanFile {
        plan_version: PLAN_VERSION,
        run_id: p.run_id.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::evidence::now_rfc3339(),
        pipeline: PipelineRef {
            path: pipeline.display().to_string(),
            sha256: p.source.sha256.clone(),
        },
        resolved: serde_json::to_value(&resolved)?,
        inputs_digest: inputs_digest(&stamps),
        inputs,
        year: p
            .assessment
            .as_ref()
            .map(|a| a.year)
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().year()),
        dataset_id: p.run_id.clone(),
        shards: cut
            .iter()
            .enumerate()
            .map(|(k, r)| PlannedShard {
                k: k as u32,
                files: [r.start as u32, r.end as u32],
                bytes: sizes[r.clone()].iter().sum(),
            })
            .collect(),
        partitions: 0,
        keyring: Some(keyring),
        output: absolute(&p.output_dir)?.display().to_string(),
        steps: steps(
            &work_arg,
            cut.len() as u32,
            crate::engine::partial::decided_stages(&p).len(),
        ),
    };
    plan.write(work)?;
    Ok(plan)
}

/// The secret the run's tasks derive their stages' keys from: the one in `work`'s plan
/// when the same run is planned again (committed tasks used it), else a fresh one.
fn run_seed(work: &Path, run_id: Option<&str>) -> Result<[u8; 32]> {
    if let Ok(there) = PlanFile::read(work) {
        if Some(there.run_id.as_str()) == run_id {
            let planned = serde_json::from_value::<Resolved>(there.resolved)
                .ok()
                .and_then(|r| seed_of(&r.seed));
            if let Some(s) = planned {
                return Ok(s);
            }
        }
    }
    let mut seed = [0u8; 32];
    crate::crypto::keys::fill_random(&mut seed)?;
    Ok(seed)
}

/// Each input as planned: its absolute path, format and stamp.
fn planned_inputs(p: &Plan) -> Result<Vec<PlannedInput>> {
    p.inputs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Ok(PlannedInput {
                index: i as u32,
                path: absolute(&f.path)?.display().to_string(),
                format: f.format.extension().to_string(),
                stamp: Stamp::of(&f.path, &f.display)?,
            })
        })
        .collect()
}

/// The steps of a run: `map` on any worker, then — for each stage decided apart (dedup),
/// in pipeline order — one deciding task (`dedup`, `dedup-2` ...) and the shard tasks
/// that apply it (`apply`, `apply-2` ...), then `finalize` at home.
fn steps(work: &str, shards: u32, rounds: usize) -> Vec<Step> {
    let step = |name: &str, tasks: u32, place: Where, argv: &[&str]| Step {
        name: name.into(),
        tasks,
        cpus: 1,
        place,
        argv: argv.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = vec![step(
        MAP,
        shards,
        Where::Any,
        &["datacustoms", "map", work, "--shard", "{i}"],
    )];
    for r in 0..rounds {
        let (dedup, apply) = (dedup_step(r), apply_step(r));
        out.push(step(
            &dedup,
            1,
            Where::Any,
            &[
                "datacustoms",
                "reduce",
                work,
                "--step",
                &dedup,
                "--part",
                "{i}",
            ],
        ));
        let mut argv = vec!["datacustoms", "apply", work, "--shard", "{i}"];
        if r > 0 {
            argv.extend(["--step", &apply]);
        }
        out.push(step(&apply, shards, Where::Any, &argv));
    }
    out.push(step(
        "finalize",
        1,
        Where::Home,
        &["datacustoms", "finalize", work],
    ));
    out
}

/// What a step printed as its last stdout line: the task, and how it ended.
#[derive(Debug, Serialize)]
pub struct TaskDone {
    pub step: String,
    pub index: u32,
    /// `committed`, `lost` (another attempt committed first) or `already` (a no-op).
    pub outcome: &'static str,
    pub plan_sha256: String,
}

/// `map WORK --shard K`: streams shard K's files through the stages into a fresh
/// attempt folder and commits it; a no-op when the task is already committed. In a run
/// with stages decided apart (dedup) it only records what the first of them decides on
/// (`engine::partial::sign_shard`); the last `apply` task writes the rows.
pub fn map(work: &Path, k: u32, threads: Option<usize>, quiet: bool) -> Result<TaskDone> {
    let pf = PlanFile::read(work)?;
    let signs = rounds(&pf) > 0;
    shard_task(&pf, work, MAP, k, (threads, quiet), |plan, dir| {
        if signs {
            crate::engine::partial::sign_shard(plan, dir, &[], k as usize)
        } else {
            crate::engine::partial::map_shard(plan, dir)
        }
    })
}

/// `apply WORK --shard K [--step apply-R]`: once the round's dedup step has committed,
/// streams shard K through the stages with the rows that step (and the rounds before)
/// dropped left out: the last round's `apply` writes the rows, as `map` does without
/// dedup; an earlier round's records what the next dedup stage decides on.
pub fn apply(
    work: &Path,
    k: u32,
    step: &str,
    threads: Option<usize>,
    quiet: bool,
) -> Result<TaskDone> {
    let pf = PlanFile::read(work)?;
    let r = round_of(&pf, APPLY, step)?;
    let decided = decided_dirs(&pf, work, r + 1)?;
    let last = r + 1 == rounds(&pf);
    shard_task(&pf, work, step, k, (threads, quiet), |plan, dir| {
        if last {
            crate::engine::partial::apply_shard(plan, dir, &decided, k as usize)
        } else {
            crate::engine::partial::sign_shard(plan, dir, &decided, k as usize)
        }
    })
}

/// `reduce WORK --step dedup-R --part 0`: once every shard task of the round before
/// (`map`, or `apply-R-1`) has committed, decides round R's dedup stage on what they
/// recorded, in shard order, as one process would.
pub fn reduce(
    work: &Path,
    step: &str,
    part: u32,
    threads: Option<usize>,
    quiet: bool,
) -> Result<TaskDone> {
    let pf = PlanFile::read(work)?;
    let sha = pf.sha256();
    let r = round_of(&pf, DEDUP, step)?;
    if part != 0 {
        return Err(Error::Usage(format!(
            "reduce --step {step} --part {part}: a dedup step has one part, 0"
        )));
    }
    let task = TaskDir::new(work, step, part)?;
    if let Some(r) = task.committed()? {
        check_same_plan(&r, &sha, &task.done())?;
        return Ok(task_done(step, part, "already", &sha));
    }
    let signer = if r == 0 {
        MAP.to_string()
    } else {
        apply_step(r - 1)
    };
    let signed = committed(&pf, work, &signer)?
        .into_iter()
        .zip(&pf.shards)
        .map(|((dir, _), shard)| (dir, shard.files[0]))
        .collect::<Vec<_>>();
    let started = Instant::now();
    let attempt = task.begin()?;
    let plan = rebuild(&pf, threads, quiet, None)?;
    let partial = crate::engine::partial::decide_apart(plan, attempt.path(), &signed, r)?;
    commit(attempt, &task, (step, part), &sha, started, partial)
}

/// One shard's task of `step`: checks its input, rebuilds the plan for the shard in a
/// fresh attempt folder (with a vault of its own), runs `run` there and commits.
fn shard_task(
    pf: &PlanFile,
    work: &Path,
    step: &str,
    k: u32,
    (threads, quiet): (Option<usize>, bool),
    run: impl FnOnce(Plan, &Path) -> Result<serde_json::Value>,
) -> Result<TaskDone> {
    let sha = pf.sha256();
    let shard = pf.shards.get(k as usize).ok_or_else(|| {
        Error::Usage(format!(
            "--shard {k}: the plan has {} shards",
            pf.shards.len()
        ))
    })?;
    let task = TaskDir::new(work, step, k)?;
    if let Some(r) = task.committed()? {
        check_same_plan(&r, &sha, &task.done())?;
        return Ok(task_done(step, k, "already", &sha));
    }
    let range = shard.files[0] as usize..shard.files[1] as usize;
    for input in &pf.inputs[range.clone()] {
        input.stamp.check(Path::new(&input.path))?;
    }
    let started = Instant::now();
    let attempt = task.begin()?;
    let mut plan = rebuild(
        pf,
        threads,
        quiet,
        Some(attempt.path().join(crate::engine::partial::VAULT)),
    )?;
    plan.inputs = plan.inputs[range].to_vec();
    plan.quarantine_dir = attempt.path().join(crate::engine::partial::QUARANTINE_HOME);
    let partial = run(plan, attempt.path())?;
    commit(attempt, &task, (step, k), &sha, started, partial)
}

/// Commits a task's attempt with its result (`partial` under the plan's digest).
fn commit(
    attempt: super::task::Attempt,
    task: &TaskDir,
    (step, k): (&str, u32),
    sha: &str,
    started: Instant,
    partial: serde_json::Value,
) -> Result<TaskDone> {
    let result = serde_json::json!({
        "plan_sha256": sha,
        "step": step,
        "index": k,
        "seconds": started.elapsed().as_secs_f64(),
        "partial": partial,
    });
    crash_point(step, k, "before-commit");
    let outcome = attempt.commit(&result)?;
    crash_point(step, k, "after-commit");
    Ok(task_done(
        step,
        k,
        match outcome {
            super::task::Outcome::Committed(_) => "committed",
            super::task::Outcome::Lost(r) => {
                check_same_plan(&r, sha, &task.done())?;
                "lost"
            }
        },
        sha,
    ))
}

fn task_done(step: &str, index: u32, outcome: &'static str, sha: &str) -> TaskDone {
    TaskDone {
        step: step.into(),
        index,
        outcome,
        plan_sha256: sha.into(),
    }
}

/// Every task of `step`, committed under this plan: its folder and its partial; exit
/// 75 while one is missing.
fn committed(pf: &PlanFile, work: &Path, step: &str) -> Result<Vec<(PathBuf, serde_json::Value)>> {
    let sha = pf.sha256();
    let tasks = pf
        .steps
        .iter()
        .find(|s| s.name == step)
        .ok_or_else(|| Error::Config(format!("{}: no {step} step in the plan", work.display())))?
        .tasks;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for k in 0..tasks {
        let task = TaskDir::new(work, step, k)?;
        match task.committed()? {
            Some(mut r) => {
                check_same_plan(&r, &sha, &task.done())?;
                out.push((task.done(), r["partial"].take()));
            }
            None => missing.push(k.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Busy(format!(
            "{step} tasks {} of {tasks} have not committed yet: run them, then try again",
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// `finalize WORK`: at home, once every task has committed, writes the export from
/// their partials exactly as one process would, then removes the work directory
/// (unless `keep_work`).
pub fn finalize(
    work: &Path,
    keep_work: bool,
    wait: Option<std::time::Duration>,
) -> Result<RunSummary> {
    let pf = PlanFile::read(work)?;
    if let Some(done) = already_finalized(&pf, work, keep_work)? {
        return Ok(done);
    }
    // The rows come from the last `apply` tasks in a run with dedup steps, else from `map`.
    let n = rounds(&pf);
    let rows_step = if n > 0 { apply_step(n - 1) } else { MAP.into() };
    let shards = committed(&pf, work, &rows_step)?;
    let decided = (0..n)
        .map(|r| Ok(committed(&pf, work, &dedup_step(r))?.remove(0)))
        .collect::<Result<Vec<_>>>()?;
    for input in &pf.inputs {
        input.stamp.check(Path::new(&input.path))?;
    }
    let mut plan = rebuild(&pf, None, true, None)?;
    plan.wait = wait;
    let summary = crate::engine::partial::finalize_shards(plan, &shards, decided)?;
    for st in &pf.steps {
        for k in 0..st.tasks {
            TaskDir::new(work, &st.name, k)?.sweep()?;
        }
    }
    if !keep_work {
        std::fs::remove_dir_all(work).map_err(|e| Error::io("removing", work, e))?;
    }
    Ok(summary)
}

/// A finalize that committed the export and then died (before removing the work folder,
/// or before its driver heard back) is done: a retry must not write the export again.
/// The summary of the export there, if it is this run's.
fn already_finalized(pf: &PlanFile, work: &Path, keep_work: bool) -> Result<Option<RunSummary>> {
    let output = Path::new(&pf.output);
    match crate::evidence::manifest::Manifest::load(output) {
        Ok(m) if m.run_id == pf.run_id => {
            tracing::info!(output = %pf.output, "the export of run {} is already written", pf.run_id);
            if !keep_work {
                std::fs::remove_dir_all(work).map_err(|e| Error::io("removing", work, e))?;
            }
            Ok(Some(RunSummary {
                output: output.to_path_buf(),
                // As the export's report says (nothing, for an aggregates-only one).
                rows: std::fs::read(output.join(crate::evidence::report::REPORT))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|r| serde_json::from_value(r["rows"].clone()).ok())
                    .unwrap_or_default(),
                quarantined_records: 0,
                parts: m
                    .files
                    .iter()
                    .filter(|f| f.path.starts_with("data/"))
                    .count(),
                seconds: 0.0,
                warnings: vec!["already finalized: nothing was written again".into()],
            }))
        }
        _ => Ok(None),
    }
}

/// `status WORK`: per step, its tasks and which have committed.
pub fn status(work: &Path) -> Result<serde_json::Value> {
    let pf = PlanFile::read(work)?;
    let mut steps = Vec::new();
    for st in &pf.steps {
        let mut committed = Vec::new();
        if st.place == Where::Any {
            for k in 0..st.tasks {
                if TaskDir::new(work, &st.name, k)?.committed()?.is_some() {
                    committed.push(k);
                }
            }
        }
        steps.push(serde_json::json!({
            "name": st.name, "tasks": st.tasks, "where": st.place, "committed": committed,
        }));
    }
    let finalized = crate::evidence::manifest::Manifest::load(Path::new(&pf.output))
        .is_ok_and(|m| m.run_id == pf.run_id);
    Ok(serde_json::json!({
        "run_id": pf.run_id,
        "plan_sha256": pf.sha256(),
        "shards": pf.shards.len(),
        "output": pf.output,
        "steps": steps,
        "finalized": finalized,
    }))
}

/// What `run --workers` needs beyond the run's options.
pub struct Workers {
    pub workers: usize,
    /// The work directory (default: `work/<run id>` in the state folder).
    pub work: Option<PathBuf>,
    /// Shards to cut (default: one per worker).
    pub shards: Option<usize>,
    pub keep_work: bool,
    /// Global flags each task gets (`--state-dir`, `--log-format`).
    pub task_flags: Vec<String>,
}

/// `run PIPELINE --workers N`: plans, runs each step's tasks (`map`; with dedup also
/// `dedup` and `apply`), step after step, as up to N subprocesses of this binary at once
/// (a task that exits 74 or 75 is retried, twice at most), then finalizes in this
/// process.
pub fn run_workers(pipeline: &Path, mut opts: RunOptions, w: Workers) -> Result<RunSummary> {
    if w.workers == 0 {
        return Err(Error::Usage("--workers must be at least 1".into()));
    }
    let started = Instant::now();
    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => crate::plan::new_run_id(),
    };
    opts.run_id = Some(run_id.clone());
    let work = match &w.work {
        Some(d) => d.clone(),
        None => crate::state::StateDir::resolve(opts.state_dir.as_deref())?
            .path
            .join("work")
            .join(&run_id),
    };
    let (quiet, threads, wait) = (opts.quiet, opts.threads, opts.wait);
    let pf = plan(
        pipeline,
        opts,
        &work,
        ShardBy::Count(w.shards.unwrap_or(w.workers)),
    )?;
    let cores =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let per_task = (cores / w.workers).max(1);
    let exe = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find this program's path: {e}")))?;
    let remote: Vec<&Step> = pf.steps.iter().filter(|s| s.place == Where::Any).collect();
    let bar =
        crate::engine::progress::task_bar(remote.iter().map(|s| u64::from(s.tasks)).sum(), quiet);
    for step in remote {
        let next = std::sync::Mutex::new(0..step.tasks);
        let failure = std::sync::Mutex::new(None::<Error>);
        std::thread::scope(|s| {
            for _ in 0..w.workers.min(step.tasks as usize) {
                s.spawn(|| loop {
                    if failure.lock().expect("failure lock").is_some() {
                        return;
                    }
                    let Some(k) = next.lock().expect("task lock").next() else {
                        return;
                    };
                    let mut cmd = Command::new(&exe);
                    cmd.args(&w.task_flags)
                        .arg("--quiet")
                        .args(
                            step.argv[1..]
                                .iter()
                                .map(|a| a.replace("{i}", &k.to_string())),
                        )
                        .args(["--threads", &per_task.to_string()])
                        .stdout(std::process::Stdio::null());
                    match run_task(&mut cmd, &format!("{} task {k}", step.name)) {
                        Ok(()) => bar.inc(1),
                        Err(e) => {
                            failure.lock().expect("failure lock").get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("failure lock") {
            bar.finish_and_clear();
            return Err(e);
        }
    }
    bar.finish_and_clear();
    let mut summary = finalize(&work, w.keep_work, wait)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The task processes running now, by process id, so that an interrupted `run
/// --workers` stops them too (`stop_tasks`) instead of leaving them to finish alone.
static RUNNING: std::sync::Mutex<Vec<(u32, std::process::Child)>> =
    std::sync::Mutex::new(Vec::new());
/// Set by `stop_tasks` (under `RUNNING`'s lock): no task starts after it.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Kills every task process `run --workers` started and waits for it: for the handler
/// of SIGINT and SIGTERM. Their attempt folders stay uncommitted; a rerun of the run id
/// sweeps them and reuses the tasks that had committed.
pub fn stop_tasks() {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
    for (_, child) in running.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    running.clear();
}

/// Runs one task's process, retrying it on the transient exit codes (74, 75).
fn run_task(cmd: &mut Command, what: &str) -> Result<()> {
    const ATTEMPTS: u32 = 3;
    for attempt in 1..=ATTEMPTS {
        let status = wait_task(cmd, what)?;
        match status.code() {
            Some(0) => return Ok(()),
            Some(74 | 75) if attempt < ATTEMPTS => {
                tracing::warn!(
                    "{what} failed with a transient error; retrying ({attempt}/{ATTEMPTS})"
                );
            }
            code => return Err(task_error(what, code)),
        }
    }
    unreachable!("the last attempt returns")
}

/// Starts a task's process, registered in `RUNNING` while it runs, and waits for it
/// (polling, so that `stop_tasks` can take the process meanwhile).
fn wait_task(cmd: &mut Command, what: &str) -> Result<std::process::ExitStatus> {
    let pid = {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Internal(format!(
                "{what} was not started: the run is stopping"
            )));
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::Internal(format!("cannot start {what}: {e}")))?;
        let pid = child.id();
        running.push((pid, child));
        pid
    };
    loop {
        {
            let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
            let Some(i) = running.iter().position(|(p, _)| *p == pid) else {
                return Err(Error::Internal(format!("{what} was stopped")));
            };
            let done = running[i]
                .1
                .try_wait()
                .map_err(|e| Error::Internal(format!("cannot wait for {what}: {e}")))?;
            if let Some(status) = done {
                running.swap_remove(i);
                return Ok(status);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A task's failure as the error of its exit code's class, so `run --workers` exits
/// as the task did.
fn task_error(what: &str, code: Option<i32>) -> Error {
    let msg = match code {
        Some(c) => format!("{what} failed (exit {c}); its error is above"),
        None => format!("{what} was killed by a signal"),
    };
    match code {
        Some(64) => Error::Usage(msg),
        Some(65) => Error::Data(msg),
        Some(66) => Error::NotFound(msg),
        Some(75) => Error::Busy(msg),
        Some(78) => Error::Config(msg),
        _ => Error::Internal(msg),
    }
}

/// The run's `Plan`, rebuilt by a task from `plan.json`: the same pipeline (checked),
/// options, folders and frozen decisions. `vault` is where this process writes tokens
/// (a map task's own), or None to open no vault (`finalize` merges the tasks').
fn rebuild(
    pf: &PlanFile,
    threads: Option<usize>,
    quiet: bool,
    vault: Option<PathBuf>,
) -> Result<Plan> {
    let r: Resolved = serde_json::from_value(pf.resolved.clone())
        .map_err(|e| Error::Config(format!("plan.json: resolved: {e}")))?;
    std::env::set_current_dir(&r.cwd).map_err(|e| Error::io("entering", &r.cwd, e))?;
    let opts = RunOptions {
        inputs: r.inputs.clone(),
        output: r.output.clone(),
        threads,
        overwrite: r.overwrite,
        strict: r.strict,
        quiet,
        run_id: Some(pf.run_id.clone()),
        quarantine_dir: r.quarantine_dir.clone(),
        keyring: pf.keyring.clone(),
        lang: r.lang,
        state_dir: r.state_dir.clone(),
        wait: None,
        validate: false,
        frozen: Some(Frozen {
            schema: r
                .schema
                .map(|s| (std::sync::Arc::new(s), r.schema_source.clone())),
            year: Some(pf.year),
            vault: Some(vault),
            seed: Some(seed_of(&r.seed).ok_or_else(|| {
                Error::Config("plan.json: resolved.seed is not 32 bytes of hex".into())
            })?),
        }),
    };
    let plan = Plan::build(Path::new(&pf.pipeline.path), opts)?;
    if plan.source.sha256 != pf.pipeline.sha256 {
        return Err(Error::Data(format!(
            "{}: the pipeline file changed since the plan: plan the run again",
            pf.pipeline.path
        )));
    }
    let same = plan.inputs.len() == pf.inputs.len()
        && plan
            .inputs
            .iter()
            .zip(&pf.inputs)
            .all(|(f, p)| f.display == p.stamp.display && f.bytes == p.stamp.bytes);
    if !same {
        return Err(Error::Data(format!(
            "the input files are not the {} the plan recorded: plan the run again",
            pf.inputs.len()
        )));
    }
    Ok(plan)
}

/// Refuses a committed task of another plan (a work directory reused by hand).
fn check_same_plan(result: &serde_json::Value, sha: &str, done: &Path) -> Result<()> {
    if result["plan_sha256"] == sha {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{} was committed under another plan: use a new work directory",
        done.display()
    )))
}

/// For the fault tests: `DATACUSTOMS_CRASH_AT=STEP:K:WHEN` (WHEN: `before-commit`,
/// `after-commit`) aborts task K of STEP there, as a killed process would stop.
fn crash_point(step: &str, k: u32, when: &str) {
    if std::env::var("DATACUSTOMS_CRASH_AT").is_ok_and(|v| v == format!("{step}:{k}:{when}")) {
        std::process::abort();
    }
}

fn seed_of(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io("resolving", p, e))
}
