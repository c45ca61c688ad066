//! The pipeline file as the user wrote it (`PipelineFile`), parsed with serde from TOML.
//!
//! This is the "low" half of the ripgrep-style split: it only says what was written.
//! Resolving inputs, inferring schemas and building stages happens in `crate::plan`.
//! Invariants: unknown keys and unknown stage types are errors that name the pipeline
//! file and line; nothing here reads input data or keys.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::crypto::run::KeysConfig;
use crate::error::{Error, Result};
pub mod stages;

use stages::{
    DedupConfig, DeidentifyConfig, DpReleaseConfig, EncryptConfig, NormalizeConfig, ProjectConfig,
    PseudonymizeConfig,
};

/// A parsed pipeline file plus what error messages and evidence need about its source.
pub struct PipelineSource {
    pub path: PathBuf,
    pub text: String,
    /// SHA-256 of the file's bytes: recorded in the report, manifest and audit log.
    pub sha256: String,
    pub file: PipelineFile,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    #[serde(default)]
    pub name: Option<String>,
    pub input: InputConfig,
    pub output: OutputConfig,
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    #[serde(default)]
    pub gate: Option<GateConfig>,
    /// `[keys]`: where root keys come from, the token scope, the vault. Only read when a
    /// stage tokenizes or encrypts.
    #[serde(default)]
    pub keys: Option<KeysConfig>,
    /// `[assessment]`: subject counts, the year ledger and the cross-border mechanism.
    #[serde(default)]
    pub assessment: Option<crate::evidence::assessment::AssessmentConfig>,
}

/// `[gate]`: conditions under which the export is refused (exit 80, no manifest, no
/// shippable data).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Residual PII hits allowed in the export (the re-scan after every stage).
    #[serde(default)]
    pub max_residual: Option<u64>,
    /// The most burdensome mechanism the year's totals may need: exempt |
    /// standard_contract | security_assessment. An export needing more is refused.
    #[serde(default)]
    pub max_mechanism: Option<String>,
    /// The smallest equivalence class the exported rows may have over `[assessment]
    /// quasi_identifiers` (k-anonymity).
    #[serde(default)]
    pub min_k: Option<u64>,
    /// Quarantined rows allowed: a count (`100`) or a share of the rows read (`0.01`).
    /// Without it, an export is refused only when every row read was quarantined.
    #[serde(default)]
    pub max_quarantined: Option<MaxQuarantined>,
}

/// `[gate] max_quarantined`: an integer is a number of rows, a float a share of the rows
/// read (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum MaxQuarantined {
    Rows(u64),
    Share(f64),
}

impl MaxQuarantined {
    /// Whether `quarantined` of `rows_in` rows is within the limit.
    pub fn allows(self, quarantined: u64, rows_in: u64) -> bool {
        match self {
            MaxQuarantined::Rows(n) => quarantined <= n,
            MaxQuarantined::Share(s) => rows_in == 0 || quarantined as f64 <= s * rows_in as f64,
        }
    }
}

/// Input formats. Inferred from the file extension when not given.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Parquet,
    /// CSV, or TSV by the file name (`.tsv`): input only.
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
            Format::Csv => "csv",
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// A file, a directory or a glob; or a list of them.
    pub path: OneOrMany,
    #[serde(default)]
    pub format: Option<Format>,
    /// "sample" (default), "scan", or a declared list of `{ name, type }` fields.
    #[serde(default)]
    #[schemars(schema_with = "input_schema_schema")]
    pub schema: Option<Spanned<toml::Value>>,
    /// How many non-blank lines `schema = "sample"` reads to infer the schema.
    #[serde(default = "default_sample_lines")]
    pub sample_lines: usize,
    /// Rows per batch: the unit of parallel work and of memory.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl PipelineFile {
    /// Takes every path the file names against `base`, the file's folder: a pipeline
    /// means the same files whatever folder the command runs from. Paths left unset
    /// (ledgers, keyring) are the state folder's, filled in by `crate::plan`.
    fn resolve_paths(&mut self, base: &Path) {
        use crate::state::against;
        let input = match &self.input.path {
            OneOrMany::One(p) => OneOrMany::One(against(base, p)),
            OneOrMany::Many(v) => OneOrMany::Many(v.iter().map(|p| against(base, p)).collect()),
        };
        self.input.path = input;
        self.output.path = against(base, &self.output.path);
        for st in &mut self.stages {
            match st {
                StageConfig::Deidentify(c) => {
                    c.allow_file = c.allow_file.as_deref().map(|f| against(base, f));
                }
                StageConfig::DpRelease(c) => {
                    c.ledger = against(base, &c.ledger);
                    for q in &mut c.queries {
                        q.keys_file = q.keys_file.as_deref().map(|f| against(base, f));
                    }
                }
                _ => {}
            }
        }
        if let Some(k) = &mut self.keys {
            if let Some(p) = k.keyring.as_deref().and_then(|s| s.strip_prefix("file:")) {
                k.keyring = Some(format!("file:{}", against(base, p)));
            }
            k.vault = k.vault.as_deref().map(|v| against(base, v));
        }
        if let Some(a) = &mut self.assessment {
            a.year_ledger = against(base, &a.year_ledger);
        }
    }
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

fn default_sample_lines() -> usize {
    1000
}
fn default_batch_rows() -> usize {
    8192
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub path: String,
    #[serde(default)]
    pub format: Option<Format>,
    /// Replace an existing export (as `--overwrite` does). The quickstart sets it so that
    /// it can be rerun in the same checkout.
    #[serde(default)]
    pub overwrite: bool,
    /// A data part file rolls over to the next once it reaches this size.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: ByteSize,
    /// Parquet output: rows per row group.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Parquet output: "zstd" (default), "snappy" or "none".
    #[serde(default)]
    pub compression: Compression,
    /// false: an aggregates-only export (no `data/`), when only statistics may leave.
    #[serde(default = "default_true")]
    pub rows: bool,
    /// Language of report.html: "en" (default) or "zh".
    #[serde(default)]
    pub lang: crate::evidence::html::Lang,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    None,
}

fn default_max_file_bytes() -> ByteSize {
    ByteSize(256 * 1024 * 1024)
}
fn default_row_group_rows() -> usize {
    65_536
}

/// The JSON Schema of the pipeline file, pretty-printed (`datacustoms schema`).
pub fn pipeline_json_schema() -> String {
    let mut schema = schemars::schema_for!(PipelineFile);
    schema.insert("title".into(), "datacustoms pipeline file".into());
    schema.insert(
        "description".into(),
        "A datacustoms pipeline (TOML). Generated from the types that read it: `datacustoms schema`.".into(),
    );
    serde_json::to_string_pretty(&schema).expect("a schema serializes")
}

/// The JSON Schema of `[input] schema`: "sample", "scan", or a list of fields.
fn input_schema_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "\"sample\" (infer from the first sample_lines records), \"scan\" (read every record), or the fields declared: [{ name, type }], type one of string, int64, float64, bool, timestamp, … or list<…>/struct",
        "oneOf": [
            { "type": "string", "enum": ["sample", "scan"] },
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {
                        "name": { "type": "string" },
                        "type": {}
                    }
                }
            }
        ]
    })
}

impl schemars::JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "bytes: an integer, or a string such as \"256MiB\", \"1GB\", \"64k\"",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*([kKmMgGtT]([iI]?[bB])?|[bB])?\\s*$" }
            ]
        })
    }
}

/// A size in bytes, written as an integer or as a string such as "256MiB", "1GB", "64k".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => parse_byte_size(&s).map(ByteSize).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a size: write bytes as an integer or a string like \"256MiB\""
                ))
            }),
        }
    }
}

/// Parses "256MiB", "1G", "64k", "1000": binary multiples for K/M/G/T with or without
/// "iB"/"B", because users mean binary multiples for file sizes.
pub fn parse_byte_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// One `[[stages]]` entry. Adding a stage adds a variant here and a module in `stages/`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageConfig {
    Normalize(NormalizeConfig),
    Project(ProjectConfig),
    Dedup(DedupConfig),
    Deidentify(DeidentifyConfig),
    Pseudonymize(PseudonymizeConfig),
    Encrypt(EncryptConfig),
    DpRelease(DpReleaseConfig),
}

impl StageConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            StageConfig::Normalize(_) => "normalize",
            StageConfig::Project(_) => "project",
            StageConfig::Dedup(_) => "dedup",
            StageConfig::Deidentify(_) => "deidentify",
            StageConfig::Pseudonymize(_) => "pseudonymize",
            StageConfig::Encrypt(_) => "encrypt",
            StageConfig::DpRelease(_) => "dp_release",
        }
    }

    /// (tokenizes, encrypts): whether the stage needs keys, and a DEK pool.
    pub fn uses_keys(&self) -> (bool, bool) {
        use stages::Action;
        match self {
            StageConfig::Pseudonymize(_) => (true, false),
            StageConfig::Encrypt(_) => (false, true),
            StageConfig::Deidentify(c) => (
                c.all_actions().any(|a| a == Action::Token),
                c.all_actions().any(|a| a == Action::Encrypt),
            ),
            _ => (false, false),
        }
    }
}

impl PipelineSource {
    /// Reads and parses a pipeline file. Errors name the file and the line.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(format!(
                    "pipeline file {} not found (copy one from pipelines/)",
                    path.display()
                ))
            } else {
                Error::io("cannot read pipeline file", path, e)
            }
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::Config(format!(
                "{}: not UTF-8 text (byte {}); save the pipeline file as UTF-8",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        let file = Self::parse(path, &text)?;
        Ok(PipelineSource {
            path: path.to_path_buf(),
            text,
            sha256,
            file,
        })
    }

    pub fn parse(path: &Path, text: &str) -> Result<PipelineFile> {
        let mut file = Self::parse_toml(path, text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        file.resolve_paths(base);
        // Allow-list files are read now, so every later use of the stage (run, verify's
        // re-scan) sees the same values.
        for st in &mut file.stages {
            if let StageConfig::Deidentify(c) = st {
                if let Some(f) = &c.allow_file {
                    let p = Path::new(f);
                    let list = std::fs::read_to_string(p).map_err(|e| {
                        Error::Config(format!(
                            "{}: deidentify allow_file {}: {e}",
                            path.display(),
                            p.display()
                        ))
                    })?;
                    c.allow.extend(
                        list.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(String::from),
                    );
                }
            }
        }
        Ok(file)
    }

    fn parse_toml(path: &Path, text: &str) -> Result<PipelineFile> {
        toml::from_str::<PipelineFile>(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!(" line {}", line_of(text, s.start)))
                .unwrap_or_default();
            Error::Config(format!(
                "{}{line}: {}",
                path.display(),
                e.message().trim_end()
            ))
        })
    }

    /// "pipelines/x.toml line 12" for the line of stage `index` (0-based) that mentions
    /// `needle` (as a quoted string or a key), or for the stage's `[[stages]]` header.
    /// Stage tables go through serde's internally tagged enums, which drop source spans,
    /// so stage errors are located by looking at the text.
    pub fn stage_at(&self, index: usize, needle: &str) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        let headers: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("[[stages]]"))
            .map(|(i, _)| i)
            .collect();
        let Some(&start) = headers.get(index) else {
            return format!("{} stage {}", self.path.display(), index + 1);
        };
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |p| start + 1 + p);
        let quoted = format!("\"{needle}\"");
        let line = (start..end)
            .find(|&i| {
                let l = lines[i].split('#').next().unwrap_or("");
                l.contains(&quoted) || l.trim_start().starts_with(needle)
            })
            .unwrap_or(start);
        format!("{} line {}", self.path.display(), line + 1)
    }

    /// "pipelines/x.toml line 12" for a byte span of this file.
    pub fn at(&self, span: std::ops::Range<usize>) -> String {
        format!(
            "{} line {}",
            self.path.display(),
            line_of(&self.text, span.start)
        )
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_byte_size("1G"), Some(1 << 30));
        assert_eq!(parse_byte_size("64 kb"), Some(64 << 10));
        assert_eq!(parse_byte_size("1000"), Some(1000));
        assert_eq!(parse_byte_size("1x"), None);
        assert_eq!(parse_byte_size(""), None);
    }

    #[test]
    fn stage_errors_find_their_line() {
        let text = "[input]\npath = \"a\"\n[output]\npath = \"o\"\n[[stages]]\ntype = \"normalize\"\n\n[[stages]]\ntype = \"project\"\ndrop = [\"x\", \"zz\"]\n";
        let src = PipelineSource {
            path: "p.toml".into(),
            text: text.into(),
            sha256: String::new(),
            file: PipelineSource::parse(Path::new("p.toml"), text).unwrap(),
        };
        assert_eq!(src.stage_at(1, "zz"), "p.toml line 10");
        assert_eq!(src.stage_at(0, "nothing"), "p.toml line 5");
    }

    #[test]
    fn unknown_key_names_the_line() {
        let text = "[input]\npath = \"a.jsonl\"\n[output]\npath = \"out\"\nbogus = 1\n";
        let err = PipelineSource::parse(Path::new("p.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml line 5"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn unknown_stage_type_is_an_error() {
        let text = "[input]\npath = \"a.jsonl\"\n[output]\npath = \"out\"\n[[stages]]\ntype = \"teleport\"\n";
        let err = PipelineSource::parse(Path::new("p.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("teleport"), "{err}");
        assert!(err.contains("normalize"), "{err}");
    }

    #[test]
    fn stage_with_unknown_key_is_an_error() {
        let text = "[input]\npath = \"a.jsonl\"\n[output]\npath = \"out\"\n[[stages]]\ntype = \"normalize\"\nfeilds = [\"text\"]\n";
        let err = PipelineSource::parse(Path::new("p.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("feilds"), "{err}");
    }
}
