//! Runs the built-in detector over the text fields of a JSONL file once, for counting
//! its cost in instructions (`benches/detect_instructions.sh` runs it under callgrind,
//! which counts only inside `detect_all`).
//!
//! ```text
//! cargo run --release --example detect_cost -- FILE.jsonl
//! ```
//!
//! Reads `text` and every `messages[].content` of each record (the fields
//! `benches/deidentify.sh` de-identifies), then prints `texts=… bytes=… detections=…`.
//! Before the counted call it detects in a few warm-up texts that reach the detector's
//! lazily built parts (the reference lexicons, libphonenumber's metadata and its
//! compiled patterns for +1 and +44), so the count is the per-text cost, not the
//! process's start-up; the rules' lazily compiled regexes are only reached by the texts
//! that need them, so `DETECT_COST_WARM=1` first runs every text once, uncounted. With
//! `DETECT_COST_ROUNDS=N` it then times N more passes; `DETECT_COST_DIGEST=1` prints a
//! digest of every detection, `DETECT_COST_MIN_SCORE=X` lowers the threshold.

use std::error::Error;

use datacustoms::detect::{DetectConfig, Detection, Detector};

#[path = "support/jsonl_texts.rs"]
mod jsonl_texts;

/// Every text once; the number of detections.
#[inline(never)]
fn detect_all(detector: &Detector, texts: &[String]) -> usize {
    let mut out: Vec<Detection> = Vec::new();
    let mut n = 0;
    for t in texts {
        detector.detect(t, &mut out);
        n += out.len();
    }
    n
}

/// `detect_all` under another name, which callgrind does not count.
#[inline(never)]
fn warm_all(detector: &Detector, texts: &[String]) -> usize {
    let mut out: Vec<Detection> = Vec::new();
    texts.iter().fold(0, |n, t| {
        detector.detect(t, &mut out);
        n + out.len()
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: detect_cost FILE.jsonl")?;
    let texts = jsonl_texts::read_texts(&path)?;
    // `DETECT_COST_WITHOUT=person,address`: the detector without those types, to split
    // the cost between recognizer families.
    let mut cfg = DetectConfig::default();
    if let Ok(without) = std::env::var("DETECT_COST_WITHOUT") {
        let off: Vec<&str> = without.split(',').map(str::trim).collect();
        cfg.entities.retain(|e| !off.contains(&e.as_str()));
    }
    // `DETECT_COST_MIN_SCORE=0.1`: a lower threshold, so the digest also covers the weak
    // candidates the default one drops (a change that prunes them must keep them).
    if let Ok(v) = std::env::var("DETECT_COST_MIN_SCORE") {
        cfg.min_score = v
            .parse()
            .map_err(|e| format!("DETECT_COST_MIN_SCORE: {e}"))?;
    }
    let detector = Detector::new(&cfg);
    let warm = [
        "张三的电话是13812345678，住在北京市朝阳区建国路88号",
        "call Ann Lee on (415) 555-0134 or phone 4165550134, UK 01184960727",
        "phone 2125550134; tel 9943101515; https://example.com 192.168.0.1 ::1 京A12345",
    ];
    let mut out = Vec::new();
    for w in warm {
        detector.detect(w, &mut out);
    }
    // `DETECT_COST_WARM=1`: one uncounted pass over every text first, so the count is
    // the steady state without any lazily built part (a rule's regex is compiled on the
    // first text that reaches it; in an 8 MB sample that was a tenth of the count).
    if std::env::var_os("DETECT_COST_WARM").is_some() {
        warm_all(&detector, &texts);
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let found = detect_all(&detector, &texts);
    println!("texts={} bytes={bytes} detections={found}", texts.len());
    // `DETECT_COST_ROUNDS=N`: N more passes, each timed (wall seconds, for A/B runs
    // outside callgrind; the first pass above also warms the caches).
    let rounds: usize = std::env::var("DETECT_COST_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        detect_all(&detector, &texts);
        println!("pass {:.3} s", t.elapsed().as_secs_f64());
    }
    // `DETECT_COST_DIGEST=1`: a digest of every detection (type, span, score), to check
    // that a change meant to be faster finds exactly what it found before.
    if std::env::var_os("DETECT_COST_DIGEST").is_some() {
        let mut out: Vec<Detection> = Vec::new();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        };
        for t in &texts {
            detector.detect(t, &mut out);
            eat(out.len() as u64);
            for d in &out {
                d.entity.as_str().bytes().for_each(|b| eat(u64::from(b)));
                eat(d.start as u64);
                eat(d.end as u64);
                eat(u64::from(d.score.to_bits()));
            }
        }
        println!("digest {h:016x}");
    }
    // `DETECT_COST_SPLIT=1`: one timed pass over the ASCII texts and one over the rest.
    if std::env::var_os("DETECT_COST_SPLIT").is_some() {
        let (ascii, other): (Vec<String>, Vec<String>) =
            texts.into_iter().partition(|t| t.is_ascii());
        for (name, part) in [("ascii", ascii), ("non-ascii", other)] {
            let t = std::time::Instant::now();
            detect_all(&detector, &part);
            let s = t.elapsed().as_secs_f64();
            let b: usize = part.iter().map(String::len).sum();
            println!(
                "{name}: {} texts, {b} bytes, {s:.3} s, {:.1} MB/s",
                part.len(),
                b as f64 / s / 1e6
            );
        }
    }
    Ok(())
}
