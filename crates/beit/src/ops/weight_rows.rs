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

    /// Values `start..start + len` where they lie, when they are f32 as they are (aligned, and in
    /// the machine's byte order).
    fn slice(&self, start: usize, len: usize) -> Option<&[f32]> {
        match self {
            Self::F32(v) => Some(&v[start..start + len]),
            Self::LeBytes(b) if cfg!(target_endian = "little") => {
                bytemuck::try_cast_slice(&b[4 * start..4 * (start + len)]).ok()
            }
            Self::LeBytes(_) => None,
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
        let (block, first) = self.locate(row);
        block.read(first * self.n_in + k0, out);
        if self.scale.is_some() {
            let scale = self.scale(row);
            out.iter_mut().for_each(|v| *v *= scale);
        }
    }

    /// Row `row` before its scale, where it lies, if it can be read without a conversion.
    pub fn row_in_place(&self, row: usize) -> Option<&[f32]> {
        let (block, first) = self.locate(row);
        block.slice(first * self.n_in, self.n_in)
    }

    /// The scale of row `row` (1 without one).
    pub fn scale(&self, row: usize) -> f32 {
        self.scale.map_or(1.0, |scale| scale[row])
    }

    /// The block that holds row `row`, and the row's index in it.
    fn locate(&self, row: usize) -> (&RowBlock<'a>, usize) {
        let mut first = row;
        for block in &self.blocks {
            let rows = block.values() / self.n_in;
            if first < rows {
                return (block, first);
            }
            first -= rows;
        }
        panic!("row {row} of a weight with {} rows", self.n_out);
    }
}

/// A weight that stays readable after loading, for a layer that packs it later (see
/// `PackedLinear::deferred`): the rows on demand, and its pages given back once packed.
pub trait RowSource: Send + Sync + std::fmt::Debug {
    fn rows(&self) -> candle_core::Result<WeightRows<'_>>;

    /// Nothing reads the rows any more: their memory may go.
    fn release(&self);
}
