//! `BeitAttention` = `BeitSelfAttention` + `BeitSelfOutput` (modeling_beit.py).
//!
//! The key projection has no bias. Query, key and value are fused into one `[3D, D]` matmul at load
//! time (with a zero key bias), which reads the activations once instead of three times.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::config::BeitConfig;
use crate::model::relative_position::{RelativePositionBias, Window};

#[derive(Debug)]
pub struct BeitAttention {
    qkv: Linear,
    output: Linear,
    relative_position_bias: Option<RelativePositionBias>,
    num_heads: usize,
    head_dim: usize,
}

/// What one attention call returns: the output tokens and, on request, the attention probabilities.
pub type AttentionOutput = (Tensor, Option<Tensor>);

impl BeitAttention {
    pub fn new(cfg: &BeitConfig, window: Option<Window>, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        let sa = vb.pp("attention");
        let q_w = sa.get((d, d), "query.weight")?;
        let q_b = sa.get(d, "query.bias")?;
        let k_w = sa.get((d, d), "key.weight")?;
        let v_w = sa.get((d, d), "value.weight")?;
        let v_b = sa.get(d, "value.bias")?;
        let qkv_w = Tensor::cat(&[&q_w, &k_w, &v_w], 0)?;
        let qkv_b = Tensor::cat(&[&q_b, &q_b.zeros_like()?, &v_b], 0)?;
        let relative_position_bias = match window {
            Some(w) => Some(RelativePositionBias::new(
                w,
                cfg.num_attention_heads,
                sa.pp("relative_position_bias"),
            )?),
            None => None,
        };
        Ok(Self {
            qkv: Linear::new(qkv_w, Some(qkv_b)),
            output: candle_nn::linear(d, d, vb.pp("output.dense"))?,
            relative_position_bias,
            num_heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// Self-attention over `[B, S, D]` tokens on patch grid `window`, plus an optional bias shared
    /// by all layers.
    pub fn forward(
        &self,
        xs: &Tensor,
        window: Window,
        shared_bias: Option<&Tensor>,
        output_attentions: bool,
    ) -> candle_core::Result<AttentionOutput> {
        let (b, s, d) = xs.dims3()?;
        let qkv = self
            .qkv
            .forward(xs)?
            .reshape((b, s, 3, self.num_heads, self.head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if let Some(rpb) = &self.relative_position_bias {
            scores = scores.broadcast_add(&rpb.bias(window)?)?;
        }
        if let Some(bias) = shared_bias {
            scores = scores.broadcast_add(bias)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, d))?;
        let out = self.output.forward(&context)?;
        Ok((out, output_attentions.then_some(probs)))
    }
}
