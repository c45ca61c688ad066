//! CSV and TSV input. A file's first record names its fields; each later record becomes
//! one JSON object line (`{"name": "…", …}`) that the JSONL decoder turns into Arrow
//! rows, so CSV rows are located, typed, quarantined and reconciled exactly as JSONL
//! lines are.
//!
//! Values are strings unless the pipeline declares a schema: a column typed `int64`,
//! `float64` or `bool` takes a number or a boolean from each cell that parses as one
//! (any other cell is left a string, and its row is quarantined as a schema mismatch).
//! Inferring numbers from CSV text would turn phone and ID numbers into integers, out
//! of reach of the PII stages that read strings. An empty cell is null.
//!
//! Parsing (quotes, escaped quotes, newlines inside quotes) is the `csv` crate's.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use arrow::datatypes::{DataType, Schema};

/// The delimiter a file's name implies: a tab for `.tsv` (also compressed), else a comma.
pub fn delimiter(path: &Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    if stem.ends_with(".tsv") || stem.ends_with(".tab") {
        b'\t'
    } else {
        b','
    }
}

/// How a declared column's cells are written into the JSON line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cell {
    Text,
    Integer,
    Float,
    Bool,
}

/// One record of a CSV file.
pub enum Item {
    /// A record as a JSON object line, with the 1-based line its record starts on.
    Record { line: u64, json: Vec<u8> },
    /// A record that cannot be read as one: the wrong number of fields, or bytes that
    /// are not UTF-8. `detail` names the problem, never a value.
    Bad {
        line: u64,
        reason: &'static str,
        detail: String,
        raw: Vec<u8>,
    },
}

/// The records of a CSV file after its header.
pub struct Records<R: Read> {
    rdr: csv::Reader<R>,
    names: Vec<String>,
    cells: Vec<Cell>,
    record: csv::ByteRecord,
    done: bool,
}

impl<R: Read> Records<R> {
    /// Reads the header. `declared` (a declared schema) types the columns it names.
    pub fn new(
        reader: R,
        delimiter: u8,
        declared: Option<&Schema>,
    ) -> std::result::Result<Self, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .from_reader(reader);
        let header = rdr
            .byte_headers()
            .map_err(|e| format!("cannot read the header line: {e}"))?
            .clone();
        let mut names = Vec::with_capacity(header.len());
        for (i, h) in header.iter().enumerate() {
            let h = std::str::from_utf8(h)
                .map_err(|_| format!("header field {} is not UTF-8", i + 1))?;
            let h = h.trim_start_matches('\u{feff}').trim();
            if h.is_empty() {
                return Err(format!(
                    "header field {} is empty: every column needs a name",
                    i + 1
                ));
            }
            if names.iter().any(|n| n == h) {
                return Err(format!("header names the column `{h}` twice"));
            }
            names.push(h.to_string());
        }
        let types: HashMap<&str, &DataType> = declared
            .map(|s| {
                s.fields()
                    .iter()
                    .map(|f| (f.name().as_str(), f.data_type()))
                    .collect()
            })
            .unwrap_or_default();
        let cells = names
            .iter()
            .map(|n| match types.get(n.as_str()) {
                Some(t) if t.is_integer() => Cell::Integer,
                Some(t) if t.is_floating() => Cell::Float,
                Some(DataType::Boolean) => Cell::Bool,
                _ => Cell::Text,
            })
            .collect();
        Ok(Records {
            rdr,
            names,
            cells,
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    /// The column names, in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn to_json(&self) -> std::result::Result<Vec<u8>, usize> {
        let mut obj = serde_json::Map::with_capacity(self.names.len());
        for (i, raw) in self.record.iter().enumerate() {
            let text = std::str::from_utf8(raw).map_err(|_| i)?;
            let value = if text.is_empty() {
                serde_json::Value::Null
            } else {
                let t = text.trim();
                match self.cells[i] {
                    Cell::Integer => t
                        .parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| text.into()),
                    Cell::Float => t
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(serde_json::Value::Number)
                        .unwrap_or_else(|| text.into()),
                    Cell::Bool => match t.to_ascii_lowercase().as_str() {
                        "true" => true.into(),
                        "false" => false.into(),
                        _ => text.into(),
                    },
                    Cell::Text => text.into(),
                }
            };
            obj.insert(self.names[i].clone(), value);
        }
        Ok(serde_json::to_vec(&obj).expect("a JSON object serializes"))
    }
}

impl<R: Read> Iterator for Records<R> {
    type Item = std::result::Result<Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.rdr.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                let raw = || {
                    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
                    let _ = w.write_byte_record(&self.record);
                    w.into_inner().unwrap_or_default()
                };
                if self.record.len() != self.names.len() {
                    return Some(Ok(Item::Bad {
                        line,
                        reason: "wrong_field_count",
                        detail: format!(
                            "{} fields where the header has {}",
                            self.record.len(),
                            self.names.len()
                        ),
                        raw: raw(),
                    }));
                }
                Some(Ok(match self.to_json() {
                    Ok(json) => Item::Record { line, json },
                    Err(i) => Item::Bad {
                        line,
                        reason: "invalid_utf8",
                        detail: format!("field `{}` is not UTF-8", self.names[i]),
                        raw: raw(),
                    },
                }))
            }
            Err(e) => {
                // An I/O error or a broken stream ends the file.
                self.done = true;
                Some(Err(e.to_string()))
            }
        }
    }
}

/// The schema of a CSV file read without a declared schema: its header's names, each
/// a nullable string.
pub fn header_schema(names: &[String]) -> Schema {
    Schema::new(
        names
            .iter()
            .map(|n| arrow::datatypes::Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    fn items(text: &str, declared: Option<&Schema>) -> Vec<String> {
        Records::new(text.as_bytes(), b',', declared)
            .unwrap()
            .map(|i| match i.unwrap() {
                Item::Record { line, json } => {
                    format!("{line} {}", String::from_utf8(json).unwrap())
                }
                Item::Bad { line, reason, .. } => format!("{line} BAD {reason}"),
            })
            .collect()
    }

    #[test]
    fn records_become_json_lines_with_their_line_numbers() {
        let csv = "name,phone,note\nAnn Lee,13812345678,\"two\nlines\"\nBo,,x\nshort\n";
        assert_eq!(
            items(csv, None),
            [
                r#"2 {"name":"Ann Lee","note":"two\nlines","phone":"13812345678"}"#,
                r#"4 {"name":"Bo","note":"x","phone":null}"#,
                "5 BAD wrong_field_count",
            ]
        );
    }

    #[test]
    fn declared_columns_take_numbers_and_booleans() {
        let s = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]);
        assert_eq!(
            items("n,x,ok\n7,2.5,true\nseven,1,FALSE\n", Some(&s)),
            [
                r#"2 {"n":7,"ok":true,"x":2.5}"#,
                r#"3 {"n":"seven","ok":false,"x":1.0}"#,
            ]
        );
    }

    #[test]
    fn headers_must_name_every_column_once() {
        assert!(Records::new("a,,c\n".as_bytes(), b',', None).is_err());
        assert!(Records::new("a,a\n".as_bytes(), b',', None).is_err());
        assert_eq!(delimiter(Path::new("x/t.TSV.gz")), b'\t');
    }
}
