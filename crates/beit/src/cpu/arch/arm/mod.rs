//! arm64's kernels and, per format, the table of those a `CpuLevel` runs (below NEON, the portable
//! table). A level is at most what
//! the CPU has (`cpu::level::detected`), so every kernel a table gives may run.

pub mod mmla;
pub mod neon;
#[path = "../portable.rs"]
mod portable;

pub(crate) use portable::{dispatch, interleave_fours, prefetch_l2};

use crate::cpu::bf16_attention::kernels::{self as bf16_attention, AttentionKernels};
use crate::cpu::gemm::tile_layout::NR;
use crate::cpu::gemm::{bf16, f32, int8};
use crate::cpu::level::{has_dotprod, CpuLevel};

const _: () = assert!(
    int8::MR == mmla::MR && bf16::MR == mmla::MR,
    "the Mmla kernels' sums are a row group's"
);

/// The float32 kernels of `level`: NEON one tile a call.
pub(crate) fn f32_kernels(level: CpuLevel) -> f32::F32Kernels {
    match level {
        CpuLevel::Neon | CpuLevel::Mmla => f32::F32Kernels {
            tile: Some(neon::f32::microkernel),
            pair: None,
        },
        _ => portable::f32_kernels(level),
    }
}

/// The int8 kernels of `level`: `smmla` at `Mmla`, `sdot` where the CPU has the dot product
/// extension, the portable kernel otherwise. No kernel with the epilogue in registers, no pairs,
/// no tile unit.
pub(crate) fn int8_kernels(level: CpuLevel) -> int8::Int8Kernels {
    let sums: int8::SumsKernel = match level {
        CpuLevel::Mmla => int8_mmla,
        CpuLevel::Neon if has_dotprod() => neon::int8::microkernel,
        _ => return portable::int8_kernels(level),
    };
    int8::Int8Kernels {
        sums,
        direct: None,
        pairs: None,
        tile_unit: None,
    }
}

/// The bf16 kernels of `level`: `bfmmla` at `Mmla`, NEON's f32 arithmetic at `Neon`.
pub(crate) fn bf16_kernels(level: CpuLevel) -> bf16::Bf16Kernels {
    let sums: bf16::SumsKernel = match level {
        CpuLevel::Mmla => bf16_mmla,
        CpuLevel::Neon => neon::bf16::microkernel,
        _ => return portable::bf16_kernels(level),
    };
    bf16::Bf16Kernels {
        sums,
        pairs: None,
        tile_unit: None,
    }
}

/// Attention's bf16 kernels at `level`: `bfmmla` at `Mmla`; none below (without bf16
/// arithmetic, widening the pairs costs more than the f32 matmuls it would replace).
pub(crate) fn bf16_attention_kernels(level: CpuLevel) -> Option<AttentionKernels> {
    if level != CpuLevel::Mmla {
        return portable::bf16_attention_kernels(level);
    }
    Some(AttentionKernels {
        step: mmla::bf16_attention::STEP,
        round_rows: bf16_attention::round_rows,
        pack_keys: mmla::bf16_attention::pack_keys,
        pack_values: mmla::bf16_attention::pack_values,
        products: mmla::bf16_attention::products,
    })
}

/// `mmla::int8_microkernel` over a whole tile in the pairs layout (`k_groups` even).
///
/// # Safety
/// The CPU has I8MM; as the kernel.
unsafe fn int8_mmla(args: int8::Args, sums: &mut [[i32; NR]; int8::MR]) {
    let int8::Args {
        x,
        k_pad,
        mr,
        w,
        k_groups,
    } = args;
    mmla::int8_microkernel(x, k_pad, mr, w, k_groups / 2, sums)
}

/// `mmla::bf16_microkernel` over a whole tile in the pairs layout (`k_pad` a multiple of 4).
///
/// # Safety
/// The CPU has BF16; as the kernel.
unsafe fn bf16_mmla(bf16::Args { x, k_pad, mr, w }: bf16::Args, sums: &mut [[f32; NR]; bf16::MR]) {
    mmla::bf16_microkernel(x, k_pad, mr, w, k_pad / 4, sums)
}
