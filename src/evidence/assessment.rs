//! The cross-border assessment: how many distinct data subjects an export holds, how many
//! of them with sensitive personal information, the same for the calendar year across
//! runs (the year ledger), and the mechanism those totals fall under by the 2024
//! Provisions on Promoting and Regulating Cross-Border Data Flows.
//!
//! Subjects are counted from values as they came in (before any stage changed them), on
//! the workers (`SubjectScanner`), and only for rows that reach the export (matched by
//! origin, like the residual scan). A subject is one keyed fingerprint — HMAC-SHA256
//! under a key derived from the root key for the exporter and the year, over the
//! identifier's canonical form — so counts are exact, reruns never double-count, and no
//! identifier is stored. Two identifiers of one person (a phone and an ID number) count
//! as two subjects: the count can only be too high, never too low.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::crypto::token::canonical;
use crate::crypto::RootKey;
use crate::detect::{DetectConfig, Detection, Detector, EntityType};
use crate::engine::batch::Batch;
use crate::error::{Error, Result};
use crate::stages::fields::{for_each_string, string_paths, StringPath};

/// `[assessment]` in a pipeline file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentConfig {
    /// Columns whose values identify a data subject (e.g. `user_id`).
    #[serde(default)]
    pub subject_columns: Vec<String>,
    /// Entity types whose values, found in any text field, identify a subject. Default
    /// when `subject_columns` is empty: CN_ID_CARD, PASSPORT, PHONE, EMAIL.
    #[serde(default)]
    pub subject_types: Option<Vec<String>>,
    /// The year ledger counts per exporter, across all recipients.
    #[serde(default = "default_exporter")]
    pub exporter: String,
    #[serde(default)]
    pub recipient: Option<String>,
    /// Empty: `year-ledger.sqlite` in the state folder.
    #[serde(default)]
    pub year_ledger: String,
    #[serde(default)]
    pub declares: Declares,
    /// Columns declared sensitive by PIPL art. 28 category: `{ diagnosis = "health" }`.
    #[serde(default)]
    pub sensitive_columns: BTreeMap<String, String>,
    /// The calendar year counted (default: the current UTC year); for back-dated runs.
    #[serde(default)]
    pub year: Option<i32>,
    /// The data grade (GB/T 43697) of every field not in `data_grades`: general |
    /// important | core. Default general.
    #[serde(default)]
    pub data_grade: Option<String>,
    /// Per field: `{ diagnosis = "important" }`.
    #[serde(default)]
    pub data_grades: BTreeMap<String, String>,
    /// Required when any field is important data: the reference of the approval that
    /// covers it (e.g. the security assessment's). Core data may never leave.
    #[serde(default)]
    pub acknowledge_important: Option<String>,
    /// Output columns that together could single a person out (province, age, …):
    /// k-anonymity is computed over them.
    #[serde(default)]
    pub quasi_identifiers: Vec<String>,
    /// An output column whose value should not follow from the quasi-identifiers
    /// (l-diversity).
    #[serde(default)]
    pub sensitive_attribute: Option<String>,
}

/// Data grades of GB/T 43697-2024, least to most restricted.
pub const DATA_GRADES: [&str; 3] = ["general", "important", "core"];

impl AssessmentConfig {
    /// Every field's declared data grade, or why the declaration is refused: core data
    /// may not leave; important data needs `acknowledge_important`.
    pub fn grades(&self, fields: &[String]) -> Result<BTreeMap<String, String>> {
        let default = self.data_grade.clone().unwrap_or_else(|| "general".into());
        for (f, g) in
            std::iter::once((&"data_grade".to_string(), &default)).chain(&self.data_grades)
        {
            if !DATA_GRADES.contains(&g.as_str()) {
                return Err(Error::Config(format!(
                    "[assessment] {}: `{g}` is not a data grade (general, important, core)",
                    if f == "data_grade" {
                        "data_grade".to_string()
                    } else {
                        format!("data_grades.{f}")
                    }
                )));
            }
        }
        for f in self.data_grades.keys() {
            if !fields.contains(f) {
                return Err(Error::Config(format!(
                    "[assessment] data_grades: no field `{f}` in the input (fields: {})",
                    fields.join(", ")
                )));
            }
        }
        let grades: BTreeMap<String, String> = fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    self.data_grades.get(f).unwrap_or(&default).clone(),
                )
            })
            .collect();
        let of = |g: &str| {
            grades
                .iter()
                .filter(|(_, v)| *v == g)
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
        };
        let core = of("core");
        if !core.is_empty() {
            return Err(Error::Refused(format!(
                "field(s) {} declared core data (GB/T 43697): core data may not leave the country; export refused, nothing read",
                core.join(", ")
            )));
        }
        let important = of("important");
        let acknowledged = self
            .acknowledge_important
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty());
        if !important.is_empty() && !acknowledged {
            return Err(Error::Refused(format!(
                "field(s) {} declared important data (GB/T 43697): exporting important data needs a security assessment; set [assessment] acknowledge_important = \"<the approval's reference>\" to confirm it is covered; export refused, nothing read",
                important.join(", ")
            )));
        }
        Ok(grades)
    }
}

fn default_exporter() -> String {
    "default".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declares {
    /// Critical information infrastructure operator.
    #[serde(default)]
    pub ciio: bool,
    #[serde(default)]
    pub important_data: bool,
}

/// The three mechanisms, in increasing order of burden.
pub const MECHANISMS: [&str; 3] = ["exempt", "standard_contract", "security_assessment"];

/// The mechanism for (subjects, sensitive subjects) and the declarations, with the rule
/// that decided it.
pub fn mechanism(subjects: u64, sensitive: u64, d: &Declares) -> (&'static str, String) {
    if d.ciio {
        return (
            "security_assessment",
            "the exporter declares critical information infrastructure operator status".into(),
        );
    }
    if d.important_data {
        return (
            "security_assessment",
            "the pipeline declares important data".into(),
        );
    }
    if subjects >= 1_000_000 {
        return (
            "security_assessment",
            format!("{subjects} people (≥ 1,000,000)"),
        );
    }
    if sensitive >= 10_000 {
        return (
            "security_assessment",
            format!("{sensitive} people with sensitive PI (≥ 10,000)"),
        );
    }
    if subjects >= 100_000 {
        return (
            "standard_contract",
            format!("{subjects} people (100,000 to < 1,000,000)"),
        );
    }
    if sensitive > 0 {
        return (
            "standard_contract",
            format!("{sensitive} people with sensitive PI (1 to < 10,000)"),
        );
    }
    (
        "exempt",
        format!("{subjects} people (< 100,000), no sensitive PI"),
    )
}

pub fn rank(m: &str) -> Option<usize> {
    MECHANISMS.iter().position(|x| *x == m)
}

/// One identifier source: a column, or an entity type found in text.
enum Source {
    Column { column: usize, kind: String },
    Detected(EntityType),
}

/// Runs on the workers before any stage: per row, the subject fingerprints and whether
/// the row holds sensitive PI.
pub struct SubjectScanner {
    sources: Vec<Source>,
    text: Vec<StringPath>,
    detector: Detector,
    sensitive_columns: Vec<usize>,
    mac: Hmac<Sha256>,
    /// Detections per (top-level field, type) in the input, for field grading.
    by_field: std::sync::Mutex<BTreeMap<(String, EntityType), u64>>,
}

impl SubjectScanner {
    pub fn new(
        cfg: &AssessmentConfig,
        input: &arrow::datatypes::Schema,
        root: &RootKey,
        year: i32,
    ) -> std::result::Result<Self, String> {
        let mut sources = Vec::new();
        for c in &cfg.subject_columns {
            let i = input.index_of(c).map_err(|_| {
                format!("[assessment] subject_columns: no column `{c}` in the input")
            })?;
            sources.push(Source::Column {
                column: i,
                kind: crate::detect::column_type_name(c),
            });
        }
        let types = match &cfg.subject_types {
            Some(t) => t.clone(),
            None if cfg.subject_columns.is_empty() => ["CN_ID_CARD", "PASSPORT", "PHONE", "EMAIL"]
                .map(String::from)
                .to_vec(),
            None => Vec::new(),
        };
        for t in &types {
            let e = EntityType::parse(t)
                .ok_or_else(|| format!("[assessment] subject_types: unknown type `{t}`"))?;
            sources.push(Source::Detected(e));
        }
        let sensitive_columns = cfg
            .sensitive_columns
            .iter()
            .map(|(c, cat)| {
                if !crate::detect::SENSITIVE_CATEGORIES.contains(&cat.as_str()) {
                    return Err(format!(
                        "[assessment] sensitive_columns: `{cat}` is not one of {}",
                        crate::detect::SENSITIVE_CATEGORIES.join(", ")
                    ));
                }
                input.index_of(c).map_err(|_| {
                    format!("[assessment] sensitive_columns: no column `{c}` in the input")
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let key = root.derive("subject", &cfg.exporter, &year.to_string());
        Ok(SubjectScanner {
            sources,
            text: string_paths(input),
            detector: Detector::new(&DetectConfig::default()),
            sensitive_columns,
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).expect("any key length"),
            by_field: Default::default(),
        })
    }

    fn fingerprint(&self, kind: &str, value: &str) -> u128 {
        let mut m = self.mac.clone();
        m.update(kind.as_bytes());
        m.update(&[0x1f]);
        m.update(canonical(kind, value).as_bytes());
        let out = m.finalize().into_bytes();
        u128::from_le_bytes(out[..16].try_into().expect("16 bytes"))
    }

    /// Fills `batch.subjects` from the batch as read.
    pub fn scan(&self, batch: &mut Batch) {
        let n = batch.num_rows();
        let mut sensitive = vec![false; n];
        let mut detected: Vec<Vec<(EntityType, String)>> = vec![Vec::new(); n];
        let want: HashSet<EntityType> = self
            .sources
            .iter()
            .filter_map(|s| match s {
                Source::Detected(e) => Some(*e),
                _ => None,
            })
            .collect();
        let mut found: Vec<Detection> = Vec::new();
        let mut by_field: HashMap<(usize, EntityType), u64> = HashMap::new();
        for p in &self.text {
            for_each_string(batch.data.column(p.column), &p.steps, &mut |row, s| {
                self.detector.detect(s, &mut found);
                for d in &found {
                    *by_field.entry((p.column, d.entity)).or_default() += 1;
                    if d.entity.is_sensitive() {
                        sensitive[row] = true;
                    }
                    if want.contains(&d.entity) {
                        detected[row].push((d.entity, s[d.start..d.end].to_string()));
                    }
                }
            });
        }
        if !by_field.is_empty() {
            let schema = batch.data.schema();
            let mut all = self.by_field.lock().unwrap_or_else(|e| e.into_inner());
            for ((c, e), n) in by_field {
                *all.entry((schema.field(c).name().clone(), e)).or_default() += n;
            }
        }
        for c in &self.sensitive_columns {
            let a = batch.data.column(*c);
            for (row, flag) in sensitive.iter_mut().enumerate() {
                if !a.is_null(row) {
                    *flag = true;
                }
            }
        }
        let mut out = Vec::new();
        for s in &self.sources {
            if let Source::Column { column, kind } = s {
                // Binary ids as hex: a cast would null invalid UTF-8 and lose subjects.
                let Ok(text) = crate::io::schema::key_text(batch.data.column(*column)) else {
                    continue;
                };
                let text = arrow::array::AsArray::as_string::<i32>(&text);
                for (row, (&origin, &s)) in batch.origins.iter().zip(&sensitive).enumerate() {
                    if !arrow::array::Array::is_null(text, row) {
                        out.push((origin, self.fingerprint(kind, text.value(row)), s));
                    }
                }
            }
        }
        for (row, ids) in detected.into_iter().enumerate() {
            for (e, v) in ids {
                out.push((
                    batch.origins[row],
                    self.fingerprint(e.as_str(), &v),
                    sensitive[row],
                ));
            }
        }
        batch.subjects = out;
    }
}

/// One field's grade in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FieldGrade {
    pub name: String,
    /// sensitive PI | general PI | no PI detected.
    pub pi: &'static str,
    /// Detections in the field as read (before any stage), by type.
    pub detected: BTreeMap<String, u64>,
    /// PIPL art. 28 category, when the pipeline declares the field sensitive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_sensitive: Option<String>,
    /// GB/T 43697 grade the pipeline declares: general | important | core.
    pub data_grade: String,
    /// Techniques applied to the field; empty: none.
    pub techniques: Vec<String>,
}

impl SubjectScanner {
    /// Grades every input field: sensitive PI (a sensitive type detected, or declared
    /// sensitive), general PI (any other detection, a subject column, or a field the
    /// pipeline protects), or no PI detected. Detections are those made on the input as read, before any stage.
    /// The detections counted so far per (field, type name): a shard's, for the home
    /// step to `add_detections` before grading the fields.
    pub fn detections(&self) -> Vec<(String, String, u64)> {
        let all = self.by_field.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .map(|((f, t), n)| (f.clone(), t.as_str().to_string(), *n))
            .collect()
    }

    /// Adds another shard's `detections`.
    pub fn add_detections(&self, shard: &[(String, String, u64)]) {
        let mut all = self.by_field.lock().unwrap_or_else(|e| e.into_inner());
        for (f, t, n) in shard {
            // A custom recognizer's type lives as long as the process, as when the
            // pipeline is read.
            let t = EntityType::parse(t)
                .unwrap_or_else(|| EntityType::Custom(Box::leak(t.clone().into_boxed_str())));
            *all.entry((f.clone(), t)).or_default() += n;
        }
    }

    pub fn grades(
        &self,
        cfg: &AssessmentConfig,
        fields: &[String],
        data_grades: &BTreeMap<String, String>,
        techniques: &BTreeMap<String, Vec<String>>,
    ) -> Vec<FieldGrade> {
        let all = self.by_field.lock().unwrap_or_else(|e| e.into_inner());
        fields
            .iter()
            .map(|f| {
                let detected: BTreeMap<String, u64> = all
                    .iter()
                    .filter(|((name, _), _)| name == f)
                    .map(|((_, e), n)| (e.as_str().to_string(), *n))
                    .collect();
                let declared = cfg.sensitive_columns.get(f).cloned();
                let sensitive = declared.is_some()
                    || all
                        .iter()
                        .any(|((name, e), _)| name == f && e.is_sensitive());
                let techniques = techniques.get(f).cloned().unwrap_or_default();
                // A field the pipeline tokenizes, encrypts, masks or suppresses is
                // treated as PI even where the detector found none (names, free ids).
                let protected = techniques.iter().any(|t| !t.starts_with("DP"));
                let pi = if sensitive {
                    "sensitive PI"
                } else if !detected.is_empty() || cfg.subject_columns.contains(f) || protected {
                    "general PI"
                } else {
                    "no PI detected"
                };
                FieldGrade {
                    name: f.clone(),
                    pi,
                    detected,
                    declared_sensitive: declared,
                    data_grade: data_grades
                        .get(f)
                        .cloned()
                        .unwrap_or_else(|| "general".into()),
                    techniques,
                }
            })
            .collect()
    }
}

/// The export's subjects, from the rows that reach it: each subject's keyed fingerprint
/// and whether any of its identifiers is sensitive. Exact under merging: a sharded run
/// keeps one per shard and unites them (`merge`), never estimates.
#[derive(Default, Debug, PartialEq)]
pub struct SubjectTally {
    subjects: HashMap<u128, bool>,
}

impl SubjectTally {
    /// Counts a subject (sensitive if any of its sightings is).
    pub fn insert(&mut self, fingerprint: u128, sensitive: bool) {
        *self.subjects.entry(fingerprint).or_default() |= sensitive;
    }

    /// Adds another shard's subjects: the union, a subject sensitive in either being
    /// sensitive.
    pub fn merge(&mut self, other: SubjectTally) {
        for (fp, s) in other.subjects {
            self.insert(fp, s);
        }
    }

    /// The subjects as (fingerprint, sensitive), in fingerprint order (what a shard
    /// writes out; fingerprints are keyed hashes, never values).
    pub fn records(&self) -> Vec<(u128, bool)> {
        let mut r: Vec<(u128, bool)> = self.subjects.iter().map(|(f, s)| (*f, *s)).collect();
        r.sort_unstable();
        r
    }

    /// Writes the subjects to `path`, 17 bytes each (keyed fingerprint, sensitive), in
    /// fingerprint order: a shard's tally for the home step to `load`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::with_capacity(self.subjects.len() * 17);
        for (fp, s) in self.records() {
            bytes.extend_from_slice(&fp.to_le_bytes());
            bytes.push(u8::from(s));
        }
        std::fs::write(path, bytes).map_err(|e| Error::io("cannot write", path, e))
    }

    /// Adds the subjects `save` wrote (another shard's): the union, as `merge`.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        if bytes.len() % 17 != 0 {
            return Err(Error::Data(format!(
                "{}: not a subject tally ({} bytes)",
                path.display(),
                bytes.len()
            )));
        }
        for r in bytes.chunks_exact(17) {
            self.insert(
                u128::from_le_bytes(r[..16].try_into().expect("16 bytes")),
                r[16] != 0,
            );
        }
        Ok(())
    }

    pub fn add(&mut self, batch: &mut Batch) {
        let hits = std::mem::take(&mut batch.subjects);
        if hits.is_empty() {
            return;
        }
        let surviving: HashSet<u64> = batch.origins.iter().copied().collect();
        for (origin, fp, s) in hits {
            if surviving.contains(&origin) {
                self.insert(fp, s);
            }
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.subjects.len() as u64,
            self.subjects.values().filter(|s| **s).count() as u64,
        )
    }
}

/// The assessment section of report.json.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub exporter: String,
    pub recipient: Option<String>,
    pub distinct_subjects: u64,
    pub sensitive_subjects: u64,
    pub mechanism: String,
    pub basis: String,
    pub declares: Declares,
    pub year_to_date: YearToDate,
    pub status: String,
    /// Per field, the techniques applied (suppression, masking, token, encryption, DP).
    pub techniques: BTreeMap<String, Vec<String>>,
    pub keys: String,
    /// Every input field graded (PI found, declared data grade, techniques).
    pub fields: Vec<FieldGrade>,
    /// Fields declared important data, and the acknowledgement that covers them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub important_data: Option<serde_json::Value>,
    /// Re-identification risk of the exported rows over the declared quasi-identifiers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k_anonymity: Option<crate::evidence::kanon::KAnonymity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct YearToDate {
    pub year: i32,
    pub distinct_subjects: u64,
    pub sensitive_subjects: u64,
    pub mechanism: String,
    pub basis: String,
    pub exports: u64,
    pub ledger: String,
}

pub const STATUS: &str = "Tokenized and encrypted data remain personal information (pseudonymized data, PIPL art. 73; GDPR art. 4(5)); only differentially private aggregates are released as anonymous statistics. This export is not anonymised.";

/// `STATUS` in Chinese, for report.html.
pub const STATUS_ZH: &str = "去标识化（令牌化、加密）的数据仍属个人信息（《个人信息保护法》第七十三条；GDPR 第 4(5) 条），只有差分隐私聚合结果作为匿名统计数据发布。本次出境数据并未匿名化。";

/// The year ledger: per exporter and year, the union of subject fingerprints.
pub struct YearLedger {
    conn: Connection,
    path: PathBuf,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    crate::error::sqlite("year ledger", path)
}

impl YearLedger {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS subjects (exporter TEXT NOT NULL, year INTEGER NOT NULL, fp BLOB NOT NULL, sensitive INTEGER NOT NULL, PRIMARY KEY (exporter, year, fp)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS exports (exporter TEXT NOT NULL, year INTEGER NOT NULL, run_id TEXT NOT NULL, recipient TEXT, subjects INTEGER NOT NULL, sensitive INTEGER NOT NULL, at TEXT NOT NULL, PRIMARY KEY (exporter, year, run_id));",
        )
        .map_err(sql(path))?;
        Ok(YearLedger {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Adds the export's subjects and returns the year's totals; the caller commits with
    /// `keep = true` once the export is accepted, or the additions are rolled back.
    pub fn add(
        &mut self,
        exporter: &str,
        year: i32,
        run_id: &str,
        recipient: Option<&str>,
        tally: &SubjectTally,
        decide: impl FnOnce(u64, u64, u64) -> bool,
    ) -> Result<(u64, u64, u64)> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO subjects (exporter, year, fp, sensitive) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (exporter, year, fp) DO UPDATE SET sensitive = max(sensitive, excluded.sensitive)",
                )
                .map_err(sql(&path))?;
            for (fp, s) in &tally.subjects {
                st.execute(params![exporter, year, &fp.to_le_bytes()[..], *s as i64])
                    .map_err(sql(&path))?;
            }
        }
        let (n, s) = tally.counts();
        tx.execute(
            "INSERT OR REPLACE INTO exports (exporter, year, run_id, recipient, subjects, sensitive, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![exporter, year, run_id, recipient, n as i64, s as i64, crate::evidence::now_rfc3339()],
        )
        .map_err(sql(&path))?;
        let (total, sensitive, exports): (i64, i64, i64) = tx
            .query_row(
                "SELECT count(*), coalesce(sum(sensitive), 0), (SELECT count(*) FROM exports WHERE exporter = ?1 AND year = ?2) FROM subjects WHERE exporter = ?1 AND year = ?2",
                params![exporter, year],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(sql(&path))?;
        let (total, sensitive, exports) = (total as u64, sensitive as u64, exports as u64);
        if decide(total, sensitive, exports) {
            tx.commit().map_err(sql(&path))?;
        } else {
            tx.rollback().map_err(sql(&path))?;
        }
        Ok((total, sensitive, exports))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Shard tallies united are the tally of all rows: the same subjects, the same
        /// distinct and sensitive counts, whatever the cut.
        #[test]
        fn shard_subjects_merge_exactly(
            hits in proptest::collection::vec((0u128..40, proptest::bool::ANY), 0..80),
            cut in 0usize..80,
        ) {
            let mut whole = SubjectTally::default();
            for &(fp, s) in &hits {
                whole.insert(fp, s);
            }
            let cut = cut.min(hits.len());
            let (mut a, mut b) = (SubjectTally::default(), SubjectTally::default());
            for &(fp, s) in &hits[..cut] {
                a.insert(fp, s);
            }
            for &(fp, s) in &hits[cut..] {
                b.insert(fp, s);
            }
            let records = b.records();
            let mut b2 = SubjectTally::default();
            for (fp, s) in records {
                b2.insert(fp, s);
            }
            a.merge(b2);
            proptest::prop_assert_eq!(a.counts(), whole.counts());
            proptest::prop_assert_eq!(a, whole);
        }
    }

    #[test]
    fn mechanism_boundaries() {
        let d = Declares::default();
        assert_eq!(mechanism(99_999, 0, &d).0, "exempt");
        assert_eq!(mechanism(100_000, 0, &d).0, "standard_contract");
        assert_eq!(mechanism(999_999, 0, &d).0, "standard_contract");
        assert_eq!(mechanism(1_000_000, 0, &d).0, "security_assessment");
        assert_eq!(mechanism(10, 1, &d).0, "standard_contract");
        assert_eq!(mechanism(50_000, 9_999, &d).0, "standard_contract");
        assert_eq!(mechanism(50_000, 10_000, &d).0, "security_assessment");
        assert_eq!(
            mechanism(
                0,
                0,
                &Declares {
                    ciio: true,
                    important_data: false
                }
            )
            .0,
            "security_assessment"
        );
        assert_eq!(
            mechanism(
                0,
                0,
                &Declares {
                    ciio: false,
                    important_data: true
                }
            )
            .0,
            "security_assessment"
        );
        assert!(rank("exempt") < rank("standard_contract"));
        assert!(rank("standard_contract") < rank("security_assessment"));
    }
}
