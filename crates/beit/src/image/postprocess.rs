//! `BeitImageProcessor.post_process_semantic_segmentation` (HF image_processing_beit.py): per image,
//! the logits resized bilinearly (align_corners=False) to a target size, then the arg-max class;
//! without target sizes, the arg-max at the logits' own resolution.
//!
//! The resize and the arg-max are fused, one output pixel at a time: HF materialises the resized
//! `classes x h x w` logits (7 GB for 150 classes at a 12-megapixel photo's size); here memory is
//! the label map alone. Each value is torch's `upsample_bilinear2d`: source index and weights in
//! f32, `(x00 w0 + x01 w1) h0 + (x10 w0 + x11 w1) h1`.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::error::{BeitError, Result};
use crate::limits::MAX_TARGET_PIXELS;

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
    for (i, &(h, w)) in sizes.iter().enumerate() {
        check_target(i, h, w)?;
    }
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| resized_argmax(&logits.get(i)?, size))
        .collect()
}

pub(crate) fn check_target(i: usize, h: usize, w: usize) -> Result<()> {
    if h == 0 || w == 0 {
        return Err(BeitError::Shape(format!(
            "targetSizes[{i}] is {h}x{w}; sizes must be positive"
        )));
    }
    let pixels = h as u64 * w as u64;
    if pixels > MAX_TARGET_PIXELS {
        return Err(BeitError::Shape(format!(
            "targetSizes[{i}] is {h}x{w} = {pixels} pixels, over the limit of {MAX_TARGET_PIXELS} (the \
             largest image the processor decodes by default): give the size of the image the logits are for"
        )));
    }
    Ok(())
}

/// One output coordinate's two source indices and weights, as torch computes them.
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    l0: f32,
    l1: f32,
}

/// torch's `compute_source_index_and_lambda` (align_corners=False), all in f32.
fn taps(in_size: usize, out_size: usize) -> Vec<Tap> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|dst| {
            let real = (scale * (dst as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (real as usize).min(in_size - 1);
            let i1 = if i0 < in_size - 1 { i0 + 1 } else { i0 };
            let l1 = (real - i0 as f32).min(1.0);
            Tap {
                i0,
                i1,
                l0: 1.0 - l1,
                l1,
            }
        })
        .collect()
}

/// The first index of the largest value, NaN counting as largest (torch's `argmax`).
fn argmax(values: impl Iterator<Item = f32>) -> u32 {
    let (mut best, mut best_value) = (0u32, f32::NEG_INFINITY);
    for (c, v) in values.enumerate() {
        if v > best_value || (v.is_nan() && !best_value.is_nan()) || c == 0 {
            (best, best_value) = (c as u32, v);
        }
    }
    best
}

/// `[C, H, W]` logits to the `[h, w]` arg-max of their bilinear resize.
fn resized_argmax(logits: &Tensor, (out_h, out_w): (usize, usize)) -> Result<Tensor> {
    let (classes, in_h, in_w) = logits.dims3()?;
    // Channels last, so each pixel's classes are contiguous.
    let hwc: Vec<f32> = logits
        .permute((1, 2, 0))?
        .contiguous()?
        .flatten_all()?
        .to_vec1()?;
    let (rows, cols) = (taps(in_h, out_h), taps(in_w, out_w));
    let at = |y: usize, x: usize| &hwc[(y * in_w + x) * classes..(y * in_w + x + 1) * classes];
    let mut labels = vec![0u32; out_h * out_w];
    labels
        .par_chunks_mut(out_w)
        .zip(rows.par_iter())
        .for_each(|(line, r)| {
            for (label, c) in line.iter_mut().zip(&cols) {
                let (p00, p01, p10, p11) = (at(r.i0, c.i0), at(r.i0, c.i1), at(r.i1, c.i0), at(r.i1, c.i1));
                *label = argmax((0..classes).map(|k| {
                    (p00[k] * c.l0 + p01[k] * c.l1) * r.l0 + (p10[k] * c.l0 + p11[k] * c.l1) * r.l1
                }));
            }
        });
    Ok(Tensor::from_vec(labels, (out_h, out_w), &Device::Cpu)?)
}
