//! The `datacustoms` command line: parses arguments, calls the library, maps errors to
//! exit codes (see DESIGN.md). No logic of its own.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use datacustoms::state::StateDir;
use datacustoms::{Error, Pipeline, RunOptions};

#[derive(Parser)]
#[command(name = "datacustoms", version, about = "A customs checkpoint for training data", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: text for people, json for Airflow and log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Print only warnings and errors; no progress bar.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// The state folder: keyring, DP budget ledger, year ledger, home quarantine.
    /// Default: $DATACUSTOMS_STATE_DIR, else ./.datacustoms if it exists, else
    /// $XDG_STATE_HOME/datacustoms (~/.local/state/datacustoms).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportLang {
    En,
    Zh,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// What `run` and `plan` share: the pipeline and what the command line overrides in it.
#[derive(clap::Args)]
struct RunArgs {
    /// The pipeline file (TOML), e.g. pipelines/quickstart.toml.
    pipeline: PathBuf,
    /// Input file, directory or glob; repeat for several. Overrides [input] path.
    #[arg(long)]
    input: Vec<String>,
    /// Export directory. Overrides [output] path.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Worker threads (default: all cores; with --workers, shared among them).
    #[arg(long)]
    threads: Option<usize>,
    /// Replace an existing export.
    #[arg(long)]
    overwrite: bool,
    /// Fail (exit 65) on the first malformed record instead of quarantining it.
    #[arg(long)]
    strict: bool,
    /// Name this run (default: a fresh time-based id).
    #[arg(long)]
    run_id: Option<String>,
    /// Where raw rejected records are kept at home
    /// (default: quarantine/ in the state folder; a folder per run id is made inside).
    #[arg(long)]
    quarantine_dir: Option<PathBuf>,
    /// When another run holds the output, wait up to SECONDS for it instead of
    /// exiting 75 at once.
    #[arg(long, value_name = "SECONDS")]
    wait: Option<u64>,
    /// Root key source, overriding [keys] keyring: file:PATH, env:VAR or command:CMD.
    #[arg(long)]
    keyring: Option<String>,
    /// Language of report.html (overrides [output] lang).
    #[arg(long, value_enum)]
    lang: Option<ReportLang>,
}

impl RunArgs {
    fn options(self, cli: &GlobalFlags) -> (PathBuf, RunOptions) {
        let opts = RunOptions {
            inputs: self.input,
            output: self.output,
            threads: self.threads,
            overwrite: self.overwrite,
            strict: self.strict,
            quiet: cli.quiet,
            run_id: self.run_id,
            quarantine_dir: self.quarantine_dir,
            keyring: self.keyring,
            state_dir: cli.state_dir.clone(),
            wait: self.wait.map(std::time::Duration::from_secs),
            validate: false,
            lang: self.lang.map(|l| match l {
                ReportLang::En => datacustoms::evidence::html::Lang::En,
                ReportLang::Zh => datacustoms::evidence::html::Lang::Zh,
            }),
            frozen: None,
        };
        (self.pipeline, opts)
    }
}

/// The global flags, for the commands that pass them on.
struct GlobalFlags {
    quiet: bool,
    state_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file and write an export.
    Run {
        #[command(flatten)]
        run: RunArgs,
        /// Run as N worker processes of this program (the shard protocol's map tasks,
        /// then finalize here): the same export as one process. Row-stage pipelines only
        /// for now (no dedup or dp_release).
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
        /// With --workers: the work directory (default: work/<run id> in the state
        /// folder). Give the same --run-id and --work to resume after a failure.
        #[arg(long, requires = "workers")]
        work: Option<PathBuf>,
        /// With --workers: cut the input into this many shards (default: one per
        /// worker). Files are never split.
        #[arg(long, requires = "workers")]
        shards: Option<usize>,
        /// With --workers: keep the work directory after the export is written.
        #[arg(long, requires = "workers")]
        keep_work: bool,
    },
    /// Shard protocol: plan a sharded run into a work directory (plan.json). The last
    /// stdout line is the plan as JSON: its steps, with the argv of each task.
    Plan {
        #[command(flatten)]
        run: RunArgs,
        /// The work directory (kept at home, owner-only): plan, task folders, partials.
        #[arg(long)]
        work: PathBuf,
        /// Cut the input into this many shards (files are never split).
        #[arg(long, conflicts_with = "shard_bytes")]
        shards: Option<usize>,
        /// Or: shards of about this many input bytes (e.g. 512MiB). Default: 512MiB.
        #[arg(long)]
        shard_bytes: Option<String>,
    },
    /// Shard protocol: run map task K of a planned run (idempotent: a committed task is
    /// a no-op; a duplicate attempt loses harmlessly). Exit 74/75 are worth a retry.
    Map {
        work: PathBuf,
        #[arg(long)]
        shard: u32,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Shard protocol, in a run with dedup: decide the dedup stage on what every map task
    /// recorded (one task: `--step dedup --part 0`; a second dedup stage is `--step
    /// dedup-2`, on what the `apply` tasks recorded). Exit 75 while a task is missing.
    Reduce {
        work: PathBuf,
        #[arg(long)]
        step: String,
        #[arg(long)]
        part: u32,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Shard protocol, in a run with dedup: write shard K's rows without those the dedup
    /// step dropped (idempotent as `map`). Exit 75 while the dedup step is missing. With
    /// several dedup stages, `apply` applies the first and records for the second
    /// (`reduce --step dedup-2`), `--step apply-2` applies both, and so on.
    Apply {
        work: PathBuf,
        #[arg(long)]
        shard: u32,
        /// The apply step of the plan, `apply`, `apply-2` ...
        #[arg(long, default_value = "apply")]
        step: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Shard protocol, at home: once every task has committed, write the export (gates,
    /// evidence, vault merge, signature), then remove the work directory. Exit 75 while a
    /// task is missing.
    Finalize {
        work: PathBuf,
        #[arg(long)]
        keep_work: bool,
        /// When another run holds the output, wait up to SECONDS for it.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Shard protocol: which tasks of a planned run have committed (JSON on stdout).
    Status { work: PathBuf },
    /// Inventory the PII in an input without writing an export: which fields hold which
    /// types, in how many records, and each field's sensitivity grade. A table goes to
    /// stdout; the JSON report to --report FILE (`--report -`: JSON to stdout instead).
    Scan {
        /// Input files, directories or globs (JSONL, .jsonl.gz, .jsonl.zst, Parquet).
        #[arg(required = true)]
        inputs: Vec<String>,
        /// Comma-separated string fields to scan (default: every string field).
        #[arg(long, value_delimiter = ',')]
        fields: Option<Vec<String>>,
        /// Write the JSON report here (`-` for stdout instead of the table).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Declare fields sensitive by category (PIPL art. 28), e.g.
        /// `--sensitive diagnosis=health,home_gps=whereabouts`. Categories: health,
        /// biometric, religion, specific_identity, whereabouts, minors, financial.
        #[arg(long, value_delimiter = ',')]
        sensitive: Vec<String>,
    },
    /// Check an export: file hashes against the manifest, the audit chain, the row
    /// reconciliation, the residual-PII re-scan. Exit 0 when all hold, 80 otherwise.
    Verify {
        /// The export directory.
        export_dir: PathBuf,
        /// The pipeline file the export was made with: the re-scan then also uses its own
        /// recognizers and deny-lists (checked against the manifest's pipeline hash).
        #[arg(long)]
        pipeline: Option<PathBuf>,
        /// The exporter's Ed25519 public key (base64, as `keys describe` prints it): the
        /// manifest must be signed with it.
        #[arg(long)]
        trusted_key: Option<String>,
        /// The DP ledger kept at home: the DP passport and the aggregates must match the
        /// releases it recorded for this run.
        #[arg(long)]
        ledger: Option<PathBuf>,
        /// An earlier export of the same dataset: the DP passport must continue the budget
        /// ledger that one saw (a deleted or replaced ledger is reported).
        #[arg(long, value_name = "EXPORT_DIR")]
        previous: Option<PathBuf>,
    },
    /// At home: restore an export's encrypted columns (original types) and encrypted text
    /// spans into an export-shaped folder. A wrong key exits 78; a changed or moved cell
    /// exits 65 naming file, row and column.
    Decrypt {
        export_dir: PathBuf,
        /// Where the decrypted folder goes (must not exist, unless --overwrite).
        #[arg(long)]
        output: PathBuf,
        /// Root key source: file:PATH (default: keyring.json in the state folder), env:VAR,
        /// command:CMD.
        #[arg(long)]
        keyring: Option<String>,
        #[arg(long)]
        overwrite: bool,
    },
    /// At home: replace the tokens in a JSONL or Parquet file (e.g. model output or labels
    /// that came back) with the original values from the vault. Unknown tokens are kept
    /// and counted; the vault records an audit event.
    Reidentify {
        input: PathBuf,
        /// The vault (default: vault.sqlite in the state folder).
        #[arg(long)]
        vault: Option<PathBuf>,
        #[arg(long)]
        output: PathBuf,
        /// Root key source (default: keyring.json in the state folder).
        #[arg(long)]
        keyring: Option<String>,
        #[arg(long)]
        overwrite: bool,
    },
    /// Create, rotate and describe root keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Re-identification vault maintenance.
    Vault {
        #[command(subcommand)]
        action: VaultCommand,
    },
    /// The differential-privacy budget ledger.
    Budget {
        #[command(subcommand)]
        action: BudgetCommand,
    },
    /// Check a pipeline file without running it: the file, the inputs (their schema sample
    /// or Parquet footers), every stage's settings, keys, gates and the output. Reads no
    /// rows beyond the schema sample, writes nothing, opens no ledger.
    Validate {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
    },
    /// Print a shell completion script: `datacustoms completions bash > /etc/bash_completion.d/datacustoms`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `datacustoms man > /usr/local/share/man/man1/datacustoms.1`.
    Man,
    /// Print the JSON Schema of the pipeline file (TOML read as JSON), for editors and
    /// CI checks; `pipeline.schema.json` in the repository is this output.
    Schema,
}

#[derive(Subcommand)]
enum BudgetCommand {
    /// Print spent and remaining budget per dataset.
    Show {
        /// The ledger file (default: ledger.sqlite in the state folder).
        ledger: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a keyring file (mode 0600) with one fresh root key.
    Init {
        /// The keyring file (default: keyring.json in the state folder).
        #[arg(long)]
        keyring: Option<PathBuf>,
        /// Encrypt the key list under a key from another source (env:VAR or command:CMD).
        #[arg(long)]
        wrap_with: Option<String>,
    },
    /// Add a new root key version and make it primary; old versions stay for decryption.
    Rotate {
        /// The keyring file (default: keyring.json in the state folder).
        #[arg(long)]
        keyring: Option<PathBuf>,
        /// Rewrap these exports' data keys under the new version (data files untouched).
        #[arg(long)]
        rewrap: Vec<PathBuf>,
    },
    /// Print key ids, versions and creation dates (never key material).
    Describe {
        /// file:PATH, env:VAR or command:CMD (default: keyring.json in the state folder).
        #[arg(long)]
        keyring: Option<String>,
    },
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Copy into DEST every entry of each SRC it lacks (shards, reruns). Collisions stop it.
    Merge {
        dest: PathBuf,
        #[arg(required = true)]
        sources: Vec<PathBuf>,
    },
}

fn keyring(
    spec: Option<&str>,
    state: Option<&Path>,
) -> Result<datacustoms::crypto::Keyring, Error> {
    let spec = match spec {
        Some(s) => s.to_string(),
        None => StateDir::resolve(state)?.keyring_spec(),
    };
    datacustoms::crypto::KeySource::parse(&spec)?.load()
}

/// `path`, or the state folder's file `pick` names.
fn or_state(
    path: Option<PathBuf>,
    state: Option<&Path>,
    pick: fn(&StateDir) -> PathBuf,
) -> Result<PathBuf, Error> {
    match path {
        Some(p) => Ok(p),
        None => Ok(pick(&StateDir::resolve(state)?)),
    }
}

fn init_logging(format: LogFormat, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet { "warn" } else { "info" };
    let filter =
        EnvFilter::try_from_env("DATACUSTOMS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.without_time().init(),
    }
}

/// A panic's message can quote the text it failed on (a string slice out of bounds
/// prints the string), and that text is the input's personal data: print only where
/// it happened, unless `DATACUSTOMS_PANIC_DETAIL=1` asks for the message.
fn quiet_panics() {
    let detail = std::env::var_os("DATACUSTOMS_PANIC_DETAIL").is_some_and(|v| v == "1");
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // `datacustoms budget show | head -1`: the reader went away. Not a bug: end
        // quietly with the status a shell gives a process killed by SIGPIPE.
        let closed = info.payload().downcast_ref::<String>().is_some_and(|m| {
            m.starts_with("failed printing to stdout") && m.contains("Broken pipe")
        });
        if closed {
            std::process::exit(141);
        }
        if detail {
            return default_hook(info);
        }
        let at = info.location().map_or_else(
            || "an unknown place".to_string(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        eprintln!(
            "datacustoms: internal error at {at} (this is a bug; please report it). The \
             message is withheld because it may quote input data; rerun with \
             DATACUSTOMS_PANIC_DETAIL=1 to see it."
        );
    }));
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.log_format, cli.quiet);
    quiet_panics();
    on_interrupt();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// SIGINT and SIGTERM: stop the task processes of `run --workers`, remove the staging
/// folder of the export being written (partial cleaned rows must not sit beside the
/// output for a sync job to ship), then exit 128 + the signal (130, 143) as shells do.
fn on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        tracing::warn!("cannot watch for SIGINT/SIGTERM: an interrupted run leaves its staging folder for the next run to sweep");
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // `run --workers`: its task processes stop with it.
            datacustoms::shard::exec::stop_tasks();
            let removed = datacustoms::evidence::export::abort_live();
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            for f in &removed {
                eprintln!(
                    "\ninterrupted ({name}): removed the partial export {}; nothing was exported",
                    f.display()
                );
            }
            std::process::exit(128 + sig);
        }
    });
}

fn execute(cli: Cli) -> Result<(), Error> {
    let flags = GlobalFlags {
        quiet: cli.quiet,
        state_dir: cli.state_dir.clone(),
    };
    match cli.command {
        Command::Run {
            run, workers: None, ..
        } => {
            let (pipeline, opts) = run.options(&flags);
            run_pipeline(&pipeline, opts, cli.quiet, cli.log_format)
        }
        c @ (Command::Run { .. }
        | Command::Plan { .. }
        | Command::Map { .. }
        | Command::Reduce { .. }
        | Command::Apply { .. }
        | Command::Finalize { .. }
        | Command::Status { .. }) => sharded(c, &flags, cli.log_format),
        Command::Scan {
            inputs,
            fields,
            report,
            threads,
            sensitive,
        } => scan(inputs, fields, report, threads, sensitive, cli.quiet),
        Command::Decrypt {
            export_dir,
            output,
            keyring: k,
            overwrite,
        } => {
            let ring = keyring(k.as_deref(), cli.state_dir.as_deref())?;
            let d = datacustoms::restore::decrypt(&export_dir, &output, &ring, overwrite)?;
            if !cli.quiet {
                eprintln!(
                    "decrypted {} into {}: {} file(s), {} rows, {} cells, {} text spans",
                    export_dir.display(),
                    output.display(),
                    d.files,
                    d.rows,
                    d.cells,
                    d.spans
                );
            }
            Ok(())
        }
        Command::Reidentify {
            input,
            vault,
            output,
            keyring: k,
            overwrite,
        } => {
            let ring = keyring(k.as_deref(), cli.state_dir.as_deref())?;
            let vault = or_state(vault, cli.state_dir.as_deref(), StateDir::vault)?;
            let r = datacustoms::restore::reidentify(&input, &vault, &output, &ring, overwrite)?;
            if !cli.quiet {
                eprintln!(
                    "reidentified {} into {}: {} rows, {} tokens replaced, {} unknown tokens kept ({} distinct looked up)",
                    input.display(),
                    output.display(),
                    r.rows,
                    r.replaced,
                    r.unknown,
                    r.distinct
                );
            }
            Ok(())
        }
        Command::Validate { pipeline } => validate(&pipeline, cli.state_dir.clone()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "datacustoms",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(()),
                    _ => Err(Error::io("cannot write the man page", Path::new("-"), e)),
                })
        }
        Command::Schema => {
            println!("{}", datacustoms::config::pipeline_json_schema());
            Ok(())
        }
        Command::Keys { action } => keys_command(action, cli.quiet, cli.state_dir.as_deref()),
        Command::Vault {
            action: VaultCommand::Merge { dest, sources },
        } => {
            let s = datacustoms::crypto::vault::merge(&dest, &sources)?;
            if !cli.quiet {
                eprintln!(
                    "merged {} vault(s) into {}: {} entries added, {} already present",
                    sources.len(),
                    dest.display(),
                    s.inserted,
                    s.already_present
                );
            }
            Ok(())
        }
        Command::Budget {
            action: BudgetCommand::Show { ledger },
        } => {
            let ledger = or_state(ledger, cli.state_dir.as_deref(), StateDir::ledger)?;
            budget_show(&ledger)
        }
        Command::Verify {
            export_dir,
            pipeline,
            trusted_key,
            ledger,
            previous,
        } => {
            let opts = datacustoms::evidence::verify::VerifyOptions {
                pipeline: pipeline.as_deref(),
                trusted_key: trusted_key.as_deref(),
                ledger: ledger.as_deref(),
                previous: previous.as_deref(),
            };
            verify(&export_dir, &opts, cli.quiet)
        }
    }
}

/// `scan`: the PII inventory as a table, or JSON with `--report`.
fn scan(
    inputs: Vec<String>,
    fields: Option<Vec<String>>,
    report: Option<PathBuf>,
    threads: Option<usize>,
    sensitive: Vec<String>,
    quiet: bool,
) -> Result<(), Error> {
    let declared = sensitive
        .iter()
        .map(|d| {
            d.split_once('=')
                .map(|(f, c)| (f.trim().to_string(), c.trim().to_string()))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--sensitive {d}: write FIELD=CATEGORY, e.g. diagnosis=health"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let r = datacustoms::scan::scan(&datacustoms::scan::ScanOptions {
        inputs,
        fields,
        threads,
        quiet,
        declared,
    })?;
    let mut text =
        serde_json::to_string_pretty(&r).map_err(|e| Error::Internal(format!("report: {e}")))?;
    text.push('\n');
    match report.as_deref() {
        Some(p) if p == std::path::Path::new("-") => print!("{text}"),
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| Error::io("cannot write", path, e))?;
            print!("{}", r.table());
        }
        None => print!("{}", r.table()),
    }
    Ok(())
}

/// `verify`: the checklist on stdout, a one-line verdict on stderr.
fn verify(
    export_dir: &Path,
    opts: &datacustoms::evidence::verify::VerifyOptions,
    quiet: bool,
) -> Result<(), Error> {
    let v = datacustoms::evidence::verify::verify_with(export_dir, opts)?;
    print!("{}", datacustoms::evidence::verify::checklist(&v.checks));
    let v = v.into_result(export_dir)?;
    if !quiet {
        let residual = v
            .residual
            .map(|n| format!(", residual PII re-scan: {n} detections"))
            .unwrap_or_default();
        eprintln!(
            "export {} verified: {} files match the manifest, {} rows, audit chain of {} events intact{residual}",
            export_dir.display(),
            v.files,
            v.rows,
            v.audit_events
        );
    }
    Ok(())
}

/// `run`: the export, a summary on stderr (text or a JSON event) and as the last stdout
/// line.
/// The commands of a sharded run: `run --workers`, and the steps of the shard protocol.
fn sharded(command: Command, flags: &GlobalFlags, log_format: LogFormat) -> Result<(), Error> {
    use datacustoms::shard::exec;
    let quiet = flags.quiet;
    let done = match command {
        Command::Run {
            run,
            workers: Some(workers),
            work,
            shards,
            keep_work,
        } => {
            let (pipeline, opts) = run.options(flags);
            let mut task_flags = vec![
                "--log-format".to_string(),
                match log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }
                .to_string(),
            ];
            if let Some(d) = &flags.state_dir {
                task_flags.push("--state-dir".into());
                task_flags.push(d.display().to_string());
            }
            let w = exec::Workers {
                workers,
                work,
                shards,
                keep_work,
                task_flags,
            };
            let s = exec::run_workers(&pipeline, opts, w)?;
            print_summary(&s, quiet, log_format);
            return Ok(());
        }
        Command::Plan {
            run,
            work,
            shards,
            shard_bytes,
        } => {
            let (pipeline, opts) = run.options(flags);
            let by = match (shards, shard_bytes) {
                (Some(n), _) => datacustoms::shard::inputs::ShardBy::Count(n),
                (None, Some(b)) => datacustoms::shard::inputs::ShardBy::Bytes(
                    datacustoms::config::parse_byte_size(&b)
                        .filter(|b| *b > 0)
                        .ok_or_else(|| {
                            Error::Usage(format!("--shard-bytes {b}: write a size like 512MiB"))
                        })?,
                ),
                (None, None) => datacustoms::shard::inputs::ShardBy::Bytes(512 << 20),
            };
            let plan = exec::plan(&pipeline, opts, &work, by)?;
            println!(
                "{}",
                serde_json::json!({
                    "run_id": plan.run_id, "plan_sha256": plan.sha256(),
                    "shards": plan.shards.len(), "output": plan.output, "steps": plan.steps,
                })
            );
            return Ok(());
        }
        Command::Map {
            work,
            shard,
            threads,
        } => exec::map(&work, shard, threads, quiet)?,
        Command::Reduce {
            work,
            step,
            part,
            threads,
        } => exec::reduce(&work, &step, part, threads, quiet)?,
        Command::Apply {
            work,
            shard,
            step,
            threads,
        } => exec::apply(&work, shard, &step, threads, quiet)?,
        Command::Finalize {
            work,
            keep_work,
            wait,
        } => {
            let s = exec::finalize(&work, keep_work, wait.map(std::time::Duration::from_secs))?;
            print_summary(&s, quiet, log_format);
            return Ok(());
        }
        Command::Status { work } => {
            println!("{}", exec::status(&work)?);
            return Ok(());
        }
        _ => unreachable!("not a command of a sharded run"),
    };
    // A task's outcome, the last line on stdout for the driver.
    println!("{}", serde_json::to_string(&done)?);
    Ok(())
}

fn run_pipeline(
    pipeline: &Path,
    opts: RunOptions,
    quiet: bool,
    log_format: LogFormat,
) -> Result<(), Error> {
    let s = Pipeline::from_path(pipeline, opts)?.run()?;
    print_summary(&s, quiet, log_format);
    Ok(())
}

/// The closing lines of a written export: a log line (text or JSON) unless quiet, and
/// the JSON summary as the last line on stdout (what a scheduler keeps, Airflow's XCom).
fn print_summary(s: &datacustoms::RunSummary, quiet: bool, log_format: LogFormat) {
    let summary = serde_json::json!({
        "event": "export_written",
        "output": s.output.display().to_string(),
        "rows_in": s.rows.rows_in,
        "rows_out": s.rows.out,
        "duplicates": s.rows.duplicates,
        "quarantined": s.rows.quarantined,
        "parts": s.parts,
        "seconds": (s.seconds * 10.0).round() / 10.0,
        "warnings": s.warnings.len(),
    });
    match (quiet, log_format) {
        (true, _) => {}
        (false, LogFormat::Json) => tracing::info!(
            output = %s.output.display(),
            rows_in = s.rows.rows_in,
            rows_out = s.rows.out,
            duplicates = s.rows.duplicates,
            quarantined = s.rows.quarantined,
            parts = s.parts,
            seconds = s.seconds,
            "export written"
        ),
        (false, LogFormat::Text) => eprintln!(
            "export written to {}: {} rows in, {} out, {} duplicates, {} quarantined, {} part file(s), {:.1} s",
            s.output.display(),
            s.rows.rows_in,
            s.rows.out,
            s.rows.duplicates,
            s.rows.quarantined,
            s.parts,
            s.seconds
        ),
    }
    // The last line on stdout: what a scheduler keeps (Airflow's XCom).
    println!("{summary}");
}

/// `validate`: plan the run, print what it would do, write nothing.
fn validate(pipeline: &Path, state_dir: Option<PathBuf>) -> Result<(), Error> {
    let opts = RunOptions {
        quiet: true,
        state_dir,
        validate: true,
        ..RunOptions::default()
    };
    let p = Pipeline::from_path(pipeline, opts)?;
    let plan = p.plan();
    let bytes: u64 = plan.inputs.iter().map(|f| f.bytes).sum();
    println!("pipeline {}: valid", pipeline.display());
    println!(
        "  input: {} {} file(s), {:.1} MB; schema {} ({} fields)",
        plan.inputs.len(),
        plan.input_format.extension(),
        bytes as f64 / 1e6,
        plan.schema_source,
        plan.schema.fields().len()
    );
    for (i, s) in plan.stages.iter().enumerate() {
        println!("  stage {}: {} ({})", i + 1, s.type_name, s.kind());
    }
    println!(
        "  output: {}{}",
        plan.output_dir.display(),
        if plan.output_dir.exists() && !plan.overwrite {
            " — exists: a run needs --overwrite (exit 73)"
        } else {
            ""
        }
    );
    for w in &plan.warnings {
        println!("  warning: {w}");
    }
    Ok(())
}

/// `budget show`: spent and remaining budget per dataset.
/// A small number in scientific notation with at most six significant digits:
/// `9.9e-5`, not `9.900000000000001e-5`.
fn short_e(x: f64) -> String {
    let s = format!("{x:.5e}");
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s,
    }
}

fn budget_show(ledger: &Path) -> Result<(), Error> {
    let l = datacustoms::dp::ledger::Ledger::open_existing(ledger)?;
    let rows = l.summary()?;
    if rows.is_empty() {
        println!("{}: no releases recorded", ledger.display());
    }
    let left = |cap: Option<f64>, used: f64| {
        cap.map(|c| format!("{:.6} of {c}", (c - used).max(0.0)))
            .unwrap_or_else(|| "no cap".into())
    };
    for (id, t, caps) in rows {
        let (described, last) = l.described(&id)?;
        println!("dataset {id}: {} release(s)", t.releases);
        if let Some(d) = described {
            println!("  {d}");
        }
        if let Some(last) = last {
            println!("  last release {last}");
        }
        println!(
            "  epsilon spent {:.6}  remaining {}",
            t.epsilon,
            left(caps.total_epsilon, t.epsilon)
        );
        println!(
            "  rho     spent {:.6}  remaining {}",
            t.rho,
            left(caps.total_rho, t.rho)
        );
        println!(
            "  delta   spent {:e}  remaining {}",
            t.delta,
            left(caps.total_delta, t.delta)
        );
        if t.rho > 0.0 {
            println!(
                "  in all: ({:.6}, {})-DP, rho converted with delta {}",
                t.as_epsilon,
                short_e(t.as_delta),
                short_e(t.conversion_delta)
            );
        } else {
            println!(
                "  in all: ({:.6}, {})-DP",
                t.as_epsilon,
                short_e(t.as_delta)
            );
        }
    }
    Ok(())
}

fn keys_command(action: KeysCommand, quiet: bool, state: Option<&Path>) -> Result<(), Error> {
    use datacustoms::crypto::keys::{init_keyring, rotate_keyring};
    match action {
        KeysCommand::Init {
            keyring: path,
            wrap_with,
        } => {
            let path = or_state(path, state, StateDir::keyring)?;
            let ring = init_keyring(&path, wrap_with.as_deref())?;
            if !quiet {
                eprintln!(
                    "created keyring {} (mode 0600) with root key {}{}; keep it at home and back it up",
                    path.display(),
                    ring.primary().id,
                    wrap_with.map(|w| format!(", wrapped under {}", datacustoms::crypto::KeySource::parse(&w).map(|s| s.describe()).unwrap_or_default())).unwrap_or_default()
                );
            }
            Ok(())
        }
        KeysCommand::Rotate {
            keyring: path,
            rewrap,
        } => {
            let path = or_state(path, state, StateDir::keyring)?;
            let ring = rotate_keyring(&path)?;
            if !quiet {
                eprintln!(
                    "keyring {}: root key version {} ({}) is now primary; older versions stay for decryption",
                    path.display(),
                    ring.primary().version,
                    ring.primary().id
                );
            }
            for export in rewrap {
                let n = datacustoms::restore::rewrap_export(&export, &ring)?;
                if !quiet {
                    eprintln!(
                        "{}: {n} data key(s) rewrapped under {}",
                        export.display(),
                        ring.primary().id
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Describe { keyring: spec } => {
            let ring = keyring(spec.as_deref(), state)?;
            println!("source: {}", ring.source);
            println!("primary: {}", ring.primary().id);
            println!(
                "manifest signing key (Ed25519, public): {}",
                datacustoms::evidence::signature::public_key(ring.primary())
            );
            for k in ring.keys() {
                let created = if k.created_at.is_empty() {
                    "-"
                } else {
                    &k.created_at
                };
                println!("version {:>3}  id {}  created {}", k.version, k.id, created);
            }
            Ok(())
        }
    }
}
