//! CPUs without kernels of their own: every format's portable kernel, at every level.

use crate::cpu::gemm::{bf16, int8};
use crate::cpu::level::CpuLevel;

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
