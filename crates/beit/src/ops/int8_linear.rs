//! A linear layer in int8: weights quantized per output channel at load (symmetric, 7 bits),
//! activations per row at each call (asymmetric, 7 bits), products summed in i32 and scaled back to
//! f32 with the bias and residual added. The reduced-precision path (`LoadOptions::quantization`).
//!
//! Neither candle's quantized matmul (per-row dot products without VNNI, slower than its own f32
//! gemm: bench/README.md, "Kernel choices") nor another crate offers a blocked int8 GEMM for AVX2,
//! so the kernel is our own: `vpmaddubsw` multiplies 32 unsigned activation bytes by 32 signed
//! weight bytes into i16 pair sums, two such products (eight inputs) are added in i16, and
//! `vpmaddwd` widens them to i32. The multiplies bound the kernel, and adding in i16 saves a
//! quarter of them; it takes activations in 0..=127 and weights in -63..=63, so that four products
//! (at most 4 x 127 x 63 = 32004) fit an i16, as onnxruntime's `reduce_range` does for CPUs
//! without VNNI. The zero point is taken out in the epilogue through
//! each channel's weight sum.
//!
//! With AVX-VNNI (`CpuLevel::AvxVnni`: VNNI in 256-bit registers, on CPUs without AVX-512) the
//! AVX2 kernel's three instructions per two groups become one `vpdpbusd` per group, into the same
//! i32 sums.
//!
//! With AVX-512 VNNI (`cpu_level::CpuLevel::Avx512`) one `vpdpbusd` does the four byte products
//! of 16 channels and their sum into i32 at once, so the kernel there is that instruction per row
//! and group: up to 8 rows by a pair of tiles a call (each row's broadcast serves both tiles), and
//! 4 rows by one tile for an odd last tile, with two accumulators per row (even and odd groups) so
//! that eight sums are in flight. It takes the same levels: the i32 sums are exact either way, so
//! every level gives the same bits.
//!
//! On arm64 with the dot product extension (`CpuLevel::Neon`), `sdot` does the same four byte
//! products per lane (module `neon`); with I8MM (`CpuLevel::Mmla`), `smmla` multiplies two rows by
//! two channels eight inputs deep (`ops::arm_mmla`), from tiles packed with eight inputs of a
//! channel side by side (`ops::tile_layout`).
//!
//! With AMX (`CpuLevel::Amx`) the tile unit takes 16 rows by two tiles at a time (`ops::amx`), 64
//! inputs per step: the packed layout is already what its `tdpbusd` reads for the weights (16 groups
//! of four inputs by 16 channels, 64 bytes a group). The sums go through the same epilogue.
//!
//! NaN and infinities have no int8 level. A row of activations that holds one gets the scale NaN
//! (its levels are zero), and so does a weight channel: the epilogue's multiply by the scale then
//! makes every output of that row, or of that channel, NaN, as NaN propagates through an f32
//! linear layer (where an infinity would give +-inf or NaN; here always NaN, which the model's
//! next LayerNorm would make of it anyway). Levels are bounded in a way that maps NaN into range,
//! so the float-to-int conversion never sees a value outside it.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::ops::amx;
#[cfg(target_arch = "aarch64")]
use crate::ops::arm_mmla;
use crate::ops::cpu_data::with_f32;
use crate::ops::cpu_level::{self, active, CpuLevel};
use crate::ops::deferred_weight::{CallWeight, DeferredWeight};
use crate::ops::linear::{bias_values, group_rows, output_shape, row_blocks, Destination, Out};
#[cfg(target_arch = "x86_64")]
use crate::ops::packed_linear::by_tile_pairs;
use crate::ops::simd::dispatch;
// Output channels per packed tile (16): two AVX2 vectors of eight i32 sums, one AVX-512 vector.
use crate::ops::tile_layout::{relayout, TileLayout, NR};
use crate::ops::weight_rows::{RowSource, WeightRows};

/// Rows per microkernel call: 8 accumulators, 2 weight vectors, the broadcast, the ones and two
/// temporaries fit in the 16 AVX2 registers.
const MR: usize = 4;
/// Rows per call of the AVX-512 VNNI kernel on a pair of tiles: 16 sums in registers for 2 weight
/// loads and 8 broadcasts.
#[cfg(target_arch = "x86_64")]
const WIDE_MR: usize = 8;
/// Inputs per i32 lane and `vpmaddubsw`: four byte products. The kernel takes two groups (eight
/// inputs) per step, so the inputs are padded to a multiple of `2 * KG`.
const KG: usize = 4;
/// The most rows of a first call that quantizes the weight as it goes: one image of BEiT-base.
const STREAM_ROWS: usize = 198;
/// The largest weight level: 6 bits and the sign (see the module comment).
const W_MAX: f32 = 63.0;
#[cfg(target_arch = "aarch64")]
const _: () = assert!(MR == arm_mmla::MR, "the Mmla kernel's sums are a row group's");

#[derive(Debug)]
pub struct Int8Linear {
    quantized: DeferredWeight<Quantized>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

/// The weight quantized, in tiles of `NR` channels.
#[derive(Debug)]
struct Quantized {
    /// `[tiles][k_pad / 4][NR][4]`: for each group of four inputs, 16 channels' weights (in
    /// `layout`: `[tiles][k_pad / 8][NR][8]` for the `Mmla` level).
    packed: Vec<i8>,
    layout: TileLayout,
    /// Per output channel: the weight that the int8 value 1 stands for.
    scales: Vec<f32>,
    /// Per output channel: the sum of its int8 weights, to remove the activations' zero point.
    sums: Vec<i32>,
}

/// One tile of a quantized weight: its packed values, and the scales and sums of its channels.
#[derive(Clone, Copy)]
struct TileWeights<'a> {
    packed: &'a [i8],
    layout: TileLayout,
    scales: &'a [f32],
    sums: &'a [i32],
}

impl Quantized {
    fn tile(&self, tile: usize, k_pad: usize) -> TileWeights<'_> {
        let channels = tile * NR..((tile + 1) * NR).min(self.scales.len());
        TileWeights {
            packed: &self.packed[tile * k_pad * NR..(tile + 1) * k_pad * NR],
            layout: self.layout,
            scales: &self.scales[channels.clone()],
            sums: &self.sums[channels],
        }
    }
}

/// One row of quantized activations: `x = (q - zero) * scale`.
#[derive(Clone, Copy, Debug, Default)]
struct RowQuant {
    scale: f32,
    zero: i32,
}

impl Int8Linear {
    /// Quantizes `weight` `[out, in]` (as `torch.nn.Linear`) per output channel.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Self> {
        let n_in = weight.dims2()?.1;
        with_f32(&weight.to_dtype(candle_core::DType::F32)?, |w| {
            Self::from_rows(&WeightRows::dense(w, n_in)?, bias)
        })?
    }

    /// Quantizes the weight that `rows` reads, per output channel.
    pub fn from_rows(rows: &WeightRows, bias: Option<&Tensor>) -> candle_core::Result<Self> {
        let quantized = DeferredWeight::ready(quantize(rows));
        Self::with(quantized, rows.n_in(), rows.n_out(), bias)
    }

    /// A layer that quantizes the weight of `source` on its second call (see `DeferredWeight`);
    /// its first call, if it has at most `STREAM_ROWS` rows (one image), quantizes each tile as it
    /// goes, into a buffer that stays in L2.
    pub fn deferred(source: Box<dyn RowSource>, bias: Option<&Tensor>) -> candle_core::Result<Self> {
        let (n_in, n_out) = source.rows().map(|r| (r.n_in(), r.n_out()))?;
        Self::with(DeferredWeight::deferred(source), n_in, n_out, bias)
    }

    fn with(
        quantized: DeferredWeight<Quantized>,
        n_in: usize,
        n_out: usize,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            quantized,
            bias: bias_values(bias, n_out)?,
            n_in,
            n_out,
        })
    }

    /// Quantizes the weight now if it is deferred and not quantized yet.
    pub fn finish_loading(&self) -> candle_core::Result<()> {
        self.quantized.finish(quantize)
    }

    /// `xs W^T + bias (+ residual)` over the last dimension of `xs` (f32 on the CPU).
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        self.forward_at(xs, residual, active())
    }

    /// `forward` with the kernel of `level` (lowered to what the CPU has): every level gives the
    /// same bits, which the tests check.
    pub fn forward_at(
        &self,
        xs: &Tensor,
        residual: Option<&Tensor>,
        level: CpuLevel,
    ) -> candle_core::Result<Tensor> {
        let level = level.min(cpu_level::detected());
        let shape = output_shape(xs, self.n_in, self.n_out, residual)?;
        let rows = xs.elem_count() / self.n_in;
        let weight = self.quantized.for_call(rows, STREAM_ROWS, quantize)?;
        let (xq, quants) = with_f32(xs, |x| quantize_rows(x, self.n_in))?;
        let mut dst = Destination::new(rows, self.n_out, residual)?;
        let out = dst.out();
        match weight {
            CallWeight::Ready(quantized) => self.matmul(&xq, &quants, quantized, out, level),
            CallWeight::Rows(w) => self.matmul_streamed(&xq, &quants, &w, out, level),
        }
        // SAFETY: both matmuls put every row of every tile once.
        Tensor::from_vec(unsafe { dst.finish() }, shape, &Device::Cpu)
    }

    fn k_groups(&self) -> usize {
        k_groups(self.n_in)
    }

    fn k_pad(&self) -> usize {
        KG * self.k_groups()
    }

    /// `out += dequantized(xq W^T) + bias` (`out`: `[rows, n_out]`), blocks of rows in parallel.
    fn matmul(&self, xq: &[u8], quants: &[RowQuant], w: &Quantized, out: Out, level: CpuLevel) {
        // The x86 levels have one layout; `tile_rows` takes any.
        #[cfg(target_arch = "x86_64")]
        debug_assert_eq!(w.layout, TileLayout::Groups);
        #[cfg(target_arch = "x86_64")]
        if level == CpuLevel::Avx512 {
            return self.matmul_wide(xq, quants, w, out);
        }
        let rows = quants.len();
        // Blocks of at most 96 rows, cut at multiples of what the kernels take at a time.
        let unit = group_rows(level, MR);
        let groups = rows.div_ceil(unit);
        let blocks = row_blocks(groups, 96 / unit);
        let tiles = self.n_out.div_ceil(NR);
        (0..blocks).into_par_iter().for_each(|b| {
            let rows = (b * groups / blocks * unit).min(rows)..((b + 1) * groups / blocks * unit).min(rows);
            // Tile pairs on the AMX unit where it can take them; what is left below.
            #[cfg(target_arch = "x86_64")]
            let done = if level == CpuLevel::Amx
                && self.k_pad().is_multiple_of(<amx::Int8 as amx::Operands>::K_STEP)
            {
                // SAFETY: as below.
                unsafe { self.amx_rows(w, xq, quants, rows.clone(), out) }
            } else {
                0
            };
            #[cfg(not(target_arch = "x86_64"))]
            let done = 0;
            for tile in done..tiles {
                // SAFETY: block b writes only its own rows of `out`.
                let weights = w.tile(tile, self.k_pad());
                unsafe { self.tile_rows(tile, weights, xq, quants, rows.clone(), out, level) }
            }
        });
    }

    /// `rows` of `out` times the tiles of whole pairs of full tiles, on the AMX unit
    /// (`amx::pairs_by_rows`); the number of tiles done (the rest are the caller's).
    ///
    /// # Safety
    /// As `tile_rows`; the CPU has the `Amx` level and `k_pad` is a multiple of the tile unit's int8 step.
    #[cfg(target_arch = "x86_64")]
    unsafe fn amx_rows(
        &self,
        w: &Quantized,
        xq: &[u8],
        quants: &[RowQuant],
        rows: std::ops::Range<usize>,
        out: Out,
    ) -> usize {
        let (k_pad, pairs) = (self.k_pad(), self.n_out / NR / 2);
        amx::pairs_by_rows::<amx::Int8>(
            xq,
            k_pad,
            rows,
            pairs,
            |pair| [2 * pair, 2 * pair + 1].map(|t| w.tile(t, k_pad).packed.as_ptr()),
            |pair, row, sums, n| {
                for half in 0..2 {
                    let t = w.tile(2 * pair + half, k_pad);
                    let epilogue = self.epilogue(2 * pair + half, &t, row, &quants[row..row + n], out);
                    avx512::epilogue_from(sums, half, &epilogue);
                }
            },
        );
        2 * pairs
    }

    /// `matmul` with AVX-512 VNNI: whole pairs of full tiles `WIDE_MR` rows a call, the other
    /// tiles through `tile_rows`, in the tasks of `by_tile_pairs`.
    #[cfg(target_arch = "x86_64")]
    fn matmul_wide(&self, xq: &[u8], quants: &[RowQuant], w: &Quantized, out: Out) {
        let k_pad = self.k_pad();
        // SAFETY (both): the caller's level is `Avx512`, at most the detected one; tasks are
        // disjoint in rows x tiles of `out`.
        by_tile_pairs(
            (quants.len(), k_pad, WIDE_MR),
            self.n_out,
            |rows, pairs| unsafe { self.wide_rows(w, xq, quants, rows, pairs, out) },
            |tile, rows| unsafe {
                self.tile_rows(tile, w.tile(tile, k_pad), xq, quants, rows, out, CpuLevel::Avx512)
            },
        );
    }

    /// `rows` of `out` times the tile pairs `pairs` (whole pairs of full tiles) with AVX-512 VNNI,
    /// `WIDE_MR` rows a call, the epilogue in registers. Sharing each row's broadcast between two
    /// tiles halves the loads per product against the one-tile kernel.
    ///
    /// # Safety
    /// As `tile_rows`, for these tiles; the CPU has the `Avx512` level.
    #[cfg(target_arch = "x86_64")]
    unsafe fn wide_rows(
        &self,
        w: &Quantized,
        xq: &[u8],
        quants: &[RowQuant],
        rows: std::ops::Range<usize>,
        pairs: std::ops::Range<usize>,
        out: Out,
    ) {
        let (k_pad, k_groups) = (self.k_pad(), self.k_groups());
        for pair in pairs {
            let tiles = [2 * pair, 2 * pair + 1].map(|t| w.tile(t, k_pad));
            assert!(tiles.iter().all(|t| t.packed.len() >= k_groups * KG * NR));
            let packed = tiles.map(|t| t.packed.as_ptr());
            for row in rows.clone().step_by(WIDE_MR) {
                let quants = &quants[row..(row + WIDE_MR).min(rows.end)];
                let x = &xq[row * k_pad..(row + quants.len()) * k_pad];
                let epilogues = [0, 1].map(|h| self.epilogue(2 * pair + h, &tiles[h], row, quants, out));
                avx512::pair_microkernel_into(x.as_ptr(), k_pad, quants.len(), packed, k_groups, &epilogues);
            }
        }
    }

    /// As `matmul`, quantizing the weight of `w` tile by tile as it goes: tiles in parallel, each
    /// over every row (the first call's way, see `deferred`).
    fn matmul_streamed(&self, xq: &[u8], quants: &[RowQuant], w: &WeightRows, out: Out, level: CpuLevel) {
        let (k_pad, layout) = (self.k_pad(), TileLayout::for_level(level));
        (0..self.n_out.div_ceil(NR)).into_par_iter().for_each_init(
            || (vec![0i8; k_pad * NR], [1f32; NR], [0i32; NR]),
            |(packed, scales, sums), tile| {
                quantize_tile(w, tile, layout, packed, scales, sums);
                let channels = NR.min(self.n_out - tile * NR);
                let weights = TileWeights {
                    packed,
                    layout,
                    scales: &scales[..channels],
                    sums: &sums[..channels],
                };
                // SAFETY: tile `tile` writes only its own columns of `out`.
                unsafe { self.tile_rows(tile, weights, xq, quants, 0..quants.len(), out, level) }
            },
        );
    }

    /// `rows` of `out` times one tile, in groups of `MR` (the tile reordered first if it is not
    /// in the level's layout).
    ///
    /// # Safety
    /// `out` is the `[rows, n_out]` destination; no other thread writes these rows of the tile's
    /// columns.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_rows(
        &self,
        tile: usize,
        w: TileWeights,
        xq: &[u8],
        quants: &[RowQuant],
        rows: std::ops::Range<usize>,
        out: Out,
        level: CpuLevel,
    ) {
        let mut reordered = Vec::new();
        let layout = TileLayout::for_level(level);
        let w = TileWeights {
            packed: relayout(w.packed, KG, w.layout, layout, &mut reordered),
            layout,
            ..w
        };
        for row in rows.clone().step_by(MR) {
            let quants = &quants[row..(row + MR).min(rows.end)];
            let direct = Direct {
                tile,
                w,
                xq,
                row,
                quants,
                out,
            };
            if !self.rows_direct(&direct, level) {
                self.rows_via_sums(&direct, level);
            }
        }
    }

    /// Rows `row..row + quants.len()` of one tile through the AVX2 or VNNI kernel with the
    /// epilogue in registers; false (nothing done) at the scalar level or for a partial tile.
    ///
    /// # Safety
    /// As `tile_rows`, for these rows.
    unsafe fn rows_direct(&self, d: &Direct, level: CpuLevel) -> bool {
        #[cfg(target_arch = "x86_64")]
        if (d.tile + 1) * NR <= self.n_out && level >= CpuLevel::Avx2 {
            let k_pad = KG * self.k_groups();
            let epilogue = self.epilogue(d.tile, &d.w, d.row, d.quants, d.out);
            let x = &d.xq[d.row * k_pad..(d.row + d.quants.len()) * k_pad];
            let w = d.w.packed;
            assert!(w.len() >= self.k_groups() * KG * NR);
            let args = (x.as_ptr(), k_pad, d.quants.len(), w.as_ptr(), self.k_groups());
            // SAFETY: the level is at most the detected one; `x` and `w` hold what the kernel
            // reads; the destination rows are the caller's and the tile's 16 columns lie within.
            match level {
                CpuLevel::Avx512 | CpuLevel::Amx => avx512::microkernel_into(args, &epilogue),
                CpuLevel::AvxVnni => avx2::microkernel_into_vnni(args, &epilogue),
                _ => avx2::microkernel_into(args, &epilogue),
            }
            return true;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (d, level);
        false
    }

    /// Where the kernels with the epilogue in registers put `quants.len()` rows from `row` of
    /// (whole) tile `tile`, whose weights are `w`.
    ///
    /// # Safety
    /// `out` is the `[rows, n_out]` destination, with these rows in it.
    #[cfg(target_arch = "x86_64")]
    unsafe fn epilogue<'a>(
        &'a self,
        tile: usize,
        w: &TileWeights<'a>,
        row: usize,
        quants: &'a [RowQuant],
        out: Out,
    ) -> Epilogue<'a> {
        let c0 = tile * NR;
        Epilogue {
            dst: out.at.0.add(row * self.n_out + c0),
            accumulate: out.accumulate,
            stride: self.n_out,
            quants,
            scales: &w.scales[..NR],
            bias: &self.bias[c0..c0 + NR],
            weight_sums: &w.sums[..NR],
        }
    }

    /// The same rows through sums, then `store`: any tile, any level.
    ///
    /// # Safety
    /// As `tile_rows`, for these rows.
    unsafe fn rows_via_sums(&self, d: &Direct, level: CpuLevel) {
        let k_pad = KG * self.k_groups();
        let mut sums = [[0i32; NR]; MR];
        microkernel(
            level,
            &d.xq[d.row * k_pad..],
            k_pad,
            d.quants.len(),
            d.w.packed,
            self.k_groups(),
            &mut sums,
        );
        for (r, (sums, &q)) in sums.iter().zip(d.quants).enumerate() {
            self.store(d.tile, d.w, d.row + r, q, sums, d.out);
        }
    }

    /// Scales one row's sums for one tile back to f32 and puts them (with the bias) in `out`
    /// (the AVX2 kernel does this itself for whole tiles, in the same order of operations).
    unsafe fn store(&self, tile: usize, w: TileWeights, row: usize, q: RowQuant, sums: &[i32; NR], out: Out) {
        let c0 = tile * NR;
        let at = row * self.n_out + c0;
        for (c, (&sum, (&w_sum, &w_scale))) in sums.iter().zip(w.sums.iter().zip(w.scales)).enumerate() {
            let s = sum - q.zero * w_sum;
            out.put(at + c, s as f32 * q.scale * w_scale + self.bias[c0 + c]);
        }
    }
}

/// One group of at most `MR` rows against one tile: what the row kernels take.
struct Direct<'a> {
    tile: usize,
    w: TileWeights<'a>,
    xq: &'a [u8],
    row: usize,
    quants: &'a [RowQuant],
    out: Out,
}

/// Where a whole tile's results go: `dst[r][c] (+)= ((sum - zero_r * weight_sums[c]) as f32 *
/// scale_r * scales[c] + bias[c])`, row `r` at `dst + r * stride` (the order of `store`'s
/// operations, so that every level gives the same bits).
#[cfg(target_arch = "x86_64")]
struct Epilogue<'a> {
    dst: *mut f32,
    /// Whether to add to `dst` (a residual) or write it.
    accumulate: bool,
    stride: usize,
    quants: &'a [RowQuant],
    scales: &'a [f32],
    bias: &'a [f32],
    weight_sums: &'a [i32],
}

/// The row kernels' operands: `x` (`mr` rows at stride `k_pad`), `k_pad`, `mr`, `w` (a packed
/// tile of `k_groups` groups), `k_groups`.
#[cfg(target_arch = "x86_64")]
type Args = (*const u8, usize, usize, *const i8, usize);

/// Quantizes `w` `[n_out, n_in]` into tiles of `NR` channels with per-channel scales and int8
/// sums, in the active level's layout; channels and inputs past the ends are zero. Tiles in
/// parallel.
fn quantize(w: &WeightRows) -> Quantized {
    let layout = TileLayout::for_level(active());
    let k_pad = KG * k_groups(w.n_in());
    let tiles = w.n_out().div_ceil(NR);
    let mut packed = vec![0i8; tiles * k_pad * NR];
    let mut scales = vec![1f32; tiles * NR];
    let mut sums = vec![0i32; tiles * NR];
    packed
        .par_chunks_mut(k_pad * NR)
        .zip(scales.par_chunks_mut(NR))
        .zip(sums.par_chunks_mut(NR))
        .enumerate()
        .for_each(|(tile, ((packed, scales), sums))| quantize_tile(w, tile, layout, packed, scales, sums));
    scales.truncate(w.n_out());
    sums.truncate(w.n_out());
    Quantized {
        packed,
        layout,
        scales,
        sums,
    }
}

/// One tile's channels quantized side by side, then interleaved as the kernels of `layout` read
/// them (`[k / width][channel][k % width]`), so that the packed tile is written in order.
fn quantize_tile(
    w: &WeightRows,
    tile: usize,
    layout: TileLayout,
    packed: &mut [i8],
    scales: &mut [f32],
    sums: &mut [i32],
) {
    let k_pad = packed.len() / NR;
    let mut levels = vec![0i8; NR * k_pad];
    let mut row = vec![0f32; w.n_in()];
    let channels = tile * NR..((tile + 1) * NR).min(w.n_out());
    for (lane, channel) in channels.enumerate() {
        w.read(channel, 0, &mut row);
        let q = &mut levels[lane * k_pad..lane * k_pad + w.n_in()];
        scales[lane] = dispatch(
            #[inline(always)]
            || quantize_weights(&row, q),
        );
        sums[lane] = q.iter().map(|&v| v as i32).sum();
    }
    let width = layout.width(KG);
    for (run, dst) in packed.chunks_exact_mut(NR * width).enumerate() {
        for (lane, dst) in dst.chunks_exact_mut(width).enumerate() {
            dst.copy_from_slice(&levels[lane * k_pad + run * width..][..width]);
        }
    }
}

/// Groups of `KG` inputs, padded to an even count for the kernel's steps of two.
fn k_groups(n_in: usize) -> usize {
    n_in.div_ceil(2 * KG) * 2
}

/// Symmetric levels -63..=63 for one channel's weights; returns the scale, NaN (with every level
/// zero) if a weight is NaN or infinite.
#[inline(always)]
fn quantize_weights(row: &[f32], q: &mut [i8]) -> f32 {
    let Some((lo, hi)) = finite_range(row) else {
        q.fill(0);
        return f32::NAN;
    };
    let max = hi.max(-lo);
    let scale = if max > 0.0 { max / W_MAX } else { 1.0 };
    let inv = 1.0 / scale;
    for (q, &v) in q.iter_mut().zip(row) {
        // SAFETY: `level` is a whole number in -63..=63, whatever `v * inv` is.
        *q = unsafe { level(v * inv, -W_MAX, W_MAX).to_int_unchecked::<i32>() } as i8;
    }
    scale
}

/// `x` rounded (ties to even: one vector instruction, where `round` is a libm call per value) and
/// bounded to `lo..=hi`, NaN to `lo`: `f32::max` returns its other operand for NaN, where `clamp`
/// passes NaN on (and a NaN given to `to_int_unchecked` is undefined behaviour).
#[inline(always)]
#[allow(clippy::manual_clamp)]
fn level(x: f32, lo: f32, hi: f32) -> f32 {
    x.round_ties_even().max(lo).min(hi)
}

/// Quantizes each row of `x` (`n_in` values) to 0..=127 with its own scale and zero point,
/// padded with zeros to the kernel's groups (the padded weights are zero).
fn quantize_rows(x: &[f32], n_in: usize) -> (Vec<u8>, Vec<RowQuant>) {
    let k_pad = KG * k_groups(n_in);
    let rows = x.len() / n_in;
    let mut xq = vec![0u8; rows * k_pad];
    let mut quants = vec![RowQuant::default(); rows];
    xq.par_chunks_mut(k_pad)
        .zip(x.par_chunks(n_in))
        .zip(quants.par_iter_mut())
        .for_each(|((q, row), quant)| {
            dispatch(
                #[inline(always)]
                || *quant = quantize_activations(row, q),
            )
        });
    (xq, quants)
}

/// One row to 0..=127, the range stretched to include 0 so that 0 is exact (as padding needs);
/// the scale NaN (every level zero) if a value is NaN or infinite.
#[inline(always)]
fn quantize_activations(row: &[f32], q: &mut [u8]) -> RowQuant {
    let Some((min, max)) = finite_range(row) else {
        q.fill(0);
        return RowQuant {
            scale: f32::NAN,
            zero: 0,
        };
    };
    let range = max - min;
    let scale = if range.is_infinite() {
        // Finite values more than f32::MAX apart: their range overflows, its 127th does not.
        max / 127.0 - min / 127.0
    } else if range > 0.0 {
        range / 127.0
    } else {
        1.0
    };
    let inv = 1.0 / scale;
    let zero = level(-min * inv, 0.0, 127.0);
    for (q, &v) in q.iter_mut().zip(row) {
        // SAFETY: `level` is a whole number in 0..=127, whatever `v * inv + zero` is. (`as` would
        // add NaN and range checks that keep the loop from vectorizing.)
        *q = unsafe { level(v * inv + zero, 0.0, 127.0).to_int_unchecked::<i32>() } as u8;
    }
    RowQuant {
        scale,
        zero: zero as i32,
    }
}

/// The smallest and largest value of `row` and 0, or `None` if a value is NaN or infinite (`v * 0`
/// is 0 for the others): one pass over 32 lanes, so that the loop vectorizes (`f32::min` has to
/// order NaN, which no vector instruction does) into several independent chains per result; with
/// one vector each, a pass over 8 lanes waited on every min, max and add (a tenth of a q8 forward).
#[inline(always)]
fn finite_range(row: &[f32]) -> Option<(f32, f32)> {
    const LANES: usize = 32;
    let (mut lo, mut hi, mut probe) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            lo[i] = if chunk[i] < lo[i] { chunk[i] } else { lo[i] };
            hi[i] = if chunk[i] > hi[i] { chunk[i] } else { hi[i] };
            probe[i] += chunk[i] * 0.0;
        }
    }
    let finite = probe.iter().chain(rest).fold(0f32, |acc, &v| acc + v * 0.0) == 0.0;
    let fold = |lanes: [f32; LANES], pick: fn(f32, f32) -> f32| {
        lanes.into_iter().chain(rest.iter().copied()).fold(0.0, pick)
    };
    finite.then(|| (fold(lo, f32::min), fold(hi, f32::max)))
}

/// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows of `x` (row stride `k_pad`) and one
/// packed tile `w`, laid out as `level`'s kernels read it (`TileLayout::for_level`).
fn microkernel(
    level: CpuLevel,
    x: &[u8],
    k_pad: usize,
    mr: usize,
    w: &[i8],
    k_groups: usize,
    sums: &mut [[i32; NR]; MR],
) {
    assert!(k_groups.is_multiple_of(2), "the kernel takes groups in pairs");
    assert!(x.len() >= (mr - 1) * k_pad + KG * k_groups && w.len() >= k_groups * KG * NR);
    #[cfg(target_arch = "x86_64")]
    {
        let args = (x.as_ptr(), k_pad, mr, w.as_ptr(), k_groups);
        // SAFETY: the level is at most the detected one; the assert above bounds every read.
        match level {
            CpuLevel::Avx512 | CpuLevel::Amx => return unsafe { avx512::microkernel(args, sums) },
            CpuLevel::AvxVnni => return unsafe { avx2::microkernel_vnni(args, sums) },
            CpuLevel::Avx2 => return unsafe { avx2::microkernel(args, sums) },
            CpuLevel::Scalar | CpuLevel::Neon | CpuLevel::Mmla => {}
        }
    }
    #[cfg(target_arch = "aarch64")]
    if level == CpuLevel::Mmla {
        // SAFETY: I8MM is present (the level); the assert bounds every read, `w` is in the pairs
        // layout (`tile_rows`) and `k_groups` even.
        return unsafe { arm_mmla::int8_microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), k_groups / 2, sums) };
    }
    #[cfg(target_arch = "aarch64")]
    if level >= CpuLevel::Neon && cpu_level::has_dotprod() {
        // SAFETY: NEON and the dot product extension are present; the assert bounds every read.
        return unsafe { neon::microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), k_groups, sums) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = level;
    microkernel_scalar(x, k_pad, mr, w, k_groups, sums);
}

fn microkernel_scalar(
    x: &[u8],
    k_pad: usize,
    mr: usize,
    w: &[i8],
    k_groups: usize,
    sums: &mut [[i32; NR]; MR],
) {
    for (r, sums) in sums.iter_mut().enumerate().take(mr) {
        let x = &x[r * k_pad..];
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

/// The arm64 kernel: the dot product extension's `sdot` (Armv8.4, optional from 8.2: Graviton 2 and
/// later, Apple M1 and later, Ampere Altra) multiplies four signed bytes by four and adds them into
/// each i32 lane, which is exactly the packed layout's group of four inputs of one channel: one
/// `sdot` by element takes a group of four channels' weights and one row's group of activations
/// (levels 0..=127 are the same bytes signed). 4 rows by 16 channels in 16 accumulators. The i32
/// sums are exact, so it gives the same bits as every other level. Rust 1.95 has no stable `sdot`
/// intrinsic (they are stable from 1.98): inline assembly, the one instruction.
#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;
    use std::arch::asm;

    use super::{KG, MR, NR};

    /// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows.
    ///
    /// # Safety
    /// NEON and dotprod are present; `x` holds `mr` rows of `KG * k_groups` values at stride
    /// `k_pad`, `w` a packed tile of `k_groups` groups (an even number); activations in 0..=127.
    #[target_feature(enable = "neon,dotprod")]
    pub unsafe fn microkernel(
        x: *const u8,
        k_pad: usize,
        mr: usize,
        w: *const i8,
        k_groups: usize,
        sums: &mut [[i32; NR]; MR],
    ) {
        let mut acc = [[vdupq_n_s32(0); NR / 4]; MR];
        let rows = mr.min(MR);
        let mut g = 0;
        while g < k_groups {
            // Four groups of each row in one register (two at the end of an odd pair count).
            let n = (k_groups - g).min(4);
            let mut xs = [vdupq_n_s8(0); MR];
            for (r, xs) in xs.iter_mut().enumerate().take(rows) {
                let at = x.add(r * k_pad + KG * g) as *const i8;
                *xs = if n == 4 {
                    vld1q_s8(at)
                } else {
                    vcombine_s8(vld1_s8(at), vdup_n_s8(0))
                };
            }
            // The lane is an immediate of `sdot`: one call per lane, no branch in the loops.
            let w = w.add(g * KG * NR);
            group::<0>(&mut acc, &xs, rows, w);
            group::<1>(&mut acc, &xs, rows, w);
            if n == 4 {
                group::<2>(&mut acc, &xs, rows, w);
                group::<3>(&mut acc, &xs, rows, w);
            }
            g += n;
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()).take(rows) {
            for (q, &a) in acc.iter().enumerate() {
                vst1q_s32(sums.as_mut_ptr().add(4 * q), a);
            }
        }
    }

    /// Adds group `LANE` of each row's register `xs[r]` times that group's weights (the tile's
    /// group `LANE` after `w`) to the row's 16 sums.
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn group<const LANE: u32>(
        acc: &mut [[int32x4_t; NR / 4]; MR],
        xs: &[int8x16_t; MR],
        rows: usize,
        w: *const i8,
    ) {
        let ws: [int8x16_t; NR / 4] =
            std::array::from_fn(|q| vld1q_s8(w.add(LANE as usize * KG * NR + 16 * q)));
        for (acc, &xr) in acc.iter_mut().zip(xs).take(rows) {
            for (acc, &wq) in acc.iter_mut().zip(&ws) {
                *acc = sdot::<LANE>(*acc, wq, xr);
            }
        }
    }

    /// `acc[i] += sum_j w[4i + j] x[4 LANE + j]` over `j < 4`, signed bytes.
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn sdot<const LANE: u32>(mut acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            lane = const LANE,
            options(pure, nomem, nostack, preserves_flags),
        );
        acc
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Args, Epilogue, KG, MR, NR};

    /// The microkernel with the epilogue in registers, for a whole tile of `NR` channels.
    ///
    /// # Safety
    /// As `microkernel`; `e.dst` points to `mr` rows of at least `NR` writable values at `e.stride`,
    /// written by no one else; `e.quants` has `mr` entries and the other slices `NR`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn microkernel_into((x, k_pad, mr, w, k_groups): Args, e: &Epilogue) {
        // The same `by_rows!` as in `microkernel`, on purpose: a shared helper returning the sums
        // is not inlined into both callers, and its result then goes through memory on every call.
        by_rows!(mr, R => epilogue(&rows::<R>(x, k_pad, w, k_groups), e))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn epilogue<const R: usize>(acc: &[[__m256i; 2]; R], e: &Epilogue) {
        for (r, (acc, q)) in acc.iter().zip(e.quants).enumerate() {
            let (zero, scale) = (_mm256_set1_epi32(q.zero), _mm256_set1_ps(q.scale));
            for (half, &sums) in acc.iter().enumerate() {
                let at = 8 * half;
                let weight_sums = _mm256_loadu_si256(e.weight_sums.as_ptr().add(at) as *const __m256i);
                let s = _mm256_sub_epi32(sums, _mm256_mullo_epi32(zero, weight_sums));
                let mut y = _mm256_mul_ps(_mm256_cvtepi32_ps(s), scale);
                y = _mm256_mul_ps(y, _mm256_loadu_ps(e.scales.as_ptr().add(at)));
                y = _mm256_add_ps(y, _mm256_loadu_ps(e.bias.as_ptr().add(at)));
                let dst = e.dst.add(r * e.stride + at);
                if e.accumulate {
                    y = _mm256_add_ps(_mm256_loadu_ps(dst), y);
                }
                _mm256_storeu_ps(dst, y);
            }
        }
    }

    /// # Safety
    /// AVX2 is available; `x` holds `mr` rows of `KG * k_groups` values at stride `k_pad`, `w` a
    /// packed tile of `k_groups` groups, an even number; weights in -63..=63, activations in
    /// 0..=127.
    #[target_feature(enable = "avx2")]
    pub unsafe fn microkernel((x, k_pad, mr, w, k_groups): Args, sums: &mut [[i32; NR]; MR]) {
        by_rows!(mr, R => store(&rows::<R>(x, k_pad, w, k_groups), sums))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[[__m256i; 2]; R], sums: &mut [[i32; NR]; MR]) {
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, acc[0]);
            _mm256_storeu_si256(sums.as_mut_ptr().add(8) as *mut __m256i, acc[1]);
        }
    }

    /// `microkernel_into` through AVX-VNNI (`rows_vnni`).
    ///
    /// # Safety
    /// As `microkernel_into`, and AVX-VNNI is present.
    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn microkernel_into_vnni((x, k_pad, mr, w, k_groups): Args, e: &Epilogue) {
        by_rows!(mr, R => epilogue(&rows_vnni::<R>(x, k_pad, w, k_groups), e))
    }

    /// `microkernel` through AVX-VNNI (`rows_vnni`).
    ///
    /// # Safety
    /// As `microkernel`, and AVX-VNNI is present.
    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn microkernel_vnni((x, k_pad, mr, w, k_groups): Args, sums: &mut [[i32; NR]; MR]) {
        by_rows!(mr, R => store(&rows_vnni::<R>(x, k_pad, w, k_groups), sums))
    }

    /// `rows` with AVX-VNNI: one `vpdpbusd` takes a group's four byte products per lane and adds
    /// them into i32 at once, where `rows` needs `vpmaddubsw`, an i16 add and `vpmaddwd` for two
    /// groups. The sums are the same integers, so the results are the same bits.
    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    unsafe fn rows_vnni<const R: usize>(
        x: *const u8,
        k_pad: usize,
        w: *const i8,
        k_groups: usize,
    ) -> [[__m256i; 2]; R] {
        // The closure has this function's features (AVX-VNNI), which `by_steps` has not.
        by_steps(x, k_pad, w, k_groups, |acc, a, b, [w0, w1, w2, w3]| {
            acc[0] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc[0], a, w0), b, w2);
            acc[1] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc[1], a, w1), b, w3);
        })
    }

    /// The i32 sums of `R` rows by one tile, in registers: two groups of four inputs per step,
    /// their byte products added in i16 (no overflow: see the module comment).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn rows<const R: usize>(
        x: *const u8,
        k_pad: usize,
        w: *const i8,
        k_groups: usize,
    ) -> [[__m256i; 2]; R] {
        let ones = _mm256_set1_epi16(1);
        by_steps(x, k_pad, w, k_groups, |acc, a, b, [w0, w1, w2, w3]| {
            let p0 = _mm256_add_epi16(_mm256_maddubs_epi16(a, w0), _mm256_maddubs_epi16(b, w2));
            let p1 = _mm256_add_epi16(_mm256_maddubs_epi16(a, w1), _mm256_maddubs_epi16(b, w3));
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(p0, ones));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(p1, ones));
        })
    }

    /// The loop of `rows` and `rows_vnni`: per pair of groups `g`, `g + 1` and per row,
    /// `step(acc, a, b, w)` adds the row's inputs of group g (`a`) and g + 1 (`b`), each one i32
    /// in every lane, times the groups' weights `w` (channels 0..8 and 8..16 of g, then of g + 1)
    /// into the row's two accumulators (channels 0..8, 8..16). Inlined into its callers, whose
    /// vector features it takes.
    #[inline(always)]
    unsafe fn by_steps<const R: usize>(
        x: *const u8,
        k_pad: usize,
        w: *const i8,
        k_groups: usize,
        step: impl Fn(&mut [__m256i; 2], __m256i, __m256i, [__m256i; 4]),
    ) -> [[__m256i; 2]; R] {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let load =
            |g: usize, half: usize| _mm256_loadu_si256(w.add(g * KG * NR + 32 * half) as *const __m256i);
        for g in (0..k_groups).step_by(2) {
            let weights = [load(g, 0), load(g, 1), load(g + 1, 0), load(g + 1, 1)];
            for (r, acc) in acc.iter_mut().enumerate() {
                // Inputs 4g..4g+4 and 4g+4..4g+8 of row r, each as one i32 in every lane.
                let at = x.add(r * k_pad + KG * g) as *const i32;
                let (a, b) = (
                    _mm256_set1_epi32(at.read_unaligned()),
                    _mm256_set1_epi32(at.add(1).read_unaligned()),
                );
                step(acc, a, b, weights);
            }
        }
        acc
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Args, Epilogue, KG, MR, NR, WIDE_MR};
    use crate::ops::amx;

    /// The VNNI kernel with the epilogue in registers for `mr` rows by two whole tiles (`w`, with
    /// `epilogues` for each).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are present; `x` holds `mr <= WIDE_MR` rows of `k_pad` bytes, each of
    /// `w` a packed tile of `k_groups` groups, and the epilogues' destinations `mr` rows of 16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn pair_microkernel_into(
        x: *const u8,
        k_pad: usize,
        mr: usize,
        w: [*const i8; 2],
        k_groups: usize,
        epilogues: &[Epilogue; 2],
    ) {
        const _: () = assert!(WIDE_MR == 8);
        by_wide_rows!(mr, R => pair_into::<R>(x, k_pad, w, k_groups, epilogues))
    }

    /// Per group of four inputs, each row's four bytes broadcast once and multiplied by both
    /// tiles' 16 channels: 2R independent sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn pair_into<const R: usize>(
        x: *const u8,
        k_pad: usize,
        w: [*const i8; 2],
        k_groups: usize,
        epilogues: &[Epilogue; 2],
    ) {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for g in 0..k_groups {
            let [w0, w1] = w.map(|w| _mm512_loadu_si512(w.add(g * KG * NR).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let four = _mm512_set1_epi32((x.add(r * k_pad + KG * g) as *const i32).read_unaligned());
                acc[0] = _mm512_dpbusd_epi32(acc[0], four, w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], four, w1);
            }
        }
        for (half, e) in epilogues.iter().enumerate() {
            epilogue(&acc.map(|a| a[half]), e);
        }
    }

    /// The VNNI kernel with the epilogue in registers, for a whole tile of `NR` channels.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are present; otherwise as `avx2::microkernel_into`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn microkernel_into((x, k_pad, mr, w, k_groups): Args, e: &Epilogue) {
        by_rows!(mr, R => epilogue(&rows::<R>(x, k_pad, w, k_groups), e))
    }

    /// The sums of `mr` rows by one tile.
    ///
    /// # Safety
    /// As `microkernel_into`, with `sums` in place of the epilogue.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn microkernel((x, k_pad, mr, w, k_groups): Args, sums: &mut [[i32; NR]; MR]) {
        by_rows!(mr, R => store(&rows::<R>(x, k_pad, w, k_groups), sums))
    }

    /// The epilogue of up to `amx::ROWS` rows of sums from memory: columns `16 half..16 half + 16`
    /// of `sums`, one row per entry of `e.quants`.
    ///
    /// # Safety
    /// As `microkernel_into`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn epilogue_from(sums: &[[i32; 2 * NR]; amx::ROWS], half: usize, e: &Epilogue) {
        let acc: [__m512i; amx::ROWS] =
            std::array::from_fn(|r| _mm512_loadu_si512(sums[r][half * NR..].as_ptr().cast()));
        epilogue(&acc, e);
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn epilogue<const R: usize>(acc: &[__m512i; R], e: &Epilogue) {
        let weight_sums = _mm512_loadu_si512(e.weight_sums.as_ptr().cast());
        let scales = _mm512_loadu_ps(e.scales.as_ptr());
        let bias = _mm512_loadu_ps(e.bias.as_ptr());
        for (r, (&sums, q)) in acc.iter().zip(e.quants).enumerate() {
            let s = _mm512_sub_epi32(sums, _mm512_mullo_epi32(_mm512_set1_epi32(q.zero), weight_sums));
            let mut y = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(q.scale));
            y = _mm512_mul_ps(y, scales);
            y = _mm512_add_ps(y, bias);
            let dst = e.dst.add(r * e.stride);
            if e.accumulate {
                y = _mm512_add_ps(_mm512_loadu_ps(dst), y);
            }
            _mm512_storeu_ps(dst, y);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[__m512i; R], sums: &mut [[i32; NR]; MR]) {
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm512_storeu_si512(sums.as_mut_ptr().cast(), *acc);
        }
    }

    /// The i32 sums of `R` rows by one tile: per group of four inputs, one `vpdpbusd` per row
    /// (the row's four bytes in every lane against the 16 channels' four weights); even and odd
    /// groups in separate accumulators, added at the end.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn rows<const R: usize>(
        x: *const u8,
        k_pad: usize,
        w: *const i8,
        k_groups: usize,
    ) -> [__m512i; R] {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        let load = |g: usize| _mm512_loadu_si512(w.add(g * KG * NR).cast());
        for g in (0..k_groups).step_by(2) {
            let (w0, w1) = (load(g), load(g + 1));
            for (r, acc) in acc.iter_mut().enumerate() {
                let at = x.add(r * k_pad + KG * g) as *const i32;
                acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_set1_epi32(at.read_unaligned()), w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], _mm512_set1_epi32(at.add(1).read_unaligned()), w1);
            }
        }
        acc.map(|[even, odd]| _mm512_add_epi32(even, odd))
    }
}

/// The quantization and the portable kernel with NaN, infinities and extreme finite values; small
/// enough to run under Miri, where no SIMD feature is detected and the scalar path runs:
/// `MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks" cargo +nightly miri test -p beit --lib int8_linear`
/// (rayon's pool threads outlive the tests, and its crossbeam-epoch breaks the stricter Stacked
/// Borrows rules inside its own code; the first three tests pass under those rules too).
#[cfg(test)]
mod tests {
    use super::*;

    const NON_FINITE: [f32; 3] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

    /// 44 values: one chunk of 32 lanes and a remainder of 12, so both loops are covered.
    fn ramp() -> Vec<f32> {
        (0..44).map(|i| i as f32 * 0.5 - 2.0).collect()
    }

    #[test]
    fn a_non_finite_activation_gives_its_row_a_nan_scale_and_zero_levels() {
        for bad in NON_FINITE {
            for at in [0, 31, 32, 43] {
                let mut row = ramp();
                row[at] = bad;
                let mut q = vec![9u8; 48];
                let quant = quantize_activations(&row, &mut q);
                assert!(quant.scale.is_nan(), "{bad} at {at}: scale {}", quant.scale);
                assert!(q.iter().all(|&v| v == 0), "{bad} at {at}: {q:?}");
            }
        }
    }

    #[test]
    fn a_non_finite_weight_gives_its_channel_a_nan_scale_and_zero_levels() {
        for bad in NON_FINITE {
            for at in [0, 31, 32, 43] {
                let mut row = ramp();
                row[at] = bad;
                let mut q = vec![9i8; 44];
                assert!(quantize_weights(&row, &mut q).is_nan(), "{bad} at {at}");
                assert!(q.iter().all(|&v| v == 0), "{bad} at {at}: {q:?}");
            }
        }
    }

    #[test]
    fn finite_values_quantize_within_half_a_level_even_at_the_extremes() {
        let tiny = f32::from_bits(1);
        let rows = [
            ramp(),
            vec![0.0; 12],
            vec![tiny, -tiny, 0.0, tiny],
            vec![f32::MAX, f32::MIN, 0.0, 1.0],
            vec![1e30, -1e30, 3.0],
        ];
        for row in &rows {
            let mut q = vec![0u8; row.len()];
            let quant = quantize_activations(row, &mut q);
            assert!(quant.scale.is_finite(), "{row:?}: scale {}", quant.scale);
            assert!(q.iter().all(|&v| v <= 127) && (0..=127).contains(&quant.zero));
            let mut w = vec![0i8; row.len()];
            let scale = quantize_weights(row, &mut w);
            assert!(scale >= 0.0, "{row:?}: scale {scale}");
            assert!(w.iter().all(|&v| (-63..=63).contains(&v)), "{row:?}: {w:?}");
        }
        // The extremes inside the 32-lane chunks too.
        let mut wide = vec![1.0; 40];
        (wide[5], wide[30], wide[35]) = (f32::MAX, f32::MIN, -3.0);
        for row in [ramp(), vec![f32::MAX, f32::MIN, 0.0, 1e37], wide] {
            let mut q = vec![0u8; row.len()];
            let quant = quantize_activations(&row, &mut q);
            assert!(quant.scale.is_finite(), "{row:?}: scale {}", quant.scale);
            for (&v, &level) in row.iter().zip(&q) {
                let back = (level as f64 - quant.zero as f64) * quant.scale as f64;
                let error = (back - v as f64).abs();
                assert!(error <= quant.scale as f64 * 0.501, "{v} came back as {back}");
            }
        }
    }

    /// The whole layer on the CPU: rows and channels with a non-finite value are NaN, the others
    /// close to the f32 product.
    #[test]
    fn nan_and_infinities_come_out_as_nan_in_their_rows_and_channels_only() {
        let (n_in, n_out) = (12, 3);
        let mut weight: Vec<f32> = (0..n_in * n_out)
            .map(|i| ((i * 7) % 11) as f32 * 0.1 - 0.5)
            .collect();
        weight[n_in + 4] = f32::NAN; // channel 1
        let x: Vec<f32> = (0..4 * n_in).map(|i| ((i * 5) % 13) as f32 * 0.2 - 1.0).collect();
        let mut x = x;
        x[n_in + 3] = f32::INFINITY; // row 1
        x[2 * n_in + 11] = f32::NEG_INFINITY; // row 2
        x[3 * n_in] = f32::NAN; // row 3
        let layer = Int8Linear::new(
            &Tensor::from_vec(weight.clone(), (n_out, n_in), &Device::Cpu).unwrap(),
            None,
        )
        .unwrap();
        let xs = Tensor::from_vec(x.clone(), (4, n_in), &Device::Cpu).unwrap();
        let out: Vec<Vec<f32>> = layer.forward(&xs, None).unwrap().to_vec2().unwrap();
        for (r, row) in out.iter().enumerate() {
            for (c, &y) in row.iter().enumerate() {
                if r > 0 || c == 1 {
                    assert!(y.is_nan(), "out[{r}][{c}] = {y}");
                } else {
                    let want: f32 = (0..n_in).map(|k| x[r * n_in + k] * weight[c * n_in + k]).sum();
                    assert!((y - want).abs() < 0.05, "out[{r}][{c}] = {y}, f32 gives {want}");
                }
            }
        }
    }
}
