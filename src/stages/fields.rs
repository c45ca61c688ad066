//! Naming string values inside records: `text`, `meta.title`, `messages.content` (a path
//! passes through lists, so `messages.content` is the content of every message).
//! Stages that work on text use these paths, so every stage accepts nested fields the
//! same way.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, GenericStringArray, GenericStringBuilder,
    OffsetSizeTrait, StringViewBuilder, StructArray,
};
use arrow::datatypes::{DataType, Schema};

use crate::error::Result;

/// A resolved path to string values.
#[derive(Debug, Clone)]
pub struct StringPath {
    /// As the user wrote it, for reports: `messages.content`.
    pub name: String,
    pub column: usize,
    /// Struct field names below the top-level column.
    pub steps: Vec<String>,
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Every path to string values in a schema, in schema order.
pub fn string_paths(schema: &Schema) -> Vec<StringPath> {
    fn walk(
        dt: &DataType,
        prefix: &str,
        column: usize,
        steps: &mut Vec<String>,
        out: &mut Vec<StringPath>,
    ) {
        match dt {
            d if is_string(d) => out.push(StringPath {
                name: prefix.to_string(),
                column,
                steps: steps.clone(),
            }),
            DataType::List(f) | DataType::LargeList(f) => {
                walk(f.data_type(), prefix, column, steps, out)
            }
            DataType::Struct(fields) => {
                for f in fields {
                    steps.push(f.name().clone());
                    walk(
                        f.data_type(),
                        &format!("{prefix}.{}", f.name()),
                        column,
                        steps,
                        out,
                    );
                    steps.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        walk(f.data_type(), f.name(), i, &mut Vec::new(), &mut out);
    }
    out
}

/// Resolves `a.b.c`; the error lists the string fields that do exist.
pub fn resolve(schema: &Schema, name: &str) -> std::result::Result<StringPath, String> {
    let all = string_paths(schema);
    if let Some(p) = all.iter().find(|p| p.name == name) {
        return Ok(p.clone());
    }
    let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    Err(format!(
        "no string field `{name}` in the input (string fields: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// The paths a stage's `fields = [...]` names, or every string path when it names none;
/// `err(field, message)` turns a name that does not resolve into the stage's error.
pub fn resolve_fields(
    schema: &Schema,
    fields: Option<&[String]>,
    err: impl Fn(&str, String) -> crate::error::Error,
) -> Result<Vec<StringPath>> {
    match fields {
        None => Ok(string_paths(schema)),
        Some(fields) => fields
            .iter()
            .map(|f| resolve(schema, f).map_err(|e| err(f, e)))
            .collect(),
    }
}

/// The child of a struct that the first step names, and the remaining steps.
fn struct_child<'a>(s: &'a StructArray, steps: &'a [String]) -> (usize, &'a [String]) {
    let (first, rest) = steps.split_first().expect("paths end at a string");
    let DataType::Struct(fields) = s.data_type() else {
        unreachable!("a struct array")
    };
    let idx = fields
        .iter()
        .position(|x| x.name() == first)
        .expect("resolved path");
    (idx, rest)
}

/// Applies `f` to every non-null string at `steps` below `array`; `f` returns the new
/// value or None to keep the old one. Returns None when nothing changed, so unchanged
/// columns are shared rather than copied.
pub fn map_strings(
    array: &ArrayRef,
    steps: &[String],
    f: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Option<ArrayRef>> {
    map_strings_rows(array, steps, &mut |_, s| f(s))
}

/// As `map_strings`, with the top-level row each value belongs to: `f(row, value)`.
/// Values under a null list or struct are left alone (they are not part of any record).
pub fn map_strings_rows(
    array: &ArrayRef,
    steps: &[String],
    f: &mut dyn FnMut(usize, &str) -> Option<String>,
) -> Result<Option<ArrayRef>> {
    map_at(array, steps, None, f)
}

fn map_at(
    array: &ArrayRef,
    steps: &[String],
    rows: Option<&[u32]>,
    f: &mut dyn FnMut(usize, &str) -> Option<String>,
) -> Result<Option<ArrayRef>> {
    let row_of = |i: usize| -> Option<usize> {
        match rows {
            None => Some(i),
            Some(r) => (r[i] != u32::MAX).then_some(r[i] as usize),
        }
    };
    Ok(match array.data_type() {
        DataType::Utf8 => map_leaf(array.as_string::<i32>(), &row_of, f),
        DataType::LargeUtf8 => map_leaf(array.as_string::<i64>(), &row_of, f),
        DataType::Utf8View => {
            let a = array.as_string_view();
            let changes =
                collect_changes(a.len(), &row_of, |i| (!a.is_null(i)).then(|| a.value(i)), f);
            changes.map(|changes| {
                let mut b = StringViewBuilder::with_capacity(a.len());
                apply_changes(
                    a.len(),
                    changes,
                    |i| (!a.is_null(i)).then(|| a.value(i)),
                    |v| match v {
                        Some(s) => b.append_value(s),
                        None => b.append_null(),
                    },
                );
                Arc::new(b.finish()) as ArrayRef
            })
        }
        DataType::List(_) => map_list(array.as_list::<i32>(), steps, rows, f)?,
        DataType::LargeList(_) => map_list(array.as_list::<i64>(), steps, rows, f)?,
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let (idx, rest) = struct_child(s, steps);
            let child_rows: Vec<u32> = (0..s.len())
                .map(|i| match row_of(i) {
                    Some(r) if !s.is_null(i) => r as u32,
                    _ => u32::MAX,
                })
                .collect();
            match map_at(s.column(idx), rest, Some(&child_rows), f)? {
                None => None,
                Some(new) => {
                    let mut cols = s.columns().to_vec();
                    cols[idx] = new;
                    Some(Arc::new(StructArray::try_new(
                        fields.clone(),
                        cols,
                        s.nulls().cloned(),
                    )?))
                }
            }
        }
        other => unreachable!("resolved paths only pass through lists and structs, not {other}"),
    })
}

/// Calls `f(row, value)` for every non-null string at `steps` below `array`, where `row`
/// is the top-level row the value belongs to. Values of one row come in order (list
/// elements in list order). Strings under a null list or struct are skipped.
pub fn for_each_string(array: &ArrayRef, steps: &[String], f: &mut dyn FnMut(usize, &str)) {
    visit(array, steps, None, f)
}

/// `rows[i]` is the top-level row of element `i` of `array` (None: `array` is top-level);
/// `u32::MAX` marks elements under a null parent.
fn visit(array: &ArrayRef, steps: &[String], rows: Option<&[u32]>, f: &mut dyn FnMut(usize, &str)) {
    let row_of = |i: usize| -> Option<usize> {
        match rows {
            None => Some(i),
            Some(r) => (r[i] != u32::MAX).then_some(r[i] as usize),
        }
    };
    fn leaf<'a>(
        len: usize,
        row_of: &dyn Fn(usize) -> Option<usize>,
        get: impl Fn(usize) -> Option<&'a str>,
        f: &mut dyn FnMut(usize, &str),
    ) {
        for i in 0..len {
            if let (Some(r), Some(s)) = (row_of(i), get(i)) {
                f(r, s);
            }
        }
    }
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            leaf(a.len(), &row_of, |i| (!a.is_null(i)).then(|| a.value(i)), f)
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            leaf(a.len(), &row_of, |i| (!a.is_null(i)).then(|| a.value(i)), f)
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            leaf(a.len(), &row_of, |i| (!a.is_null(i)).then(|| a.value(i)), f)
        }
        DataType::List(_) => visit_list(array.as_list::<i32>(), steps, rows, f),
        DataType::LargeList(_) => visit_list(array.as_list::<i64>(), steps, rows, f),
        DataType::Struct(_) => {
            let s = array.as_struct();
            let (idx, rest) = struct_child(s, steps);
            let child_rows: Vec<u32> = (0..s.len())
                .map(|i| match row_of(i) {
                    Some(r) if !s.is_null(i) => r as u32,
                    _ => u32::MAX,
                })
                .collect();
            visit(s.column(idx), rest, Some(&child_rows), f)
        }
        other => unreachable!("resolved paths only pass through lists and structs, not {other}"),
    }
}

fn visit_list<O: OffsetSizeTrait>(
    l: &GenericListArray<O>,
    steps: &[String],
    rows: Option<&[u32]>,
    f: &mut dyn FnMut(usize, &str),
) {
    let child_rows = list_child_rows(l, rows);
    visit(l.values(), steps, Some(&child_rows), f)
}

/// The top-level row of each element of a list's values (`u32::MAX` under a null).
fn list_child_rows<O: OffsetSizeTrait>(l: &GenericListArray<O>, rows: Option<&[u32]>) -> Vec<u32> {
    let offsets = l.value_offsets();
    let mut child_rows = vec![u32::MAX; l.values().len()];
    for i in 0..l.len() {
        let row = match rows {
            None => i as u32,
            Some(r) => r[i],
        };
        if row == u32::MAX || l.is_null(i) {
            continue;
        }
        let (a, b) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
        child_rows[a..b].fill(row);
    }
    child_rows
}

fn map_list<O: OffsetSizeTrait>(
    l: &GenericListArray<O>,
    steps: &[String],
    rows: Option<&[u32]>,
    f: &mut dyn FnMut(usize, &str) -> Option<String>,
) -> Result<Option<ArrayRef>> {
    let (DataType::List(field) | DataType::LargeList(field)) = l.data_type() else {
        unreachable!()
    };
    let child_rows = list_child_rows(l, rows);
    Ok(match map_at(l.values(), steps, Some(&child_rows), f)? {
        None => None,
        Some(values) => Some(Arc::new(GenericListArray::<O>::try_new(
            field.clone(),
            l.offsets().clone(),
            values,
            l.nulls().cloned(),
        )?)),
    })
}

fn map_leaf<O: OffsetSizeTrait>(
    a: &GenericStringArray<O>,
    row_of: &dyn Fn(usize) -> Option<usize>,
    f: &mut dyn FnMut(usize, &str) -> Option<String>,
) -> Option<ArrayRef> {
    let get = |i: usize| (!a.is_null(i)).then(|| a.value(i));
    let changes = collect_changes(a.len(), row_of, get, f)?;
    // The new values' bytes exactly: the old ones' (of this slice of the buffer), with
    // each change's difference. Sized to the old bytes only, the buffer grew by
    // reallocation (a copy of all before) whenever the tags came out longer than the
    // values they replaced, in about every batch of the chat corpus.
    let offsets = a.value_offsets();
    let old = (offsets[a.len()] - offsets[0]).as_usize();
    let bytes = changes.iter().fold(old, |n, (i, s)| {
        (n + s.len()).saturating_sub(get(*i).map_or(0, str::len))
    });
    let mut b = GenericStringBuilder::<O>::with_capacity(a.len(), bytes);
    apply_changes(a.len(), changes, get, |v| match v {
        Some(s) => b.append_value(s),
        None => b.append_null(),
    });
    Some(Arc::new(b.finish()))
}

fn collect_changes<'a>(
    len: usize,
    row_of: &dyn Fn(usize) -> Option<usize>,
    get: impl Fn(usize) -> Option<&'a str>,
    f: &mut dyn FnMut(usize, &str) -> Option<String>,
) -> Option<Vec<(usize, String)>> {
    let changes: Vec<(usize, String)> = (0..len)
        .filter_map(|i| {
            let r = row_of(i)?;
            get(i).and_then(|s| f(r, s)).map(|n| (i, n))
        })
        .collect();
    (!changes.is_empty()).then_some(changes)
}

fn apply_changes<'a>(
    len: usize,
    changes: Vec<(usize, String)>,
    get: impl Fn(usize) -> Option<&'a str>,
    mut push: impl FnMut(Option<&str>),
) {
    let mut it = changes.into_iter().peekable();
    for i in 0..len {
        match it.peek() {
            Some((j, _)) if *j == i => {
                let (_, s) = it.next().expect("peeked");
                push(Some(&s));
            }
            _ => push(get(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::jsonl::{decode, LinesChunk};
    use crate::io::schema::SchemaInference;

    #[test]
    fn maps_strings_inside_lists_of_structs() {
        let lines = [
            r#"{"id":"a","messages":[{"role":"user","content":"x"},{"role":"bot","content":null}]}"#,
            r#"{"id":"b","messages":null}"#,
        ];
        let mut inf = SchemaInference::default();
        let mut c = LinesChunk::new(0);
        for (i, l) in lines.iter().enumerate() {
            assert!(inf.add_line(l.as_bytes()));
            c.push(l.as_bytes(), i as u64 + 1);
        }
        let schema = inf.finish();
        let names: Vec<String> = string_paths(&schema).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["id", "messages.role", "messages.content"]);
        let d = decode(&c, &schema).unwrap();
        let p = resolve(&schema, "messages.content").unwrap();
        let col = d.data.column(p.column);
        let new = map_strings(col, &p.steps, &mut |s| Some(s.to_uppercase()))
            .unwrap()
            .unwrap();
        let l = new.as_list::<i32>();
        let s = l.values().as_struct();
        let content = s.column(1).as_string::<i32>();
        assert_eq!(content.value(0), "X");
        assert!(content.is_null(1));
        assert!(l.is_null(1));
        assert!(map_strings(col, &p.steps, &mut |_| None).unwrap().is_none());
        let mut seen = Vec::new();
        for_each_string(col, &p.steps, &mut |r, s| seen.push((r, s.to_string())));
        assert_eq!(seen, [(0, "x".to_string())]);
        assert!(resolve(&schema, "messages.nope")
            .unwrap_err()
            .contains("messages.content"));
    }
}
