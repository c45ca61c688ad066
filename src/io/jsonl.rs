//! JSONL decoding into Arrow and encoding back.
//!
//! Written by hand rather than with `arrow-json` because a customs checkpoint needs two
//! things that reader does not give: a per-line verdict (a bad line is quarantined with its
//! line number while its neighbours go on; `arrow-json` fails the whole batch), and the
//! difference between an explicit `null` and an absent key (kept in `AbsentKeys`).
//! Invariants: a record is either appended whole or rejected whole (it is checked against
//! the schema before anything is appended); no error message contains a value.

use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float32Array, Float64Array,
    Float64Builder, GenericListArray, GenericStringArray, Int64Array, Int64Builder, ListArray,
    NullArray, OffsetSizeTrait, RecordBatch, RecordBatchOptions, StringBuilder, StringViewArray,
    StructArray, UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

use crate::engine::batch::{json_pointer_escape, AbsentKeys};
use crate::error::{Error, Result};
use crate::io::quarantine::{Location, Rejection};
use crate::io::schema::type_name;

/// Lines read from one JSONL file, not yet parsed. Blank lines are already left out.
pub struct LinesChunk {
    pub file: u32,
    pub buf: Vec<u8>,
    /// Line `i` is `buf[ends[i-1]..ends[i]]` (without its line terminator).
    pub ends: Vec<usize>,
    /// 1-based line number of each line in its file.
    pub line_numbers: Vec<u64>,
}

impl Drop for LinesChunk {
    /// Gives the line buffer back for a next chunk (`SPARE`).
    fn drop(&mut self) {
        let cap = self.buf.capacity();
        if cap == 0 || cap > SPARE_MAX {
            return;
        }
        if let Ok(mut spare) = SPARE.lock() {
            if spare.len() < SPARES {
                let mut buf = std::mem::take(&mut self.buf);
                buf.clear();
                spare.push(buf);
            }
        }
    }
}

/// Line buffers of decoded chunks, kept for the reader's next chunks. A chunk's buffer
/// grows to a few MiB a line at a time; freed once its chunk is decoded and taken
/// again for the next, it came back as new pages, each zeroed by the kernel (and each a
/// host fault on a virtual machine that returns freed memory), plus a copy per doubling:
/// a third of the page faults of a 1 GiB normalize + dedup run. At most `SPARES` are
/// kept, each at most `SPARE_MAX` bytes (a chunk of very long lines is let go).
static SPARE: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const SPARES: usize = 2;
const SPARE_MAX: usize = 32 << 20;

impl LinesChunk {
    pub fn new(file: u32) -> Self {
        let buf = SPARE
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default();
        LinesChunk {
            file,
            buf,
            ends: Vec::new(),
            line_numbers: Vec::new(),
        }
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    pub fn push(&mut self, line: &[u8], number: u64) {
        self.buf.extend_from_slice(line);
        self.ends.push(self.buf.len());
        self.line_numbers.push(number);
    }
    pub fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

pub struct Decoded {
    pub data: RecordBatch,
    pub origins: Vec<u64>,
    pub absent: AbsentKeys,
    pub rejections: Vec<Rejection>,
}

/// Whether a schema can be decoded from JSON (and so whether `decode` may be used with it).
pub fn check_decodable(dt: &DataType) -> std::result::Result<(), String> {
    match dt {
        DataType::Null
        | DataType::Boolean
        | DataType::Int64
        | DataType::Float64
        | DataType::Utf8 => Ok(()),
        DataType::List(f) => check_decodable(f.data_type()),
        DataType::Struct(fs) => fs.iter().try_for_each(|f| check_decodable(f.data_type())),
        other => Err(format!("type {other} cannot be read from JSON")),
    }
}

/// Parses every line of a chunk; good records become one `RecordBatch`, the rest
/// rejections.
///
/// Fast path first: each record is parsed straight into the column builders with no
/// intermediate `Value`. A builder cannot take back half a record, so if any line of the
/// chunk fails there, the whole chunk is decoded again by `decode_checked`, which checks
/// each record before appending it and says precisely what is wrong. Bad lines are rare,
/// so clean chunks (nearly all) pay for one parse only.
pub fn decode(chunk: &LinesChunk, schema: &SchemaRef) -> Result<Decoded> {
    match decode_fast(chunk, schema)? {
        Some(d) => Ok(d),
        None => decode_checked(chunk, schema),
    }
}

fn decode_fast(chunk: &LinesChunk, schema: &SchemaRef) -> Result<Option<Decoded>> {
    let mut root = Col::new(&DataType::Struct(schema.fields().clone()));
    let mut origins = Vec::with_capacity(chunk.len());
    let mut absent = AbsentKeys::default();
    for i in 0..chunk.len() {
        // SIMD validation (simdutf8) at several times std's speed on Chinese text; a
        // bad line goes to the checked decoder, which says where it is.
        let Ok(text) = simdutf8::basic::from_utf8(chunk.line(i)) else {
            return Ok(None);
        };
        let mut missing = false;
        let mut de = serde_json::Deserializer::from_str(text);
        let seed = Into {
            col: &mut root,
            missing: &mut missing,
        };
        if serde::Deserializer::deserialize_map(&mut de, seed).is_err() || de.end().is_err() {
            return Ok(None);
        }
        if missing {
            let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
                return Ok(None);
            };
            let mut out = Vec::new();
            absent_pointers(schema.fields(), &obj, &mut String::new(), &mut out);
            absent.push(origins.len() as u32, out);
        }
        origins.push(chunk.line_numbers[i]);
    }
    let Col::Struct { children, .. } = root else {
        unreachable!("the root is a struct")
    };
    let columns: Vec<ArrayRef> = children.into_iter().map(Col::finish).collect();
    let data = RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(origins.len())),
    )?;
    Ok(Some(Decoded {
        data,
        origins,
        absent,
        rejections: Vec::new(),
    }))
}

/// The slow path: every record is checked against the schema before it is appended, so a
/// bad record is rejected whole, with a reason.
fn decode_checked(chunk: &LinesChunk, schema: &SchemaRef) -> Result<Decoded> {
    let mut cols: Vec<Col> = schema
        .fields()
        .iter()
        .map(|f| Col::new(f.data_type()))
        .collect();
    let mut origins = Vec::with_capacity(chunk.len());
    let mut absent = AbsentKeys::default();
    let mut rejections = Vec::new();

    for i in 0..chunk.len() {
        let raw = chunk.line(i);
        let number = chunk.line_numbers[i];
        let reject = |reason: &'static str, detail: String| {
            Rejection::new(
                chunk.file,
                Location::Line(number),
                1,
                reason,
                detail,
                raw.to_vec(),
            )
        };
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                rejections.push(reject(
                    "invalid_utf8",
                    format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1),
                ));
                continue;
            }
        };
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                rejections.push(reject(
                    "malformed_json",
                    format!("{} at column {}", syntax_message(&e), e.column()),
                ));
                continue;
            }
        };
        let Value::Object(obj) = value else {
            rejections.push(reject(
                "not_an_object",
                format!(
                    "a JSONL record must be an object, found {}",
                    value_kind(&value)
                ),
            ));
            continue;
        };
        if let Err(msg) = check_object(schema.fields(), &obj, &mut String::new()) {
            rejections.push(reject("schema_mismatch", msg));
            continue;
        }
        for (col, field) in cols.iter_mut().zip(schema.fields().iter()) {
            match obj.get(field.name()) {
                Some(v) => col.push(v),
                None => col.push_null(),
            }
        }
        let mut missing = Vec::new();
        absent_pointers(schema.fields(), &obj, &mut String::new(), &mut missing);
        absent.push(origins.len() as u32, missing);
        origins.push(number);
    }

    let columns: Vec<ArrayRef> = cols.into_iter().map(Col::finish).collect();
    let data = RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(origins.len())),
    )?;
    Ok(Decoded {
        data,
        origins,
        absent,
        rejections,
    })
}

/// serde_json's message without its "at line 1 column N" suffix (a line is one record).
fn syntax_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_object(
    fields: &Fields,
    obj: &serde_json::Map<String, Value>,
    path: &mut String,
) -> std::result::Result<(), String> {
    for (k, v) in obj {
        let len = path.len();
        path.push('/');
        path.push_str(&json_pointer_escape(k));
        match fields.iter().find(|f| f.name() == k) {
            None => return Err(format!("field {path} is not in the schema")),
            Some(f) => check_value(f.data_type(), v, path)?,
        }
        path.truncate(len);
    }
    Ok(())
}

/// Largest integer magnitude a float64 holds exactly.
const F64_EXACT: u64 = 1 << 53;

fn check_value(dt: &DataType, v: &Value, path: &mut String) -> std::result::Result<(), String> {
    let ok = match (dt, v) {
        (_, Value::Null) => true,
        (DataType::Boolean, Value::Bool(_)) => true,
        (DataType::Utf8, Value::String(_)) => true,
        (DataType::Int64, Value::Number(n)) => {
            if n.is_i64() {
                true
            } else if n.is_u64() {
                return Err(format!("field {path}: integer out of int64 range"));
            } else {
                false
            }
        }
        (DataType::Float64, Value::Number(n)) => {
            let exact = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= F64_EXACT,
                (None, Some(u)) => u <= F64_EXACT,
                _ => true,
            };
            if !exact {
                return Err(format!(
                    "field {path}: integer too large to hold exactly in float64"
                ));
            }
            true
        }
        (DataType::List(f), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                check_value(f.data_type(), item, path)?;
                path.truncate(len);
            }
            true
        }
        (DataType::Struct(fields), Value::Object(obj)) => {
            check_object(fields, obj, path)?;
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "field {path}: expected {}, found {}",
            type_name(dt),
            value_kind(v)
        ))
    }
}

/// The JSON pointers of the keys a record lacks, at every depth (fields of objects, also
/// inside lists), for `AbsentKeys`.
fn absent_pointers(
    fields: &Fields,
    obj: &serde_json::Map<String, Value>,
    prefix: &mut String,
    out: &mut Vec<String>,
) {
    for f in fields {
        let len = prefix.len();
        prefix.push('/');
        prefix.push_str(&json_pointer_escape(f.name()));
        match obj.get(f.name()) {
            None => out.push(prefix.clone()),
            Some(v) => absent_in_value(f.data_type(), v, prefix, out),
        }
        prefix.truncate(len);
    }
}

fn absent_in_value(dt: &DataType, v: &Value, prefix: &mut String, out: &mut Vec<String>) {
    match (dt, v) {
        (DataType::Struct(fs), Value::Object(o)) => absent_pointers(fs, o, prefix, out),
        (DataType::List(f), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = prefix.len();
                prefix.push('/');
                prefix.push_str(itoa::Buffer::new().format(i));
                absent_in_value(f.data_type(), item, prefix, out);
                prefix.truncate(len);
            }
        }
        _ => {}
    }
}

/// A column builder for the JSON-able Arrow types.
enum Col {
    Null(usize),
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    List {
        field: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        child: Box<Col>,
    },
    Struct {
        fields: Fields,
        children: Vec<Col>,
        nulls: NullBufferBuilder,
    },
}

impl Col {
    fn new(dt: &DataType) -> Col {
        match dt {
            DataType::Null => Col::Null(0),
            DataType::Boolean => Col::Bool(BooleanBuilder::new()),
            DataType::Int64 => Col::Int(Int64Builder::new()),
            DataType::Float64 => Col::Float(Float64Builder::new()),
            DataType::Utf8 => Col::Str(StringBuilder::new()),
            DataType::List(f) => Col::List {
                field: f.clone(),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
                child: Box::new(Col::new(f.data_type())),
            },
            DataType::Struct(fs) => Col::Struct {
                fields: fs.clone(),
                children: fs.iter().map(|f| Col::new(f.data_type())).collect(),
                nulls: NullBufferBuilder::new(0),
            },
            other => unreachable!("check_decodable rejects {other}"),
        }
    }

    fn push_null(&mut self) {
        match self {
            Col::Null(n) => *n += 1,
            Col::Bool(b) => b.append_null(),
            Col::Int(b) => b.append_null(),
            Col::Float(b) => b.append_null(),
            Col::Str(b) => b.append_null(),
            Col::List { offsets, nulls, .. } => {
                offsets.push(*offsets.last().expect("starts with 0"));
                nulls.append_null();
            }
            Col::Struct {
                children, nulls, ..
            } => {
                children.iter_mut().for_each(Col::push_null);
                nulls.append_null();
            }
        }
    }

    /// Appends a value already checked against this column's type.
    fn push(&mut self, v: &Value) {
        if v.is_null() {
            self.push_null();
            return;
        }
        match (self, v) {
            (Col::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Col::Int(b), Value::Number(n)) => b.append_value(n.as_i64().expect("checked")),
            (Col::Float(b), Value::Number(n)) => b.append_value(n.as_f64().expect("checked")),
            (Col::Str(b), Value::String(s)) => b.append_value(s),
            (
                Col::List {
                    offsets,
                    nulls,
                    child,
                    ..
                },
                Value::Array(items),
            ) => {
                items.iter().for_each(|item| child.push(item));
                let last = *offsets.last().expect("starts with 0");
                offsets.push(last + items.len() as i32);
                nulls.append_non_null();
            }
            (
                Col::Struct {
                    fields,
                    children,
                    nulls,
                },
                Value::Object(obj),
            ) => {
                for (f, c) in fields.iter().zip(children.iter_mut()) {
                    match obj.get(f.name()) {
                        Some(x) => c.push(x),
                        None => c.push_null(),
                    }
                }
                nulls.append_non_null();
            }
            _ => unreachable!("values are checked before they are pushed"),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Col::Null(n) => Arc::new(NullArray::new(n)),
            Col::Bool(mut b) => Arc::new(b.finish()),
            Col::Int(mut b) => Arc::new(b.finish()),
            Col::Float(mut b) => Arc::new(b.finish()),
            Col::Str(mut b) => Arc::new(b.finish()),
            Col::List {
                field,
                offsets,
                mut nulls,
                child,
            } => Arc::new(ListArray::new(
                field,
                OffsetBuffer::new(offsets.into()),
                child.finish(),
                nulls.finish(),
            )),
            Col::Struct {
                fields,
                children,
                mut nulls,
            } => {
                let len = nulls.len();
                let nulls = nulls.finish();
                if fields.is_empty() {
                    Arc::new(StructArray::new_empty_fields(len, nulls))
                } else {
                    let arrays = children.into_iter().map(Col::finish).collect();
                    Arc::new(StructArray::new(fields, arrays, nulls))
                }
            }
        }
    }
}

/// Parses one JSON value straight into a column builder (the fast path). Any value the
/// column cannot take is an error, and `decode` falls back to `decode_checked`.
struct Into<'a> {
    col: &'a mut Col,
    /// Set when an object lacks one of its fields (the pointers are worked out later).
    missing: &'a mut bool,
}

fn mismatch<E: serde::de::Error>() -> E {
    E::custom("value does not fit the schema")
}

impl<'de> serde::de::DeserializeSeed<'de> for Into<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Finds an object key among the struct's fields without allocating.
struct FieldIndex<'f>(&'f Fields);

impl<'de> serde::de::DeserializeSeed<'de> for FieldIndex<'_> {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for FieldIndex<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> std::result::Result<usize, E> {
        self.0
            .iter()
            .position(|f| f.name() == k)
            .ok_or_else(mismatch)
    }
}

impl<'de> serde::de::Visitor<'de> for Into<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a value of the schema's type")
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        self.col.push_null();
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<(), E> {
        match self.col {
            Col::Bool(b) => {
                b.append_value(v);
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<(), E> {
        match self.col {
            Col::Int(b) => {
                b.append_value(v);
                Ok(())
            }
            Col::Float(b) if v.unsigned_abs() <= F64_EXACT => {
                b.append_value(v as f64);
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<(), E> {
        match self.col {
            Col::Int(b) if v <= i64::MAX as u64 => {
                b.append_value(v as i64);
                Ok(())
            }
            Col::Float(b) if v <= F64_EXACT => {
                b.append_value(v as f64);
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<(), E> {
        match self.col {
            Col::Float(b) => {
                b.append_value(v);
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<(), E> {
        match self.col {
            Col::Str(b) => {
                b.append_value(v);
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        let Col::List {
            offsets,
            nulls,
            child,
            ..
        } = self.col
        else {
            return Err(mismatch());
        };
        let mut n = 0i32;
        while seq
            .next_element_seed(Into {
                col: child,
                missing: self.missing,
            })?
            .is_some()
        {
            n += 1;
        }
        let last = *offsets.last().expect("starts with 0");
        offsets.push(last + n);
        nulls.append_non_null();
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<(), A::Error> {
        let Col::Struct {
            fields,
            children,
            nulls,
        } = self.col
        else {
            return Err(mismatch());
        };
        let mut seen = vec![false; fields.len()];
        while let Some(i) = map.next_key_seed(FieldIndex(fields))? {
            if std::mem::replace(&mut seen[i], true) {
                // A repeated key: the checked path decides what to do with it.
                return Err(mismatch());
            }
            map.next_value_seed(Into {
                col: &mut children[i],
                missing: self.missing,
            })?;
        }
        for (c, s) in children.iter_mut().zip(seen) {
            if !s {
                c.push_null();
                *self.missing = true;
            }
        }
        nulls.append_non_null();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Encoding

/// Writes Arrow rows as JSON objects: field order as in the schema, explicit nulls as
/// `null`, absent keys left out, non-JSON types (dates, decimals, binary, ...) as strings in
/// Arrow's display form.
pub struct JsonEncoder<'a> {
    keys: Vec<Vec<u8>>,
    names: Vec<&'a str>,
    cols: Vec<Enc<'a>>,
}

enum Enc<'a> {
    Null,
    Bool(&'a BooleanArray),
    I64(Int64Array),
    U64(UInt64Array),
    F32(&'a Float32Array),
    F64(Float64Array),
    Str(&'a GenericStringArray<i32>),
    LargeStr(&'a GenericStringArray<i64>),
    View(&'a StringViewArray),
    List(ListEnc<'a, i32>),
    LargeList(ListEnc<'a, i64>),
    Struct {
        array: &'a StructArray,
        keys: Vec<Vec<u8>>,
        names: Vec<&'a str>,
        children: Vec<Enc<'a>>,
    },
    Display(&'a dyn Array, ArrayFormatter<'a>),
}

struct ListEnc<'a, O: OffsetSizeTrait> {
    array: &'a GenericListArray<O>,
    child: Box<Enc<'a>>,
}

fn key_bytes(name: &str) -> Vec<u8> {
    let mut k = serde_json::to_vec(name).expect("a string serializes");
    k.push(b':');
    k
}

const FORMAT: FormatOptions<'static> = FormatOptions::new();

impl<'a> Enc<'a> {
    fn new(array: &'a ArrayRef) -> Result<Enc<'a>> {
        use arrow::compute::cast;
        use DataType as D;
        Ok(match array.data_type() {
            D::Null => Enc::Null,
            D::Boolean => Enc::Bool(array.as_boolean()),
            D::Int8 | D::Int16 | D::Int32 | D::Int64 => {
                Enc::I64(cast(array, &D::Int64)?.as_primitive().clone())
            }
            D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
                Enc::U64(cast(array, &D::UInt64)?.as_primitive().clone())
            }
            D::Float16 | D::Float64 => Enc::F64(cast(array, &D::Float64)?.as_primitive().clone()),
            D::Float32 => Enc::F32(array.as_primitive()),
            D::Utf8 => Enc::Str(array.as_string()),
            D::LargeUtf8 => Enc::LargeStr(array.as_string()),
            D::Utf8View => Enc::View(array.as_string_view()),
            D::List(_) => {
                let l = array.as_list::<i32>();
                Enc::List(ListEnc {
                    array: l,
                    child: Box::new(Enc::new(l.values())?),
                })
            }
            D::LargeList(_) => {
                let l = array.as_list::<i64>();
                Enc::LargeList(ListEnc {
                    array: l,
                    child: Box::new(Enc::new(l.values())?),
                })
            }
            D::Struct(fields) => {
                let s = array.as_struct();
                Enc::Struct {
                    array: s,
                    keys: fields.iter().map(|f| key_bytes(f.name())).collect(),
                    names: fields.iter().map(|f| f.name().as_str()).collect(),
                    children: s.columns().iter().map(Enc::new).collect::<Result<_>>()?,
                }
            }
            _ => Enc::Display(
                array.as_ref(),
                ArrayFormatter::try_new(array.as_ref(), &FORMAT)?,
            ),
        })
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Enc::Null => true,
            Enc::Bool(a) => a.is_null(i),
            Enc::I64(a) => a.is_null(i),
            Enc::U64(a) => a.is_null(i),
            Enc::F32(a) => a.is_null(i),
            Enc::F64(a) => a.is_null(i),
            Enc::Str(a) => a.is_null(i),
            Enc::LargeStr(a) => a.is_null(i),
            Enc::View(a) => a.is_null(i),
            Enc::List(l) => l.array.is_null(i),
            Enc::LargeList(l) => l.array.is_null(i),
            Enc::Struct { array, .. } => array.is_null(i),
            Enc::Display(a, _) => a.is_null(i),
        }
    }

    fn write(&self, i: usize, out: &mut Vec<u8>, absent: &mut Option<AbsentCtx<'_>>) {
        if self.is_null(i) {
            out.extend_from_slice(b"null");
            return;
        }
        match self {
            Enc::Null => out.extend_from_slice(b"null"),
            Enc::Bool(a) => out.extend_from_slice(if a.value(i) { b"true" } else { b"false" }),
            Enc::I64(a) => out.extend_from_slice(itoa::Buffer::new().format(a.value(i)).as_bytes()),
            Enc::U64(a) => out.extend_from_slice(itoa::Buffer::new().format(a.value(i)).as_bytes()),
            Enc::F32(a) => write_json(out, &a.value(i)),
            Enc::F64(a) => write_json(out, &a.value(i)),
            Enc::Str(a) => write_json_str(out, a.value(i)),
            Enc::LargeStr(a) => write_json_str(out, a.value(i)),
            Enc::View(a) => write_json_str(out, a.value(i)),
            Enc::List(l) => write_list(l, i, out, absent),
            Enc::LargeList(l) => write_list(l, i, out, absent),
            Enc::Struct {
                keys,
                names,
                children,
                ..
            } => write_object(keys, names, children, i, out, absent),
            Enc::Display(_, f) => write_json_str(out, &f.value(i).to_string()),
        }
    }
}

/// `s` as a JSON string, byte for byte what serde_json writes (quote, backslash and
/// control characters escaped, `\u00xx` in lower-case hex for the controls without a
/// short form; everything else as it is). The runs between those bytes are found eight
/// bytes at a time and copied whole: serde_json looks each byte up in its table, and
/// its string escaping was 1.1 % of the 1 GiB pipeline's samples (the export's text is
/// mostly bytes that need nothing, CJK text all of them).
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut from = 0;
    loop {
        let i = next_json_escape(b, from);
        out.extend_from_slice(&b[from..i]);
        let Some(&c) = b.get(i) else { break };
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xF)]);
            }
        }
        from = i + 1;
    }
    out.push(b'"');
}

/// The first position at or after `from` of a byte a JSON string must escape (below
/// 0x20, `"` or `\`), or `b.len()`.
fn next_json_escape(b: &[u8], i: usize) -> usize {
    use crate::detect::ascii::{below, first_flagged, in_range};
    first_flagged(
        b,
        i,
        |x| below(x, 0x20) | in_range(x, b'"', b'"') | in_range(x, b'\\', b'\\'),
        |c| matches!(c, 0..=0x1F | b'"' | b'\\'),
    )
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("writing JSON to a Vec cannot fail");
}

fn write_list<O: OffsetSizeTrait>(
    l: &ListEnc<'_, O>,
    i: usize,
    out: &mut Vec<u8>,
    absent: &mut Option<AbsentCtx<'_>>,
) {
    let offsets = l.array.value_offsets();
    let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
    out.push(b'[');
    for (n, j) in (start..end).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let len = absent.as_mut().map(|a| a.enter(&n.to_string()));
        l.child.write(j, out, absent);
        if let (Some(a), Some(len)) = (absent.as_mut(), len) {
            a.path.truncate(len);
        }
    }
    out.push(b']');
}

fn write_object(
    keys: &[Vec<u8>],
    names: &[&str],
    children: &[Enc<'_>],
    i: usize,
    out: &mut Vec<u8>,
    absent: &mut Option<AbsentCtx<'_>>,
) {
    out.push(b'{');
    let mut first = true;
    for ((key, name), child) in keys.iter().zip(names).zip(children) {
        let len = absent.as_mut().map(|a| a.enter(name));
        let skip = absent.as_ref().is_some_and(|a| a.is_absent());
        if !skip {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(key);
            child.write(i, out, absent);
        }
        if let (Some(a), Some(len)) = (absent.as_mut(), len) {
            a.path.truncate(len);
        }
    }
    out.push(b'}');
}

/// The current JSON pointer and the absent pointers of the row being written.
struct AbsentCtx<'r> {
    path: String,
    pointers: &'r [String],
}

impl AbsentCtx<'_> {
    fn enter(&mut self, token: &str) -> usize {
        let len = self.path.len();
        self.path.push('/');
        self.path.push_str(&json_pointer_escape(token));
        len
    }
    fn is_absent(&self) -> bool {
        self.pointers.contains(&self.path)
    }
}

impl<'a> JsonEncoder<'a> {
    pub fn new(batch: &'a RecordBatch) -> Result<Self> {
        let schema = batch.schema_ref();
        Ok(JsonEncoder {
            keys: schema
                .fields()
                .iter()
                .map(|f| key_bytes(f.name()))
                .collect(),
            names: schema.fields().iter().map(|f| f.name().as_str()).collect(),
            cols: batch
                .columns()
                .iter()
                .map(Enc::new)
                .collect::<Result<_>>()?,
        })
    }

    /// Appends row `i` as one JSON object followed by `\n`.
    pub fn write_row(&self, i: usize, absent: Option<&[String]>, out: &mut Vec<u8>) {
        let mut ctx = absent.map(|pointers| AbsentCtx {
            path: String::new(),
            pointers,
        });
        write_object(&self.keys, &self.names, &self.cols, i, out, &mut ctx);
        out.push(b'\n');
    }
}

/// Encodes a whole batch as JSONL.
pub fn encode_batch(batch: &RecordBatch, absent: &AbsentKeys, out: &mut Vec<u8>) -> Result<()> {
    let enc = JsonEncoder::new(batch)?;
    for i in 0..batch.num_rows() {
        enc.write_row(i, absent.for_row(i), out);
    }
    Ok(())
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// Every string is written as serde_json writes it: runs of ordinary bytes,
        /// escapes at every position of an eight-byte word, multi-byte characters.
        #[test]
        fn json_strings_are_written_as_serde_json_writes_them(
            s in "[\\x00-\\x1f\"\\\\a-z\\x7f\u{80}-\u{7ff}\u{4e00}-\u{4e0f}\u{1f600}]{0,40}"
        ) {
            let mut ours = Vec::new();
            super::write_json_str(&mut ours, &s);
            proptest::prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
        }
    }

    use super::*;
    use crate::io::schema::SchemaInference;

    fn chunk(lines: &[&str]) -> LinesChunk {
        let mut c = LinesChunk::new(0);
        for (i, l) in lines.iter().enumerate() {
            c.push(l.as_bytes(), i as u64 + 1);
        }
        c
    }

    fn schema_of(lines: &[&str]) -> SchemaRef {
        let mut inf = SchemaInference::default();
        for l in lines {
            assert!(inf.add_line(l.as_bytes()));
        }
        inf.finish()
    }

    fn roundtrip(lines: &[&str]) -> (Decoded, String) {
        let schema = schema_of(lines);
        let d = decode(&chunk(lines), &schema).unwrap();
        let mut out = Vec::new();
        encode_batch(&d.data, &d.absent, &mut out).unwrap();
        (d, String::from_utf8(out).unwrap())
    }

    #[test]
    fn null_and_absent_keys_survive() {
        let lines = [
            r#"{"id":1,"meta":{"r":4,"t":["a"]},"x":null}"#,
            r#"{"id":2,"meta":{"r":null}}"#,
            r#"{"id":3}"#,
            r#"{"id":4,"meta":null,"x":"s"}"#,
        ];
        let (_, out) = roundtrip(&lines);
        let got: Vec<&str> = out.lines().collect();
        assert_eq!(got, lines);
    }

    #[test]
    fn nested_lists_of_objects_keep_absent_keys() {
        let lines = [
            r#"{"m":[{"role":"user","content":"hi"},{"content":"yo"}]}"#,
            r#"{"m":[]}"#,
        ];
        let (_, out) = roundtrip(&lines);
        assert_eq!(out.lines().collect::<Vec<_>>(), lines);
    }

    #[test]
    fn bad_lines_are_rejected_with_their_line_numbers() {
        let schema = schema_of(&[r#"{"a":1,"b":"x"}"#]);
        let mut c = chunk(&[
            r#"{"a":1,"b":"x"}"#,
            r#"{"a":1,"b":"#,
            r#"[1,2]"#,
            r#"{"a":"secret-value","b":"x"}"#,
            r#"{"a":1,"zz":"x"}"#,
        ]);
        c.push(b"{\"a\":1,\"b\":\"\xff\"}", 9);
        let d = decode(&c, &schema).unwrap();
        assert_eq!(d.data.num_rows(), 1);
        let got: Vec<(u64, &str)> = d
            .rejections
            .iter()
            .map(|r| match r.location {
                Location::Line(n) => (n, r.reason),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "malformed_json"),
                (3, "not_an_object"),
                (4, "schema_mismatch"),
                (5, "schema_mismatch"),
                (9, "invalid_utf8")
            ]
        );
        for r in &d.rejections {
            assert!(!r.detail.contains("secret"), "{}", r.detail);
            assert_eq!(r.sha256.len(), 64);
        }
        assert!(d.rejections[2].detail.contains("/a"));
        assert!(d.rejections[3].detail.contains("/zz"));
    }

    #[test]
    fn ints_into_float_fields_must_be_exact() {
        let schema = schema_of(&[r#"{"f":1.5}"#]);
        let d = decode(
            &chunk(&[r#"{"f":3}"#, r#"{"f":9007199254740993}"#]),
            &schema,
        )
        .unwrap();
        assert_eq!(d.data.num_rows(), 1);
        assert_eq!(d.rejections.len(), 1);
    }

    #[test]
    fn unicode_and_escapes_roundtrip() {
        let lines = [r#"{"t":"邮箱zhang@example.com，\n\t\"q\" \u0007"}"#];
        let (d, out) = roundtrip(&lines);
        let a: Value = serde_json::from_str(lines[0]).unwrap();
        let b: Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(a, b);
        assert_eq!(d.rejections.len(), 0);
    }

    use proptest::prelude::*;

    /// Records of one fixed nested shape, with any key possibly absent or null.
    fn record() -> impl Strategy<Value = Value> {
        let scalar_s = proptest::option::of("[a-z数据 \\\"\n\u{7}]{0,8}");
        let msg = (
            proptest::option::of(proptest::option::of("[a-z]{0,4}")),
            proptest::option::of(scalar_s.clone()),
        );
        (
            proptest::option::of(proptest::option::of(any::<i64>())),
            proptest::option::of(proptest::option::of(
                any::<f64>().prop_filter("finite", |f| f.is_finite()),
            )),
            proptest::option::of(scalar_s),
            proptest::option::of(proptest::option::of(proptest::collection::vec(msg, 0..3))),
        )
            .prop_map(|(n, f, t, msgs)| {
                let mut m = serde_json::Map::new();
                let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
                if let Some(n) = n {
                    m.insert("n".into(), opt(n.map(Value::from)));
                }
                if let Some(f) = f {
                    m.insert("f".into(), opt(f.map(Value::from)));
                }
                if let Some(t) = t {
                    m.insert("t".into(), opt(t.map(Value::from)));
                }
                if let Some(msgs) = msgs {
                    let arr = msgs.map(|ms| {
                        Value::Array(
                            ms.into_iter()
                                .map(|(role, content)| {
                                    let mut o = serde_json::Map::new();
                                    if let Some(r) = role {
                                        o.insert("role".into(), opt(r.map(Value::from)));
                                    }
                                    if let Some(c) = content {
                                        o.insert("content".into(), opt(c.map(Value::from)));
                                    }
                                    Value::Object(o)
                                })
                                .collect(),
                        )
                    });
                    m.insert("msgs".into(), opt(arr));
                }
                Value::Object(m)
            })
    }

    fn shape() -> SchemaRef {
        schema_of(&[r#"{"n":1,"f":0.5,"t":"s","msgs":[{"role":"r","content":"c"}]}"#])
    }

    proptest! {
        #[test]
        fn jsonl_roundtrip_and_both_paths_agree(recs in proptest::collection::vec(record(), 1..40)) {
            let schema = shape();
            let lines: Vec<String> = recs.iter().map(|r| r.to_string()).collect();
            let mut c = LinesChunk::new(0);
            for (i, l) in lines.iter().enumerate() {
                c.push(l.as_bytes(), i as u64 + 1);
            }
            let fast = decode_fast(&c, &schema).unwrap().expect("clean records take the fast path");
            let checked = decode_checked(&c, &schema).unwrap();
            prop_assert_eq!(&fast.data, &checked.data);
            prop_assert_eq!(&fast.absent, &checked.absent);
            let mut out = Vec::new();
            encode_batch(&fast.data, &fast.absent, &mut out).unwrap();
            let back: Vec<Value> = String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            prop_assert_eq!(back, recs);
        }

        #[test]
        fn every_line_is_kept_or_rejected(
            recs in proptest::collection::vec(record(), 1..30),
            junk in proptest::collection::vec((0usize..30, "[{}\\[\\]\":a-z0-9]{0,6}"), 0..6),
        ) {
            let schema = shape();
            let mut lines: Vec<String> = recs.iter().map(|r| r.to_string()).collect();
            for (at, j) in junk {
                lines.insert(at.min(lines.len()), j);
            }
            let mut c = LinesChunk::new(0);
            for (i, l) in lines.iter().enumerate() {
                c.push(l.as_bytes(), i as u64 + 1);
            }
            let d = decode(&c, &schema).unwrap();
            prop_assert_eq!(d.data.num_rows() + d.rejections.len(), lines.len());
            prop_assert!(d.data.num_rows() >= recs.len());
            let mut seen: Vec<u64> = d.origins.clone();
            seen.extend(d.rejections.iter().map(|r| match r.location { Location::Line(n) => n, _ => 0 }));
            seen.sort_unstable();
            prop_assert_eq!(seen, (1..=lines.len() as u64).collect::<Vec<_>>());
        }
    }
}
