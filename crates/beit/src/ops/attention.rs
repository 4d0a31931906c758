//! Multi-head self-attention, fused: `softmax(scale * Q K^T + bias) V` for every image and head.
//!
//! Done with tensor ops this is six passes over a `[B, heads, S, S]` score tensor (15 MB for a
//! BEiT-base batch of 8, far beyond the caches) plus copies of Q, K and V into head-major order and
//! of the context back. On the CPU in f32 it is one loop over (image, head) tasks instead
//! (`ops::attention_head`); on CUDA, without the probabilities, our kernel (`ops::fused_attention`);
//! anything else, the tensor ops (`attention_slow`).

use candle_core::{DType, Tensor};

use crate::cuda_settings;
use crate::ops::attention_bias::AttentionBias;
use crate::ops::attention_head::{attend, Bias, Dims};
pub use crate::ops::attention_head::{Attended, AttentionPrecision};
use crate::ops::cpu_data::{is_cpu_f32, with_f32};

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
    if qkv.device().is_cuda() && !with_probs && cuda_settings::enabled() {
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
