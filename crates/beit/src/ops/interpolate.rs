//! `torch.nn.functional.interpolate` for 4-D tensors with `align_corners=False`: bilinear (for the
//! relative position bias tables) and bicubic with A = -0.75 (for absolute position embeddings);
//! and bilinear with `align_corners=True`, which DPT's fusion blocks and depth head upsample with.
//!
//! Both are separable, so each is written as two small matmuls with interpolation matrices:
//! `out = Mh · x · Mwᵀ`. That runs on any device and dtype with no kernel of its own, and the
//! matrices carry torch's exact source-index arithmetic, including its border clamping. On the CPU
//! in f32, bilinear reads its two taps per direction directly instead (the dense matrices multiply
//! mostly zeros: the segmentation heads' resizes to 160x160 took 0.7 s of a 640x640 forward), in the
//! matmuls' order of operations.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::ops::cpu_data::{is_cpu_f32, with_f32};
use crate::ops::simd::dispatch;

/// Bilinear resize of `[N, C, H, W]` to `[N, C, out_h, out_w]`, as torch with align_corners=False.
pub fn resize_bilinear(xs: &Tensor, out_h: usize, out_w: usize) -> candle_core::Result<Tensor> {
    resize_two_tap(xs, out_h, out_w, bilinear_weights)
}

/// Bilinear resize of `[N, C, H, W]` to `[N, C, out_h, out_w]`, as torch with align_corners=True.
pub fn resize_bilinear_aligned(xs: &Tensor, out_h: usize, out_w: usize) -> candle_core::Result<Tensor> {
    resize_two_tap(xs, out_h, out_w, aligned_bilinear_weights)
}

/// A resize whose weight rows have at most two adjacent taps (`weights`: either bilinear).
fn resize_two_tap(xs: &Tensor, out_h: usize, out_w: usize, weights: WeightFn) -> candle_core::Result<Tensor> {
    let (n, c, in_h, in_w) = xs.dims4()?;
    if !is_cpu_f32(xs) || (in_h, in_w) == (out_h, out_w) {
        return resize_separable(xs, out_h, out_w, weights);
    }
    let (rows, cols) = (taps(in_h, out_h, weights), taps(in_w, out_w, weights));
    let mut out = vec![0f32; n * c * out_h * out_w];
    with_f32(xs, |x| {
        out.par_chunks_mut(out_h * out_w)
            .zip(x.par_chunks(in_h * in_w))
            .for_each(|(out, plane)| {
                dispatch(
                    #[inline(always)]
                    || resize_plane(plane, in_w, out, out_w, &rows, &cols),
                )
            })
    })?;
    Tensor::from_vec(out, (n, c, out_h, out_w), &Device::Cpu)
}

/// One output index's two taps `(i0, w0, i1, w1)`: the nonzero entries of its row of
/// `weights` (`w1` 0 where both taps fall on one input, at the border).
fn taps(in_size: usize, out_size: usize, weights: WeightFn) -> Vec<(usize, f32, usize, f32)> {
    weights(in_size, out_size)
        .chunks_exact(in_size)
        .map(|row| {
            let i0 = row.iter().position(|&w| w != 0.0).unwrap_or(0);
            let i1 = (i0 + 1).min(in_size - 1);
            let w1 = if i1 == i0 { 0.0 } else { row[i1] };
            (i0, row[i0], i1, w1)
        })
        .collect()
}

/// `out = Mh · plane · Mwᵀ` for one plane, with the taps for matrices: each row of the plane is
/// interpolated along the width first, then the two rows along the height.
#[inline(always)]
fn resize_plane(
    plane: &[f32],
    in_w: usize,
    out: &mut [f32],
    out_w: usize,
    rows: &[(usize, f32, usize, f32)],
    cols: &[(usize, f32, usize, f32)],
) {
    let along_w = |y: usize, &(x0, w0, x1, w1): &(usize, f32, usize, f32)| {
        let row = &plane[y * in_w..(y + 1) * in_w];
        row[x0] * w0 + row[x1] * w1
    };
    for (out_row, &(y0, v0, y1, v1)) in out.chunks_exact_mut(out_w).zip(rows) {
        for (o, col) in out_row.iter_mut().zip(cols) {
            *o = v0 * along_w(y0, col) + v1 * along_w(y1, col);
        }
    }
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

/// Row-major `[out, in]` matrix of bilinear weights with corners aligned: torch's source index
/// `dst * (in - 1) / (out - 1)`, computed in f32 as its CPU kernel does.
fn aligned_bilinear_weights(in_size: usize, out_size: usize) -> Vec<f32> {
    let mut m = vec![0f32; out_size * in_size];
    let scale = if out_size > 1 {
        (in_size as f32 - 1.0) / (out_size as f32 - 1.0)
    } else {
        0.0
    };
    for o in 0..out_size {
        let src = scale * o as f32;
        let i0 = (src as usize).min(in_size - 1);
        let i1 = (i0 + 1).min(in_size - 1);
        let l1 = src - i0 as f32;
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

    /// The direct CPU resize computes the matrices' products, up and down, non-square, in a batch.
    #[test]
    fn direct_bilinear_equals_the_matrix_form() {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 7, 10), &candle_core::Device::Cpu).unwrap();
        for (h, w) in [(16, 5), (3, 23), (7, 10), (1, 1), (14, 20)] {
            let direct = resize_bilinear(&x, h, w).unwrap();
            let matrices = resize_separable(&x, h, w, bilinear_weights).unwrap();
            let aligned = resize_bilinear_aligned(&x, h, w).unwrap();
            let aligned_matrices = resize_separable(&x, h, w, aligned_bilinear_weights).unwrap();
            let diff: f32 = ((direct - matrices).unwrap().abs().unwrap()
                + (aligned - aligned_matrices).unwrap().abs().unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
            assert!(diff < 1e-6, "{h}x{w}: {diff}");
        }
    }

    /// torch: `interpolate(arange(3), size=5, mode="bilinear", align_corners=True)` is
    /// 0, 0.5, 1, 1.5, 2: the corners map onto the corners.
    #[test]
    fn aligned_bilinear_keeps_the_corners() {
        let m = aligned_bilinear_weights(3, 5);
        let got: Vec<f32> = m.chunks(3).map(|row| row[1] + 2.0 * row[2]).collect();
        assert_eq!(got, [0.0, 0.5, 1.0, 1.5, 2.0]);
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
