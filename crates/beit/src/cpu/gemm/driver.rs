//! The one driver of the packed layers with reduced-precision weights (int8 and bf16): it cuts a
//! call's rows x tiles into parallel tasks and hands each to the kernels the format chose once for
//! the call (`PackedGemm`). Three ways, by what the level has:
//! - pair kernels (AVX-512): tasks of rows x tiles (`Split`), whole pairs of full tiles through
//!   the pair kernel and the other tiles (an odd last one, a partial one) through the one-tile
//!   kernel. A block has as many rows as fit `BLOCK_BYTES` of activations, so that each weight
//!   comes from L3 once per block: blocks of rows only (at most 96, at least four per thread) read
//!   every weight of a layer once per 25 rows of one image, or per 88 rows of 8 (bench/README.md,
//!   "Kernel choices");
//! - the tile unit (AMX): blocks of rows, cut at the unit's 32 rows, each over every pair of full
//!   tiles on the unit and the rest through the one-tile kernel;
//! - otherwise blocks of rows over every tile through the one-tile kernel.
//!
//! The float32 layer has a driver of its own (`ops::packed_linear`): its activations are packed
//! into panels per block, which these formats, quantized or rounded row by row, need not.

use std::ops::Range;

use rayon::prelude::*;

use crate::cpu::gemm::split::Split;
use crate::cpu::gemm::tile_layout::NR;

/// Rows of activations per parallel block of the one-tile and tile-unit ways, at most: a block's
/// activations stay in L2.
const BLOCK_ROWS: usize = 96;
/// Bytes of activations per block of rows of the pair way, at most: half of a Zen 4's or a
/// Sapphire Rapids' L2 (1 or 2 MiB), beside the tiles that go by.
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

    /// `rows` by the tiles of the whole pairs of full tiles, on the tile unit; the number of tiles
    /// done (the tiles from it on are the driver's).
    ///
    /// # Safety
    /// No other thread writes these rows; the plan has a tile unit.
    unsafe fn tile_unit(&self, rows: Range<usize>) -> usize;

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

/// Runs `call` over all its rows and tiles, in parallel.
pub(crate) fn matmul(call: &impl PackedGemm) {
    let plan = call.plan();
    match plan.pair_rows {
        Some(unit) => by_tile_pairs(call, plan, unit),
        None => by_row_blocks(call, plan),
    }
}

/// The pair way: tasks of rows x tiles (see the module comment).
fn by_tile_pairs(call: &impl PackedGemm, plan: Plan, unit: usize) {
    let block_rows = (BLOCK_BYTES / plan.row_bytes.max(1)).max(unit);
    let split = Split::with_blocks(plan.rows, plan.n_out.div_ceil(NR), 2, (block_rows, unit));
    let paired = plan.n_out / NR / 2 * 2;
    (0..split.tasks()).into_par_iter().for_each(|task| {
        let (rows, tiles) = split.task(task);
        // SAFETY (both): tasks are disjoint in rows x tiles; the plan has a pair kernel.
        unsafe {
            call.pairs(
                rows.clone(),
                tiles.start.min(paired) / 2..tiles.end.min(paired) / 2,
            )
        };
        for tile in tiles.start.max(paired)..tiles.end {
            unsafe { call.tile(tile, rows.clone()) };
        }
    });
}

/// The one-tile and tile-unit ways: blocks of rows, each over every tile.
fn by_row_blocks(call: &impl PackedGemm, plan: Plan) {
    let unit = plan.tile_unit_rows.unwrap_or(plan.mr);
    let groups = plan.rows.div_ceil(unit);
    let blocks = row_blocks(groups, BLOCK_ROWS / unit);
    let tiles = plan.n_out.div_ceil(NR);
    (0..blocks).into_par_iter().for_each(|b| {
        let rows =
            (b * groups / blocks * unit).min(plan.rows)..((b + 1) * groups / blocks * unit).min(plan.rows);
        // SAFETY (both): block b writes only its own rows; the tile unit only where the plan has it.
        let done = match plan.tile_unit_rows {
            Some(_) => unsafe { call.tile_unit(rows.clone()) },
            None => 0,
        };
        for tile in done..tiles {
            unsafe { call.tile(tile, rows.clone()) };
        }
    });
}

/// How many parallel blocks `groups` microkernel row groups make: blocks of at most `per_block`
/// groups (so that a block's activations stay in L2), at least four per thread, a multiple of the
/// threads and as even as the groups allow. Blocks of exactly `per_block` made 17 of a batch of 8
/// images, and one of two threads waited a seventeenth of every layer. Block `b` has the groups
/// `b * groups / blocks .. (b + 1) * groups / blocks`.
fn row_blocks(groups: usize, per_block: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    groups
        .div_ceil(per_block)
        .max(threads * 4)
        .next_multiple_of(threads)
        .min(groups)
}
