//! Inputs: resolving files, directories and globs, and the reader thread that turns them
//! into numbered chunks.
//!
//! Invariants: files are read in a stable order (sorted paths), chunks are numbered in
//! read order and never span two files, and every non-blank line or row the reader sees
//! is counted in `FileRead::rows`, so the engine can reconcile what came in against what
//! went out. Parquet is read one row group at a time, a batch at a time, so an unreadable
//! row group is quarantined without losing the rest of the file.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::SyncSender;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use indicatif::ProgressBar;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use sha2::{Digest, Sha256};

use crate::config::Format;
use crate::error::{Error, Result};
use crate::io::jsonl::LinesChunk;
use crate::io::quarantine::{Location, Rejection};
use crate::io::schema::SchemaInference;

/// Compression of a JSONL file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// The path as shown in reports and messages.
    pub display: String,
    pub format: Format,
    pub codec: Codec,
    pub bytes: u64,
}

/// Format and codec from a file name, or None for a file we do not read.
pub fn classify(path: &Path) -> Option<(Format, Codec)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, codec) = if let Some(s) = name.strip_suffix(".gz") {
        (s, Codec::Gzip)
    } else if let Some(s) = name.strip_suffix(".zst") {
        (s, Codec::Zstd)
    } else {
        (name.as_str(), Codec::None)
    };
    if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") || stem.ends_with(".json") {
        Some((Format::Jsonl, codec))
    } else if codec == Codec::None && (stem.ends_with(".parquet") || stem.ends_with(".pq")) {
        Some((Format::Parquet, Codec::None))
    } else {
        None
    }
}

/// Expands files, directories (recursively, hidden entries skipped) and globs into a
/// sorted, de-duplicated list of input files of one format.
pub fn resolve_inputs(patterns: &[String], format: Option<Format>) -> Result<Vec<InputFile>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for pat in patterns {
        let p = Path::new(pat);
        if p.is_file() {
            paths.push(p.to_path_buf());
        } else if p.is_dir() {
            let before = paths.len();
            walk_dir(p, &mut paths)?;
            if paths.len() == before {
                return Err(Error::NotFound(format!(
                    "input directory {pat} holds no .jsonl, .jsonl.gz, .jsonl.zst or .parquet file"
                )));
            }
        } else if pat.contains(['*', '?', '[']) {
            let matches =
                glob::glob(pat).map_err(|e| Error::Usage(format!("input pattern `{pat}`: {e}")))?;
            let before = paths.len();
            for m in matches {
                let m = m.map_err(|e| {
                    let p = e.path().to_path_buf();
                    Error::io("cannot read", &p, e.into())
                })?;
                if m.is_file() {
                    paths.push(m);
                }
            }
            if paths.len() == before {
                return Err(Error::NotFound(format!(
                    "input pattern `{pat}` matches no file"
                )));
            }
        } else {
            return Err(Error::NotFound(format!(
                "input not found: {pat} (no such file or directory; check [input] path or --input)"
            )));
        }
    }
    paths.sort();
    paths.dedup();

    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let (fmt, codec) = match (classify(&path), format) {
            (Some((f, c)), Some(want)) if f == want => (f, c),
            (Some((f, _)), Some(want)) => {
                return Err(Error::Config(format!(
                    "{} looks like {} but [input] format is {}",
                    path.display(),
                    f.extension(),
                    want.extension()
                )))
            }
            (Some(fc), None) => fc,
            (None, Some(want)) => (want, Codec::None),
            (None, None) => {
                return Err(Error::Config(format!(
                    "cannot tell the format of {} from its name: set [input] format = \"jsonl\" or \"parquet\"",
                    path.display()
                )))
            }
        };
        let bytes = std::fs::metadata(&path)
            .map_err(|e| Error::io("cannot stat", &path, e))?
            .len();
        files.push(InputFile {
            display: path.display().to_string(),
            path,
            format: fmt,
            codec,
            bytes,
        });
    }
    if let Some(first) = files.first() {
        if let Some(other) = files.iter().find(|f| f.format != first.format) {
            return Err(Error::Config(format!(
                "inputs mix formats ({} is {}, {} is {}): run one pipeline per format",
                first.display,
                first.format.extension(),
                other.display,
                other.format.extension()
            )));
        }
    }
    Ok(files)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk_dir(&path, out)?;
        } else if classify(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// What the reader hands to the engine.
pub enum Chunk {
    Lines(LinesChunk),
    Arrow {
        file: u32,
        /// 1-based row number of the batch's first row in its file.
        first_row: u64,
        batch: RecordBatch,
    },
    Rejected(Rejection),
}

/// Everything the reader learned about one file, sent after its last chunk.
#[derive(Debug, Clone, Default)]
pub struct FileRead {
    pub file: u32,
    pub rows: u64,
    pub blank_lines: u64,
    pub bytes: u64,
    pub sha256: String,
    /// A read error that ended the file early (its rest could not be counted).
    pub unreadable: Option<String>,
}

pub enum ReaderEvent {
    Opened(u32),
    Chunk(u64, Chunk),
    Done(FileRead),
}

pub struct ReaderConfig {
    pub batch_rows: usize,
    pub chunk_bytes: usize,
    /// Parquet: the schema every file must have.
    pub schema: SchemaRef,
    /// Parquet: read only these top-level columns (indices into `schema`), when nothing
    /// downstream needs the others (an aggregates-only export).
    pub projection: Option<Vec<usize>>,
}

/// Reads every input in order, sending numbered chunks. Returns when all are read or the
/// receiver is gone (the engine stopped early).
pub fn read_inputs(
    inputs: &[InputFile],
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    progress: &ProgressBar,
) -> Result<()> {
    let mut seq = 0u64;
    for (i, input) in inputs.iter().enumerate() {
        let file = i as u32;
        if tx.send(ReaderEvent::Opened(file)).is_err() {
            return Ok(());
        }
        let res = match input.format {
            Format::Jsonl => read_jsonl(input, file, cfg, tx, &mut seq, progress),
            Format::Parquet => read_parquet(input, file, cfg, tx, &mut seq, progress),
        };
        match res {
            Ok(Some(done)) => {
                if tx.send(ReaderEvent::Done(done)).is_err() {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()), // receiver gone
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Counts and hashes the bytes as they are read from disk (before decompression), for
/// the progress bar and the audit log. The state is shared because the reader itself ends
/// up boxed behind a decompressor.
struct HashingReader<'p> {
    inner: File,
    state: Rc<RefCell<HashState>>,
    progress: &'p ProgressBar,
}

/// The hash state shared between a reader and whoever asks for the digest at the end.
pub type SharedHash = Rc<RefCell<HashState>>;

#[derive(Default)]
pub struct HashState {
    hasher: Sha256,
    pub bytes: u64,
}

impl HashState {
    /// The digest of everything read so far.
    pub fn digest(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut st = self.state.borrow_mut();
        st.hasher.update(&buf[..n]);
        st.bytes += n as u64;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// Opens a JSONL input as a buffered reader of decompressed bytes, with the count and
/// digest of the bytes read from disk.
pub fn open_jsonl<'p>(
    input: &InputFile,
    progress: &'p ProgressBar,
) -> Result<(Box<dyn BufRead + 'p>, SharedHash)> {
    let f = File::open(&input.path).map_err(|e| Error::io("cannot open", &input.path, e))?;
    let state = Rc::new(RefCell::new(HashState::default()));
    let raw = HashingReader {
        inner: f,
        state: state.clone(),
        progress,
    };
    let reader: Box<dyn BufRead + 'p> = match input.codec {
        Codec::None => Box::new(BufReader::with_capacity(1 << 20, raw)),
        Codec::Gzip => Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::new(raw)),
        )),
        Codec::Zstd => Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::stream::read::Decoder::new(raw)
                .map_err(|e| Error::io("cannot open zstd stream", &input.path, e))?,
        )),
    };
    Ok((reader, state))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn read_jsonl(
    input: &InputFile,
    file: u32,
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
) -> Result<Option<FileRead>> {
    let (mut reader, state) = open_jsonl(input, progress)?;
    let mut done = FileRead {
        file,
        ..Default::default()
    };
    let mut chunk = LinesChunk::new(file);
    let mut line_no = 0u64;
    loop {
        let start = chunk.buf.len();
        match reader.read_until(b'\n', &mut chunk.buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                chunk.buf.truncate(start);
                let detail = format!("reading stopped after line {line_no}: {e}");
                done.unreadable = Some(detail.clone());
                let rej = Rejection {
                    file,
                    location: Location::File,
                    rows: 0,
                    reason: "unreadable_file",
                    detail,
                    sha256: String::new(),
                    raw: None,
                };
                if !send_chunk(
                    tx,
                    seq,
                    Chunk::Lines(std::mem::replace(&mut chunk, LinesChunk::new(file))),
                ) {
                    return Ok(None);
                }
                if !send_chunk(tx, seq, Chunk::Rejected(rej)) {
                    return Ok(None);
                }
                break;
            }
        }
        line_no += 1;
        let mut end = chunk.buf.len();
        if chunk.buf[start..end].ends_with(b"\n") {
            end -= 1;
            if chunk.buf[start..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        // A UTF-8 byte order mark is an encoding marker, not part of the first record.
        let bom = line_no == 1 && chunk.buf[start..end].starts_with(b"\xEF\xBB\xBF");
        if bom {
            chunk.buf.drain(start..start + 3);
            end -= 3;
        }
        chunk.buf.truncate(end);
        if is_blank(&chunk.buf[start..]) {
            chunk.buf.truncate(start);
            done.blank_lines += 1;
            continue;
        }
        chunk.ends.push(end);
        chunk.line_numbers.push(line_no);
        done.rows += 1;
        if chunk.len() >= cfg.batch_rows || chunk.buf.len() >= cfg.chunk_bytes {
            let full = std::mem::replace(&mut chunk, LinesChunk::new(file));
            if !send_chunk(tx, seq, Chunk::Lines(full)) {
                return Ok(None);
            }
        }
    }
    if !chunk.is_empty() && !send_chunk(tx, seq, Chunk::Lines(chunk)) {
        return Ok(None);
    }
    drop(reader);
    let st = state.borrow();
    done.bytes = st.bytes;
    done.sha256 = st.digest();
    Ok(Some(done))
}

fn send_chunk(tx: &SyncSender<ReaderEvent>, seq: &mut u64, chunk: Chunk) -> bool {
    if let Chunk::Lines(c) = &chunk {
        if c.is_empty() {
            return true;
        }
    }
    let ok = tx.send(ReaderEvent::Chunk(*seq, chunk)).is_ok();
    *seq += 1;
    ok
}

/// SHA-256 of a whole file, streamed.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((hex::encode(h.finalize()), n_total))
}

/// The Arrow schema of a Parquet file, or why it cannot be read.
pub fn parquet_schema(path: &Path) -> std::result::Result<SchemaRef, String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    ArrowReaderMetadata::load(&f, ArrowReaderOptions::new())
        .map(|m| m.schema().clone())
        .map_err(|e| e.to_string())
}

fn same_columns(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields().iter())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

fn read_parquet(
    input: &InputFile,
    file: u32,
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
) -> Result<Option<FileRead>> {
    let (sha256, bytes) = sha256_file(&input.path)?;
    progress.inc(bytes);
    let mut done = FileRead {
        file,
        bytes,
        sha256: sha256.clone(),
        ..Default::default()
    };
    let f = File::open(&input.path).map_err(|e| Error::io("cannot open", &input.path, e))?;
    let meta = match ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()) {
        Ok(m) => m,
        Err(e) => {
            let detail = format!("not a readable Parquet file: {e}");
            done.unreadable = Some(detail.clone());
            let rej = Rejection {
                file,
                location: Location::File,
                rows: 0,
                reason: "unreadable_file",
                detail,
                sha256,
                raw: None,
            };
            return Ok(send_chunk(tx, seq, Chunk::Rejected(rej)).then_some(done));
        }
    };
    let total_rows: u64 = meta
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows() as u64)
        .sum();
    if !same_columns(meta.schema(), &cfg.schema) {
        done.rows = total_rows;
        let rej = Rejection {
            file,
            location: if total_rows > 0 {
                Location::Rows {
                    first: 1,
                    last: total_rows,
                }
            } else {
                Location::File
            },
            rows: total_rows,
            reason: "schema_mismatch",
            detail: "the file's columns differ from the first input file's".into(),
            sha256,
            raw: None,
        };
        return Ok(send_chunk(tx, seq, Chunk::Rejected(rej)).then_some(done));
    }

    let mut row_base = 0u64;
    for (g, rg) in meta.metadata().row_groups().iter().enumerate() {
        let rg_rows = rg.num_rows() as u64;
        done.rows += rg_rows;
        let mut emitted = 0u64;
        let reader = f
            .try_clone()
            .map_err(|e| Error::io("cannot reopen", &input.path, e))
            .map(|f2| {
                let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f2, meta.clone())
                    .with_row_groups(vec![g])
                    .with_batch_size(cfg.batch_rows);
                match &cfg.projection {
                    Some(cols) => {
                        let mask = parquet::arrow::ProjectionMask::roots(
                            meta.metadata().file_metadata().schema_descr(),
                            cols.iter().copied(),
                        );
                        b.with_projection(mask).build()
                    }
                    None => b.build(),
                }
            })?;
        let mut failure: Option<String> = None;
        match reader {
            Err(e) => failure = Some(e.to_string()),
            Ok(reader) => {
                for batch in reader {
                    match batch {
                        Ok(b) => {
                            let n = b.num_rows() as u64;
                            let chunk = Chunk::Arrow {
                                file,
                                first_row: row_base + emitted + 1,
                                batch: b,
                            };
                            if !send_chunk(tx, seq, chunk) {
                                return Ok(None);
                            }
                            emitted += n;
                        }
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
        }
        if failure.is_none() && emitted != rg_rows {
            failure = Some(format!("row group {g} yielded {emitted} of {rg_rows} rows"));
        }
        if let Some(err) = failure {
            let lost = rg_rows.saturating_sub(emitted);
            let raw = row_group_bytes(&input.path, rg).unwrap_or_default();
            let rej = Rejection::new(
                file,
                Location::Rows {
                    first: row_base + emitted + 1,
                    last: row_base + rg_rows,
                },
                lost,
                "corrupt_row_group",
                format!("row group {g}: {err}"),
                raw,
            );
            if !send_chunk(tx, seq, Chunk::Rejected(rej)) {
                return Ok(None);
            }
        }
        row_base += rg_rows;
    }
    Ok(Some(done))
}

/// The bytes a row group's column chunks occupy, for the home-side quarantine copy.
fn row_group_bytes(
    path: &Path,
    rg: &parquet::file::metadata::RowGroupMetaData,
) -> std::io::Result<Vec<u8>> {
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for c in rg.columns() {
        let (start, len) = c.byte_range();
        lo = lo.min(start);
        hi = hi.max(start + len);
    }
    if lo >= hi {
        return Ok(Vec::new());
    }
    let mut f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let hi = hi.min(file_len);
    let mut buf = vec![0u8; hi.saturating_sub(lo) as usize];
    f.seek(SeekFrom::Start(lo))?;
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Infers a JSONL schema from the first `limit` records (or all of them), reading the
/// inputs in order. Lines that do not parse are skipped here; they are quarantined when
/// the data is read.
pub fn infer_jsonl_schema(inputs: &[InputFile], limit: Option<usize>) -> Result<SchemaInference> {
    let hidden = ProgressBar::hidden();
    let mut inf = SchemaInference::default();
    let mut line = Vec::new();
    'files: for input in inputs {
        let (mut reader, _) = open_jsonl(input, &hidden)?;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
            if is_blank(text) {
                continue;
            }
            if inf.add_line(text) && limit.is_some_and(|l| inf.records as usize >= l) {
                break 'files;
            }
        }
    }
    Ok(inf)
}
