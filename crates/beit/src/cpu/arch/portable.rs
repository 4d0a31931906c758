//! CPUs without kernels of their own: every format's portable kernel, at every level; arm64 below
//! its NEON level too (`arm` includes this file).

use crate::cpu::bf16_attention::kernels::AttentionKernels;
use crate::cpu::gemm::{bf16, f32, int8};
use crate::cpu::level::CpuLevel;

/// No float32 kernel: the layers' portable loop.
pub(crate) fn f32_kernels(_: CpuLevel) -> f32::F32Kernels {
    f32::F32Kernels {
        tile: None,
        pair: None,
    }
}

/// No bf16 attention: its matmuls stay f32.
pub(crate) fn bf16_attention_kernels(_: CpuLevel) -> Option<AttentionKernels> {
    None
}

/// The portable int8 kernel.
pub(crate) fn int8_kernels(_: CpuLevel) -> int8::Int8Kernels {
    int8::Int8Kernels {
        sums: int8::sums_portable,
        direct: None,
        pairs: None,
        tile_unit: None,
    }
}

/// The portable bf16 kernel.
pub(crate) fn bf16_kernels(_: CpuLevel) -> bf16::Bf16Kernels {
    bf16::Bf16Kernels {
        sums: bf16::sums_portable,
        pairs: None,
        tile_unit: None,
    }
}

/// Whole loops compiled for more than the baseline: none here; `body` as it is.
#[inline(always)]
pub fn dispatch<R>(_: CpuLevel, body: impl FnOnce() -> R) -> R {
    body()
}

/// No vector interleave of the f32 panels here: none done, the portable loop does every input.
///
/// # Safety
/// None needed; unsafe as on the CPUs that have one.
pub(crate) unsafe fn interleave_fours(_: &[&[f32]; f32::MR], _: usize, _: *mut f32) -> usize {
    0
}

/// No software prefetch here: the hardware prefetchers are left to it.
#[inline(always)]
pub fn prefetch_l2(_: *const u8) {}
