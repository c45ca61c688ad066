//! Rejected records: where they came from, why, and where their bytes go.
//!
//! Invariant: the export's `quarantine.jsonl` carries the location, the reason and the
//! SHA-256 of the raw bytes, never the bytes: quarantined data was not cleaned and must not
//! go abroad. The raw bytes go only to the home-side quarantine directory, created 0700.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where a rejected record sits in its input file. Lines and rows are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Line(u64),
    Rows { first: u64, last: u64 },
    File,
}

/// One rejected record (or block of rows, or whole file).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub file: u32,
    pub location: Location,
    /// Rows this rejection accounts for in the reconciliation (0 for a file whose rows
    /// could not be counted).
    pub rows: u64,
    /// A stable reason code: malformed_json, invalid_utf8, not_an_object,
    /// schema_mismatch, corrupt_row_group, unreadable_file, ...
    pub reason: &'static str,
    /// What is wrong, without any value from the record.
    pub detail: String,
    pub sha256: String,
    /// The raw bytes, for the home-side quarantine directory only.
    pub raw: Option<Vec<u8>>,
}

impl Rejection {
    pub fn new(
        file: u32,
        location: Location,
        rows: u64,
        reason: &'static str,
        detail: String,
        raw: Vec<u8>,
    ) -> Self {
        Rejection {
            file,
            location,
            rows,
            reason,
            detail,
            sha256: hex::encode(Sha256::digest(&raw)),
            raw: Some(raw),
        }
    }

    /// "data.jsonl line 12: malformed_json (expected `:` at column 9)".
    pub fn describe(&self, file_name: &str) -> String {
        format!(
            "{file_name} {}: {} ({})",
            self.location_text(),
            self.reason,
            self.detail
        )
    }

    pub fn location_text(&self) -> String {
        match self.location {
            Location::Line(n) => format!("line {n}"),
            Location::Rows { first, last } if first == last => format!("row {first}"),
            Location::Rows { first, last } => format!("rows {first}-{last}"),
            Location::File => "whole file".to_string(),
        }
    }

    fn export_json(&self, file_name: &str) -> serde_json::Value {
        let mut v = json!({ "file": file_name });
        let m = v.as_object_mut().expect("object");
        match self.location {
            Location::Line(n) => {
                m.insert("line".into(), json!(n));
            }
            Location::Rows { first, last } => {
                m.insert("row".into(), json!(first));
                if last != first {
                    m.insert("last_row".into(), json!(last));
                }
            }
            Location::File => {
                m.insert("whole_file".into(), json!(true));
            }
        }
        m.insert("rows".into(), json!(self.rows));
        m.insert("reason".into(), json!(self.reason));
        m.insert("detail".into(), json!(self.detail));
        m.insert("sha256".into(), json!(self.sha256));
        v
    }
}

/// Writes `quarantine.jsonl` into the export staging folder and the raw bytes into the
/// home-side directory (created on the first rejection only).
/// The files a finished quarantine writer left and its counts (`QuarantineWriter::written`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Written {
    /// `quarantine.jsonl` for the export, if any record was quarantined.
    pub export: Option<PathBuf>,
    /// The raw records kept at home, if any.
    pub home: Option<PathBuf>,
    pub records: u64,
    pub rows: u64,
}

pub struct QuarantineWriter {
    export_path: PathBuf,
    export: Option<BufWriter<File>>,
    home_dir: PathBuf,
    home: Option<BufWriter<File>>,
    pub records: u64,
    pub rows: u64,
}

impl QuarantineWriter {
    pub fn new(export_path: PathBuf, home_dir: PathBuf) -> Self {
        QuarantineWriter {
            export_path,
            export: None,
            home_dir,
            home: None,
            records: 0,
            rows: 0,
        }
    }

    pub fn home_dir(&self) -> &Path {
        &self.home_dir
    }

    pub fn write(&mut self, r: &Rejection, file_name: &str) -> Result<()> {
        if self.export.is_none() {
            let f = File::create(&self.export_path)
                .map_err(|e| Error::io("cannot create", &self.export_path, e))?;
            self.export = Some(BufWriter::new(f));
        }
        let mut line = r.export_json(file_name);
        let w = self.export.as_mut().expect("opened above");
        serde_json::to_writer(&mut *w, &line).map_err(|e| Error::Internal(e.to_string()))?;
        w.write_all(b"\n")
            .map_err(|e| Error::io("cannot write", &self.export_path, e))?;

        if let Some(raw) = &r.raw {
            let home = self.open_home()?;
            let m = line.as_object_mut().expect("object");
            match std::str::from_utf8(raw) {
                Ok(s) => m.insert("raw".into(), json!(s)),
                Err(_) => m.insert(
                    "raw_base64".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(raw)),
                ),
            };
            serde_json::to_writer(&mut *home, &line).map_err(|e| Error::Internal(e.to_string()))?;
            home.write_all(b"\n")
                .map_err(|e| Error::io("cannot write", &self.home_dir, e))?;
        }
        self.records += 1;
        self.rows += r.rows;
        Ok(())
    }

    fn open_home(&mut self) -> Result<&mut BufWriter<File>> {
        if self.home.is_none() {
            create_private_dir(&self.home_dir)?;
            let p = self.home_dir.join("records.jsonl");
            let f = File::create(&p).map_err(|e| Error::io("cannot create", &p, e))?;
            self.home = Some(BufWriter::new(f));
        }
        Ok(self.home.as_mut().expect("opened above"))
    }

    /// Appends what another writer wrote (a shard's, finished): its export lines, and
    /// its raw records from its home folder, after this writer's, with its counts. Done
    /// in shard order, the files are the ones a single writer over every shard would
    /// have written (rejections name their file and line, never a shard).
    pub fn append(&mut self, shard: &QuarantineWriter) -> Result<()> {
        self.append_files(&Written {
            export: shard.export.is_some().then(|| shard.export_path.clone()),
            home: shard
                .home
                .is_some()
                .then(|| shard.home_dir.join("records.jsonl")),
            records: shard.records,
            rows: shard.rows,
        })
    }

    /// What this writer wrote, finished, for another process to `append_files`.
    pub fn written(&self) -> Written {
        Written {
            export: self.export.is_some().then(|| self.export_path.clone()),
            home: self
                .home
                .is_some()
                .then(|| self.home_dir.join("records.jsonl")),
            records: self.records,
            rows: self.rows,
        }
    }

    /// `append`, from the files another process's writer left (`written`).
    pub fn append_files(&mut self, shard: &Written) -> Result<()> {
        let copy = |from: &Path, to: &mut BufWriter<File>, to_path: &Path| -> Result<()> {
            let mut f = File::open(from).map_err(|e| Error::io("cannot read", from, e))?;
            std::io::copy(&mut f, to).map_err(|e| Error::io("cannot write", to_path, e))?;
            Ok(())
        };
        if let Some(from) = &shard.export {
            if self.export.is_none() {
                let f = File::create(&self.export_path)
                    .map_err(|e| Error::io("cannot create", &self.export_path, e))?;
                self.export = Some(BufWriter::new(f));
            }
            let to = self.export.as_mut().expect("opened above");
            copy(from, to, &self.export_path)?;
        }
        if let Some(from) = &shard.home {
            let home_dir = self.home_dir.clone();
            let to = self.open_home()?;
            copy(from, to, &home_dir)?;
        }
        self.records += shard.records;
        self.rows += shard.rows;
        Ok(())
    }

    /// Flushes both files; returns whether the export file exists.
    pub fn finish(&mut self) -> Result<bool> {
        if let Some(w) = self.export.as_mut() {
            w.flush()
                .map_err(|e| Error::io("cannot write", &self.export_path, e))?;
        }
        if let Some(w) = self.home.as_mut() {
            w.flush()
                .map_err(|e| Error::io("cannot write", &self.home_dir, e))?;
        }
        Ok(self.export.is_some())
    }
}

/// Creates a directory readable by its owner only: it holds uncleaned records.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("cannot set permissions on", dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(i: u64) -> Rejection {
        let mut r = Rejection::new(
            (i % 2) as u32,
            Location::Line(i + 1),
            1,
            "malformed_json",
            format!("expected `:` at column {i}"),
            format!("{{bad {i}").into_bytes(),
        );
        if i.is_multiple_of(3) {
            // A rejection without raw bytes (a whole unreadable file).
            r.raw = None;
        }
        r
    }

    /// Shard writers appended in order write what one writer over every rejection
    /// writes, in the export and at home, with the same counts.
    #[test]
    fn shard_quarantines_append_into_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["a.jsonl", "b.jsonl"];
        let writer = |name: &str| {
            QuarantineWriter::new(
                dir.path().join(format!("{name}.quarantine.jsonl")),
                dir.path().join(format!("{name}.home")),
            )
        };
        let mut whole = writer("whole");
        for i in 0..10 {
            whole.write(&rejection(i), names[(i % 2) as usize]).unwrap();
        }
        whole.finish().unwrap();
        let mut merged = writer("merged");
        for (k, range) in [0..4u64, 4..4, 4..10].into_iter().enumerate() {
            let mut shard = writer(&format!("shard{k}"));
            for i in range {
                shard.write(&rejection(i), names[(i % 2) as usize]).unwrap();
            }
            shard.finish().unwrap();
            merged.append(&shard).unwrap();
        }
        merged.finish().unwrap();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(
            read(dir.path().join("merged.quarantine.jsonl")),
            read(dir.path().join("whole.quarantine.jsonl"))
        );
        assert_eq!(
            read(dir.path().join("merged.home/records.jsonl")),
            read(dir.path().join("whole.home/records.jsonl"))
        );
        assert_eq!((merged.records, merged.rows), (whole.records, whole.rows));
        assert_eq!((merged.records, merged.rows), (10, 10));
    }
}
