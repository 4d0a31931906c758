//! A linear layer in f32 whose weights are packed once into the layout the matmul's microkernel
//! reads: tiles of 16 output channels, each input's 16 weights in one cache line. Packed at load,
//! or, for a weight that stays readable in a mapped checkpoint, on the layer's second call (see
//! `PackedLinear::deferred`): the first reads each tile where the file has it.
//!
//! The gemm crate (which `ops::linear` calls) takes its matrices as given and repacks the weights on
//! every call (bench/README.md, "Kernel choices", says what that cost), and its row/column split
//! leaves one of two threads idle at the end of many layers. With the weights packed for good, a call only packs its
//! activations (a small copy), and its blocks of rows and channels are sized for the thread pool.
//!
//! The microkernel comes in four levels (`cpu::level`; the kernels in `cpu::arch`): portable, NEON on aarch64 (6 rows x 1 tile in
//! 24 q-register accumulators, each activation taken from a register lane by the multiply-add),
//! AVX2 (6 rows x 1 tile in 12 ymm accumulators) and AVX-512 (6 rows x 2 tiles in 12 zmm
//! accumulators, the weights of two tiles and each activation broadcast from memory into the
//! multiply-add). One tile of 16 channels in zmm would give only 6 independent sums, fewer than
//! the two FMA units need to hide their latency (8); two tiles keep the packed layout and the AVX2
//! kernel's shape.

use std::mem::MaybeUninit;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::cpu::arch::native::f32_kernels;
use crate::cpu::gemm::f32::F32Kernels;
use crate::cpu::gemm::row_panel::{interleave_into, MR};
use crate::cpu::gemm::split::Split;
use crate::cpu::level::{self as cpu_level, active, CpuLevel};
use crate::cpu::prefetch::RowPrefetch;
use crate::ops::cpu_data::{with_f32, SharedMut};
use crate::ops::deferred_weight::{CallWeight, DeferredWeight};
use crate::ops::linear::{check_bias, output_shape, prefill};
use crate::ops::weight_rows::{RowSource, WeightRows};
use crate::pages::small_pages;

/// Output channels per tile: two AVX vectors.
pub(crate) use crate::cpu::gemm::f32::NR;
/// Inputs per pass over a tile: its `KC x 16` weights (16 KiB) stay in L1 while every row panel of
/// the block goes by.
pub(crate) const KC: usize = 256;
/// The most rows of one block: its packed activations (`MC x KC`, 198 KiB) stay in L2. A whole
/// image (197 tokens) is one block, so that each weight comes from memory once per call: with
/// blocks of 96 rows a batch-1 forward read the 340 MB of weights three times.
const MC: usize = 198;

/// The 16 weights of one input for one tile, on one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Lane([f32; NR]);

#[derive(Debug)]
pub struct PackedLinear {
    /// `[tiles][n_in]` lanes: W^T in column tiles, channels past `n_out` zero.
    packed: DeferredWeight<Vec<Lane>>,
    bias: Tensor,
    n_in: usize,
    n_out: usize,
}

impl PackedLinear {
    /// Packs `weight` `[out, in]` (as `torch.nn.Linear`); `bias` `[out]`.
    pub fn new(weight: &Tensor, bias: &Tensor) -> candle_core::Result<Self> {
        let n_in = weight.dims2()?.1;
        with_f32(&weight.to_dtype(DType::F32)?, |w| {
            Self::from_rows(&WeightRows::dense(w, n_in)?, bias)
        })?
    }

    /// Packs the weight that `rows` reads; `bias` `[out]`.
    pub fn from_rows(rows: &WeightRows, bias: &Tensor) -> candle_core::Result<Self> {
        let packed = DeferredWeight::ready(pack(rows));
        Self::with(packed, rows.n_in(), rows.n_out(), bias)
    }

    /// A layer that packs the weight of `source` on its second call (see `DeferredWeight`); its
    /// first call, if it has at most one block of rows (one image), reads each tile where the
    /// source has it, into an L2-sized buffer, as it goes.
    pub fn deferred(source: Box<dyn RowSource>, bias: &Tensor) -> candle_core::Result<Self> {
        let (n_in, n_out) = source.rows().map(|r| (r.n_in(), r.n_out()))?;
        Self::with(DeferredWeight::deferred(source), n_in, n_out, bias)
    }

    fn with(
        packed: DeferredWeight<Vec<Lane>>,
        n_in: usize,
        n_out: usize,
        bias: &Tensor,
    ) -> candle_core::Result<Self> {
        check_bias(bias, n_out)?;
        Ok(Self {
            packed,
            bias: bias.to_dtype(DType::F32)?.flatten_all()?,
            n_in,
            n_out,
        })
    }

    /// Packs the weight now if it is deferred and not packed yet.
    pub fn finish_loading(&self) -> candle_core::Result<()> {
        self.packed.finish(pack)
    }

    /// `xs W^T + bias (+ residual)` over the last dimension of `xs` (f32 on the CPU).
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        self.forward_at(xs, residual, active())
    }

    /// `forward` with the microkernel of `level` (lowered to what the CPU has): to compare the
    /// levels with each other.
    pub fn forward_at(
        &self,
        xs: &Tensor,
        residual: Option<&Tensor>,
        level: CpuLevel,
    ) -> candle_core::Result<Tensor> {
        let level = level.min(cpu_level::detected());
        let shape = output_shape(xs, self.n_in, self.n_out, residual)?;
        let rows = xs.elem_count() / self.n_in;
        let mut dst = prefill(rows, self.n_out, Some(&self.bias), residual)?;
        let weight = self.packed.for_call(rows, MC, pack)?;
        with_f32(xs, |x| self.matmul(x, &mut dst, &weight, &f32_kernels(level)))?;
        Tensor::from_vec(dst, shape, &Device::Cpu)
    }

    /// `dst += x W^T` in blocks of rows x tiles, in parallel, over the activations packed once.
    fn matmul(&self, x: &[f32], dst: &mut [f32], weight: &CallWeight<Vec<Lane>>, kernels: &F32Kernels) {
        let rows = x.len() / self.n_in;
        if rows == 0 {
            return;
        }
        let panels = pack_panels(x, self.n_in);
        let split = split(rows, self.n_out.div_ceil(NR), kernels.tiles());
        let out = SharedMut(dst.as_mut_ptr());
        let tasks = (0..split.tasks()).into_par_iter();
        match weight {
            CallWeight::Ready(packed) => tasks.for_each(|task| {
                let (rows, tiles) = split.task(task);
                // SAFETY: task blocks are disjoint in rows x channels; `out` is `[rows, n_out]`.
                unsafe {
                    self.block(
                        &panels,
                        rows,
                        tiles,
                        |t| lanes(packed, t, self.n_in),
                        out,
                        kernels,
                        || {},
                    )
                }
            }),
            CallWeight::Rows(w) => tasks.for_each_init(
                || TileBuffer::new(self.n_in),
                |buffer, task| {
                    let (rows, tiles) = split.task(task);
                    let steps = rows.len().div_ceil(MR) * self.n_in.div_ceil(KC);
                    for tile in tiles {
                        let lanes = buffer.read(w, tile);
                        // The next tile's rows come in while this one computes (the next task
                        // is this thread's next tile, unless another thread steals it).
                        let next_rows = tile_rows_in_place(w, tile + 1).unwrap_or_default();
                        let mut next = RowPrefetch::new(next_rows, steps);
                        // SAFETY: as above.
                        unsafe {
                            self.block(
                                &panels,
                                rows.clone(),
                                tile..tile + 1,
                                |_| lanes,
                                out,
                                kernels,
                                || next.step(),
                            )
                        }
                    }
                },
            ),
        }
    }

    /// One block (rows starting on a panel), a pass of `KC` inputs at a time: every tile (its
    /// lanes from `lanes`; two at a time from `Avx512` on) over every panel of the block, `each`
    /// called after every panel.
    ///
    /// # Safety
    /// No other thread writes these rows x tiles of `out`, the `[rows, n_out]` destination.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<'w>(
        &self,
        panels: &[f32],
        rows: std::ops::Range<usize>,
        tiles: std::ops::Range<usize>,
        lanes: impl Fn(usize) -> &'w [Lane],
        out: SharedMut,
        kernels: &F32Kernels,
        mut each: impl FnMut(),
    ) {
        let n_in = self.n_in;
        let start = rows.start * n_in;
        let block_panels = &panels[start..start + rows.len().div_ceil(MR) * MR * n_in];
        let step = kernels.tiles();
        for k0 in (0..n_in).step_by(KC) {
            let kc = KC.min(n_in - k0);
            for tile in tiles.clone().step_by(step) {
                let pair = tile..(tile + step).min(tiles.end);
                let w = [tile, pair.end - 1].map(|t| &lanes(t)[k0..k0 + kc]);
                let w = &w[..pair.len()];
                let cols = (NR * pair.len()).min(self.n_out - tile * NR);
                for (p, panel) in block_panels.chunks_exact(MR * n_in).enumerate() {
                    let a = &panel[k0 * MR..(k0 + kc) * MR];
                    let dst = out.0.add((rows.start + p * MR) * self.n_out + tile * NR);
                    let rows = MR.min(rows.len() - p * MR);
                    microkernel(
                        kernels,
                        a,
                        w,
                        Tile {
                            dst,
                            stride: self.n_out,
                            rows,
                            cols,
                        },
                    );
                    each();
                }
            }
        }
    }
}

/// The float32 layers' cut of `rows` x `tiles`: blocks of at most `MC` rows in whole panels.
pub(crate) fn split(rows: usize, tiles: usize, pair: usize) -> Split {
    split_for_threads(rows, tiles, pair, rayon::current_num_threads())
}

/// `split` for `threads` threads.
pub(crate) fn split_for_threads(rows: usize, tiles: usize, pair: usize, threads: usize) -> Split {
    Split::for_threads(rows, tiles, pair, (MC, MR), threads)
}

/// The `n_in` lanes of tile `tile` in `packed`.
pub(crate) fn lanes(packed: &[Lane], tile: usize, n_in: usize) -> &[Lane] {
    &packed[tile * n_in..(tile + 1) * n_in]
}

/// The weight `[n_out, n_in]` as `[tiles][n_in]` lanes of 16 channels.
pub(crate) fn pack(w: &WeightRows) -> Vec<Lane> {
    let (n_out, n_in) = (w.n_out(), w.n_in());
    let len = n_out.div_ceil(NR) * n_in;
    // Written once, lane by lane: filling it with zeros first was a tenth of the load.
    let mut packed = Vec::with_capacity(len);
    small_pages(packed.spare_capacity_mut());
    packed.spare_capacity_mut()[..len]
        .par_chunks_mut(n_in)
        .enumerate()
        .for_each_init(
            || vec![0f32; NR * n_in],
            |rows, (tile, lanes)| read_tile(w, tile, rows, lanes),
        );
    // SAFETY: `read_tile` wrote every lane of `0..len`.
    unsafe { packed.set_len(len) };
    packed
}

/// Writes tile `tile` of `w` into `lanes` (`n_in` of them), through `rows` (`16 n_in` values)
/// if its rows cannot be read where they lie.
fn read_tile(w: &WeightRows, tile: usize, rows: &mut [f32], lanes: &mut [MaybeUninit<Lane>]) {
    let channels = tile_channels(w, tile);
    match tile_rows_in_place(w, tile) {
        Some(sources) => {
            let scale = std::array::from_fn(|c| channels.clone().nth(c).map_or(1.0, |c| w.scale(c)));
            transpose_tile(&sources, &scale, lanes)
        }
        None => {
            // One sequential pass over the tile's consecutive rows, which `read` scales.
            let n_in = w.n_in();
            for (c, row) in channels.clone().zip(rows.chunks_exact_mut(n_in)) {
                w.read(c, 0, row);
            }
            let sources: Vec<&[f32]> = rows.chunks_exact(n_in).take(channels.len()).collect();
            transpose_tile(&sources, &[1.0; NR], lanes);
        }
    }
}

/// The output channels of tile `tile` of `w` (none past the last tile).
fn tile_channels(w: &WeightRows, tile: usize) -> std::ops::Range<usize> {
    (tile * NR).min(w.n_out())..w.n_out().min(tile * NR + NR)
}

/// The rows of tile `tile` of `w` where they lie, if all of them can be read there.
fn tile_rows_in_place<'a>(w: &'a WeightRows, tile: usize) -> Option<Vec<&'a [f32]>> {
    tile_channels(w, tile).map(|c| w.row_in_place(c)).collect()
}

/// One task's room to read a weight's tiles in, one at a time.
struct TileBuffer {
    rows: Vec<f32>,
    lanes: Vec<MaybeUninit<Lane>>,
}

impl TileBuffer {
    fn new(n_in: usize) -> Self {
        let mut lanes = Vec::with_capacity(n_in);
        lanes.resize_with(n_in, MaybeUninit::uninit);
        Self {
            rows: vec![0f32; NR * n_in],
            lanes,
        }
    }

    /// The lanes of tile `tile` of `w`.
    fn read(&mut self, w: &WeightRows, tile: usize) -> &[Lane] {
        read_tile(w, tile, &mut self.rows, &mut self.lanes);
        // SAFETY: `read_tile` wrote every lane; `MaybeUninit<Lane>` has the layout of `Lane`.
        unsafe { std::slice::from_raw_parts(self.lanes.as_ptr().cast(), self.lanes.len()) }
    }
}

/// Writes `channels` (up to 16 rows of `n_in` values), times `scale`, into `lanes` as
/// `[n_in][16]`, channels past the given ones zero.
fn transpose_tile(channels: &[&[f32]], scale: &[f32; NR], lanes: &mut [MaybeUninit<Lane>]) {
    // Through a 4 KiB block: reading the 16 rows side by side, value by value, hit rows whose
    // strides (3 or 12 KiB) share a few L1 sets.
    const STEP: usize = 64;
    let mut block = [[0f32; STEP]; NR];
    for (chunk, lanes) in lanes.chunks_mut(STEP).enumerate() {
        let k0 = chunk * STEP;
        for (row, channel) in block.iter_mut().zip(channels) {
            row[..lanes.len()].copy_from_slice(&channel[k0..k0 + lanes.len()]);
        }
        for (k, lane) in lanes.iter_mut().enumerate() {
            lane.write(Lane(std::array::from_fn(|c| block[c][k] * scale[c])));
        }
    }
}

/// The rows of `x` (`n_in` values each) as panels `[panel][n_in][MR]`, each input's `MR` values
/// side by side, the last panel padded with zero rows; panels in parallel, written once.
fn pack_panels(x: &[f32], n_in: usize) -> Vec<f32> {
    let rows = x.len() / n_in;
    let zeros = vec![0f32; n_in];
    let len = rows.div_ceil(MR) * MR * n_in;
    let mut panels = Vec::with_capacity(len);
    panels.spare_capacity_mut()[..len]
        .par_chunks_mut(MR * n_in)
        .enumerate()
        .for_each(|(p, panel)| {
            let src: [&[f32]; MR] = std::array::from_fn(|r| {
                x.get((p * MR + r) * n_in..(p * MR + r + 1) * n_in)
                    .unwrap_or(&zeros)
            });
            interleave_into(&src, n_in, panel);
        });
    // SAFETY: every panel was written whole (rows past the end from `zeros`).
    unsafe { panels.set_len(len) };
    panels
}

/// Where a microkernel call adds its `rows x cols` results: row `r` at `dst + r * stride`.
#[derive(Clone, Copy)]
pub(crate) struct Tile {
    pub dst: *mut f32,
    pub stride: usize,
    pub rows: usize,
    pub cols: usize,
}

/// `c += a w` for one panel `a` (`[k][MR]`) and the lanes `w` (`[k][NR]`) of one tile, or two
/// side by side (`c` then has up to 32 columns), with `kernels` (the level's).
///
/// # Safety
/// `c` describes `rows x cols` writable values that no other thread touches.
pub(crate) unsafe fn microkernel(kernels: &F32Kernels, a: &[f32], w: &[&[Lane]], c: Tile) {
    let k = w[0].len();
    assert!(a.len() == k * MR && w.iter().all(|w| w.len() == k));
    assert!(c.rows <= MR && c.cols <= NR * w.len() && c.cols > NR * (w.len() - 1));
    if let (Some(pair), 2) = (kernels.pair, w.len()) {
        let full = c.rows == MR && c.cols == 2 * NR;
        // SAFETY: the kernels are the CPU's; `a`, `w` hold `k` steps (asserted).
        let w = [w[0].as_ptr().cast(), w[1].as_ptr().cast()];
        return through_full_tile::<{ 2 * NR }>(c, full, |dst, stride| pair(a.as_ptr(), w, k, dst, stride));
    }
    for (t, w) in w.iter().enumerate() {
        let c = Tile {
            dst: c.dst.add(t * NR),
            cols: NR.min(c.cols - t * NR),
            ..c
        };
        match kernels.tile {
            Some(kernel) => through_full_tile::<NR>(c, c.rows == MR && c.cols == NR, |dst, stride| {
                kernel(a.as_ptr(), w.as_ptr().cast(), k, dst, stride)
            }),
            None => microkernel_scalar(a, w, c),
        }
    }
}

/// Runs `kernel` (which adds to `MR` rows of `COLS` values at a stride) on `c` in place when
/// `full`, else on a full tile on the stack, copied in and out: the edges.
///
/// # Safety
/// As `microkernel`.
unsafe fn through_full_tile<const COLS: usize>(c: Tile, full: bool, kernel: impl FnOnce(*mut f32, usize)) {
    if full {
        return kernel(c.dst, c.stride);
    }
    let mut tmp = [[0f32; COLS]; MR];
    for (row, t) in tile_rows(c).zip(tmp.iter_mut()) {
        t[..c.cols].copy_from_slice(row);
    }
    kernel(tmp.as_mut_ptr().cast(), COLS);
    for (row, t) in tile_rows(c).zip(tmp.iter()) {
        row.copy_from_slice(&t[..c.cols]);
    }
}

/// The rows of `c`, `cols` values each.
///
/// # Safety
/// As `microkernel`: the rows are valid and no one else touches them while these slices live.
unsafe fn tile_rows<'a>(c: Tile) -> impl Iterator<Item = &'a mut [f32]> {
    (0..c.rows).map(move |r| std::slice::from_raw_parts_mut(c.dst.add(r * c.stride), c.cols))
}

unsafe fn microkernel_scalar(a: &[f32], w: &[Lane], c: Tile) {
    for (r, row) in tile_rows(c).enumerate() {
        for (col, y) in row.iter_mut().enumerate() {
            *y += w
                .iter()
                .enumerate()
                .map(|(k, lane)| a[k * MR + r] * lane.0[col])
                .sum::<f32>();
        }
    }
}
