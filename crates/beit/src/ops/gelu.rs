//! The exact (erf) GELU, `x/2 * (1 + erf(x/sqrt(2)))`, as HF's `gelu`.
//!
//! candle's CPU version evaluates libm's scalar `erff` on one thread: at batch 8 it took 39 ms of
//! each BEiT-base layer's 300 (profile in bench/README.md). This one splits the tensor across the
//! rayon pool and uses a rational approximation of erf that the compiler vectorizes, with AVX2
//! where the CPU has it (the approximation of Eigen and XLA for float32: erf is +-1 to float
//! precision beyond |x| = 4, and within a few ulps inside), so f32 results stay within about 1e-7
//! of the exact function.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::ops::cpu_data::is_cpu_f32;
use crate::ops::simd::dispatch;

/// Elements per parallel task, at most: large enough that splitting costs nothing measurable.
const CHUNK: usize = 1 << 14;

/// Elements per parallel task of `len` for `threads` threads: `CHUNK`, or smaller where that would
/// leave threads without eight tasks each to even out (fc1's 605 thousand values of one image make
/// 37 tasks of `CHUNK`, too few for 64 threads), in whole vectors of 16.
pub(crate) fn chunk_len(len: usize, threads: usize) -> usize {
    len.div_ceil(8 * threads.max(1))
        .next_multiple_of(16)
        .clamp(256, CHUNK)
}

/// GELU (erf form) of `xs`, elementwise.
pub fn gelu_erf(xs: &Tensor) -> candle_core::Result<Tensor> {
    if is_cpu_f32(xs) {
        xs.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        gelu_erf_slow(xs)
    }
}

/// Reference: candle's GELU (libm `erff`, one thread).
pub fn gelu_erf_slow(xs: &Tensor) -> candle_core::Result<Tensor> {
    xs.gelu_erf()
}

/// erf for f32, as Eigen's `generic_fast_erf_float`.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    const ALPHA: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600_1e-3,
        -1.609_603_3e-2,
    ];
    const BETA: [f32; 5] = [
        -1.456_607_2e-5,
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329_3e-3,
        -1.426_474e-2,
    ];
    // max/min rather than clamp: they map to vmaxps/vminps and the loop vectorizes (5x faster).
    // A NaN input still gives NaN: the caller multiplies by x.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-4.0).min(4.0);
    let x2 = x * x;
    let mut p = ALPHA[0];
    for a in &ALPHA[1..] {
        p = p * x2 + a;
    }
    let mut q = BETA[0];
    for b in &BETA[1..] {
        q = q * x2 + b;
    }
    x * p / q
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "beit-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(all) = storage else {
            candle_core::bail!("beit-gelu-erf: expected f32, got {:?}", storage.dtype());
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("beit-gelu-erf: the input must be contiguous");
        };
        let input = &all[start..end];
        // Written once without zeroing first (a memset of the largest activation of each layer).
        let mut output = Vec::with_capacity(input.len());
        let chunk = chunk_len(input.len(), rayon::current_num_threads());
        output.spare_capacity_mut()[..input.len()]
            .par_chunks_mut(chunk)
            .zip(input.par_chunks(chunk))
            .for_each(|(out, x)| {
                dispatch(
                    #[inline(always)]
                    || {
                        for (o, &v) in out.iter_mut().zip(x) {
                            o.write(0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2)));
                        }
                    },
                )
            });
        // SAFETY: the loop above wrote every value.
        unsafe { output.set_len(input.len()) };
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}
