//! Re-identification risk of the exported rows: k-anonymity over declared
//! quasi-identifier columns (the size of the smallest equivalence class, the share of
//! records in small classes, class sizes) and l-diversity of a declared sensitive column
//! (the fewest distinct sensitive values in a class).
//!
//! A streaming group-by in bounded memory: each exported row becomes a 24-byte record
//! (128-bit hash of its quasi-identifier values, 64-bit hash of its sensitive value).
//! Records are buffered; past `BUFFER_RECORDS` they are spilled to 64 unlinked temporary
//! files partitioned by the class hash, so every class lies in one partition, and at the
//! end each partition is sorted and counted on its own (memory: one partition).
//! Hand-written rather than polars: a sort of fixed-size records is all it needs, and it
//! keeps memory bounded whatever the number of classes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::schema::key_text;

/// Records kept in memory before spilling (24 bytes each on disk, 32 in memory).
const BUFFER_RECORDS: usize = 2 << 20;
const PARTS: usize = 64;
/// The thresholds `records_in_classes_below` reports (plus `[gate] min_k`).
const KS: [u64; 3] = [2, 5, 10];
/// Class-size buckets of the histogram: (lowest size, label).
const BUCKETS: [(u64, &str); 8] = [
    (1, "1"),
    (2, "2"),
    (3, "3-4"),
    (5, "5-9"),
    (10, "10-19"),
    (20, "20-49"),
    (50, "50-99"),
    (100, "100+"),
];

/// One bucket of class sizes.
#[derive(Debug, Clone, Serialize)]
pub struct SizeBucket {
    pub size: String,
    pub classes: u64,
    pub records: u64,
}

/// What the report says about re-identification risk.
#[derive(Debug, Clone, Serialize)]
pub struct KAnonymity {
    pub quasi_identifiers: Vec<String>,
    pub records: u64,
    pub classes: u64,
    /// The smallest equivalence class (None: no rows exported).
    pub k: Option<u64>,
    /// Records in classes smaller than each k.
    pub records_in_classes_below: BTreeMap<String, u64>,
    pub class_sizes: Vec<SizeBucket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive_attribute: Option<String>,
    /// The fewest distinct values of the sensitive column within one class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l: Option<u64>,
    /// Records in classes whose sensitive column takes a single value (l = 1): their
    /// sensitive value is disclosed by the quasi-identifiers alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records_in_classes_with_l_1: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_k: Option<u64>,
    /// Whether k ≥ min_k (or nothing was exported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    pub method: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    class: u128,
    sensitive: u64,
}

impl Rec {
    /// 24 bytes: the class hash, then the sensitive value's (spill files, a shard's tally).
    fn to_bytes(self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(&self.class.to_le_bytes());
        b[16..].copy_from_slice(&self.sensitive.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Rec {
        Rec {
            class: u128::from_le_bytes(b[..16].try_into().expect("16 bytes")),
            sensitive: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
        }
    }
}

/// Counts equivalence classes of the rows handed to `add`, in input order.
pub struct ClassTally {
    qi: Vec<(usize, String)>,
    sensitive: Option<(usize, String)>,
    min_k: Option<u64>,
    buf: Vec<Rec>,
    spill: Option<Vec<BufWriter<File>>>,
    records: u64,
    enc: Vec<u8>,
    /// The export is JSONL, which writes NaN and ±infinity as null: count them so.
    nonfinite_null: bool,
}

/// Appends one value of a column, as text, to the class encoding (null distinct from
/// every string; length-prefixed so values cannot run together).
fn value(a: &arrow::array::StringArray, row: usize) -> Option<&str> {
    (!a.is_null(row)).then(|| a.value(row))
}

/// `value`, with NaN and ±infinity (as Arrow writes floats) as null when `nonfinite_null`.
fn finite(a: &arrow::array::StringArray, row: usize, nonfinite_null: bool) -> Option<&str> {
    value(a, row).filter(|v| !(nonfinite_null && matches!(*v, "NaN" | "inf" | "-inf")))
}

fn encode(v: Option<&str>, out: &mut Vec<u8>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
}

impl ClassTally {
    /// `quasi_identifiers` and `sensitive` name columns of `schema` (the output's).
    pub fn new(
        schema: &Schema,
        quasi_identifiers: &[String],
        sensitive: Option<&str>,
        min_k: Option<u64>,
    ) -> std::result::Result<Self, String> {
        let col = |c: &str, what: &str| {
            let i = schema
                .index_of(c)
                .map_err(|_| format!("[assessment] {what}: no column `{c}` in the output"))?;
            let dt = schema.field(i).data_type();
            if !arrow::compute::can_cast_types(dt, &DataType::Utf8) {
                return Err(format!(
                    "[assessment] {what}: `{c}` is a {} column; name scalar columns (text, numbers, dates)",
                    crate::io::schema::type_name(dt)
                ));
            }
            Ok((i, c.to_string()))
        };
        if quasi_identifiers.is_empty() {
            return Err("[assessment] quasi_identifiers: name at least one column".into());
        }
        Ok(ClassTally {
            qi: quasi_identifiers
                .iter()
                .map(|c| col(c, "quasi_identifiers"))
                .collect::<std::result::Result<_, _>>()?,
            sensitive: sensitive
                .map(|c| col(c, "sensitive_attribute"))
                .transpose()?,
            min_k,
            buf: Vec::new(),
            spill: None,
            records: 0,
            enc: Vec::new(),
            nonfinite_null: false,
        })
    }

    /// For a JSONL export: NaN and ±infinity are written as null, so they are one class
    /// with null, as a reader of the export (and `verify`) sees them.
    pub fn for_jsonl(mut self) -> Self {
        self.nonfinite_null = true;
        self
    }

    /// Adds the rows of an exported batch (values as text, by Arrow's cast).
    pub fn add(&mut self, data: &RecordBatch) -> Result<()> {
        let cols: Vec<_> = self
            .qi
            .iter()
            .map(|(i, _)| key_text(data.column(*i)))
            .collect::<Result<_>>()?;
        let cols: Vec<_> = cols.iter().map(|a| a.as_string::<i32>()).collect();
        let sens = self
            .sensitive
            .as_ref()
            .map(|(i, _)| key_text(data.column(*i)))
            .transpose()?;
        let sens = sens.as_ref().map(|a| a.as_string::<i32>());
        let float = |i: usize| {
            self.nonfinite_null
                && matches!(
                    data.schema().field(i).data_type(),
                    DataType::Float16 | DataType::Float32 | DataType::Float64
                )
        };
        let qi_float: Vec<bool> = self.qi.iter().map(|(i, _)| float(*i)).collect();
        let sens_float = self.sensitive.as_ref().is_some_and(|(i, _)| float(*i));
        let mut qi = Vec::with_capacity(cols.len());
        for row in 0..data.num_rows() {
            qi.clear();
            qi.extend(cols.iter().zip(&qi_float).map(|(c, f)| finite(c, row, *f)));
            self.push(&qi, sens.map(|s| finite(s, row, sens_float)))?;
        }
        Ok(())
    }

    /// The quasi-identifier and sensitive columns, by name, in order.
    pub fn columns(&self) -> (Vec<String>, Option<String>) {
        (
            self.qi.iter().map(|(_, n)| n.clone()).collect(),
            self.sensitive.as_ref().map(|(_, n)| n.clone()),
        )
    }

    /// Adds one row given as text: its quasi-identifier values in the order of
    /// `columns()`, and its sensitive value (None without a sensitive attribute).
    pub fn push(&mut self, qi: &[Option<&str>], sensitive: Option<Option<&str>>) -> Result<()> {
        self.enc.clear();
        for v in qi {
            encode(*v, &mut self.enc);
        }
        let class = xxhash_rust::xxh3::xxh3_128(&self.enc);
        let sensitive = match sensitive {
            Some(v) => {
                self.enc.clear();
                encode(v, &mut self.enc);
                xxhash_rust::xxh3::xxh3_64(&self.enc)
            }
            None => 0,
        };
        self.push_rec(Rec { class, sensitive })
    }

    fn push_rec(&mut self, r: Rec) -> Result<()> {
        self.buf.push(r);
        self.records += 1;
        if self.buf.len() >= BUFFER_RECORDS {
            self.flush()?;
        }
        Ok(())
    }

    /// Adds the records of another tally over the same columns (a shard's): classes
    /// are counted over both, exactly as if one tally had seen every row. Memory stays
    /// bounded: the other's spilled partitions are read one at a time.
    pub fn merge(&mut self, mut other: ClassTally) -> Result<()> {
        if self.columns() != other.columns() || self.nonfinite_null != other.nonfinite_null {
            return Err(Error::Internal(
                "k-anonymity tallies over different columns cannot merge".into(),
            ));
        }
        for r in std::mem::take(&mut other.buf) {
            self.push_rec(r)?;
        }
        for w in other.spill.take().unwrap_or_default() {
            for r in read_spill(w)? {
                self.push_rec(r)?;
            }
        }
        Ok(())
    }

    /// Writes every record of this tally (a shard's) to `path`, 24 bytes each (class,
    /// sensitive value's hash; keyless hashes of values, so the file stays at home with
    /// the work directory): what `load` adds to the home step's tally.
    pub fn save(mut self, path: &std::path::Path) -> Result<u64> {
        let f = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        let mut w = BufWriter::with_capacity(64 << 10, f);
        let mut put = |r: &Rec| {
            w.write_all(&r.to_bytes())
                .map_err(|e| Error::io("cannot write", path, e))
        };
        for r in &self.buf {
            put(r)?;
        }
        for part in self.spill.take().unwrap_or_default() {
            for r in read_spill(part)? {
                put(&r)?;
            }
        }
        w.flush().map_err(|e| Error::io("cannot write", path, e))?;
        Ok(self.records)
    }

    /// Adds the records `save` wrote (another shard's, over the same columns).
    pub fn load(&mut self, path: &std::path::Path) -> Result<()> {
        let f = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
        let mut r = BufReader::with_capacity(64 << 10, f);
        let mut rec = [0u8; 24];
        loop {
            match r.read_exact(&mut rec) {
                Ok(()) => self.push_rec(Rec::from_bytes(&rec))?,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(Error::io("cannot read", path, e)),
            }
        }
    }

    /// Moves the buffer to the partition files.
    fn flush(&mut self) -> Result<()> {
        let tmp = std::env::temp_dir();
        let spill = match &mut self.spill {
            Some(s) => s,
            None => self.spill.insert(
                (0..PARTS)
                    .map(|_| {
                        tempfile::tempfile()
                            .map(|f| BufWriter::with_capacity(64 << 10, f))
                            .map_err(|e| Error::io("cannot create a spill file in", &tmp, e))
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        for r in self.buf.drain(..) {
            let w = &mut spill[(r.class >> 122) as usize];
            w.write_all(&r.to_bytes())
                .map_err(|e| Error::io("cannot write a spill file in", &tmp, e))?;
        }
        Ok(())
    }

    /// Sorts and counts every class.
    pub fn finish(mut self) -> Result<KAnonymity> {
        let mut acc = Acc::default();
        match self.spill.take() {
            None => acc.count(&mut self.buf, self.sensitive.is_some()),
            Some(files) => {
                self.spill = Some(files);
                self.flush()?;
                for w in self.spill.take().unwrap_or_default() {
                    let mut recs = read_spill(w)?;
                    acc.count(&mut recs, self.sensitive.is_some());
                }
            }
        }
        let mut ks: Vec<u64> = KS.to_vec();
        if let Some(m) = self.min_k {
            if !ks.contains(&m) {
                ks.push(m);
                ks.sort_unstable();
            }
        }
        let below = ks
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    acc.sizes
                        .range(..*k)
                        .map(|(size, classes)| size * classes)
                        .sum(),
                )
            })
            .collect();
        let class_sizes = BUCKETS
            .iter()
            .enumerate()
            .map(|(i, (lo, label))| {
                let hi = BUCKETS.get(i + 1).map_or(u64::MAX, |b| b.0);
                let (mut classes, mut records) = (0, 0);
                for (size, n) in acc.sizes.range(*lo..hi) {
                    classes += n;
                    records += size * n;
                }
                SizeBucket {
                    size: label.to_string(),
                    classes,
                    records,
                }
            })
            .collect();
        let k = acc.sizes.keys().next().copied();
        Ok(KAnonymity {
            quasi_identifiers: self.qi.iter().map(|(_, n)| n.clone()).collect(),
            records: self.records,
            classes: acc.sizes.values().sum(),
            k,
            records_in_classes_below: below,
            class_sizes,
            sensitive_attribute: self.sensitive.as_ref().map(|(_, n)| n.clone()),
            l: self.sensitive.as_ref().and(acc.min_l),
            records_in_classes_with_l_1: self.sensitive.as_ref().map(|_| acc.l1_records),
            min_k: self.min_k,
            passed: self
                .min_k
                .map(|m| k.is_none_or(|k| k >= m)),
            method: "equivalence classes of the exported rows by the exact values of the quasi-identifier columns (as text, null a value of its own), counted through 128-bit hashes; l = distinct values of the sensitive column per class (64-bit hashes)",
        })
    }
}

#[derive(Default)]
struct Acc {
    /// Class size → number of classes.
    sizes: BTreeMap<u64, u64>,
    min_l: Option<u64>,
    l1_records: u64,
}

impl Acc {
    fn count(&mut self, recs: &mut [Rec], with_sensitive: bool) {
        recs.sort_unstable();
        let mut i = 0;
        while i < recs.len() {
            let class = recs[i].class;
            let (mut j, mut l) = (i, 0u64);
            while j < recs.len() && recs[j].class == class {
                if j == i || recs[j].sensitive != recs[j - 1].sensitive {
                    l += 1;
                }
                j += 1;
            }
            let size = (j - i) as u64;
            *self.sizes.entry(size).or_default() += 1;
            if with_sensitive {
                self.min_l = Some(self.min_l.map_or(l, |m| m.min(l)));
                if l == 1 {
                    self.l1_records += size;
                }
            }
            i = j;
        }
    }
}

/// The records of one spilled partition.
fn read_spill(w: BufWriter<File>) -> Result<Vec<Rec>> {
    let tmp = std::env::temp_dir();
    let io = |e| Error::io("cannot read back a spill file in", &tmp, e);
    let mut f = w.into_inner().map_err(|e| io(e.into_error()))?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut bytes = Vec::new();
    BufReader::new(f).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes.chunks_exact(24).map(Rec::from_bytes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::Field;
    use std::sync::Arc;

    fn table(rows: &[(&str, i64, Option<&str>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("province", DataType::Utf8, true),
            Field::new("age", DataType::Int64, true),
            Field::new("diagnosis", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| Some(r.0)).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    /// Classes of known sizes: (广东, 30) × 3, (北京, 40) × 2, (上海, 50) × 1.
    #[test]
    fn known_classes() {
        let b = table(&[
            ("广东", 30, Some("flu")),
            ("北京", 40, Some("flu")),
            ("广东", 30, Some("cold")),
            ("上海", 50, Some("asthma")),
            ("广东", 30, Some("flu")),
            ("北京", 40, Some("flu")),
        ]);
        let qi = vec!["province".to_string(), "age".to_string()];
        let mut t = ClassTally::new(&b.schema(), &qi, Some("diagnosis"), Some(2)).unwrap();
        // Split over two batches: classes span batches.
        t.add(&b.slice(0, 3)).unwrap();
        t.add(&b.slice(3, 3)).unwrap();
        let k = t.finish().unwrap();
        assert_eq!(k.records, 6);
        assert_eq!(k.classes, 3);
        assert_eq!(k.k, Some(1));
        assert_eq!(k.records_in_classes_below["2"], 1);
        assert_eq!(k.records_in_classes_below["5"], 6);
        assert_eq!(k.l, Some(1));
        // 北京 (2 records, all flu) and 上海 (1 record) have one diagnosis each.
        assert_eq!(k.records_in_classes_with_l_1, Some(3));
        assert_eq!(k.passed, Some(false));
        let sizes: Vec<(String, u64, u64)> = k
            .class_sizes
            .iter()
            .map(|b| (b.size.clone(), b.classes, b.records))
            .collect();
        assert_eq!(sizes[0], ("1".into(), 1, 1));
        assert_eq!(sizes[1], ("2".into(), 1, 2));
        assert_eq!(sizes[2], ("3-4".into(), 1, 3));
    }

    /// Shard tallies merged are the tally of all rows, spilled or not.
    #[test]
    fn shard_tallies_merge_exactly() {
        let rows: Vec<(&str, i64, Option<&str>)> = (0..3000)
            .map(|i| {
                let p = ["广东", "北京", "上海", "浙江"][i % 4];
                let d = [Some("flu"), Some("cold"), None][i % 3];
                (p, (i % 7) as i64, d)
            })
            .collect();
        let batch = table(&rows);
        let qi = vec!["province".to_string(), "age".to_string()];
        let new = || ClassTally::new(&batch.schema(), &qi, Some("diagnosis"), Some(5)).unwrap();
        let mut whole = new();
        whole.add(&batch).unwrap();
        let whole = serde_json::to_value(whole.finish().unwrap()).unwrap();
        for cut in [0, 1, 1234, 3000] {
            let (mut a, mut b) = (new(), new());
            a.add(&batch.slice(0, cut)).unwrap();
            b.add(&batch.slice(cut, 3000 - cut)).unwrap();
            // One side spilled to its partition files, as a large shard's would be.
            b.flush().unwrap();
            a.merge(b).unwrap();
            let merged = serde_json::to_value(a.finish().unwrap()).unwrap();
            assert_eq!(merged, whole, "cut at {cut}");
        }
        let other = ClassTally::new(&batch.schema(), &qi[..1], None, None).unwrap();
        assert!(new().merge(other).is_err());
    }

    /// The spilled path gives the same answer as the in-memory one.
    #[test]
    fn spilled_equals_in_memory() {
        let rows: Vec<(String, i64)> = (0..50_000)
            .map(|i| (format!("p{}", i % 97), (i % 13) as i64))
            .collect();
        let batch = {
            let schema = Arc::new(Schema::new(vec![
                Field::new("province", DataType::Utf8, true),
                Field::new("age", DataType::Int64, true),
            ]));
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(
                        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap()
        };
        let qi = vec!["province".to_string(), "age".to_string()];
        let mut a = ClassTally::new(&batch.schema(), &qi, None, None).unwrap();
        a.add(&batch).unwrap();
        let a = a.finish().unwrap();
        let mut b = ClassTally::new(&batch.schema(), &qi, None, None).unwrap();
        for i in 0..5 {
            b.add(&batch.slice(i * 10_000, 10_000)).unwrap();
            b.flush().unwrap();
        }
        let b = b.finish().unwrap();
        // 97 × 13 = 1261 classes (coprime), of 39 or 40 records.
        assert_eq!(a.classes, 1261);
        assert_eq!(a.k, Some(39));
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }

    /// JSONL writes NaN and ±infinity as null: for a JSONL export they are one class.
    #[test]
    fn non_finite_floats_are_null_in_jsonl() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "score",
            DataType::Float64,
            true,
        )]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow::array::Float64Array::from(vec![
                Some(f64::NAN),
                None,
                Some(f64::INFINITY),
                Some(1.5),
            ]))],
        )
        .unwrap();
        let qi = vec!["score".to_string()];
        let count = |jsonl: bool| {
            let mut t = ClassTally::new(&schema, &qi, None, None).unwrap();
            if jsonl {
                t = t.for_jsonl();
            }
            t.add(&b).unwrap();
            t.finish().unwrap().classes
        };
        assert_eq!(count(false), 4);
        assert_eq!(count(true), 2);
    }

    #[test]
    fn nested_columns_are_refused() {
        let schema = Schema::new(vec![Field::new(
            "address",
            DataType::Struct(vec![Field::new("city", DataType::Utf8, true)].into()),
            true,
        )]);
        let e = ClassTally::new(&schema, &["address".into()], None, None)
            .err()
            .unwrap();
        assert!(e.contains("scalar columns"), "{e}");
    }

    #[test]
    fn unknown_column_is_named() {
        let b = table(&[("广东", 30, None)]);
        let e = ClassTally::new(&b.schema(), &["postcode".into()], None, None)
            .err()
            .unwrap();
        assert!(e.contains("postcode"), "{e}");
    }
}
