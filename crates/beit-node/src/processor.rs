//! `NativeImageProcessor`: the crate's `BeitImageProcessor` behind a JS class; `preprocess` runs on
//! the libuv thread pool (and decodes the batch in parallel there).

use std::path::PathBuf;
use std::sync::Arc;

use beit::image::{BeitImageProcessor, ImageProcessorConfig, ImageSource, ProcessedBatch};
use beit::BeitError;
use napi::bindgen_prelude::{AsyncTask, Buffer, Int32Array};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::guard;
use crate::postprocess::NativeIntTensor;
use crate::tensor::{HostTensor, NativeTensor};

/// One image: a `path`, the `bytes` of an encoded file (with the `name` errors give it: its URL), or
/// raw `data` with its geometry.
#[napi(object)]
pub struct NativeImageInput {
    pub path: Option<String>,
    pub bytes: Option<Buffer>,
    pub name: Option<String>,
    pub data: Option<Buffer>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub channels: Option<u32>,
}

/// What `preprocess` resolves with.
#[napi(object)]
pub struct NativeProcessed {
    pub pixel_values: NativeTensor,
    pub labels: Option<NativeIntTensor>,
    /// `[height, width]` of each image as decoded.
    pub original_sizes: Vec<Vec<u32>>,
}

fn to_source(input: &NativeImageInput, index: usize) -> beit::Result<ImageSource> {
    match (&input.path, &input.bytes, &input.data) {
        (Some(p), None, None) => Ok(ImageSource::Path(PathBuf::from(p))),
        (None, Some(b), None) => Ok(match &input.name {
            Some(name) => ImageSource::Named {
                name: name.clone(),
                bytes: b.to_vec(),
            },
            None => ImageSource::Encoded(b.to_vec()),
        }),
        (None, None, Some(d)) => match (input.width, input.height, input.channels) {
            (Some(w), Some(h), Some(c)) => Ok(ImageSource::Raw {
                data: d.to_vec(),
                width: w as usize,
                height: h as usize,
                channels: c as usize,
            }),
            _ => Err(BeitError::Image(format!("image {index}: raw pixels need width, height and channels"))),
        },
        _ => Err(BeitError::Image(format!(
            "image {index}: give a file path, a Buffer of an encoded image, or {{ data, width, height, channels }}"
        ))),
    }
}

/// Decoded `(height, width)` sizes as JS takes them, `[height, width]` each.
pub fn sizes_to_js(sizes: &[(usize, usize)]) -> Vec<Vec<u32>> {
    sizes.iter().map(|&(h, w)| vec![h as u32, w as u32]).collect()
}

pub fn to_sources(inputs: &[NativeImageInput]) -> beit::Result<Vec<ImageSource>> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| to_source(input, i))
        .collect()
}

pub struct PreprocessTask {
    processor: Arc<BeitImageProcessor>,
    images: Vec<ImageSource>,
    maps: Option<Vec<ImageSource>>,
}

pub struct HostProcessed {
    pixel_values: HostTensor,
    labels: Option<(Vec<u32>, Vec<i32>)>,
    original_sizes: Vec<Vec<u32>>,
}

impl HostProcessed {
    fn from_batch(batch: ProcessedBatch) -> beit::Result<Self> {
        let labels = match batch.labels {
            Some(l) => {
                let ids: Vec<i64> = l.flatten_all()?.to_vec1()?;
                Some((
                    l.dims().iter().map(|&d| d as u32).collect(),
                    ids.into_iter().map(|v| v as i32).collect(),
                ))
            }
            None => None,
        };
        Ok(Self {
            pixel_values: HostTensor::from_tensor(&batch.pixel_values)?,
            labels,
            original_sizes: sizes_to_js(&batch.original_sizes),
        })
    }
}

impl Task for PreprocessTask {
    type Output = HostProcessed;
    type JsValue = NativeProcessed;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| HostProcessed::from_batch(self.processor.preprocess(&self.images, self.maps.as_deref())?))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(NativeProcessed {
            pixel_values: out.pixel_values.into_js(),
            labels: out.labels.map(|(dims, data)| NativeIntTensor {
                dims,
                data: Int32Array::new(data),
            }),
            original_sizes: out.original_sizes,
        })
    }
}

#[napi]
pub struct NativeImageProcessor {
    inner: Arc<BeitImageProcessor>,
}

fn with_limit(config: ImageProcessorConfig, max_pixels: Option<f64>) -> NativeImageProcessor {
    let mut processor = BeitImageProcessor::new(config);
    if let Some(limit) = max_pixels {
        processor.max_pixels = limit.max(0.0) as u64;
    }
    NativeImageProcessor {
        inner: Arc::new(processor),
    }
}

impl NativeImageProcessor {
    /// The crate's processor, for a model to preprocess on its own device (`prepareImages`).
    pub fn processor(&self) -> Arc<BeitImageProcessor> {
        self.inner.clone()
    }
}

#[napi]
impl NativeImageProcessor {
    /// A processor from a (partial) `preprocessor_config.json` in JSON; HF's defaults fill the rest.
    #[napi(factory)]
    pub fn from_config_json(json: String, max_pixels: Option<f64>) -> napi::Result<Self> {
        guard(|| {
            Ok(with_limit(
                ImageProcessorConfig::from_json_str(&json)?,
                max_pixels,
            ))
        })
    }

    /// A processor from a checkpoint directory's `preprocessor_config.json`.
    #[napi(factory)]
    pub fn from_pretrained(dir: String, max_pixels: Option<f64>) -> napi::Result<Self> {
        guard(|| {
            Ok(with_limit(
                ImageProcessorConfig::from_pretrained(&dir)?,
                max_pixels,
            ))
        })
    }

    /// The complete config as HF-style JSON.
    #[napi]
    pub fn config_json(&self) -> String {
        self.inner.config.to_json_string()
    }

    /// Decodes and processes a batch (and its segmentation maps) off the JS thread.
    #[napi(ts_return_type = "Promise<NativeProcessed>")]
    pub fn preprocess(
        &self,
        images: Vec<NativeImageInput>,
        segmentation_maps: Option<Vec<NativeImageInput>>,
    ) -> napi::Result<AsyncTask<PreprocessTask>> {
        guard(|| {
            Ok(AsyncTask::new(PreprocessTask {
                processor: self.inner.clone(),
                images: to_sources(&images)?,
                maps: segmentation_maps.as_deref().map(to_sources).transpose()?,
            }))
        })
    }
}
