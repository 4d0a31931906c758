//! The convolutions of the dense heads (UperNet, FCN, the FPN neck) on the packed f32 matmul of
//! `packed_linear`: weights packed once at load with the BatchNorm that follows them folded in, the
//! activations gathered straight from the NCHW input into the microkernel's panels (an implicit
//! im2col: no `[pixels, C k k]` matrix is ever made), and the bias, the activation and the
//! transpose back to NCHW done in one epilogue per block.
//!
//! candle's CPU convolution builds an im2col tile of 512 pixels, hands it to the gemm crate, which
//! repacks the whole weight (85 MB for UperNet's fused 3x3 conv) on every tile, and scatters the
//! result back one value at a time; BatchNorm and ReLU are two more passes over each map. For one
//! 640x640 segmentation forward that was most of its 37 s here.
//!
//! Two geometries share the matmul: a `k x k` convolution with stride 1 and zero padding (a row
//! per output pixel, an input per (channel, tap), in torch's weight order), and the 2x2 stride-2
//! transposed convolution of the FPN (a row per input pixel, an input per channel, a column per
//! (output channel, 2x2 position)). The input can come in several tensors that the layer reads as
//! one concatenated along the channels, so UperNet's concatenations are never built.

use std::ops::Range;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::cpu::arch::native::f32_kernels;
use crate::cpu::gemm::f32::F32Kernels;
use crate::cpu::gemm::row_panel::interleave;
use crate::cpu::gemm::row_panel::MR;
use crate::cpu::level::{self as cpu_level, active, CpuLevel};
use crate::ops::cpu_data::{with_f32, SharedMut};
use crate::ops::gelu::erf_f32;
use crate::ops::packed_linear::{lanes, microkernel, pack, split, Lane, Tile, KC, NR};
use crate::ops::simd::dispatch;
use crate::ops::weight_rows::WeightRows;

/// What the epilogue applies after adding the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    /// The exact (erf) GELU, as `ops::gelu_erf`.
    GeluErf,
}

impl Activation {
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        match self {
            Self::Identity => v,
            Self::Relu => v.max(0.0),
            Self::GeluErf => 0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2)),
        }
    }
}

/// Which convolution the matmul computes.
#[derive(Clone, Copy, Debug)]
enum Geometry {
    /// `Conv2d(c_in, c_out, k, stride 1, padding pad)`.
    Conv { k: usize, pad: usize },
    /// `ConvTranspose2d(c_in, c_out, 2, stride 2)`.
    Up2x2,
}

/// A per-output-channel affine map folded into a layer: `y -> y * scale + shift`, as an eval-mode
/// BatchNorm is.
#[derive(Clone, Debug)]
pub struct ChannelAffine {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

#[derive(Debug)]
pub struct PackedConv2d {
    /// `[tiles][n_in]` lanes of the `[n_out, n_in]` matmul weight.
    packed: Vec<Lane>,
    /// One per matmul column.
    bias: Vec<f32>,
    c_in: usize,
    c_out: usize,
    geometry: Geometry,
    activation: Activation,
}

impl PackedConv2d {
    /// `weight` `[c_out, c_in, k, k]` (torch's layout), an optional `bias` `[c_out]`, then `affine`
    /// and `activation`; stride 1, `pad` zeros on every side.
    pub fn conv(
        weight: &Tensor,
        bias: Option<&Tensor>,
        affine: Option<&ChannelAffine>,
        pad: usize,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        let (c_out, c_in, k, kw) = weight.dims4()?;
        if k != kw || k == 0 {
            candle_core::bail!("conv: only square kernels are packed, got {k}x{kw}");
        }
        let bias = folded_bias(bias, affine, c_out)?;
        let scale = affine.map(|a| a.scale.as_slice());
        // Inputs in (tap, channel) order, as the gather reads a pixel's channels side by side.
        let weight = weight.to_dtype(DType::F32)?.permute((0, 2, 3, 1))?.contiguous()?;
        let packed = with_f32(&weight, |w| {
            Ok::<_, candle_core::Error>(pack(&WeightRows::new(
                vec![crate::ops::weight_rows::RowBlock::F32(w)],
                c_in * k * k,
                scale,
            )?))
        })??;
        Ok(Self {
            packed,
            bias,
            c_in,
            c_out,
            geometry: Geometry::Conv { k, pad },
            activation,
        })
    }

    /// `weight` `[c_in, c_out, 2, 2]` (torch's `ConvTranspose2d` layout), `bias` `[c_out]`, then
    /// `affine` and `activation`; stride 2.
    pub fn up2x2(
        weight: &Tensor,
        bias: Option<&Tensor>,
        affine: Option<&ChannelAffine>,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        let (c_in, c_out, kh, kw) = weight.dims4()?;
        if (kh, kw) != (2, 2) {
            candle_core::bail!("up2x2: the kernel must be 2x2, got {kh}x{kw}");
        }
        // Column o * 4 + i * 2 + j of the matmul makes output pixel (2y + i, 2x + j) of channel o.
        let rows = weight
            .to_dtype(DType::F32)?
            .reshape((c_in, c_out * 4))?
            .t()?
            .contiguous()?;
        let by_column = |v: &[f32]| v.iter().flat_map(|&x| [x; 4]).collect::<Vec<f32>>();
        let scale = affine.map(|a| by_column(&a.scale));
        let bias = by_column(&folded_bias(bias, affine, c_out)?);
        let packed = with_f32(&rows, |w| {
            Ok::<_, candle_core::Error>(pack(&WeightRows::new(
                vec![crate::ops::weight_rows::RowBlock::F32(w)],
                c_in,
                scale.as_deref(),
            )?))
        })??;
        Ok(Self {
            packed,
            bias,
            c_in,
            c_out,
            geometry: Geometry::Up2x2,
            activation,
        })
    }

    pub fn out_channels(&self) -> usize {
        self.c_out
    }

    /// The layer over `inputs` (f32 CPU, `[N, C_i, H, W]` each, the `C_i` adding up to the layer's
    /// input channels) read as one tensor concatenated along the channels.
    pub fn forward(&self, inputs: &[&Tensor]) -> candle_core::Result<Tensor> {
        self.forward_at(inputs, active())
    }

    /// `forward` with the microkernel of `level` (lowered to what the CPU has).
    pub fn forward_at(&self, inputs: &[&Tensor], level: CpuLevel) -> candle_core::Result<Tensor> {
        let level = level.min(cpu_level::detected());
        let source = Source::new(inputs, self.c_in)?;
        let (n, h, w) = (source.n, source.h, source.w);
        let (out_h, out_w) = match self.geometry {
            Geometry::Conv { k, pad } => match ((h + 2 * pad).checked_sub(k), (w + 2 * pad).checked_sub(k)) {
                (Some(dh), Some(dw)) => (dh + 1, dw + 1),
                _ => candle_core::bail!("conv: a {h}x{w} input is smaller than its {k}x{k} kernel"),
            },
            Geometry::Up2x2 => (2 * h, 2 * w),
        };
        let mut out = vec![0f32; n * self.c_out * out_h * out_w];
        let data = inputs
            .iter()
            .map(|t| t.contiguous())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let gather = with_all_f32(&data, |planes| {
            Gather::new(&source, planes, self.geometry, (out_h, out_w))
        })?;
        self.matmul(
            &gather,
            SharedMut(out.as_mut_ptr()),
            (out_h, out_w),
            &f32_kernels(level),
        );
        Tensor::from_vec(out, (n, self.c_out, out_h, out_w), &Device::Cpu)
    }

    fn n_in(&self) -> usize {
        match self.geometry {
            Geometry::Conv { k, .. } => self.c_in * k * k,
            Geometry::Up2x2 => self.c_in,
        }
    }

    /// The matmul in blocks of rows x tiles, in parallel: each task gathers its rows' panels a pass
    /// of `KC` inputs at a time, adds their products into a block of its own, then stores it.
    fn matmul(&self, gather: &Gather, out: SharedMut, out_size: (usize, usize), kernels: &F32Kernels) {
        let (rows, n_in, n_out) = (gather.rows, self.n_in(), self.bias.len());
        if rows == 0 {
            return;
        }
        let step = kernels.tiles();
        let split = split(rows, n_out.div_ceil(NR), step);
        (0..split.tasks()).into_par_iter().for_each_init(
            || (Vec::new(), Vec::new()),
            |(panels, block), task| {
                let (rows, tiles) = split.task(task);
                let width = tiles.len() * NR;
                let panel_count = rows.len().div_ceil(MR);
                block.clear();
                block.resize(panel_count * MR * width, 0f32);
                for k0 in (0..n_in).step_by(KC) {
                    let kc = KC.min(n_in - k0);
                    panels.resize(panel_count * MR * kc, 0f32);
                    for (p, panel) in panels.chunks_exact_mut(MR * kc).enumerate() {
                        gather.panel(rows.start + p * MR, k0, kc, panel);
                    }
                    for tile in tiles.clone().step_by(step) {
                        let pair = tile..(tile + step).min(tiles.end);
                        let w = [tile, pair.end - 1].map(|t| &lanes(&self.packed, t, n_in)[k0..k0 + kc]);
                        for (p, a) in panels.chunks_exact(MR * kc).enumerate() {
                            let c = Tile {
                                dst: block[p * MR * width + (tile - tiles.start) * NR..].as_mut_ptr(),
                                stride: width,
                                rows: MR,
                                cols: NR * pair.len(),
                            };
                            // SAFETY: `c` lies in this task's own block (MR rows of `width`).
                            unsafe { microkernel(kernels, a, &w[..pair.len()], c) };
                        }
                    }
                }
                let columns = tiles.start * NR..(tiles.end * NR).min(n_out);
                // SAFETY: tasks store disjoint rows x columns of the output.
                unsafe { self.store(block, width, rows, columns, out, gather, out_size) };
            },
        );
    }

    /// Writes a task's block (`[rows][width]`, its first column being `columns.start`) into the
    /// NCHW output with the bias and the activation.
    ///
    /// # Safety
    /// `out` is the `[N, c_out, out_h, out_w]` output; no other thread writes these rows x columns.
    #[allow(clippy::too_many_arguments)]
    unsafe fn store(
        &self,
        block: &[f32],
        width: usize,
        rows: Range<usize>,
        columns: Range<usize>,
        out: SharedMut,
        gather: &Gather,
        (out_h, out_w): (usize, usize),
    ) {
        let plane = out_h * out_w;
        let activation = self.activation;
        for col in columns.clone() {
            let bias = self.bias[col];
            let local = col - columns.start;
            dispatch(
                #[inline(always)]
                || match self.geometry {
                    Geometry::Conv { .. } => {
                        // Rows are output pixels: channel `col`'s plane, pixel by pixel.
                        for (r, row) in rows.clone().enumerate() {
                            let (b, pixel) = (row / plane, row % plane);
                            let v = activation.apply(block[r * width + local] + bias);
                            *out.0.add((b * self.c_out + col) * plane + pixel) = v;
                        }
                    }
                    Geometry::Up2x2 => {
                        let (o, i, j) = (col / 4, col / 2 % 2, col % 2);
                        // Rows are input pixels: each makes a 2x2 block of channel `o`.
                        for (r, row) in rows.clone().enumerate() {
                            let (b, pixel) = (row / gather.grid_plane, row % gather.grid_plane);
                            let (y, x) = (pixel / gather.grid_w, pixel % gather.grid_w);
                            let v = activation.apply(block[r * width + local] + bias);
                            *out.0
                                .add((b * self.c_out + o) * plane + (2 * y + i) * out_w + 2 * x + j) = v;
                        }
                    }
                },
            );
        }
    }
}

/// `scale * bias + shift` per output channel (`bias` 0 when absent, `scale` 1 and `shift` 0
/// without `affine`).
fn folded_bias(
    bias: Option<&Tensor>,
    affine: Option<&ChannelAffine>,
    c_out: usize,
) -> candle_core::Result<Vec<f32>> {
    let bias = match bias {
        Some(b) => b.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
        None => vec![0.0; c_out],
    };
    if bias.len() != c_out {
        candle_core::bail!("conv: a bias of {} values for {c_out} channels", bias.len());
    }
    let Some(affine) = affine else {
        return Ok(bias);
    };
    if affine.scale.len() != c_out || affine.shift.len() != c_out {
        candle_core::bail!(
            "conv: a BatchNorm of {} channels after {c_out}",
            affine.scale.len()
        );
    }
    Ok(bias
        .iter()
        .zip(&affine.scale)
        .zip(&affine.shift)
        .map(|((b, s), t)| b * s + t)
        .collect())
}

/// Calls `f` with the f32 data of every tensor.
fn with_all_f32<R>(tensors: &[Tensor], f: impl FnOnce(&[&[f32]]) -> R) -> candle_core::Result<R> {
    fn go<R>(
        rest: &[Tensor],
        acc: &mut Vec<*const [f32]>,
        f: impl FnOnce(&[&[f32]]) -> R,
    ) -> candle_core::Result<R> {
        match rest.split_first() {
            None => {
                // SAFETY: each pointer comes from a `with_f32` frame that is still on the stack.
                let slices: Vec<&[f32]> = acc.iter().map(|p| unsafe { &**p }).collect();
                Ok(f(&slices))
            }
            Some((first, rest)) => with_f32(first, |data| {
                acc.push(data as *const [f32]);
                go(rest, acc, f)
            })?,
        }
    }
    go(tensors, &mut Vec::new(), f)
}

/// The inputs' common batch and size, and each one's channels.
struct Source {
    n: usize,
    h: usize,
    w: usize,
    channels: Vec<usize>,
}

impl Source {
    fn new(inputs: &[&Tensor], c_in: usize) -> candle_core::Result<Self> {
        let Some(first) = inputs.first() else {
            candle_core::bail!("conv: no input");
        };
        let (n, _, h, w) = first.dims4()?;
        let mut channels = Vec::with_capacity(inputs.len());
        for t in inputs {
            let (tn, c, th, tw) = t.dims4()?;
            if (tn, th, tw) != (n, h, w) || !t.device().is_cpu() || t.dtype() != DType::F32 {
                candle_core::bail!(
                    "conv: the inputs must be f32 CPU maps of one size, got {:?} {:?} and {:?}",
                    t.dtype(),
                    t.dims(),
                    first.dims()
                );
            }
            channels.push(c);
        }
        if channels.iter().sum::<usize>() != c_in {
            candle_core::bail!("conv: {channels:?} input channels for a layer of {c_in}");
        }
        Ok(Self { n, h, w, channels })
    }
}

/// The matmul's activations (`[rows, n_in]`, never materialized): the inputs, concatenated along the
/// channels, copied once into one zero-padded NHWC map, so that the inputs of a row at one tap
/// are its source pixel's channels side by side.
struct Gather {
    /// `[n][h + 2 pad][w + 2 pad][c]`.
    padded: Vec<f32>,
    /// A row past the last reads these (`c` of them).
    zeros: Vec<f32>,
    c: usize,
    rows: usize,
    /// Per tap, where its pixel lies from the row's top-left one in `padded`.
    taps: Vec<usize>,
    /// The pixels the rows run over (the output's, or the input's for the transposed
    /// convolution): per image, and per image row.
    grid_plane: usize,
    grid_w: usize,
    /// The padded map's row and image strides.
    row_stride: usize,
    image_stride: usize,
}

impl Gather {
    fn new(source: &Source, planes: &[&[f32]], geometry: Geometry, (out_h, out_w): (usize, usize)) -> Self {
        let (k, pad, out_h, out_w) = match geometry {
            Geometry::Conv { k, pad } => (k, pad, out_h, out_w),
            // A row per input pixel, an input per channel.
            Geometry::Up2x2 => (1, 0, source.h, source.w),
        };
        let c: usize = source.channels.iter().sum();
        let (hp, wp) = (source.h + 2 * pad, source.w + 2 * pad);
        let mut padded = vec![0f32; source.n * hp * wp * c];
        // One padded row of one image a task: its pixels' channels gathered from every plane.
        padded.par_chunks_mut(wp * c).enumerate().for_each(|(i, row)| {
            let (b, y) = (i / hp, i % hp);
            let Some(y) = y.checked_sub(pad).filter(|&y| y < source.h) else {
                return;
            };
            let mut c0 = 0;
            for (data, &channels) in planes.iter().zip(&source.channels) {
                let image = &data[b * channels * source.h * source.w..][..channels * source.h * source.w];
                transpose_row(
                    image,
                    channels,
                    (source.h, source.w),
                    y,
                    &mut row[pad * c + c0..],
                    c,
                );
                c0 += channels;
            }
        });
        let taps = (0..k * k).map(|t| ((t / k) * wp + t % k) * c).collect();
        Self {
            padded,
            zeros: vec![0.0; c],
            c,
            rows: source.n * out_h * out_w,
            taps,
            grid_plane: out_h * out_w,
            grid_w: out_w,
            row_stride: wp * c,
            image_stride: hp * wp * c,
        }
    }

    /// Where row `row`'s window starts in `padded` (its top-left tap).
    fn origin(&self, row: usize) -> usize {
        let (b, pixel) = (row / self.grid_plane, row % self.grid_plane);
        let (y, x) = (pixel / self.grid_w, pixel % self.grid_w);
        b * self.image_stride + y * self.row_stride + x * self.c
    }

    /// Fills `panel` (`[kc][MR]`) with inputs `k0..k0 + kc` of rows `row0..row0 + MR`, zeros for
    /// rows past the last.
    fn panel(&self, row0: usize, k0: usize, kc: usize, panel: &mut [f32]) {
        let origins: [Option<usize>; MR] =
            std::array::from_fn(|r| (row0 + r < self.rows).then(|| self.origin(row0 + r)));
        // Input k is channel k % c of tap k / c: runs of channels, one per tap.
        let (mut t, mut c) = (k0 / self.c, k0 % self.c);
        let mut done = 0;
        while done < kc {
            let run = (self.c - c).min(kc - done);
            let rows = origins.map(|origin| match origin {
                Some(o) => &self.padded[o + self.taps[t] + c..][..run],
                None => &self.zeros[..run],
            });
            interleave(&rows, run, &mut panel[done * MR..(done + run) * MR]);
            done += run;
            (t, c) = (t + 1, 0);
        }
    }
}

/// Writes row `y` of `image` (`[channels][h][w]`) into `row` as `[w][stride]` pixels, each
/// pixel's channels at its start, in blocks of pixels so that reads and writes both stay close.
fn transpose_row(
    image: &[f32],
    channels: usize,
    (h, w): (usize, usize),
    y: usize,
    row: &mut [f32],
    stride: usize,
) {
    const BLOCK: usize = 16;
    for x0 in (0..w).step_by(BLOCK) {
        let x1 = (x0 + BLOCK).min(w);
        for ci in 0..channels {
            let src = &image[(ci * h + y) * w..][x0..x1];
            for (x, &v) in (x0..x1).zip(src) {
                row[x * stride + ci] = v;
            }
        }
    }
}
