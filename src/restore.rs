//! The way back, at home, with the keys: `decrypt` (an export's encrypted columns and
//! spans back to their values and types), `reidentify` (tokens in any JSONL or Parquet
//! file back to their values, through the vault) and `rewrap_export` (DEKs rewrapped
//! under the keyring's primary version after a rotation).
//!
//! Invariants: nothing is written at the output path unless the whole job succeeds;
//! a cell that fails authentication is an error naming file, row and column (exit 65),
//! a key that cannot unwrap the DEKs is a key error (exit 78) — never garbage output;
//! no decrypted value appears in an error, log or audit event.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::crypto::cell::{CellDecryptor, CellError};
use crate::crypto::keys::Keyring;
use crate::crypto::plain::build_array;
use crate::crypto::run::Envelope;
use crate::crypto::token::find_known_tokens;
use crate::crypto::vault::{Lookup, VaultReader};
use crate::engine::batch::AbsentKeys;
use crate::error::{Error, Result};
use crate::evidence::export::ExportDir;
use crate::evidence::manifest::Manifest;
use crate::io::jsonl::{decode, encode_batch, LinesChunk};
use crate::io::sink::WrittenFile;
use crate::stages::fields::{map_strings, resolve};

const CHUNK_ROWS: usize = 8192;

/// What `decrypt` did.
#[derive(Debug, Serialize)]
pub struct Decrypted {
    pub files: usize,
    pub rows: u64,
    pub cells: u64,
    pub spans: u64,
}

/// Reads a data part batch by batch: Parquet as stored, JSONL decoded with `schema`.
/// Calls `f(batch, absent keys, 1-based number of the batch's first row)`.
fn for_each_batch(
    path: &Path,
    schema: &SchemaRef,
    f: &mut dyn FnMut(RecordBatch, AbsentKeys, u64) -> Result<()>,
) -> Result<()> {
    if path.extension().is_some_and(|e| e == "parquet") {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
            .with_batch_size(CHUNK_ROWS)
            .build()?;
        let mut first = 1u64;
        for b in reader {
            let b = b?;
            let n = b.num_rows() as u64;
            f(b, AbsentKeys::default(), first)?;
            first += n;
        }
        return Ok(());
    }
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut lines = BufReader::with_capacity(1 << 20, file).split(b'\n');
    let mut number = 0u64;
    loop {
        let mut chunk = LinesChunk::new(0);
        for line in lines.by_ref() {
            let line = line.map_err(|e| Error::io("cannot read", path, e))?;
            number += 1;
            chunk.push(&line, number);
            if chunk.len() == CHUNK_ROWS {
                break;
            }
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let first = chunk.line_numbers[0];
        let d = decode(&chunk, schema)?;
        if let Some(r) = d.rejections.first() {
            let at = match r.location {
                crate::io::quarantine::Location::Line(n) => format!(" line {n}"),
                _ => String::new(),
            };
            return Err(Error::Data(format!(
                "{}{at}: not a record of this export's schema ({}: {})",
                path.display(),
                r.reason,
                r.detail
            )));
        }
        f(d.data, d.absent, first)?;
    }
}

/// Creates (or truncates) a file only its owner can read: what `decrypt` and
/// `reidentify` write is personal data again.
fn private_file(path: &Path) -> Result<File> {
    // A leftover from a killed run (or anything planted there) is removed, and the file
    // is created anew: it never inherits another mode or follows a link.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("cannot replace", path, e)),
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map_err(|e| Error::io("cannot create", path, e))
}

/// Writes one part file in the format its name says.
enum PartWriter {
    Jsonl(BufWriter<File>, Vec<u8>),
    Parquet(Box<ArrowWriter<BufWriter<File>>>),
}

impl PartWriter {
    fn create(path: &Path, schema: SchemaRef, parquet: bool) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let f = BufWriter::with_capacity(1 << 20, private_file(path)?);
        Ok(if parquet {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(
                    parquet::basic::ZstdLevel::try_new(3)?,
                ))
                .build();
            PartWriter::Parquet(Box::new(ArrowWriter::try_new(f, schema, Some(props))?))
        } else {
            PartWriter::Jsonl(f, Vec::new())
        })
    }

    fn write(&mut self, batch: &RecordBatch, absent: &AbsentKeys, path: &Path) -> Result<()> {
        match self {
            PartWriter::Parquet(w) => Ok(w.write(batch)?),
            PartWriter::Jsonl(f, buf) => {
                buf.clear();
                encode_batch(batch, absent, buf)?;
                f.write_all(buf)
                    .map_err(|e| Error::io("cannot write", path, e))
            }
        }
    }

    fn finish(self, path: &Path) -> Result<()> {
        let mut f = match self {
            PartWriter::Parquet(w) => w.into_inner()?,
            PartWriter::Jsonl(f, _) => f,
        };
        f.flush().map_err(|e| Error::io("cannot write", path, e))?;
        f.get_ref()
            .sync_all()
            .map_err(|e| Error::io("cannot sync", path, e))
    }
}

fn cell_error(part: &str, row: u64, column: &str, e: CellError, jsonl: bool) -> Error {
    let at = if jsonl { "line" } else { "row" };
    Error::Data(format!(
        "{part} {at} {row}, column `{column}`: the cell {}",
        e.explain()
    ))
}

/// `datacustoms decrypt EXPORT --output DIR`.
pub fn decrypt(export: &Path, output: &Path, ring: &Keyring, overwrite: bool) -> Result<Decrypted> {
    if !export.is_dir() {
        return Err(Error::NotFound(format!(
            "export {} not found",
            export.display()
        )));
    }
    let manifest = Manifest::load(export).map_err(Error::Data)?;
    let env = manifest.encryption.clone().ok_or_else(|| {
        Error::Usage(format!(
            "export {} has nothing encrypted (its manifest has no `encryption` section)",
            export.display()
        ))
    })?;
    let mut dec = CellDecryptor::new(ring, &env.deks)?;
    let in_schema: SchemaRef = Arc::new(env.schema.clone());
    let out_schema = restored_schema(&env)?;
    let enc_cols: Vec<(usize, &str, &arrow::datatypes::DataType)> = env
        .columns
        .iter()
        .map(|c| {
            in_schema
                .index_of(&c.path)
                .map(|i| (i, c.path.as_str(), &c.data_type))
                .map_err(|_| {
                    Error::Data(format!(
                        "manifest: encrypted column `{}` is not in the export's schema",
                        c.path
                    ))
                })
        })
        .collect::<Result<_>>()?;
    let text_paths = env
        .text_fields
        .iter()
        .map(|f| {
            resolve(&in_schema, f)
                .map_err(|e| Error::Data(format!("manifest: text field {f}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let record_col = match &env.record_id {
        Some(r) => Some(in_schema.index_of(r).map_err(|_| {
            Error::Data(format!(
                "manifest: record_id `{r}` is not in the export's schema"
            ))
        })?),
        None => None,
    };

    let out_dir = ExportDir::prepare(output, overwrite, &format!("decrypt-{}", manifest.run_id))?;
    // The restored folder holds personal data again: only its owner may enter it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out_dir.staging, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("cannot restrict", &out_dir.staging, e))?;
    }
    let mut summary = Decrypted {
        files: 0,
        rows: 0,
        cells: 0,
        spans: 0,
    };
    let mut written = Vec::new();
    let mut aad = Vec::new();
    for f in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("data/"))
    {
        let src = export.join(&f.path);
        let (sha, _) = crate::io::source::sha256_file(&src)?;
        if sha != f.sha256 {
            return Err(Error::Data(format!(
                "{}: SHA-256 differs from the manifest (the file was changed); refusing to decrypt it",
                f.path
            )));
        }
        let jsonl = !f.path.ends_with(".parquet");
        let dst = out_dir.staging.join(&f.path);
        let mut w = PartWriter::create(&dst, out_schema.clone(), !jsonl)?;
        for_each_batch(&src, &in_schema, &mut |batch, absent, first| {
            let ids = crate::stages::encrypt::record_ids(&batch, record_col)?;
            let ids = ids.as_ref().map(|a| a.as_string::<i32>());
            let mut cols = batch.columns().to_vec();
            for (i, name, dt) in &enc_cols {
                let a = batch.column(*i).as_string_opt::<i32>().ok_or_else(|| {
                    Error::Data(format!(
                        "{}: column `{name}` is not text, so not encrypted cells",
                        f.path
                    ))
                })?;
                let mut cells = Vec::with_capacity(a.len());
                for row in 0..a.len() {
                    if a.is_null(row) {
                        cells.push(None);
                        continue;
                    }
                    let rid = ids.and_then(|ids| (!ids.is_null(row)).then(|| ids.value(row)));
                    let plain = dec
                        .decrypt(a.value(row), &env.export_id, name, rid, &mut aad)
                        .map_err(|e| cell_error(&f.path, first + row as u64, name, e, jsonl))?;
                    cells.push(Some(plain.to_vec()));
                    summary.cells += 1;
                }
                cols[*i] = build_array(dt, &cells)
                    .map_err(|e| Error::Data(format!("{}: column `{name}`: {e}", f.path)))?;
            }
            for p in &text_paths {
                let mut failure = None;
                let mut spans = 0u64;
                let mut g = |row: usize, s: &str| -> Option<String> {
                    if !s.contains("<dc1.") || failure.is_some() {
                        return None;
                    }
                    let rid = ids.and_then(|ids| (!ids.is_null(row)).then(|| ids.value(row)));
                    let mut out = String::with_capacity(s.len());
                    let mut rest = s;
                    while let Some(at) = rest.find("<dc1.") {
                        let Some(end) = rest[at..].find('>') else {
                            break;
                        };
                        out.push_str(&rest[..at]);
                        match dec.decrypt(
                            &rest[at + 1..at + end],
                            &env.export_id,
                            &p.name,
                            rid,
                            &mut aad,
                        ) {
                            Ok(plain) => match std::str::from_utf8(plain) {
                                Ok(t) => out.push_str(t),
                                Err(_) => {
                                    failure = Some((CellError::Tampered, row));
                                    return None;
                                }
                            },
                            Err(e) => {
                                failure = Some((e, row));
                                return None;
                            }
                        }
                        spans += 1;
                        rest = &rest[at + end + 1..];
                    }
                    out.push_str(rest);
                    Some(out)
                };
                if let Some(new) =
                    crate::stages::fields::map_strings_rows(&cols[p.column], &p.steps, &mut g)?
                {
                    cols[p.column] = new;
                }
                if let Some((e, row)) = failure {
                    return Err(cell_error(&f.path, first + row as u64, &p.name, e, jsonl));
                }
                summary.spans += spans;
            }
            summary.rows += batch.num_rows() as u64;
            let out = RecordBatch::try_new(out_schema.clone(), cols)?;
            w.write(&out, &absent, &dst)
        })?;
        w.finish(&dst)?;
        let (sha256, bytes) = crate::io::source::sha256_file(&dst)?;
        written.push(WrittenFile {
            path: f.path.clone(),
            sha256,
            bytes,
            rows: f.rows,
        });
        summary.files += 1;
    }
    let m = Manifest {
        manifest_version: 1,
        tool: "datacustoms".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run_id: manifest.run_id.clone(),
        created_at: crate::evidence::now_rfc3339(),
        pipeline_sha256: manifest.pipeline_sha256.clone(),
        rows: summary.rows,
        files: written,
        key_ids: manifest.key_ids.clone(),
        audit_head: manifest.audit_head.clone(),
        encryption: None,
    };
    m.write(&out_dir.staging)?;
    out_dir.commit()?;
    Ok(summary)
}

/// The export's schema with every encrypted column back at its original type.
fn restored_schema(env: &Envelope) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = env
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for c in &env.columns {
        let i = env.schema.index_of(&c.path).map_err(|_| {
            Error::Data(format!(
                "manifest: encrypted column `{}` is not in the export's schema",
                c.path
            ))
        })?;
        fields[i] = fields[i].clone().with_data_type(c.data_type.clone());
    }
    Ok(Arc::new(Schema::new_with_metadata(
        fields,
        env.schema.metadata().clone(),
    )))
}

/// What `reidentify` did.
#[derive(Debug, Serialize, Default)]
pub struct Reidentified {
    pub rows: u64,
    pub replaced: u64,
    pub unknown: u64,
    pub distinct: u64,
}

/// Looks tokens up once each.
struct Lookups<'a> {
    vault: &'a VaultReader,
    /// Entity types the vault knows: a token is looked for under these names only.
    types: Vec<String>,
    ring: &'a Keyring,
    cache: HashMap<String, Option<Zeroizing<String>>>,
    stats: Reidentified,
}

impl Lookups<'_> {
    /// `text` with every known token replaced; `escape` formats a value for the output.
    fn replace(&mut self, text: &str, escape: bool) -> Result<Option<String>> {
        let found = find_known_tokens(text, &self.types, escape);
        if found.is_empty() {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for t in found {
            if !self.cache.contains_key(t.text) {
                let v = match self.vault.lookup(self.ring, t.text)? {
                    Lookup::Found(v) => Some(v),
                    Lookup::Unknown => None,
                };
                self.stats.distinct += 1;
                self.cache.insert(t.text.to_string(), v);
            }
            match &self.cache[t.text] {
                Some(v) => {
                    out.push_str(&text[last..t.start]);
                    if escape {
                        let q = serde_json::to_string(v.as_str())?;
                        out.push_str(&q[1..q.len() - 1]);
                    } else {
                        out.push_str(v);
                    }
                    last = t.end;
                    self.stats.replaced += 1;
                }
                None => self.stats.unknown += 1,
            }
        }
        out.push_str(&text[last..]);
        Ok(Some(out))
    }
}

/// `datacustoms reidentify INPUT --vault FILE --output PATH`: JSONL is rewritten line by
/// line (tokens are plain ASCII, so they are replaced in the JSON text with the value
/// JSON-escaped, and everything else stays byte for byte); Parquet batch by batch.
pub fn reidentify(
    input: &Path,
    vault: &Path,
    output: &Path,
    ring: &Keyring,
    overwrite: bool,
) -> Result<Reidentified> {
    if !input.is_file() {
        return Err(Error::NotFound(format!(
            "input {} not found",
            input.display()
        )));
    }
    if output.exists() && !overwrite {
        return Err(Error::OutputExists(format!(
            "output {} already exists: pass --overwrite to replace it",
            output.display()
        )));
    }
    let reader = VaultReader::open(vault)?;
    let mut l = Lookups {
        types: reader.entity_types()?,
        vault: &reader,
        ring,
        cache: HashMap::new(),
        stats: Reidentified::default(),
    };
    let name = output.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = output.with_file_name(format!(".{name}.tmp"));
    let result = (|| -> Result<()> {
        if input.extension().is_some_and(|e| e == "parquet") {
            let file = File::open(input).map_err(|e| Error::io("cannot open", input, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            let schema = builder.schema().clone();
            let mut w = PartWriter::create(&tmp, schema.clone(), true)?;
            let paths = crate::stages::fields::string_paths(&schema);
            for b in builder.with_batch_size(CHUNK_ROWS).build()? {
                let b = b?;
                let mut cols: Vec<ArrayRef> = b.columns().to_vec();
                for p in &paths {
                    let mut failure = None;
                    let mut g = |s: &str| match l.replace(s, false) {
                        Ok(r) => r,
                        Err(e) => {
                            failure.get_or_insert(e);
                            None
                        }
                    };
                    if let Some(new) = map_strings(&cols[p.column], &p.steps, &mut g)? {
                        cols[p.column] = new;
                    }
                    if let Some(e) = failure {
                        return Err(e);
                    }
                }
                l.stats.rows += b.num_rows() as u64;
                w.write(
                    &RecordBatch::try_new(schema.clone(), cols)?,
                    &AbsentKeys::default(),
                    &tmp,
                )?;
            }
            w.finish(&tmp)
        } else {
            let file = File::open(input).map_err(|e| Error::io("cannot open", input, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, private_file(&tmp)?);
            for (i, line) in BufReader::with_capacity(1 << 20, file).lines().enumerate() {
                let line = line
                    .map_err(|e| Error::io(&format!("cannot read line {} of", i + 1), input, e))?;
                let new = l.replace(&line, true)?;
                out.write_all(new.as_deref().unwrap_or(&line).as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|e| Error::io("cannot write", &tmp, e))?;
                l.stats.rows += 1;
            }
            out.flush().map_err(|e| Error::io("cannot write", &tmp, e))
        }
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, output).map_err(|e| Error::io("cannot move into place", output, e))?;
    let stats = l.stats;
    reader.audit(
        "reidentified",
        json!({
            "input": input.display().to_string(),
            "output": output.display().to_string(),
            "rows": stats.rows, "replaced": stats.replaced, "unknown": stats.unknown, "distinct_tokens": stats.distinct,
            "keyring": ring.source,
        }),
    )?;
    Ok(stats)
}

/// Sets `keys.key_ids` in the export's report.json and renders report.html again (in the
/// language it was in); returns both files with their new hashes.
fn rewrite_report_key_ids(
    export: &Path,
    key_ids: &[String],
) -> Result<Vec<crate::io::sink::WrittenFile>> {
    use crate::evidence::html;
    let report_path = export.join("report.json");
    let mut report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&report_path).map_err(|e| Error::io("cannot read", &report_path, e))?,
    )?;
    if !report["keys"].is_object() {
        return Ok(Vec::new());
    }
    report["keys"]["key_ids"] = json!(key_ids);
    let mut text = serde_json::to_vec_pretty(&report)?;
    text.push(b'\n');
    std::fs::write(&report_path, &text).map_err(|e| Error::io("cannot write", &report_path, e))?;
    let page_path = export.join(html::FILE);
    let lang = match std::fs::read_to_string(&page_path) {
        Ok(p) if p.contains("lang=\"zh-CN\"") => html::Lang::Zh,
        _ => html::Lang::En,
    };
    let page = html::render(&report, export, lang);
    std::fs::write(&page_path, page).map_err(|e| Error::io("cannot write", &page_path, e))?;
    let mut files = Vec::new();
    for name in ["report.json", html::FILE] {
        let (sha256, bytes) = crate::io::source::sha256_file(&export.join(name))?;
        files.push(crate::io::sink::WrittenFile {
            path: name.to_string(),
            sha256,
            bytes,
            rows: None,
        });
    }
    Ok(files)
}

/// `keys rotate --rewrap EXPORT`: rewraps the export's DEKs under the keyring's primary
/// version, updates the manifest and appends an audit event. Data files are untouched.
pub fn rewrap_export(export: &Path, ring: &Keyring) -> Result<usize> {
    // Never put a fresh signature on an export that no longer verifies.
    crate::evidence::verify::verify(export)?;
    let mut manifest = Manifest::load(export).map_err(Error::Data)?;
    let Some(env) = manifest.encryption.as_mut() else {
        return Ok(0);
    };
    let old: Vec<String> = env.deks.iter().map(|d| d.wrapping_key_id.clone()).collect();
    let n = crate::crypto::cell::rewrap(ring, &mut env.deks)?;
    if n == 0 {
        return Ok(0);
    }
    let audit_path: PathBuf = export.join("audit.jsonl");
    let mut audit = crate::evidence::audit::AuditLog::append(audit_path.clone())?;
    audit.event(
        "data_keys_rewrapped",
        json!({ "deks": n, "from": old, "to": ring.primary().id }),
    )?;
    if !manifest.key_ids.contains(&ring.primary().id) {
        manifest.key_ids.push(ring.primary().id.clone());
    }
    // The report and the declaration name the key ids in force: rewrite both, hash them
    // into the audit log and the manifest again.
    for f in rewrite_report_key_ids(export, &manifest.key_ids)? {
        audit.event(
            "report_rewritten",
            json!({ "path": f.path, "sha256": f.sha256 }),
        )?;
        for m in manifest.files.iter_mut().filter(|m| m.path == f.path) {
            m.sha256 = f.sha256.clone();
            m.bytes = f.bytes;
        }
    }
    audit.close()?;
    let (sha256, bytes) = crate::io::source::sha256_file(&audit_path)?;
    for f in manifest
        .files
        .iter_mut()
        .filter(|f| f.path == "audit.jsonl")
    {
        f.sha256 = sha256.clone();
        f.bytes = bytes;
    }
    manifest.audit_head = crate::evidence::audit::head(&audit_path)?;
    manifest.write(export)?;
    // The manifest changed: sign it again, with the new primary key.
    crate::evidence::signature::sign(export, ring.primary())?;
    Ok(n)
}
