//! What an instruction set gives the bf16 attention of `cpu::bf16_attention`: the table of its
//! kernels, the operands of one of a head's two matmuls (`Product`), and the rounding of rows to
//! bf16 that every instruction set's packing starts from.

use crate::cpu::gemm::bf16::to_bf16;

/// What one instruction set offers for a head (`cpu::arch::native::bf16_attention_kernels`).
#[derive(Clone, Copy)]
pub(crate) struct AttentionKernels {
    /// Inputs per step of the kernel: the rows and the values' keys are padded with zeros to it.
    pub step: usize,
    /// `round_rows`, compiled for the instruction set.
    pub round_rows: unsafe fn(Rows, &mut Vec<u16>) -> usize,
    /// The keys of one head (`s` rows of `k_pad` rounded values) as a weight of `s` channels.
    pub pack_keys: fn(Rounded, &mut Vec<u16>),
    /// The values of one head (`s` rows of `head_dim` rounded values) as a weight of `head_dim`
    /// channels over the keys padded to the step (the second argument).
    pub pack_values: unsafe fn(Rounded, usize, &mut Vec<u16>),
    pub products: unsafe fn(Product),
}

/// Rows of f32 to round to bf16: row `r` at `src + r * stride`, `len` values each, padded with
/// zeros to a multiple of `step`.
#[derive(Clone, Copy)]
pub(crate) struct Rows {
    pub src: *const f32,
    pub rows: usize,
    pub len: usize,
    pub stride: usize,
    pub step: usize,
}

/// A head's keys or values as `round_rows` left them: `s` rows of `len` values, `width` apart.
#[derive(Clone, Copy)]
pub(crate) struct Rounded<'a> {
    pub values: &'a [u16],
    pub s: usize,
    pub len: usize,
    pub width: usize,
}

/// One of a head's two matmuls: `out[r][c] = scale * sum_i x[r][i] w[c][i]` for `rows` rows of
/// `x` (bf16, `k_pad` apart) and the first `cols` channels of the packed tiles `w`; row `r` of
/// `out` at `out + r * stride`.
#[derive(Clone, Copy)]
pub(crate) struct Product<'a> {
    pub x: &'a [u16],
    pub k_pad: usize,
    pub rows: usize,
    pub w: &'a [u16],
    pub cols: usize,
    pub scale: f32,
    pub out: *mut f32,
    pub stride: usize,
}

/// `Rows` rounded to bf16 into `dst`, each padded with zeros to a multiple of `step`; that length.
///
/// # Safety
/// The rows are readable.
#[inline(always)]
pub(crate) unsafe fn round_rows(
    Rows {
        src,
        rows,
        len,
        stride,
        step,
    }: Rows,
    dst: &mut Vec<u16>,
) -> usize {
    let k_pad = len.next_multiple_of(step);
    dst.clear();
    dst.reserve(rows * k_pad);
    for r in 0..rows {
        let row = std::slice::from_raw_parts(src.add(r * stride), len);
        dst.extend(row.iter().map(|&x| to_bf16(x)));
        dst.extend(std::iter::repeat_n(0, k_pad - len));
    }
    k_pad
}

impl Product<'_> {
    /// The sums of consecutive rows from `row`, for the channels from `c0` (as many as `cols`
    /// has), times `scale` into `out`.
    ///
    /// # Safety
    /// Those values of `out` are writable and written by no other thread.
    #[inline(always)]
    pub(crate) unsafe fn put<const N: usize>(&self, row: usize, c0: usize, sums: &[[f32; N]]) {
        let n = N.min(self.cols - c0);
        for (r, sums) in sums.iter().enumerate() {
            let dst = std::slice::from_raw_parts_mut(self.out.add((row + r) * self.stride + c0), n);
            dst.iter_mut().zip(sums).for_each(|(d, &v)| *d = v * self.scale);
        }
    }
}
