//! Labelled near-duplicate corpus for the `dedup` stage, and the scorer that grades a
//! dedup run against it.
//!
//! Why: dedup quality (precision, recall, hard negatives never merged) can only be
//! measured on duplicates whose similarity is known exactly. The corpus and the scorer
//! live in `tests/support/neardup.rs` and are shared with `tests/dedup_quality.rs`, so
//! the test, `benches/dedup_vs_datasketch.sh` and any other tool are graded the same way.
//!
//! ```text
//! # corpus.jsonl: {"id": "d0000123", "text": "..."} per line
//! # truth.jsonl:  {"id", "cluster" (seed id), "kind", "jaccard" (exact, vs the seed)}
//! cargo run --release --example gen_neardup -- --docs 50000 --seed 7 --out corpus.jsonl --truth truth.jsonl
//!
//! # Scores a dedup_clusters.jsonl (or any JSONL of {"dropped": {"id"}, "matched": {"id"}})
//! # and prints one JSON line: precision, recall, F1, pair precision, negatives merged, ...
//! cargo run --release --example gen_neardup -- score --truth truth.jsonl --clusters dedup_clusters.jsonl
//! ```
//!
//! Determinism: `ChaCha8Rng::seed_from_u64(--seed)` and integer arithmetic only, so the
//! same arguments give byte-identical files on every platform. See the module docs of
//! `tests/support/neardup.rs` for the definitions (normalisation, 5-gram shingles,
//! Jaccard) and how the corpus is built.

#[path = "../tests/support/neardup.rs"]
mod neardup;

use std::error::Error;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(
    name = "gen_neardup",
    about = "Deterministic labelled near-duplicate corpus for the dedup stage, and its scorer",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    gen: GenArgs,
}

#[derive(Args)]
struct GenArgs {
    /// Number of documents.
    #[arg(long, default_value_t = 50_000)]
    docs: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Corpus JSONL to write.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Truth JSONL to write.
    #[arg(long)]
    truth: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Score dropped pairs against a truth file; prints one JSON line on stdout and a
    /// table on stderr.
    Score {
        #[arg(long)]
        truth: PathBuf,
        /// dedup_clusters.jsonl, or JSONL of {"dropped": {"id"}, "matched": {"id"}}.
        #[arg(long)]
        clusters: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Score { truth, clusters }) => score(&truth, &clusters),
        None => generate(&cli.gen),
    }
}

fn generate(a: &GenArgs) -> Result<()> {
    let out = a.out.as_ref().ok_or("--out is required")?;
    let t0 = Instant::now();
    let (docs, truth) = neardup::generate(a.docs, a.seed);
    let secs = t0.elapsed().as_secs_f64();
    let bytes = write_jsonl(out, &docs)?;
    if let Some(t) = &a.truth {
        write_jsonl(t, &truth)?;
    }
    let mut kinds = std::collections::BTreeMap::new();
    for t in &truth {
        *kinds.entry(t.kind.name()).or_insert(0usize) += 1;
    }
    eprintln!(
        "gen_neardup: {} docs ({:.1} MB) in {secs:.2} s, seed {}: {kinds:?}",
        docs.len(),
        bytes as f64 / 1e6,
        a.seed
    );
    Ok(())
}

fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut bytes = 0u64;
    for it in items {
        let line = serde_json::to_string(it)?;
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        bytes += line.len() as u64 + 1;
    }
    w.flush()?;
    Ok(bytes)
}

fn score(truth: &Path, clusters: &Path) -> Result<()> {
    let truth = neardup::parse_truth(&fs::read_to_string(truth)?);
    let pairs = neardup::pairs_from_clusters(&fs::read_to_string(clusters)?);
    let s = neardup::score(&truth, &pairs);
    eprint!("{}", s.table());
    println!("{}", serde_json::to_string(&s)?);
    Ok(())
}
