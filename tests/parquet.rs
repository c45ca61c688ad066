//! Parquet in and out: values survive round-trips, a truncated file or a corrupt row group
//! is quarantined with its location, a file with other columns is quarantined whole.

mod common;
use common::*;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Int64Type, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

fn sample_batch(offset: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (0..n as i64).map(|i| i + offset).collect();
    let names: Vec<Option<String>> = (0..n)
        .map(|i| (i % 7 != 3).then(|| format!("张伟{i}\u{3000}ｘ")))
        .collect();
    let amounts: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 5 != 0).then_some(i as f64 * 0.1 + 0.01))
        .collect();
    let ts = TimestampMillisecondArray::from(
        (0..n as i64)
            .map(|i| 1_767_225_600_000 + i)
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let tags = ListArray::from_iter_primitive::<Int64Type, _, _>(
        (0..n).map(|i| (i % 3 != 0).then(|| vec![Some(i as i64), None])),
    );
    let meta_fields = Fields::from(vec![
        Field::new("source", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ]);
    let meta = StructArray::new(
        meta_fields.clone(),
        vec![
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| Some(format!("s{i}"))),
            )) as ArrayRef,
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| Some(i as f64 / 3.0)),
            )),
        ],
        None,
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new("meta", DataType::Struct(meta_fields), true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(ts),
            Arc::new(tags),
            Arc::new(meta),
        ],
    )
    .unwrap()
}

fn write_parquet(path: &Path, batches: &[RecordBatch], row_group: usize) {
    let f = std::fs::File::create(path).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let mut w = ArrowWriter::try_new(f, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for (name, _) in data_files(dir) {
        let f = std::fs::File::open(dir.join("data").join(name)).unwrap();
        for b in ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
        {
            out.push(b.unwrap());
        }
    }
    out
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

#[test]
fn parquet_roundtrip_keeps_every_value() {
    let t = tempfile::tempdir().unwrap();
    let input = vec![sample_batch(0, 3000), sample_batch(3000, 1234)];
    write_parquet(&t.path().join("in.parquet"), &input, 1000);
    pipeline(t.path(), "in.parquet", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let got = concat(&read_parquet_dir(&t.path().join("out")));
    let want = concat(&input);
    assert_eq!(got.num_rows(), want.num_rows());
    for (a, b) in got.columns().iter().zip(want.columns()) {
        assert_eq!(a.to_data(), b.to_data());
    }
    assert_eq!(code(&run_in(t.path(), &["verify", "out"])), 0);
}

#[test]
fn parquet_to_jsonl_and_back_keeps_values() {
    let t = tempfile::tempdir().unwrap();
    // JSON has no timestamp type: keep the columns JSON can carry exactly.
    let b = sample_batch(0, 500);
    let b = b.project(&[0, 1, 2, 4, 5]).unwrap();
    write_parquet(&t.path().join("in.parquet"), std::slice::from_ref(&b), 200);
    pipeline(t.path(), "in.parquet", "mid", "format = \"jsonl\"\n");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let first: Vec<serde_json::Value> = read_lines(&t.path().join("mid/data/part-00000.jsonl"));
    assert_eq!(first.len(), 500);
    assert_eq!(first[3]["name"], serde_json::Value::Null);
    assert_eq!(first[1]["amount"], 0.11);

    let decl = "schema = [{name=\"id\",type=\"int64\"},{name=\"name\",type=\"string\"},{name=\"amount\",type=\"float64\"},{name=\"tags\",type=\"list<int64>\"},{name=\"meta\",type=\"struct<source: string, score: float64>\"}]\n";
    std::fs::write(
        t.path().join("p2.toml"),
        format!("[input]\npath = \"mid/data/part-00000.jsonl\"\n{decl}[output]\npath = \"back\"\nformat = \"parquet\"\n"),
    )
    .unwrap();
    run_ok(t.path(), &["run", "p2.toml", "--quiet"]);
    let got = concat(&read_parquet_dir(&t.path().join("back")));
    for (i, (a, w)) in got.columns().iter().zip(b.columns()).enumerate() {
        // Nullability of the declared schema differs (JSON fields are nullable); values do not.
        let a = arrow::compute::cast(a, w.data_type()).unwrap();
        assert_eq!(a.len(), w.len());
        for r in 0..a.len() {
            assert_eq!(
                arrow::util::display::array_value_to_string(&a, r).unwrap(),
                arrow::util::display::array_value_to_string(w, r).unwrap(),
                "column {i} row {r}"
            );
        }
    }
}

#[test]
fn truncated_parquet_file_is_quarantined_whole() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("in")).unwrap();
    write_parquet(&t.path().join("in/a.parquet"), &[sample_batch(0, 100)], 50);
    write_parquet(&t.path().join("in/b.parquet"), &[sample_batch(0, 100)], 50);
    let b = std::fs::read(t.path().join("in/b.parquet")).unwrap();
    std::fs::write(t.path().join("in/b.parquet"), &b[..b.len() / 2]).unwrap();
    pipeline(t.path(), "in", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let q = read_lines(&t.path().join("out/quarantine.jsonl"));
    assert_eq!(q.len(), 1);
    assert!(q[0]["file"].as_str().unwrap().ends_with("b.parquet"));
    assert_eq!(q[0]["reason"], "unreadable_file");
    assert_eq!(q[0]["whole_file"], true);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["out"], 100);
    assert_eq!(
        code(&run_in(
            t.path(),
            &["run", "p.toml", "--strict", "--overwrite"]
        )),
        65
    );
}

#[test]
fn corrupt_row_group_is_quarantined_with_its_rows() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("in.parquet");
    write_parquet(&path, &[sample_batch(0, 300)], 100);
    // Overwrite the start of row group 1's first column chunk (a page header) with junk.
    let meta = {
        let f = std::fs::File::open(&path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .metadata()
            .clone()
    };
    let (start, _) = meta.row_group(1).column(0).byte_range();
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[start as usize..start as usize + 24] {
        *b = 0xFF;
    }
    std::fs::write(&path, bytes).unwrap();
    pipeline(t.path(), "in.parquet", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet", "--run-id", "rg"]);
    let q = read_lines(&t.path().join("out/quarantine.jsonl"));
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["reason"], "corrupt_row_group");
    assert_eq!(q[0]["row"], 101);
    assert_eq!(q[0]["last_row"], 200);
    assert_eq!(q[0]["rows"], 100);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["in"], 300);
    assert_eq!(r["rows"]["out"], 200);
    assert_eq!(r["rows"]["quarantined"], 100);
    assert!(t
        .path()
        .join(".datacustoms/quarantine/rg/records.jsonl")
        .exists());
}

/// One corrupt page in the middle of a row group loses about that page's rows, not the
/// group's: decoding resumes after it through the page index.
#[test]
fn a_corrupt_page_loses_its_rows_not_its_row_group() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("in.parquet");
    let n = 2000;
    {
        let f = std::fs::File::create(&path).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(n))
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .build();
        let b = sample_batch(0, n);
        let mut w = ArrowWriter::try_new(f, b.schema(), Some(props)).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    // Garble the compressed bytes of one page of the name column, in the middle.
    let meta = {
        let f = std::fs::File::open(&path).unwrap();
        let opts = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
        ParquetRecordBatchReaderBuilder::try_new_with_options(f, opts)
            .unwrap()
            .metadata()
            .clone()
    };
    let index = meta.page_index_for_row_group(0);
    let pages = index.offset_index(1).unwrap().page_locations().clone();
    assert!(pages.len() >= 10, "{} pages", pages.len());
    let bad = &pages[pages.len() / 2];
    let (first_bad, next) = (
        bad.first_row_index as u64,
        pages[pages.len() / 2 + 1].first_row_index as u64,
    );
    let end = (bad.offset + bad.compressed_page_size as i64) as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[end - 32..end] {
        *b = 0xFF;
    }
    std::fs::write(&path, bytes).unwrap();
    pipeline(t.path(), "in.parquet", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let q = read_lines(&t.path().join("out/quarantine.jsonl"));
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["reason"], "corrupt_row_group");
    let lost = q[0]["rows"].as_u64().unwrap();
    // The lost range covers the bad page and stays small next to the group.
    assert!(q[0]["row"].as_u64().unwrap() <= first_bad + 1, "{q:?}");
    assert!(q[0]["last_row"].as_u64().unwrap() >= next, "{q:?}");
    assert!(lost < (n as u64) / 4, "{lost} rows lost of {n}: {q:?}");
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(r["rows"]["in"], n);
    assert_eq!(r["rows"]["out"].as_u64().unwrap() + lost, n as u64);
}

#[test]
fn a_file_with_other_columns_is_quarantined_whole() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("in")).unwrap();
    write_parquet(&t.path().join("in/a.parquet"), &[sample_batch(0, 10)], 10);
    let other = sample_batch(0, 7).project(&[0, 1]).unwrap();
    write_parquet(&t.path().join("in/b.parquet"), &[other], 10);
    pipeline(t.path(), "in/*.parquet", "out", "");
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let q = read_lines(&t.path().join("out/quarantine.jsonl"));
    assert_eq!(q[0]["reason"], "schema_mismatch");
    assert_eq!(q[0]["rows"], 7);
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(
        (r["rows"]["in"].as_u64(), r["rows"]["out"].as_u64()),
        (Some(17), Some(10))
    );
}

#[test]
fn normalize_and_project_work_on_parquet() {
    let t = tempfile::tempdir().unwrap();
    write_parquet(&t.path().join("in.parquet"), &[sample_batch(0, 50)], 50);
    pipeline(
        t.path(),
        "in.parquet",
        "out",
        "[[stages]]\ntype = \"normalize\"\nfields = [\"name\", \"meta.source\"]\n[[stages]]\ntype = \"project\"\ndrop = [\"ts\"]\nrename = { name = \"full_name\" }\n",
    );
    run_ok(t.path(), &["run", "p.toml", "--quiet"]);
    let got = concat(&read_parquet_dir(&t.path().join("out")));
    let names: Vec<&str> = got
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["id", "full_name", "amount", "tags", "meta"]);
    let col = got
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(col.value(0), "张伟0 x");
    let r = read_json(&t.path().join("out/report.json"));
    assert_eq!(
        r["stages"][0]["findings"]["fields"]["name"]["nfkc_changed"],
        43
    );
    assert_eq!(
        r["stages"][1]["findings"]["fields"]["ts"]["values_dropped"],
        50
    );
}
