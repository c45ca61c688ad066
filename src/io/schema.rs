//! JSONL schemas: inference from sample lines or a whole scan, and declared schemas.
//!
//! A schema is an Arrow schema whose types come from the small set JSON can express:
//! null, bool, int64, float64, string, list<T> and struct<...>. Inference keeps fields in
//! order of first appearance. Invariant: inference never widens a type in a way that
//! changes a value (int64 widens to float64 only because every JSON integer that a float64
//! field accepts is checked for exact representability when it is decoded); where two
//! types conflict the first one wins and the records that disagree are quarantined later.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};

use crate::error::{Error, Result};

/// The JSON type lattice used while inferring.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonType {
    Null,
    Bool,
    Int,
    Float,
    Str,
    List(Box<JsonType>),
    Object(Vec<(String, JsonType)>),
}

impl JsonType {
    /// Merges `other` into `self`; returns false when they conflict (self is kept).
    pub fn merge(&mut self, other: JsonType) -> bool {
        use JsonType::*;
        match (&mut *self, other) {
            (_, Null) => true,
            (Null, o) => {
                *self = o;
                true
            }
            (Int, Float) => {
                *self = Float;
                true
            }
            (Float, Int) => true,
            (List(a), List(b)) => a.merge(*b),
            (Object(fields), Object(others)) => {
                let mut ok = true;
                for (k, t) in others {
                    match fields.iter_mut().find(|(name, _)| *name == k) {
                        Some((_, existing)) => ok &= existing.merge(t),
                        None => fields.push((k, t)),
                    }
                }
                ok
            }
            (a, b) => *a == b,
        }
    }

    pub fn to_arrow(&self) -> DataType {
        match self {
            JsonType::Null => DataType::Null,
            JsonType::Bool => DataType::Boolean,
            JsonType::Int => DataType::Int64,
            JsonType::Float => DataType::Float64,
            JsonType::Str => DataType::Utf8,
            JsonType::List(t) => DataType::List(Arc::new(Field::new("item", t.to_arrow(), true))),
            JsonType::Object(fields) => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(k, t)| Field::new(k, t.to_arrow(), true))
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

/// Reads a JSON value's type straight from the text, keeping object keys in the order
/// they appear (serde_json's map would sort them, and keeping order there costs every
/// record a hash map; only inference needs the order).
impl<'de> serde::Deserialize<'de> for JsonType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonType;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Null)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Bool)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Int)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Int)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Float)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<JsonType, E> {
                Ok(JsonType::Str)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JsonType, A::Error> {
                let mut t = JsonType::Null;
                while let Some(item) = seq.next_element::<JsonType>()? {
                    t.merge(item);
                }
                Ok(JsonType::List(Box::new(t)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonType, A::Error> {
                let mut fields: Vec<(String, JsonType)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, JsonType>()? {
                    match fields.iter_mut().find(|(name, _)| *name == k) {
                        // A repeated key: the last value wins, as in serde_json's Value.
                        Some(slot) => slot.1 = v,
                        None => fields.push((k, v)),
                    }
                }
                Ok(JsonType::Object(fields))
            }
        }
        d.deserialize_any(V)
    }
}

/// Accumulates record types into one schema.
#[derive(Default)]
pub struct SchemaInference {
    root: Vec<(String, JsonType)>,
    pub records: u64,
    pub conflicts: u64,
}

impl SchemaInference {
    /// Adds one JSONL line; returns false (and adds nothing) when it is not a JSON object.
    pub fn add_line(&mut self, line: &[u8]) -> bool {
        match serde_json::from_slice::<JsonType>(line) {
            Ok(t @ JsonType::Object(_)) => {
                self.add(t);
                true
            }
            _ => false,
        }
    }

    fn add(&mut self, rec: JsonType) {
        self.records += 1;
        let mut root = JsonType::Object(std::mem::take(&mut self.root));
        let ok = root.merge(rec);
        if !ok {
            self.conflicts += 1;
        }
        if let JsonType::Object(f) = root {
            self.root = f;
        }
    }

    pub fn finish(self) -> SchemaRef {
        match JsonType::Object(self.root).to_arrow() {
            DataType::Struct(fields) => Arc::new(Schema::new(fields)),
            _ => unreachable!("the root is an object"),
        }
    }
}

/// Parses a declared type such as `string`, `int64`, `list<string>` or
/// `struct<source: string, tags: list<string>, rating: int64>`.
pub fn parse_type(s: &str) -> Result<DataType, String> {
    let mut p = TypeParser { s, pos: 0 };
    let t = p.ty()?;
    p.ws();
    if p.pos != s.len() {
        return Err(format!("unexpected `{}` in type `{s}`", &s[p.pos..]));
    }
    Ok(t)
}

struct TypeParser<'a> {
    s: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn ident(&mut self) -> Result<&str, String> {
        self.ws();
        let rest = &self.s[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(format!(
                "expected a name at position {} of `{}`",
                self.pos, self.s
            ));
        }
        self.pos += len;
        Ok(&rest[..len])
    }
    fn eat(&mut self, c: char) -> Result<(), String> {
        self.ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(format!(
                "expected `{c}` at position {} of `{}`",
                self.pos, self.s
            ))
        }
    }
    fn ty(&mut self) -> Result<DataType, String> {
        let name = self.ident()?.to_ascii_lowercase();
        Ok(match name.as_str() {
            "string" | "str" | "utf8" | "text" => DataType::Utf8,
            "int64" | "int" | "integer" | "long" => DataType::Int64,
            "float64" | "float" | "double" | "number" => DataType::Float64,
            "bool" | "boolean" => DataType::Boolean,
            "null" => DataType::Null,
            "list" | "array" => {
                self.eat('<')?;
                let inner = self.ty()?;
                self.eat('>')?;
                DataType::List(Arc::new(Field::new("item", inner, true)))
            }
            "struct" | "object" => {
                self.eat('<')?;
                let mut fields = Vec::new();
                self.ws();
                if !self.s[self.pos..].starts_with('>') {
                    loop {
                        let fname = self.ident()?.to_string();
                        self.eat(':')?;
                        let ft = self.ty()?;
                        fields.push(Field::new(fname, ft, true));
                        self.ws();
                        if self.s[self.pos..].starts_with(',') {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.eat('>')?;
                DataType::Struct(Fields::from(fields))
            }
            other => {
                return Err(format!(
                    "unknown type `{other}` (use string, int64, float64, bool, null, list<T> or struct<name: T, ...>)"
                ))
            }
        })
    }
}

/// Builds a schema from `schema = [{ name = "id", type = "int64" }, ...]`.
pub fn declared_schema(v: &toml::Value, at: &str) -> Result<SchemaRef> {
    let arr = v.as_array().ok_or_else(|| {
        Error::Config(format!(
            "{at}: `schema` must be \"sample\", \"scan\" or a list of {{ name = ..., type = ... }}"
        ))
    })?;
    let mut fields: Vec<Field> = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let t = item.as_table().ok_or_else(|| {
            Error::Config(format!(
                "{at}: schema entry {} must be a table {{ name, type }}",
                i + 1
            ))
        })?;
        if let Some(k) = t.keys().find(|k| *k != "name" && *k != "type") {
            return Err(Error::Config(format!(
                "{at}: schema entry {}: unknown key `{k}` (expected `name` and `type`)",
                i + 1
            )));
        }
        let name = t.get("name").and_then(|v| v.as_str()).ok_or_else(|| {
            Error::Config(format!(
                "{at}: schema entry {} needs `name = \"...\"`",
                i + 1
            ))
        })?;
        let ty = t.get("type").and_then(|v| v.as_str()).ok_or_else(|| {
            Error::Config(format!(
                "{at}: schema entry `{name}` needs `type = \"...\"`"
            ))
        })?;
        let dt = parse_type(ty)
            .map_err(|e| Error::Config(format!("{at}: schema entry `{name}`: {e}")))?;
        if fields.iter().any(|f| f.name() == name) {
            return Err(Error::Config(format!(
                "{at}: field `{name}` is declared twice"
            )));
        }
        fields.push(Field::new(name, dt, true));
    }
    if fields.is_empty() {
        return Err(Error::Config(format!(
            "{at}: the declared schema has no fields"
        )));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// A short human name of a JSON-able Arrow type, for error messages.
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Null => "null".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "float64".into(),
        DataType::Utf8 => "string".into(),
        DataType::List(f) => format!("list<{}>", type_name(f.data_type())),
        DataType::Struct(_) => "struct".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(lines: &[&str]) -> SchemaRef {
        let mut inf = SchemaInference::default();
        for l in lines {
            assert!(inf.add_line(l.as_bytes()));
        }
        inf.finish()
    }

    #[test]
    fn keeps_first_appearance_order_and_widens_int_to_float() {
        let s = infer(&[
            r#"{"b": 1, "a": "x"}"#,
            r#"{"a": "y", "c": null, "b": 2.5}"#,
        ]);
        let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(s.field(0).data_type(), &DataType::Float64);
        assert_eq!(s.field(2).data_type(), &DataType::Null);
    }

    #[test]
    fn nested_objects_and_lists_merge() {
        let s = infer(&[
            r#"{"m": {"x": 1}, "l": []}"#,
            r#"{"m": {"y": "s"}, "l": [{"k": true}]}"#,
        ]);
        assert_eq!(type_name(s.field(0).data_type()), "struct");
        let DataType::Struct(f) = s.field(0).data_type() else {
            panic!()
        };
        assert_eq!(f.len(), 2);
        let DataType::List(item) = s.field(1).data_type() else {
            panic!()
        };
        assert!(matches!(item.data_type(), DataType::Struct(_)));
    }

    #[test]
    fn conflicts_are_counted_and_first_type_wins() {
        let mut inf = SchemaInference::default();
        inf.add_line(br#"{"a": "x"}"#);
        inf.add_line(br#"{"a": 3}"#);
        assert!(!inf.add_line(b"[1]"));
        assert_eq!(inf.conflicts, 1);
        assert_eq!(inf.finish().field(0).data_type(), &DataType::Utf8);
    }

    #[test]
    fn declared_types_parse() {
        let t = parse_type("struct<source: string, tags: list<string>, rating: int64>").unwrap();
        let DataType::Struct(f) = t else { panic!() };
        assert_eq!(f.len(), 3);
        assert!(parse_type("list<strin>").is_err());
        assert!(parse_type("string extra").is_err());
        assert_eq!(
            parse_type("struct<>").unwrap(),
            DataType::Struct(Fields::empty())
        );
    }
}

/// A column's values as text, for keys (privacy units, DP group keys, quasi-identifiers):
/// binary values as lower-case hex — a cast would turn invalid UTF-8 into null and so
/// merge distinct values — and every other type by Arrow's cast, failing rather than
/// turning a value it cannot convert into null.
pub fn key_text(a: &arrow::array::ArrayRef) -> Result<arrow::array::ArrayRef> {
    use arrow::array::{Array, AsArray, StringBuilder};
    fn hex_of<'a>(n: usize, value: impl Fn(usize) -> Option<&'a [u8]>) -> arrow::array::ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        for i in 0..n {
            match value(i) {
                Some(v) => b.append_value(hex::encode(v)),
                None => b.append_null(),
            }
        }
        Arc::new(b.finish())
    }
    let n = a.len();
    Ok(match a.data_type() {
        DataType::Utf8 => a.clone(),
        DataType::Binary => {
            let v = a.as_binary::<i32>();
            hex_of(n, |i| (!v.is_null(i)).then(|| v.value(i)))
        }
        DataType::LargeBinary => {
            let v = a.as_binary::<i64>();
            hex_of(n, |i| (!v.is_null(i)).then(|| v.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let v = a.as_fixed_size_binary();
            hex_of(n, |i| (!v.is_null(i)).then(|| v.value(i)))
        }
        DataType::BinaryView => {
            let v = a.as_binary_view();
            hex_of(n, |i| (!v.is_null(i)).then(|| v.value(i)))
        }
        dt => {
            let opts = arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            };
            arrow::compute::cast_with_options(a, &DataType::Utf8, &opts).map_err(|e| {
                Error::Data(format!(
                    "a {} key column cannot be read as text: {e}",
                    type_name(dt)
                ))
            })?
        }
    })
}

#[cfg(test)]
mod key_text_tests {
    use super::*;
    use arrow::array::{Array, AsArray, BinaryArray, Int64Array};

    #[test]
    fn binary_keys_stay_distinct_and_numbers_cast() {
        let b: arrow::array::ArrayRef = Arc::new(BinaryArray::from(vec![
            Some(&[0xffu8, 0x00][..]),
            Some(&[0xfeu8][..]),
            None,
        ]));
        let t = key_text(&b).unwrap();
        let t = t.as_string::<i32>();
        assert_eq!(t.value(0), "ff00");
        assert_eq!(t.value(1), "fe");
        assert!(t.is_null(2));
        let n: arrow::array::ArrayRef = Arc::new(Int64Array::from(vec![30, -1]));
        assert_eq!(key_text(&n).unwrap().as_string::<i32>().value(1), "-1");
    }
}
