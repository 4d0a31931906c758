//! `postProcessSemanticSegmentation`: logits in, one int32 label map per image out; and
//! `postProcessDepthEstimation`: predicted depth in, one resized map and its picture per image out;
//! both off the JS thread.

use beit::image::{depth_to_u8, post_process_depth_estimation, post_process_semantic_segmentation};
use beit::Tensor;
use napi::bindgen_prelude::{AsyncTask, Int32Array, Uint8Array};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::guard;
use crate::tensor::{to_tensor, HostTensor, NativeTensor, NativeTensorInput};

/// An int32 tensor handed back to JS (label maps, class ids).
#[napi(object)]
pub struct NativeIntTensor {
    pub dims: Vec<u32>,
    pub data: Int32Array,
}

pub struct PostProcessTask {
    logits: Tensor,
    target_sizes: Option<Vec<(usize, usize)>>,
}

impl Task for PostProcessTask {
    type Output = Vec<(Vec<usize>, Vec<i32>)>;
    type JsValue = Vec<NativeIntTensor>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            let maps = post_process_semantic_segmentation(&self.logits, self.target_sizes.as_deref())?;
            maps.iter()
                .map(|m| {
                    let ids: Vec<u32> = m.flatten_all()?.to_vec1()?;
                    Ok((m.dims().to_vec(), ids.into_iter().map(|v| v as i32).collect()))
                })
                .collect()
        })
    }

    fn resolve(&mut self, _env: Env, maps: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(maps
            .into_iter()
            .map(|(dims, data)| NativeIntTensor {
                dims: dims.into_iter().map(|d| d as u32).collect(),
                data: Int32Array::new(data),
            })
            .collect())
    }
}

/// `[[height, width], ...]` from JS.
fn sizes(given: &[Vec<u32>]) -> beit::Result<Vec<(usize, usize)>> {
    given
        .iter()
        .map(|s| match s.as_slice() {
            [h, w] => Ok((*h as usize, *w as usize)),
            other => Err(beit::BeitError::Shape(format!(
                "each target size must be [height, width], got {other:?}"
            ))),
        })
        .collect()
}

/// Resizes segmentation logits to each target size (bilinear) and takes the arg-max class.
#[napi(ts_return_type = "Promise<Array<NativeIntTensor>>")]
pub fn post_process_semantic_segmentation_native(
    logits: NativeTensorInput,
    target_sizes: Option<Vec<Vec<u32>>>,
) -> napi::Result<AsyncTask<PostProcessTask>> {
    guard(|| {
        let target_sizes = target_sizes.map(|s| sizes(&s)).transpose()?;
        Ok(AsyncTask::new(PostProcessTask {
            logits: to_tensor(&logits, "logits")?,
            target_sizes,
        }))
    })
}

/// Writes an int32 `[height, width]` label map as a colour PNG (one fixed colour per class).
#[napi]
pub fn write_label_map_png(map: NativeTensorInput, path: String) -> napi::Result<()> {
    guard(|| {
        let [h, w] = map.dims[..] else {
            return Err(beit::BeitError::Shape(format!(
                "a label map has dims [height, width], got {:?}",
                map.dims
            )));
        };
        let ids: Vec<i64> = to_tensor(&map, "labelMap")?.flatten_all()?.to_vec1()?;
        let ids: Vec<i32> = ids.into_iter().map(|v| v as i32).collect();
        beit::image::colorize::write_label_map_png(
            &ids,
            (h as usize, w as usize),
            std::path::Path::new(&path),
        )
    })
}

/// One image's depth: the map at the target size, and its 8-bit picture.
#[napi(object)]
pub struct NativeDepth {
    pub predicted_depth: NativeTensor,
    pub depth: Uint8Array,
}

pub struct DepthTask {
    predicted_depth: Tensor,
    target_sizes: Option<Vec<(usize, usize)>>,
}

impl Task for DepthTask {
    type Output = Vec<(HostTensor, Vec<u8>)>;
    type JsValue = Vec<NativeDepth>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            let depths = post_process_depth_estimation(&self.predicted_depth, self.target_sizes.as_deref())?;
            depths
                .iter()
                .map(|d| Ok((HostTensor::from_tensor(d)?, depth_to_u8(d)?)))
                .collect()
        })
    }

    fn resolve(&mut self, _env: Env, depths: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(depths
            .into_iter()
            .map(|(depth, picture)| NativeDepth {
                predicted_depth: depth.into_js(),
                depth: Uint8Array::new(picture),
            })
            .collect())
    }
}

/// Resizes each predicted depth map to its target size (bicubic) and pictures it in 8 bits.
#[napi(ts_return_type = "Promise<Array<NativeDepth>>")]
pub fn post_process_depth_estimation_native(
    predicted_depth: NativeTensorInput,
    target_sizes: Option<Vec<Vec<u32>>>,
) -> napi::Result<AsyncTask<DepthTask>> {
    guard(|| {
        Ok(AsyncTask::new(DepthTask {
            predicted_depth: to_tensor(&predicted_depth, "predictedDepth")?,
            target_sizes: target_sizes.map(|s| sizes(&s)).transpose()?,
        }))
    })
}

/// Writes an 8-bit `[height, width]` depth picture as a grey PNG.
#[napi]
pub fn write_depth_png(picture: Uint8Array, height: u32, width: u32, path: String) -> napi::Result<()> {
    guard(|| {
        beit::image::colorize::write_gray_png(
            &picture,
            (height as usize, width as usize),
            std::path::Path::new(&path),
        )
    })
}
