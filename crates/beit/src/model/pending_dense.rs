//! A linear layer of the encoder between building the model and preparing it: the names of its
//! weight in the checkpoint, not the weight itself, so that `Dense::prepare` can pack (or quantize)
//! a CPU f32 weight straight from the mapped file (see `ops::weight_rows`) instead of from a copy.

use candle_core::Tensor;

use crate::mapped_weight::MappedWeight;
use crate::ops::cpu_data::with_f32;
use crate::ops::weight_rows::{RowBlock, WeightRows};
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

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The weight, scaled, where it lies in a mapped f32 file: rows to pack straight from the
    /// file, no copy made.
    pub fn mapped(&self, weights: &Weights) -> candle_core::Result<Option<MappedWeight>> {
        let scale = self.scale.as_ref().map(|s| s.to_vec1::<f32>()).transpose()?;
        weights.mapped_weight(&self.blocks, self.n_in, scale)
    }

    /// `f` of the weight's rows, scaled, read into an f32 copy.
    pub fn with_rows<R>(
        &self,
        weights: &Weights,
        f: impl FnOnce(&WeightRows) -> candle_core::Result<R>,
    ) -> candle_core::Result<R> {
        // `read` has applied the scale.
        with_f32(&self.read(weights)?, |w| {
            f(&WeightRows::new(vec![RowBlock::F32(w)], self.n_in, None)?)
        })?
    }

    /// The whole weight `[n_out, n_in]`, scaled, as a tensor of the target dtype and device.
    pub fn read(&self, weights: &Weights) -> candle_core::Result<Tensor> {
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
