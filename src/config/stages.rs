//! The stages' configuration types: what `[[stages]]` entries deserialize into. They
//! live here, in the configuration layer, so that `config` imports no stage and the
//! stages, built from these, sit above it (each stage's module re-exports its own).
//! Their methods that need a stage's internals are written in the stage's module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::detect::Validator;

// --- from `stages/dedup.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// String fields whose joined text is compared; all string fields if omitted.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default)]
    pub mode: Mode,
    /// Jaccard similarity of the shingle sets at or above which records are duplicates.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default)]
    pub shingle: Shingle,
    /// Shingle length: characters for `shingle = "char"`, words for `"word"`.
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    /// MinHash signature length.
    #[serde(default = "default_hashes")]
    pub num_hashes: usize,
    /// LSH bands × rows; chosen from `threshold` and `num_hashes` when omitted.
    #[serde(default)]
    pub bands: Option<usize>,
    #[serde(default)]
    pub rows: Option<usize>,
    #[serde(default)]
    pub keep: Keep,
    /// Numeric column ranking the copies when `keep = "priority"` (highest is kept).
    #[serde(default)]
    pub priority: Option<String>,
    /// Canonical form before hashing: NFKC, case folding, whitespace collapsed.
    #[serde(default = "yes")]
    pub nfkc: bool,
    #[serde(default = "yes")]
    pub case_fold: bool,
    #[serde(default = "yes")]
    pub collapse_whitespace: bool,
    /// Column that names a record in `dedup_clusters.jsonl`; `id` when the input has one.
    #[serde(default)]
    pub id_field: Option<String>,
    /// "document" (default): drop duplicate records; "paragraph": remove repeated
    /// paragraphs from records and keep every record.
    #[serde(default)]
    pub scope: Scope,
    /// `scope = "paragraph"`: what a paragraph is ("line" or "blank_line").
    #[serde(default)]
    pub split: Split,
    /// `scope = "paragraph"`: a paragraph found in at least this many records is boilerplate.
    #[serde(default = "default_min_repeats")]
    pub min_repeats: u32,
    /// At most this many distinct LSH candidates are verified per record (a guard
    /// against pathological buckets; reaching it is counted in the findings).
    #[serde(default = "default_max_candidates")]
    pub max_candidates: usize,
    /// `mode = "near"`: an LSH bucket holds at most this many records (the earliest); a
    /// record that finds one full is left out of that band only (counted as
    /// `bucket_full`). Bounds each record's candidates to bands × max_bucket.
    #[serde(default = "default_max_bucket")]
    pub max_bucket: usize,
    /// `keep = "first"`: memory for the index (MiB). When the input's records would need
    /// more (estimated before the run: Parquet row counts, the line density of each
    /// text file's first MiB), the input is read twice: the first pass decides with the
    /// index in generations of this size, each frozen to temporary files when full; the
    /// second drops what was decided.
    #[serde(default = "default_dedup_memory_mb")]
    pub memory_mb: u64,
}

#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Exact,
    #[default]
    Near,
}

#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Document,
    Paragraph,
}

#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Shingle {
    #[default]
    Char,
    Word,
}

#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The first occurrence in input order; one pass.
    #[default]
    First,
    /// The longest member of each cluster (canonical characters; ties: the first); two passes.
    Longest,
    /// The member with the highest `priority` column value (nulls lowest; ties: the
    /// first); two passes.
    Priority,
}

fn default_threshold() -> f64 {
    0.8
}

fn default_ngram() -> usize {
    5
}

fn default_hashes() -> usize {
    128
}

fn default_min_repeats() -> u32 {
    2
}

fn default_max_candidates() -> usize {
    1000
}

fn default_max_bucket() -> usize {
    32
}

fn default_dedup_memory_mb() -> u64 {
    256
}

fn yes() -> bool {
    true
}

// --- from `stages/dedup_paragraph.rs`

/// What a paragraph is.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Every line (text between line breaks) is a unit.
    #[default]
    Line,
    /// Blocks of lines separated by one or more blank lines.
    BlankLine,
}

// --- from `stages/deidentify.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeidentifyConfig {
    /// String fields to de-identify; all string fields if omitted.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// What to do with a detection, unless `actions` says otherwise for its type.
    #[serde(default)]
    pub action: Action,
    /// Per entity type: `{ PHONE = "mask", EMAIL = "redact" }`.
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// Entity types to look for (names as in the report); all if omitted.
    #[serde(default)]
    pub entities: Option<Vec<String>>,
    /// Detections scoring below this are ignored (checksum-validated types score 1.0,
    /// context-dependent ones less): one number for every type, or per type with an
    /// optional `default`: `{ default = 0.5, PERSON = 0.6, ADDRESS = 0.55 }`.
    #[serde(default)]
    pub min_score: MinScore,
    /// Known non-personal values that stay: `["400-820-8820", "support@acme.com"]`. A
    /// detection lying wholly inside one of them is dropped (exact match, ASCII
    /// case-insensitive).
    #[serde(default)]
    pub allow: Vec<String>,
    /// A file of such values, one per line (`#` comments), relative to the pipeline
    /// file's folder; read when the pipeline is loaded.
    #[serde(default)]
    pub allow_file: Option<String>,
    /// The pipeline's own recognizers (`[[stages.recognizers]]`).
    #[serde(default)]
    pub recognizers: Vec<RecognizerConfig>,
    /// Deny-lists: `{ PERSON = ["张三"], PROJECT = ["Falcon"] }`, terms always treated as
    /// that type.
    #[serde(default)]
    pub deny: BTreeMap<String, Vec<String>>,
    /// Structured columns, treated as one value each: `{ phone = "token", id_card =
    /// "mask", contact = "auto" }`. `auto` applies the action of the column's dominant
    /// type, and scans the column as text when it has none.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnRule>,
    /// The entity type of a structured column; when omitted it is sampled from the input.
    #[serde(default)]
    pub types: BTreeMap<String, String>,
}

/// `min_score`: one threshold, or thresholds per type.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum MinScore {
    All(f32),
    PerType(BTreeMap<String, f32>),
}

impl Default for MinScore {
    fn default() -> Self {
        MinScore::All(default_min_score())
    }
}

/// A whole-value rule for a structured column: an action, or `auto` (the action of the
/// column's dominant entity type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRule {
    Auto,
    Action(Action),
}

/// `[[stages.recognizers]]`: a regex, an optional checksum, optional context words.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecognizerConfig {
    /// The type name reported and used in `actions` (upper case, e.g. EMPLOYEE_ID).
    pub entity: String,
    pub pattern: String,
    /// luhn | gb11643 | gb32100 | iban
    #[serde(default)]
    pub validator: Option<Validator>,
    /// When given, one of these words must occur within 20 characters before a match.
    #[serde(default)]
    pub context: Vec<String>,
    #[serde(default = "default_custom_score")]
    pub score: f32,
}

fn default_custom_score() -> f32 {
    0.9
}

#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `<PHONE>`
    #[default]
    Tag,
    /// `<PHONE_1>`, `<PHONE_2>`: equal values in one text value share a number, so a
    /// model still sees that two mentions are the same.
    Indexed,
    /// Removed entirely.
    Redact,
    /// `138****5678`: see `mask`.
    Mask,
    /// `PHONE_v1_9f3a…`: a keyed token (needs `[keys]`).
    Token,
    /// `<dc1.kid.body>`: AES-256-GCM ciphertext that `decrypt` restores (needs `[keys]`).
    Encrypt,
}

// --- from `stages/encrypt.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptConfig {
    /// Top-level columns to encrypt, of any scalar type.
    pub columns: Vec<String>,
}

// --- from `stages/normalize.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NormalizeConfig {
    /// String fields to normalize (`text`, `messages.content`); all string fields if omitted.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub nfkc: bool,
    /// NFKC turns full-width punctuation (`，！？：；（）`) into ASCII. Chinese text
    /// normally keeps it, so by default it is kept ("keep"); "fold" applies plain NFKC.
    /// Full-width digits and letters are folded either way.
    #[serde(default)]
    pub fullwidth_punctuation: Punctuation,
    /// Remove C0/C1 control characters except tab and newline; CR and CRLF become LF.
    #[serde(default = "yes")]
    pub strip_control: bool,
    /// Remove invisible format characters: U+200B, U+2060, U+FEFF, U+00AD, U+180E.
    #[serde(default = "yes")]
    pub strip_invisible: bool,
    /// Collapse runs of spaces inside a line to one space, trim line ends and the value's
    /// ends, and keep at most one blank line between paragraphs.
    #[serde(default = "yes")]
    pub collapse_whitespace: bool,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Punctuation {
    #[default]
    Keep,
    Fold,
}

// --- from `stages/project.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Columns to keep (in input order); the rest are dropped.
    #[serde(default)]
    pub keep: Option<Vec<String>>,
    /// Columns to drop.
    #[serde(default)]
    pub drop: Option<Vec<String>>,
    /// `{ old = "new" }`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

// --- from `stages/pseudonymize.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PseudonymizeConfig {
    /// Columns (or nested string paths such as `meta.author`) to replace with tokens.
    pub columns: Vec<String>,
    /// The entity type of a column: `{ phone = "PHONE", id_card = "CN_ID_CARD" }`.
    /// Undeclared columns are typed per value (see the module docs).
    #[serde(default)]
    pub types: BTreeMap<String, String>,
}

// --- from `dp/release.rs`

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DpReleaseConfig {
    /// The column identifying a person; without it each record is its own unit.
    #[serde(default)]
    pub privacy_unit: Option<String>,
    /// The budget ledger (SQLite, kept at home); empty: `ledger.sqlite` in the state
    /// folder.
    #[serde(default)]
    pub ledger: String,
    /// Budget scope; default: SHA-256 of the resolved input paths and sizes.
    #[serde(default)]
    pub dataset_id: Option<String>,
    #[serde(default)]
    pub budget: Budget,
    pub queries: Vec<QueryConfig>,
    /// Memory for the units' rows kept until the end (MiB); past it they spill to
    /// temporary files, partitioned by unit, and are bounded one partition at a time.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
}

fn default_memory_mb() -> u64 {
    1024
}

/// Caps over all releases recorded for the dataset.
#[derive(Debug, Default, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default)]
    pub total_epsilon: Option<f64>,
    #[serde(default)]
    pub total_rho: Option<f64>,
    #[serde(default)]
    pub total_delta: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Count,
    Sum,
    Mean,
    Histogram,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    pub name: String,
    pub aggregate: Aggregate,
    #[serde(default)]
    pub column: Option<String>,
    /// Clamping bounds for sum and mean.
    #[serde(default)]
    pub bounds: Option<[f64; 2]>,
    /// Fixed-point unit of sums (default 0.01): values are clamped, then rounded to it.
    #[serde(default)]
    pub resolution: Option<f64>,
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Public group keys: strings for one `group_by` column, lists for several.
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub keys: Option<Vec<toml::Value>>,
    /// Public group keys from a file: one per line, columns separated by tabs.
    #[serde(default)]
    pub keys_file: Option<String>,
    /// Histogram bin edges (ascending): bins [e0, e1), …, [e(n−1), en]; values outside
    /// are clamped into the first or last bin.
    #[serde(default)]
    pub bins: Option<Vec<f64>>,
    #[serde(default)]
    pub epsilon: Option<f64>,
    #[serde(default)]
    pub rho: Option<f64>,
    #[serde(default)]
    pub delta: Option<f64>,
    #[serde(default)]
    pub max_partitions: Option<u64>,
    #[serde(default)]
    pub max_rows_per_partition: Option<u64>,
    /// Post-processing (free under DP): counts below 0 become 0, sums take the sign their
    /// bounds allow, means are clamped to the bounds. Values are always rounded to the
    /// resolution (counts to integers).
    #[serde(default = "yes")]
    pub clamp: bool,
}

pub(crate) fn default_min_score() -> f32 {
    0.5
}
