//! `NativePixels`: images preprocessed for one model and kept natively on its device, so that
//! `classify` and `segment` forward them without a round trip through JS. On CUDA the processor
//! resizes and normalizes them on the GPU (`preprocess_on`): only the decoded bytes cross the bus.

use std::sync::{Arc, Mutex};

use beit::image::{BeitImageProcessor, ImageSource};
use beit::{BeitError, Device, Tensor};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::guard;
use crate::processor::sizes_to_js;

#[napi]
pub struct NativePixels {
    pixels: Mutex<Option<Tensor>>,
    original_sizes: Vec<Vec<u32>>,
}

impl NativePixels {
    /// The pixels, once: the batch goes to the model's queue, and a second forward of it is refused.
    pub fn take(&self) -> beit::Result<Tensor> {
        self.pixels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| {
                BeitError::InvalidArgument(
                    "these prepared pixels were already forwarded or released: prepare the images again"
                        .into(),
                )
            })
    }
}

#[napi]
impl NativePixels {
    /// `[height, width]` of each image as decoded.
    #[napi(getter)]
    pub fn original_sizes(&self) -> Vec<Vec<u32>> {
        self.original_sizes.clone()
    }

    /// Frees the pixels now (device memory on CUDA) rather than when JS collects this object.
    #[napi]
    pub fn release(&self) {
        self.pixels.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Decodes and processes a batch on the libuv thread pool, the pixels made on `device`.
pub struct PrepareTask {
    pub processor: Arc<BeitImageProcessor>,
    pub images: Vec<ImageSource>,
    pub device: Device,
}

impl Task for PrepareTask {
    type Output = (Tensor, Vec<Vec<u32>>);
    type JsValue = NativePixels;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            let batch = self.processor.preprocess_on(&self.device, &self.images, None)?;
            Ok((batch.pixel_values, sizes_to_js(&batch.original_sizes)))
        })
    }

    fn resolve(&mut self, _env: Env, (pixels, original_sizes): Self::Output) -> napi::Result<Self::JsValue> {
        Ok(NativePixels {
            pixels: Mutex::new(Some(pixels)),
            original_sizes,
        })
    }
}
