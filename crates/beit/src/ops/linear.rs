//! A linear layer whose bias and residual the matmul adds itself: gemm computes
//! `dst = dst + x W^T` over a destination prefilled with `bias + residual`, which saves the
//! separate passes (and the buffers) that adding each of them afterwards would take.

use candle_core::{Device, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::ops::cpu_data::{is_cpu_f32, with_f32, SharedMut};

/// `xs W^T + bias + residual` over the last dimension of `xs`; `weight` is `[out, in]` as in
/// `torch.nn.Linear`, `residual` has the output's shape.
pub fn linear(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let all_cpu_f32 = [Some(xs), Some(weight), bias, residual]
        .into_iter()
        .flatten()
        .all(is_cpu_f32);
    if !all_cpu_f32 {
        return linear_slow(xs, weight, bias, residual);
    }
    let (n_out, n_in) = weight.dims2()?;
    let shape = output_shape(xs, n_in, n_out, residual)?;
    if let Some(b) = bias {
        check_bias(b, n_out)?;
    }
    let rows = xs.elem_count() / n_in;
    let mut dst = prefill(rows, n_out, bias, residual)?;
    // gemm picks its kernels, and with them the order of the sums, by the number of rows: on
    // arm64 a row computed among four rounds differently from the same row alone. One call per
    // item of the leading (batch) dimension gives each image the result it gets alone, which the
    // request queue promises when it batches calls.
    let item_rows = match xs.dims() {
        [batch, ..] if xs.rank() > 1 && *batch > 0 => rows / batch,
        _ => rows,
    };
    if rows == 0 {
        return Tensor::from_vec(dst, shape, &Device::Cpu);
    }
    with_f32(xs, |x| {
        with_f32(weight, |w| {
            let items = x
                .chunks_exact(item_rows * n_in)
                .zip(dst.chunks_exact_mut(item_rows * n_out));
            for (x, dst) in items {
                gemm_rows(
                    x,
                    w,
                    dst,
                    item_rows,
                    n_in,
                    n_out,
                    bias.is_some() || residual.is_some(),
                );
            }
        })
    })??;
    Tensor::from_vec(dst, shape, &Device::Cpu)
}

/// `dst (+)= x W^T` for `rows` rows through gemm, `accumulate` when `dst` holds a prefill.
fn gemm_rows(
    x: &[f32],
    w: &[f32],
    dst: &mut [f32],
    rows: usize,
    n_in: usize,
    n_out: usize,
    accumulate: bool,
) {
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the pointers and strides describe `dst` [rows, out], `x` [rows, in] and
    // W^T [in, out] (W [out, in] read through its strides), all within their buffers.
    unsafe {
        gemm::gemm(
            rows,
            n_out,
            n_in,
            dst.as_mut_ptr(),
            1,
            n_out as isize,
            accumulate,
            x.as_ptr(),
            1,
            n_in as isize,
            w.as_ptr(),
            n_in as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Reference implementation from tensor ops.
pub fn linear_slow(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    // candle's CUDA matmul takes only row-contiguous operands (a CLS token sliced from the
    // sequence is not): a copy there, none for what already is.
    let mut ys = xs.contiguous()?.broadcast_matmul(&weight.t()?)?;
    if let Some(bias) = bias {
        ys = ys.broadcast_add(bias)?;
    }
    match residual {
        Some(r) => ys + r,
        None => Ok(ys),
    }
}

/// The shape of `xs W^T` for `xs` ending in `n_in` features, checked against the residual's.
pub(crate) fn output_shape(
    xs: &Tensor,
    n_in: usize,
    n_out: usize,
    residual: Option<&Tensor>,
) -> candle_core::Result<Vec<usize>> {
    let mut shape = xs.dims().to_vec();
    match shape.last_mut() {
        Some(last) if *last == n_in => *last = n_out,
        _ => candle_core::bail!("linear: input {:?} does not end in {n_in} features", xs.dims()),
    }
    if let Some(r) = residual {
        if r.dims() != shape.as_slice() {
            candle_core::bail!(
                "linear: residual {:?} is not the output shape {shape:?}",
                r.dims()
            );
        }
    }
    Ok(shape)
}

/// Rejects a bias that is not one value per output.
pub(crate) fn check_bias(bias: &Tensor, n_out: usize) -> candle_core::Result<()> {
    if bias.elem_count() != n_out {
        candle_core::bail!(
            "linear: bias has {} elements for {n_out} outputs",
            bias.elem_count()
        );
    }
    Ok(())
}

/// The bias as `n_out` f32 values (zeros without one), rejecting one of another length.
pub(crate) fn bias_values(bias: Option<&Tensor>, n_out: usize) -> candle_core::Result<Vec<f32>> {
    match bias {
        Some(b) => {
            check_bias(b, n_out)?;
            b.to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()
        }
        None => Ok(vec![0.0; n_out]),
    }
}

/// Where a packed layer's kernels put their `rows x n_out` results: over a copy of the residual,
/// which they add to, or into memory they write once without reading it first. (Zeros to add to
/// cost 5-10% of a q8 or bf16 forward on an AMX CPU, all of it in the allocator's memset.)
pub(crate) struct Destination {
    values: Vec<f32>,
    len: usize,
    accumulate: bool,
}

/// What the kernels of one call get of a `Destination`: the first value's address, and whether
/// to add to what is there (a residual) or to write.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub at: SharedMut,
    pub accumulate: bool,
}

impl Destination {
    pub fn new(rows: usize, n_out: usize, residual: Option<&Tensor>) -> candle_core::Result<Self> {
        let len = rows * n_out;
        Ok(match residual {
            Some(r) => Self {
                values: with_f32(r, |r| r.to_vec())?,
                len,
                accumulate: true,
            },
            None => Self {
                values: Vec::with_capacity(len),
                len,
                accumulate: false,
            },
        })
    }

    pub fn out(&mut self) -> Out {
        Out {
            at: SharedMut(self.values.as_mut_ptr()),
            accumulate: self.accumulate,
        }
    }

    /// The results.
    ///
    /// # Safety
    /// Unless `accumulate`, the kernels wrote every one of the `rows x n_out` values through `out`.
    pub unsafe fn finish(mut self) -> Vec<f32> {
        if !self.accumulate {
            self.values.set_len(self.len);
        }
        self.values
    }
}

impl Out {
    /// Writes `y` at value `i`, or adds it to what is there.
    ///
    /// # Safety
    /// `i` is within the destination, and no other thread writes it.
    #[inline(always)]
    pub unsafe fn put(self, i: usize, y: f32) {
        let p = self.at.0.add(i);
        *p = if self.accumulate { *p + y } else { y };
    }
}

/// `rows x n_out` values holding `bias + residual` (zeros when there is neither), written in one
/// pass: zeroing the buffer first, then adding the bias, was half a percent of a float32 forward.
pub(crate) fn prefill(
    rows: usize,
    n_out: usize,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
) -> candle_core::Result<Vec<f32>> {
    match (bias, residual) {
        (Some(b), Some(r)) => with_f32(b, |b| with_f32(r, |r| filled(rows, n_out, Some(b), Some(r))))?,
        (Some(b), None) => with_f32(b, |b| filled(rows, n_out, Some(b), None)),
        (None, Some(r)) => with_f32(r, |r| filled(rows, n_out, None, Some(r))),
        (None, None) => Ok(filled(rows, n_out, None, None)),
    }
}

/// `prefill` from the values: each row `bias + residual`, or whichever of them there is.
fn filled(rows: usize, n_out: usize, bias: Option<&[f32]>, residual: Option<&[f32]>) -> Vec<f32> {
    let len = rows * n_out;
    let mut dst = Vec::with_capacity(len);
    dst.spare_capacity_mut()[..len]
        .par_chunks_mut(n_out)
        .enumerate()
        .for_each(|(i, row)| {
            let residual = residual.map(|r| &r[i * n_out..(i + 1) * n_out]);
            // One loop per case, so that the test is not in it.
            let values = row.iter_mut();
            match (bias, residual) {
                (Some(b), Some(r)) => values.zip(b.iter().zip(r)).for_each(|(y, (b, r))| {
                    y.write(r + b);
                }),
                (Some(v), None) | (None, Some(v)) => values.zip(v).for_each(|(y, v)| {
                    y.write(*v);
                }),
                (None, None) => values.for_each(|y| {
                    y.write(0.0);
                }),
            }
        });
    // SAFETY: the loop above wrote every value of every row.
    unsafe { dst.set_len(len) };
    dst
}
