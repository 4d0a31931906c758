//! Tensors across the boundary. In: `{ dtype, dims, data }` with the typed array's bytes as a
//! Buffer view, dims checked against the byte length before any byte is read. Out: `Float32Array`s
//! that take ownership of the Rust buffer, so results reach JS without another copy.

use beit::{BeitError, DType, Device, Tensor};
use napi::bindgen_prelude::{Buffer, Float32Array};
use napi_derive::napi;

/// A tensor handed in from JS: the bytes of a Float32Array, Int32Array or Uint8Array.
#[napi(object)]
pub struct NativeTensorInput {
    pub dtype: String,
    pub dims: Vec<u32>,
    pub data: Buffer,
}

/// A float32 tensor handed back to JS.
#[napi(object)]
pub struct NativeTensor {
    pub dtype: String,
    pub dims: Vec<u32>,
    pub data: Float32Array,
}

/// A computed tensor on the Rust side, ready to become a `NativeTensor` on the JS thread.
pub struct HostTensor {
    dims: Vec<usize>,
    data: Vec<f32>,
}

impl HostTensor {
    pub fn from_tensor(t: &Tensor) -> beit::Result<Self> {
        let dims = t.dims().to_vec();
        let data = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(Self { dims, data })
    }

    pub fn into_js(self) -> NativeTensor {
        NativeTensor {
            dtype: "float32".into(),
            dims: self.dims.iter().map(|&d| d as u32).collect(),
            data: Float32Array::new(self.data),
        }
    }
}

/// Copies a JS tensor into a CPU tensor, after checking that dims and bytes agree.
pub fn to_tensor(input: &NativeTensorInput, name: &str) -> beit::Result<Tensor> {
    let dims: Vec<usize> = input.dims.iter().map(|&d| d as usize).collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| BeitError::Shape(format!("{name}: dims {dims:?} overflow")))?;
    let width = match input.dtype.as_str() {
        "float32" | "int32" => 4,
        "uint8" => 1,
        other => {
            return Err(BeitError::Shape(format!(
                "{name} has dtype {other:?}; expected float32, int32 or uint8"
            )))
        }
    };
    let bytes: &[u8] = &input.data;
    if count.checked_mul(width) != Some(bytes.len()) {
        return Err(BeitError::Shape(format!(
            "{name}: dims {dims:?} need {count} elements, but the data holds {}",
            bytes.len() / width
        )));
    }
    let tensor = match input.dtype.as_str() {
        "float32" => Tensor::from_vec(words(bytes, f32::from_ne_bytes), dims, &Device::Cpu)?,
        "int32" => {
            // HF's labels are int64 (torch.long): one integer dtype all the way through the losses.
            let ids: Vec<i64> = words(bytes, i32::from_ne_bytes)
                .into_iter()
                .map(i64::from)
                .collect();
            Tensor::from_vec(ids, dims, &Device::Cpu)?
        }
        _ => Tensor::from_vec(bytes.to_vec(), dims, &Device::Cpu)?,
    };
    Ok(tensor)
}

fn words<T>(bytes: &[u8], read: fn([u8; 4]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(4)
        .map(|c| read([c[0], c[1], c[2], c[3]]))
        .collect()
}
