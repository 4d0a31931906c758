//! The additive bias of attention scores, `[heads, S, S]`: a dense tensor, or (BEiT's relative
//! position bias on the CPU) each head's small table gathered through one `[S, S]` index of token
//! pairs that every layer shares.
//!
//! Dense, the relative position bias is `heads x S x S` floats a layer: 1.5 GB for the twelve
//! layers of a BEiT-base at 640x640 (1,601 tokens), where the tables are 300 KB each and the index
//! 10 MB for all of them. The fused CPU attention reads the table entry of each score as it adds it.

use std::sync::Arc;

use candle_core::{DType, Layout, Tensor};

use crate::ops::cpu_data::is_cpu_f32;

/// The distance in elements between the rows of a `[heads, S, S]` bias whose rows are each
/// contiguous and evenly spaced (contiguous, or a narrow of padded rows): what the CUDA attention
/// reads without a copy. None for any other layout.
pub fn row_stride(layout: &Layout) -> Option<usize> {
    match (layout.dims(), layout.stride()) {
        (&[_, rows, s], &[head_stride, ld, 1]) if ld >= s && head_stride == rows * ld => Some(ld),
        _ => None,
    }
}

#[derive(Clone, Debug)]
pub enum AttentionBias {
    /// Broadcastable to `[heads, S, S]`.
    Dense(Tensor),
    Gathered(GatheredBias),
}

impl AttentionBias {
    /// The bias as one tensor broadcastable to `[heads, S, S]`.
    pub fn dense(&self) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(t) => Ok(t.clone()),
            Self::Gathered(g) => g.dense(),
        }
    }

    /// `self + other`: gathered when both are gathered through the same index.
    pub fn add(&self, other: &Self) -> candle_core::Result<Self> {
        match (self, other) {
            (Self::Gathered(a), Self::Gathered(b)) if Arc::ptr_eq(&a.index, &b.index) => {
                Ok(Self::Gathered(a.add(b)?))
            }
            (a, b) => Ok(Self::Dense(a.dense()?.broadcast_add(&b.dense()?)?)),
        }
    }
}

/// `bias[h][i][j] = table[h][index[i * S + j]]`.
#[derive(Clone, Debug)]
pub struct GatheredBias {
    /// `[heads, rows]`, f32, contiguous, on the CPU.
    table: Tensor,
    /// `S * S` rows of `table`, each below `rows`.
    index: Arc<[u32]>,
    seq: usize,
}

impl GatheredBias {
    /// `table` `[rows, heads]` (as the relative position bias table is stored) and an `index` of
    /// `S * S` of its rows.
    pub fn new(table: &Tensor, index: Arc<[u32]>) -> candle_core::Result<Self> {
        let (rows, _) = table.dims2()?;
        let seq = index.len().isqrt();
        if seq * seq != index.len() {
            candle_core::bail!("a bias index of {} token pairs is not S x S", index.len());
        }
        if index.iter().any(|&i| i as usize >= rows) {
            candle_core::bail!("a bias index points past the table's {rows} rows");
        }
        let table = table.to_dtype(DType::F32)?.t()?.contiguous()?;
        if !is_cpu_f32(&table) {
            candle_core::bail!("a gathered bias lives on the CPU");
        }
        Ok(Self { table, index, seq })
    }

    /// The same bias through the same index, the tables added.
    fn add(&self, other: &Self) -> candle_core::Result<Self> {
        Ok(Self {
            table: (&self.table + &other.table)?,
            index: self.index.clone(),
            seq: self.seq,
        })
    }

    /// `[1, heads, S, S]`.
    pub fn dense(&self) -> candle_core::Result<Tensor> {
        let index = Tensor::from_slice(&self.index, self.index.len(), self.table.device())?;
        let heads = self.table.dim(0)?;
        self.table
            .index_select(&index, 1)?
            .reshape((1, heads, self.seq, self.seq))
    }

    pub fn seq(&self) -> usize {
        self.seq
    }

    pub fn heads(&self) -> candle_core::Result<usize> {
        self.table.dim(0)
    }

    pub(crate) fn table(&self) -> &Tensor {
        &self.table
    }

    pub(crate) fn index(&self) -> &[u32] {
        &self.index
    }
}

#[cfg(test)]
mod row_stride_tests {
    use candle_core::{Device, Tensor};

    use super::row_stride;

    #[test]
    fn contiguous_and_narrowed_padded_rows_have_a_row_stride() -> candle_core::Result<()> {
        let padded = Tensor::zeros((2, 5, 8), candle_core::DType::F32, &Device::Cpu)?;
        assert_eq!(row_stride(padded.narrow(2, 0, 5)?.layout()), Some(8));
        assert_eq!(
            row_stride(padded.narrow(2, 0, 5)?.contiguous()?.layout()),
            Some(5)
        );
        // A transpose, and a narrow of the rows (heads no longer rows * ld apart), have none.
        assert_eq!(row_stride(padded.narrow(2, 0, 5)?.t()?.layout()), None);
        assert_eq!(row_stride(padded.narrow(1, 0, 4)?.layout()), None);
        Ok(())
    }
}
