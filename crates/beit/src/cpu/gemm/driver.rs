//! The one driver of the packed layers with reduced-precision weights (int8 and bf16): it cuts a
//! call's rows x tiles into parallel tasks and hands each to the kernels the format chose once for
//! the call (`PackedGemm`). The tasks are rows x tiles (`Split`, even for 1 to 64 threads); a
//! block has as many rows as fit `BLOCK_BYTES` of activations, so that each weight comes from L3
//! once per block (blocks of rows only, at most 96, read every weight of a layer once per 25 rows
//! of one image, or per 88 rows of 8: bench/README.md, "Kernel choices"). In a task, by what the
//! level has:
//! - pair kernels (AVX-512): whole pairs of full tiles through the pair kernel and the other tiles
//!   (an odd last one, a partial one) through the one-tile kernel;
//! - the tile unit (AMX): rows cut at the unit's step of 16, whole pairs of full tiles on the unit, the
//!   rest through the one-tile kernel;
//! - otherwise every tile through the one-tile kernel.
//!
//! The float32 layer has a driver of its own (`ops::packed_linear`): its activations are packed
//! into panels per block, which these formats, quantized or rounded row by row, need not.

use std::ops::Range;

use rayon::prelude::*;

use crate::cpu::gemm::split::Split;
use crate::cpu::gemm::tile_layout::NR;

/// Bytes of activations per block of rows, at most: half of a Zen 4's or a Sapphire Rapids' L2
/// (1 or 2 MiB), beside the tiles that go by.
const BLOCK_BYTES: usize = 1 << 19;

/// The shape of one call and the ways its kernels take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub rows: usize,
    pub n_out: usize,
    /// Bytes of one row of activations.
    pub row_bytes: usize,
    /// Rows per call of the one-tile kernel.
    pub mr: usize,
    /// Rows per call of the pair kernel, when the call runs on one.
    pub pair_rows: Option<usize>,
    /// Rows per unit of work of the tile unit, when the call runs on it.
    pub tile_unit_rows: Option<usize>,
}

/// One call of a packed layer, its kernels chosen: what the driver runs for each task. Every
/// method writes only the rows and tiles it is given, of the call's destination.
pub(crate) trait PackedGemm: Sync {
    fn plan(&self) -> Plan;

    /// `rows` by the tile pairs `pairs` (whole pairs of full tiles) on the tile unit.
    ///
    /// # Safety
    /// No other thread writes these rows of these tiles; the plan has a tile unit.
    unsafe fn tile_unit(&self, rows: Range<usize>, pairs: Range<usize>);

    /// `rows` by the tile pairs `pairs` (whole pairs of full tiles) through the pair kernel.
    ///
    /// # Safety
    /// No other thread writes these rows of these tiles; the plan has a pair kernel.
    unsafe fn pairs(&self, rows: Range<usize>, pairs: Range<usize>);

    /// `rows` by one tile through the one-tile kernel.
    ///
    /// # Safety
    /// No other thread writes these rows of this tile.
    unsafe fn tile(&self, tile: usize, rows: Range<usize>);
}

/// Runs `call` over all its rows and tiles, in parallel: each task's whole pairs of full tiles
/// through the pair kernel or the tile unit where the plan has one, its other tiles through the
/// one-tile kernel.
pub(crate) fn matmul(call: &impl PackedGemm) {
    let plan = call.plan();
    let split = plan.split(rayon::current_num_threads());
    let paired = match (plan.pair_rows, plan.tile_unit_rows) {
        (None, None) => 0,
        _ => plan.n_out / NR / 2 * 2,
    };
    (0..split.tasks()).into_par_iter().for_each(|task| {
        let (rows, tiles) = split.task(task);
        let pairs = tiles.start.min(paired) / 2..tiles.end.min(paired) / 2;
        // SAFETY (all): tasks are disjoint in rows x tiles; each kernel runs where the plan has it.
        if !pairs.is_empty() {
            match plan.pair_rows {
                Some(_) => unsafe { call.pairs(rows.clone(), pairs) },
                None => unsafe { call.tile_unit(rows.clone(), pairs) },
            }
        }
        for tile in tiles.start.max(paired)..tiles.end {
            unsafe { call.tile(tile, rows.clone()) };
        }
    });
}

impl Plan {
    /// The tasks for `threads` threads: blocks of rows whose activations fit in `BLOCK_BYTES`, cut
    /// at the kernel's rows per call, by groups of tiles (whole pairs where a pair kernel or the
    /// tile unit takes them).
    pub(crate) fn split(&self, threads: usize) -> Split {
        let (unit, pair) = match (self.pair_rows, self.tile_unit_rows) {
            (Some(rows), _) | (None, Some(rows)) => (rows, 2),
            (None, None) => (self.mr, 1),
        };
        let block_rows = (BLOCK_BYTES / self.row_bytes.max(1)).max(unit);
        Split::for_threads(
            self.rows,
            self.n_out.div_ceil(NR),
            pair,
            (block_rows, unit),
            threads,
        )
    }
}
