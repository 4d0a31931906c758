//! `BeitAttention` = `BeitSelfAttention` + `BeitSelfOutput` (modeling_beit.py).
//!
//! The key projection has no bias. Query, key and value are fused into one `[3D, D]` matmul at load
//! time (with a zero key bias), which reads the activations once instead of three times; the
//! attention itself is one fused op (`ops::attention`).

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::model::dense::Dense;
use std::sync::Arc;

use crate::model::relative_position::{RelativePositionBias, Window};
use crate::ops::{AttentionBias, AttentionPrecision};
use crate::precision::Quantization;
use crate::weights::Weights;

#[derive(Debug)]
pub struct BeitAttention {
    qkv: Dense,
    output: Dense,
    relative_position_bias: Option<RelativePositionBias>,
    num_heads: usize,
    /// bf16 products for `Quantization::Bfloat16`, as under PyTorch's autocast.
    precision: AttentionPrecision,
}

/// What one attention call returns: the output tokens and, on request, the attention probabilities.
pub type AttentionOutput = (Tensor, Option<Tensor>);

impl BeitAttention {
    /// `output_scale` is the layer's lambda_1, folded into the output projection.
    pub fn new(
        cfg: &BeitConfig,
        window: Option<Window>,
        output_scale: Option<&Tensor>,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        let sa = vb.pp("attention");
        let qkv_w = ["query", "key", "value"].map(|p| (sa.pp(p).pp("weight").prefix(), d));
        let q_b = sa.get(d, "query.bias")?;
        let v_b = sa.get(d, "value.bias")?;
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
            qkv: Dense::stacked(qkv_w.to_vec(), d, qkv_b),
            output: Dense::new(d, d, vb.pp("output.dense"))?.scaled(output_scale)?,
            relative_position_bias,
            num_heads: cfg.num_attention_heads,
            precision: AttentionPrecision::Float32,
        })
    }

    pub fn prepare(
        &mut self,
        quantization: Option<Quantization>,
        weights: &Weights,
    ) -> candle_core::Result<()> {
        self.precision = match quantization {
            Some(Quantization::Bfloat16) => AttentionPrecision::Bfloat16,
            _ => AttentionPrecision::Float32,
        };
        self.qkv.prepare(quantization, weights)?;
        self.output.prepare(quantization, weights)
    }

    pub fn finish_loading(&self) -> candle_core::Result<()> {
        self.qkv.finish_loading()?;
        self.output.finish_loading()
    }

    /// `residual + lambda_1 * attention(xs)` over `[B, S, D]` tokens on patch grid `window`
    /// (`index`: its token-pair index), plus an optional bias shared by all layers.
    pub fn forward(
        &self,
        xs: &Tensor,
        residual: &Tensor,
        (window, index): (Window, &Arc<[u32]>),
        shared_bias: Option<&AttentionBias>,
        output_attentions: bool,
    ) -> candle_core::Result<AttentionOutput> {
        let own_bias = match &self.relative_position_bias {
            Some(rpb) => Some(rpb.bias(window, index)?),
            None => None,
        };
        let bias = match (own_bias, shared_bias) {
            (Some(own), Some(shared)) => Some(own.add(shared)?),
            (own, shared) => own.or_else(|| shared.cloned()),
        };
        let qkv = self.qkv.forward(xs, None)?;
        let (context, probs) = crate::ops::attention_with(
            &qkv,
            bias.as_ref(),
            self.num_heads,
            output_attentions,
            self.precision,
        )?;
        Ok((self.output.forward(&context, Some(residual))?, probs))
    }
}
