//! A linear layer of the encoder between building the model and preparing it: the names of its
//! weight in the checkpoint, not the weight itself, so that `prepare` can pack (or quantize) a
//! CPU f32 weight straight from the mapped file (see `ops::weight_rows`) instead of from a copy.

use candle_core::{DType, Tensor};

use crate::model::dense::Dense;
use crate::ops::bf16_linear::Bf16Linear;
use crate::ops::cpu_data::with_f32;
use crate::ops::int8_linear::Int8Linear;
use crate::ops::packed_linear::PackedLinear;
use crate::ops::weight_rows::{RowBlock, RowSource, WeightRows};
use crate::precision::Quantization;
use crate::weights::Weights;

#[derive(Debug)]
pub struct PendingDense {
    /// Full names of the weight's blocks of rows, stacked along the outputs, and their row counts.
    blocks: Vec<(String, usize)>,
    n_in: usize,
    bias: Tensor,
    /// Per output: BEiT's layer scale, folded into the weight and bias.
    scale: Option<Tensor>,
}

impl PendingDense {
    pub fn new(blocks: Vec<(String, usize)>, n_in: usize, bias: Tensor) -> Self {
        Self {
            blocks,
            n_in,
            bias,
            scale: None,
        }
    }

    /// The layer followed by `y * scale`: `x (diag(scale) W)^T + scale * b`.
    pub fn scaled(self, scale: &Tensor) -> candle_core::Result<Self> {
        Ok(Self {
            bias: (&self.bias * scale)?,
            scale: Some(scale.clone()),
            ..self
        })
    }

    /// Reads the weight from `weights`: for the CPU in f32, packed or quantized to int8 (deferred
    /// when the weight lies in a mapped file, see `DeferredWeight`; `from_pretrained` finishes that
    /// before it returns, so a loaded model never reads its file again); as a plain tensor elsewhere.
    pub fn prepare(
        &self,
        quantization: Option<Quantization>,
        weights: &Weights,
    ) -> candle_core::Result<Dense> {
        let vb = &weights.vb;
        if !(vb.device().is_cpu() && vb.dtype() == DType::F32) {
            return Ok(Dense::Float {
                weight: self.read(weights)?,
                bias: self.bias.clone(),
            });
        }
        let scale = self.scale.as_ref().map(|s| s.to_vec1::<f32>()).transpose()?;
        if let Some(weight) = weights.mapped_weight(&self.blocks, self.n_in, scale)? {
            let source = Box::new(weight);
            return Ok(match quantization {
                Some(Quantization::Int8) => Dense::Int8(Int8Linear::deferred(source, Some(&self.bias))?),
                // Half the size of the f32 weight, made at once: there is no first call to spare.
                Some(Quantization::Bfloat16) => {
                    let layer = Bf16Linear::from_rows(&source.rows()?, Some(&self.bias))?;
                    source.release();
                    Dense::Bf16(layer)
                }
                None => Dense::Packed(PackedLinear::deferred(source, &self.bias)?),
            });
        }
        // `read` has applied the scale.
        with_f32(&self.read(weights)?, |w| {
            let rows = WeightRows::new(vec![RowBlock::F32(w)], self.n_in, None)?;
            Ok(match quantization {
                Some(Quantization::Int8) => Dense::Int8(Int8Linear::from_rows(&rows, Some(&self.bias))?),
                Some(Quantization::Bfloat16) => Dense::Bf16(Bf16Linear::from_rows(&rows, Some(&self.bias))?),
                None => Dense::Packed(PackedLinear::from_rows(&rows, &self.bias)?),
            })
        })?
    }

    /// The whole weight `[n_out, n_in]`, scaled, as a tensor of the target dtype and device.
    fn read(&self, weights: &Weights) -> candle_core::Result<Tensor> {
        let blocks = self
            .blocks
            .iter()
            .map(|(name, rows)| weights.vb.get((*rows, self.n_in), name))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let weight = Tensor::cat(&blocks, 0)?;
        match &self.scale {
            Some(scale) => weight.broadcast_mul(&scale.unsqueeze(1)?),
            None => Ok(weight),
        }
    }
}
