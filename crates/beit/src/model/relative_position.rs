//! `BeitRelativePositionBias` (modeling_beit.py; BEiT paper §2.5, MiDaS v3.1 for other sizes).
//!
//! A table of (2Wh-1)(2Ww-1)+3 rows x heads: one row per relative offset between two patches,
//! then CLS query, CLS key and CLS-to-CLS. For a patch grid other than the trained one, the offset
//! part of the table is resized bilinearly first. The bias of a token pair is the table's row at
//! the pair's index (`relative_position_index`), which depends only on the grid.
//!
//! On the CPU the attention gathers the table through the index as it adds the bias
//! (`ops::attention_bias`), so a layer keeps only its table per grid; the index is built once per
//! grid for all layers (`IndexCache`). Elsewhere the gathered `[1, heads, S, S]` bias is built per
//! grid and cached. Both caches keep the few most recently used grids only
//! (`limits::BIAS_CACHE_SIZES`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::limits::BIAS_CACHE_SIZES;
use crate::ops::attention_bias::{AttentionBias, GatheredBias};
use crate::ops::cpu_data::is_cpu_f32;
use crate::ops::resize_bilinear;

/// A patch grid: (height, width) in patches.
pub type Window = (usize, usize);

/// The last few values computed per grid, most recently used first.
#[derive(Debug)]
struct PerGrid<T>(Mutex<VecDeque<(Window, T)>>);

impl<T: Clone> PerGrid<T> {
    fn new() -> Self {
        Self(Mutex::new(VecDeque::new()))
    }

    fn get_or(
        &self,
        window: Window,
        make: impl FnOnce() -> candle_core::Result<T>,
    ) -> candle_core::Result<T> {
        {
            let mut cache = self.lock();
            let hit = cache.iter().position(|(w, _)| *w == window);
            if let Some(entry) = hit.and_then(|i| cache.remove(i)) {
                let value = entry.1.clone();
                cache.push_front(entry);
                return Ok(value);
            }
        }
        let value = make()?;
        let mut cache = self.lock();
        cache.retain(|(w, _)| *w != window);
        cache.push_front((window, value.clone()));
        cache.truncate(BIAS_CACHE_SIZES);
        Ok(value)
    }

    #[cfg(test)]
    fn windows(&self) -> Vec<Window> {
        self.lock().iter().map(|(w, _)| *w).collect()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(Window, T)>> {
        // A panic while holding the lock cannot leave a half-written entry: recover the map.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token-pair index of the grids seen last, shared by every layer of an encoder.
#[derive(Debug)]
pub struct IndexCache(PerGrid<Arc<[u32]>>);

impl Default for IndexCache {
    fn default() -> Self {
        Self(PerGrid::new())
    }
}

impl IndexCache {
    pub fn get(&self, window: Window) -> candle_core::Result<Arc<[u32]>> {
        self.0
            .get_or(window, || Ok(relative_position_index(window).into()))
    }
}

#[derive(Debug)]
pub struct RelativePositionBias {
    table: Tensor,
    window: Window,
    /// Per grid: the resized table `[rows, heads]` on the CPU in f32, the gathered bias
    /// `[1, heads, S, S]` elsewhere.
    cache: PerGrid<Tensor>,
}

impl RelativePositionBias {
    pub fn new(window: Window, num_heads: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let rows = (2 * window.0 - 1) * (2 * window.1 - 1) + 3;
        let table = vb.get((rows, num_heads), "relative_position_bias_table")?;
        Ok(Self {
            table,
            window,
            cache: PerGrid::new(),
        })
    }

    /// The bias for a patch grid, through `index` (that grid's `relative_position_index`).
    pub fn bias(&self, window: Window, index: &Arc<[u32]>) -> candle_core::Result<AttentionBias> {
        if is_cpu_f32(&self.table) {
            let table = self.cache.get_or(window, || self.resized_table(window))?;
            return Ok(AttentionBias::Gathered(GatheredBias::new(&table, index.clone())?));
        }
        let dense = self.cache.get_or(window, || {
            let table = self.resized_table(window)?;
            // Rounded to the model's dtype, as transformers' table is.
            let dense = GatheredBias::new(&table.to_device(&candle_core::Device::Cpu)?, index.clone())?
                .dense()?
                .to_dtype(self.table.dtype())?;
            if self.table.device().is_cuda() {
                cuda_layout(&dense.squeeze(0)?, self.table.device())
            } else {
                dense.to_device(self.table.device())
            }
        })?;
        Ok(AttentionBias::Dense(dense))
    }

    /// The grids whose bias is cached now, most recently used first.
    #[cfg(test)]
    fn cached_windows(&self) -> Vec<Window> {
        self.cache.windows()
    }

    /// The table `[rows, heads]` in f32 for a grid: its offset rows resized bilinearly to the
    /// grid's offsets, the three CLS rows as they are.
    fn resized_table(&self, window: Window) -> candle_core::Result<Tensor> {
        let (old_h, old_w) = (2 * self.window.0 - 1, 2 * self.window.1 - 1);
        let (new_h, new_w) = (2 * window.0 - 1, 2 * window.1 - 1);
        let heads = self.table.dim(1)?;
        let table = self.table.to_dtype(DType::F32)?;
        let offsets = table.narrow(0, 0, old_h * old_w)?;
        // HF reshapes as (old_width, old_height): the same for the square grids of every config.
        let offsets = offsets
            .reshape((1, old_w, old_h, heads))?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        let offsets = resize_bilinear(&offsets, new_h, new_w)?
            .permute((0, 2, 3, 1))?
            .reshape((new_h * new_w, heads))?;
        let cls_rows = table.narrow(0, old_h * old_w, 3)?;
        Tensor::cat(&[&offsets, &cls_rows], 0)
    }
}

/// A `[heads, S, S]` bias as the CUDA attention reads it fastest: its rows padded with zeros to a
/// multiple of 8 values (16 bytes in f16 and bf16, which the flash kernel copies with cp.async), the
/// padding hidden by a narrow: a `[heads, S, S]` view with rows `S.next_multiple_of(8)` apart.
fn cuda_layout(dense: &Tensor, device: &candle_core::Device) -> candle_core::Result<Tensor> {
    let s = dense.dim(2)?;
    dense
        .pad_with_zeros(2, 0, s.next_multiple_of(8) - s)?
        .to_device(device)?
        .narrow(2, 0, s)
}

/// The `[S * S]` row index into the bias table for every (query, key) token pair of a grid.
pub fn relative_position_index(window: Window) -> Vec<u32> {
    let (wh, ww) = window;
    let area = wh * ww;
    let offsets = (2 * wh - 1) * (2 * ww - 1);
    let seq = area + 1;
    let mut index = vec![0u32; seq * seq];
    for q in 0..area {
        let (qh, qw) = (q / ww, q % ww);
        for k in 0..area {
            let (kh, kw) = (k / ww, k % ww);
            let dh = qh + wh - 1 - kh;
            let dw = qw + ww - 1 - kw;
            index[(q + 1) * seq + k + 1] = (dh * (2 * ww - 1) + dw) as u32;
        }
    }
    for i in 0..seq {
        index[i] = offsets as u32; // CLS query row
        index[i * seq] = offsets as u32 + 1; // CLS key column
    }
    index[0] = offsets as u32 + 2; // CLS to CLS
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_of_a_2x2_grid_matches_hf() {
        // From HF's generate_relative_position_index((2, 2)).
        let expected: Vec<u32> = vec![
            11, 9, 9, 9, 9, //
            10, 4, 3, 1, 0, //
            10, 5, 4, 2, 1, //
            10, 7, 6, 4, 3, //
            10, 8, 7, 5, 4,
        ];
        assert_eq!(relative_position_index((2, 2)), expected);
    }

    #[test]
    fn the_bias_cache_keeps_the_most_recently_used_grids_only() {
        let vb = VarBuilder::zeros(DType::F32, &candle_core::Device::Cpu);
        let rpb = RelativePositionBias::new((2, 2), 2, vb).unwrap();
        let indexes = IndexCache::default();
        let bias = |side: usize| {
            rpb.bias((side, side), &indexes.get((side, side)).unwrap())
                .unwrap()
        };
        for side in 3..3 + 2 * BIAS_CACHE_SIZES {
            bias(side);
        }
        bias(4 + BIAS_CACHE_SIZES);
        let cached = rpb.cached_windows();
        assert_eq!(cached.len(), BIAS_CACHE_SIZES);
        assert_eq!(cached[0], (4 + BIAS_CACHE_SIZES, 4 + BIAS_CACHE_SIZES));
        assert!(
            !cached.contains(&(3, 3)),
            "the oldest grid was evicted: {cached:?}"
        );
        assert_eq!(
            indexes.0.windows(),
            cached,
            "the index cache keeps the same grids"
        );
    }
}
