//! Throughput of the crypto module: keyed tokens (`crypto::token`) and AES-256-GCM cells
//! (`crypto::cell`, encryption and decryption), at 1 and 2 threads.
//!
//! ```text
//! cargo run --release --example crypto_bench -- [N]      # N per measurement, default 2000000
//! benches/crypto.sh [N]                                    # the same, with the CPU model first
//! ```
//!
//! One line per measurement, `key=value` fields, from the run (of 3) with the median wall
//! time:
//!
//! ```text
//! tokens kind=USER_ID value=16B threads=1 n=2000000 seconds=0.630 per_sec=3170000 cpu_seconds=0.631 per_cpu_sec=3169000 runs=0.629/0.630/0.641
//! encrypt value=64B threads=2 n=2000000 seconds=0.500 per_sec=4000000 cpu_seconds=0.990 per_cpu_sec=2020000 runs=...
//! decrypt value=64B threads=2 n=2000000 seconds=0.400 per_sec=5000000 cpu_seconds=0.790 per_cpu_sec=2530000 runs=...
//! ```
//!
//! `seconds` / `per_sec`: wall time. `cpu_seconds` / `per_cpu_sec`: user + system CPU
//! time of the whole process during that run (getrusage), so a figure per busy core that
//! is less disturbed by other load on the machine than wall time (it includes rayon's
//! brief idle spinning). `runs`: the wall seconds of all runs, in order.
//!
//! The work is split into chunks of `CHUNK` values, one rayon task each, on a pool of
//! exactly `threads` threads. Values come from a small pool of distinct precomputed
//! strings of exactly the stated size (ASCII), so the timed loops allocate nothing of
//! their own; whatever they allocate is the library's. Per chunk: encryption reserves its
//! cell numbers from the shared `DekPool` (one lock per chunk) and builds a
//! `CellEncryptor`; decryption builds a `CellDecryptor` (it unwraps the DEKs: an HKDF and
//! two AES key schedules per chunk). Those per-chunk costs are inside the timed region.

use std::hint::black_box;
use std::time::Instant;

use datacustoms::crypto::cell::{CellDecryptor, CellEncryptor, DekPool, DEFAULT_MAX_CELLS};
use datacustoms::crypto::token::Tokenizer;
use datacustoms::crypto::{Keyring, Secret};
use rayon::prelude::*;

/// Values per rayon task.
const CHUNK: usize = 8192;
/// Distinct values per size (a power of two: indexed with a mask).
const DISTINCT: usize = 4096;
/// Timed runs per measurement; the median is reported.
const RUNS: usize = 3;
const THREADS: [usize; 2] = [1, 2];

const EXPORT: &str = "export-id";
const COLUMN: &str = "column";
const RECORD: Option<&str> = Some("record-id");

/// `DISTINCT` distinct ASCII values of exactly `size` bytes for `kind`.
fn values(kind: &str, size: usize) -> Vec<String> {
    const WORDS: &str = "Customer wrote in about a delayed parcel to Flat 12, 48 Harbour Road; \
        asked that the courier call ahead and leave it with the neighbour at number 50 if \
        nobody answers. Account notes: prefers e-mail, no marketing, renewal due in March, \
        loyalty tier silver since 2019, two open tickets about billing address changes and \
        a refund for a duplicated charge on the last statement. ";
    (0..DISTINCT)
        .map(|i| {
            let mut v = match (kind, size) {
                // "+86 138 12345678": 16 bytes, digits vary.
                ("PHONE", 16) => format!("+86 13{} {:08}", i % 10, i * 7919 % 100_000_000),
                ("PHONE", _) => panic!("PHONE values are 16 bytes"),
                // "usr-000012345678": 16 bytes.
                (_, 16) => format!("usr-{:012}", i as u64 * 2_654_435_761 % 1_000_000_000_000),
                // Longer text: a record number, then free text.
                _ => format!("ticket {i:06}: {WORDS}{WORDS}"),
            };
            assert!(v.len() >= size, "template shorter than {size} bytes");
            v.truncate(size);
            v
        })
        .collect()
}

/// User + system CPU seconds of this process so far (all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Times `f` (which processes `len` values from index `start`) over `n` values in chunks
/// on `pool`, `RUNS` times; prints the run with the median wall time and its CPU seconds.
fn measure(
    label: &str,
    pool: &rayon::ThreadPool,
    threads: usize,
    n: usize,
    f: impl Fn(usize, usize) + Sync,
) {
    let chunks = n.div_ceil(CHUNK);
    let mut runs: Vec<(f64, f64)> = (0..RUNS)
        .map(|_| {
            let cpu = cpu_seconds();
            let t = Instant::now();
            pool.install(|| {
                (0..chunks).into_par_iter().for_each(|c| {
                    let start = c * CHUNK;
                    f(start, CHUNK.min(n - start));
                })
            });
            (t.elapsed().as_secs_f64(), cpu_seconds() - cpu)
        })
        .collect();
    let all = runs
        .iter()
        .map(|(s, _)| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join("/");
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, cpu) = runs[RUNS / 2];
    println!(
        "{label} threads={threads} n={n} seconds={wall:.3} per_sec={:.0} cpu_seconds={cpu:.3} per_cpu_sec={:.0} runs={all}",
        n as f64 / wall,
        n as f64 / cpu
    );
}

fn cpu_features() {
    let flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("flags"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let yn = |b: bool| if b { "yes" } else { "no" };
    print!(
        "cpuinfo aes={} pclmulqdq={} sha_ni={} avx2={} vaes={} vpclmulqdq={}",
        yn(has("aes")),
        yn(has("pclmulqdq")),
        yn(has("sha_ni")),
        yn(has("avx2")),
        yn(has("vaes")),
        yn(has("vpclmulqdq"))
    );
    #[cfg(target_arch = "x86_64")]
    print!(
        " detected_aes={} detected_pclmulqdq={} detected_sha={}",
        yn(std::is_x86_feature_detected!("aes")),
        yn(std::is_x86_feature_detected!("pclmulqdq")),
        yn(std::is_x86_feature_detected!("sha"))
    );
    println!();
}

fn main() {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.replace(['_', ','], "").parse().unwrap_or_else(|_| {
            eprintln!("usage: crypto_bench [N]   (N: values per measurement, default 2000000)");
            std::process::exit(2)
        }),
        None => 2_000_000,
    };
    assert!(n > 0, "N must be positive");
    cpu_features();
    println!("config n={n} chunk={CHUNK} distinct_values={DISTINCT} runs={RUNS} (median reported)");

    let ring = Keyring::single(Secret::from_bytes([7u8; 32]), "bench");
    let root = ring.primary();
    let tokenizer = Tokenizer::new(root, "bench-scope", ["USER_ID"]);
    let pools: Vec<rayon::ThreadPool> = THREADS
        .iter()
        .map(|&t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .expect("thread pool")
        })
        .collect();
    let mask = DISTINCT - 1;

    // Tokens.
    for (kind, size) in [("PHONE", 16), ("USER_ID", 16), ("USER_ID", 256)] {
        let vals = values(kind, size);
        assert!(
            tokenizer.token(kind, &vals[0]).is_some(),
            "{kind} not declared"
        );
        for (&threads, pool) in THREADS.iter().zip(&pools) {
            measure(
                &format!("tokens kind={kind} value={size}B"),
                pool,
                threads,
                n,
                |start, len| {
                    for i in start..start + len {
                        black_box(tokenizer.token(kind, black_box(&vals[i & mask])));
                    }
                },
            );
        }
    }

    // Cells.
    for size in [16, 64, 256] {
        let vals = values("TEXT", size);

        // Encryption: one DekPool per measurement, one reservation per chunk.
        for (&threads, pool) in THREADS.iter().zip(&pools) {
            let dek_pool = DekPool::new(root, DEFAULT_MAX_CELLS);
            measure(
                &format!("encrypt value={size}B"),
                pool,
                threads,
                n,
                |start, len| {
                    let mut enc =
                        CellEncryptor::new(dek_pool.reserve(len as u64).expect("reserve"));
                    let mut aad = Vec::new();
                    let mut out = String::new();
                    for i in start..start + len {
                        out.clear();
                        enc.encrypt(
                            vals[i & mask].as_bytes(),
                            EXPORT,
                            COLUMN,
                            RECORD,
                            &mut aad,
                            &mut out,
                        )
                        .expect("encrypt");
                        black_box(&out);
                    }
                },
            );
        }

        // Decryption of DISTINCT precomputed cells, checked once against the plaintext.
        let dek_pool = DekPool::new(root, DEFAULT_MAX_CELLS);
        let cells: Vec<String> = {
            let mut enc = CellEncryptor::new(dek_pool.reserve(DISTINCT as u64).expect("reserve"));
            let mut aad = Vec::new();
            vals.iter()
                .map(|v| {
                    let mut out = String::new();
                    enc.encrypt(v.as_bytes(), EXPORT, COLUMN, RECORD, &mut aad, &mut out)
                        .expect("encrypt");
                    out
                })
                .collect()
        };
        let wrapped = dek_pool.wrapped();
        {
            let mut dec = CellDecryptor::new(&ring, &wrapped).expect("unwrap DEKs");
            let mut aad = Vec::new();
            for (c, v) in cells.iter().zip(&vals) {
                let plain = dec
                    .decrypt(c, EXPORT, COLUMN, RECORD, &mut aad)
                    .expect("decrypt");
                assert_eq!(plain, v.as_bytes(), "round trip");
            }
        }
        for (&threads, pool) in THREADS.iter().zip(&pools) {
            measure(
                &format!("decrypt value={size}B"),
                pool,
                threads,
                n,
                |start, len| {
                    let mut dec = CellDecryptor::new(&ring, &wrapped).expect("unwrap DEKs");
                    let mut aad = Vec::new();
                    for i in start..start + len {
                        let plain = dec
                            .decrypt(&cells[i & mask], EXPORT, COLUMN, RECORD, &mut aad)
                            .expect("decrypt");
                        black_box(plain);
                    }
                },
            );
        }
    }
}
