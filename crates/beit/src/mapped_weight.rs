//! A linear layer's weight left in the memory-mapped checkpoint (blocks of rows stacked along the
//! outputs, times an optional scale per output), read there when the layer packs it.

use crate::mapped_safetensors::MappedSafetensors;
use crate::ops::weight_rows::{RowBlock, RowSource, WeightRows};

#[derive(Debug)]
pub struct MappedWeight {
    mapped: MappedSafetensors,
    /// Full names of the blocks, each of `n_in` columns, checked to lie in the map as f32.
    blocks: Vec<String>,
    n_in: usize,
    scale: Option<Vec<f32>>,
}

impl MappedWeight {
    /// The caller has checked that every block lies in `mapped` as f32 rows of `n_in` values.
    pub fn new(mapped: MappedSafetensors, blocks: Vec<String>, n_in: usize, scale: Option<Vec<f32>>) -> Self {
        Self {
            mapped,
            blocks,
            n_in,
            scale,
        }
    }
}

impl RowSource for MappedWeight {
    fn rows(&self) -> candle_core::Result<WeightRows<'_>> {
        let blocks = self
            .blocks
            .iter()
            .map(|name| Ok(RowBlock::LeBytes(self.mapped.0.get(name)?.data())))
            .collect::<candle_core::Result<Vec<_>>>()?;
        WeightRows::new(blocks, self.n_in, self.scale.as_deref())
    }

    fn release(&self) {
        self.blocks.iter().for_each(|name| self.mapped.release(name));
    }
}
