//! `BeitImageProcessor.post_process_semantic_segmentation` (HF image_processing_beit.py): per image,
//! the logits resized bilinearly (align_corners=False) to a target size, then the arg-max class;
//! without target sizes, the arg-max at the logits' own resolution.

use candle_core::{DType, Tensor};

use crate::error::{BeitError, Result};
use crate::ops::resize_bilinear;

/// `[B, C, H, W]` logits to one `[h, w]` u32 label map per image.
pub fn post_process_semantic_segmentation(
    logits: &Tensor,
    target_sizes: Option<&[(usize, usize)]>,
) -> Result<Vec<Tensor>> {
    let [b, _, _, _] = logits.dims() else {
        return Err(BeitError::Shape(format!(
            "segmentation logits must have 4 dims [batch, classes, height, width], got {:?}",
            logits.dims()
        )));
    };
    let logits = logits.to_dtype(DType::F32)?;
    let Some(sizes) = target_sizes else {
        return (0..*b).map(|i| Ok(logits.get(i)?.argmax(0)?)).collect();
    };
    if sizes.len() != *b {
        return Err(BeitError::Shape(format!(
            "targetSizes lists {} sizes for a batch of {b} images: give one [height, width] per image",
            sizes.len()
        )));
    }
    sizes
        .iter()
        .enumerate()
        .map(|(i, &(h, w))| {
            if h == 0 || w == 0 {
                return Err(BeitError::Shape(format!(
                    "targetSizes[{i}] is {h}x{w}; sizes must be positive"
                )));
            }
            let resized = resize_bilinear(&logits.narrow(0, i, 1)?, h, w)?;
            Ok(resized.get(0)?.argmax(0)?)
        })
        .collect()
}
