//! Multi-head self-attention, fused: `softmax(scale * Q K^T + bias) V` for every image and head.
//!
//! Done with tensor ops this is six passes over a `[B, heads, S, S]` score tensor (15 MB for a
//! BEiT-base batch of 8, far beyond the caches) plus copies of Q, K and V into head-major order and
//! of the context back. Here each (image, head) pair is one task: gemm reads Q, K and V in place from
//! the fused projection, the `S x S` scores stay in L2 for the biased softmax, and the context is
//! written straight into its `[B, S, D]` columns.

use candle_core::{DType, Device, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::ops::attention_bias::AttentionBias;
use crate::ops::bf16_attention::{self, HeadInputs, Operands};
use crate::ops::cpu_data::{is_cpu_f32, with_f32, SharedMut};
use crate::ops::kernel_switch;
use crate::ops::simd::{dispatch, exp_f32};

/// The context `[B, S, D]` and, when asked for, the attention probabilities `[B, heads, S, S]`.
pub type Attended = (Tensor, Option<Tensor>);

/// What the CPU attention multiplies in: the scores and the context as f32 products, or, for
/// `dtype: 'bfloat16'`, bf16 operands with f32 sums where the CPU multiplies bf16
/// (`ops::bf16_attention`; f32 elsewhere). The softmax and its bias are f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionPrecision {
    #[default]
    Float32,
    Bfloat16,
}

/// Attention over `qkv` (`[B, S, 3D]`: queries, keys, values side by side, heads contiguous within
/// each) with an optional additive `bias` broadcastable to `[heads, S, S]`, scores scaled by
/// `1/sqrt(head_dim)`.
pub fn attention(
    qkv: &Tensor,
    bias: Option<&Tensor>,
    heads: usize,
    with_probs: bool,
) -> candle_core::Result<Attended> {
    attention_in(qkv, bias, heads, with_probs, AttentionPrecision::Float32)
}

/// `attention` with its CPU matmuls in `precision`.
fn attention_in(
    qkv: &Tensor,
    bias: Option<&Tensor>,
    heads: usize,
    with_probs: bool,
    precision: AttentionPrecision,
) -> candle_core::Result<Attended> {
    let (b, s, d3) = qkv.dims3()?;
    if d3 % (3 * heads) != 0 {
        candle_core::bail!("attention: {d3} fused q/k/v features do not split into 3 x {heads} heads");
    }
    let bias = match bias {
        // [1, heads, S, S] as the relative position bias comes, or anything that broadcasts.
        // As it is when already [heads, S, S]: a reshape would copy the model's padded rows.
        Some(t) if t.dims() == [heads, s, s] => Some(t.clone()),
        Some(t) if t.elem_count() == heads * s * s => Some(t.reshape((heads, s, s))?),
        Some(t) => Some(t.broadcast_as((heads, s, s))?),
        None => None,
    };
    // Our CUDA kernel computes the context only; with the probabilities asked for, the plain ops
    // below write them.
    if qkv.device().is_cuda() && !with_probs && kernel_switch::enabled() {
        let context = crate::ops::fused_attention::fused_attention(qkv, bias.as_ref(), heads)?;
        return Ok((context, None));
    }
    if !is_cpu_f32(qkv) || bias.as_ref().is_some_and(|t| !is_cpu_f32(t)) {
        return attention_slow(qkv, bias.as_ref(), heads, with_probs);
    }
    let dims = Dims {
        b,
        s,
        d: d3 / 3,
        heads,
    };
    with_f32(qkv, |qkv| match &bias {
        Some(t) => with_f32(t, |bias| {
            attend(qkv, Some(Bias::Dense(bias)), dims, with_probs, precision)
        })?,
        None => attend(qkv, None, dims, with_probs, precision),
    })?
}

/// `attention` with any `AttentionBias` (a gathered one is read through its index by the fused CPU
/// loop, and made dense for every other path), its matmuls on the CPU in `precision`.
pub fn attention_with(
    qkv: &Tensor,
    bias: Option<&AttentionBias>,
    heads: usize,
    with_probs: bool,
    precision: AttentionPrecision,
) -> candle_core::Result<Attended> {
    let gathered = match bias {
        Some(AttentionBias::Gathered(g)) if is_cpu_f32(qkv) => g,
        Some(bias) => return attention_in(qkv, Some(&bias.dense()?), heads, with_probs, precision),
        None => return attention_in(qkv, None, heads, with_probs, precision),
    };
    let (b, s, d3) = qkv.dims3()?;
    if d3 % (3 * heads) != 0 || gathered.seq() != s || gathered.heads()? != heads {
        candle_core::bail!(
            "attention: {d3} fused q/k/v features of {s} tokens in {heads} heads, with a bias for {} tokens in {} heads",
            gathered.seq(),
            gathered.heads()?
        );
    }
    let dims = Dims {
        b,
        s,
        d: d3 / 3,
        heads,
    };
    with_f32(qkv, |qkv| {
        with_f32(gathered.table(), |table| {
            let bias = Bias::Gathered {
                table,
                rows: table.len() / heads,
                index: gathered.index(),
            };
            attend(qkv, Some(bias), dims, with_probs, precision)
        })?
    })?
}

/// Reference implementation from tensor ops.
pub fn attention_slow(
    qkv: &Tensor,
    bias: Option<&Tensor>,
    heads: usize,
    with_probs: bool,
) -> candle_core::Result<Attended> {
    let (b, s, d3) = qkv.dims3()?;
    let head_dim = d3 / 3 / heads;
    let qkv = qkv
        .reshape((b, s, 3, heads, head_dim))?
        .permute((2, 0, 3, 1, 4))?;
    let (q, k, v) = (
        qkv.get(0)?.contiguous()?,
        qkv.get(1)?.contiguous()?,
        qkv.get(2)?.contiguous()?,
    );
    // Bias and softmax in f32 whatever the dtype, as the fused kernels compute them.
    let mut scores = (q.matmul(&k.t()?)? * (1.0 / (head_dim as f64).sqrt()))?.to_dtype(DType::F32)?;
    if let Some(bias) = bias {
        scores = scores.broadcast_add(&bias.to_dtype(DType::F32)?)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(qkv.dtype())?;
    let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, d3 / 3))?;
    Ok((context, with_probs.then_some(probs)))
}

/// A bias as the fused loop reads it: `[heads, S, S]` values, or per head a table of `rows` values
/// and the `[S, S]` index into it.
#[derive(Clone, Copy)]
enum Bias<'a> {
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
    let Dims { b, s, d, heads } = dims;
    // Not zeroed: gemm writes every value of it without reading (`read_dst` false).
    let mut context = Vec::with_capacity(b * s * d);
    let out = SharedMut(context.as_mut_ptr());
    let head = Head {
        qkv,
        bias: bias.map(Bias::Dense),
        dims,
        precision: AttentionPrecision::Float32,
        out,
    };
    (0..b * heads).into_par_iter().for_each_init(
        || (vec![0f32; s * s], Operands::default()),
        // SAFETY: each task writes only its own image's rows and head's columns of `context`.
        |(scores, operands), task| unsafe { head.attend(task, scores, operands) },
    );
    // SAFETY: the (image, head) tasks wrote every block of the context.
    unsafe { context.set_len(b * s * d) };
    context
}

fn attend(
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
        precision,
        out: SharedMut(context.as_mut_ptr()),
    };
    // SAFETY (both): each task writes only its own image's rows and head's columns of `context`.
    let probs = if with_probs {
        let mut probs = vec![0f32; b * heads * s * s];
        probs
            .par_chunks_mut(s * s)
            .enumerate()
            .for_each_init(Operands::default, |operands, (task, p)| unsafe {
                head.attend(task, p, operands)
            });
        Some(Tensor::from_vec(probs, (b, heads, s, s), &Device::Cpu)?)
    } else {
        (0..b * heads).into_par_iter().for_each_init(
            || (vec![0f32; s * s], Operands::default()),
            |(scores, operands), task| unsafe { head.attend(task, scores, operands) },
        );
        None
    };
    // SAFETY: the (image, head) tasks wrote every block of the context.
    unsafe { context.set_len(b * s * d) };
    Ok((Tensor::from_vec(context, (b, s, d), &Device::Cpu)?, probs))
}

/// What every (image, head) task of one call shares: the fused projection, the bias, the shape,
/// the precision, and the `[B, S, D]` context it writes.
#[derive(Clone, Copy)]
struct Head<'a> {
    qkv: &'a [f32],
    bias: Option<Bias<'a>>,
    dims: Dims,
    precision: AttentionPrecision,
    out: SharedMut,
}

impl Head<'_> {
    /// Task `task` (image `task / heads`, head `task % heads`): scores, biased softmax in place,
    /// then the probabilities times V into the head's columns of the context.
    ///
    /// # Safety
    /// `out` points to a `[B, S, D]` buffer whose (image, head) block no other thread writes.
    unsafe fn attend(&self, task: usize, scores: &mut [f32], operands: &mut Operands) {
        let Dims { s, d, heads, .. } = self.dims;
        let (image, head) = (task / heads, task % heads);
        let head_dim = d / heads;
        let row = 3 * d;
        let base = self.qkv[image * s * row..].as_ptr().add(head * head_dim);
        let (q, k, v) = (base, base.add(d), base.add(2 * d));
        let scale = 1.0 / (head_dim as f32).sqrt();
        let bias = self.bias.map(|all| all.head(head, s));
        let softmax = |scores: &mut [f32]| {
            dispatch(
                #[inline(always)]
                || softmax_rows(scores, bias, s),
            )
        };
        let context = self.out.0.add(image * s * d + head * head_dim);
        let inputs = HeadInputs {
            q,
            k,
            v,
            row,
            s,
            head_dim,
        };
        if self.precision == AttentionPrecision::Bfloat16 && bf16_attention::available() {
            return bf16_attention::attend_head(inputs, scale, softmax, scores, operands, context, d);
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
        q, k, v, s, head_dim, ..
    } = head;
    let row = head.row as isize;
    // scores[i][j] = scale * sum_c q[i][c] k[j][c]: K^T read in place through its strides.
    gemm::gemm(
        s,
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
        s,
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
