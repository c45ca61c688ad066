//! The executor: runs a `Plan` and writes the export.
//!
//! ```text
//! reader thread ──bounded channel──▶ rayon: decode + row stages ──▶ sequencer
//!     (reorders by batch index) ──▶ barrier stages, quarantine, accounting ──▶ writer thread
//! ```
//! Memory: at most `2 × threads` raw chunks wait in the reader channel, at most
//! `2 × threads + 2` chunks are decoded or waiting for their turn, and two batches wait
//! for the writer; nothing else grows with the input. A Parquet row group of at most
//! `WORKER_ROW_GROUP_BYTES` (16 MiB encoded) and two batches of rows is one chunk, decoded on a worker;
//! larger ones are decoded by the reader a batch at a time.
//! Accounting: rows in are counted by the reader, quarantined rows and duplicates by the
//! sequencer, rows out by the writer; the run fails unless in = out + duplicates +
//! quarantined for every input file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use indicatif::ProgressBar;
use serde_json::json;

use crate::engine::batch::Batch;
use crate::engine::progress::{group_digits, new_bar, rows_message};
use crate::engine::residual::{GateResult, ResidualScanner, ResidualTally};
use crate::engine::{BarrierStage, Findings, RowStage, StageContext};
use crate::error::{Error, Result};
use crate::evidence::audit::AuditLog;
use crate::evidence::export::ExportDir;
use crate::evidence::manifest::Manifest;
use crate::evidence::now_rfc3339;
use crate::evidence::report::{
    FieldInfo, FileRows, InputInfo, OutputInfo, PipelineInfo, QuarantineInfo, Report, RowCounts,
    Rows, StageReport, REPORT,
};
use crate::io::jsonl::decode;
use crate::io::quarantine::QuarantineWriter;
use crate::io::schema::type_name;
use crate::io::sink::{DataSink, WrittenFile};
use crate::io::source::{read_inputs, Chunk, FileRead, ReaderConfig, ReaderEvent};
use crate::plan::Plan;

/// What a finished run tells its caller.
#[derive(Debug)]
pub struct RunSummary {
    pub output: PathBuf,
    pub rows: RowCounts,
    pub quarantined_records: u64,
    pub parts: usize,
    pub seconds: f64,
    pub warnings: Vec<String>,
}

/// Raw chunks are cut at this many bytes even if `batch_rows` is not reached, so that
/// long records do not make batches huge.
const CHUNK_BYTES: usize = 8 << 20;

struct Worked {
    /// In input order; a Parquet row group decoded on the worker can give several.
    batches: Vec<Batch>,
    findings: Vec<Findings>,
    cpu: Vec<Duration>,
}

/// The batches of a chunk, decoded.
fn decode_chunk(index: u64, chunk: Chunk, schema: &SchemaRef) -> Result<Vec<Batch>> {
    Ok(match chunk {
        Chunk::Lines(lines) => {
            let d = decode(&lines, schema)?;
            let mut b = Batch::new(index, lines.file, d.data, d.origins);
            b.absent = d.absent;
            b.rejections = d.rejections;
            vec![b]
        }
        Chunk::Arrow {
            file,
            first_row,
            batch,
        } => {
            let origins = (first_row..first_row + batch.num_rows() as u64).collect();
            vec![Batch::new(index, file, batch, origins)]
        }
        Chunk::RowGroup(job) => {
            let file = job.file;
            let (parts, rejection) = job.decode();
            let mut out: Vec<Batch> = parts
                .into_iter()
                .map(|(first_row, data)| {
                    let origins = (first_row..first_row + data.num_rows() as u64).collect();
                    Batch::new(index, file, data, origins)
                })
                .collect();
            if !rejection.is_empty() {
                match out.last_mut() {
                    Some(b) => b.rejections.extend(rejection),
                    None => {
                        let mut b = Batch::new(index, file, empty_batch(schema), Vec::new());
                        b.rejections.extend(rejection);
                        out.push(b);
                    }
                }
            }
            out
        }
        Chunk::Rejected(r) => {
            let mut b = Batch::new(index, r.file, empty_batch(schema), Vec::new());
            b.rejections.push(r);
            vec![b]
        }
    })
}

fn empty_batch(schema: &SchemaRef) -> RecordBatch {
    RecordBatch::new_empty(schema.clone())
}

/// For the tests of panic handling and of bounded memory: `DATACUSTOMS_FAULT=panic`
/// makes the first chunk's worker panic with a message quoting a stand-in for input
/// data, `DATACUSTOMS_FAULT=tail-panic` the first batch's tail (the row stages after the
/// last barrier); `slow` and `slow-tail` make them take three seconds instead (a worker
/// descheduled on a busy machine), while the other threads go on.
fn fault_injection(at: FaultAt, index: u64) {
    static FAULT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let fault = FAULT.get_or_init(|| {
        std::env::var_os("DATACUSTOMS_FAULT").map(|v| v.to_string_lossy().into_owned())
    });
    let (panic, slow) = match at {
        FaultAt::Chunk => ("panic", "slow"),
        FaultAt::Tail => ("tail-panic", "slow-tail"),
    };
    match fault.as_deref() {
        _ if index != 0 => {}
        Some(f) if f == panic => panic!("injected fault while reading 13812345678"),
        Some(f) if f == slow => std::thread::sleep(Duration::from_secs(3)),
        _ => {}
    }
}

/// Where `fault_injection` is called: a chunk's worker, or a batch's tail.
#[derive(Clone, Copy)]
enum FaultAt {
    Chunk,
    Tail,
}

/// Decodes a chunk and runs the row stages of `rows` on it (the ones before the last
/// barrier, or all of them: see `stream_input`). Runs on the rayon pool.
fn work(
    index: u64,
    chunk: Chunk,
    schema: &SchemaRef,
    rows: &[Option<Box<dyn RowStage>>],
    residual: Option<&ResidualScanner>,
    subjects: Option<&crate::evidence::assessment::SubjectScanner>,
) -> Result<Worked> {
    fault_injection(FaultAt::Chunk, index);
    let mut findings = vec![Findings::default(); rows.len()];
    let mut cpu = vec![Duration::ZERO; rows.len()];
    let mut batches = decode_chunk(index, chunk, schema)?;
    for batch in &mut batches {
        batch.attachments = (0..rows.len()).map(|_| None).collect();
        if batch.num_rows() == 0 {
            continue;
        }
        // Subjects are counted from the values as they came in, before any stage.
        if let Some(sc) = subjects {
            sc.scan(batch);
        }
        run_rows(batch, rows, residual, &mut findings, &mut cpu)?;
    }
    Ok(Worked {
        batches,
        findings,
        cpu,
    })
}

/// Runs the row stages of `rows` (by stage position; `None` is not run here) on a
/// batch, then the residual scan when there is one.
fn run_rows(
    batch: &mut Batch,
    rows: &[Option<Box<dyn RowStage>>],
    residual: Option<&ResidualScanner>,
    findings: &mut [Findings],
    cpu: &mut [Duration],
) -> Result<()> {
    for (i, stage) in rows.iter().enumerate() {
        if let Some(stage) = stage {
            if batch.num_rows() > 0 {
                let t = Instant::now();
                let empty = RecordBatch::new_empty(batch.data.schema());
                let b = std::mem::replace(batch, Batch::new(batch.index, 0, empty, Vec::new()));
                *batch = stage.process(b, &mut findings[i])?;
                cpu[i] += t.elapsed();
            }
        }
    }
    if let Some(r) = residual {
        if batch.num_rows() > 0 {
            r.scan(batch);
        }
        batch.clean = Default::default();
    }
    Ok(())
}

/// A batch that came through every barrier, after the row stages placed after the last
/// barrier ran on it (on the pool): only the rows the barriers kept are worked on.
struct Tailed {
    batch: Batch,
    findings: Vec<Findings>,
    cpu: Vec<Duration>,
}

/// The row stages after the last barrier and the residual scan, on a batch that came
/// through every barrier. Runs on the rayon pool.
fn tail_work(
    mut batch: Batch,
    rows: &[Option<Box<dyn RowStage>>],
    residual: Option<&ResidualScanner>,
) -> Result<Tailed> {
    let mut findings = vec![Findings::default(); rows.len()];
    let mut cpu = vec![Duration::ZERO; rows.len()];
    run_rows(&mut batch, rows, residual, &mut findings, &mut cpu)?;
    Ok(Tailed {
        batch,
        findings,
        cpu,
    })
}

/// What a task on the pool sends back to the coordinator.
enum Done {
    /// A chunk decoded and through the row stages before the barriers.
    Chunk(u64, Result<Worked>),
    /// The `n`th batch to come through the barriers, through the row stages after them.
    Tail(u64, Box<Result<Tailed>>),
}

/// How the sequencer reaches the pool while it passes batches through the barriers:
/// `spawn` starts the tail of the `n`th batch through them (`tail_work`), `rx` brings
/// back what the tasks send. A first pass (`observing`) has one too but never spawns:
/// its batches stop at the observing barrier.
struct Cx<'x> {
    spawn: &'x dyn Fn(u64, Batch),
    rx: &'x Receiver<Done>,
    /// Tails in flight at most (their batches in memory).
    bound: usize,
}

/// Per input file: what the reader saw and what became of the rows.
#[derive(Default)]
pub(crate) struct Account {
    pub(crate) read: Option<FileRead>,
    pub(crate) counts: RowCounts,
}

/// What streaming the input leaves for the gates and the evidence: per file its
/// account, per stage its findings and CPU time, the quarantine, the tallies the gates
/// read, the barrier stages still to finish and the data parts written. A single
/// process streams its whole input into one; a sharded run streams one per shard
/// (`map`) and its `finalize` absorbs them in shard order (`engine::partial`), so both
/// end in the same `finish_export`.
pub(crate) struct Streamed {
    pub(crate) accounts: Vec<Account>,
    pub(crate) findings: Vec<Findings>,
    pub(crate) cpu: Vec<Duration>,
    pub(crate) quarantine: QuarantineWriter,
    pub(crate) by_reason: BTreeMap<String, u64>,
    /// Rows quarantined for a field the schema does not know, and the first such field.
    pub(crate) unknown_fields: (u64, Option<String>),
    pub(crate) tally: Option<ResidualTally>,
    pub(crate) subjects: Option<crate::evidence::assessment::SubjectTally>,
    pub(crate) classes: Option<crate::evidence::kanon::ClassTally>,
    pub(crate) barriers: Vec<Option<Box<dyn BarrierStage>>>,
    pub(crate) parts: Vec<WrittenFile>,
    /// A sharded run's data keys and vault additions, gathered from its tasks; None in
    /// one process, whose own key session knows them.
    pub(crate) keys: Option<crate::crypto::run::ShardKeys>,
}

/// State of the sequencer, which runs on the calling thread.
pub(crate) struct Sequencer<'a> {
    plan: &'a Plan,
    barriers: Vec<Option<Box<dyn BarrierStage>>>,
    findings: Vec<Findings>,
    cpu: Vec<Duration>,
    reorder: BTreeMap<u64, Result<Worked>>,
    /// Chunks sent to the pool and not yet drained: on the pool, or back and waiting in
    /// `reorder` for one before them. Bounding this, not only those on the pool, bounds
    /// memory when one worker lags (descheduled on a busy machine) while the others go on.
    chunks_in_flight: usize,
    /// Whether row stages run after the barriers (`stream_input`): a batch through
    /// every barrier goes back to the pool before its rows are written.
    tail: bool,
    /// Batches sent through the tail, the next one to write, those back out of order,
    /// and how many are not written yet (on the pool or back out of order).
    tails_sent: u64,
    tails_next: u64,
    tailed: BTreeMap<u64, Box<Result<Tailed>>>,
    tails_in_flight: usize,
    /// The most chunks and tails seen back out of order at once (a debug event at the
    /// end of each pass; tests check the bound holds when a worker lags).
    most_waiting: (usize, usize),
    /// Per chunk in flight: the input bytes read when it was sent. The bar shows the
    /// bytes of the chunks processed in order, so its ETA follows the work.
    read_at: BTreeMap<u64, u64>,
    next: u64,
    accounts: Vec<Account>,
    quarantine: QuarantineWriter,
    by_reason: BTreeMap<String, u64>,
    /// Rows quarantined for a field the schema does not know, and the first such field
    /// (a path, never a value): the hint to infer the schema from the whole input.
    unknown_fields: (u64, Option<String>),
    to_writer: SyncSender<Batch>,
    bar: &'a ProgressBar,
    started: Instant,
    rows_seen: u64,
    /// In a prepass: the barrier that observes; nothing is written or accounted.
    observing: Option<usize>,
    /// Row parts run right before their barrier, after a barrier that edits values.
    late_rows: Vec<Option<Box<dyn crate::engine::RowStage>>>,
    tally: Option<ResidualTally>,
    subjects: Option<crate::evidence::assessment::SubjectTally>,
    /// k-anonymity classes of the rows written.
    classes: Option<crate::evidence::kanon::ClassTally>,
}

impl Sequencer<'_> {
    /// What the pass left, with the parts written and each file's rows out.
    pub(crate) fn into_streamed(self, parts: Vec<WrittenFile>, out_rows: &[u64]) -> Streamed {
        let mut accounts = self.accounts;
        for (acc, out) in accounts.iter_mut().zip(out_rows) {
            acc.counts.out = *out;
        }
        Streamed {
            accounts,
            findings: self.findings,
            cpu: self.cpu,
            quarantine: self.quarantine,
            by_reason: self.by_reason,
            unknown_fields: self.unknown_fields,
            tally: self.tally,
            subjects: self.subjects,
            classes: self.classes,
            barriers: self.barriers,
            parts,
            keys: None,
        }
    }

    /// Waits for one task on the pool: a chunk is kept for `drain`, a tail is written
    /// once the tails before it are.
    fn receive(&mut self, cx: &Cx<'_>) -> Result<()> {
        match cx
            .rx
            .recv()
            .map_err(|_| Error::Internal("a worker vanished".into()))?
        {
            Done::Chunk(i, w) => {
                self.reorder.insert(i, w);
                self.most_waiting.0 = self.most_waiting.0.max(self.reorder.len());
            }
            Done::Tail(n, t) => {
                self.tailed.insert(n, t);
                self.most_waiting.1 = self.most_waiting.1.max(self.tailed.len());
                while let Some(t) = self.tailed.remove(&self.tails_next) {
                    self.tails_next += 1;
                    self.tails_in_flight -= 1;
                    let Tailed {
                        batch,
                        findings,
                        cpu,
                    } = (*t)?;
                    self.add_work(findings, cpu);
                    self.write(batch)?;
                }
            }
        }
        Ok(())
    }

    /// Adds what the row stages found and took on some batches to the stages' totals.
    fn add_work(&mut self, findings: Vec<Findings>, cpu: Vec<Duration>) {
        for (i, (f, t)) in findings.into_iter().zip(cpu).enumerate() {
            // A first pass's row stages see every row again in the second: their
            // findings count once, from the pass that writes.
            if self.observing.is_none() {
                self.findings[i].merge(f);
            }
            self.cpu[i] += t;
        }
    }

    /// Hands every batch that is next in input order to the barriers and the writer.
    fn drain(&mut self, cx: &Cx<'_>) -> Result<()> {
        while let Some(worked) = self.reorder.remove(&self.next) {
            if let Some(read) = self.read_at.remove(&self.next) {
                self.bar.set_position(read);
            }
            self.next += 1;
            self.chunks_in_flight -= 1;
            let Worked {
                batches,
                findings,
                cpu,
            } = worked?;
            self.add_work(findings, cpu);
            for batch in batches {
                self.take(batch, cx)?;
            }
        }
        Ok(())
    }

    /// One batch, next in input order: to the barriers, quarantine, accounts and writer.
    fn take(&mut self, mut batch: Batch, cx: &Cx<'_>) -> Result<()> {
        if let Some(stage) = self.observing {
            let b = self.barriers[stage].as_mut().expect("an observing barrier");
            let t = Instant::now();
            b.observe(&mut batch, &mut self.findings[stage])?;
            self.cpu[stage] += t.elapsed();
            self.rows_seen += batch.num_rows() as u64;
            self.bar.set_message(rows_message(self.rows_seen));
            return Ok(());
        }
        self.through(0, batch, cx)
    }

    /// A batch through the barriers from `from` on, then to the writer. A barrier that
    /// holds batches (`BarrierStage::hold`) may pass on none, or several held before.
    fn through(&mut self, from: usize, mut batch: Batch, cx: &Cx<'_>) -> Result<()> {
        let Some(i) = (from..self.barriers.len()).find(|&i| self.barriers[i].is_some()) else {
            return self.emit(batch, cx);
        };
        let t = Instant::now();
        if let Some(Some(row)) = self.late_rows.get(i) {
            batch = row.process(batch, &mut self.findings[i])?;
        }
        self.with_barrier(i, t, cx, |b, f, out| b.hold(batch, f, out))
    }

    /// End of the pass that writes: what each barrier still holds goes on through the
    /// barriers after it, in stage order.
    fn release(&mut self, cx: &Cx<'_>) -> Result<()> {
        for i in 0..self.barriers.len() {
            if self.barriers[i].is_some() {
                self.with_barrier(i, Instant::now(), cx, |b, f, out| b.release(f, out))?;
            }
        }
        Ok(())
    }

    /// `call` on barrier `i` (since `t`), what it passes on going on through the barriers
    /// after it as it comes (a held batch is read back one at a time); that time is not
    /// the barrier's own.
    fn with_barrier(
        &mut self,
        i: usize,
        t: Instant,
        cx: &Cx<'_>,
        call: impl FnOnce(
            &mut dyn BarrierStage,
            &mut Findings,
            &mut crate::engine::PassOn<'_>,
        ) -> Result<()>,
    ) -> Result<()> {
        let mut b = self.barriers[i].take().expect("a barrier");
        let mut findings = std::mem::take(&mut self.findings[i]);
        let mut after = Duration::ZERO;
        let result = call(b.as_mut(), &mut findings, &mut |out| {
            let t = Instant::now();
            let r = self.through(i + 1, out, cx);
            after += t.elapsed();
            r
        });
        self.barriers[i] = Some(b);
        self.findings[i] = findings;
        self.cpu[i] += t.elapsed().saturating_sub(after);
        result
    }

    /// A batch through every barrier: its rejections to the quarantine and its
    /// duplicates to the accounts, then (through the tail on the pool, when there is
    /// one, in order) its rows to the tallies and the writer.
    fn emit(&mut self, mut batch: Batch, cx: &Cx<'_>) -> Result<()> {
        let file = batch.file as usize;
        let name = &self.plan.inputs[file].display;
        for r in std::mem::take(&mut batch.rejections) {
            if self.plan.strict {
                return Err(Error::Data(format!(
                    "{} — stopped by --strict; without it the record is quarantined and the run goes on",
                    r.describe(name)
                )));
            }
            self.quarantine.write(&r, name)?;
            self.accounts[file].counts.quarantined += r.rows;
            *self.by_reason.entry(r.reason.to_string()).or_default() += 1;
            if let Some(field) = r
                .detail
                .strip_prefix("field ")
                .and_then(|d| d.strip_suffix(" is not in the schema"))
            {
                self.unknown_fields.0 += r.rows;
                self.unknown_fields
                    .1
                    .get_or_insert_with(|| field.to_string());
            }
        }
        self.accounts[file].counts.duplicates += batch.duplicates;
        if !self.tail {
            return self.write(batch);
        }
        batch.attachments.clear();
        (cx.spawn)(self.tails_sent, batch);
        self.tails_sent += 1;
        self.tails_in_flight += 1;
        while self.tails_in_flight >= cx.bound {
            self.receive(cx)?;
        }
        Ok(())
    }

    /// A batch ready to leave: its residual hits and subjects to the tallies, its rows
    /// to the k-anonymity classes and the writer.
    fn write(&mut self, mut batch: Batch) -> Result<()> {
        if let Some(t) = &mut self.tally {
            t.add(&mut batch);
        }
        if let Some(t) = &mut self.subjects {
            t.add(&mut batch);
        }
        self.rows_seen += batch.num_rows() as u64;
        self.bar.set_message(rows_message(self.rows_seen));
        if batch.num_rows() > 0 {
            if let Some(c) = &mut self.classes {
                c.add(&batch.data)?;
            }
            batch.attachments.clear();
            self.to_writer
                .send(batch)
                .map_err(|_| Error::Internal("the writer stopped".into()))?;
        }
        Ok(())
    }
}

/// Runs the plan: reads, transforms and writes, then writes the evidence and moves the
/// export into place. On any error nothing is left at the output path.
pub fn run(mut plan: Plan) -> Result<RunSummary> {
    let clock = Clock::start();
    let export =
        ExportDir::prepare_waiting(&plan.output_dir, plan.overwrite, &plan.run_id, plan.wait)?;
    let staging = export.staging.clone();
    let mut audit = open_audit(&plan, &staging)?;

    let total_bytes: u64 = plan.inputs.iter().map(|f| f.bytes).sum();
    let bar = new_bar(total_bytes, plan.quiet);
    let stage_meta = stage_meta(&plan);
    let stages = std::mem::take(&mut plan.stages);
    let (seq, parts, out_rows) =
        stream_input(&plan, stages, &staging, &mut audit, &bar, clock.instant)?;
    tracing::info!(
        rows = seq.rows_seen,
        seconds = (seq.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "input read; checking the gates"
    );
    let streamed = seq.into_streamed(parts, &out_rows);
    finish_export(&plan, &stage_meta, export, audit, streamed, clock)
}

/// When a run started: the instant for its durations, the time for its report.
pub(crate) struct Clock {
    pub(crate) instant: Instant,
    at: String,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            instant: Instant::now(),
            at: now_rfc3339(),
        }
    }
}

/// Each stage's type and kind, for the report and the audit log.
pub(crate) fn stage_meta(plan: &Plan) -> Vec<(&'static str, &'static str)> {
    plan.stages
        .iter()
        .map(|s| (s.type_name, s.kind()))
        .collect()
}

/// Everything after the input is through: the gates, the barrier stages' finish (only
/// for an accepted export), reconciliation, the evidence and the commit, refused or
/// accepted.
pub(crate) fn finish_export(
    plan: &Plan,
    stage_meta: &[(&str, &str)],
    export: ExportDir,
    mut audit: AuditLog,
    mut st: Streamed,
    clock: Clock,
) -> Result<RunSummary> {
    let staging = export.staging.clone();
    // The gates known once every row is through: residual PII, k-anonymity,
    // quarantine and the year's mechanism. Checked before any barrier finishes, so a
    // refused export spends no DP budget.
    let Gates {
        mut refusal,
        residual,
        k_anonymity,
    } = check_gates(plan, &mut st, &mut audit)?;
    // Barriers finish (DP noise is drawn and budget spent, files are written) only for an
    // export the gates accept: a refused run spends no budget.
    let stage_files = if refusal.is_none() {
        finish_barriers(&mut st)?
    } else {
        Vec::new()
    };
    tracing::info!("writing the report, audit log and manifest");
    let unfinished = refusal.is_some() && st.barriers.iter().any(Option::is_some);

    // Reconciliation, per file and in total.
    let mut warnings = plan.warnings.clone();
    warnings.extend(late_field_warning(plan, &st.unknown_fields));
    if unfinished {
        warnings.push(
            "refused before the barrier stages finished: no DP release was drawn or recorded, no stage file written".into(),
        );
    }
    let (total, files) = reconcile(plan, &mut st.accounts, &mut warnings)?;

    if !plan.write_rows {
        remove_data_dir(&staging)?;
    }
    // Evidence: quarantine, report, audit, manifest — in that order, manifest last.
    let quarantine_home = st.quarantine.home_dir().display().to_string();
    let written = record_written(
        &staging,
        &mut audit,
        &st.parts,
        &stage_files,
        &mut st.quarantine,
    )?;
    for (i, (type_name, _)) in stage_meta.iter().enumerate() {
        audit.event(
            "stage_finished",
            json!({ "index": i, "type": type_name, "findings": st.findings[i] }),
        )?;
    }

    // Keys: the vault is flushed before the export can be committed, so no export ships
    // tokens its vault lacks; the envelope goes into the manifest.
    let (envelope, keys_report) = finish_keys(plan, st.keys.take(), &mut audit)?;
    // The assessment: this export's subjects, and the year's, through the year ledger;
    // the ledger keeps this export's subjects only if the export is not refused.
    let assessment = match (&plan.assessment, st.subjects.take()) {
        (Some(a), Some(tally)) => Some(assess(
            plan,
            a,
            &tally,
            &mut refusal,
            &mut audit,
            keys_report.as_ref(),
            k_anonymity.as_ref(),
        )?),
        _ => None,
    };
    let report = Report {
        report_version: 1,
        tool: "datacustoms",
        tool_version: env!("CARGO_PKG_VERSION"),
        run_id: plan.run_id.clone(),
        status: if refusal.is_some() {
            "refused"
        } else {
            "complete"
        }
        .into(),
        pipeline: pipeline_info(plan),
        started_at: clock.at,
        finished_at: now_rfc3339(),
        seconds: clock.instant.elapsed().as_secs_f64(),
        threads: plan.threads,
        peak_memory_bytes: crate::evidence::report::peak_memory_bytes(),
        input: input_info(plan, &files),
        output: output_info(plan, &st.parts),
        rows: Rows {
            total: total.clone(),
            reconciled: true,
            files,
        },
        quarantine: quarantine_info(&st, quarantine_home),
        stages: stage_reports(stage_meta, &st),
        residual,
        keys: keys_report.clone(),
        techniques: plan.techniques.clone(),
        assessment,
        gate: gate_settings(plan),
        refused: refusal.clone().into_iter().collect(),
        warnings: warnings.clone(),
    };
    if let Some(reason) = &refusal {
        return Err(commit_refused(
            plan, &staging, export, audit, &report, reason,
        )?);
    }
    commit_accepted(
        plan,
        &staging,
        export,
        audit,
        &report,
        written,
        &total,
        keys_report,
        envelope,
    )?;

    log_finished(plan, &total, st.quarantine.records);
    Ok(RunSummary {
        output: plan.output_dir.clone(),
        rows: total,
        quarantined_records: st.quarantine.records,
        parts: st.parts.len(),
        seconds: clock.instant.elapsed().as_secs_f64(),
        warnings,
    })
}

/// Reads the whole input through the stages (two passes when a barrier needs a first
/// look) and writes the export's data files: the stages' rows go through the row stages
/// on the worker pool, back into input order in the sequencer, through the barriers and
/// to the writer. Returns the sequencer (the accounts, tallies and barriers the gates and
/// the report read), the written files and the rows in each.
pub(crate) fn stream_input<'a>(
    plan: &'a Plan,
    stages: Vec<crate::engine::StageRunner>,
    staging: &std::path::Path,
    audit: &mut AuditLog,
    bar: &'a ProgressBar,
    started: Instant,
) -> Result<(Sequencer<'a>, Vec<WrittenFile>, Vec<u64>)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .thread_name(|i| format!("datacustoms-worker-{i}"))
        .build()
        .map_err(|e| Error::Internal(format!("cannot start worker threads: {e}")))?;
    let n_stages = stages.len();
    let names: Vec<&str> = stages.iter().map(|s| s.type_name).collect();
    let (mut rows_stages, barriers): (Vec<_>, Vec<_>) =
        stages.into_iter().map(|s| (s.row, s.barrier)).unzip();
    // The row part of a barrier stage after one that edits values runs in the barrier
    // chain, on the values as that stage left them (`BarrierStage::edits_values`).
    let mut late_rows: Vec<Option<Box<dyn crate::engine::RowStage>>> =
        (0..n_stages).map(|_| None).collect();
    if let Some(first) = barriers
        .iter()
        .position(|b| b.as_ref().is_some_and(|b| b.edits_values()))
    {
        for j in first + 1..n_stages {
            if barriers[j].is_some() {
                late_rows[j] = rows_stages[j].take();
            }
        }
    }

    // The row stages after the last barrier run on the rows it passes on, not before
    // it: a duplicate dedup drops is then never de-identified, pseudonymized,
    // encrypted or scanned for residual PII. The row stages before it run on the pool
    // ahead of every barrier, as the barriers read only what their own row parts
    // attached (`Batch::attachments`).
    let mut tail: Vec<Option<Box<dyn crate::engine::RowStage>>> =
        (0..n_stages).map(|_| None).collect();
    let last_barrier = barriers.iter().rposition(Option::is_some);
    if let Some(last) = last_barrier {
        for j in last + 1..n_stages {
            tail[j] = rows_stages[j].take();
        }
    }

    let reader_cfg = reader_config(plan);
    let (raw_tx, raw_rx) = sync_channel::<ReaderEvent>(plan.threads * 2);
    let (write_tx, write_rx) = sync_channel::<Batch>(2);
    let sink = DataSink::new(
        staging.to_path_buf(),
        plan.output_schema.clone(),
        plan.sink.clone(),
    )?;
    let mut seq = new_sequencer(plan, staging, barriers, n_stages, write_tx, bar, started)?;
    seq.late_rows = late_rows;
    seq.tail = last_barrier.is_some();
    let ctx = stage_context(plan, staging);
    for b in seq.barriers.iter_mut().flatten() {
        b.open(&ctx)?;
    }
    let prepass = seq
        .barriers
        .iter()
        .position(|b| b.as_ref().is_some_and(|b| b.needs_prepass()));
    let pass = Pass {
        plan,
        pool: &pool,
        reader_cfg: &reader_cfg,
        rows_stages: &rows_stages,
        tail: &tail,
    };
    if let Some(stage) = prepass {
        first_pass(&pass, stage, &mut seq, audit, names[stage])?;
        bar.reset();
        tracing::info!("second pass");
    }
    let (coordinated, reader_result, writer_result) =
        main_pass(&pass, &mut seq, audit, (raw_tx, raw_rx), write_rx, sink);
    bar.finish_and_clear();
    // When the writer failed, the coordinator only saw its channel close: report the
    // writer's own error, which says what went wrong.
    let writer_result = match (coordinated.is_err(), writer_result) {
        (true, Err(e)) => return Err(e),
        (_, w) => w,
    };
    coordinated?;
    reader_result?;
    let (parts, out_rows) = writer_result?;
    Ok((seq, parts, out_rows))
}

/// The sequencer of a run: it puts finished batches back in input order, feeds the
/// barrier stages and the writer, and keeps the per-file accounts, the quarantine and
/// the tallies the gates read.
#[allow(clippy::too_many_arguments)]
fn new_sequencer<'a>(
    plan: &'a Plan,
    staging: &std::path::Path,
    barriers: Vec<Option<Box<dyn BarrierStage>>>,
    n_stages: usize,
    write_tx: SyncSender<Batch>,
    bar: &'a ProgressBar,
    started: Instant,
) -> Result<Sequencer<'a>> {
    let (tally, subjects, classes) = tallies(plan)?;
    Ok(Sequencer {
        plan,
        barriers,
        findings: vec![Findings::default(); n_stages],
        cpu: vec![Duration::ZERO; n_stages],
        reorder: BTreeMap::new(),
        chunks_in_flight: 0,
        tail: false,
        tails_sent: 0,
        tails_next: 0,
        tailed: BTreeMap::new(),
        tails_in_flight: 0,
        most_waiting: (0, 0),
        read_at: BTreeMap::new(),
        next: 0,
        accounts: (0..plan.inputs.len()).map(|_| Account::default()).collect(),
        quarantine: QuarantineWriter::new(
            staging.join("quarantine.jsonl"),
            plan.quarantine_dir.clone(),
        ),
        by_reason: BTreeMap::new(),
        unknown_fields: (0, None),
        to_writer: write_tx,
        bar,
        started,
        rows_seen: 0,
        observing: None,
        late_rows: Vec::new(),
        tally,
        subjects,
        classes,
    })
}

/// The tallies the gates read, empty: the residual PII found in the rows written, their
/// subjects and their k-anonymity classes (each only when the pipeline asks for it).
#[allow(clippy::type_complexity)]
pub(crate) fn tallies(
    plan: &Plan,
) -> Result<(
    Option<ResidualTally>,
    Option<crate::evidence::assessment::SubjectTally>,
    Option<crate::evidence::kanon::ClassTally>,
)> {
    let classes = match &plan.assessment {
        Some(a) if plan.write_rows && !a.cfg.quasi_identifiers.is_empty() => Some(
            crate::evidence::kanon::ClassTally::new(
                &plan.output_schema,
                &a.cfg.quasi_identifiers,
                a.cfg.sensitive_attribute.as_deref(),
                a.min_k,
            )
            .map(|t| match plan.sink.format {
                crate::config::Format::Jsonl | crate::config::Format::Csv => t.for_jsonl(),
                crate::config::Format::Parquet => t,
            })
            .map_err(Error::Config)?,
        ),
        _ => None,
    };
    Ok((
        plan.residual
            .as_ref()
            .map(|r| ResidualTally::new(r.field_names())),
        plan.assessment.as_ref().map(|_| Default::default()),
        classes,
    ))
}

/// Opens the run's audit log in the staging folder with its `run_started` event, and
/// logs the plan's warnings and the plan itself.
pub(crate) fn open_audit(plan: &Plan, staging: &std::path::Path) -> Result<AuditLog> {
    let mut audit = AuditLog::create(staging.join("audit.jsonl"))?;
    if !plan.write_rows {
        audit.redact_counts();
    }
    audit.event(
        "run_started",
        json!({
            "run_id": plan.run_id,
            "tool_version": env!("CARGO_PKG_VERSION"),
            "pipeline": plan.source.path.display().to_string(),
            "pipeline_sha256": plan.source.sha256,
            "inputs": plan.inputs.len(),
            "threads": plan.threads,
            "strict": plan.strict,
        }),
    )?;
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(
        run_id = %plan.run_id,
        inputs = plan.inputs.len(),
        threads = plan.threads,
        "run started"
    );
    log_plan(plan);
    Ok(audit)
}

/// Audits every file the run wrote before its evidence: the data parts, the barrier
/// stages' files and the quarantine (finished here). Returns them, hashed, for the
/// manifest.
fn record_written(
    staging: &std::path::Path,
    audit: &mut AuditLog,
    parts: &[WrittenFile],
    stage_files: &[crate::engine::StageFile],
    quarantine: &mut QuarantineWriter,
) -> Result<Vec<WrittenFile>> {
    let mut written: Vec<WrittenFile> = parts.to_vec();
    for sf in stage_files {
        written.push(hash_file(staging, &sf.path, sf.rows)?);
    }
    if quarantine.finish()? {
        written.push(hash_file(
            staging,
            "quarantine.jsonl",
            Some(quarantine.records),
        )?);
    }
    for f in &written {
        audit.event(
            "file_written",
            json!({ "path": f.path, "sha256": f.sha256, "bytes": f.bytes, "rows": f.rows }),
        )?;
    }
    Ok(written)
}

/// How the reader cuts the inputs: batch and chunk sizes, the schema it decodes with
/// and the projection.
fn reader_config(plan: &Plan) -> ReaderConfig {
    ReaderConfig {
        batch_rows: plan.batch_rows,
        chunk_bytes: CHUNK_BYTES,
        schema: plan
            .file_schema
            .clone()
            .unwrap_or_else(|| plan.schema.clone()),
        projection: plan.projection.clone(),
        worker_row_group_bytes: crate::io::source::WORKER_ROW_GROUP_BYTES,
    }
}

/// What the barrier stages are told when they open: the staging folder, the inputs,
/// the run id and the pipeline's name.
pub(crate) fn stage_context(plan: &Plan, staging: &std::path::Path) -> StageContext {
    StageContext {
        staging: staging.to_path_buf(),
        inputs: plan
            .inputs
            .iter()
            .map(|f| (f.display.clone(), f.format))
            .collect(),
        run_id: plan.run_id.clone(),
        inputs_digest: inputs_digest(&plan.inputs),
        pipeline: plan
            .source
            .file
            .name
            .clone()
            .unwrap_or_else(|| plan.source.path.display().to_string()),
        threads: plan.threads,
    }
}

/// Removes the staging folder's `data` (an aggregates-only or a refused export ships
/// none).
fn remove_data_dir(staging: &std::path::Path) -> Result<()> {
    let data = staging.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data).map_err(|e| Error::io("cannot remove", &data, e))?;
    }
    Ok(())
}

/// The closing log lines: the row counts, and where quarantined rows went.
fn log_finished(plan: &Plan, total: &RowCounts, quarantined_records: u64) {
    tracing::info!(
        rows_in = total.rows_in,
        rows_out = total.out,
        duplicates = total.duplicates,
        quarantined = total.quarantined,
        "run finished"
    );
    if total.quarantined > 0 {
        tracing::warn!(
            "{} rows quarantined ({} records); reasons in {}/quarantine.jsonl, raw records at home in {}",
            group_digits(total.quarantined),
            quarantined_records,
            plan.output_dir.display(),
            plan.quarantine_dir.display()
        );
    }
}

/// The report's `pipeline` section.
fn pipeline_info(plan: &Plan) -> PipelineInfo {
    PipelineInfo {
        name: plan.source.file.name.clone(),
        path: plan.source.path.display().to_string(),
        sha256: plan.source.sha256.clone(),
    }
}

/// The report's `quarantine` section (the home folder only when something went there).
fn quarantine_info(seq: &Streamed, home_dir: String) -> QuarantineInfo {
    QuarantineInfo {
        records: seq.quarantine.records,
        rows: seq.quarantine.rows,
        by_reason: seq.by_reason.clone(),
        home_dir: (seq.quarantine.records > 0).then_some(home_dir),
    }
}

/// The report's `input` section.
fn input_info(plan: &Plan, files: &[FileRows]) -> InputInfo {
    InputInfo {
        format: plan.input_format.extension().into(),
        schema_source: plan.schema_source.clone(),
        schema: field_infos(&plan.schema),
        files: plan.inputs.len(),
        bytes: files.iter().map(|f| f.bytes).sum(),
    }
}

/// The report's `output` section.
fn output_info(plan: &Plan, parts: &[WrittenFile]) -> OutputInfo {
    OutputInfo {
        format: plan.sink.format.extension().into(),
        schema: field_infos(&plan.output_schema),
        parts: parts.len(),
        bytes: parts.iter().map(|p| p.bytes).sum(),
        rows_written: plan.write_rows,
    }
}

/// One report entry per stage: its type, kind, CPU time and findings.
fn stage_reports(stage_meta: &[(&str, &str)], seq: &Streamed) -> Vec<StageReport> {
    stage_meta
        .iter()
        .enumerate()
        .map(|(i, (t, k))| StageReport {
            index: i,
            type_name: t.to_string(),
            kind: k.to_string(),
            cpu_seconds: seq.cpu[i].as_secs_f64(),
            findings: seq.findings[i].clone(),
        })
        .collect()
}

/// The report's `gate` section: the gates the pipeline set, or none.
fn gate_settings(plan: &Plan) -> Option<serde_json::Value> {
    let g = json!({
        "max_residual": plan.max_residual,
        "max_quarantined": plan.max_quarantined,
        "max_mechanism": plan.assessment.as_ref().and_then(|a| a.max_mechanism.clone()),
        "min_k": plan.assessment.as_ref().and_then(|a| a.min_k),
    });
    g.as_object()
        .is_some_and(|o| o.values().any(|v| !v.is_null()))
        .then_some(g)
}

/// The report's description of a schema's fields.
fn field_infos(s: &SchemaRef) -> Vec<FieldInfo> {
    s.fields()
        .iter()
        .map(|f| FieldInfo {
            name: f.name().clone(),
            data_type: type_name(f.data_type()),
        })
        .collect()
}

/// What every pass over the input shares: the plan, the worker pool, the reader's
/// settings and the row stages.
#[derive(Clone, Copy)]
struct Pass<'a> {
    plan: &'a Plan,
    pool: &'a rayon::ThreadPool,
    reader_cfg: &'a ReaderConfig,
    rows_stages: &'a [Option<Box<dyn RowStage>>],
    /// The row stages after the last barrier (by stage position), run on what it passes on.
    tail: &'a [Option<Box<dyn RowStage>>],
}

/// The first pass of a run whose barrier stage `stage` must read the whole input
/// before deciding (`needs_prepass`): the row stages up to it run and it observes;
/// nothing is written. The sequencer is reset for the second pass.
fn first_pass(
    pass: &Pass<'_>,
    stage: usize,
    seq: &mut Sequencer<'_>,
    audit: &mut AuditLog,
    stage_name: &str,
) -> Result<()> {
    let rows_stages = &pass.rows_stages[..=stage];
    tracing::info!(
        stage = stage + 1,
        "first pass: stage {} ({}) reads the whole input before deciding",
        stage + 1,
        stage_name
    );
    seq.observing = Some(stage);
    let inputs = &pass.plan.inputs;
    let (tx, rx) = sync_channel::<ReaderEvent>(pass.plan.threads * 2);
    let (observed, read) = std::thread::scope(|s| {
        let cfg = pass.reader_cfg;
        // The reader counts on a bar of its own; the shown one follows the work.
        let reader = s.spawn(move || read_inputs(inputs, cfg, &tx, &ProgressBar::hidden()));
        let observed = catch_panic(|| coordinate(pass.pool, rx, rows_stages, &[], seq, audit));
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("reader panicked".into())));
        (observed, read)
    });
    observed?;
    read?;
    let b = seq.barriers[stage].as_mut().expect("an observing barrier");
    b.end_prepass(&mut seq.findings[stage])?;
    seq.observing = None;
    seq.next = 0;
    seq.read_at.clear();
    seq.rows_seen = 0;
    Ok(())
}

/// The pass that writes: a reader thread, the worker pool through `coordinate`, and a
/// writer thread that owns the sink. Returns the coordinator's, the reader's and the
/// writer's results (the parts written and the rows out per input file).
#[allow(clippy::type_complexity)]
fn main_pass(
    pass: &Pass<'_>,
    seq: &mut Sequencer<'_>,
    audit: &mut AuditLog,
    (raw_tx, raw_rx): (SyncSender<ReaderEvent>, Receiver<ReaderEvent>),
    write_rx: Receiver<Batch>,
    sink: DataSink,
) -> (Result<()>, Result<()>, Result<(Vec<WrittenFile>, Vec<u64>)>) {
    std::thread::scope(|s| {
        let inputs = &pass.plan.inputs;
        let cfg = pass.reader_cfg;
        let reader = s.spawn(move || read_inputs(inputs, cfg, &raw_tx, &ProgressBar::hidden()));
        let write_rows = pass.plan.write_rows;
        let writer = s.spawn(move || -> Result<(Vec<WrittenFile>, Vec<u64>)> {
            let mut sink = sink;
            let mut out = vec![0u64; inputs.len()];
            for batch in write_rx {
                // An aggregates-only export counts its rows but writes none.
                if write_rows {
                    sink.write(&batch.data, &batch.absent)?;
                }
                out[batch.file as usize] += batch.num_rows() as u64;
            }
            let parts = if write_rows {
                sink.finish()?
            } else {
                drop(sink);
                Vec::new()
            };
            Ok((parts, out))
        });
        // A panic in a stage must not leave the writer waiting for a channel that
        // never closes: catch it here, close the channel, and report it as an error.
        let coordinated =
            catch_panic(|| coordinate(pass.pool, raw_rx, pass.rows_stages, pass.tail, seq, audit));
        // Closing the writer's channel lets it finish; the reader ends when its receiver
        // (owned by `coordinate`) is gone.
        let Sequencer { to_writer, .. } = seq;
        drop(std::mem::replace(to_writer, sync_channel(0).0));
        let reader_result = reader
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("reader panicked".into())));
        let writer_result = writer
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("writer panicked".into())));
        (coordinated, reader_result, writer_result)
    })
}

/// What the gates decided once every row was through.
struct Gates {
    /// Why the export is refused, if it is.
    refusal: Option<String>,
    /// The residual-PII section of the report.
    residual: serde_json::Value,
    k_anonymity: Option<crate::evidence::kanon::KAnonymity>,
}

/// The gates known once every row is through: residual PII against `max_residual`,
/// k-anonymity against `min_k`, the quarantine limit, and the mechanism the year
/// would need against `max_mechanism` (checked without adding to the year ledger; the
/// real addition comes once the export is accepted).
fn check_gates(plan: &Plan, seq: &mut Streamed, audit: &mut AuditLog) -> Result<Gates> {
    let mut refusal = None;
    let residual = match seq.tally.take() {
        Some(mut t) => {
            if let Some(max) = plan.max_residual {
                let passed = t.hits <= max;
                if !passed {
                    refusal = Some(format!(
                        "residual PII: {} detections remain in the export ({}), more than [gate] max_residual = {max}",
                        t.hits,
                        t.by_type
                            .iter()
                            .map(|(k, v)| format!("{k} {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                t.gate = Some(GateResult {
                    max_residual: max,
                    passed,
                });
            }
            serde_json::to_value(&t)?
        }
        None => {
            json!({ "scanned": false, "reason": "no de-identification stage and no [gate] in this pipeline" })
        }
    };
    // k-anonymity of the rows written, against [gate] min_k.
    let k_anonymity = match seq.classes.take() {
        Some(c) => {
            let k = c.finish()?;
            if k.passed == Some(false) {
                refusal.get_or_insert_with(|| {
                    format!(
                        "k-anonymity: the smallest class of ({}) holds {} record(s), below [gate] min_k = {} ({} records are in classes smaller than {})",
                        k.quasi_identifiers.join(", "),
                        k.k.unwrap_or(0),
                        k.min_k.unwrap_or(0),
                        k.records_in_classes_below.get(&k.min_k.unwrap_or(0).to_string()).copied().unwrap_or(0),
                        k.min_k.unwrap_or(0),
                    )
                });
            }
            audit.event(
                "k_anonymity",
                json!({ "quasi_identifiers": k.quasi_identifiers, "k": k.k, "l": k.l, "classes": k.classes, "min_k": k.min_k }),
            )?;
            Some(k)
        }
        None => None,
    };
    if refusal.is_none() {
        refusal = quarantine_refusal(plan, seq);
    }
    // The mechanism the year would need, checked without adding anything to the year
    // ledger (the real addition comes once the export is accepted).
    if refusal.is_none() {
        if let (Some(a), Some(tally)) = (&plan.assessment, &seq.subjects) {
            if let Some(max) = &a.max_mechanism {
                let path = std::path::PathBuf::from(&a.cfg.year_ledger);
                let mut ledger = crate::evidence::assessment::YearLedger::open(&path)?;
                let (yn, ys, _) = ledger.add(
                    &a.cfg.exporter,
                    a.year,
                    &plan.run_id,
                    None,
                    tally,
                    |_, _, _| false,
                )?;
                let (ym, _) = crate::evidence::assessment::mechanism(yn, ys, &a.cfg.declares);
                if crate::evidence::assessment::rank(ym) > crate::evidence::assessment::rank(max) {
                    refusal = Some(format!(
                        "cross-border rule: this year's totals ({yn} people, {ys} with sensitive PI) need `{ym}`, more than [gate] max_mechanism = {max}"
                    ));
                }
            }
        }
    }
    Ok(Gates {
        refusal,
        residual,
        k_anonymity,
    })
}

/// Finishes the barrier stages (DP noise is drawn and budget spent, stage files are
/// written): only for an export the gates accept.
fn finish_barriers(seq: &mut Streamed) -> Result<Vec<crate::engine::StageFile>> {
    let mut stage_files = Vec::new();
    for (i, b) in seq.barriers.iter_mut().enumerate() {
        if let Some(b) = b {
            tracing::info!(stage = i + 1, "finishing stage {}", i + 1);
            let started = std::time::Instant::now();
            let files = b.finish(&mut seq.findings[i])?;
            tracing::debug!(
                stage = i + 1,
                files = files.len(),
                seconds = started.elapsed().as_secs_f64(),
                "stage finished"
            );
            stage_files.extend(files);
        }
    }
    Ok(stage_files)
}

/// Commits a refused export: it keeps its evidence (report, audit, quarantine) but no
/// data and no manifest, so nothing in it can be mistaken for a shippable export.
/// Returns the error the run ends with.
fn commit_refused(
    plan: &Plan,
    staging: &std::path::Path,
    export: ExportDir,
    mut audit: AuditLog,
    report: &Report,
    reason: &str,
) -> Result<Error> {
    // A refused export keeps its evidence (report, audit, quarantine) but no data
    // and no manifest, so nothing in it can be mistaken for a shippable export.
    remove_data_dir(staging)?;
    let mut text = shipped_report(report, plan)?;
    text.push(b'\n');
    let report_path = staging.join(REPORT);
    std::fs::write(&report_path, &text).map_err(|e| Error::io("cannot write", &report_path, e))?;
    audit.event("run_refused", json!({ "reason": reason }))?;
    audit.close()?;
    export.commit()?;
    Ok(Error::Refused(format!(
        "export refused, no data or manifest written to {}: {reason}",
        plan.output_dir.display()
    )))
}

/// Commits an accepted export: the report as it ships (JSON, and the HTML page a
/// reviewer reads), the closed audit log and the manifest of every file, signed; then
/// the staging folder becomes the export.
#[allow(clippy::too_many_arguments)]
fn commit_accepted(
    plan: &Plan,
    staging: &std::path::Path,
    export: ExportDir,
    mut audit: AuditLog,
    report: &Report,
    mut written: Vec<WrittenFile>,
    total: &RowCounts,
    keys_report: Option<crate::crypto::run::KeysReport>,
    envelope: Option<crate::crypto::run::Envelope>,
) -> Result<()> {
    let mut text = shipped_report(report, plan)?;
    text.push(b'\n');
    let report_path = staging.join(REPORT);
    std::fs::write(&report_path, &text).map_err(|e| Error::io("cannot write", &report_path, e))?;
    let rep = hash_file(staging, REPORT, None)?;
    audit.event(
        "report_written",
        json!({ "path": rep.path, "sha256": rep.sha256 }),
    )?;
    written.push(rep);
    // The declaration a reviewer reads, from the report as it ships.
    let shipped: serde_json::Value = serde_json::from_slice(&text)?;
    let html = crate::evidence::html::render(&shipped, staging, plan.lang);
    let html_path = staging.join(crate::evidence::html::FILE);
    std::fs::write(&html_path, html).map_err(|e| Error::io("cannot write", &html_path, e))?;
    let page = hash_file(staging, crate::evidence::html::FILE, None)?;
    audit.event(
        "report_html_written",
        json!({ "path": page.path, "sha256": page.sha256 }),
    )?;
    written.push(page);
    audit.event(
        "run_finished",
        json!({
            "rows_in": total.rows_in, "rows_out": total.out,
            "duplicates": total.duplicates, "quarantined": total.quarantined,
        }),
    )?;
    audit.close()?;
    written.push(hash_file(staging, "audit.jsonl", None)?);

    let manifest = Manifest {
        manifest_version: 1,
        tool: "datacustoms".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run_id: plan.run_id.clone(),
        created_at: now_rfc3339(),
        pipeline_sha256: plan.source.sha256.clone(),
        rows: if plan.write_rows { total.out } else { 0 },
        files: written,
        key_ids: keys_report.map(|k| k.key_ids).unwrap_or_default(),
        audit_head: crate::evidence::audit::head(&staging.join("audit.jsonl"))?,
        encryption: envelope,
    };
    manifest.write(staging)?;
    let signer = match (&plan.keys, &plan.signer) {
        (Some(k), _) => k.ring.primary(),
        (None, Some(r)) => r.primary(),
        (None, None) => return Err(Error::Internal("no key to sign the manifest with".into())),
    };
    crate::evidence::signature::sign(staging, signer)?;
    export.commit()?;
    Ok(())
}

/// Reconciliation, per file and in total: every file's rows in must equal its rows out
/// plus duplicates plus quarantined, or the run fails with no export. Returns the
/// totals and each file's record for the report; empty and unreadable files add a
/// warning.
fn reconcile(
    plan: &Plan,
    accounts: &mut [Account],
    warnings: &mut Vec<String>,
) -> Result<(RowCounts, Vec<FileRows>)> {
    let mut total = RowCounts::default();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (i, acc) in accounts.iter_mut().enumerate() {
        let input = &plan.inputs[i];
        let read = acc.read.take().ok_or_else(|| {
            Error::Internal(format!(
                "{}: the reader never finished this file",
                input.display
            ))
        })?;
        acc.counts.rows_in = read.rows;
        acc.counts.blank_lines = read.blank_lines;
        if !acc.counts.reconciles() {
            let c = &acc.counts;
            problems.push(format!(
                "{}: rows in {} != out {} + duplicates {} + quarantined {}",
                input.display, c.rows_in, c.out, c.duplicates, c.quarantined
            ));
        }
        if read.rows == 0 && read.unreadable.is_none() {
            warnings.push(format!("{}: no records (empty file)", input.display));
        }
        if let Some(u) = &read.unreadable {
            warnings.push(format!("{}: {u}", input.display));
        }
        tracing::debug!(
            file = %input.display,
            rows_in = acc.counts.rows_in,
            out = acc.counts.out,
            duplicates = acc.counts.duplicates,
            quarantined = acc.counts.quarantined,
            "reconciled"
        );
        total.add(&acc.counts);
        files.push(FileRows {
            path: input.display.clone(),
            bytes: read.bytes,
            sha256: read.sha256,
            rows: acc.counts.clone(),
            unreadable: read.unreadable,
        });
    }
    if !problems.is_empty() || !total.reconciles() {
        return Err(Error::Internal(format!(
            "reconciliation failed, so no export was written (this is a bug; please report it):\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok((total, files))
}

/// Flushes the vault and closes the key session: the envelope for the manifest and the
/// keys section of the report, each audited.
fn finish_keys(
    plan: &Plan,
    shards: Option<crate::crypto::run::ShardKeys>,
    audit: &mut AuditLog,
) -> Result<(
    Option<crate::crypto::run::Envelope>,
    Option<crate::crypto::run::KeysReport>,
)> {
    Ok(match &plan.keys {
        Some(k) => {
            let (env, rep) = k.finish(&plan.output_schema, shards)?;
            if let Some(v) = &rep.vault {
                audit.event(
                    "vault_updated",
                    json!({ "inserted": v.inserted, "already_present": v.already_present }),
                )?;
            }
            audit.event(
                "keys_used",
                json!({ "key_ids": rep.key_ids, "scope": rep.scope, "data_keys": rep.data_keys }),
            )?;
            (env, Some(rep))
        }
        None => (None, None),
    })
}

/// The cross-border assessment: this export's distinct and sensitive subjects, and the
/// year's through the year ledger, which keeps this export's subjects only if the
/// export is not refused. A year total that needs more than `[gate] max_mechanism`
/// refuses the export.
fn assess(
    plan: &Plan,
    a: &crate::plan::AssessmentPlan,
    tally: &crate::evidence::assessment::SubjectTally,
    refusal: &mut Option<String>,
    audit: &mut AuditLog,
    keys_report: Option<&crate::crypto::run::KeysReport>,
    k_anonymity: Option<&crate::evidence::kanon::KAnonymity>,
) -> Result<crate::evidence::assessment::Assessment> {
    let (n, s) = tally.counts();
    let (m, basis) = crate::evidence::assessment::mechanism(n, s, &a.cfg.declares);
    let path = std::path::PathBuf::from(&a.cfg.year_ledger);
    let mut ledger = crate::evidence::assessment::YearLedger::open(&path)?;
    let mut year_refusal = None;
    let (yn, ys, exports) = ledger.add(
        &a.cfg.exporter,
        a.year,
        &plan.run_id,
        a.cfg.recipient.as_deref(),
        tally,
        |yn, ys, _| {
            let (ym, _) = crate::evidence::assessment::mechanism(yn, ys, &a.cfg.declares);
            if let Some(max) = &a.max_mechanism {
                if crate::evidence::assessment::rank(ym) > crate::evidence::assessment::rank(max) {
                    year_refusal = Some(format!(
                        "cross-border rule: this year's totals ({yn} people, {ys} with sensitive PI) need `{ym}`, more than [gate] max_mechanism = {max}"
                    ));
                    return false;
                }
            }
            refusal.is_none()
        },
    )?;
    if refusal.is_none() {
        *refusal = year_refusal;
    }
    let (ym, ybasis) = crate::evidence::assessment::mechanism(yn, ys, &a.cfg.declares);
    audit.event(
        "assessment",
        json!({ "subjects": n, "sensitive_subjects": s, "mechanism": m, "year": a.year, "year_subjects": yn, "year_sensitive_subjects": ys, "year_mechanism": ym }),
    )?;
    Ok(crate::evidence::assessment::Assessment {
        exporter: a.cfg.exporter.clone(),
        recipient: a.cfg.recipient.clone(),
        distinct_subjects: n,
        sensitive_subjects: s,
        mechanism: m.to_string(),
        basis,
        declares: a.cfg.declares.clone(),
        year_to_date: crate::evidence::assessment::YearToDate {
            year: a.year,
            distinct_subjects: yn,
            sensitive_subjects: ys,
            mechanism: ym.to_string(),
            basis: ybasis,
            exports,
            ledger: a.cfg.year_ledger.clone(),
        },
        status: crate::evidence::assessment::STATUS.to_string(),
        techniques: a.techniques.clone(),
        keys: format!(
            "keys stayed at home; the export names key ids only ({})",
            keys_report
                .as_ref()
                .map(|k| k.key_ids.join(", "))
                .unwrap_or_else(|| "signing key only".into())
        ),
        fields: a.scanner.grades(
            &a.cfg,
            &plan
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>(),
            &a.grades,
            &a.techniques,
        ),
        important_data: {
            let imp: Vec<&String> = a
                .grades
                .iter()
                .filter(|(_, g)| *g == "important")
                .map(|(f, _)| f)
                .collect();
            (!imp.is_empty())
                .then(|| json!({ "fields": imp, "acknowledged": a.cfg.acknowledge_important }))
        },
        k_anonymity: k_anonymity.cloned(),
    })
}

/// The reader-facing loop: dispatches chunks to the pool with a bounded number in flight
/// and feeds finished ones to the sequencer; with a tail (`stream_input`), the batches
/// the barriers pass on go back to the pool for the row stages after them (`tail`, by
/// stage position) and the residual scan, also a bounded number in flight.
fn coordinate(
    pool: &rayon::ThreadPool,
    raw_rx: Receiver<ReaderEvent>,
    rows: &[Option<Box<dyn RowStage>>],
    tail: &[Option<Box<dyn RowStage>>],
    seq: &mut Sequencer<'_>,
    audit: &mut AuditLog,
) -> Result<()> {
    let max_in_flight = seq.plan.threads * 2 + 2;
    let schema = seq.plan.schema.clone();
    // The residual scan belongs to the pass that writes, after the last row stage.
    let residual = match seq.observing {
        None => seq.plan.residual.as_ref(),
        Some(_) => None,
    };
    let (residual_rows, residual_tail) = if seq.tail {
        (None, residual)
    } else {
        (residual, None)
    };
    let subjects = match seq.observing {
        None => seq.plan.assessment.as_ref().map(|a| &a.scanner),
        Some(_) => None,
    };
    let (done_tx, done_rx) = channel::<Done>();
    let result = pool.in_place_scope(|scope| -> Result<()> {
        let spawn_tail = |n: u64, batch: Batch| {
            let tx = done_tx.clone();
            scope.spawn(move |_| {
                let tailed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    fault_injection(FaultAt::Tail, n);
                    tail_work(batch, tail, residual_tail)
                }))
                .unwrap_or_else(|_| Err(panicked()));
                let _ = tx.send(Done::Tail(n, Box::new(tailed)));
            });
        };
        let cx = Cx {
            spawn: &spawn_tail,
            rx: &done_rx,
            bound: max_in_flight,
        };
        for ev in raw_rx.iter() {
            match ev {
                ReaderEvent::Opened(_) | ReaderEvent::Done(_) if seq.observing.is_some() => {}
                ReaderEvent::Opened(f) => {
                    let input = &seq.plan.inputs[f as usize];
                    tracing::debug!(file = %input.display, "reading");
                    audit.event(
                        "input_opened",
                        json!({ "file": input.display, "format": input.format.extension(), "bytes": input.bytes }),
                    )?;
                }
                ReaderEvent::Done(read) => {
                    audit.event(
                        "input_read",
                        json!({
                            "file": seq.plan.inputs[read.file as usize].display,
                            "bytes": read.bytes, "sha256": read.sha256,
                            "rows": read.rows, "blank_lines": read.blank_lines,
                        }),
                    )?;
                    let f = read.file as usize;
                    seq.accounts[f].read = Some(read);
                }
                ReaderEvent::Chunk(index, chunk, read) => {
                    seq.read_at.insert(index, read);
                    let tx = done_tx.clone();
                    let schema = &schema;
                    scope.spawn(move |_| {
                        // A panic must reach the coordinator as an error: a worker that
                        // vanished without sending would leave it waiting forever.
                        let worked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            work(index, chunk, schema, rows, residual_rows, subjects)
                        }))
                        .unwrap_or_else(|_| Err(panicked()));
                        let _ = tx.send(Done::Chunk(index, worked));
                    });
                    seq.chunks_in_flight += 1;
                    while seq.chunks_in_flight >= max_in_flight {
                        seq.receive(&cx)?;
                        seq.drain(&cx)?;
                    }
                }
            }
        }
        while seq.chunks_in_flight > 0 {
            seq.receive(&cx)?;
            seq.drain(&cx)?;
        }
        if seq.observing.is_none() {
            seq.release(&cx)?;
        }
        while seq.tails_in_flight > 0 {
            seq.receive(&cx)?;
        }
        tracing::debug!(
            chunks = seq.most_waiting.0,
            tails = seq.most_waiting.1,
            bound = max_in_flight,
            "most batches back out of order at once"
        );
        Ok(())
    });
    drop(raw_rx);
    result
}

/// The plan as debug events: inputs, schema, stages and paths (names and sizes only).
fn log_plan(plan: &Plan) {
    for f in &plan.inputs {
        tracing::debug!(file = %f.display, format = f.format.extension(), bytes = f.bytes, "input");
    }
    tracing::debug!(
        schema = %plan.schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", "),
        source = %plan.schema_source,
        "schema"
    );
    for (i, s) in plan.stages.iter().enumerate() {
        tracing::debug!(
            stage = i + 1,
            kind = s.type_name,
            row_part = s.row.is_some(),
            barrier = s.barrier.is_some(),
            "stage"
        );
    }
    tracing::debug!(output = %plan.output_dir.display(), quarantine = %plan.quarantine_dir.display(), "paths");
}

/// Runs `f`, turning a panic into an error (the panic message has already been printed
/// by the panic hook).
fn catch_panic(f: impl FnOnce() -> Result<()>) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err(panicked()))
}

fn panicked() -> Error {
    Error::Internal(
        "a stage panicked (this is a bug; please report it); no export was written".into(),
    )
}

fn hash_file(dir: &std::path::Path, rel: &str, rows: Option<u64>) -> Result<WrittenFile> {
    let (sha256, bytes) = crate::io::source::sha256_file(&dir.join(rel))?;
    Ok(WrittenFile {
        path: rel.to_string(),
        sha256,
        bytes,
        rows,
    })
}

/// SHA-256 over each input's absolute path and size, one per line: the default budget
/// scope of a DP release (never the pipeline `name`, which anyone can reuse).
fn inputs_digest(inputs: &[crate::io::source::InputFile]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for f in inputs {
        let p = std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
        h.update(p.to_string_lossy().as_bytes());
        h.update(b"\t");
        h.update(f.bytes.to_string().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The report as it ships. An aggregates-only export (`[output] rows = false`) ships no
/// exact count — rows in and out, per-file figures, quarantine, stage counters, subject
/// counts — since two exports that differ by one person would differ in them, which
/// defeats the differential privacy of its aggregates. The full report is kept at home
/// beside the quarantine (`<quarantine dir>/report.json`).
fn shipped_report(report: &Report, plan: &Plan) -> Result<Vec<u8>> {
    if plan.write_rows {
        return Ok(serde_json::to_vec_pretty(report)?);
    }
    let home = plan.quarantine_dir.join(REPORT);
    if let Some(dir) = home.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)
            .map_err(|e| Error::io("cannot create", dir, e))?;
    }
    std::fs::write(&home, serde_json::to_vec_pretty(report)?)
        .map_err(|e| Error::io("cannot write", &home, e))?;
    let mut v = serde_json::to_value(report)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("rows");
        o.remove("quarantine");
        o.remove("residual");
        o.insert(
            "withheld".into(),
            json!({
                "what": "exact row counts, per-file figures, quarantine and stage counters",
                "why": "an aggregates-only export releases differentially private statistics only; exact counts would reveal what the noise protects",
                "kept_at_home": home.display().to_string(),
            }),
        );
    }
    if let Some(i) = v.get_mut("input").and_then(|i| i.as_object_mut()) {
        i.remove("bytes");
    }
    if let Some(stages) = v.get_mut("stages").and_then(|s| s.as_array_mut()) {
        for st in stages {
            let dp = st["type"] == "dp_release";
            if let Some(f) = st.get_mut("findings").and_then(|f| f.as_object_mut()) {
                f.remove("totals");
                f.remove("fields");
                if !dp {
                    f.remove("info");
                }
            }
        }
    }
    if let Some(a) = v.get_mut("assessment").and_then(|a| a.as_object_mut()) {
        for k in ["distinct_subjects", "sensitive_subjects", "basis"] {
            a.remove(k);
        }
        if let Some(fields) = a.get_mut("fields").and_then(|f| f.as_array_mut()) {
            for f in fields {
                if let Some(f) = f.as_object_mut() {
                    // Whether a field held PI can turn on one person's row.
                    f.remove("detected");
                    f.remove("pi");
                }
            }
        }
        if let Some(y) = a.get_mut("year_to_date").and_then(|y| y.as_object_mut()) {
            for k in [
                "distinct_subjects",
                "sensitive_subjects",
                "basis",
                "exports",
            ] {
                y.remove(k);
            }
        }
    }
    Ok(serde_json::to_vec_pretty(&v)?)
}

/// The refusal for quarantined rows against `[gate] max_quarantined`; without it, an
/// export whose every row was quarantined (a JSON array, the wrong format) is refused,
/// never shipped empty with exit 0.
fn quarantine_refusal(plan: &Plan, seq: &Streamed) -> Option<String> {
    let rows_in: u64 = seq
        .accounts
        .iter()
        .filter_map(|a| a.read.as_ref().map(|r| r.rows))
        .sum();
    let quarantined: u64 = seq.accounts.iter().map(|a| a.counts.quarantined).sum();
    let (allowed, why) = match plan.max_quarantined {
        Some(m) => (
            m.allows(quarantined, rows_in),
            format!(
                "more than [gate] max_quarantined = {}",
                match m {
                    crate::config::MaxQuarantined::Rows(n) => n.to_string(),
                    crate::config::MaxQuarantined::Share(s) => s.to_string(),
                }
            ),
        ),
        None => (
            rows_in == 0 || quarantined < rows_in,
            "every row read: an export of nothing is refused unless [gate] max_quarantined allows it".into(),
        ),
    };
    (!allowed).then(|| format!(
        "quarantine: {quarantined} of {rows_in} rows were quarantined, {why}; the reasons are in quarantine.jsonl"
    ))
}

/// The hint for rows quarantined for fields a sampled schema did not see.
fn late_field_warning(plan: &Plan, unknown: &(u64, Option<String>)) -> Option<String> {
    let (n, Some(field)) = unknown else {
        return None;
    };
    plan.schema_source.starts_with("sample").then(|| format!(
        "{n} rows quarantined for fields the schema sample did not see (first: {field}); set [input] schema = \"scan\" to infer the schema from the whole input, or declare the schema"
    ))
}
