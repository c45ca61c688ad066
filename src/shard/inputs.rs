//! How a sharded run's plan cuts its input, and how a task knows the input is still the
//! one planned (`../shared/SCALEOUT.md` §2, v1).
//!
//! v1 shards are contiguous runs of whole files in input order: each file is read,
//! hashed and counted by exactly one task, as one process does today, and the parts
//! of shard K sort before those of shard K+1, so the export keeps input order. A file
//! is never split (compressed files cannot be, and Parquet row-group splitting is v2).

use std::ops::Range;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The target the plan cuts the input by (`plan --shard-bytes` or `--shards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardBy {
    /// Shards of at most this many bytes, except a single file larger than that.
    Bytes(u64),
    /// At most this many shards, as even in bytes as whole files allow.
    Count(usize),
}

/// The shards of a list of input files given their sizes in input order: ranges of file
/// indices, contiguous, in order, none empty, together covering every file.
pub fn shards(sizes: &[u64], by: ShardBy) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    match by {
        ShardBy::Bytes(target) => {
            let mut bytes = 0u64;
            for (i, &size) in sizes.iter().enumerate() {
                match out.last_mut() {
                    Some(last) if bytes.saturating_add(size) <= target => {
                        last.end = i + 1;
                        bytes += size;
                    }
                    _ => {
                        out.push(i..i + 1);
                        bytes = size;
                    }
                }
            }
        }
        ShardBy::Count(n) => {
            let n = n.max(1) as u128;
            let total: u128 = sizes.iter().map(|&s| u128::from(s)).sum();
            // Each file goes to the shard its midpoint falls in (by bytes, or by position
            // when every file is empty): non-decreasing, so the shards are contiguous.
            let mut before = 0u128;
            let mut last_shard = None;
            for (i, &size) in sizes.iter().enumerate() {
                let size = u128::from(size);
                let shard = if total == 0 {
                    (i as u128 * n) / sizes.len() as u128
                } else {
                    ((2 * before + size) * n / (2 * total)).min(n - 1)
                };
                before += size;
                match out.last_mut() {
                    Some(last) if last_shard == Some(shard) => last.end = i + 1,
                    _ => out.push(i..i + 1),
                }
                last_shard = Some(shard);
            }
        }
    }
    out
}

/// What the plan records of one input file, to tell later whether it changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    /// The path as reports show it.
    pub display: String,
    pub bytes: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 where the filesystem has
    /// none; 64 bits last until the year 2554, and JSON readers take them).
    pub mtime_ns: u64,
}

impl Stamp {
    /// The stamp of the file at `path`, shown as `display`.
    pub fn of(path: &Path, display: &str) -> Result<Stamp> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(Stamp {
            display: display.to_string(),
            bytes: meta.len(),
            mtime_ns,
        })
    }

    /// Fails (a data error, exit 65) when the file at `path` is no longer what the plan
    /// saw: a task must not read an input that changed after the plan fixed its shards.
    pub fn check(&self, path: &Path) -> Result<()> {
        let now = Stamp::of(path, &self.display)?;
        if now == *self {
            return Ok(());
        }
        let what = if now.bytes != self.bytes {
            format!("{} bytes, {} when planned", now.bytes, self.bytes)
        } else {
            "modified since".to_string()
        };
        Err(Error::Data(format!(
            "input {} changed since the plan ({what}): plan the run again",
            self.display
        )))
    }
}

/// One digest of the input as planned: the stamps in order (display path, size and
/// modification time of each file), never their contents.
pub fn inputs_digest(stamps: &[Stamp]) -> String {
    let mut h = Sha256::new();
    for s in stamps {
        h.update(s.display.as_bytes());
        h.update([0]);
        h.update(s.bytes.to_le_bytes());
        h.update(s.mtime_ns.to_le_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn covers_in_order(sizes: &[u64], got: &[Range<usize>]) -> bool {
        let mut next = 0;
        for r in got {
            if r.start != next || r.is_empty() {
                return false;
            }
            next = r.end;
        }
        next == sizes.len()
    }

    #[test]
    fn by_bytes_and_by_count() {
        let mib = 1 << 20;
        let sizes = [300 * mib, 300 * mib, 900 * mib, 100 * mib, 100 * mib];
        assert_eq!(
            shards(&sizes, ShardBy::Bytes(512 * mib)),
            [0..1, 1..2, 2..3, 3..5]
        );
        assert_eq!(shards(&sizes, ShardBy::Bytes(u64::MAX)), vec![(0..5)]);
        assert_eq!(shards(&[7; 8], ShardBy::Count(4)), [0..2, 2..4, 4..6, 6..8]);
        assert_eq!(shards(&[0; 6], ShardBy::Count(3)), [0..2, 2..4, 4..6]);
        // More shards asked than files: one file each.
        assert_eq!(shards(&[5, 5], ShardBy::Count(8)), [0..1, 1..2]);
        // One huge file and many small ones: the small ones share.
        assert_eq!(shards(&[1000, 1, 1, 1], ShardBy::Count(2)), [0..1, 1..4]);
        assert!(shards(&[], ShardBy::Count(3)).is_empty());
        assert_eq!(shards(&[1], ShardBy::Count(0)), vec![(0..1)]);
    }

    #[test]
    fn a_changed_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "{}\n").unwrap();
        let stamp = Stamp::of(&p, "a.jsonl").unwrap();
        stamp.check(&p).unwrap();
        let digest = inputs_digest(std::slice::from_ref(&stamp));
        assert_eq!(digest.len(), 64);
        std::fs::write(&p, "{}\n{}\n").unwrap();
        let err = stamp.check(&p).unwrap_err().to_string();
        assert!(err.contains("a.jsonl changed since the plan"), "{err}");
        assert!(err.contains("6 bytes, 3 when planned"), "{err}");
        let now = Stamp::of(&p, "a.jsonl").unwrap();
        assert_ne!(inputs_digest(&[now]), digest);
        assert!(Stamp::of(&dir.path().join("gone"), "gone").is_err());
    }

    proptest! {
        #[test]
        fn shards_cover_every_file_in_order(
            sizes in proptest::collection::vec(0u64..1000, 0..40),
            target in 1u64..3000,
            n in 1usize..12,
        ) {
            let by_bytes = shards(&sizes, ShardBy::Bytes(target));
            prop_assert!(covers_in_order(&sizes, &by_bytes));
            for r in &by_bytes {
                let bytes: u64 = sizes[r.clone()].iter().sum();
                prop_assert!(bytes <= target || r.len() == 1, "{:?} holds {} bytes", r, bytes);
            }
            // Greedy: a shard ends only where the next file would not fit.
            for w in by_bytes.windows(2) {
                let bytes: u64 = sizes[w[0].clone()].iter().sum();
                prop_assert!(bytes + sizes[w[1].start] > target);
            }
            let by_count = shards(&sizes, ShardBy::Count(n));
            prop_assert!(covers_in_order(&sizes, &by_count));
            prop_assert!(by_count.len() <= n.min(sizes.len()));
            // As even as whole files allow: no shard exceeds the even share by more
            // than its largest file.
            let total: u64 = sizes.iter().sum();
            for r in &by_count {
                let bytes: u64 = sizes[r.clone()].iter().sum();
                let largest = sizes[r.clone()].iter().copied().max().unwrap_or(0);
                prop_assert!(bytes <= total / n as u64 + 2 * largest + 1, "{:?}: {} of {}", r, bytes, total);
            }
        }
    }
}
