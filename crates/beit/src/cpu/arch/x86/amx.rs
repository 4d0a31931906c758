//! Intel AMX for the int8 and bf16 GEMMs: `pairs_by_rows`, which multiplies rows of activations by
//! pairs of packed 16-channel weight tiles (32 or 16 rows a call), for both layers (`Int8`,
//! `Bf16`). Whether this process may use the tile registers is `cpu::level`'s to say (the `Amx`
//! level).
//!
//! Rust has no stable AMX intrinsics, so the kernel is inline assembly (the assembler takes the
//! instructions without the target feature).
//!
//! The tile unit computes `C[m][n] += sum_k A[m][4k + j] B[k][4n + j]` over `j < 4` with u8 A and i8
//! B into i32: with A 16 rows of 64 activation bytes and B 16 groups of (16 channels x 4 weights),
//! B is exactly 1 KiB of the int8 layer's packed tile (`int8_linear`'s `[k / 4][16][4]`). In bf16
//! (`tdpbf16ps`) the same bytes are pairs: `C[m][n] += sum_k A[m][2k + j] B[k][2n + j]` over `j < 2`
//! into f32, 32 inputs a step, B 1 KiB of `bf16_linear`'s `[k / 2][16][2]`. The tile shapes are the
//! same for both, so one configuration serves them.

use std::arch::asm;

use crate::cpu::arch::native::avx512;
use crate::cpu::bf16_attention::kernels::Product;
use crate::cpu::gemm::tile_layout::NR;
use crate::cpu::gemm::tile_unit::TileUnitCall;

/// Rows of activations per `pair` call: a tile's rows (`quad` takes twice as many).
pub const ROWS: usize = 16;
/// Bytes of one row of activations per step: a tile row.
const A_STEP: usize = 64;
/// Bytes of one packed weight tile per step: 16 rows of 64 bytes (16 channels by 4 int8 or 2 bf16
/// inputs).
const B_STEP: usize = 16 * 64;

/// What the tile unit multiplies: activations `X` by packed weights `W` into sums `Sum`.
pub trait Operands {
    type X;
    type W;
    type Sum: Copy + Default;
    /// Inputs per step: one tile row of 64 bytes of `X`.
    const K_STEP: usize;
    /// `tdpbf16ps` rather than `tdpbusd`.
    const BF16: bool;
}

/// u8 activations by i8 weights into i32 (`int8_linear`'s `[k / 4][16][4]` tiles).
pub struct Int8;

/// bf16 by bf16 into f32 (`bf16_linear`'s `[k / 2][16][2]` tiles).
pub struct Bf16;

impl Operands for Int8 {
    type X = u8;
    type W = i8;
    type Sum = i32;
    const K_STEP: usize = A_STEP;
    const BF16: bool = false;
}

impl Operands for Bf16 {
    type X = u16;
    type W = u16;
    type Sum = f32;
    const K_STEP: usize = A_STEP / 2;
    const BF16: bool = true;
}

/// The sums of up to 16 rows by a pair of tiles.
pub type Block<O> = [[<O as Operands>::Sum; 32]; ROWS];

/// `x` (rows of `k_pad` values) by each of the pairs of weight tiles `pairs` (`tiles(pair)`), for the
/// rows in `rows`: 32 rows a call, then 16, under a 16-row configuration, then the rest under one
/// of its own. Pairs outside, rows inside: a pair's weights stay in L1 while the rows go by.
/// `finish(pair, row, sums, n)` takes each block's sums: `n` rows from `row`.
///
/// # Safety
/// `permitted()`; no other tile configuration is alive on this thread; `k_pad` is a multiple of
/// `O::K_STEP`, `x` holds the rows of `rows`, and `tiles` gives packed tiles of `k_pad` inputs.
pub unsafe fn pairs_by_rows<O: Operands>(
    x: &[O::X],
    k_pad: usize,
    rows: std::ops::Range<usize>,
    pairs: std::ops::Range<usize>,
    tiles: impl Fn(usize) -> [*const O::W; 2],
    mut finish: impl FnMut(usize, usize, &Block<O>, usize),
) {
    assert!(x.len() >= rows.end * k_pad);
    let quads = rows.start + rows.len() / (2 * ROWS) * (2 * ROWS);
    let whole = rows.start + rows.len() / ROWS * ROWS;
    let mut sums = [[[O::Sum::default(); 32]; ROWS]; 2];
    if whole > rows.start && !pairs.is_empty() {
        let unit = Tiles::configure(ROWS);
        for pair in pairs.clone() {
            for row in (rows.start..quads).step_by(2 * ROWS) {
                unit.quad::<O>(x[row * k_pad..].as_ptr(), k_pad, tiles(pair), &mut sums);
                finish(pair, row, &sums[0], ROWS);
                finish(pair, row + ROWS, &sums[1], ROWS);
            }
            if whole > quads {
                unit.pair::<O>(x[quads * k_pad..].as_ptr(), k_pad, tiles(pair), &mut sums[0]);
                finish(pair, quads, &sums[0], ROWS);
            }
        }
    }
    if rows.end > whole && !pairs.is_empty() {
        let n = rows.end - whole;
        let unit = Tiles::configure(n);
        for pair in pairs {
            unit.pair::<O>(x[whole * k_pad..].as_ptr(), k_pad, tiles(pair), &mut sums[0]);
            finish(pair, whole, &sums[0], n);
        }
    }
}

/// The 64-byte operand of `ldtilecfg`: palette 1, then the bytes per row and rows of each tile.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// The tile unit configured for `rows` rows of activations (at most 16) until dropped: tmm0 to tmm3
/// the sums, tmm4 and tmm5 two blocks of activations, tmm6 and tmm7 two weight tiles. `pair` uses
/// the first of each (16 rows by two tiles), `quad` all of them (32 rows by two tiles: four chains
/// of sums instead of two, so that one product's latency hides behind the others, and four loads
/// for four products instead of three for two). Configuring costs about as much as a few steps of
/// the kernel, so it is done once per block of calls, not per call.
struct Tiles {
    rows: usize,
}

impl Tiles {
    /// # Safety
    /// `permitted()`; no other `Tiles` is alive on this thread (the configuration is per thread).
    unsafe fn configure(rows: usize) -> Self {
        assert!(rows > 0 && rows <= ROWS);
        let r = rows as u8;
        let config = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
            rows: [r, r, r, r, r, r, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        asm!("ldtilecfg [{config}]", config = in(reg) &config, options(nostack, readonly));
        Self { rows }
    }

    /// `sums[r][0..32] = x[r] . (tile w[0], tile w[1])` for the configured rows of `x` at stride
    /// `k_pad` values.
    ///
    /// # Safety
    /// `x` holds the configured rows of `k_pad` values (a multiple of `O::K_STEP`); each `w[i]`
    /// points to a packed tile of `k_pad` inputs.
    unsafe fn pair<O: Operands>(
        &self,
        x: *const O::X,
        k_pad: usize,
        w: [*const O::W; 2],
        sums: &mut Block<O>,
    ) {
        assert!(k_pad.is_multiple_of(O::K_STEP));
        self.dot_pair::<O>(
            x.cast(),
            k_pad * size_of::<O::X>(),
            w.map(|w| w.cast()),
            sums.as_mut_ptr().cast(),
        );
    }

    /// As `pair` for 32 rows (two blocks of 16: `sums[0]` and `sums[1]`); the unit is configured
    /// for 16 rows.
    ///
    /// # Safety
    /// As `pair`, with 32 rows at `x`.
    unsafe fn quad<O: Operands>(
        &self,
        x: *const O::X,
        k_pad: usize,
        w: [*const O::W; 2],
        sums: &mut [Block<O>; 2],
    ) {
        assert!(k_pad.is_multiple_of(O::K_STEP));
        self.dot_quad::<O>(
            x.cast(),
            k_pad * size_of::<O::X>(),
            w.map(|w| w.cast()),
            sums.as_mut_ptr().cast(),
        );
    }

    /// `dot_pair` for 32 rows: the second block of 16 rows `16 row_bytes` after the first, its sums
    /// `16 x 128` bytes after the first block's.
    unsafe fn dot_quad<O: Operands>(&self, x: *const u8, row_bytes: usize, w: [*const u8; 2], dst: *mut u8) {
        assert!(self.rows == ROWS);
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        );
        let x1 = x.add(ROWS * row_bytes);
        for step in 0..row_bytes / A_STEP {
            asm!(
                "tileloadd tmm4, [{a0} + {a_stride} * 1]",
                "tileloadd tmm6, [{b0} + {b_stride} * 1]",
                "tileloadd tmm7, [{b1} + {b_stride} * 1]",
                "tileloadd tmm5, [{a1} + {a_stride} * 1]",
                a0 = in(reg) x.add(step * A_STEP),
                a1 = in(reg) x1.add(step * A_STEP),
                a_stride = in(reg) row_bytes,
                b0 = in(reg) w[0].add(step * B_STEP),
                b1 = in(reg) w[1].add(step * B_STEP),
                b_stride = in(reg) 64usize,
                options(nostack, readonly),
            );
            if O::BF16 {
                asm!(
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    options(nostack, nomem)
                );
            } else {
                asm!(
                    "tdpbusd tmm0, tmm4, tmm6",
                    "tdpbusd tmm1, tmm4, tmm7",
                    "tdpbusd tmm2, tmm5, tmm6",
                    "tdpbusd tmm3, tmm5, tmm7",
                    options(nostack, nomem)
                );
            }
        }
        let dst1 = dst.add(ROWS * 128);
        asm!(
            "tilestored [{c0} + {stride} * 1], tmm0",
            "tilestored [{c1} + {stride} * 1], tmm1",
            "tilestored [{c2} + {stride} * 1], tmm2",
            "tilestored [{c3} + {stride} * 1], tmm3",
            c0 = in(reg) dst,
            c1 = in(reg) dst.add(64),
            c2 = in(reg) dst1,
            c3 = in(reg) dst1.add(64),
            stride = in(reg) 128usize,
            options(nostack),
        );
    }

    /// Both kernels: rows of `row_bytes` bytes at `x`, tiles at `w`, 32 sums of 4 bytes a row at
    /// `dst`; `tdpbf16ps` for bf16, else `tdpbusd`.
    unsafe fn dot_pair<O: Operands>(&self, x: *const u8, row_bytes: usize, w: [*const u8; 2], dst: *mut u8) {
        assert!(self.rows <= ROWS);
        asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
        for step in 0..row_bytes / A_STEP {
            asm!(
                "tileloadd tmm4, [{a} + {a_stride} * 1]",
                "tileloadd tmm6, [{b0} + {b_stride} * 1]",
                "tileloadd tmm7, [{b1} + {b_stride} * 1]",
                a = in(reg) x.add(step * A_STEP),
                a_stride = in(reg) row_bytes,
                b0 = in(reg) w[0].add(step * B_STEP),
                b1 = in(reg) w[1].add(step * B_STEP),
                b_stride = in(reg) 64usize,
                options(nostack, readonly),
            );
            // The tiles are the CPU's state, not the compiler's: they carry from one block to the
            // next.
            if O::BF16 {
                asm!(
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    options(nostack, nomem)
                );
            } else {
                asm!(
                    "tdpbusd tmm0, tmm4, tmm6",
                    "tdpbusd tmm1, tmm4, tmm7",
                    options(nostack, nomem)
                );
            }
        }
        asm!(
            "tilestored [{c0} + {stride} * 1], tmm0",
            "tilestored [{c1} + {stride} * 1], tmm1",
            c0 = in(reg) dst,
            c1 = in(reg) dst.add(64),
            stride = in(reg) 128usize,
            options(nostack),
        );
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: the tile unit was configured (`configure`); this returns it to its initial state.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// `pairs_by_rows` for a packed layer's call (`cpu::gemm::tile_unit`).
///
/// # Safety
/// As `pairs_by_rows`.
pub(crate) unsafe fn tile_unit<O: Operands>(call: &mut TileUnitCall<O::X, O::W, O::Sum>) {
    let finish = &mut *call.finish;
    pairs_by_rows::<O>(
        call.x,
        call.k_pad,
        call.rows.clone(),
        call.pairs.clone(),
        call.tiles,
        |pair, row, sums, n| finish(pair, row, sums, n),
    );
}

/// Attention's products (`cpu::bf16_attention`) on the AMX tile unit (`tdpbf16ps`, 32 rows by a pair of tiles a call, `k_pad` a
/// multiple of its step of 32): where the CPU has it, it outruns `vdpbf16ps` here as in the linear
/// layers (bench/README.md, "Kernel choices").
///
/// # Safety
/// As `avx512::bf16_attention::products`, at the `Amx` level; no tile configuration is alive on this thread.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn bf16_attention_products(p: Product) {
    let (k_pad, tile, pairs) = (p.k_pad, p.k_pad * NR, p.cols.div_ceil(2 * NR));
    assert!(k_pad.is_multiple_of(Bf16::K_STEP) && p.w.len() >= pairs * 2 * tile);
    pairs_by_rows::<Bf16>(
        p.x,
        k_pad,
        0..p.rows,
        0..pairs,
        |pair| [2 * pair, 2 * pair + 1].map(|t| p.w[t * tile..].as_ptr()),
        |pair, row, sums, n| avx512::bf16_attention::put_wide(&p, row, pair * 2 * NR, &sums[..n]),
    );
}
