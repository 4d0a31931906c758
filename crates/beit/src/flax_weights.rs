//! A Flax checkpoint (`flax_model.msgpack`) behind a `VarBuilder` that the models ask with
//! PyTorch's names, as transformers' `load_flax_weights_in_pytorch_model` converts them: a
//! `kernel` is a linear layer's weight transposed (Flax keeps `[in, out]`) or a convolution's
//! permuted from HWIO to OIHW, a LayerNorm's `scale` is its weight, an embedding's `embedding` its
//! weight, a BatchNorm's `mean` and `var` its running statistics; every other name is the same,
//! with `/` for `.`. The file is memory-mapped; each tensor is copied out when asked for (and its
//! pages given back), during the load only.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use memmap2::Mmap;

use crate::error::{BeitError, Result};
use crate::flax_msgpack::{read_flax_arrays, FlaxArray};
use crate::pages::release_pages;

/// The file transformers reads when a checkpoint has only Flax weights.
pub const FLAX: &str = "flax_model.msgpack";

/// How an array is laid out against the PyTorch tensor asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Same,
    /// `[in, out]` for `[out, in]`.
    Transposed,
    /// `[kh, kw, in, out]` for `[out, in, kh, kw]`.
    Hwio,
}

pub struct FlaxTensors {
    map: Mmap,
    arrays: HashMap<String, FlaxArray>,
    path: PathBuf,
}

/// The Flax checkpoint at `path`, read as tensors of `dtype` on `device`.
pub fn open_flax(path: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let file = File::open(path).map_err(|e| BeitError::io(path, e))?;
    // SAFETY: mapped read-only and read while the model loads only, as the safetensors maps are
    // (weights.rs); a truncation during the load would fault that read.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| BeitError::io(path, e))?;
    let arrays = read_flax_arrays(&map).map_err(|e| e.in_file(path))?;
    let tensors = FlaxTensors {
        map,
        arrays,
        path: path.to_path_buf(),
    };
    Ok(VarBuilder::from_backend(Box::new(tensors), dtype, device.clone()))
}

impl FlaxTensors {
    /// The array for PyTorch's tensor `name`, and how it is laid out.
    fn resolve(&self, name: &str) -> Option<(&FlaxArray, Layout)> {
        let (stem, leaf) = name.rsplit_once('.').unwrap_or(("", name));
        let stem = stem.replace('.', "/");
        let at = |leaf: &str| {
            let key = if stem.is_empty() {
                leaf.to_string()
            } else {
                format!("{stem}/{leaf}")
            };
            self.arrays.get(&key)
        };
        match leaf {
            "weight" => {
                if let Some(kernel) = at("kernel") {
                    let layout = match kernel.shape.len() {
                        4 => Layout::Hwio,
                        2 => Layout::Transposed,
                        _ => Layout::Same,
                    };
                    return Some((kernel, layout));
                }
                at("scale").or_else(|| at("embedding")).map(|a| (a, Layout::Same))
            }
            "running_mean" => at("mean").map(|a| (a, Layout::Same)),
            "running_var" => at("var").map(|a| (a, Layout::Same)),
            _ => at(leaf).map(|a| (a, Layout::Same)),
        }
    }

    fn read(
        &self,
        name: &str,
        shape: Option<&Shape>,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let (array, layout) = self
            .resolve(name)
            .ok_or_else(|| candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            })?;
        let bytes = &self.map[array.data.clone()];
        let raw = Tensor::from_raw_buffer(bytes, array.dtype, &array.shape, &Device::Cpu)?;
        release_pages(bytes);
        let t = match layout {
            Layout::Same => raw,
            Layout::Transposed => raw.t()?,
            Layout::Hwio => raw.permute((3, 2, 0, 1))?,
        };
        if let Some(shape) = shape {
            if t.shape() != shape {
                candle_core::bail!(
                    "shape mismatch for {name}: {} has {:?} (in PyTorch's layout), the model expects {:?}",
                    self.path.display(),
                    t.dims(),
                    shape.dims()
                );
            }
        }
        t.contiguous()?.to_dtype(dtype)?.to_device(dev)
    }
}

impl SimpleBackend for FlaxTensors {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.read(name, Some(&shape), dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.read(name, None, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }
}
