//! x86-64's kernels and, per format, the table of those a `CpuLevel` runs. A level is at most what
//! the CPU has (`cpu::level::detected`), so every kernel a table gives may run.

pub mod amx;
pub mod avx2;
pub mod avx512;
pub mod sse;

pub(crate) use sse::{interleave_fours, prefetch_l2};

use crate::cpu::bf16_attention::kernels::AttentionKernels;
use crate::cpu::gemm::tile_unit::TileUnit;
use crate::cpu::gemm::{bf16, f32, int8};
use crate::cpu::level::{has_avx512_bf16, CpuLevel};

/// The float32 kernels of `level`: AVX2 and FMA one tile a call, AVX-512 two.
pub(crate) fn f32_kernels(level: CpuLevel) -> f32::F32Kernels {
    f32::F32Kernels {
        tile: (level >= CpuLevel::Avx2).then_some(avx2::f32::microkernel as _),
        pair: (level >= CpuLevel::Avx512).then_some(avx512::f32::microkernel as _),
    }
}

/// The int8 kernels of `level`.
pub(crate) fn int8_kernels(level: CpuLevel) -> int8::Int8Kernels {
    let (sums, direct): (int8::SumsKernel, Option<int8::DirectKernel>) = match level {
        CpuLevel::Avx512 | CpuLevel::Amx => (avx512::int8::microkernel, Some(avx512::int8::microkernel_into)),
        CpuLevel::AvxVnni => (
            avx2::int8::microkernel_vnni,
            Some(avx2::int8::microkernel_into_vnni),
        ),
        CpuLevel::Avx2 => (avx2::int8::microkernel, Some(avx2::int8::microkernel_into)),
        CpuLevel::Scalar | CpuLevel::Neon | CpuLevel::Mmla => (int8::sums_portable, None),
    };
    int8::Int8Kernels {
        sums,
        direct,
        pairs: (level == CpuLevel::Avx512).then_some(avx512::int8::pair_microkernel_into as _),
        tile_unit: (level == CpuLevel::Amx).then_some(int8::Int8TileUnit {
            unit: TileUnit {
                // Blocks cut at one step of 16 rows, not at the 32 of a quad: one image's 197
                // rows then share out among many threads (`cpu::thread_shares`).
                rows: amx::ROWS,
                k_step: <amx::Int8 as amx::Operands>::K_STEP,
                run: amx::tile_unit::<amx::Int8>,
            },
            epilogue: avx512::int8::epilogue_from::<{ amx::ROWS }>,
        }),
    }
}

/// The bf16 kernels of `level`: `vdpbf16ps` only where the CPU has AVX512_BF16 (an AVX-512 CPU
/// without it, Ice Lake, runs the AVX2 kernels).
pub(crate) fn bf16_kernels(level: CpuLevel) -> bf16::Bf16Kernels {
    let dot = level >= CpuLevel::Avx512 && has_avx512_bf16();
    let sums: bf16::SumsKernel = match level {
        _ if dot => avx512::bf16::microkernel,
        CpuLevel::Scalar | CpuLevel::Neon | CpuLevel::Mmla => bf16::sums_portable,
        _ => avx2::bf16::microkernel,
    };
    bf16::Bf16Kernels {
        sums,
        pairs: (dot && level == CpuLevel::Avx512).then_some(avx512::bf16::pair_microkernel as _),
        tile_unit: (level == CpuLevel::Amx).then_some(TileUnit {
            rows: amx::ROWS,
            k_step: <amx::Bf16 as amx::Operands>::K_STEP,
            run: amx::tile_unit::<amx::Bf16>,
        }),
    }
}

/// Attention's bf16 kernels at `level`, where the CPU multiplies bf16: on the tile unit at `Amx`,
/// with `vdpbf16ps` on AVX512_BF16 below it.
pub(crate) fn bf16_attention_kernels(level: CpuLevel) -> Option<AttentionKernels> {
    if level < CpuLevel::Avx512 || !has_avx512_bf16() {
        return None;
    }
    let tiles = level == CpuLevel::Amx;
    Some(AttentionKernels {
        step: if tiles {
            <amx::Bf16 as amx::Operands>::K_STEP
        } else {
            2
        },
        round_rows: avx512::bf16_attention::round_rows,
        pack_keys: avx512::bf16_attention::pack_keys,
        pack_values: avx512::bf16_attention::pack_values,
        products: if tiles {
            amx::bf16_attention_products
        } else {
            avx512::bf16_attention::products
        },
    })
}

/// Runs `body` in a function compiled with AVX-512 or with AVX2 and FMA, as `level` allows: the
/// vectorizable loops of `ops::simd::dispatch`.
#[inline(always)]
pub fn dispatch<R>(level: CpuLevel, body: impl FnOnce() -> R) -> R {
    // SAFETY (both): the level is at most what the CPU has.
    if level >= CpuLevel::Avx512 {
        return unsafe { with_avx512(body) };
    }
    if level >= CpuLevel::Avx2 {
        return unsafe { with_avx2_fma(body) };
    }
    body()
}

#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2_fma<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn with_avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}
