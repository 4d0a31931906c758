//! A linear layer in bfloat16: weights rounded to bf16 at load (half the memory of f32), the
//! activations rounded to bf16 at each call, products summed in f32 and the bias and residual added
//! in f32. The CPU's `dtype: 'bfloat16'` (`Quantization::Bfloat16`), with attention's matmuls in
//! bf16 products where the CPU multiplies bf16 (`cpu::bf16_attention`); LayerNorm, softmax and GELU
//! stay f32, as under PyTorch's autocast.
//!
//! A product of two bf16 values is exact in f32, so the only roundings are the inputs' (relative
//! 2^-9 each) and the f32 sums'. The weights are packed as the tile unit reads them: per tile of 16
//! channels, `[k / 2][16][2]` (for each pair of inputs, 16 channels' two weights), inputs padded
//! with zeros to the tile unit's step of 32. Six kernels read that layout (in `cpu::arch`, chosen
//! once per call by `cpu::arch::native::bf16_kernels`, run by `cpu::gemm::driver`):
//! - AMX (`CpuLevel::Amx`, `cpu::arch::x86::amx`): `tdpbf16ps`, 16 rows by two tiles, 32 inputs a step;
//! - AVX512_BF16 (`CpuLevel::Avx512` on a CPU with the extension: Zen 4, Sapphire Rapids):
//!   `vdpbf16ps`, one pair of inputs by 16 channels a row, up to 8 rows by a pair of tiles a call
//!   (16 sums in registers for 2 weight loads and 8 broadcasts), and 4 rows by the last odd tile;
//! - `bfmmla` on arm64 CPUs with BF16 (`CpuLevel::Mmla`, `cpu::arch::arm::mmla`): 4 rows by a tile a
//!   call, from tiles packed with four inputs of a channel side by side (`cpu::gemm::tile_layout`);
//! - AVX2 + FMA, and NEON on arm64 (CPUs without bf16 arithmetic): each pair unpacked to two f32
//!   halves in registers and f32 multiply-adds, at about float32's speed: bf16 there saves memory;
//! - elsewhere, a portable loop over the same pairs in f32.
//!
//! The others add each pair of products to the sum odd input first, as `vdpbf16ps` is specified
//! to; `bfmmla` adds a pair's two products together first, then to the sum, rounding to odd (Arm's
//! BFDOT rule). The tile unit, `vdpbf16ps` and `bfmmla` flush subnormal inputs to zero, so the
//! levels agree to the sums' rounding, not to the bit (the tests allow for that).

use std::ops::Range;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::cpu::arch::native::bf16_kernels;
pub use crate::cpu::gemm::bf16::to_bf16;
use crate::cpu::gemm::bf16::{Args, Bf16Kernels, K_ALIGN, MR, WIDE_MR};
use crate::cpu::gemm::driver::{self, PackedGemm, Plan};
use crate::cpu::gemm::tile_layout::{relayout, TileLayout, NR};
use crate::cpu::gemm::tile_unit::{Block, TileUnitCall};
use crate::cpu::level::{self as cpu_level, active, CpuLevel};
use crate::ops::cpu_data::with_f32;
use crate::ops::linear::{bias_values, output_shape, Destination, Out};
use crate::ops::simd::dispatch;
use crate::ops::weight_rows::WeightRows;

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
        driver::matmul(&Call {
            layer: self,
            xb: &xb,
            rows,
            out: dst.out(),
            kernels: bf16_kernels(level),
            level,
        });
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
}

/// One call of a layer: the rounded activations, where the results go, and the kernels of the
/// call's level.
struct Call<'a> {
    layer: &'a Bf16Linear,
    xb: &'a [u16],
    rows: usize,
    out: Out,
    kernels: Bf16Kernels,
    level: CpuLevel,
}

impl PackedGemm for Call<'_> {
    fn plan(&self) -> Plan {
        Plan {
            rows: self.rows,
            n_out: self.layer.n_out,
            row_bytes: 2 * self.layer.k_pad(),
            mr: MR,
            pair_rows: self.kernels.pairs.map(|_| WIDE_MR),
            tile_unit_rows: self
                .kernels
                .tile_unit
                .and_then(|u| u.rows_for(self.layer.k_pad())),
        }
    }

    unsafe fn tile_unit(&self, rows: Range<usize>, pairs: Range<usize>) {
        let Some(unit) = self.kernels.tile_unit else {
            return;
        };
        // The x86 levels have one layout, which the tile unit reads.
        debug_assert_eq!(self.layer.layout, TileLayout::Groups);
        let tiles = |pair: usize| [2 * pair, 2 * pair + 1].map(|t| self.layer.tile(t).as_ptr());
        // SAFETY: the caller's rows.
        let mut finish = |pair: usize, row: usize, sums: &Block<f32>, n: usize| unsafe {
            self.store(2 * pair * NR, row, &sums[..n])
        };
        (unit.run)(&mut TileUnitCall {
            x: self.xb,
            k_pad: self.layer.k_pad(),
            rows,
            pairs,
            tiles: &tiles,
            finish: &mut finish,
        });
    }

    unsafe fn pairs(&self, rows: Range<usize>, pairs: Range<usize>) {
        let Some(kernel) = self.kernels.pairs else { return };
        debug_assert_eq!(self.layer.layout, TileLayout::Groups);
        let k_pad = self.layer.k_pad();
        assert!(self.xb.len() >= rows.end * k_pad);
        let mut sums = [[0f32; 2 * NR]; WIDE_MR];
        for pair in pairs {
            let w = [2 * pair, 2 * pair + 1].map(|t| self.layer.tile(t).as_ptr());
            for row in rows.clone().step_by(WIDE_MR) {
                let mr = WIDE_MR.min(rows.end - row);
                kernel(self.xb[row * k_pad..].as_ptr(), k_pad, mr, w, &mut sums);
                self.store(2 * pair * NR, row, &sums[..mr]);
            }
        }
    }

    /// `rows` of one tile, `MR` at a time (the tile reordered first if it is not in the level's
    /// layout).
    unsafe fn tile(&self, tile: usize, rows: Range<usize>) {
        let (mut reordered, layout) = (Vec::new(), TileLayout::for_level(self.level));
        let w = relayout(
            self.layer.tile(tile),
            2,
            self.layer.layout,
            layout,
            &mut reordered,
        );
        let k_pad = self.layer.k_pad();
        assert!(self.xb.len() >= rows.end * k_pad && w.len() >= k_pad * NR);
        for row in rows.clone().step_by(MR) {
            let mr = MR.min(rows.end - row);
            let mut sums = [[0f32; NR]; MR];
            // SAFETY: the level is at most the detected one; the assert bounds every read.
            let args = Args {
                x: self.xb[row * k_pad..].as_ptr(),
                k_pad,
                mr,
                w: w.as_ptr(),
            };
            (self.kernels.sums)(args, &mut sums);
            self.store(tile * NR, row, &sums[..mr]);
        }
    }
}

impl Call<'_> {
    /// Puts the sums of consecutive rows from `row`, for the channels from `c0` (as many as
    /// exist), with the bias, in `out`. One `dispatch` for all the rows: entered per row (32
    /// values), its call and the loop's aliasing checks took as long as the tile unit's products.
    #[inline(always)]
    unsafe fn store<const N: usize>(&self, c0: usize, row: usize, sums: &[[f32; N]]) {
        let (n_out, out) = (self.layer.n_out, self.out);
        let n = N.min(n_out - c0);
        let bias = &self.layer.bias[c0..c0 + n];
        // One loop per case, so that the test is not in it.
        let put = |out: Out| {
            for (r, sums) in sums.iter().enumerate() {
                let at = (row + r) * n_out + c0;
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
