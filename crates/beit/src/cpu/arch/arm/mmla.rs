//! The Armv8.6 matrix multiply instructions (`CpuLevel::Mmla`): `smmla` (FEAT_I8MM) for the int8
//! layers and `bfmmla` (FEAT_BF16) for the bf16 ones. Each multiplies a 2 x n block of two rows by
//! an n x 2 block of two channels into 2 x 2 sums in one register (int8: 8 inputs, 32 products;
//! bf16: 4 inputs, 16 products): twice the products of `sdot` per instruction, and a way to
//! multiply bf16 at all (Graviton 3 and 4, Neoverse N2/V1/V2, Apple M2 and later).
//!
//! They read the packed tiles in `TileLayout::Pairs` (`cpu::gemm::tile_layout`): each channel's inputs
//! in runs of 8 bytes, two channels a 16-byte operand, which is how layers pack them where this
//! level is active. Sums are kept for two pairs of rows by 8 pairs of channels: 16 registers, with
//! 8 for the weights and 2 for the rows.
//!
//! `smmla`'s i32 sums are exact, so the int8 layer gives the same bits as at every other level.
//! `bfmmla` rounds its sums as Arm's BFDOT does (products exact, sums rounded to odd, subnormals
//! flushed), a different rounding from `vdpbf16ps`' and AMX's: the bf16 levels agree within the
//! sums' rounding, as they already did among themselves.
//!
//! Rust 1.95 has no stable intrinsics for either instruction: inline assembly, one instruction each.
//! The kernels run under QEMU in CI (`scripts/test_arm64.sh`), whose CPU has both extensions.

use std::arch::aarch64::*;
use std::arch::asm;

use crate::cpu::gemm::tile_layout::NR;

/// Rows per kernel call: two pairs of rows.
pub(crate) const MR: usize = 4;
/// Channel pairs per tile: one sum register each per pair of rows.
const PAIRS: usize = NR / 2;

/// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows of int8 levels (0..=127) at
/// stride `k_pad` against a tile `w` in pairs layout, `steps` steps of 8 inputs.
///
/// # Safety
/// NEON and I8MM are present; `x` holds `mr` rows of `8 * steps` bytes at stride `k_pad`;
/// `w` holds `steps * 8 * NR` bytes.
#[target_feature(enable = "neon,i8mm")]
pub(crate) unsafe fn int8_microkernel(
    x: *const u8,
    k_pad: usize,
    mr: usize,
    w: *const i8,
    steps: usize,
    sums: &mut [[i32; NR]; MR],
) {
    let rows = row_pointers(x, k_pad, mr);
    let mut acc = [[vdupq_n_s32(0); PAIRS]; MR / 2];
    for s in 0..steps {
        let b: [int8x16_t; PAIRS] = std::array::from_fn(|j| vld1q_s8(w.add((s * PAIRS + j) * 16)));
        for (acc, rows) in acc.iter_mut().zip(&rows).take(mr.div_ceil(2)) {
            let a = vreinterpretq_s8_u8(vcombine_u8(
                vld1_u8(rows[0].add(8 * s)),
                vld1_u8(rows[1].add(8 * s)),
            ));
            for (acc, &b) in acc.iter_mut().zip(&b) {
                *acc = smmla(*acc, a, b);
            }
        }
    }
    for (p, acc) in acc.iter().enumerate().take(mr.div_ceil(2)) {
        for (j, &sum) in acc.iter().enumerate() {
            vst1_s32(sums[2 * p].as_mut_ptr().add(2 * j), vget_low_s32(sum));
            vst1_s32(sums[2 * p + 1].as_mut_ptr().add(2 * j), vget_high_s32(sum));
        }
    }
}

/// `sums[r][c] = sum_k x[r][k] w[k][c]` in f32 for `mr <= MR` rows of bf16 values at stride
/// `k_pad` against a tile `w` in pairs layout, `steps` steps of 4 inputs.
///
/// # Safety
/// NEON and BF16 are present; `x` holds `mr` rows of `4 * steps` values at stride `k_pad`;
/// `w` holds `steps * 4 * NR` values.
#[target_feature(enable = "neon,bf16")]
pub(crate) unsafe fn bf16_microkernel(
    x: *const u16,
    k_pad: usize,
    mr: usize,
    w: *const u16,
    steps: usize,
    sums: &mut [[f32; NR]; MR],
) {
    let rows = row_pointers(x, k_pad, mr);
    let mut acc = [[vdupq_n_f32(0.0); PAIRS]; MR / 2];
    for s in 0..steps {
        let b: [uint16x8_t; PAIRS] = std::array::from_fn(|j| vld1q_u16(w.add((s * PAIRS + j) * 8)));
        for (acc, rows) in acc.iter_mut().zip(&rows).take(mr.div_ceil(2)) {
            let a = vcombine_u16(vld1_u16(rows[0].add(4 * s)), vld1_u16(rows[1].add(4 * s)));
            for (acc, &b) in acc.iter_mut().zip(&b) {
                *acc = bfmmla(*acc, a, b);
            }
        }
    }
    for (p, acc) in acc.iter().enumerate().take(mr.div_ceil(2)) {
        for (j, &sum) in acc.iter().enumerate() {
            vst1_f32(sums[2 * p].as_mut_ptr().add(2 * j), vget_low_f32(sum));
            vst1_f32(sums[2 * p + 1].as_mut_ptr().add(2 * j), vget_high_f32(sum));
        }
    }
}

/// The rows of each pair of rows; a missing second row (odd `mr`) reads the first again, and
/// its sums are never stored.
#[inline(always)]
unsafe fn row_pointers<T>(x: *const T, k_pad: usize, mr: usize) -> [[*const T; 2]; MR / 2] {
    std::array::from_fn(|p| {
        let first = (2 * p).min(mr - 1);
        [first, (2 * p + 1).min(mr - 1)].map(|r| x.add(r * k_pad))
    })
}

/// `acc += a b^T`: `a` two rows of 8 bytes, `b` two channels of 8 bytes, `acc` 2 x 2 i32 sums
/// (row 0's two channels, then row 1's).
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn smmla(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    asm!(
        "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags),
    );
    acc
}

/// `acc += a b^T`: `a` two rows of 4 bf16, `b` two channels of 4 bf16, `acc` 2 x 2 f32 sums.
#[target_feature(enable = "neon,bf16")]
#[inline]
unsafe fn bfmmla(mut acc: float32x4_t, a: uint16x8_t, b: uint16x8_t) -> float32x4_t {
    asm!(
        "bfmmla {acc:v}.4s, {a:v}.8h, {b:v}.8h",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags),
    );
    acc
}

/// `attend_head`'s steps for arm64's `mmla` level: the same roundings, with Q, K, V and the
/// probabilities padded to a multiple of four values (`bfmmla`'s step) and K and V packed as
/// `ops::bf16_linear` packs a weight there (tiles of 16 channels in `TileLayout::Pairs`), for
/// `bf16_microkernel`.
pub(crate) mod bf16_attention {
    use super::{bf16_microkernel, MR};
    use crate::cpu::bf16_attention::kernels::{Product, Rounded};
    use crate::cpu::gemm::tile_layout::{TileLayout, NR};

    /// `bfmmla` takes four inputs a step.
    pub(crate) const STEP: usize = 4;

    /// The keys of one head (`s` rows of `k_pad` values in `rounded`) as a weight of `s` channels
    /// over `k_pad` inputs (`pack`).
    pub(crate) fn pack_keys(
        Rounded {
            values: rounded,
            s,
            width: k_pad,
            ..
        }: Rounded,
        dst: &mut Vec<u16>,
    ) {
        pack(s, k_pad, |key, i| rounded[key * k_pad + i], dst);
    }

    /// The values of one head (`s` rows of `head_dim` in `rounded`, `width` apart) as a weight of
    /// `head_dim` channels over the keys, padded to `step` (`pack`).
    ///
    /// # Safety
    /// None: `unsafe` as the x86 one, so that one table holds either.
    pub(crate) unsafe fn pack_values(rounded: Rounded, step: usize, dst: &mut Vec<u16>) {
        let Rounded {
            values: rounded,
            s,
            len: head_dim,
            width,
        } = rounded;
        let value = |c: usize, key: usize| if key < s { rounded[key * width + c] } else { 0 };
        pack(head_dim, s.next_multiple_of(step), value, dst);
    }

    /// A weight of `channels` channels over `k_pad` inputs, channel `c`'s input `k` being
    /// `value(c, k)`, in tiles of `NR` channels in the pairs layout; zeros past the last channel.
    fn pack(channels: usize, k_pad: usize, value: impl Fn(usize, usize) -> u16, dst: &mut Vec<u16>) {
        let tile = k_pad * NR;
        dst.clear();
        dst.resize(channels.div_ceil(NR) * tile, 0);
        for c in 0..channels {
            let (t, lane) = (c / NR, c % NR);
            for k in 0..k_pad {
                dst[t * tile + TileLayout::Pairs.index(2, k, lane)] = value(c, k);
            }
        }
    }

    /// `p`, its tiles `pack`'s.
    ///
    /// # Safety
    /// BF16 is present; `x` holds `rows * k_pad` values and `w` the tiles of `cols` channels over
    /// `k_pad` inputs (a multiple of `STEP`); the rows of `out` are writable.
    pub(crate) unsafe fn products(p: Product) {
        let (k_pad, tile) = (p.k_pad, p.k_pad * NR);
        assert!(
            k_pad.is_multiple_of(STEP)
                && p.x.len() >= p.rows * k_pad
                && p.w.len() >= p.cols.div_ceil(NR) * tile
        );
        let mut sums = [[0f32; NR]; MR];
        // Each tile (at most 16 x 200 values here) stays in L1 while the rows go by.
        for t in 0..p.cols.div_ceil(NR) {
            for row in (0..p.rows).step_by(MR) {
                let mr = MR.min(p.rows - row);
                let (x, w) = (p.x[row * k_pad..].as_ptr(), p.w[t * tile..].as_ptr());
                bf16_microkernel(x, k_pad, mr, w, k_pad / STEP, &mut sums);
                p.put(row, t * NR, &sums[..mr]);
            }
        }
    }
}
