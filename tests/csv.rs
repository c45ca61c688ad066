//! CSV and TSV input: records become rows with their line numbers, a record with the
//! wrong number of fields is quarantined at its line, PII in cells is de-identified,
//! columns are strings unless declared, and the export is Parquet.

mod common;
use common::*;

use std::path::Path;

use arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn read_export(dir: &Path) -> RecordBatch {
    let f = std::fs::File::open(dir.join("data/part-00000.parquet")).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = r.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn strings<'a>(b: &'a RecordBatch, name: &str) -> Vec<Option<&'a str>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

const PEOPLE: &str = "id,name,phone,note,amount\n\
1,Ann Lee,13812345678,\"call me at 13812345678, thanks\",12.5\n\
2,王伟,,\"多行\n备注\",7\n\
3,short\n\
4,Bo Chen,555-201-3344,ok,x\n";

#[test]
fn csv_rows_are_deidentified_and_exported_as_parquet() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("people.csv"), PEOPLE).unwrap();
    pipeline(
        t.path(),
        "people.csv",
        "out",
        "[[stages]]\ntype = \"deidentify\"\nfields = [\"note\", \"phone\"]\naction = \"tag\"\n",
    );
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = t.path().join("out");
    let b = read_export(&out);
    assert_eq!(b.num_rows(), 3);
    // Every column is a string without a declared schema: ids and amounts too.
    assert_eq!(strings(&b, "id"), [Some("1"), Some("2"), Some("4")]);
    assert_eq!(strings(&b, "amount"), [Some("12.5"), Some("7"), Some("x")]);
    assert_eq!(
        strings(&b, "phone"),
        [Some("<PHONE>"), None, Some("<PHONE>")]
    );
    let notes = strings(&b, "note");
    assert_eq!(notes[0], Some("call me at <PHONE>, thanks"));
    assert_eq!(notes[1], Some("多行\n备注"));
    // The short record is quarantined at the line it starts on (line 5: record 2
    // spans lines 3 and 4), with no value in the reason.
    let q = read_lines(&out.join("quarantine.jsonl"));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["line"], 5);
    assert_eq!(q[0]["reason"], "wrong_field_count");
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["rows"]["in"], 4);
    assert_eq!(report["rows"]["quarantined"], 1);
    let v = run_in(t.path(), &["verify", "out"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
}

#[test]
fn declared_csv_columns_are_typed_and_bad_cells_quarantined() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("people.tsv"), PEOPLE.replace(',', "\t")).unwrap();
    std::fs::write(
        t.path().join("p.toml"),
        "name = \"t\"\n[input]\npath = \"people.tsv\"\n\
         schema = [{ name = \"id\", type = \"int64\" }, { name = \"name\", type = \"string\" }, \
         { name = \"phone\", type = \"string\" }, { name = \"note\", type = \"string\" }, \
         { name = \"amount\", type = \"float64\" }]\n[output]\npath = \"out\"\n",
    )
    .unwrap();
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = t.path().join("out");
    let b = read_export(&out);
    // Row 4's amount `x` is not a number: quarantined as a schema mismatch.
    assert_eq!(b.num_rows(), 2);
    let amounts = b
        .column_by_name("amount")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(amounts.values(), &[12.5, 7.0]);
    let q = read_lines(&out.join("quarantine.jsonl"));
    let reasons: Vec<&str> = q.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"wrong_field_count"), "{reasons:?}");
    assert_eq!(q.len(), 2, "{q:?}");
}

#[test]
fn a_csv_export_format_is_refused() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("people.csv"), PEOPLE).unwrap();
    pipeline(t.path(), "people.csv", "out", "");
    let p = std::fs::read_to_string(t.path().join("p.toml"))
        .unwrap()
        .replace("[output]\n", "[output]\nformat = \"csv\"\n");
    std::fs::write(t.path().join("p.toml"), p).unwrap();
    let o = run_in(t.path(), &["run", "p.toml"]);
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(stderr(&o).contains("jsonl or parquet"), "{}", stderr(&o));
}
