//! `audit.jsonl`: a hash-chained event log. Each line is a JSON object whose
//! `prev_sha256` is the SHA-256 of the previous line's bytes (64 zeros for the first), so
//! editing, removing or reordering any line breaks the chain at that point.
//! Invariant: events carry counts, paths, digests and key ids, never record content.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub struct AuditLog {
    path: PathBuf,
    file: File,
    prev: String,
    seq: u64,
    /// Aggregates-only exports: leave out exact counts, sizes and input digests, which
    /// would reveal what differential privacy protects.
    redact: bool,
}

/// Fields an aggregates-only export's audit log leaves out.
const REDACTED: [&str; 15] = [
    "rows",
    "rows_in",
    "rows_out",
    "duplicates",
    "quarantined",
    "blank_lines",
    "inputs",
    "subjects",
    "sensitive_subjects",
    "year_subjects",
    "year_sensitive_subjects",
    "inserted",
    "already_present",
    "hits",
    "records",
];

impl AuditLog {
    pub fn create(path: PathBuf) -> Result<Self> {
        let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        Ok(AuditLog {
            path,
            file,
            prev: GENESIS.to_string(),
            seq: 0,
            redact: false,
        })
    }

    /// Opens an existing log to append to it, continuing its chain.
    pub fn append(path: PathBuf) -> Result<Self> {
        let text = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let last = text
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .ok_or_else(|| Error::Data(format!("{}: empty audit log", path.display())))?;
        let v: Value = serde_json::from_slice(last)
            .map_err(|_| Error::Data(format!("{}: last line is not JSON", path.display())))?;
        let seq = v["seq"]
            .as_u64()
            .ok_or_else(|| Error::Data(format!("{}: last line has no seq", path.display())))?
            + 1;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        Ok(AuditLog {
            prev: hex::encode(Sha256::digest(last)),
            path,
            file,
            seq,
            redact: false,
        })
    }

    /// From now on, leave exact counts out of events (aggregates-only exports); input
    /// files keep their name but not their size or digest.
    pub fn redact_counts(&mut self) {
        self.redact = true;
    }

    /// Appends one event; `fields` must be a JSON object.
    pub fn event(&mut self, event: &str, fields: Value) -> Result<()> {
        let mut fields = fields;
        if self.redact {
            if let Value::Object(o) = &mut fields {
                o.retain(|k, _| !REDACTED.contains(&k.as_str()));
                if event.starts_with("input_") {
                    o.retain(|k, _| k != "bytes" && k != "sha256");
                }
                // Stage findings: counters go; a DP stage's description stays.
                if let Some(Value::Object(f)) = o.get_mut("findings") {
                    f.remove("totals");
                    f.remove("fields");
                    if f.get("info").is_none_or(|i| i.get("releases").is_none()) {
                        f.remove("info");
                    }
                }
            }
        }
        let mut m = Map::new();
        m.insert("seq".into(), json!(self.seq));
        m.insert("prev_sha256".into(), json!(self.prev));
        m.insert("ts".into(), json!(crate::evidence::now_rfc3339()));
        m.insert("event".into(), json!(event));
        if let Value::Object(extra) = fields {
            m.extend(extra);
        }
        let line = serde_json::to_vec(&Value::Object(m))?;
        self.prev = hex::encode(Sha256::digest(&line));
        self.seq += 1;
        self.file
            .write_all(&line)
            .and_then(|_| self.file.write_all(b"\n"))
            .map_err(|e| Error::io("cannot write", &self.path, e))
    }

    pub fn close(self) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| Error::io("cannot sync", &self.path, e))
    }
}

/// Checks the chain; returns the number of events, or where it breaks.
/// SHA-256 of the last line of an audit log: the head of its hash chain.
pub fn head(path: &Path) -> Result<String> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    let last = text
        .split(|b| *b == b'\n')
        .rfind(|l| !l.is_empty())
        .ok_or_else(|| Error::Data(format!("{}: empty audit log", path.display())))?;
    Ok(hex::encode(Sha256::digest(last)))
}

pub fn verify_chain(path: &Path) -> std::result::Result<u64, String> {
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    for (i, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let v: Value = serde_json::from_slice(&line)
            .map_err(|_| format!("audit.jsonl line {}: not a JSON object", i + 1))?;
        let claimed = v.get("prev_sha256").and_then(Value::as_str).unwrap_or("");
        if claimed != prev {
            return Err(format!(
                "audit.jsonl line {}: prev_sha256 does not match line {} (the log was edited, reordered or truncated)",
                i + 1,
                i
            ));
        }
        if v.get("seq").and_then(Value::as_u64) != Some(i as u64) {
            return Err(format!("audit.jsonl line {}: seq is not {i}", i + 1));
        }
        prev = hex::encode(Sha256::digest(&line));
        n += 1;
    }
    if n == 0 {
        return Err("audit.jsonl is empty".into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_detects_edits_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let mut log = AuditLog::create(p.clone()).unwrap();
        for i in 0..4 {
            log.event("e", json!({ "i": i })).unwrap();
        }
        log.close().unwrap();
        assert_eq!(verify_chain(&p), Ok(4));

        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replacen("\"i\":2", "\"i\":7", 1)).unwrap();
        assert!(verify_chain(&p).unwrap_err().contains("line 4"));

        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&p, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(verify_chain(&p).is_err());
    }
}
