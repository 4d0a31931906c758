//! A linear layer in int8: weights quantized per output channel at load (symmetric, 7 bits),
//! activations per row at each call (asymmetric, 7 bits), products summed in i32 and scaled back to
//! f32 with the bias and residual added. The reduced-precision path (`LoadOptions::quantization`).
//!
//! Neither candle's quantized matmul (per-row dot products without VNNI, slower than its own f32
//! gemm: bench/README.md, "Kernel choices") nor another crate offers a blocked int8 GEMM for AVX2,
//! so the kernels are our own, one file per instruction set: AVX2 (`vpmaddubsw`, or `vpdpbusd`
//! with AVX-VNNI) and AVX-512 VNNI in `cpu::arch::x86::{avx2, avx512}`, the tile unit in
//! `cpu::arch::x86::amx`, `sdot` and `smmla` in `cpu::arch::arm::{neon, mmla}`. Activations are
//! levels in 0..=127 and weights in -63..=63, so that the AVX2 kernel may add four byte products
//! in i16 (at most 4 x 127 x 63 = 32004), as onnxruntime's `reduce_range` does for CPUs without
//! VNNI; the zero point is taken out in the epilogue through each channel's weight sum. The sums
//! are exact integers, so every level gives the same bits. The call's kernels come from
//! `cpu::arch::native::int8_kernels` once per call, and `cpu::gemm::driver` runs them.
//!
//! NaN and infinities have no int8 level. A row of activations that holds one gets the scale NaN
//! (its levels are zero), and so does a weight channel: the epilogue's multiply by the scale then
//! makes every output of that row, or of that channel, NaN, as NaN propagates through an f32
//! linear layer (where an infinity would give +-inf or NaN; here always NaN, which the model's
//! next LayerNorm would make of it anyway). Levels are bounded in a way that maps NaN into range,
//! so the float-to-int conversion never sees a value outside it.

use std::ops::Range;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::cpu::arch::native::int8_kernels;
use crate::cpu::gemm::driver::{self, PackedGemm, Plan};
use crate::cpu::gemm::int8::{Args, Epilogue, Int8Kernels, PairArgs, RowQuant, KG, MR, WIDE_MR};
use crate::cpu::gemm::tile_unit::{Block, TileUnitCall};
// Output channels per packed tile (16): two AVX2 vectors of eight i32 sums, one AVX-512 vector.
use crate::cpu::gemm::tile_layout::{relayout, TileLayout, NR};
use crate::cpu::level::{self as cpu_level, active, CpuLevel};
use crate::ops::cpu_data::with_f32;
use crate::ops::deferred_weight::{CallWeight, DeferredWeight};
use crate::ops::linear::{bias_values, output_shape, Destination, Out};
use crate::ops::simd::dispatch;
use crate::ops::weight_rows::{RowSource, WeightRows};

/// The most rows of a first call that quantizes the weight as it goes: one image of BEiT-base.
const STREAM_ROWS: usize = 198;
/// The largest weight level: 6 bits and the sign (see the module comment).
const W_MAX: f32 = 63.0;

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
        let call = Call {
            layer: self,
            xq: &xq,
            quants: &quants,
            out: dst.out(),
            kernels: int8_kernels(level),
            level,
        };
        match weight {
            CallWeight::Ready(w) => driver::matmul(&Ready { call, w }),
            CallWeight::Rows(w) => call.streamed(&w),
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
}

/// One call of a layer: the quantized activations, where the results go, and the kernels of the
/// call's level.
struct Call<'a> {
    layer: &'a Int8Linear,
    xq: &'a [u8],
    quants: &'a [RowQuant],
    out: Out,
    kernels: Int8Kernels,
    level: CpuLevel,
}

/// A call with the layer's weight quantized: what the driver runs.
struct Ready<'a> {
    call: Call<'a>,
    w: &'a Quantized,
}

impl PackedGemm for Ready<'_> {
    fn plan(&self) -> Plan {
        let (c, k_pad) = (&self.call, self.call.layer.k_pad());
        Plan {
            rows: c.quants.len(),
            n_out: c.layer.n_out,
            row_bytes: k_pad,
            mr: MR,
            pair_rows: c.kernels.pairs.map(|_| WIDE_MR),
            tile_unit_rows: c.kernels.tile_unit.and_then(|u| u.unit.rows_for(k_pad)),
        }
    }

    unsafe fn tile_unit(&self, rows: Range<usize>, pairs: Range<usize>) {
        let (c, k_pad) = (&self.call, self.call.layer.k_pad());
        let Some(unit) = c.kernels.tile_unit else {
            return;
        };
        // The x86 levels have one layout, which the tile unit reads.
        debug_assert_eq!(self.w.layout, TileLayout::Groups);
        let tiles = |pair: usize| [2 * pair, 2 * pair + 1].map(|t| self.w.tile(t, k_pad).packed.as_ptr());
        let mut finish = |pair: usize, row: usize, sums: &Block<i32>, n: usize| {
            for half in 0..2 {
                let tile = 2 * pair + half;
                // SAFETY: the destination holds the block's rows (the caller's), and the epilogue
                // kernel is the CPU's.
                unsafe {
                    let epilogue = c.epilogue(tile, &self.w.tile(tile, k_pad), row, &c.quants[row..row + n]);
                    (unit.epilogue)(sums, half, &epilogue)
                }
            }
        };
        (unit.unit.run)(&mut TileUnitCall {
            x: c.xq,
            k_pad,
            rows,
            pairs,
            tiles: &tiles,
            finish: &mut finish,
        });
    }

    unsafe fn pairs(&self, rows: Range<usize>, pairs: Range<usize>) {
        let (c, k_pad, k_groups) = (&self.call, self.call.layer.k_pad(), self.call.layer.k_groups());
        let Some(kernel) = c.kernels.pairs else { return };
        debug_assert_eq!(self.w.layout, TileLayout::Groups);
        for pair in pairs {
            let tiles = [2 * pair, 2 * pair + 1].map(|t| self.w.tile(t, k_pad));
            assert!(tiles.iter().all(|t| t.packed.len() >= k_groups * KG * NR));
            for row in rows.clone().step_by(WIDE_MR) {
                let quants = &c.quants[row..(row + WIDE_MR).min(rows.end)];
                let x = &c.xq[row * k_pad..(row + quants.len()) * k_pad];
                let epilogues = [0, 1].map(|h| c.epilogue(2 * pair + h, &tiles[h], row, quants));
                let args = PairArgs {
                    x: x.as_ptr(),
                    k_pad,
                    mr: quants.len(),
                    w: tiles.map(|t| t.packed.as_ptr()),
                    k_groups,
                };
                kernel(args, &epilogues);
            }
        }
    }

    unsafe fn tile(&self, tile: usize, rows: Range<usize>) {
        self.call
            .tile_rows(tile, self.w.tile(tile, self.call.layer.k_pad()), rows)
    }
}

impl Call<'_> {
    /// The call with the weight quantized tile by tile as it goes: tiles in parallel, each over
    /// every row (the first call's way, see `Int8Linear::deferred`).
    fn streamed(&self, w: &WeightRows) {
        let (k_pad, layout, n_out) = (
            self.layer.k_pad(),
            TileLayout::for_level(self.level),
            self.layer.n_out,
        );
        (0..n_out.div_ceil(NR)).into_par_iter().for_each_init(
            || (vec![0i8; k_pad * NR], [1f32; NR], [0i32; NR]),
            |(packed, scales, sums), tile| {
                quantize_tile(w, tile, layout, packed, scales, sums);
                let channels = NR.min(n_out - tile * NR);
                let weights = TileWeights {
                    packed,
                    layout,
                    scales: &scales[..channels],
                    sums: &sums[..channels],
                };
                // SAFETY: tile `tile` writes only its own columns of `out`.
                unsafe { self.tile_rows(tile, weights, 0..self.quants.len()) }
            },
        );
    }

    /// `rows` of `out` times one tile, in groups of `MR`: whole tiles through the kernel with the
    /// epilogue in registers where the level has one, the others through sums and `store` (the
    /// tile reordered first if it is not in the level's layout).
    ///
    /// # Safety
    /// No other thread writes these rows of the tile's columns.
    unsafe fn tile_rows(&self, tile: usize, w: TileWeights, rows: Range<usize>) {
        let mut reordered = Vec::new();
        let layout = TileLayout::for_level(self.level);
        let w = TileWeights {
            packed: relayout(w.packed, KG, w.layout, layout, &mut reordered),
            layout,
            ..w
        };
        let (k_pad, k_groups) = (self.layer.k_pad(), self.layer.k_groups());
        assert!(k_groups.is_multiple_of(2), "the kernels take groups in pairs");
        assert!(w.packed.len() >= k_groups * KG * NR && self.xq.len() >= rows.end * k_pad);
        let whole = (tile + 1) * NR <= self.layer.n_out;
        for row in rows.clone().step_by(MR) {
            let quants = &self.quants[row..(row + MR).min(rows.end)];
            // SAFETY (both): the level is at most the detected one; the asserts bound every read.
            let args = Args {
                x: self.xq[row * k_pad..].as_ptr(),
                k_pad,
                mr: quants.len(),
                w: w.packed.as_ptr(),
                k_groups,
            };
            match self.kernels.direct {
                Some(direct) if whole => direct(args, &self.epilogue(tile, &w, row, quants)),
                _ => {
                    let mut sums = [[0i32; NR]; MR];
                    (self.kernels.sums)(args, &mut sums);
                    for (r, (sums, &q)) in sums.iter().zip(quants).enumerate() {
                        self.store(tile, w, row + r, q, sums);
                    }
                }
            }
        }
    }

    /// Where the kernels with the epilogue in registers put `quants.len()` rows from `row` of
    /// (whole) tile `tile`, whose weights are `w`.
    ///
    /// # Safety
    /// The destination has these rows.
    unsafe fn epilogue<'b>(
        &'b self,
        tile: usize,
        w: &TileWeights<'b>,
        row: usize,
        quants: &'b [RowQuant],
    ) -> Epilogue<'b> {
        let (c0, n_out) = (tile * NR, self.layer.n_out);
        Epilogue {
            dst: self.out.at.0.add(row * n_out + c0),
            accumulate: self.out.accumulate,
            stride: n_out,
            quants,
            scales: &w.scales[..NR],
            bias: &self.layer.bias[c0..c0 + NR],
            weight_sums: &w.sums[..NR],
        }
    }

    /// Scales one row's sums for one tile back to f32 and puts them (with the bias) in `out`
    /// (the kernels with the epilogue in registers do this for whole tiles, in the same order of
    /// operations).
    unsafe fn store(&self, tile: usize, w: TileWeights, row: usize, q: RowQuant, sums: &[i32; NR]) {
        let (c0, n_out) = (tile * NR, self.layer.n_out);
        let at = row * n_out + c0;
        for (c, (&sum, (&w_sum, &w_scale))) in sums.iter().zip(w.sums.iter().zip(w.scales)).enumerate() {
            let s = sum - q.zero * w_sum;
            self.out
                .put(at + c, s as f32 * q.scale * w_scale + self.layer.bias[c0 + c]);
        }
    }
}

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
