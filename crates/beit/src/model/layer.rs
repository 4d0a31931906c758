//! `BeitLayer` (modeling_beit.py; timm's `Block`): pre-norm attention and MLP, each with a residual
//! and, when `layer_scale_init_value > 0`, a learned per-channel scale (lambda_1, lambda_2) that
//! is folded into the projection before it.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::activation::Activation;
use crate::config::BeitConfig;
use crate::model::attention::{AttentionOutput, BeitAttention};
use crate::model::dense::Dense;
use std::sync::Arc;

use crate::model::relative_position::Window;
use crate::ops::AttentionBias;
use crate::ops::LayerNorm;
use crate::precision::Quantization;
use crate::weights::Weights;

#[derive(Debug)]
pub struct BeitLayer {
    layernorm_before: LayerNorm,
    attention: BeitAttention,
    layernorm_after: LayerNorm,
    intermediate: Dense,
    activation: Activation,
    output: Dense,
}

impl BeitLayer {
    pub fn new(cfg: &BeitConfig, window: Option<Window>, vb: VarBuilder) -> crate::error::Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let (lambda_1, lambda_2) = if cfg.layer_scale_init_value > 0.0 {
            (Some(vb.get(d, "lambda_1")?), Some(vb.get(d, "lambda_2")?))
        } else {
            (None, None)
        };
        let intermediate = cfg.intermediate_size;
        Ok(Self {
            layernorm_before: LayerNorm::new(d, eps, vb.pp("layernorm_before"))?,
            attention: BeitAttention::new(cfg, window, lambda_1.as_ref(), vb.pp("attention"))?,
            layernorm_after: LayerNorm::new(d, eps, vb.pp("layernorm_after"))?,
            intermediate: Dense::new(d, intermediate, vb.pp("intermediate.dense"))?,
            activation: Activation::parse(&cfg.hidden_act)?,
            output: Dense::new(intermediate, d, vb.pp("output.dense"))?.scaled(lambda_2.as_ref())?,
        })
    }

    pub fn prepare(
        &mut self,
        quantization: Option<Quantization>,
        weights: &Weights,
    ) -> candle_core::Result<()> {
        self.attention.prepare(quantization, weights)?;
        self.intermediate.prepare(quantization, weights)?;
        self.output.prepare(quantization, weights)
    }

    pub fn finish_loading(&self) -> candle_core::Result<()> {
        self.attention.finish_loading()?;
        self.intermediate.finish_loading()?;
        self.output.finish_loading()
    }

    pub fn forward(
        &self,
        xs: &Tensor,
        grid: (Window, &Arc<[u32]>),
        shared_bias: Option<&AttentionBias>,
        output_attentions: bool,
    ) -> candle_core::Result<AttentionOutput> {
        let normed = self.layernorm_before.forward(xs)?;
        let (hidden, probs) = self
            .attention
            .forward(&normed, xs, grid, shared_bias, output_attentions)?;
        let mlp = self.layernorm_after.forward(&hidden)?;
        let mlp = match self.activation {
            Activation::Gelu => self.intermediate.forward_gelu(&mlp)?,
            other => other.forward(&self.intermediate.forward(&mlp, None)?)?,
        };
        Ok((self.output.forward(&mlp, Some(&hidden))?, probs))
    }
}
