//! `nn.Linear` for the encoder, optionally followed by a learned per-channel scale that is folded
//! into its weights at load, with the residual added by the matmul (see `ops::linear`).

use candle_core::Tensor;
use candle_nn::VarBuilder;

#[derive(Debug)]
pub struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    /// Loads `weight` `[out, in]` and `bias` `[out]` from `vb`.
    pub fn new(n_in: usize, n_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Self::from_parts(vb.get((n_out, n_in), "weight")?, vb.get(n_out, "bias")?)
    }

    pub fn from_parts(weight: Tensor, bias: Tensor) -> candle_core::Result<Self> {
        Ok(Self { weight, bias })
    }

    /// The layer followed by `y * scale`: `x (diag(scale) W)^T + scale * b`, BEiT's layer scale
    /// (lambda_1, lambda_2) at no cost per forward.
    pub fn scaled(self, scale: Option<&Tensor>) -> candle_core::Result<Self> {
        match scale {
            None => Ok(self),
            Some(scale) => Ok(Self {
                weight: self.weight.broadcast_mul(&scale.unsqueeze(1)?)?,
                bias: (&self.bias * scale)?,
            }),
        }
    }

    /// `xs W^T + b (+ residual)`.
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        crate::ops::linear(xs, &self.weight, Some(&self.bias), residual)
    }
}
