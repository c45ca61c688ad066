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

/// A part file written behind: every `DROP_WINDOW` bytes, the kernel is told to start
/// writing the newest window to disk (`sync_file_range`), and the window before it, on
/// disk by then, leaves the page cache (`POSIX_FADV_DONTNEED`). The export is never
/// read back by the run (its hashes are taken as it is written, and each part is synced
/// when closed anyway), so its pages only pushed other files' pages out; and the pages
/// it frees are taken again at once by its next windows instead of new ones. On these
/// virtual machines a new page-cache page costs a host fault: writing the export was
/// about 9 of the 79 CPU-seconds of the 1 GiB pipeline. Both calls are advice: an
/// error from them changes nothing (the sync at close reports real write errors).
struct DropBehind {
    file: File,
    written: u64,
    /// `[dropped, kicked)` is being written back; `[kicked, written)` not yet asked.
    dropped: u64,
    kicked: u64,
}

const DROP_WINDOW: u64 = 16 << 20;

impl DropBehind {
    fn new(file: File) -> Self {
        DropBehind {
            file,
            written: 0,
            dropped: 0,
            kicked: 0,
        }
    }

    /// Starts writeback of `[kicked, written)`; waits for `[dropped, kicked)`, started
    /// one window earlier, and drops it from the page cache.
    #[cfg(target_os = "linux")]
    fn behind(&mut self) {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let len = |a: u64, b: u64| (b - a) as libc::off64_t;
        // SAFETY: plain system calls on a descriptor this struct owns; no memory is
        // passed.
        unsafe {
            libc::sync_file_range(
                fd,
                self.kicked as libc::off64_t,
                len(self.kicked, self.written),
                libc::SYNC_FILE_RANGE_WRITE,
            );
            if self.kicked > self.dropped {
                libc::sync_file_range(
                    fd,
                    self.dropped as libc::off64_t,
                    len(self.dropped, self.kicked),
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
                libc::posix_fadvise(
                    fd,
                    self.dropped as libc::off_t,
                    len(self.dropped, self.kicked),
                    libc::POSIX_FADV_DONTNEED,
                );
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn behind(&mut self) {}
}

impl Write for DropBehind {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.kicked >= DROP_WINDOW {
            self.behind();
            (self.dropped, self.kicked) = (self.kicked, self.written);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
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
    Jsonl(HashingWriter<BufWriter<DropBehind>>),
    Parquet(Box<ArrowWriter<HashingWriter<BufWriter<DropBehind>>>>),
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
        let w = HashingWriter::new(BufWriter::with_capacity(1 << 20, DropBehind::new(f)));
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
            .map_err(|e| Error::io("cannot write", &p.path, e.into_error()))?
            .file;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_written_behind_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let mut w = DropBehind::new(File::create(&path).unwrap());
        // Three windows and a bit, in pieces that do not divide them.
        let piece: Vec<u8> = (0..=250u8).cycle().take(999_983).collect();
        let mut n = 0u64;
        while n < 3 * DROP_WINDOW + 12_345 {
            w.write_all(&piece).unwrap();
            n += piece.len() as u64;
        }
        assert_eq!(w.written, n);
        assert!(w.dropped > 0, "no window was dropped behind");
        w.file.sync_all().unwrap();
        drop(w);
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len() as u64, n);
        assert!(back.chunks(piece.len()).all(|c| c == &piece[..c.len()]));
    }
}
