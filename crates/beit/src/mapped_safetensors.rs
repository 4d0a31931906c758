//! Safetensors read through a memory map that gives each tensor's pages back once it is copied.
//!
//! candle copies every tensor out of the map into its own buffer. The mapped pages the copy reads
//! stay in the process's resident set until the map is dropped after loading, so the peak RSS
//! held the weights twice (once mapped, once copied). Releasing the pages tensor by tensor
//! (`MADV_DONTNEED` on a read-only file mapping: the page cache keeps them, a later read would
//! fault them back in) leaves one copy.

use std::sync::Arc;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::Init;

use crate::pages::release_pages;

/// One copy behind the `VarBuilder`, one in `Weights`, which packs some tensors straight from the map.
#[derive(Clone)]
pub struct MappedSafetensors(pub Arc<MmapedSafetensors>);

impl std::fmt::Debug for MappedSafetensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MappedSafetensors")
    }
}

impl MappedSafetensors {
    /// Gives back the pages of tensor `name` once nothing reads them any more.
    pub fn release(&self, name: &str) {
        if let Ok(view) = self.0.get(name) {
            release_pages(view.data());
        }
    }
}

impl SimpleBackend for MappedSafetensors {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        hint: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = SimpleBackend::get(&*self.0, shape, name, hint, dtype, dev);
        self.release(name);
        tensor
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let tensor = SimpleBackend::get_unchecked(&*self.0, name, dtype, dev);
        self.release(name);
        tensor
    }

    fn contains_tensor(&self, name: &str) -> bool {
        SimpleBackend::contains_tensor(&*self.0, name)
    }
}
