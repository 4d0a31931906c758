//! `torch.nn.functional.interpolate` for 4-D tensors with `align_corners=False`: bilinear (for the
//! relative position bias tables) and bicubic with A = -0.75 (for absolute position embeddings).
//!
//! Both are separable, so each is written as two small matmuls with interpolation matrices:
//! `out = Mh · x · Mwᵀ`. That runs on any device and dtype with no kernel of its own, and the
//! matrices carry torch's exact source-index arithmetic, including its border clamping.

use candle_core::{DType, Tensor};

/// Bilinear resize of `[N, C, H, W]` to `[N, C, out_h, out_w]`, as torch with align_corners=False.
pub fn resize_bilinear(xs: &Tensor, out_h: usize, out_w: usize) -> candle_core::Result<Tensor> {
    resize_separable(xs, out_h, out_w, bilinear_weights)
}

/// Bicubic resize (A = -0.75) of `[N, C, H, W]`, as torch with align_corners=False.
pub fn resize_bicubic(xs: &Tensor, out_h: usize, out_w: usize) -> candle_core::Result<Tensor> {
    resize_separable(xs, out_h, out_w, bicubic_weights)
}

type WeightFn = fn(usize, usize) -> Vec<f32>;

fn resize_separable(
    xs: &Tensor,
    out_h: usize,
    out_w: usize,
    weights: WeightFn,
) -> candle_core::Result<Tensor> {
    let (_, _, in_h, in_w) = xs.dims4()?;
    if (in_h, in_w) == (out_h, out_w) {
        return Ok(xs.clone());
    }
    let dtype = xs.dtype();
    let x = xs.to_dtype(DType::F32)?;
    let mh = Tensor::from_vec(weights(in_h, out_h), (out_h, in_h), xs.device())?;
    let mw_t = Tensor::from_vec(weights(in_w, out_w), (out_w, in_w), xs.device())?.t()?;
    let rows = x.broadcast_matmul(&mw_t.contiguous()?)?;
    mh.broadcast_matmul(&rows)?.to_dtype(dtype)
}

/// torch's `area_pixel_compute_source_index` for align_corners=False.
fn source_index(dst: usize, in_size: usize, out_size: usize) -> f64 {
    let scale = in_size as f64 / out_size as f64;
    scale * (dst as f64 + 0.5) - 0.5
}

/// Row-major `[out, in]` matrix of bilinear weights.
fn bilinear_weights(in_size: usize, out_size: usize) -> Vec<f32> {
    let mut m = vec![0f32; out_size * in_size];
    for o in 0..out_size {
        let src = source_index(o, in_size, out_size).max(0.0);
        let i0 = (src.floor() as usize).min(in_size - 1);
        let i1 = (i0 + 1).min(in_size - 1);
        let l1 = (src - i0 as f64) as f32;
        m[o * in_size + i0] += 1.0 - l1;
        m[o * in_size + i1] += l1;
    }
    m
}

const CUBIC_A: f64 = -0.75;

fn cubic_near(x: f64) -> f64 {
    ((CUBIC_A + 2.0) * x - (CUBIC_A + 3.0)) * x * x + 1.0
}

fn cubic_far(x: f64) -> f64 {
    ((CUBIC_A * x - 5.0 * CUBIC_A) * x + 8.0 * CUBIC_A) * x - 4.0 * CUBIC_A
}

/// Row-major `[out, in]` matrix of bicubic weights; taps beyond the border fold onto the edge.
fn bicubic_weights(in_size: usize, out_size: usize) -> Vec<f32> {
    let mut m = vec![0f32; out_size * in_size];
    let last = in_size as i64 - 1;
    for o in 0..out_size {
        let src = source_index(o, in_size, out_size);
        let base = src.floor();
        let t = src - base;
        let taps = [
            cubic_far(t + 1.0),
            cubic_near(t),
            cubic_near(1.0 - t),
            cubic_far(2.0 - t),
        ];
        for (k, w) in taps.iter().enumerate() {
            let i = (base as i64 - 1 + k as i64).clamp(0, last) as usize;
            m[o * in_size + i] += *w as f32;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_rows_sum_to_one_and_match_torch_corners() {
        let m = bilinear_weights(3, 5);
        for row in m.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        // torch: upsampling 3 -> 5, output 0 reads input 0 only (source index clamped at 0).
        assert_eq!(&m[0..3], &[1.0, 0.0, 0.0]);
    }

    #[test]
    fn bicubic_identity_when_sizes_match() {
        let m = bicubic_weights(4, 4);
        for o in 0..4 {
            for i in 0..4 {
                assert_eq!(m[o * 4 + i], if o == i { 1.0 } else { 0.0 });
            }
        }
    }
}
