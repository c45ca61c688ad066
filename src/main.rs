//! The `datacustoms` command line: parses arguments, calls the library, maps errors to
//! exit codes (see DESIGN.md). No logic of its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use datacustoms::{verify, Error, Pipeline, RunOptions};

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
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file and write an export.
    Run {
        /// The pipeline file (TOML), e.g. pipelines/quickstart.toml.
        pipeline: PathBuf,
        /// Input file, directory or glob; repeat for several. Overrides [input] path.
        #[arg(long)]
        input: Vec<String>,
        /// Export directory. Overrides [output] path.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Worker threads (default: all cores).
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
        /// (default .datacustoms/quarantine/; a folder per run id is made inside).
        #[arg(long)]
        quarantine_dir: Option<PathBuf>,
    },
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
    },
    /// Check an export: file hashes against the manifest, the audit chain, the row
    /// reconciliation, the residual-PII re-scan. Exit 0 when all hold, 80 otherwise.
    Verify {
        /// The export directory.
        export_dir: PathBuf,
    },
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
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn execute(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Run {
            pipeline,
            input,
            output,
            threads,
            overwrite,
            strict,
            run_id,
            quarantine_dir,
        } => {
            let opts = RunOptions {
                inputs: input,
                output,
                threads,
                overwrite,
                strict,
                quiet: cli.quiet,
                run_id,
                quarantine_dir,
            };
            let s = Pipeline::from_path(&pipeline, opts)?.run()?;
            if !cli.quiet {
                eprintln!(
                    "export written to {}: {} rows in, {} out, {} duplicates, {} quarantined, {} part file(s), {:.1} s",
                    s.output.display(),
                    s.rows.rows_in,
                    s.rows.out,
                    s.rows.duplicates,
                    s.rows.quarantined,
                    s.parts,
                    s.seconds
                );
            }
            Ok(())
        }
        Command::Scan {
            inputs,
            fields,
            report,
            threads,
        } => {
            let r = datacustoms::scan::scan(&datacustoms::scan::ScanOptions {
                inputs,
                fields,
                threads,
                quiet: cli.quiet,
            })?;
            let mut text = serde_json::to_string_pretty(&r)
                .map_err(|e| Error::Internal(format!("report: {e}")))?;
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
        Command::Verify { export_dir } => {
            let v = verify(&export_dir)?;
            if !cli.quiet {
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
    }
}
