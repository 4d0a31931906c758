//! Pooling for the segmentation heads, as torch computes it: `AdaptiveAvgPool2d` (bins
//! `[floor(i*n/s), ceil((i+1)*n/s))`, which overlap when s does not divide n) and
//! `MaxPool2d(2, 2)` (floor: a trailing odd row or column is dropped).

use candle_core::{DType, Tensor};

/// `[N, C, H, W]` to `[N, C, out_h, out_w]`: the mean of each adaptive bin. Separable, so it is
/// written as two matmuls with averaging matrices, like the resizes in `interpolate`.
pub fn adaptive_avg_pool2d(xs: &Tensor, out_h: usize, out_w: usize) -> candle_core::Result<Tensor> {
    let (_, _, in_h, in_w) = xs.dims4()?;
    let dtype = xs.dtype();
    let x = xs.to_dtype(DType::F32)?;
    let ph = Tensor::from_vec(bin_means(in_h, out_h), (out_h, in_h), xs.device())?;
    let pw_t = Tensor::from_vec(bin_means(in_w, out_w), (out_w, in_w), xs.device())?.t()?;
    let rows = x.broadcast_matmul(&pw_t.contiguous()?)?;
    ph.broadcast_matmul(&rows)?.to_dtype(dtype)
}

/// Row-major `[out, in]`: row i averages torch's adaptive bin i.
fn bin_means(in_size: usize, out_size: usize) -> Vec<f32> {
    let mut m = vec![0f32; out_size * in_size];
    for i in 0..out_size {
        let start = i * in_size / out_size;
        let end = ((i + 1) * in_size).div_ceil(out_size);
        let w = 1.0 / (end - start) as f32;
        for j in start..end {
            m[i * in_size + j] = w;
        }
    }
    m
}

/// `MaxPool2d(kernel_size=2, stride=2)`.
pub fn max_pool2x2(xs: &Tensor) -> candle_core::Result<Tensor> {
    xs.max_pool2d_with_stride(2, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_overlap_like_torch_when_sizes_do_not_divide() {
        // torch: AdaptiveAvgPool1d(3) over 4 elements uses bins [0,2) [1,3) [2,4).
        let m = bin_means(4, 3);
        assert_eq!(
            m,
            vec![0.5, 0.5, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.5, 0.5]
        );
    }
}
