//! A linear layer in int8: weights quantized per output channel at load, activations per row
//! at each call (symmetric, dynamic), products summed in i32 and scaled back to f32 with the bias
//! and residual added. The reduced-precision path (`LoadOptions::quantize`).
//!
//! Neither candle's quantized matmul (per-row dot products without VNNI: 20-25 GFLOP/s here,
//! against 100-160 for its f32 gemm; `examples/qmatmul_timing.rs`) nor another crate offers a
//! blocked int8 GEMM for AVX2, so the kernel is our own: i16 operands (int8 values, so no
//! `vpmaddubsw` saturation) through `vpmaddwd`, 16 multiply-adds per instruction against 8 for an
//! f32 FMA, on weights packed 16 output channels by 2 inputs per vector.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::ops::cpu_data::{with_f32, SharedMut};
use crate::ops::simd::dispatch;

/// Output channels per packed tile: two AVX2 vectors of eight i32 sums.
const NR: usize = 16;
/// Rows per microkernel call: 12 accumulators, 2 weight vectors and a broadcast fit in the 16
/// AVX2 registers.
const MR: usize = 6;

#[derive(Debug)]
pub struct Int8Linear {
    /// `[tiles][k_pad / 2][NR][2]`: for each pair of inputs, 16 channels' two weights side by side.
    packed: Vec<i16>,
    /// Per output channel: the weight that the int8 value 1 stands for.
    scales: Vec<f32>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

impl Int8Linear {
    /// Quantizes `weight` `[out, in]` (as `torch.nn.Linear`) per output channel.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Self> {
        let (n_out, n_in) = weight.dims2()?;
        let weight = weight.to_dtype(candle_core::DType::F32)?;
        let bias = match bias {
            Some(b) => b
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?,
            None => vec![0.0; n_out],
        };
        if bias.len() != n_out {
            candle_core::bail!(
                "int8 linear: bias has {} elements for {n_out} outputs",
                bias.len()
            );
        }
        let (packed, scales) = with_f32(&weight, |w| pack(w, n_out, n_in))?;
        Ok(Self {
            packed,
            scales,
            bias,
            n_in,
            n_out,
        })
    }

    /// `xs W^T + bias (+ residual)` over the last dimension of `xs` (f32 on the CPU).
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let mut shape = xs.dims().to_vec();
        match shape.last_mut() {
            Some(last) if *last == self.n_in => *last = self.n_out,
            _ => candle_core::bail!(
                "int8 linear: input {:?} does not end in {} features",
                xs.dims(),
                self.n_in
            ),
        }
        if let Some(r) = residual {
            if r.dims() != shape.as_slice() {
                candle_core::bail!(
                    "int8 linear: residual {:?} is not the output shape {shape:?}",
                    r.dims()
                );
            }
        }
        let rows = xs.elem_count() / self.n_in;
        let (xq, row_scales) = with_f32(xs, |x| quantize_rows(x, self.n_in))?;
        let mut dst = match residual {
            Some(r) => with_f32(r, |r| r.to_vec())?,
            None => vec![0f32; rows * self.n_out],
        };
        self.matmul(&xq, &row_scales, &mut dst);
        Tensor::from_vec(dst, shape, &Device::Cpu)
    }

    fn k_pairs(&self) -> usize {
        self.n_in.div_ceil(2)
    }

    /// `dst += (xq W^T) * scales + bias`, blocks of rows in parallel.
    fn matmul(&self, xq: &[i16], row_scales: &[f32], dst: &mut [f32]) {
        let rows = row_scales.len();
        let threads = rayon::current_num_threads().max(1);
        // Four blocks per thread for balance, whole microkernel row groups, at most 96 rows so
        // that a block's activations stay in L2.
        let block = rows.div_ceil(threads * 4).next_multiple_of(MR).clamp(MR, 96);
        let out = SharedMut(dst.as_mut_ptr());
        (0..rows.div_ceil(block)).into_par_iter().for_each(|b| {
            let rows_here = block.min(rows - b * block);
            // SAFETY: block b writes only its own rows of `dst`.
            unsafe { self.matmul_block(xq, row_scales, b * block, rows_here, out) }
        });
    }

    /// # Safety
    /// `out` is the `[rows, n_out]` destination; no other thread writes rows `first..first+count`.
    unsafe fn matmul_block(
        &self,
        xq: &[i16],
        row_scales: &[f32],
        first: usize,
        count: usize,
        out: SharedMut,
    ) {
        let k_pad = 2 * self.k_pairs();
        let tile_len = self.k_pairs() * 2 * NR;
        for (tile, w) in self.packed.chunks_exact(tile_len).enumerate() {
            let mut row = first;
            while row < first + count {
                let mr = MR.min(first + count - row);
                let mut sums = [[0i32; NR]; MR];
                microkernel(&xq[row * k_pad..], k_pad, mr, w, self.k_pairs(), &mut sums);
                for (r, sums) in sums.iter().enumerate().take(mr) {
                    self.store(tile, row + r, row_scales[row + r], sums, out);
                }
                row += mr;
            }
        }
    }

    /// Scales one row's sums for one tile back to f32 and adds them (with the bias) to `out`.
    unsafe fn store(&self, tile: usize, row: usize, row_scale: f32, sums: &[i32; NR], out: SharedMut) {
        let c0 = tile * NR;
        let n = NR.min(self.n_out - c0);
        let dst = out.0.add(row * self.n_out + c0);
        if n == NR {
            // A whole tile: fixed-size arrays, so the loop is unrolled into vector instructions.
            let dst = &mut *(dst as *mut [f32; NR]);
            let scales: &[f32; NR] = self.scales[c0..c0 + NR].try_into().expect("a whole tile");
            let bias: &[f32; NR] = self.bias[c0..c0 + NR].try_into().expect("a whole tile");
            dispatch(|| {
                for c in 0..NR {
                    dst[c] += sums[c] as f32 * row_scale * scales[c] + bias[c];
                }
            });
            return;
        }
        let dst = std::slice::from_raw_parts_mut(dst, n);
        let (scales, bias) = (&self.scales[c0..c0 + n], &self.bias[c0..c0 + n]);
        for (((y, &s), &scale), &b) in dst.iter_mut().zip(sums).zip(scales).zip(bias) {
            *y += s as f32 * row_scale * scale + b;
        }
    }
}

/// Packs `w` `[n_out, n_in]` into tiles of `NR` channels, int8 values in i16, with per-channel
/// scales; channels and inputs past the ends are zero.
fn pack(w: &[f32], n_out: usize, n_in: usize) -> (Vec<i16>, Vec<f32>) {
    let k_pairs = n_in.div_ceil(2);
    let tiles = n_out.div_ceil(NR);
    let scales: Vec<f32> = w.chunks_exact(n_in).map(scale_of).collect();
    let mut packed = vec![0i16; tiles * k_pairs * 2 * NR];
    let mut row_q = vec![0i16; n_in];
    for (o, row) in w.chunks_exact(n_in).enumerate() {
        dispatch(|| quantize_row(row, &mut row_q));
        let (tile, lane) = (o / NR, o % NR);
        for (k, &q) in row_q.iter().enumerate() {
            packed[((tile * k_pairs + k / 2) * NR + lane) * 2 + k % 2] = q;
        }
    }
    (packed, scales)
}

/// The scale that maps the largest magnitude of `values` to 127 (1 for all zeros).
fn scale_of(values: &[f32]) -> f32 {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max > 0.0 {
        max / 127.0
    } else {
        1.0
    }
}

/// Quantizes each row of `x` (`n_in` values) with its own scale, padded to an even length.
fn quantize_rows(x: &[f32], n_in: usize) -> (Vec<i16>, Vec<f32>) {
    let k_pad = n_in.next_multiple_of(2);
    let rows = x.len() / n_in;
    let mut xq = vec![0i16; rows * k_pad];
    let mut scales = vec![0f32; rows];
    xq.par_chunks_mut(k_pad)
        .zip(x.par_chunks(n_in))
        .zip(scales.par_iter_mut())
        .for_each(|((q, row), scale)| dispatch(|| *scale = quantize_row(row, q)));
    (xq, scales)
}

/// Quantizes one row into `q`, returning its scale.
#[inline(always)]
fn quantize_row(row: &[f32], q: &mut [i16]) -> f32 {
    let scale = scale_of(row);
    let inv = 1.0 / scale;
    for (q, &v) in q.iter_mut().zip(row) {
        // Ties to even: one vector instruction, where `round` is a libm call per value.
        *q = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i16;
    }
    scale
}

/// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows of `x` (row stride `k_pad`) and one
/// packed tile `w`.
fn microkernel(x: &[i16], k_pad: usize, mr: usize, w: &[i16], k_pairs: usize, sums: &mut [[i32; NR]; MR]) {
    assert!(x.len() >= (mr - 1) * k_pad + 2 * k_pairs && w.len() >= k_pairs * 2 * NR);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; the assert above bounds every read.
            unsafe { avx2::microkernel(x.as_ptr(), k_pad, mr, w.as_ptr(), k_pairs, sums) };
            return;
        }
    }
    microkernel_scalar(x, k_pad, mr, w, k_pairs, sums);
}

fn microkernel_scalar(
    x: &[i16],
    k_pad: usize,
    mr: usize,
    w: &[i16],
    k_pairs: usize,
    sums: &mut [[i32; NR]; MR],
) {
    for (r, sums) in sums.iter_mut().enumerate().take(mr) {
        let x = &x[r * k_pad..];
        for p in 0..k_pairs {
            let w = &w[p * 2 * NR..(p + 1) * 2 * NR];
            for (c, sum) in sums.iter_mut().enumerate() {
                *sum += x[2 * p] as i32 * w[2 * c] as i32 + x[2 * p + 1] as i32 * w[2 * c + 1] as i32;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// # Safety
    /// AVX2 is available; `x` holds `mr` rows of `2 * k_pairs` values at stride `k_pad`, `w` a
    /// packed tile of `k_pairs` pairs.
    #[target_feature(enable = "avx2")]
    pub unsafe fn microkernel(
        x: *const i16,
        k_pad: usize,
        mr: usize,
        w: *const i16,
        k_pairs: usize,
        sums: &mut [[i32; NR]; MR],
    ) {
        match mr {
            6 => rows::<6>(x, k_pad, w, k_pairs, sums),
            5 => rows::<5>(x, k_pad, w, k_pairs, sums),
            4 => rows::<4>(x, k_pad, w, k_pairs, sums),
            3 => rows::<3>(x, k_pad, w, k_pairs, sums),
            2 => rows::<2>(x, k_pad, w, k_pairs, sums),
            _ => rows::<1>(x, k_pad, w, k_pairs, sums),
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn rows<const R: usize>(
        x: *const i16,
        k_pad: usize,
        w: *const i16,
        k_pairs: usize,
        sums: &mut [[i32; NR]; MR],
    ) {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        for p in 0..k_pairs {
            let w0 = _mm256_loadu_si256(w.add(p * 2 * NR) as *const __m256i);
            let w1 = _mm256_loadu_si256(w.add(p * 2 * NR + NR) as *const __m256i);
            for (r, acc) in acc.iter_mut().enumerate() {
                // Inputs 2p and 2p+1 of row r, as one i32 in every lane.
                let pair = _mm256_set1_epi32((x.add(r * k_pad + 2 * p) as *const i32).read_unaligned());
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(w0, pair));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(w1, pair));
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, acc[0]);
            _mm256_storeu_si256(sums.as_mut_ptr().add(8) as *mut __m256i, acc[1]);
        }
    }
}
