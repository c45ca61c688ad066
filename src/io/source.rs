//! Inputs: resolving files, directories and globs, and the reader thread that turns them
//! into numbered chunks.
//!
//! Invariants: files are read in a stable order (sorted paths), chunks are numbered in
//! read order and never span two files, and every non-blank line or row the reader sees
//! is counted in `FileRead::rows`, so the engine can reconcile what came in against what
//! went out. Parquet is read one row group at a time, a batch at a time, so an unreadable
//! row group is quarantined without losing the rest of the file; small row groups are
//! sent undecoded (`Chunk::RowGroup`) and decoded on the worker threads in parallel,
//! while the file's SHA-256 is computed on a thread of its own.

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
    } else if stem.ends_with(".csv") || stem.ends_with(".tsv") || stem.ends_with(".tab") {
        Some((Format::Csv, codec))
    } else {
        None
    }
}

/// Files a dataset folder holds beside its data, skipped in a folder walk: Hugging Face
/// `save_to_disk` metadata, Spark and Parquet summary files (`_SUCCESS`, `_metadata`,
/// `_common_metadata`, any `_`-prefixed name) and checksums.
fn is_metadata(name: &str) -> bool {
    matches!(
        name,
        "dataset_info.json" | "state.json" | "dataset_dict.json"
    ) || name.starts_with('_')
        || name.ends_with(".crc")
}

/// Data files this tool does not read, found in a folder walk: an error that says how to
/// convert them, rather than a run that silently reads only the rest.
fn is_unread_data(name: &str) -> bool {
    [".arrow", ".feather", ".ipc", ".avro", ".orc"]
        .iter()
        .any(|ext| name.to_ascii_lowercase().ends_with(ext))
}

/// Expands files, directories (recursively, hidden entries skipped) and globs into a
/// sorted, de-duplicated list of input files of one format. Metadata files skipped in a
/// folder are named in `warnings`.
pub fn resolve_inputs(
    patterns: &[String],
    format: Option<Format>,
    warnings: &mut Vec<String>,
) -> Result<Vec<InputFile>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for pat in patterns {
        let p = Path::new(pat);
        if p.is_file() {
            paths.push(p.to_path_buf());
        } else if p.is_dir() {
            let before = paths.len();
            let mut walk = Walk::default();
            walk_dir(p, &mut walk)?;
            if !walk.unread.is_empty() {
                return Err(Error::Data(format!(
                    "input folder {pat} holds data files datacustoms does not read ({}{}); \
                     convert them to Parquet or JSONL first (a Hugging Face save_to_disk folder: \
                     datasets.load_from_disk(PATH).to_parquet(\"data.parquet\")), or point [input] path at the data files",
                    walk.unread[0].display(),
                    if walk.unread.len() > 1 { format!(" and {} more", walk.unread.len() - 1) } else { String::new() }
                )));
            }
            if !walk.skipped.is_empty() {
                let names: Vec<String> = walk
                    .skipped
                    .iter()
                    .map(|s| s.display().to_string())
                    .collect();
                warnings.push(format!(
                    "input folder {pat}: skipped {} metadata file(s), not data: {}",
                    names.len(),
                    names.join(", ")
                ));
            }
            paths.extend(walk.data);
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

/// What a folder walk found.
#[derive(Default)]
struct Walk {
    data: Vec<PathBuf>,
    skipped: Vec<PathBuf>,
    unread: Vec<PathBuf>,
}

fn walk_dir(dir: &Path, out: &mut Walk) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk_dir(&path, out)?;
        } else if is_metadata(&name) {
            out.skipped.push(path);
        } else if classify(&path).is_some() {
            out.data.push(path);
        } else if is_unread_data(&name) {
            out.unread.push(path);
        }
    }
    out.skipped.sort();
    out.unread.sort();
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
    /// A Parquet row group small enough to be decoded on a worker.
    RowGroup(RowGroupJob),
    Rejected(Rejection),
}

/// Everything the reader learned about one file, sent after its last chunk (and, in a
/// sharded run, carried in the result file of the task that read it).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Position in input order, the chunk, and the input bytes read when it was sent.
    Chunk(u64, Chunk, u64),
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
    /// Parquet row groups of at most this many uncompressed bytes are decoded on the
    /// workers (normally `WORKER_ROW_GROUP_BYTES`).
    pub worker_row_group_bytes: u64,
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
            Format::Csv => read_csv(input, file, cfg, tx, &mut seq, progress),
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

/// Reads a CSV or TSV file as JSON object lines (see `io::csv`), quarantining records
/// that are not one record's worth of fields.
fn read_csv(
    input: &InputFile,
    file: u32,
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
) -> Result<Option<FileRead>> {
    let (reader, state) = open_jsonl(input, progress)?;
    let records = super::csv::Records::new(
        reader,
        super::csv::delimiter(&input.path),
        Some(&cfg.schema),
    )
    .map_err(|e| Error::Data(format!("{}: {e}", input.display)))?;
    let mut done = FileRead {
        file,
        ..Default::default()
    };
    let mut chunk = LinesChunk::new(file);
    for item in records {
        match item {
            Ok(super::csv::Item::Record { line, json }) => {
                chunk.push(&json, line);
                done.rows += 1;
            }
            Ok(super::csv::Item::Bad {
                line,
                reason,
                detail,
                raw,
            }) => {
                done.rows += 1;
                let rej = Rejection {
                    file,
                    location: Location::Line(line),
                    rows: 1,
                    reason,
                    detail,
                    sha256: hex::encode(Sha256::digest(&raw)),
                    raw: Some(raw),
                };
                let full = std::mem::replace(&mut chunk, LinesChunk::new(file));
                if (!full.is_empty() && !send_chunk(tx, seq, progress, Chunk::Lines(full)))
                    || !send_chunk(tx, seq, progress, Chunk::Rejected(rej))
                {
                    return Ok(None);
                }
            }
            Err(e) => {
                done.unreadable = Some(format!("reading stopped after {} records: {e}", done.rows));
                break;
            }
        }
        if !send_if_full(&mut chunk, cfg, tx, seq, progress) {
            return Ok(None);
        }
    }
    if !chunk.is_empty() && !send_chunk(tx, seq, progress, Chunk::Lines(chunk)) {
        return Ok(None);
    }
    Ok(Some(hashed(done, &state)))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Refuses a JSON input whose first record line opens an array (`[` — a pretty-printed
/// or one-line JSON array): every line of it would be quarantined and the export would
/// be empty. A JSONL record is an object per line.
fn json_array_check(first: &[u8], path: &Path, line_no: u64) -> Result<()> {
    if first.trim_ascii_start().starts_with(b"[") {
        return Err(Error::Data(format!(
            "{}: line {line_no} opens a JSON array; JSONL input needs one JSON object per \
             line (convert it with: jq -c '.[]' {} > records.jsonl)",
            path.display(),
            path.display()
        )));
    }
    Ok(())
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
                    progress,
                    Chunk::Lines(std::mem::replace(&mut chunk, LinesChunk::new(file))),
                ) {
                    return Ok(None);
                }
                if !send_chunk(tx, seq, progress, Chunk::Rejected(rej)) {
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
        if done.rows == 0 {
            json_array_check(&chunk.buf[start..], &input.path, line_no)?;
        }
        chunk.ends.push(end);
        chunk.line_numbers.push(line_no);
        done.rows += 1;
        if !send_if_full(&mut chunk, cfg, tx, seq, progress) {
            return Ok(None);
        }
    }
    if !chunk.is_empty() && !send_chunk(tx, seq, progress, Chunk::Lines(chunk)) {
        return Ok(None);
    }
    drop(reader);
    Ok(Some(hashed(done, &state)))
}

/// Sends `chunk` on (leaving an empty one) once it holds a batch's rows or bytes; false
/// when the receiver is gone.
fn send_if_full(
    chunk: &mut LinesChunk,
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
) -> bool {
    if chunk.len() < cfg.batch_rows && chunk.buf.len() < cfg.chunk_bytes {
        return true;
    }
    let full = std::mem::replace(chunk, LinesChunk::new(chunk.file));
    send_chunk(tx, seq, progress, Chunk::Lines(full))
}

/// A file's read record with the size and SHA-256 of the bytes read.
fn hashed(mut done: FileRead, state: &SharedHash) -> FileRead {
    let st = state.borrow();
    done.bytes = st.bytes;
    done.sha256 = st.digest();
    done
}

/// Sends a chunk with the input bytes read so far, so that progress can follow the work:
/// the bar moves when the chunk is processed, not when it is read.
fn send_chunk(
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
    chunk: Chunk,
) -> bool {
    if let Chunk::Lines(c) = &chunk {
        if c.is_empty() {
            return true;
        }
    }
    let ok = tx
        .send(ReaderEvent::Chunk(*seq, chunk, progress.position()))
        .is_ok();
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
/// About how many records (lines, rows) the inputs hold, read cheaply: Parquet row
/// counts from the footers; for line formats, the lines in each file's first MiB
/// (decompressed) scaled to its size on disk, or the exact count when the file is
/// shorter. A file that cannot be opened counts one record per 64 bytes. Of many files,
/// 16 spread over the list are looked at and their records per byte scaled to all.
pub fn estimate_records(inputs: &[InputFile]) -> u64 {
    const LOOKED_AT: usize = 16;
    let one = |f: &InputFile| estimate_file(f).unwrap_or(f.bytes / 64);
    if inputs.len() <= LOOKED_AT {
        return inputs.iter().map(one).sum();
    }
    let picked: Vec<&InputFile> = (0..LOOKED_AT)
        .map(|i| &inputs[i * inputs.len() / LOOKED_AT])
        .collect();
    let records: u64 = picked.iter().map(|f| one(f)).sum();
    let bytes: u64 = picked.iter().map(|f| f.bytes).sum::<u64>().max(1);
    let total: u64 = inputs.iter().map(|f| f.bytes).sum();
    (records as f64 / bytes as f64 * total as f64) as u64
}

fn estimate_file(input: &InputFile) -> Option<u64> {
    if input.format == Format::Parquet {
        let f = File::open(&input.path).ok()?;
        let m = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()).ok()?;
        return Some(m.metadata().file_metadata().num_rows().max(0) as u64);
    }
    let hidden = ProgressBar::hidden();
    let (mut r, state) = open_jsonl(input, &hidden).ok()?;
    let (mut lines, mut read) = (0u64, 0usize);
    while read < 1 << 20 {
        let buf = r.fill_buf().ok()?;
        if buf.is_empty() {
            return Some(lines);
        }
        lines += memchr::memchr_iter(b'\n', buf).count() as u64;
        let n = buf.len();
        r.consume(n);
        read += n;
    }
    let raw = state.borrow().bytes.max(1);
    Some(lines.saturating_mul(input.bytes) / raw)
}

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

/// How reading a Parquet file's row groups ended.
enum ParquetEnd {
    /// The receiver is gone.
    Stopped,
    /// Every row group was sent (decoded or as a job).
    Read { rows: u64 },
    /// The whole file is rejected before any row was sent.
    Whole {
        rows: u64,
        reason: &'static str,
        detail: String,
        unreadable: bool,
    },
}

fn read_parquet(
    input: &InputFile,
    file: u32,
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
) -> Result<Option<FileRead>> {
    // The file's SHA-256 (evidence) is computed on its own thread while its row groups
    // are read and decoded.
    let (end, hashed) = std::thread::scope(|s| {
        let hashing = s.spawn(|| sha256_file(&input.path));
        let end = send_row_groups(input, file, cfg, tx, seq, progress);
        let hashed = hashing
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the input hashing thread panicked".into())));
        (end, hashed)
    });
    let end = end?;
    let (sha256, bytes) = hashed?;
    let mut done = FileRead {
        file,
        bytes,
        sha256: sha256.clone(),
        ..Default::default()
    };
    match end {
        ParquetEnd::Stopped => Ok(None),
        ParquetEnd::Read { rows } => {
            done.rows = rows;
            Ok(Some(done))
        }
        ParquetEnd::Whole {
            rows,
            reason,
            detail,
            unreadable,
        } => {
            done.rows = rows;
            if unreadable {
                done.unreadable = Some(detail.clone());
            }
            let rej = Rejection {
                file,
                location: if rows > 0 {
                    Location::Rows {
                        first: 1,
                        last: rows,
                    }
                } else {
                    Location::File
                },
                rows,
                reason,
                detail,
                sha256,
                raw: None,
            };
            Ok(send_chunk(tx, seq, progress, Chunk::Rejected(rej)).then_some(done))
        }
    }
}

fn send_row_groups(
    input: &InputFile,
    file: u32,
    cfg: &ReaderConfig,
    tx: &SyncSender<ReaderEvent>,
    seq: &mut u64,
    progress: &ProgressBar,
) -> Result<ParquetEnd> {
    let f = File::open(&input.path).map_err(|e| Error::io("cannot open", &input.path, e))?;
    let meta = match ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()) {
        Ok(m) => m,
        Err(e) => {
            progress.inc(input.bytes);
            return Ok(ParquetEnd::Whole {
                rows: 0,
                reason: "unreadable_file",
                detail: format!("not a readable Parquet file: {e}"),
                unreadable: true,
            });
        }
    };
    let total_rows: u64 = meta
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows() as u64)
        .sum();
    if !same_columns(meta.schema(), &cfg.schema) {
        progress.inc(input.bytes);
        return Ok(ParquetEnd::Whole {
            rows: total_rows,
            reason: "schema_mismatch",
            detail: "the file's columns differ from the first input file's".into(),
            unreadable: false,
        });
    }

    let mask = cfg.projection.as_ref().map(|cols| {
        parquet::arrow::ProjectionMask::roots(
            meta.metadata().file_metadata().schema_descr(),
            cols.iter().copied(),
        )
    });
    let mut row_base = 0u64;
    let mut shown = 0u64;
    for (g, rg) in meta.metadata().row_groups().iter().enumerate() {
        let rg_rows = rg.num_rows() as u64;
        let rg_bytes = rg.compressed_size().max(0) as u64;
        progress.inc(rg_bytes);
        shown += rg_bytes;
        let job = RowGroupJob {
            file,
            path: input.path.clone(),
            meta: meta.clone(),
            group: g,
            first_row: row_base + 1,
            rows: rg_rows,
            batch_rows: cfg.batch_rows,
            projection: mask.clone(),
        };
        row_base += rg_rows;
        // Small row groups are decoded on the workers, in parallel; a large one is
        // decoded here a batch at a time, so that memory stays bounded.
        // Encoded size alone can hide a large decoded group (dictionaries, RLE): the
        // group must also be at most two batches, so that a worker holds no more than
        // the reader would for two batches.
        if rg.total_byte_size().max(0) as u64 <= cfg.worker_row_group_bytes
            && rg_rows <= 2 * cfg.batch_rows as u64
        {
            if !send_chunk(tx, seq, progress, Chunk::RowGroup(job)) {
                return Ok(ParquetEnd::Stopped);
            }
            continue;
        }
        let mut sent_all = true;
        let rejection = job.decode_each(|first_row, batch| {
            sent_all = send_chunk(
                tx,
                seq,
                progress,
                Chunk::Arrow {
                    file,
                    first_row,
                    batch,
                },
            );
            sent_all
        });
        if !sent_all {
            return Ok(ParquetEnd::Stopped);
        }
        for rej in rejection {
            if !send_chunk(tx, seq, progress, Chunk::Rejected(rej)) {
                return Ok(ParquetEnd::Stopped);
            }
        }
    }
    progress.inc(input.bytes.saturating_sub(shown));
    Ok(ParquetEnd::Read { rows: total_rows })
}

/// Row groups of at most this many encoded bytes (and at most two batches of rows) are
/// decoded whole on a worker thread; larger ones by the reader a batch at a time.
pub const WORKER_ROW_GROUP_BYTES: u64 = 16 << 20;

/// One Parquet row group, to be decoded on a worker thread.
pub struct RowGroupJob {
    pub file: u32,
    path: PathBuf,
    meta: ArrowReaderMetadata,
    group: usize,
    /// 1-based row number of the group's first row in its file.
    pub first_row: u64,
    /// Rows the file's metadata promises for the group.
    pub rows: u64,
    batch_rows: usize,
    projection: Option<parquet::arrow::ProjectionMask>,
}

impl RowGroupJob {
    /// Decodes the group into batches of at most `batch_rows` rows, each with the 1-based
    /// row number of its first row. Rows that cannot be decoded come back as rejections
    /// carrying the group's raw bytes: one per run of rows lost, since decoding resumes
    /// after a corrupt page (see `decode_each`).
    pub fn decode(self) -> (Vec<(u64, RecordBatch)>, Vec<Rejection>) {
        let mut out = Vec::new();
        let rej = self.decode_each(|first_row, batch| {
            out.push((first_row, batch));
            true
        });
        (out, rej)
    }

    /// A reader of the group's rows from `from` (0-based within the group) to its end,
    /// in batches of `batch` rows.
    fn reader_from(
        &self,
        meta: &ArrowReaderMetadata,
        from: u64,
        batch: usize,
    ) -> std::result::Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, String> {
        use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
        let f = File::open(&self.path).map_err(|e| format!("cannot reopen: {e}"))?;
        let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta.clone())
            .with_row_groups(vec![self.group])
            .with_batch_size(batch);
        if from > 0 {
            b = b.with_row_selection(RowSelection::from(vec![
                RowSelector::skip(from as usize),
                RowSelector::select((self.rows - from) as usize),
            ]));
        }
        match &self.projection {
            Some(mask) => b.with_projection(mask.clone()).build(),
            None => b.build(),
        }
        .map_err(|e| e.to_string())
    }

    /// As `decode`, handing each batch to `emit` as it is decoded; stops early (with no
    /// rejection) when `emit` returns false.
    ///
    /// A corrupt page stops a Parquet reader for the rest of its row group. The rows
    /// around it are not lost with it: after a failure the group is read again in small
    /// batches (a 64th of the group) from the failed batch, and decoding restarts
    /// further on with a row selection that skips ahead, at steps that double, until a
    /// restart decodes. Skipping over the corrupt page without reading it needs the
    /// file's page index (written by default by Arrow, parquet-mr and Spark; pyarrow
    /// writes it with `write_page_index=True`); without one the rest of the group is
    /// rejected. Only the rows between a failure and the next good restart are
    /// rejected, as one range each.
    fn decode_each(&self, mut emit: impl FnMut(u64, RecordBatch) -> bool) -> Vec<Rejection> {
        let mut rejections = Vec::new();
        let fine = (self.rows as usize / 64).clamp(1, self.batch_rows.max(1));
        let mut meta = self.meta.clone();
        let mut batch = self.batch_rows;
        // Rows of the group accounted for (emitted or rejected), in order.
        let mut pos = 0u64;
        let mut lost: Option<(u64, String)> = None; // (first lost row, first error)
        let mut step = fine as u64;
        while pos < self.rows {
            let mut decoded = 0u64;
            let failure = match self.reader_from(&meta, pos, batch) {
                Err(e) => Some(e),
                Ok(reader) => {
                    let mut failure = None;
                    for b in reader {
                        match b {
                            Ok(b) => {
                                let n = b.num_rows() as u64;
                                if !emit(self.first_row + pos + decoded, b) {
                                    return Vec::new();
                                }
                                decoded += n;
                            }
                            Err(e) => {
                                failure = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    failure
                }
            };
            if decoded > 0 {
                // A restart that decodes ends the lost range before it.
                if let Some((from, err)) = lost.take() {
                    rejections.push(self.lost(from, pos, &err));
                }
                step = fine as u64;
            }
            pos += decoded;
            let Some(err) = failure else {
                if pos < self.rows {
                    let err = format!("yielded {pos} of {} rows", self.rows);
                    let from = lost.take().map_or(pos, |(f, _)| f);
                    rejections.push(self.lost(from, self.rows, &err));
                }
                return rejections;
            };
            if batch != fine {
                // First failure: find it again in small batches, with the page index
                // so that restarts can skip the corrupt page unread.
                batch = fine;
                if let Ok(m) = File::open(&self.path)
                    .map_err(|e| e.to_string())
                    .and_then(|f| {
                        ArrowReaderMetadata::load(
                            &f,
                            ArrowReaderOptions::new().with_page_index_policy(
                                parquet::file::metadata::PageIndexPolicy::Optional,
                            ),
                        )
                        .map_err(|e| e.to_string())
                    })
                {
                    meta = m;
                }
                continue;
            }
            if lost.is_none() {
                lost = Some((pos, err));
            }
            pos = (pos + step).min(self.rows);
            step = step.saturating_mul(2);
        }
        if let Some((from, err)) = lost {
            rejections.push(self.lost(from, self.rows, &err));
        }
        rejections
    }

    /// The rejection of the group's rows `from..to` (0-based within the group).
    fn lost(&self, from: u64, to: u64, err: &str) -> Rejection {
        let rg = self.meta.metadata().row_group(self.group);
        let raw = row_group_bytes(&self.path, rg).unwrap_or_default();
        Rejection::new(
            self.file,
            Location::Rows {
                first: self.first_row + from,
                last: self.first_row + to - 1,
            },
            to - from,
            "corrupt_row_group",
            format!(
                "row group {}, rows {}-{} of it: {err}",
                self.group,
                from + 1,
                to
            ),
            raw,
        )
    }
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
        let mut line_no = 0u64;
        loop {
            line_no += 1;
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
            if is_blank(text) {
                continue;
            }
            if inf.records == 0 {
                json_array_check(text, &input.path, line_no)?;
            }
            if inf.add_line(text) && limit.is_some_and(|l| inf.records as usize >= l) {
                break 'files;
            }
        }
    }
    Ok(inf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::mpsc::sync_channel;
    use std::sync::Arc;

    /// Record estimates: exact for a short file and a Parquet footer, close for a long
    /// text file (plain and gzip) from its first MiB.
    #[test]
    fn record_estimates() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, format, codec, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            InputFile {
                display: name.into(),
                format,
                codec,
                bytes: bytes.len() as u64,
                path,
            }
        };
        let lines = |n: usize| -> Vec<u8> {
            (0..n)
                .flat_map(|i| format!("{{\"t\":\"{}\"}}\n", "x".repeat(20 + i % 40)).into_bytes())
                .collect()
        };
        let short = file("a.jsonl", Format::Jsonl, Codec::None, &lines(1000));
        assert_eq!(estimate_records(std::slice::from_ref(&short)), 1000);
        let long = file("b.jsonl", Format::Jsonl, Codec::None, &lines(200_000));
        let e = estimate_records(std::slice::from_ref(&long)) as f64;
        assert!((e / 200_000.0 - 1.0).abs() < 0.05, "{e}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&lines(200_000)).unwrap();
        let gz = file(
            "c.jsonl.gz",
            Format::Jsonl,
            Codec::Gzip,
            &gz.finish().unwrap(),
        );
        let e = estimate_records(std::slice::from_ref(&gz)) as f64;
        assert!((e / 200_000.0 - 1.0).abs() < 0.5, "{e}");
        assert_eq!(estimate_records(&[short.clone(), short.clone()]), 2000);
        // Many files: a sample of them, scaled by size.
        let many: Vec<InputFile> = (0..40).map(|_| short.clone()).collect();
        assert_eq!(estimate_records(&many), 40_000);
    }

    /// Every row comes out once, in order, with its row number, whether the row groups
    /// are decoded by the reader or handed to the workers.
    #[test]
    fn row_groups_decode_alike_on_reader_and_workers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            File::create(&path).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        let n: Vec<i64> = (0..2500).collect();
        let s: Vec<Option<String>> = n
            .iter()
            .map(|i| (i % 7 != 0).then(|| format!("v{i}")))
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(n.clone())),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let input = InputFile {
            display: "t.parquet".into(),
            format: Format::Parquet,
            codec: Codec::None,
            bytes: std::fs::metadata(&path).unwrap().len(),
            path,
        };
        let read = |worker_row_group_bytes: u64| {
            let cfg = ReaderConfig {
                batch_rows: 500,
                chunk_bytes: 1 << 20,
                schema: schema.clone(),
                projection: None,
                worker_row_group_bytes,
            };
            let (tx, rx) = sync_channel(1000);
            read_inputs(
                std::slice::from_ref(&input),
                &cfg,
                &tx,
                &ProgressBar::hidden(),
            )
            .unwrap();
            drop(tx);
            let (mut rows, mut jobs, mut done) = (Vec::new(), 0, None);
            for ev in rx {
                match ev {
                    ReaderEvent::Chunk(
                        _,
                        Chunk::Arrow {
                            first_row, batch, ..
                        },
                        _,
                    ) => {
                        rows.push((first_row, batch));
                    }
                    ReaderEvent::Chunk(_, Chunk::RowGroup(job), _) => {
                        jobs += 1;
                        let (parts, rej) = job.decode();
                        assert!(rej.is_empty());
                        rows.extend(parts);
                    }
                    ReaderEvent::Chunk(..) => panic!("unexpected chunk"),
                    ReaderEvent::Done(d) => done = Some(d),
                    ReaderEvent::Opened(_) => {}
                }
            }
            let mut next = 1u64;
            let mut values = Vec::new();
            for (first, b) in &rows {
                assert_eq!(*first, next);
                assert!(b.num_rows() <= 500);
                next += b.num_rows() as u64;
                let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                values.extend(col.values().iter().copied());
            }
            let done = done.unwrap();
            assert_eq!(done.rows, 2500);
            assert_eq!(done.sha256.len(), 64);
            (values, jobs)
        };
        let (on_reader, jobs) = read(0);
        assert_eq!(jobs, 0);
        let (on_workers, jobs) = read(WORKER_ROW_GROUP_BYTES);
        assert_eq!(
            jobs, 3,
            "groups of 1000 rows are at most two batches of 500"
        );
        assert_eq!(on_reader, n);
        assert_eq!(on_workers, n);
    }
}
