//! The bfloat16 format as its kernels see it: bf16 activations by bf16 weights, products summed in
//! f32, in tiles of `NR` channels packed in pairs of inputs (`cpu::gemm::tile_layout`), inputs
//! padded to the tile unit's step `K_ALIGN`. Here are the table of kernels an instruction set
//! offers (`Bf16Kernels`, filled by `cpu::arch`), the rounding to bf16, and the portable kernel.
//! The layer that rounds and calls them is `ops::bf16_linear`.

use crate::cpu::gemm::tile_layout::NR;
use crate::cpu::gemm::tile_unit::TileUnit;

/// Rows per call of the one-tile kernels.
pub(crate) const MR: usize = 4;
/// Rows per call of the pair kernels (AVX512_BF16).
pub(crate) const WIDE_MR: usize = 8;
/// Inputs are padded to a multiple of this: the tile unit's step.
pub(crate) const K_ALIGN: usize = 32;

/// The one-tile kernels' operands: `mr <= MR` rows of `x` at stride `k_pad` by one packed tile
/// `w` of `k_pad` inputs in the level's layout.
#[derive(Clone, Copy)]
pub(crate) struct Args {
    pub x: *const u16,
    pub k_pad: usize,
    pub mr: usize,
    pub w: *const u16,
}

/// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows by one tile.
pub(crate) type SumsKernel = unsafe fn(Args, &mut [[f32; NR]; MR]);

/// `mr <= WIDE_MR` rows of `x` (stride `k_pad`) by a pair of whole tiles, into `sums`.
pub(crate) type PairKernel =
    unsafe fn(*const u16, usize, usize, [*const u16; 2], &mut [[f32; 2 * NR]; WIDE_MR]);

/// What one instruction set offers at one level (`cpu::arch::native::bf16_kernels`), chosen once per call.
#[derive(Clone, Copy)]
pub(crate) struct Bf16Kernels {
    /// Any tile, any rows.
    pub sums: SumsKernel,
    /// `mr <= WIDE_MR` rows by a pair of whole tiles.
    pub pairs: Option<PairKernel>,
    /// The tile unit: 16 or 32 rows by a pair of tiles a step.
    pub tile_unit: Option<TileUnit<u16, u16, f32>>,
}

/// `x` rounded to the nearest bf16, ties to even; NaN stays NaN (quiet), infinities stay. Both
/// results computed and one selected, so that loops over it vectorize (a branch kept them scalar).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    // No overflow: only NaN lies above the largest value that rounds (-infinity, 0xff80_0000).
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    let quiet_nan = ((bits >> 16) | 0x40) as u16;
    if x.is_nan() {
        quiet_nan
    } else {
        rounded
    }
}

#[inline(always)]
pub(crate) fn from_bf16(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// The portable kernel, in the order of operations `vdpbf16ps` is specified with.
///
/// # Safety
/// `x` holds `mr` rows of `k_pad` values, `w` a packed tile of `k_pad` inputs in pairs.
pub(crate) unsafe fn sums_portable(Args { x, k_pad, mr, w }: Args, sums: &mut [[f32; NR]; MR]) {
    let w = std::slice::from_raw_parts(w, k_pad * NR);
    for (r, acc) in sums.iter_mut().enumerate().take(mr) {
        let x = std::slice::from_raw_parts(x.add(r * k_pad), k_pad);
        for (pair, w) in x.chunks_exact(2).zip(w.chunks_exact(2 * NR)) {
            let (x0, x1) = (from_bf16(pair[0]), from_bf16(pair[1]));
            for (c, acc) in acc.iter_mut().enumerate() {
                *acc = (*acc + x1 * from_bf16(w[2 * c + 1])) + x0 * from_bf16(w[2 * c]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_bf16_is_to_nearest_even_and_keeps_nan_and_infinities() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to the even one.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(1.0 + 1.5 / 256.0), 0x3f81);
        assert_eq!(to_bf16(-2.0), 0xc000);
        assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
        assert_eq!(to_bf16(f32::NEG_INFINITY), 0xff80);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        // The largest finite f32 rounds up to infinity, as in PyTorch.
        assert_eq!(to_bf16(f32::MAX), 0x7f80);
    }
}
