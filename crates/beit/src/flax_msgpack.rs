//! The arrays of a Flax checkpoint (`flax_model.msgpack`, written by `flax.serialization.to_bytes`):
//! a msgpack map of nested maps whose leaves are arrays, each an extension value (type 1) holding
//! `[shape, dtype name, raw bytes]` (numpy scalars: type 3, `[dtype name, raw bytes]`). Read
//! without copying: each array is a byte range of the file, its size checked against its shape.
//! Flax writes arrays over 1 GiB in chunks; no BEiT tensor is that large, and chunked arrays are
//! refused by name.

use std::collections::HashMap;
use std::ops::Range;

use candle_core::DType;
use rmp::Marker;

use crate::error::{BeitError, Result};
use crate::limits::checked_product;

/// One array of the tree: its shape, dtype and bytes in the file (C order, little-endian).
#[derive(Debug, Clone, PartialEq)]
pub struct FlaxArray {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: Range<usize>,
}

/// Flax's msgpack extension types (flax/serialization.py `_MsgpackExtType`).
const EXT_NDARRAY: i8 = 1;
const EXT_NPSCALAR: i8 = 3;

/// How deep the parameter tree may nest (BEiT's is 8 deep).
const MAX_DEPTH: usize = 32;
/// The most arrays a tree may hold (BEiT-large has some 400).
const MAX_ARRAYS: usize = 1 << 16;
/// The most dims an array may have.
const MAX_DIMS: usize = 8;

fn bad<T>(at: &str, what: String) -> Result<T> {
    let at = if at.is_empty() {
        "the top level".into()
    } else {
        format!("{at:?}")
    };
    Err(BeitError::Weights(format!("flax_model.msgpack: at {at}: {what}")))
}

/// A cursor over the file's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, path: &str) -> Result<Range<usize>> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return bad(
                path,
                format!("{n} bytes declared, past the end of the file (truncated?)"),
            );
        };
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn uint(&mut self, n: usize, path: &str) -> Result<usize> {
        let range = self.take(n, path)?;
        let v = self.bytes[range]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64);
        usize::try_from(v).or_else(|_| bad(path, format!("{v} does not fit this machine")))
    }

    fn marker(&mut self, path: &str) -> Result<Marker> {
        let range = self.take(1, path)?;
        Ok(Marker::from_u8(self.bytes[range.start]))
    }

    /// A non-negative integer (msgpack's positive fixint or uint).
    fn read_uint(&mut self, path: &str) -> Result<usize> {
        match self.marker(path)? {
            Marker::FixPos(v) => Ok(v as usize),
            Marker::U8 => self.uint(1, path),
            Marker::U16 => self.uint(2, path),
            Marker::U32 => self.uint(4, path),
            Marker::U64 => self.uint(8, path),
            m => bad(path, format!("expected a dimension, found {m:?}")),
        }
    }

    fn read_str(&mut self, path: &str) -> Result<&'a str> {
        let n = match self.marker(path)? {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 => self.uint(1, path)?,
            Marker::Str16 => self.uint(2, path)?,
            Marker::Str32 => self.uint(4, path)?,
            m => return bad(path, format!("expected a string, found {m:?}")),
        };
        let range = self.take(n, path)?;
        std::str::from_utf8(&self.bytes[range]).or_else(|_| bad(path, "a name is not UTF-8".into()))
    }

    fn read_bin(&mut self, path: &str) -> Result<Range<usize>> {
        let n = match self.marker(path)? {
            Marker::Bin8 => self.uint(1, path)?,
            Marker::Bin16 => self.uint(2, path)?,
            Marker::Bin32 => self.uint(4, path)?,
            m => return bad(path, format!("expected an array's bytes, found {m:?}")),
        };
        self.take(n, path)
    }

    fn read_array_len(&mut self, path: &str) -> Result<usize> {
        match self.marker(path)? {
            Marker::FixArray(n) => Ok(n as usize),
            Marker::Array16 => self.uint(2, path),
            Marker::Array32 => self.uint(4, path),
            m => bad(path, format!("expected a list, found {m:?}")),
        }
    }
}

/// numpy's dtype names, as Flax writes them.
fn dtype_named(name: &str, path: &str) -> Result<DType> {
    Ok(match name {
        "float32" => DType::F32,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "float64" => DType::F64,
        "int64" => DType::I64,
        "int32" => DType::I32,
        "uint32" => DType::U32,
        "uint8" => DType::U8,
        other => return bad(path, format!("arrays of dtype {other:?} are not supported")),
    })
}

/// Reads the tree into arrays named by their path (`beit/encoder/layer/0/...`). A tree under
/// `params` (and `batch_stats`), as Flax models with BatchNorms save, is read without that first
/// name, as transformers does.
pub fn read_flax_arrays(bytes: &[u8]) -> Result<HashMap<String, FlaxArray>> {
    let mut cursor = Cursor { bytes, at: 0 };
    let mut arrays = HashMap::new();
    read_map(&mut cursor, "", 0, &mut arrays)?;
    if cursor.at != bytes.len() {
        return bad("", format!("{} bytes follow the tree", bytes.len() - cursor.at));
    }
    let collections = arrays
        .keys()
        .all(|k| k.starts_with("params/") || k.starts_with("batch_stats/"));
    if collections && !arrays.is_empty() {
        arrays = arrays
            .into_iter()
            .map(|(k, v)| {
                (
                    k.split_once('/').map_or(k.clone(), |(_, rest)| rest.to_string()),
                    v,
                )
            })
            .collect();
    }
    Ok(arrays)
}

fn read_map(
    cursor: &mut Cursor,
    path: &str,
    depth: usize,
    arrays: &mut HashMap<String, FlaxArray>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return bad(path, format!("the tree nests deeper than {MAX_DEPTH} levels"));
    }
    let entries = match cursor.marker(path)? {
        Marker::FixMap(n) => n as usize,
        Marker::Map16 => cursor.uint(2, path)?,
        Marker::Map32 => cursor.uint(4, path)?,
        m => return bad(path, format!("expected a map of parameters, found {m:?}")),
    };
    for _ in 0..entries {
        let key = cursor.read_str(path)?;
        if key == "__msgpack_chunked_array__" {
            return bad(path, "an array over 1 GiB, saved in chunks: not supported".into());
        }
        let child = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}/{key}")
        };
        let peek = cursor.bytes.get(cursor.at).copied().map(Marker::from_u8);
        match peek {
            Some(Marker::FixMap(_) | Marker::Map16 | Marker::Map32) => {
                read_map(cursor, &child, depth + 1, arrays)?
            }
            _ => {
                if arrays.len() >= MAX_ARRAYS {
                    return bad(&child, format!("more than {MAX_ARRAYS} arrays"));
                }
                let array = read_leaf(cursor, &child)?;
                arrays.insert(child, array);
            }
        }
    }
    Ok(())
}

/// An extension value holding an array (or a numpy scalar).
fn read_leaf(cursor: &mut Cursor, path: &str) -> Result<FlaxArray> {
    let len = match cursor.marker(path)? {
        Marker::FixExt1 => 1,
        Marker::FixExt2 => 2,
        Marker::FixExt4 => 4,
        Marker::FixExt8 => 8,
        Marker::FixExt16 => 16,
        Marker::Ext8 => cursor.uint(1, path)?,
        Marker::Ext16 => cursor.uint(2, path)?,
        Marker::Ext32 => cursor.uint(4, path)?,
        m => return bad(path, format!("expected an array, found {m:?}")),
    };
    let kind = cursor.take(1, path)?;
    let kind = cursor.bytes[kind.start] as i8;
    let payload = cursor.take(len, path)?;
    let mut inner = Cursor {
        bytes: &cursor.bytes[..payload.end],
        at: payload.start,
    };
    let array = match kind {
        EXT_NDARRAY => read_ndarray(&mut inner, path)?,
        EXT_NPSCALAR => read_scalar(&mut inner, path)?,
        other => return bad(path, format!("extension type {other} is not an array")),
    };
    if inner.at != payload.end {
        return bad(path, "the array's record has bytes beyond its data".into());
    }
    Ok(array)
}

fn read_ndarray(cursor: &mut Cursor, path: &str) -> Result<FlaxArray> {
    if cursor.read_array_len(path)? != 3 {
        return bad(path, "an array's record is not [shape, dtype, data]".into());
    }
    let dims = cursor.read_array_len(path)?;
    if dims > MAX_DIMS {
        return bad(path, format!("{dims} dims, more than {MAX_DIMS}"));
    }
    let shape = (0..dims)
        .map(|_| cursor.read_uint(path))
        .collect::<Result<Vec<_>>>()?;
    let dtype = dtype_named(cursor.read_str(path)?, path)?;
    let data = cursor.read_bin(path)?;
    check_size(&shape, dtype, &data, path)?;
    Ok(FlaxArray { shape, dtype, data })
}

fn read_scalar(cursor: &mut Cursor, path: &str) -> Result<FlaxArray> {
    if cursor.read_array_len(path)? != 2 {
        return bad(path, "a scalar's record is not [dtype, data]".into());
    }
    let dtype = dtype_named(cursor.read_str(path)?, path)?;
    let data = cursor.read_bin(path)?;
    check_size(&[], dtype, &data, path)?;
    Ok(FlaxArray {
        shape: Vec::new(),
        dtype,
        data,
    })
}

fn check_size(shape: &[usize], dtype: DType, data: &Range<usize>, path: &str) -> Result<()> {
    let want = checked_product(shape).and_then(|n| n.checked_mul(dtype.size_in_bytes() as u64));
    if want != Some(data.len() as u64) {
        return bad(
            path,
            format!(
                "shape {shape:?} of {dtype:?} needs {want:?} bytes, the file holds {}",
                data.len()
            ),
        );
    }
    Ok(())
}
