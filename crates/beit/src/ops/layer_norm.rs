//! LayerNorm over the last dimension, as `torch.nn.LayerNorm`.
//!
//! candle's fused CPU kernel computes the variance as `E[x²] - E[x]²`, which cancels badly once the
//! residual stream of a deep ViT grows a large mean; with eps = 1e-12 nothing hides that error.
//! This op takes two passes (mean, then centred variance) with f64 statistics for every dtype.

use std::mem::MaybeUninit;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Module, Shape, Tensor, WithDType, D};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::cuda_settings;
use crate::ops::simd::dispatch;

/// `y = (x - mean) / sqrt(var + eps) * weight + bias` over the last dimension of `xs`.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    // On CUDA, kernels/layer_norm.cu: the same two-pass statistics, in f32.
    if xs.device().is_cpu() || (xs.device().is_cuda() && cuda_settings::enabled()) {
        let xs = xs.contiguous()?;
        xs.apply_op3_no_bwd(&weight.contiguous()?, &bias.contiguous()?, &LayerNormOp { eps })
    } else {
        layer_norm_slow(xs, weight, bias, eps)
    }
}

/// Reference implementation from plain tensor ops (statistics in f32).
pub fn layer_norm_slow(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    let dtype = xs.dtype();
    let x = xs.to_dtype(DType::F32)?;
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps as f64)?.sqrt()?)?;
    normed
        .broadcast_mul(&weight.to_dtype(DType::F32)?)?
        .broadcast_add(&bias.to_dtype(DType::F32)?)?
        .to_dtype(dtype)
}

struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "beit-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use CpuStorage as C;
        let eps = self.eps;
        match (s1, s2, s3) {
            (C::F32(x), C::F32(w), C::F32(b)) => cpu_layer_norm(x, l1, w, l2, b, l3, eps),
            (C::F16(x), C::F16(w), C::F16(b)) => cpu_layer_norm(x, l1, w, l2, b, l3, eps),
            (C::BF16(x), C::BF16(w), C::BF16(b)) => cpu_layer_norm(x, l1, w, l2, b, l3, eps),
            _ => candle_core::bail!(
                "layer_norm: input, weight and bias must share one float dtype, got {:?}",
                s1.dtype()
            ),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        if s1.dtype() != s2.dtype() || s1.dtype() != s3.dtype() {
            candle_core::bail!("layer_norm: input, weight and bias must share one float dtype");
        }
        let y = crate::cuda::layer_norm::layer_norm((s1, l1), (s2, l2), (s3, l3), self.eps)?;
        Ok((y, l1.shape().clone()))
    }
}

fn contiguous<'a, T>(s: &'a [T], l: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s[start..end]),
        None => candle_core::bail!("layer_norm: {what} must be contiguous"),
    }
}

fn cpu_layer_norm<T: WithDType>(
    x: &[T],
    lx: &Layout,
    w: &[T],
    lw: &Layout,
    b: &[T],
    lb: &Layout,
    eps: f32,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let (x, w, b) = (
        contiguous(x, lx, "input")?,
        contiguous(w, lw, "weight")?,
        contiguous(b, lb, "bias")?,
    );
    let dim = lx.dims().last().copied().unwrap_or(1);
    if w.len() != dim || b.len() != dim {
        candle_core::bail!(
            "layer_norm: weight/bias have {} / {} elements, the input's last dim is {dim}",
            w.len(),
            b.len()
        );
    }
    let w: Vec<f32> = w.iter().map(|v| v.to_f64() as f32).collect();
    let b: Vec<f32> = b.iter().map(|v| v.to_f64() as f32).collect();
    // Written once without zeroing first: the memset was a percent of a q8 forward.
    let mut out = Vec::with_capacity(x.len());
    out.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(dim)
        .zip(x.par_chunks(dim))
        .for_each(|(dst, src)| {
            dispatch(
                #[inline(always)]
                || normalize_row(src, dst, &w, &b, eps),
            )
        });
    // SAFETY: every row was written (`normalize_row` writes each of its values).
    unsafe { out.set_len(x.len()) };
    Ok((T::to_cpu_storage_owned(out), lx.shape().clone()))
}

/// One row. Statistics in f64: a row is short, and an f32 running sum of a large-mean row loses
/// the digits that the normalisation then magnifies.
#[inline(always)]
fn normalize_row<T: WithDType>(src: &[T], dst: &mut [MaybeUninit<T>], w: &[f32], b: &[f32], eps: f32) {
    let n = src.len() as f64;
    let mean = sum_f64(src, |v| v) / n;
    let var = sum_f64(src, |v| (v - mean) * (v - mean)) / n;
    let inv_std = 1.0 / (var + eps as f64).sqrt();
    for (((d, s), w), b) in dst.iter_mut().zip(src).zip(w).zip(b) {
        let normed = ((s.to_f64() - mean) * inv_std) as f32;
        d.write(T::from_f64((normed * w + b) as f64));
    }
}

/// `sum(f(x))` in f64 over eight lanes, so that the loop vectorizes.
#[inline(always)]
fn sum_f64<T: WithDType>(xs: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v.to_f64());
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|v| f(v.to_f64())).sum();
    lanes.iter().sum::<f64>() + tail
}

/// `torch.nn.LayerNorm(size, eps)` with its `weight` and `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn new(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}
