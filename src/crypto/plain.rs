//! The plaintext of an encrypted cell: the value's bytes as Arrow holds them, so
//! `decrypt` can rebuild an array of the original type exactly. Strings and binary are
//! their bytes; booleans one byte; every fixed-width type (integers, floats, dates,
//! times, timestamps, durations, decimals) its little-endian value bytes. The type
//! itself is recorded once per column in the manifest, not per cell.

use std::sync::Arc;

use arrow::array::{
    make_array, Array, ArrayData, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
};
use arrow::buffer::{MutableBuffer, NullBuffer};
use arrow::datatypes::DataType;

/// Whether a column of this type can be encrypted (and restored) cell by cell.
pub fn supported(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Boolean
    ) || (dt.primitive_width().is_some()
        && !matches!(dt, DataType::Null | DataType::FixedSizeBinary(_)))
}

/// Reads cell bytes out of one array.
pub struct CellBytes<'a> {
    array: &'a dyn Array,
    fixed: Option<(ArrayData, usize)>,
}

impl<'a> CellBytes<'a> {
    pub fn new(array: &'a dyn Array) -> Self {
        let fixed = match array.data_type() {
            DataType::Boolean => None,
            dt => dt.primitive_width().map(|w| (array.to_data(), w)),
        };
        CellBytes { array, fixed }
    }

    /// The bytes of non-null cell `i`, appended to `out`.
    pub fn write(&self, i: usize, out: &mut Vec<u8>) {
        if let Some((data, w)) = &self.fixed {
            let at = (data.offset() + i) * w;
            out.extend_from_slice(&data.buffers()[0].as_slice()[at..at + w]);
            return;
        }
        let a = self.array;
        match a.data_type() {
            DataType::Utf8 => out.extend_from_slice(a.as_string::<i32>().value(i).as_bytes()),
            DataType::LargeUtf8 => out.extend_from_slice(a.as_string::<i64>().value(i).as_bytes()),
            DataType::Utf8View => out.extend_from_slice(a.as_string_view().value(i).as_bytes()),
            DataType::Binary => out.extend_from_slice(a.as_binary::<i32>().value(i)),
            DataType::LargeBinary => out.extend_from_slice(a.as_binary::<i64>().value(i)),
            DataType::BinaryView => out.extend_from_slice(a.as_binary_view().value(i)),
            DataType::Boolean => out.push(a.as_boolean().value(i) as u8),
            other => unreachable!("encrypt checks types at build time, not {other}"),
        }
    }
}

/// Builds an array of type `dt` from decrypted cells (None = null). Errors when a cell's
/// bytes cannot be a value of that type.
pub fn build_array(
    dt: &DataType,
    cells: &[Option<Vec<u8>>],
) -> std::result::Result<ArrayRef, String> {
    let n = cells.len();
    fn utf8<'b>(b: &'b [u8], dt: &DataType) -> std::result::Result<&'b str, String> {
        std::str::from_utf8(b).map_err(|_| format!("a cell is not UTF-8 text, so not a {dt}"))
    }
    Ok(match dt {
        DataType::Utf8 => Arc::new(
            cells
                .iter()
                .map(|c| c.as_deref().map(|b| utf8(b, dt)).transpose())
                .collect::<std::result::Result<StringArray, _>>()?,
        ),
        DataType::LargeUtf8 => Arc::new(
            cells
                .iter()
                .map(|c| c.as_deref().map(|b| utf8(b, dt)).transpose())
                .collect::<std::result::Result<LargeStringArray, _>>()?,
        ),
        DataType::Utf8View => Arc::new(
            cells
                .iter()
                .map(|c| c.as_deref().map(|b| utf8(b, dt)).transpose())
                .collect::<std::result::Result<StringViewArray, _>>()?,
        ),
        DataType::Binary => Arc::new(cells.iter().map(|c| c.as_deref()).collect::<BinaryArray>()),
        DataType::LargeBinary => Arc::new(
            cells
                .iter()
                .map(|c| c.as_deref())
                .collect::<LargeBinaryArray>(),
        ),
        DataType::BinaryView => Arc::new(
            cells
                .iter()
                .map(|c| c.as_deref())
                .collect::<BinaryViewArray>(),
        ),
        DataType::Boolean => Arc::new(
            cells
                .iter()
                .map(|c| match c.as_deref() {
                    None => Ok(None),
                    Some([b]) if *b <= 1 => Ok(Some(*b == 1)),
                    Some(_) => Err(format!("a cell is not a {dt}")),
                })
                .collect::<std::result::Result<BooleanArray, String>>()?,
        ),
        dt => {
            let w = dt
                .primitive_width()
                .ok_or_else(|| format!("type {dt} cannot be restored"))?;
            let mut buf = MutableBuffer::from_len_zeroed(n * w);
            for (i, c) in cells.iter().enumerate() {
                if let Some(b) = c {
                    if b.len() != w {
                        return Err(format!("a cell holds {} bytes, a {dt} is {w}", b.len()));
                    }
                    buf.as_slice_mut()[i * w..(i + 1) * w].copy_from_slice(b);
                }
            }
            let nulls = NullBuffer::from(cells.iter().map(Option::is_some).collect::<Vec<_>>());
            let data = ArrayData::builder(dt.clone())
                .len(n)
                .add_buffer(buf.into())
                .nulls(Some(nulls).filter(|n| n.null_count() > 0))
                .build()
                .map_err(|e| format!("cannot rebuild a {dt} column: {e}"))?;
            make_array(data)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Date32Array, Decimal128Array, Float64Array, Int16Array, TimestampMicrosecondArray,
        UInt64Array,
    };

    fn round_trip(a: ArrayRef) {
        let r = CellBytes::new(a.as_ref());
        let cells: Vec<Option<Vec<u8>>> = (0..a.len())
            .map(|i| {
                (!a.is_null(i)).then(|| {
                    let mut v = Vec::new();
                    r.write(i, &mut v);
                    v
                })
            })
            .collect();
        let back = build_array(a.data_type(), &cells).unwrap();
        assert_eq!(back.to_data(), a.to_data(), "{}", a.data_type());
    }

    #[test]
    fn every_supported_type_round_trips() {
        round_trip(Arc::new(StringArray::from(vec![
            Some("张三"),
            None,
            Some(""),
        ])));
        round_trip(Arc::new(LargeStringArray::from(vec![Some("a"), None])));
        round_trip(Arc::new(StringViewArray::from(vec![
            Some("a long string over twelve bytes"),
            None,
        ])));
        round_trip(Arc::new(BinaryArray::from_opt_vec(vec![
            Some(b"\x00\xff"),
            None,
        ])));
        round_trip(Arc::new(BooleanArray::from(vec![
            Some(true),
            None,
            Some(false),
        ])));
        round_trip(Arc::new(Int16Array::from(vec![
            Some(-3),
            None,
            Some(i16::MAX),
        ])));
        round_trip(Arc::new(UInt64Array::from(vec![Some(u64::MAX), None])));
        round_trip(Arc::new(Float64Array::from(vec![
            Some(f64::NAN),
            Some(-0.0),
            None,
            Some(1e300),
        ])));
        round_trip(Arc::new(Date32Array::from(vec![Some(19000), None])));
        round_trip(Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None])
                .with_timezone("+08:00"),
        ));
        round_trip(Arc::new(
            Decimal128Array::from(vec![Some(12345), None, Some(-1)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ));
        // A sliced array reads from its offset.
        let a: ArrayRef = Arc::new(Int16Array::from(vec![1, 2, 3, 4]));
        round_trip(a.slice(1, 2));
    }

    #[test]
    fn wrong_widths_are_errors() {
        assert!(build_array(&DataType::Int32, &[Some(vec![1, 2])]).is_err());
        assert!(build_array(&DataType::Boolean, &[Some(vec![7])]).is_err());
        assert!(build_array(&DataType::Utf8, &[Some(vec![0xff])]).is_err());
        assert!(!supported(&DataType::List(Arc::new(
            arrow::datatypes::Field::new("x", DataType::Int8, true)
        ))));
    }
}
