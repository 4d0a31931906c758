//! The int8 format as its kernels see it: unsigned 7-bit activation levels by signed 7-bit weight
//! levels, summed in i32, in tiles of `NR` channels packed in groups of `KG` inputs
//! (`cpu::gemm::tile_layout`). Here are the operands the kernels take, the table of kernels an
//! instruction set offers (`Int8Kernels`, filled by `cpu::arch`), and the portable kernel, which
//! is also the reference every other kernel gives the same bits as (the sums are exact integers).
//! The layer that quantizes and calls them is `ops::int8_linear`.

use crate::cpu::gemm::tile_layout::NR;
use crate::cpu::gemm::tile_unit::{Block, TileUnit};

/// Rows per call of the one-tile kernels: 8 accumulators, 2 weight vectors, the broadcast, the
/// ones and two temporaries fit in the 16 AVX2 registers.
pub(crate) const MR: usize = 4;
/// Rows per call of the pair kernels (AVX-512 VNNI): 16 sums in registers for 2 weight loads and
/// 8 broadcasts.
pub(crate) const WIDE_MR: usize = 8;
/// Inputs per i32 lane: four byte products. The kernels take two groups (eight inputs) per step,
/// so the inputs are padded to a multiple of `2 * KG`.
pub(crate) const KG: usize = 4;

/// One row of quantized activations: `x = (q - zero) * scale`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RowQuant {
    pub scale: f32,
    pub zero: i32,
}

/// The one-tile kernels' operands: `mr <= MR` rows of `x` at stride `k_pad` by one packed tile
/// `w` of `k_groups` groups.
#[derive(Clone, Copy)]
pub(crate) struct Args {
    pub x: *const u8,
    pub k_pad: usize,
    pub mr: usize,
    pub w: *const i8,
    pub k_groups: usize,
}

/// The pair kernels' operands: `mr <= WIDE_MR` rows of `x` at stride `k_pad` by two whole tiles
/// of `k_groups` groups.
#[derive(Clone, Copy)]
#[allow(dead_code, reason = "read by the kernels of some instruction sets only")]
pub(crate) struct PairArgs {
    pub x: *const u8,
    pub k_pad: usize,
    pub mr: usize,
    pub w: [*const i8; 2],
    pub k_groups: usize,
}

/// Where a whole tile's results go: `dst[r][c] (+)= ((sum - zero_r * weight_sums[c]) as f32 *
/// scale_r * scales[c] + bias[c])`, row `r` at `dst + r * stride` (the order of the portable
/// `store`'s operations, so that every level gives the same bits).
#[allow(dead_code, reason = "read by the kernels of some instruction sets only")]
pub(crate) struct Epilogue<'a> {
    pub dst: *mut f32,
    /// Whether to add to `dst` (a residual) or write it.
    pub accumulate: bool,
    pub stride: usize,
    pub quants: &'a [RowQuant],
    pub scales: &'a [f32],
    pub bias: &'a [f32],
    pub weight_sums: &'a [i32],
}

/// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows by one tile in the level's layout.
pub(crate) type SumsKernel = unsafe fn(Args, &mut [[i32; NR]; MR]);

/// `mr <= MR` rows by one whole tile with the epilogue in registers.
pub(crate) type DirectKernel = unsafe fn(Args, &Epilogue);

/// What one instruction set offers at one level (`cpu::arch::native::int8_kernels`), chosen once per call.
#[derive(Clone, Copy)]
pub(crate) struct Int8Kernels {
    /// Any tile, any rows.
    pub sums: SumsKernel,
    /// Whole tiles, with the epilogue in registers.
    pub direct: Option<DirectKernel>,
    /// `mr <= WIDE_MR` rows by a pair of whole tiles with the epilogue in registers.
    pub pairs: Option<unsafe fn(PairArgs, &[Epilogue; 2])>,
    /// The tile unit: 16 or 32 rows by a pair of tiles a step, inputs in multiples of `k_step`.
    pub tile_unit: Option<Int8TileUnit>,
}

/// The tile unit in the int8 table: the unit, and the epilogue of its blocks of sums (columns
/// `16 half..16 half + 16` of a block, the second argument, for one tile).
#[derive(Clone, Copy)]
pub(crate) struct Int8TileUnit {
    pub unit: TileUnit<u8, i8, i32>,
    pub epilogue: unsafe fn(&Block<i32>, usize, &Epilogue),
}

/// The portable kernel, in plain integer arithmetic.
///
/// # Safety
/// `x` holds `mr` rows of `KG * k_groups` values at stride `k_pad`, `w` a packed tile of
/// `k_groups` groups.
pub(crate) unsafe fn sums_portable(args: Args, sums: &mut [[i32; NR]; MR]) {
    let Args {
        x,
        k_pad,
        mr,
        w,
        k_groups,
    } = args;
    let w = std::slice::from_raw_parts(w, k_groups * KG * NR);
    for (r, sums) in sums.iter_mut().enumerate().take(mr) {
        let x = std::slice::from_raw_parts(x.add(r * k_pad), KG * k_groups);
        for g in 0..k_groups {
            let w = &w[g * KG * NR..(g + 1) * KG * NR];
            for (c, sum) in sums.iter_mut().enumerate() {
                for j in 0..KG {
                    *sum += x[KG * g + j] as i32 * w[KG * c + j] as i32;
                }
            }
        }
    }
}
