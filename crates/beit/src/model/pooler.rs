//! `BeitPooler` (modeling_beit.py): LayerNorm of the mean patch token (CLS excluded) when
//! `use_mean_pooling`, else the CLS token of the (already normed) sequence.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::ops::LayerNorm;

#[derive(Debug)]
pub struct BeitPooler {
    layernorm: Option<LayerNorm>,
}

impl BeitPooler {
    pub fn new(cfg: &BeitConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let layernorm = if cfg.use_mean_pooling {
            Some(LayerNorm::new(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                vb.pp("layernorm"),
            )?)
        } else {
            None
        };
        Ok(Self { layernorm })
    }

    /// `[B, S, D]` to `[B, D]`.
    pub fn forward(&self, sequence: &Tensor) -> candle_core::Result<Tensor> {
        match &self.layernorm {
            Some(ln) => {
                let tokens = sequence.dim(1)?;
                let mean = sequence.narrow(1, 1, tokens - 1)?.mean(1)?;
                ln.forward(&mean)
            }
            None => sequence.get_on_dim(1, 0),
        }
    }
}
