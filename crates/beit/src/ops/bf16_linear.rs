//! A linear layer in bfloat16: weights rounded to bf16 at load (half the memory of f32), the
//! activations rounded to bf16 at each call, products summed in f32 and the bias and residual added
//! in f32. The CPU's `dtype: 'bfloat16'` (`Quantization::Bfloat16`), with attention's matmuls in
//! bf16 products where the CPU multiplies bf16 (`ops::bf16_attention`); LayerNorm, softmax and GELU
//! stay f32, as under PyTorch's autocast.
//!
//! A product of two bf16 values is exact in f32, so the only roundings are the inputs' (relative
//! 2^-9 each) and the f32 sums'. The weights are packed as the tile unit reads them: per tile of 16
//! channels, `[k / 2][16][2]` (for each pair of inputs, 16 channels' two weights), inputs padded
//! with zeros to the tile unit's step of 32. Six kernels read that layout:
//! - AMX (`CpuLevel::Amx`, `ops::amx`): `tdpbf16ps`, 16 rows by two tiles, 32 inputs a step;
//! - AVX512_BF16 (`CpuLevel::Avx512` on a CPU with the extension: Zen 4, Sapphire Rapids):
//!   `vdpbf16ps`, one pair of inputs by 16 channels a row, up to 8 rows by a pair of tiles a call
//!   (16 sums in registers for 2 weight loads and 8 broadcasts), and 4 rows by the last odd tile;
//! - `bfmmla` on arm64 CPUs with BF16 (`CpuLevel::Mmla`, `ops::arm_mmla`): 4 rows by a tile a
//!   call, from tiles packed with four inputs of a channel side by side (`ops::tile_layout`);
//! - AVX2 + FMA, and NEON on arm64 (CPUs without bf16 arithmetic): each pair unpacked to two f32
//!   halves in registers and f32 multiply-adds, at about float32's speed: bf16 there saves memory;
//! - elsewhere, a portable loop over the same pairs in f32.
//!
//! The others add each pair of products to the sum odd input first, as `vdpbf16ps` is specified
//! to; `bfmmla` adds a pair's two products together first, then to the sum, rounding to odd (Arm's
//! BFDOT rule). The tile unit, `vdpbf16ps` and `bfmmla` flush subnormal inputs to zero, so the
//! levels agree to the sums' rounding, not to the bit (the tests allow for that).

use candle_core::{Device, Tensor};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::ops::amx;
#[cfg(target_arch = "aarch64")]
use crate::ops::arm_mmla;
use crate::ops::cpu_data::with_f32;
use crate::ops::cpu_level::{self, active, CpuLevel};
use crate::ops::linear::{bias_values, group_rows, output_shape, row_blocks, Destination, Out};
#[cfg(target_arch = "x86_64")]
use crate::ops::packed_linear::by_tile_pairs;
use crate::ops::simd::dispatch;
/// Output channels per packed tile (16).
pub(crate) use crate::ops::tile_layout::NR;
use crate::ops::tile_layout::{relayout, TileLayout};
use crate::ops::weight_rows::WeightRows;

/// Rows per call of the vector kernels.
const MR: usize = 4;
/// Inputs are padded to a multiple of this: the tile unit's step.
const K_ALIGN: usize = 32;
/// Rows per call of the AVX512_BF16 kernel on a pair of tiles.
#[cfg(target_arch = "x86_64")]
pub(crate) const WIDE_MR: usize = 8;
/// Rows of activations per parallel block, at most: a block's activations stay in L2.
const BLOCK_ROWS: usize = 96;
#[cfg(target_arch = "aarch64")]
const _: () = assert!(MR == arm_mmla::MR, "the Mmla kernel's sums are a row group's");

#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::pair_microkernel;

#[derive(Debug)]
pub struct Bf16Linear {
    /// `[tiles][k_pad / 2][NR][2]` bf16 bits (in `layout`: `[tiles][k_pad / 4][NR][4]` for the
    /// `Mmla` level).
    packed: Vec<u16>,
    layout: TileLayout,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

impl Bf16Linear {
    /// Rounds `weight` `[out, in]` (as `torch.nn.Linear`) to bf16.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Self> {
        let n_in = weight.dims2()?.1;
        with_f32(&weight.to_dtype(candle_core::DType::F32)?, |w| {
            Self::from_rows(&WeightRows::dense(w, n_in)?, bias)
        })?
    }

    /// Rounds and packs the weight that `rows` reads.
    pub fn from_rows(rows: &WeightRows, bias: Option<&Tensor>) -> candle_core::Result<Self> {
        let (n_out, layout) = (rows.n_out(), TileLayout::for_level(active()));
        Ok(Self {
            packed: pack(rows, layout),
            layout,
            bias: bias_values(bias, n_out)?,
            n_in: rows.n_in(),
            n_out,
        })
    }

    /// `xs W^T + bias (+ residual)` over the last dimension of `xs` (f32 on the CPU).
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        self.forward_at(xs, residual, active())
    }

    /// `forward` with the kernels of `level` (lowered to what the CPU has).
    pub fn forward_at(
        &self,
        xs: &Tensor,
        residual: Option<&Tensor>,
        level: CpuLevel,
    ) -> candle_core::Result<Tensor> {
        let level = level.min(cpu_level::detected());
        let shape = output_shape(xs, self.n_in, self.n_out, residual)?;
        let rows = xs.elem_count() / self.n_in;
        let xb = with_f32(xs, |x| round_rows(x, self.n_in, self.k_pad()))?;
        let mut dst = Destination::new(rows, self.n_out, residual)?;
        self.matmul(&xb, rows, dst.out(), level);
        // SAFETY: the matmul puts every row of every tile once.
        Tensor::from_vec(unsafe { dst.finish() }, shape, &Device::Cpu)
    }

    fn k_pad(&self) -> usize {
        self.n_in.next_multiple_of(K_ALIGN)
    }

    fn tile(&self, tile: usize) -> &[u16] {
        let size = self.k_pad() * NR;
        &self.packed[tile * size..(tile + 1) * size]
    }

    /// `out (+)= xb W^T + bias` (`out`: `[rows, n_out]`), blocks of rows in parallel.
    fn matmul(&self, xb: &[u16], rows: usize, out: Out, level: CpuLevel) {
        // The x86 levels have one layout; `tile_rows` takes any.
        #[cfg(target_arch = "x86_64")]
        debug_assert_eq!(self.layout, TileLayout::Groups);
        #[cfg(target_arch = "x86_64")]
        if level == CpuLevel::Avx512 && cpu_level::has_avx512_bf16() {
            return self.matmul_wide(xb, rows, out);
        }
        let unit = group_rows(level, MR);
        let groups = rows.div_ceil(unit);
        let blocks = row_blocks(groups, BLOCK_ROWS / unit);
        let tiles = self.n_out.div_ceil(NR);
        (0..blocks).into_par_iter().for_each(|b| {
            let rows = (b * groups / blocks * unit).min(rows)..((b + 1) * groups / blocks * unit).min(rows);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as below; the level is at most the detected one.
            let done = match level {
                CpuLevel::Amx => unsafe { self.amx_rows(xb, rows.clone(), out) },
                _ => 0,
            };
            #[cfg(not(target_arch = "x86_64"))]
            let done = 0;
            for tile in done..tiles {
                // SAFETY: block b writes only its own rows of `out`.
                unsafe { self.tile_rows(tile, xb, rows.clone(), out, level) }
            }
        });
    }

    /// `rows` of `out` times the tiles of whole pairs of full tiles on the AMX unit
    /// (`amx::pairs_by_rows`); the number of tiles done (the rest are the caller's).
    ///
    /// # Safety
    /// The CPU has the `Amx` level; `out` is the `[rows, n_out]` destination, and no other thread
    /// writes these rows.
    #[cfg(target_arch = "x86_64")]
    unsafe fn amx_rows(&self, xb: &[u16], rows: std::ops::Range<usize>, out: Out) -> usize {
        let pairs = self.n_out / NR / 2;
        amx::pairs_by_rows::<amx::Bf16>(
            xb,
            self.k_pad(),
            rows,
            pairs,
            |pair| [2 * pair, 2 * pair + 1].map(|t| self.tile(t).as_ptr()),
            |pair, row, sums, n| self.store(2 * pair * NR, row, &sums[..n], out),
        );
        2 * pairs
    }

    /// `matmul` with `vdpbf16ps` (AVX512_BF16): whole pairs of full tiles `WIDE_MR` rows a call
    /// (each row's broadcast shared by two tiles, half the loads per product of the one-tile
    /// kernel), the other tiles through `tile_rows`, in the tasks of `by_tile_pairs`.
    #[cfg(target_arch = "x86_64")]
    fn matmul_wide(&self, xb: &[u16], rows: usize, out: Out) {
        // SAFETY (both): the CPU has AVX512_BF16 (the caller checked); tasks are disjoint in rows
        // x tiles of `out`, the `[rows, n_out]` destination.
        by_tile_pairs(
            (rows, 2 * self.k_pad(), WIDE_MR),
            self.n_out,
            |rows, pairs| unsafe { self.wide_rows(xb, rows, pairs, out) },
            |tile, rows| unsafe { self.tile_rows(tile, xb, rows, out, CpuLevel::Avx512) },
        );
    }

    /// `rows` of `out` times the tile pairs `pairs` (whole pairs of full tiles) with `vdpbf16ps`,
    /// `WIDE_MR` rows a call.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL and BF16; `out` is the `[rows, n_out]` destination, and no
    /// other thread writes these rows of these tiles.
    #[cfg(target_arch = "x86_64")]
    unsafe fn wide_rows(
        &self,
        xb: &[u16],
        rows: std::ops::Range<usize>,
        pairs: std::ops::Range<usize>,
        out: Out,
    ) {
        let k_pad = self.k_pad();
        assert!(xb.len() >= rows.end * k_pad);
        let mut sums = [[0f32; 2 * NR]; WIDE_MR];
        for pair in pairs {
            let w = [2 * pair, 2 * pair + 1].map(|t| self.tile(t).as_ptr());
            for row in rows.clone().step_by(WIDE_MR) {
                let mr = WIDE_MR.min(rows.end - row);
                avx512::pair_microkernel(xb[row * k_pad..].as_ptr(), k_pad, mr, w, &mut sums);
                self.store(2 * pair * NR, row, &sums[..mr], out);
            }
        }
    }

    /// `rows` of one tile, `MR` at a time, through the best vector kernel the level has (the tile
    /// reordered first if it is not in the level's layout).
    ///
    /// # Safety
    /// `out` is the `[rows, n_out]` destination; no other thread writes these rows of the tile.
    unsafe fn tile_rows(
        &self,
        tile: usize,
        xb: &[u16],
        rows: std::ops::Range<usize>,
        out: Out,
        level: CpuLevel,
    ) {
        let (mut reordered, layout) = (Vec::new(), TileLayout::for_level(level));
        let w = relayout(self.tile(tile), 2, self.layout, layout, &mut reordered);
        let k_pad = self.k_pad();
        for row in rows.clone().step_by(MR) {
            let mr = MR.min(rows.end - row);
            let x = &xb[row * k_pad..(row + mr) * k_pad];
            let mut sums = [[0f32; NR]; MR];
            microkernel(level, x, k_pad, mr, w, &mut sums);
            self.store(tile * NR, row, &sums[..mr], out);
        }
    }

    /// Puts the sums of consecutive rows from `row`, for the channels from `c0` (as many as
    /// exist), with the bias, in `out`. One `dispatch` for all the rows: entered per row (32
    /// values), its call and the loop's aliasing checks took as long as the tile unit's products.
    #[inline(always)]
    unsafe fn store<const N: usize>(&self, c0: usize, row: usize, sums: &[[f32; N]], out: Out) {
        let n = N.min(self.n_out - c0);
        let bias = &self.bias[c0..c0 + n];
        // One loop per case, so that the test is not in it.
        let put = |out: Out| {
            for (r, sums) in sums.iter().enumerate() {
                let at = (row + r) * self.n_out + c0;
                for c in 0..n {
                    out.put(at + c, sums[c] + bias[c]);
                }
            }
        };
        dispatch(
            #[inline(always)]
            || {
                if out.accumulate {
                    put(Out {
                        accumulate: true,
                        ..out
                    })
                } else {
                    put(Out {
                        accumulate: false,
                        ..out
                    })
                }
            },
        )
    }
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
fn from_bf16(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// Rounds each row of `x` (`n_in` values) to bf16, padded with zeros to `k_pad`. Written once, not
/// zeroed first (that memset was 1-2% of a bf16 forward).
fn round_rows(x: &[f32], n_in: usize, k_pad: usize) -> Vec<u16> {
    let len = x.len() / n_in * k_pad;
    let mut xb = Vec::with_capacity(len);
    xb.spare_capacity_mut()[..len]
        .par_chunks_mut(k_pad)
        .zip(x.par_chunks(n_in))
        .for_each(|(dst, row)| {
            dispatch(
                #[inline(always)]
                || {
                    let (values, pad) = dst.split_at_mut(n_in);
                    values.iter_mut().zip(row).for_each(|(d, &v)| {
                        d.write(to_bf16(v));
                    });
                    pad.iter_mut().for_each(|d| {
                        d.write(0);
                    });
                },
            )
        });
    // SAFETY: the loop above wrote every value of every row.
    unsafe { xb.set_len(len) };
    xb
}

/// Rounds `w` `[n_out, n_in]` to bf16 in tiles of `NR` channels laid out as `layout` says
/// (`[k / 2][NR][2]` in groups); channels and inputs past the ends are zero. Tiles in parallel.
fn pack(w: &WeightRows, layout: TileLayout) -> Vec<u16> {
    let k_pad = w.n_in().next_multiple_of(K_ALIGN);
    let mut packed = vec![0u16; w.n_out().div_ceil(NR) * k_pad * NR];
    packed
        .par_chunks_mut(k_pad * NR)
        .enumerate()
        .for_each(|(tile, packed)| {
            let mut row = vec![0f32; w.n_in()];
            for lane in 0..NR.min(w.n_out() - tile * NR) {
                w.read(tile * NR + lane, 0, &mut row);
                for (k, &v) in row.iter().enumerate() {
                    packed[layout.index(2, k, lane)] = to_bf16(v);
                }
            }
        });
    packed
}

/// The f32 sums of `mr` rows of `x` (at stride `k_pad`) by one packed tile `w`, laid out as
/// `level`'s kernels read it (`TileLayout::for_level`).
fn microkernel(level: CpuLevel, x: &[u16], k_pad: usize, mr: usize, w: &[u16], sums: &mut [[f32; NR]; MR]) {
    assert!(mr <= MR && x.len() >= mr * k_pad && w.len() >= k_pad * NR);
    #[cfg(target_arch = "x86_64")]
    if level >= CpuLevel::Avx512 && cpu_level::has_avx512_bf16() {
        // SAFETY: AVX-512 F/BW/VL and BF16 are present; the assert bounds every read.
        return unsafe { avx512::microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), sums) };
    }
    #[cfg(target_arch = "x86_64")]
    if level >= CpuLevel::Avx2 {
        // SAFETY: AVX2 and FMA are present; the assert bounds every read.
        return unsafe { avx2::microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), sums) };
    }
    #[cfg(target_arch = "aarch64")]
    if level == CpuLevel::Mmla {
        // SAFETY: BF16 is present (the level); the assert bounds every read, `w` is in the pairs
        // layout (`tile_rows`) and `k_pad` a multiple of 4.
        return unsafe { arm_mmla::bf16_microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), k_pad / 4, sums) };
    }
    #[cfg(target_arch = "aarch64")]
    if level >= CpuLevel::Neon {
        // SAFETY: NEON is present; the assert bounds every read.
        return unsafe { neon::microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), sums) };
    }
    let _ = level;
    dispatch(
        #[inline(always)]
        || microkernel_portable(x, k_pad, mr, w, sums),
    )
}

/// The portable kernel, in the order of operations `vdpbf16ps` is specified with.
#[inline(always)]
fn microkernel_portable(x: &[u16], k_pad: usize, mr: usize, w: &[u16], sums: &mut [[f32; NR]; MR]) {
    for (r, acc) in sums.iter_mut().enumerate().take(mr) {
        let x = &x[r * k_pad..(r + 1) * k_pad];
        for (pair, w) in x.chunks_exact(2).zip(w.chunks_exact(2 * NR)) {
            let (x0, x1) = (from_bf16(pair[0]), from_bf16(pair[1]));
            for (c, acc) in acc.iter_mut().enumerate() {
                *acc = (*acc + x1 * from_bf16(w[2 * c + 1])) + x0 * from_bf16(w[2 * c]);
            }
        }
    }
}

/// For CPUs that cannot multiply bf16 (AVX2 and FMA only: Zen 3, Haswell to Ice Lake clients): a
/// bf16 value is the top half of an f32, so each 32-bit lane of the packed pairs gives its even
/// input's weight shifted up and its odd input's masked, and the multiply-adds are f32's. Two
/// shifts and two masks per pair of inputs for sixteen multiply-adds: float32's speed with half its
/// weight traffic (the portable loop, which converts every weight once per row, was several times
/// slower than float32).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// # Safety
    /// AVX2 and FMA are present; `x` holds `mr` rows of `k_pad` values (an even number), `w` a
    /// packed tile of `k_pad / 2` pairs.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn microkernel(
        x: *const u16,
        k_pad: usize,
        mr: usize,
        w: *const u16,
        sums: &mut [[f32; NR]; MR],
    ) {
        by_rows!(mr, R => rows::<R>(x, k_pad, w, sums))
    }

    /// The even and odd halves of eight (even, odd) bf16 pairs, as f32.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn halves(pairs: __m256i) -> (__m256, __m256) {
        let high = _mm256_set1_epi32(0xffff_0000_u32 as i32);
        (
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(pairs)),
            _mm256_castsi256_ps(_mm256_and_si256(pairs, high)),
        )
    }

    /// The sums of `R` rows into `sums`; per pair of inputs the odd product is added first, then
    /// the even one (`vdpbf16ps`'s order).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows<const R: usize>(x: *const u16, k_pad: usize, w: *const u16, sums: &mut [[f32; NR]; MR]) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for p in 0..k_pad / 2 {
            let lanes = w.add(p * 2 * NR) as *const __m256i;
            let (w_even_lo, w_odd_lo) = halves(_mm256_loadu_si256(lanes));
            let (w_even_hi, w_odd_hi) = halves(_mm256_loadu_si256(lanes.add(1)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * k_pad + 2 * p) as *const i32).read_unaligned();
                let (x_even, x_odd) = halves(_mm256_set1_epi32(pair));
                acc[0] = _mm256_fmadd_ps(x_even, w_even_lo, _mm256_fmadd_ps(x_odd, w_odd_lo, acc[0]));
                acc[1] = _mm256_fmadd_ps(x_even, w_even_hi, _mm256_fmadd_ps(x_odd, w_odd_hi, acc[1]));
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm256_storeu_ps(sums.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc[1]);
        }
    }
}

/// arm64's NEON (without the BF16 extension): as the AVX2 kernel, four channels' pairs a register.
#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::{MR, NR};

    /// # Safety
    /// NEON is present; `x` holds `mr` rows of `k_pad` values (an even number), `w` a packed tile
    /// of `k_pad / 2` pairs.
    #[target_feature(enable = "neon")]
    pub unsafe fn microkernel(
        x: *const u16,
        k_pad: usize,
        mr: usize,
        w: *const u16,
        sums: &mut [[f32; NR]; MR],
    ) {
        by_rows!(mr, R => rows::<R>(x, k_pad, w, sums))
    }

    /// The even and odd halves of four (even, odd) bf16 pairs, as f32.
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn halves(pairs: uint32x4_t) -> (float32x4_t, float32x4_t) {
        (
            vreinterpretq_f32_u32(vshlq_n_u32::<16>(pairs)),
            vreinterpretq_f32_u32(vandq_u32(pairs, vdupq_n_u32(0xffff_0000))),
        )
    }

    /// The sums of `R` rows into `sums`; per pair of inputs the odd product is added first, then
    /// the even one (`vdpbf16ps`'s order).
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn rows<const R: usize>(x: *const u16, k_pad: usize, w: *const u16, sums: &mut [[f32; NR]; MR]) {
        let mut acc = [[vdupq_n_f32(0.0); NR / 4]; R];
        for p in 0..k_pad / 2 {
            let lanes = w.add(p * 2 * NR) as *const u32;
            let ws: [(float32x4_t, float32x4_t); NR / 4] =
                std::array::from_fn(|q| halves(vld1q_u32(lanes.add(4 * q))));
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * k_pad + 2 * p) as *const u32).read_unaligned();
                let (x_even, x_odd) = halves(vdupq_n_u32(pair));
                for (acc, &(w_even, w_odd)) in acc.iter_mut().zip(&ws) {
                    *acc = vfmaq_f32(vfmaq_f32(*acc, x_odd, w_odd), x_even, w_even);
                }
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            for (q, &a) in acc.iter().enumerate() {
                vst1q_f32(sums.as_mut_ptr().add(4 * q), a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{MR, NR, WIDE_MR};

    /// # Safety
    /// AVX-512 F/BW/VL and BF16 are present; `x` holds `mr` rows of `k_pad` values (an even
    /// number of pairs), `w` a packed tile of `k_pad / 2` pairs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub unsafe fn microkernel(
        x: *const u16,
        k_pad: usize,
        mr: usize,
        w: *const u16,
        sums: &mut [[f32; NR]; MR],
    ) {
        by_rows!(mr, R => store(&rows::<R>(x, k_pad, w), sums))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[__m512; R], sums: &mut [[f32; NR]; MR]) {
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm512_storeu_ps(sums.as_mut_ptr(), *acc);
        }
    }

    /// The sums of `mr` rows of `x` (at stride `k_pad`) by the two packed tiles `w` into `sums`
    /// (the first tile's 16 channels, then the second's).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL and BF16 are present; `x` holds `mr <= WIDE_MR` rows of `k_pad` values (an
    /// even number), `w` two packed tiles of `k_pad / 2` pairs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub unsafe fn pair_microkernel(
        x: *const u16,
        k_pad: usize,
        mr: usize,
        w: [*const u16; 2],
        sums: &mut [[f32; 2 * NR]; WIDE_MR],
    ) {
        const _: () = assert!(WIDE_MR == 8);
        by_wide_rows!(mr, R => pair_rows::<R>(x, k_pad, w, sums))
    }

    /// Per pair of inputs, each row's pair broadcast once and multiplied by both tiles' 16
    /// channels: 2R independent sums, up to 8 rows (2 loads and 8 broadcasts per 16 products;
    /// bench/README.md, "Kernel choices", compares 6 rows).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[inline]
    unsafe fn pair_rows<const R: usize>(
        x: *const u16,
        k_pad: usize,
        w: [*const u16; 2],
        sums: &mut [[f32; 2 * NR]; WIDE_MR],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for p in 0..k_pad / 2 {
            let [w0, w1] =
                w.map(|w| -> __m512bh { std::mem::transmute(_mm512_loadu_si512(w.add(p * 2 * NR).cast())) });
            for (r, acc) in acc.iter_mut().enumerate() {
                let at = x.add(r * k_pad + 2 * p) as *const i32;
                let pair: __m512bh = std::mem::transmute(_mm512_set1_epi32(at.read_unaligned()));
                acc[0] = _mm512_dpbf16_ps(acc[0], pair, w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], pair, w1);
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm512_storeu_ps(sums.as_mut_ptr(), acc[0]);
            _mm512_storeu_ps(sums.as_mut_ptr().add(NR), acc[1]);
        }
    }

    /// Per pair of inputs, one `vdpbf16ps` per row (the row's pair in every lane against the 16
    /// channels' pairs); even and odd pairs in separate accumulators, added at the end.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[inline]
    unsafe fn rows<const R: usize>(x: *const u16, k_pad: usize, w: *const u16) -> [__m512; R] {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let load =
            |p: usize| -> __m512bh { std::mem::transmute(_mm512_loadu_si512(w.add(p * 2 * NR).cast())) };
        let pair = |r: usize, p: usize| -> __m512bh {
            let at = x.add(r * k_pad + 2 * p) as *const i32;
            std::mem::transmute(_mm512_set1_epi32(at.read_unaligned()))
        };
        for p in (0..k_pad / 2).step_by(2) {
            let (w0, w1) = (load(p), load(p + 1));
            for (r, acc) in acc.iter_mut().enumerate() {
                acc[0] = _mm512_dpbf16_ps(acc[0], pair(r, p), w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], pair(r, p + 1), w1);
            }
        }
        acc.map(|[even, odd]| _mm512_add_ps(even, odd))
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
