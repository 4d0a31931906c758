//! `BeitRelativePositionBias` (modeling_beit.py; BEiT paper §2.5, MiDaS v3.1 for other sizes).
//!
//! A table of (2Wh-1)(2Ww-1)+3 rows x heads: one row per relative offset between two patches,
//! then CLS query, CLS key and CLS-to-CLS. For a patch grid other than the trained one, the offset
//! part of the table is resized bilinearly first. The gathered `[1, heads, S, S]` bias depends
//! only on the grid, so it is built once per grid and cached: for the few most recently used
//! grids only (`limits::BIAS_CACHE_SIZES`), since each input size would otherwise keep its own
//! `heads x S x S` floats for the life of the model.

use std::collections::VecDeque;
use std::sync::Mutex;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::limits::BIAS_CACHE_SIZES;
use crate::ops::resize_bilinear;

/// A patch grid: (height, width) in patches.
pub type Window = (usize, usize);

#[derive(Debug)]
pub struct RelativePositionBias {
    table: Tensor,
    window: Window,
    /// Most recently used first.
    cache: Mutex<VecDeque<(Window, Tensor)>>,
}

impl RelativePositionBias {
    pub fn new(window: Window, num_heads: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let rows = (2 * window.0 - 1) * (2 * window.1 - 1) + 3;
        let table = vb.get((rows, num_heads), "relative_position_bias_table")?;
        let this = Self {
            table,
            window,
            cache: Mutex::new(VecDeque::new()),
        };
        this.bias(window)?;
        Ok(this)
    }

    /// The bias `[1, heads, S, S]` (S = Wh*Ww + 1) for a patch grid, cached per grid.
    pub fn bias(&self, window: Window) -> candle_core::Result<Tensor> {
        {
            let mut cache = self.lock_cache();
            let hit = cache.iter().position(|(w, _)| *w == window);
            if let Some(entry) = hit.and_then(|i| cache.remove(i)) {
                let bias = entry.1.clone();
                cache.push_front(entry);
                return Ok(bias);
            }
        }
        let bias = self.compute_bias(window)?;
        let mut cache = self.lock_cache();
        cache.retain(|(w, _)| *w != window);
        cache.push_front((window, bias.clone()));
        cache.truncate(BIAS_CACHE_SIZES);
        Ok(bias)
    }

    /// The grids whose bias is cached now, most recently used first.
    #[cfg(test)]
    fn cached_windows(&self) -> Vec<Window> {
        self.lock_cache().iter().map(|(w, _)| *w).collect()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, VecDeque<(Window, Tensor)>> {
        // A panic while holding the lock cannot leave a half-written entry: recover the map.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn compute_bias(&self, window: Window) -> candle_core::Result<Tensor> {
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
        let table = Tensor::cat(&[&offsets, &cls_rows], 0)?;
        let seq = window.0 * window.1 + 1;
        let index = Tensor::from_vec(relative_position_index(window), seq * seq, table.device())?;
        table
            .index_select(&index, 0)?
            .reshape((seq, seq, heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()?
            .to_dtype(self.table.dtype())
    }
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
        for side in 3..3 + 2 * BIAS_CACHE_SIZES {
            rpb.bias((side, side)).unwrap();
        }
        rpb.bias((4 + BIAS_CACHE_SIZES, 4 + BIAS_CACHE_SIZES)).unwrap();
        let cached = rpb.cached_windows();
        assert_eq!(cached.len(), BIAS_CACHE_SIZES);
        assert_eq!(cached[0], (4 + BIAS_CACHE_SIZES, 4 + BIAS_CACHE_SIZES));
        assert!(
            !cached.contains(&(3, 3)),
            "the oldest grid was evicted: {cached:?}"
        );
    }
}
