//! Depth post-processing: `DPTImageProcessor.post_process_depth_estimation` (each predicted depth
//! resized to a target size, bicubic with align_corners=False as torch does it) and the 8-bit
//! picture HF's depth-estimation pipeline makes of it (`(d - min) / (max - min) * 255`, in f32,
//! truncated to u8 as numpy's `astype("uint8")` does).

use candle_core::{DType, Tensor};

use crate::error::{BeitError, Result};
use crate::image::postprocess::check_target;
use crate::ops::resize_bicubic;

/// `[B, h, w]` predicted depth to one `[H, W]` f32 map per image: resized to `target_sizes[i]`, or
/// as it is without target sizes.
pub fn post_process_depth_estimation(
    predicted_depth: &Tensor,
    target_sizes: Option<&[(usize, usize)]>,
) -> Result<Vec<Tensor>> {
    let [b, _, _] = predicted_depth.dims() else {
        return Err(BeitError::Shape(format!(
            "predicted depth must have 3 dims [batch, height, width], got {:?}",
            predicted_depth.dims()
        )));
    };
    let depth = predicted_depth.to_dtype(DType::F32)?;
    let Some(sizes) = target_sizes else {
        return (0..*b).map(|i| Ok(depth.get(i)?)).collect();
    };
    if sizes.len() != *b {
        return Err(BeitError::Shape(format!(
            "targetSizes lists {} sizes for a batch of {b} depth maps: give one [height, width] per image",
            sizes.len()
        )));
    }
    sizes
        .iter()
        .enumerate()
        .map(|(i, &(h, w))| {
            check_target(i, h, w)?;
            let one = depth.get(i)?.unsqueeze(0)?.unsqueeze(0)?;
            Ok(resize_bicubic(&one, h, w)?.squeeze(0)?.squeeze(0)?)
        })
        .collect()
}

/// A depth map as HF's pipeline's 8-bit picture of it: 0 at the minimum, 255 at the maximum
/// (all 0 for a constant map, where numpy would divide 0 by 0).
pub fn depth_to_u8(depth: &Tensor) -> Result<Vec<u8>> {
    let values: Vec<f32> = depth.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let (min, max) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = max - min;
    if !(range > 0.0 && range.is_finite()) {
        return Ok(vec![0; values.len()]);
    }
    Ok(values
        .iter()
        .map(|&v| ((v - min) / range * 255.0) as u8)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy: `((np.float32([1, 2, 3.5]) - 1) / 2.5 * 255).astype("uint8")` is [0, 102, 255].
    #[test]
    fn the_picture_spans_0_to_255_and_truncates_as_numpy() {
        let depth = Tensor::new(&[[1f32, 2.0, 3.5]], &candle_core::Device::Cpu).unwrap();
        assert_eq!(depth_to_u8(&depth).unwrap(), [0, 102, 255]);
        let flat = Tensor::new(&[[2f32, 2.0]], &candle_core::Device::Cpu).unwrap();
        assert_eq!(depth_to_u8(&flat).unwrap(), [0, 0]);
    }
}
