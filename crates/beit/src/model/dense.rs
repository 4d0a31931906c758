//! `nn.Linear` for the encoder, optionally followed by a learned per-channel scale that is folded
//! into its weights, with the residual added by the matmul (see `ops::linear`). Built as the names
//! of its weights (`PendingDense`); `prepare` reads them: on the CPU in f32, packed for our matmul,
//! quantized to int8 or rounded to bf16, elsewhere as a plain tensor.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::model::pending_dense::PendingDense;
use crate::ops::bf16_linear::Bf16Linear;
use crate::ops::int8_linear::Int8Linear;
use crate::ops::packed_linear::PackedLinear;
use crate::ops::weight_rows::RowSource;
use crate::precision::Quantization;
use crate::weights::Weights;

#[derive(Debug)]
pub enum Dense {
    Pending(PendingDense),
    Float { weight: Tensor, bias: Tensor },
    Packed(PackedLinear),
    Int8(Int8Linear),
    Bf16(Bf16Linear),
}

impl Dense {
    /// `weight` `[out, in]` and `bias` `[out]` under `vb`; the weight is read by `prepare`.
    pub fn new(n_in: usize, n_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let weight = vb.pp("weight").prefix();
        Ok(Self::stacked(vec![(weight, n_out)], n_in, vb.get(n_out, "bias")?))
    }

    /// One layer over several weights stacked along the outputs: (full name, outputs) each.
    pub fn stacked(weights: Vec<(String, usize)>, n_in: usize, bias: Tensor) -> Self {
        Self::Pending(PendingDense::new(weights, n_in, bias))
    }

    /// The layer followed by `y * scale`: `x (diag(scale) W)^T + scale * b`, BEiT's layer scale
    /// (lambda_1, lambda_2) at no cost per forward.
    pub fn scaled(self, scale: Option<&Tensor>) -> candle_core::Result<Self> {
        match (self, scale) {
            (Self::Pending(layer), Some(scale)) => Ok(Self::Pending(layer.scaled(scale)?)),
            (_, Some(_)) => candle_core::bail!("scale a layer before preparing it"),
            (dense, None) => Ok(dense),
        }
    }

    /// Reads the weights from `weights` into the form the forward pass takes.
    pub fn prepare(
        &mut self,
        quantization: Option<Quantization>,
        weights: &Weights,
    ) -> candle_core::Result<()> {
        if let Self::Pending(layer) = self {
            *self = Self::from_pending(layer, quantization, weights)?;
        }
        Ok(())
    }

    /// For the CPU in f32: packed, quantized to int8 or rounded to bf16 (packing and int8 deferred
    /// when the weight lies in a mapped file, see `DeferredWeight`; `from_pretrained` finishes that
    /// before it returns, so a loaded model never reads its file again); a plain tensor elsewhere.
    fn from_pending(
        layer: &PendingDense,
        quantization: Option<Quantization>,
        weights: &Weights,
    ) -> candle_core::Result<Self> {
        let bias = layer.bias();
        let vb = &weights.vb;
        if !(vb.device().is_cpu() && vb.dtype() == DType::F32) {
            let weight = layer.read(weights)?;
            return Ok(Self::Float {
                weight,
                bias: bias.clone(),
            });
        }
        if let Some(weight) = layer.mapped(weights)? {
            let source = Box::new(weight);
            return Ok(match quantization {
                Some(Quantization::Int8) => Self::Int8(Int8Linear::deferred(source, Some(bias))?),
                // Half the size of the f32 weight, made at once: there is no first call to spare.
                Some(Quantization::Bfloat16) => {
                    let packed = Bf16Linear::from_rows(&source.rows()?, Some(bias))?;
                    source.release();
                    Self::Bf16(packed)
                }
                None => Self::Packed(PackedLinear::deferred(source, bias)?),
            });
        }
        layer.with_rows(weights, |rows| {
            Ok(match quantization {
                Some(Quantization::Int8) => Self::Int8(Int8Linear::from_rows(rows, Some(bias))?),
                Some(Quantization::Bfloat16) => Self::Bf16(Bf16Linear::from_rows(rows, Some(bias))?),
                None => Self::Packed(PackedLinear::from_rows(rows, bias)?),
            })
        })
    }

    /// Packs or quantizes a weight that `prepare` left in the mapped file (see `DeferredWeight`).
    pub fn finish_loading(&self) -> candle_core::Result<()> {
        match self {
            Self::Packed(layer) => layer.finish_loading(),
            Self::Int8(layer) => layer.finish_loading(),
            Self::Pending(_) | Self::Float { .. } | Self::Bf16(_) => Ok(()),
        }
    }

    /// `gelu(xs W^T + b)`, the exact GELU fused into the matmul's epilogue on CUDA.
    pub fn forward_gelu(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Float { weight, bias } => crate::ops::linear_epilogue(xs, weight, Some(bias), None, true),
            _ => crate::ops::gelu_erf(&self.forward(xs, None)?),
        }
    }

    /// `xs W^T + b (+ residual)`.
    pub fn forward(&self, xs: &Tensor, residual: Option<&Tensor>) -> candle_core::Result<Tensor> {
        match self {
            Self::Pending(_) => candle_core::bail!("a linear layer was used before `prepare`"),
            Self::Float { weight, bias } => {
                crate::ops::linear_epilogue(xs, weight, Some(bias), residual, false)
            }
            Self::Packed(layer) => layer.forward(xs, residual),
            Self::Int8(layer) => layer.forward(xs, residual),
            Self::Bf16(layer) => layer.forward(xs, residual),
        }
    }
}
