//! `BeitLayer` (modeling_beit.py; timm's `Block`): pre-norm attention and MLP, each with a residual
//! and, when `layer_scale_init_value > 0`, a learned per-channel scale (lambda_1, lambda_2).

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::config::BeitConfig;
use crate::model::activation::Activation;
use crate::model::attention::{AttentionOutput, BeitAttention};
use crate::model::relative_position::Window;
use crate::ops::LayerNorm;

#[derive(Debug)]
pub struct BeitLayer {
    layernorm_before: LayerNorm,
    attention: BeitAttention,
    lambdas: Option<(Tensor, Tensor)>,
    layernorm_after: LayerNorm,
    intermediate: Linear,
    activation: Activation,
    output: Linear,
}

impl BeitLayer {
    pub fn new(cfg: &BeitConfig, window: Option<Window>, vb: VarBuilder) -> crate::error::Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let lambdas = if cfg.layer_scale_init_value > 0.0 {
            Some((vb.get(d, "lambda_1")?, vb.get(d, "lambda_2")?))
        } else {
            None
        };
        Ok(Self {
            layernorm_before: LayerNorm::new(d, eps, vb.pp("layernorm_before"))?,
            attention: BeitAttention::new(cfg, window, vb.pp("attention"))?,
            lambdas,
            layernorm_after: LayerNorm::new(d, eps, vb.pp("layernorm_after"))?,
            intermediate: candle_nn::linear(d, cfg.intermediate_size, vb.pp("intermediate.dense"))?,
            activation: Activation::parse(&cfg.hidden_act)?,
            output: candle_nn::linear(cfg.intermediate_size, d, vb.pp("output.dense"))?,
        })
    }

    pub fn forward(
        &self,
        xs: &Tensor,
        window: Window,
        shared_bias: Option<&Tensor>,
        output_attentions: bool,
    ) -> candle_core::Result<AttentionOutput> {
        let normed = self.layernorm_before.forward(xs)?;
        let (mut attn, probs) = self
            .attention
            .forward(&normed, window, shared_bias, output_attentions)?;
        if let Some((lambda_1, _)) = &self.lambdas {
            attn = attn.broadcast_mul(lambda_1)?;
        }
        let hidden = (attn + xs)?;
        let mlp = self.layernorm_after.forward(&hidden)?;
        let mlp = self.intermediate.forward(&mlp)?;
        let mlp = self.output.forward(&self.activation.forward(&mlp)?)?;
        let mlp = match &self.lambdas {
            Some((_, lambda_2)) => mlp.broadcast_mul(lambda_2)?,
            None => mlp,
        };
        Ok(((mlp + hidden)?, probs))
    }
}
