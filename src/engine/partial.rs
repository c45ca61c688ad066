//! The sharded run's two engine steps, `map_shard` and `finalize_shards`, around the
//! halves of `engine::run` that one process runs back to back; and a shard's partial:
//! what `map` leaves in its task folder for `finalize`, and how
//! `finalize` absorbs the shards' partials, in shard order, into the one `Streamed`
//! that a single process would have had after reading every shard's files itself.
//!
//! Invariants:
//! - every merge is exact: per-file accounts are concatenated (each file is read by one
//!   shard), findings and residual tallies add, subject fingerprints unite, k-anonymity
//!   records are counted together, quarantine files are appended in shard order;
//! - the audit events a shard logged while reading (`input_opened`, `input_read`) are
//!   replayed into the run's one hash-chained log in shard order, so the log reads as
//!   one process's;
//! - data parts are hard-linked (copied across filesystems) into the export's staging
//!   folder and renumbered `data/part-NNNNN` in shard order: with one shard the export
//!   is the one process's, names included;
//! - the files here hold no key: the tallies are keyed fingerprints or keyless hashes
//!   of values (at home, like the whole work directory), data keys travel wrapped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::run::ShardKeys;
use crate::crypto::vault::VaultStats;
use crate::engine::progress::new_bar;
use crate::engine::residual::ResidualTally;
use crate::engine::run::{
    finish_export, open_audit, stage_context, stage_meta, stream_input, tallies, Account, Clock,
    RunSummary, Streamed,
};
use crate::engine::Findings;
use crate::error::{Error, Result};
use crate::evidence::audit::AuditLog;
use crate::evidence::export::ExportDir;
use crate::evidence::report::RowCounts;
use crate::io::quarantine::{QuarantineWriter, Written};
use crate::io::sink::WrittenFile;
use crate::io::source::FileRead;
use crate::plan::Plan;

/// The shard's audit events, in its task folder.
pub const AUDIT: &str = "audit.jsonl";
/// The shard's vault (a fresh one per attempt), merged into the pipeline's at home.
pub const VAULT: &str = "vault.sqlite";
/// The shard's raw quarantined records (0700).
pub const QUARANTINE_HOME: &str = "quarantine-home";
const SUBJECTS: &str = "subjects.bin";
const CLASSES: &str = "kanon.bin";

/// The partial as `result.json` carries it.
#[derive(Serialize, Deserialize)]
struct Partial {
    files: Vec<FileAccount>,
    findings: Vec<Findings>,
    cpu_seconds: Vec<f64>,
    /// Paths relative to the task folder.
    quarantine: Written,
    by_reason: BTreeMap<String, u64>,
    unknown_field_rows: u64,
    unknown_field: Option<String>,
    residual: Option<ResidualTally>,
    subjects: bool,
    /// The assessment's detections per (input field, type), for grading the fields.
    field_detections: Vec<(String, String, u64)>,
    classes: bool,
    /// Paths relative to the task folder.
    parts: Vec<WrittenFile>,
    keys: Option<ShardKeys>,
}

#[derive(Serialize, Deserialize)]
struct FileAccount {
    read: FileRead,
    counts: RowCounts,
}

/// One shard of a sharded run (`map`): streams the plan's inputs (the shard's files)
/// through the stages into `dir`, the task's attempt folder: the data parts, the
/// quarantine, the audit events and the partials `finalize` absorbs. Returns the
/// partial for the task's `result.json`.
pub fn map_shard(mut plan: Plan, dir: &std::path::Path) -> Result<serde_json::Value> {
    let clock = Clock::start();
    refuse_unshardable(&plan)?;
    let mut audit = AuditLog::create(dir.join(AUDIT))?;
    let total_bytes: u64 = plan.inputs.iter().map(|f| f.bytes).sum();
    let bar = new_bar(total_bytes, plan.quiet);
    let stages = std::mem::take(&mut plan.stages);
    let (seq, parts, out_rows) = stream_input(&plan, stages, dir, &mut audit, &bar, clock.instant)?;
    audit.close()?;
    let mut streamed = seq.into_streamed(parts, &out_rows);
    for b in streamed.barriers.iter_mut().flatten() {
        b.save_shard(dir)?;
    }
    write(&plan, streamed, dir)
}

/// Refuses (78) a plan with a barrier a sharded run can neither split (`shardable`) nor
/// decide in a step of its own (`decided_apart`).
pub fn refuse_unshardable(plan: &Plan) -> Result<()> {
    for (i, s) in plan.stages.iter().enumerate() {
        if let Some(b) = &s.barrier {
            if !b.shardable() && !b.decided_apart() {
                return Err(Error::Config(format!(
                    "{}: stage {} ({}) drops rows across the input, which a sharded run cannot do yet: run this pipeline without --workers",
                    plan.source.path.display(),
                    i + 1,
                    s.type_name
                )));
            }
        }
    }
    Ok(())
}

/// The stages a sharded run decides in steps of their own (dedup), in pipeline order:
/// round `r` of the run decides the `r`th.
pub fn decided_stages(plan: &Plan) -> Vec<usize> {
    plan.stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.barrier.as_ref().is_some_and(|b| b.decided_apart()))
        .map(|(i, _)| i)
        .collect()
}

/// The stage round `r` decides.
fn decided_stage(plan: &Plan, r: usize) -> Result<usize> {
    decided_stages(plan)
        .get(r)
        .copied()
        .ok_or_else(|| Error::Internal(format!("no stage decided apart in round {}", r + 1)))
}

/// Puts in place of the first `decided.len()` stages decided apart their `applier` for
/// shard `k`, from what each round's deciding step left in its folder.
fn put_appliers(plan: &mut Plan, decided: &[PathBuf], k: usize) -> Result<()> {
    for (d, from) in decided_stages(plan).into_iter().zip(decided) {
        let applier = plan.stages[d]
            .barrier
            .as_ref()
            .expect("a decided stage is a barrier")
            .applier(from, k)?;
        plan.stages[d].row = None;
        plan.stages[d].barrier = Some(applier);
    }
    Ok(())
}

/// A shard task of a run with stages decided apart (dedup) that records for the next
/// round: `map` (round 0) or an `apply` task before the last. Streams shard `k` through
/// the stages up to round `decided.len()`'s stage — the stages of the rounds already
/// decided applied from their steps' folders (`decided`) — whose recorder saves what the
/// stage decides on into `dir`; nothing is written, counted or scanned (the last
/// `apply` task does that).
pub fn sign_shard(
    mut plan: Plan,
    dir: &Path,
    decided: &[PathBuf],
    k: usize,
) -> Result<serde_json::Value> {
    let clock = Clock::start();
    refuse_unshardable(&plan)?;
    let d = decided_stage(&plan, decided.len())?;
    put_appliers(&mut plan, decided, k)?;
    let recorder = plan.stages[d]
        .barrier
        .as_ref()
        .expect("a decided stage is a barrier")
        .recorder(dir)?
        .ok_or_else(|| Error::Internal("the decided stage has no recorder".into()))?;
    plan.stages.truncate(d + 1);
    plan.stages[d].barrier = Some(recorder);
    plan.write_rows = false;
    plan.residual = None;
    plan.assessment = None;
    let mut audit = AuditLog::create(dir.join("sign-audit.jsonl"))?;
    let bar = new_bar(plan.inputs.iter().map(|f| f.bytes).sum(), plan.quiet);
    let stages = std::mem::take(&mut plan.stages);
    let (seq, parts, out_rows) = stream_input(&plan, stages, dir, &mut audit, &bar, clock.instant)?;
    audit.close()?;
    let mut streamed = seq.into_streamed(parts, &out_rows);
    let mut f = Findings::default();
    for b in streamed.barriers.iter_mut().flatten() {
        b.finish(&mut f)?;
    }
    Ok(serde_json::json!({ "signed": d }))
}

/// What the step that decides a stage apart leaves for the `apply` tasks and `finalize`.
#[derive(Serialize, Deserialize)]
struct Decided {
    findings: Findings,
    files: Vec<crate::engine::StageFile>,
}

/// The step that decides round `r`'s stage apart (`reduce --step dedup`, `dedup-2` ...):
/// the stage, opened on the whole run's inputs with `dir` as its folder, reads what every
/// shard's recorder saved (`signed`: each signing task's folder and its shard's first
/// file), in shard order —
/// twice for a two-pass policy — as one process's barrier reads the batches, and writes
/// what each shard's `apply` needs (dedup: its drops) and its own files
/// (`dedup_clusters.jsonl`) into `dir` (`BarrierStage::decide_all`).
pub fn decide_apart(
    mut plan: Plan,
    dir: &Path,
    signed: &[(PathBuf, u32)],
    r: usize,
) -> Result<serde_json::Value> {
    let d = decided_stage(&plan, r)?;
    let mut b = plan.stages[d]
        .barrier
        .take()
        .expect("a decided stage is a barrier");
    b.open(&stage_context(&plan, dir))?;
    let mut f = Findings::default();
    let files = b.decide_all(signed, dir, &mut f)?;
    Ok(serde_json::to_value(Decided { findings: f, files })?)
}

/// The last `apply` task: `map_shard` with every stage decided apart replaced by its
/// `applier` for shard `k`, from what each round's deciding step left in its folder
/// (`decided`, in round order).
pub fn apply_shard(
    mut plan: Plan,
    dir: &Path,
    decided: &[PathBuf],
    k: usize,
) -> Result<serde_json::Value> {
    if decided.len() != decided_stages(&plan).len() {
        return Err(Error::Internal(format!(
            "apply: {} decided rounds for {} stages decided apart",
            decided.len(),
            decided_stages(&plan).len()
        )));
    }
    put_appliers(&mut plan, decided, k)?;
    map_shard(plan, dir)
}

/// The decided stage's place in `finalize`: its findings and files, from the deciding
/// step's folder, become the stage's in the export.
struct DecidedStage {
    dir: PathBuf,
    decided: Decided,
    staging: PathBuf,
}

impl crate::engine::BarrierStage for DecidedStage {
    fn open(&mut self, ctx: &crate::engine::StageContext) -> Result<()> {
        self.staging = ctx.staging.clone();
        Ok(())
    }
    fn process(
        &mut self,
        batch: crate::engine::batch::Batch,
        _f: &mut Findings,
    ) -> Result<crate::engine::batch::Batch> {
        Ok(batch)
    }
    fn shardable(&self) -> bool {
        true
    }
    fn save_shard(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }
    fn absorb_shard(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }
    fn finish(&mut self, f: &mut Findings) -> Result<Vec<crate::engine::StageFile>> {
        f.merge(std::mem::take(&mut self.decided.findings));
        for file in &self.decided.files {
            let (from, to) = (self.dir.join(&file.path), self.staging.join(&file.path));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|e| Error::io("cannot copy", &from, e))?;
            }
        }
        Ok(std::mem::take(&mut self.decided.files))
    }
}

/// The home step of a sharded run (`finalize`): absorbs each committed shard's partial
/// in shard order (`(folder, partial)`, as `map_shard` left them), merges the shards'
/// vaults into the pipeline's, then checks, reconciles and writes the export exactly
/// as one process does.
pub fn finalize_shards(
    mut plan: Plan,
    shards: &[(std::path::PathBuf, serde_json::Value)],
    decided: Vec<(PathBuf, serde_json::Value)>,
) -> Result<RunSummary> {
    let clock = Clock::start();
    refuse_unshardable(&plan)?;
    let stages = decided_stages(&plan);
    if stages.len() != decided.len() {
        return Err(Error::Internal(format!(
            "finalize: {} dedup steps' results for {} dedup stages",
            decided.len(),
            stages.len()
        )));
    }
    for (d, (dir, value)) in stages.into_iter().zip(decided) {
        let decided: Decided = serde_json::from_value(value).map_err(|e| {
            Error::Data(format!("{}: not a dedup step's result: {e}", dir.display()))
        })?;
        plan.stages[d].barrier = Some(Box::new(DecidedStage {
            dir,
            decided,
            staging: PathBuf::new(),
        }));
    }
    let export =
        ExportDir::prepare_waiting(&plan.output_dir, plan.overwrite, &plan.run_id, plan.wait)?;
    let staging = export.staging.clone();
    let mut audit = open_audit(&plan, &staging)?;
    let meta = stage_meta(&plan);
    // The barriers (DP releases) finish here, at home, once every shard's state is in.
    let ctx = stage_context(&plan, &staging);
    let mut barriers: Vec<_> = std::mem::take(&mut plan.stages)
        .into_iter()
        .map(|s| s.barrier)
        .collect();
    for b in barriers.iter_mut().flatten() {
        b.open(&ctx)?;
    }
    let mut streamed = absorb_all(&plan, &staging, shards, &mut barriers, &mut audit)?;
    streamed.barriers = barriers;
    finish_export(&plan, &meta, export, audit, streamed, clock)
}

/// Finishes a shard's streaming in its task folder `dir`: flushes the quarantine and
/// the key session (the attempt's vault and data keys), writes the tallies beside the
/// parts, and returns the partial for `result.json`.
pub(crate) fn write(plan: &Plan, mut st: Streamed, dir: &Path) -> Result<serde_json::Value> {
    st.quarantine.finish()?;
    let relative = |p: PathBuf| -> Result<PathBuf> {
        p.strip_prefix(dir)
            .map(Path::to_path_buf)
            .map_err(|_| Error::Internal(format!("{} is outside the task folder", p.display())))
    };
    let mut quarantine = st.quarantine.written();
    quarantine.export = quarantine.export.map(relative).transpose()?;
    quarantine.home = quarantine.home.map(relative).transpose()?;
    if let Some(t) = &st.subjects {
        t.save(&dir.join(SUBJECTS))?;
    }
    let classes = match st.classes.take() {
        Some(c) => {
            c.save(&dir.join(CLASSES))?;
            true
        }
        None => false,
    };
    let keys = match &plan.keys {
        Some(k) => {
            let (_, report) = k.finish(&plan.output_schema, None)?;
            Some(ShardKeys {
                deks: k.dek_pool.as_ref().map(|p| p.wrapped()).unwrap_or_default(),
                vault: report.vault,
            })
        }
        None => None,
    };
    let files = st
        .accounts
        .into_iter()
        .map(|a| {
            Ok(FileAccount {
                read: a.read.ok_or_else(|| {
                    Error::Internal("a shard's reader never finished a file".into())
                })?,
                counts: a.counts,
            })
        })
        .collect::<Result<_>>()?;
    let partial = Partial {
        files,
        findings: st.findings,
        cpu_seconds: st.cpu.iter().map(Duration::as_secs_f64).collect(),
        quarantine,
        by_reason: st.by_reason,
        unknown_field_rows: st.unknown_fields.0,
        unknown_field: st.unknown_fields.1,
        residual: st.tally,
        subjects: st.subjects.is_some(),
        field_detections: plan
            .assessment
            .as_ref()
            .map(|a| a.scanner.detections())
            .unwrap_or_default(),
        classes,
        parts: st.parts,
        keys,
    };
    Ok(serde_json::to_value(partial)?)
}

/// The home step's `Streamed`: every shard's partial absorbed in shard order (`shards`
/// holds each committed task folder and its partial), the parts linked into
/// `staging`, the shards' vaults merged into the pipeline's.
pub(crate) fn absorb_all(
    plan: &Plan,
    staging: &Path,
    shards: &[(PathBuf, serde_json::Value)],
    barriers: &mut [Option<Box<dyn crate::engine::BarrierStage>>],
    audit: &mut AuditLog,
) -> Result<Streamed> {
    let (tally, subjects, classes) = tallies(plan)?;
    let n = barriers.len();
    let mut st = Streamed {
        accounts: Vec::new(),
        findings: vec![Findings::default(); n],
        cpu: vec![Duration::ZERO; n],
        quarantine: QuarantineWriter::new(
            staging.join("quarantine.jsonl"),
            plan.quarantine_dir.clone(),
        ),
        by_reason: BTreeMap::new(),
        unknown_fields: (0, None),
        tally,
        subjects,
        classes,
        barriers: Vec::new(),
        parts: Vec::new(),
        keys: plan.keys.as_ref().map(|_| ShardKeys::default()),
    };
    let mut vaults = Vec::new();
    let mut present_in_shards = 0;
    for (dir, value) in shards {
        let p: Partial = serde_json::from_value(value.clone())
            .map_err(|e| Error::Data(format!("{}: not a shard's result: {e}", dir.display())))?;
        replay_audit(&dir.join(AUDIT), audit)?;
        for b in barriers.iter_mut().flatten() {
            b.absorb_shard(dir)?;
        }
        let offset = st.accounts.len() as u32;
        st.accounts.extend(p.files.into_iter().map(|mut f| {
            f.read.file += offset;
            Account {
                read: Some(f.read),
                counts: f.counts,
            }
        }));
        if p.findings.len() != n || p.cpu_seconds.len() != n {
            return Err(Error::Data(format!(
                "{}: the shard ran {} stages, the plan has {n}",
                dir.display(),
                p.findings.len()
            )));
        }
        for (i, (f, s)) in p.findings.into_iter().zip(p.cpu_seconds).enumerate() {
            st.findings[i].merge(f);
            st.cpu[i] += Duration::from_secs_f64(s);
        }
        let mut q = p.quarantine;
        q.export = q.export.map(|e| dir.join(e));
        q.home = q.home.map(|h| dir.join(h));
        st.quarantine.append_files(&q)?;
        for (reason, k) in p.by_reason {
            *st.by_reason.entry(reason).or_default() += k;
        }
        st.unknown_fields.0 += p.unknown_field_rows;
        if st.unknown_fields.1.is_none() {
            st.unknown_fields.1 = p.unknown_field;
        }
        if let (Some(t), Some(r)) = (&mut st.tally, p.residual) {
            t.merge(r);
        }
        if let (Some(t), true) = (&mut st.subjects, p.subjects) {
            t.load(&dir.join(SUBJECTS))?;
        }
        if let Some(a) = &plan.assessment {
            a.scanner.add_detections(&p.field_detections);
        }
        if let (Some(t), true) = (&mut st.classes, p.classes) {
            t.load(&dir.join(CLASSES))?;
        }
        for part in p.parts {
            st.parts
                .push(link_part(dir, staging, part, st.parts.len(), plan)?);
        }
        if let (Some(all), Some(k)) = (&mut st.keys, p.keys) {
            all.deks.extend(k.deks);
            if let Some(v) = k.vault {
                present_in_shards += v.already_present;
                vaults.push(dir.join(VAULT));
            }
        }
    }
    if st.accounts.len() != plan.inputs.len() {
        return Err(Error::Internal(format!(
            "the shards read {} files, the plan has {}",
            st.accounts.len(),
            plan.inputs.len()
        )));
    }
    if !vaults.is_empty() {
        let dest = plan
            .source
            .file
            .keys
            .as_ref()
            .and_then(|k| k.vault.as_ref())
            .ok_or_else(|| Error::Internal("shards kept vaults, the pipeline names none".into()))?;
        let merged = crate::crypto::vault::merge(Path::new(dest), &vaults)?;
        // A token one shard added and another already had counts as present, as it
        // does in one process: what the pipeline's vault lacked is what was inserted.
        if let Some(k) = &mut st.keys {
            k.vault = Some(VaultStats {
                inserted: merged.inserted,
                already_present: merged.already_present + present_in_shards,
            });
        }
    }
    Ok(st)
}

/// Re-logs a shard's audit events (without their own chain fields) into the run's log.
fn replay_audit(path: &Path, audit: &mut AuditLog) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    for (i, line) in text.lines().enumerate() {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| Error::Data(format!("{} line {}: {e}", path.display(), i + 1)))?;
        let event = match v.remove("event") {
            Some(serde_json::Value::String(e)) => e,
            _ => {
                return Err(Error::Data(format!(
                    "{} line {}: no event name",
                    path.display(),
                    i + 1
                )))
            }
        };
        for k in ["seq", "prev_sha256", "ts"] {
            v.remove(k);
        }
        audit.event(&event, serde_json::Value::Object(v))?;
    }
    Ok(())
}

/// Puts a shard's part into the export's staging folder as its `index`-th part:
/// hard-linked (the work directory and the output on one filesystem), else copied.
fn link_part(
    dir: &Path,
    staging: &Path,
    part: WrittenFile,
    index: usize,
    plan: &Plan,
) -> Result<WrittenFile> {
    let name = format!("data/part-{index:05}.{}", plan.sink.format.extension());
    let (from, to) = (dir.join(&part.path), staging.join(&name));
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    if std::fs::hard_link(&from, &to).is_err() {
        std::fs::copy(&from, &to).map_err(|e| Error::io("cannot copy", &from, e))?;
    }
    Ok(WrittenFile { path: name, ..part })
}
