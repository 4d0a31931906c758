//! A linear layer's weight `[n_out, n_in]` as the CPU packers read it, wherever it lives: blocks of
//! rows stacked along the outputs (the query, key and value projections fused into one), each the
//! data of a CPU tensor or the raw bytes of a memory-mapped safetensors file, times an optional
//! scale per output (BEiT's layer scale).
//!
//! Reading the mapped bytes directly is what keeps loading cheap: copying each weight into a tensor,
//! concatenating and scaling it, then packing it wrote every weight three or four times into fresh
//! pages that the kernel zeroes first; packing from the map writes it once.

/// Consecutive output rows of the weight.
#[derive(Clone, Copy, Debug)]
pub enum RowBlock<'a> {
    F32(&'a [f32]),
    /// Little-endian f32 values, as safetensors stores them; any alignment.
    LeBytes(&'a [u8]),
}

impl RowBlock<'_> {
    fn values(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::LeBytes(b) => b.len() / 4,
        }
    }

    /// Copies values `start..start + out.len()`.
    fn read(&self, start: usize, out: &mut [f32]) {
        match self {
            Self::F32(v) => out.copy_from_slice(&v[start..start + out.len()]),
            Self::LeBytes(b) => {
                let bytes = &b[4 * start..4 * (start + out.len())];
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct WeightRows<'a> {
    blocks: Vec<RowBlock<'a>>,
    scale: Option<&'a [f32]>,
    n_in: usize,
    n_out: usize,
}

impl<'a> WeightRows<'a> {
    /// The rows of `blocks` one after another, each row `n_in` values, row `o` times `scale[o]`.
    pub fn new(
        blocks: Vec<RowBlock<'a>>,
        n_in: usize,
        scale: Option<&'a [f32]>,
    ) -> candle_core::Result<Self> {
        if n_in == 0 {
            candle_core::bail!("a linear layer needs at least one input");
        }
        let mut n_out = 0;
        for block in &blocks {
            if block.values() % n_in != 0 {
                candle_core::bail!(
                    "a weight block of {} values is not made of rows of {n_in} inputs",
                    block.values()
                );
            }
            n_out += block.values() / n_in;
        }
        if let Some(scale) = scale {
            if scale.len() != n_out {
                candle_core::bail!("a scale of {} values for {n_out} outputs", scale.len());
            }
        }
        Ok(Self {
            blocks,
            scale,
            n_in,
            n_out,
        })
    }

    /// One f32 matrix `[n_out, n_in]`.
    pub fn dense(w: &'a [f32], n_in: usize) -> candle_core::Result<Self> {
        Self::new(vec![RowBlock::F32(w)], n_in, None)
    }

    pub fn n_in(&self) -> usize {
        self.n_in
    }

    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Writes `W[row, k0..k0 + out.len()]`, scaled, into `out`.
    pub fn read(&self, row: usize, k0: usize, out: &mut [f32]) {
        let mut first = row;
        for block in &self.blocks {
            let rows = block.values() / self.n_in;
            if first < rows {
                block.read(first * self.n_in + k0, out);
                if let Some(scale) = self.scale {
                    out.iter_mut().for_each(|v| *v *= scale[row]);
                }
                return;
            }
            first -= rows;
        }
        panic!("row {row} of a weight with {} rows", self.n_out);
    }
}
