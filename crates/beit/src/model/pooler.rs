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
                let (b, tokens, _) = sequence.dims3()?;
                let patches = sequence.narrow(1, 1, tokens - 1)?;
                let mean = if sequence.device().is_cuda() {
                    // A [1, S - 1] row of ones times each image's patch tokens, then the division:
                    // candle's CUDA sum over a middle dimension is a strided kernel that took as
                    // long as a whole layer's LayerNorms (0.13 ms at batch 64 on an H200). The
                    // GEMM accumulates in f32, as PyTorch's mean does.
                    let ones = Tensor::ones((b, 1, tokens - 1), sequence.dtype(), sequence.device())?;
                    (ones.matmul(&patches)?.squeeze(1)? / (tokens - 1) as f64)?
                } else {
                    patches.mean(1)?
                };
                ln.forward(&mean)
            }
            None => sequence.get_on_dim(1, 0),
        }
    }
}
