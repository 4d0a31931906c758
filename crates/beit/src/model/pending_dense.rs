//! A linear layer of the encoder between building the model and preparing it: the names of its
//! weight in the checkpoint, not the weight itself, so that `prepare` can pack (or quantize) a
//! CPU f32 weight straight from the mapped file (see `ops::weight_rows`) instead of from a copy.

use candle_core::{DType, Tensor};

use crate::model::dense::Dense;
use crate::ops::cpu_data::with_f32;
use crate::ops::int8_linear::Int8Linear;
use crate::ops::packed_linear::PackedLinear;
use crate::ops::weight_rows::{RowBlock, WeightRows};
use crate::pretrained::Quantization;
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

    /// Reads the weight from `weights`: packed (or, with `quantization`, int8) for the CPU in f32,
    /// as a plain tensor elsewhere.
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
        match self.mapped(weights)? {
            Some(blocks) => {
                let scale = self.scale.as_ref().map(|s| s.to_vec1::<f32>()).transpose()?;
                let dense = self.pack(blocks, scale.as_deref(), quantization);
                self.blocks.iter().for_each(|(name, _)| weights.release(name));
                dense
            }
            // `read` has applied the scale.
            None => with_f32(&self.read(weights)?, |w| {
                self.pack(vec![RowBlock::F32(w)], None, quantization)
            })?,
        }
    }

    /// The weight of `blocks` times `scale`, packed or quantized.
    fn pack(
        &self,
        blocks: Vec<RowBlock>,
        scale: Option<&[f32]>,
        quantization: Option<Quantization>,
    ) -> candle_core::Result<Dense> {
        let rows = WeightRows::new(blocks, self.n_in, scale)?;
        Ok(match quantization {
            Some(Quantization::Int8) => Dense::Int8(Int8Linear::from_rows(&rows, Some(&self.bias))?),
            None => Dense::Packed(PackedLinear::from_rows(&rows, &self.bias)?),
        })
    }

    /// The blocks as little-endian bytes in the mapped file, if all of them lie there as f32.
    fn mapped<'w>(&self, weights: &'w Weights) -> candle_core::Result<Option<Vec<RowBlock<'w>>>> {
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for (name, rows) in &self.blocks {
            match weights.mapped_f32(name, &[*rows, self.n_in])? {
                Some(bytes) => blocks.push(RowBlock::LeBytes(bytes)),
                None => return Ok(None),
            }
        }
        Ok(Some(blocks))
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
