//! Measures how local the built-in detector is, for the residual re-scan (issue 16): would
//! re-scanning only the sentences that hold a tag find what re-scanning a whole tagged
//! text finds?
//!
//! ```text
//! cargo run --release --example rescan_locality -- FILE.jsonl...
//! ```
//!
//! For each file, reads `text` and every `messages[].content` of each record (as
//! `detect_cost` does), detects in each text, and tags what it found the way a
//! `deidentify` stage with `action = "tag"` does (`<PERSON>`, `<PHONE>` ...: the
//! residual re-scan's input). Then it compares, per tagged text, the detections of the
//! whole text with the union of the detections of pieces of it, cut after `。！？；` and
//! line ends:
//!   `tagged`     the pieces that hold a tag;
//!   `tagged±1`   those and the piece on each side;
//! and, on the untagged texts, `split`: every piece, whose detections a memo of pieces
//! would reuse. It prints, per file, the texts whose detections differ under each cut
//! (with the first few differences on standard error), the bytes each cut reads, and
//! the bytes of pieces that repeat an earlier piece (what a memo of pieces could skip
//! at best).
//!
//! Nothing here is used by the tool: the re-scan reads whole texts, because a
//! difference in this count is a value the gate would miss.

use std::collections::HashSet;
use std::error::Error;

use datacustoms::detect::{DetectConfig, Detection, Detector};

#[path = "support/jsonl_texts.rs"]
mod jsonl_texts;

/// The pieces of `text`: cut after each `。！？；` and line end.
fn pieces(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '。' | '！' | '？' | '；' | '\n') {
            let end = i + c.len_utf8();
            out.push((start, end));
            start = end;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

/// Detections as comparable keys: span, type and score bits, sorted.
fn keys(found: &[Detection]) -> Vec<(usize, usize, &'static str, u32)> {
    let mut k: Vec<_> = found
        .iter()
        .map(|d| (d.start, d.end, d.entity.as_str(), d.score.to_bits()))
        .collect();
    k.sort_unstable();
    k
}

/// The detections of the pieces of `text` that `take` names (by index), in `text`'s
/// offsets; adds the bytes read to `read`.
fn detect_pieces(
    detector: &Detector,
    text: &str,
    pieces: &[(usize, usize)],
    take: impl Fn(usize) -> bool,
    read: &mut usize,
) -> Vec<Detection> {
    let mut all = Vec::new();
    let mut out = Vec::new();
    for (i, &(s, e)) in pieces.iter().enumerate() {
        if !take(i) {
            continue;
        }
        *read += e - s;
        detector.detect(&text[s..e], &mut out);
        all.extend(out.iter().map(|d| Detection {
            start: d.start + s,
            end: d.end + s,
            ..*d
        }));
    }
    all
}

/// `text` with each detection replaced by its type's tag (the earlier of two that
/// overlap kept), and the tags' byte ranges.
fn tagged(text: &str, found: &[Detection]) -> (String, Vec<(usize, usize)>) {
    let mut d = found.to_vec();
    d.sort_by_key(|x| (x.start, std::cmp::Reverse(x.end)));
    let (mut out, mut tags, mut at) = (String::new(), Vec::new(), 0);
    for x in d {
        if x.start < at {
            continue;
        }
        out.push_str(&text[at..x.start]);
        let s = out.len();
        out.push('<');
        out.push_str(x.entity.as_str());
        out.push('>');
        tags.push((s, out.len()));
        at = x.end;
    }
    out.push_str(&text[at..]);
    (out, tags)
}

#[derive(Default)]
struct Count {
    texts: usize,
    bytes: usize,
    tagged_texts: usize,
    tagged_bytes: usize,
    differ: [usize; 3],
    read: [usize; 3],
    repeated: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let detector = Detector::new(&DetectConfig::default());
    let mut shown = 0;
    let mut show = |what: &str, text: &str, whole: &[Detection], cut: &[Detection]| {
        if shown < 8 {
            shown += 1;
            eprintln!(
                "{what}: {text:?}\n  whole {:?}\n  cut   {:?}",
                keys(whole),
                keys(cut)
            );
        }
    };
    println!("| file | texts | MB | tagged texts | tagged MB | split: differ / MB read | tagged: differ / MB read | tagged±1: differ / MB read | repeated pieces MB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for path in std::env::args().skip(1) {
        let texts = jsonl_texts::read_texts(&path)?;
        let mut c = Count::default();
        let mut seen: HashSet<&str> = HashSet::new();
        let (mut whole, mut again) = (Vec::new(), Vec::new());
        for t in &texts {
            c.texts += 1;
            c.bytes += t.len();
            detector.detect(t, &mut whole);
            let cut = pieces(t);
            for &(s, e) in &cut {
                if !seen.insert(&t[s..e]) {
                    c.repeated += e - s;
                }
            }
            let split = detect_pieces(&detector, t, &cut, |_| true, &mut c.read[0]);
            if keys(&whole) != keys(&split) {
                c.differ[0] += 1;
                show("split", t, &whole, &split);
            }
            if whole.is_empty() {
                continue;
            }
            let (t2, tags) = tagged(t, &whole);
            c.tagged_texts += 1;
            c.tagged_bytes += t2.len();
            detector.detect(&t2, &mut again);
            let cut = pieces(&t2);
            let holds: Vec<bool> = cut
                .iter()
                .map(|&(s, e)| tags.iter().any(|&(a, b)| a < e && b > s))
                .collect();
            let near = |i: usize| {
                holds[i] || (i > 0 && holds[i - 1]) || holds.get(i + 1).copied().unwrap_or(false)
            };
            for (m, take) in [
                (1, &(|i: usize| holds[i]) as &dyn Fn(usize) -> bool),
                (2, &near),
            ] {
                let found = detect_pieces(&detector, &t2, &cut, take, &mut c.read[m]);
                if keys(&again) != keys(&found) {
                    c.differ[m] += 1;
                    show(
                        if m == 1 { "tagged" } else { "tagged±1" },
                        &t2,
                        &again,
                        &found,
                    );
                }
            }
        }
        let mb = |b: usize| b as f64 / 1e6;
        println!(
            "| {path} | {} | {:.2} | {} | {:.2} | {} / {:.2} | {} / {:.2} | {} / {:.2} | {:.2} |",
            c.texts,
            mb(c.bytes),
            c.tagged_texts,
            mb(c.tagged_bytes),
            c.differ[0],
            mb(c.read[0]),
            c.differ[1],
            mb(c.read[1]),
            c.differ[2],
            mb(c.read[2]),
            mb(c.repeated),
        );
    }
    Ok(())
}
