//! `nn.Linear` for the encoder, optionally followed by a learned per-channel scale that is folded
//! into its weights at load, with the residual added by the matmul (see `ops::linear`). After
//! `prepare`, on the CPU in f32, the weights are either packed for our matmul or quantized to int8.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::ops::cpu_data::is_cpu_f32;
use crate::ops::int8_linear::Int8Linear;
use crate::ops::packed_linear::PackedLinear;
use crate::pretrained::Quantization;

#[derive(Debug)]
pub enum Dense {
    Float { weight: Tensor, bias: Tensor },
    Packed(PackedLinear),
    Int8(Int8Linear),
}

impl Dense {
    /// Loads `weight` `[out, in]` and `bias` `[out]` from `vb`.
    pub fn new(n_in: usize, n_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self::from_parts(
            vb.get((n_out, n_in), "weight")?,
            vb.get(n_out, "bias")?,
        ))
    }

    pub fn from_parts(weight: Tensor, bias: Tensor) -> Self {
        Self::Float { weight, bias }
    }

    /// The layer followed by `y * scale`: `x (diag(scale) W)^T + scale * b`, BEiT's layer scale
    /// (lambda_1, lambda_2) at no cost per forward.
    pub fn scaled(self, scale: Option<&Tensor>) -> candle_core::Result<Self> {
        match (self, scale) {
            (Self::Float { weight, bias }, Some(scale)) => Ok(Self::Float {
                weight: weight.broadcast_mul(&scale.unsqueeze(1)?)?,
                bias: (&bias * scale)?,
            }),
            (Self::Packed(_) | Self::Int8(_), Some(_)) => {
                candle_core::bail!("scale a layer before preparing it")
            }
            (dense, None) => Ok(dense),
        }
    }

    /// Replaces f32 CPU weights by int8 ones (`quantization`) or by packed f32 ones, freeing the
    /// originals; other devices and dtypes keep theirs.
    pub fn prepare(&mut self, quantization: Option<Quantization>) -> candle_core::Result<()> {
        if let Self::Float { weight, bias } = self {
            if is_cpu_f32(weight) {
                *self = match quantization {
                    Some(Quantization::Int8) => Self::Int8(Int8Linear::new(weight, Some(bias))?),
                    None => Self::Packed(PackedLinear::new(weight, bias)?),
                };
            }
        }
        Ok(())
    }

    /// `xs W^T + b (+ residual)`.
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        match self {
            Self::Float { weight, bias } => crate::ops::linear(xs, weight, Some(bias), residual),
            Self::Packed(layer) => layer.forward(xs, residual),
            Self::Int8(layer) => layer.forward(xs, residual),
        }
    }
}
