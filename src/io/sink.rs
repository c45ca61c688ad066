//! Output data parts: `data/part-NNNNN.jsonl` or `.parquet`, rolling over at a size.
//!
//! Invariants: parts are written in batch order by one thread, so their content and their
//! boundaries do not depend on the thread count; each part's SHA-256 is computed while it
//! is written; each part is flushed and synced before it counts as written. At least one
//! part is always written, so a consumer can read the schema of an empty export.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use crate::config::{Compression, Format};
use crate::engine::batch::AbsentKeys;
use crate::error::{Error, Result};
use crate::io::jsonl::encode_batch;

/// A finished output file, as the manifest lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct WrittenFile {
    /// Path relative to the export directory, with `/` separators.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// A `Write` that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub format: Format,
    pub max_file_bytes: u64,
    pub row_group_rows: usize,
    pub compression: Compression,
}

enum Part {
    Jsonl(HashingWriter<BufWriter<File>>),
    Parquet(Box<ArrowWriter<HashingWriter<BufWriter<File>>>>),
}

struct OpenPart {
    part: Part,
    rel: String,
    path: PathBuf,
    rows: u64,
}

/// Writes batches into rolling part files under `dir` (the export's `data/` folder).
pub struct DataSink {
    export_dir: PathBuf,
    schema: SchemaRef,
    opts: SinkOptions,
    current: Option<OpenPart>,
    pub written: Vec<WrittenFile>,
    buf: Vec<u8>,
}

impl DataSink {
    pub fn new(export_dir: PathBuf, schema: SchemaRef, opts: SinkOptions) -> Result<Self> {
        let data = export_dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| Error::io("cannot create", &data, e))?;
        Ok(DataSink {
            export_dir,
            schema,
            opts,
            current: None,
            written: Vec::new(),
            buf: Vec::new(),
        })
    }

    fn open(&mut self) -> Result<()> {
        let rel = format!(
            "data/part-{:05}.{}",
            self.written.len(),
            self.opts.format.extension()
        );
        let path = self.export_dir.join(&rel);
        let f = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        let w = HashingWriter::new(BufWriter::with_capacity(1 << 20, f));
        let part = match self.opts.format {
            // The plan refuses a CSV output; JSONL is the text format written.
            Format::Jsonl | Format::Csv => Part::Jsonl(w),
            Format::Parquet => {
                let compression = match self.opts.compression {
                    Compression::Zstd => PqCompression::ZSTD(ZstdLevel::try_new(3)?),
                    Compression::Snappy => PqCompression::SNAPPY,
                    Compression::None => PqCompression::UNCOMPRESSED,
                };
                let props = WriterProperties::builder()
                    .set_compression(compression)
                    .set_max_row_group_row_count(Some(self.opts.row_group_rows.max(1)))
                    .set_created_by(format!("datacustoms {}", env!("CARGO_PKG_VERSION")))
                    .build();
                Part::Parquet(Box::new(ArrowWriter::try_new(
                    w,
                    self.schema.clone(),
                    Some(props),
                )?))
            }
        };
        self.current = Some(OpenPart {
            part,
            rel,
            path,
            rows: 0,
        });
        Ok(())
    }

    fn current_size(p: &OpenPart) -> u64 {
        match &p.part {
            Part::Jsonl(w) => w.bytes,
            Part::Parquet(w) => (w.bytes_written() + w.in_progress_size()) as u64,
        }
    }

    /// Appends a batch, rolling over to a new part first if the current one is full.
    pub fn write(&mut self, batch: &RecordBatch, absent: &AbsentKeys) -> Result<()> {
        if let Some(p) = &self.current {
            if Self::current_size(p) >= self.opts.max_file_bytes {
                self.close()?;
            }
        }
        if self.current.is_none() {
            self.open()?;
        }
        let p = self.current.as_mut().expect("opened above");
        match &mut p.part {
            Part::Jsonl(w) => {
                self.buf.clear();
                encode_batch(batch, absent, &mut self.buf)?;
                w.write_all(&self.buf)
                    .map_err(|e| Error::io("cannot write", &p.path, e))?;
            }
            Part::Parquet(w) => w.write(batch)?,
        }
        p.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        let Some(p) = self.current.take() else {
            return Ok(());
        };
        let hw = match p.part {
            Part::Jsonl(w) => w,
            Part::Parquet(w) => w.into_inner()?,
        };
        let (buf, sha256, bytes) = hw.finish();
        let f = buf
            .into_inner()
            .map_err(|e| Error::io("cannot write", &p.path, e.into_error()))?;
        f.sync_all()
            .map_err(|e| Error::io("cannot sync", &p.path, e))?;
        self.written.push(WrittenFile {
            path: p.rel,
            sha256,
            bytes,
            rows: Some(p.rows),
        });
        Ok(())
    }

    /// Closes the last part and returns every part written.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>> {
        if self.current.is_none() && self.written.is_empty() {
            self.open()?;
        }
        self.close()?;
        Ok(self.written)
    }
}
