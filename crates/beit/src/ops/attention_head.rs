//! The CPU loop of fused attention: each (image, head) pair is one task, or, where there are too
//! few pairs to share out evenly among the threads (one image's 12 heads on 8 or 64 threads), each
//! block of a pair's queries (`query_blocks`). gemm reads Q, K and V in place from the fused
//! projection, the scores stay in L2 for the biased softmax, and the context is written straight
//! into its `[B, S, D]` columns. `ops::attention` (with or without the
//! probabilities) and `ops::fused_attention` (the context alone) both run it.

use std::ops::Range;

use candle_core::{Device, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::cpu::bf16_attention::{self, AttentionKernels, HeadInputs, Operands};
use crate::cpu::gemm::split::SPREAD;
use crate::ops::cpu_data::SharedMut;
use crate::ops::simd::{dispatch, exp_f32};

/// The context `[B, S, D]` and, when asked for, the attention probabilities `[B, heads, S, S]`.
pub type Attended = (Tensor, Option<Tensor>);

/// What the CPU attention multiplies in: the scores and the context as f32 products, or, for
/// `dtype: 'bfloat16'`, bf16 operands with f32 sums where the CPU multiplies bf16
/// (`cpu::bf16_attention`; f32 elsewhere). The softmax and its bias are f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionPrecision {
    #[default]
    Float32,
    Bfloat16,
}

/// A bias as the fused loop reads it: `[heads, S, S]` values, or per head a table of `rows` values
/// and the `[S, S]` index into it.
#[derive(Clone, Copy)]
pub(crate) enum Bias<'a> {
    Dense(&'a [f32]),
    Gathered {
        table: &'a [f32],
        rows: usize,
        index: &'a [u32],
    },
}

impl<'a> Bias<'a> {
    /// Head `head`'s part, for an `s x s` score matrix.
    fn head(self, head: usize, s: usize) -> Bias<'a> {
        match self {
            Self::Dense(all) => Self::Dense(&all[head * s * s..(head + 1) * s * s]),
            Self::Gathered { table, rows, index } => Self::Gathered {
                table: &table[head * rows..(head + 1) * rows],
                rows,
                index,
            },
        }
    }

    /// The part from query `row` on, of a head's `s x s` bias.
    fn past_row(self, row: usize, s: usize) -> Bias<'a> {
        match self {
            Self::Dense(head) => Self::Dense(&head[row * s..]),
            Self::Gathered { table, rows, index } => Self::Gathered {
                table,
                rows,
                index: &index[row * s..],
            },
        }
    }
}

/// How each (image, head) pair's queries are cut into tasks: `count` blocks, as even as whole rows
/// allow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryBlocks {
    pub count: usize,
    s: usize,
}

impl QueryBlocks {
    /// Whole pairs: one block of all `s` queries.
    fn whole(s: usize) -> Self {
        Self { count: 1, s }
    }

    pub(crate) fn rows(&self, block: usize) -> Range<usize> {
        block * self.s / self.count..(block + 1) * self.s / self.count
    }
}

/// The fewest blocks per pair that give each of `threads` threads an even share of `pairs` pairs of
/// `s` queries: the busiest thread's rows at most `SPREAD` over the mean, counting each thread's whole
/// tasks of at most `ceil(s / count)` rows (`cpu::thread_shares` checks 1 to 64 threads). One block
/// (no extra packing of keys and values) wherever the pairs alone share out, as one image's 12
/// heads do on 2, 3, 4, 6 or 12 threads.
pub(crate) fn query_blocks(pairs: usize, s: usize, threads: usize) -> QueryBlocks {
    let threads = threads.max(1);
    if pairs == 0 || s == 0 {
        return QueryBlocks::whole(s);
    }
    let spread =
        |q: usize| ((pairs * q).div_ceil(threads) * s.div_ceil(q) * threads) as f64 / (pairs * s) as f64;
    let count = (1..=s).find(|&q| spread(q) <= SPREAD).unwrap_or(s);
    QueryBlocks { count, s }
}

#[derive(Clone, Copy)]
pub(crate) struct Dims {
    pub b: usize,
    pub s: usize,
    pub d: usize,
    pub heads: usize,
}

/// The context `[B, S, D]` alone (the CPU side of `ops::fused_attention`).
pub(crate) fn attend_context(qkv: &[f32], bias: Option<&[f32]>, dims: Dims) -> Vec<f32> {
    let Dims { b, s, d, .. } = dims;
    // Not zeroed: gemm writes every value of it without reading (`read_dst` false).
    let mut context = Vec::with_capacity(b * s * d);
    let out = SharedMut(context.as_mut_ptr());
    let head = Head {
        qkv,
        bias: bias.map(Bias::Dense),
        dims,
        bf16: None,
        out,
    };
    head.attend_all();
    // SAFETY: the (image, head) tasks wrote every block of the context.
    unsafe { context.set_len(b * s * d) };
    context
}

/// The context and, with `with_probs`, the probabilities, of every (image, head) task.
pub(crate) fn attend(
    qkv: &[f32],
    bias: Option<Bias>,
    dims: Dims,
    with_probs: bool,
    precision: AttentionPrecision,
) -> candle_core::Result<Attended> {
    let Dims { b, s, d, heads } = dims;
    // Not zeroed: gemm writes every value of it without reading (`read_dst` false).
    let mut context = Vec::with_capacity(b * s * d);
    let head = Head {
        qkv,
        bias,
        dims,
        bf16: bf16_kernels(precision),
        out: SharedMut(context.as_mut_ptr()),
    };
    // SAFETY (both): each task writes only its own image's rows and head's columns of `context`.
    // The probabilities (HF's `output_attentions`) by whole pairs, each writing its own `S x S`.
    let probs = if with_probs {
        let mut probs = vec![0f32; b * heads * s * s];
        probs
            .par_chunks_mut(s * s)
            .enumerate()
            .for_each_init(Operands::default, |operands, (pair, p)| unsafe {
                head.attend(pair, 0..s, p, operands)
            });
        Some(Tensor::from_vec(probs, (b, heads, s, s), &Device::Cpu)?)
    } else {
        head.attend_all();
        None
    };
    // SAFETY: the (image, head) tasks wrote every block of the context.
    unsafe { context.set_len(b * s * d) };
    Ok((Tensor::from_vec(context, (b, s, d), &Device::Cpu)?, probs))
}

/// The bf16 kernels a call at `precision` runs its matmuls with: none at float32, or where the
/// CPU does not multiply bf16 (the matmuls are f32 then).
fn bf16_kernels(precision: AttentionPrecision) -> Option<AttentionKernels> {
    match precision {
        AttentionPrecision::Bfloat16 => bf16_attention::kernels(),
        AttentionPrecision::Float32 => None,
    }
}

/// What every (image, head) task of one call shares: the fused projection, the bias, the shape,
/// the bf16 kernels if the matmuls run on them, and the `[B, S, D]` context it writes.
#[derive(Clone, Copy)]
struct Head<'a> {
    qkv: &'a [f32],
    bias: Option<Bias<'a>>,
    dims: Dims,
    bf16: Option<AttentionKernels>,
    out: SharedMut,
}

impl Head<'_> {
    /// Every (image, head, block of queries) task, in parallel, on the threads of this pool.
    fn attend_all(&self) {
        let Dims { b, s, heads, .. } = self.dims;
        let blocks = query_blocks(b * heads, s, rayon::current_num_threads());
        let rows = s.div_ceil(blocks.count);
        (0..b * heads * blocks.count).into_par_iter().for_each_init(
            || (vec![0f32; rows * s], Operands::default()),
            // SAFETY: each task writes only its own image's rows and head's columns of the context.
            |(scores, operands), task| unsafe {
                let queries = blocks.rows(task % blocks.count);
                let scores = &mut scores[..queries.len() * s];
                self.attend(task / blocks.count, queries, scores, operands)
            },
        );
    }

    /// The queries `queries` of pair `pair` (image `pair / heads`, head `pair % heads`): scores,
    /// biased softmax in place, then the probabilities times V into the head's columns of the
    /// context.
    ///
    /// # Safety
    /// `out` points to a `[B, S, D]` buffer whose (image, head, queries) block no other thread
    /// writes; `scores` holds `queries.len() x S` values.
    unsafe fn attend(&self, pair: usize, queries: Range<usize>, scores: &mut [f32], operands: &mut Operands) {
        let Dims { s, d, heads, .. } = self.dims;
        let (image, head) = (pair / heads, pair % heads);
        let head_dim = d / heads;
        let row = 3 * d;
        let base = self.qkv[image * s * row..].as_ptr().add(head * head_dim);
        let (q, k, v) = (base.add(queries.start * row), base.add(d), base.add(2 * d));
        let scale = 1.0 / (head_dim as f32).sqrt();
        let bias = self.bias.map(|all| all.head(head, s).past_row(queries.start, s));
        let softmax = |scores: &mut [f32]| {
            dispatch(
                #[inline(always)]
                || softmax_rows(scores, bias, s),
            )
        };
        let context = self.out.0.add((image * s + queries.start) * d + head * head_dim);
        let inputs = HeadInputs {
            q,
            k,
            v,
            row,
            s,
            queries: queries.len(),
            head_dim,
        };
        if let Some(kernels) = &self.bf16 {
            return bf16_attention::attend_head(
                kernels, inputs, scale, softmax, scores, operands, context, d,
            );
        }
        f32_head(inputs, scale, softmax, scores, context, d);
    }
}

/// `bf16_attention::attend_head` in f32 products (the gemm crate, reading Q, K and V in place).
///
/// # Safety
/// As `Head::attend`; `head` points to readable rows.
unsafe fn f32_head(
    head: HeadInputs,
    scale: f32,
    softmax: impl FnOnce(&mut [f32]),
    scores: &mut [f32],
    context: *mut f32,
    stride: usize,
) {
    let HeadInputs {
        q,
        k,
        v,
        s,
        queries,
        head_dim,
        ..
    } = head;
    let row = head.row as isize;
    // scores[i][j] = scale * sum_c q[i][c] k[j][c]: K^T read in place through its strides.
    gemm::gemm(
        queries,
        s,
        head_dim,
        scores.as_mut_ptr(),
        1,
        s as isize,
        false,
        q,
        1,
        row,
        k,
        row,
        1,
        0.0,
        scale,
        false,
        false,
        false,
        Parallelism::None,
    );
    softmax(scores);
    gemm::gemm(
        queries,
        head_dim,
        s,
        context,
        1,
        stride as isize,
        false,
        scores.as_ptr(),
        1,
        s as isize,
        v,
        1,
        row,
        0.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// `rows[i] = softmax(rows[i] + bias[i])` for each row of `width` values.
#[inline(always)]
fn softmax_rows(rows: &mut [f32], bias: Option<Bias>, width: usize) {
    for (i, row) in rows.chunks_exact_mut(width).enumerate() {
        match bias {
            Some(Bias::Dense(bias)) => {
                for (x, b) in row.iter_mut().zip(&bias[i * width..(i + 1) * width]) {
                    *x += b;
                }
            }
            Some(Bias::Gathered { table, index, .. }) => {
                for (x, &at) in row.iter_mut().zip(&index[i * width..(i + 1) * width]) {
                    // SAFETY: `GatheredBias::new` checked every index against the table's rows.
                    *x += unsafe { *table.get_unchecked(at as usize) };
                }
            }
            None => {}
        }
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        // Eight partial sums: a single running sum is a dependency chain the compiler may not
        // reorder, and the loop would not vectorize.
        let mut sums = [0f32; 8];
        let mut chunks = row.chunks_exact_mut(8);
        for chunk in &mut chunks {
            for (x, sum) in chunk.iter_mut().zip(&mut sums) {
                *x = exp_f32(*x - max);
                *sum += *x;
            }
        }
        let mut sum: f32 = sums.iter().sum();
        for x in chunks.into_remainder() {
            *x = exp_f32(*x - max);
            sum += *x;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|x| *x *= inv);
    }
}
