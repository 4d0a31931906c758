//! Whether every op of a BEiT-base forward gives each of 1 to 64 threads an equal share of its work
//! (within 10%), at batch 1 and batch 8: a test of the splits, not a timing, so that the kernels scale
//! to a server's cores by construction and not by luck on the 2-core machines they are timed on.
//!
//! A split's tasks, each with its cost (multiply-adds, or elements for the row-wise ops), are handed
//! out as a work-stealing pool does once its threads are busy: the next task to the thread that
//! finishes first. The busiest thread's work over the mean is the figure; 1.10 is the bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::cpu::gemm::driver::Plan;
use crate::cpu::gemm::split::Split;
use crate::cpu::gemm::{bf16, f32 as f32_gemm, int8};
use crate::ops::attention_head::query_blocks;
use crate::ops::gelu::chunk_len;
use crate::ops::packed_linear::split_for_threads;

/// BEiT-base: 197 tokens an image (196 patches), 768 channels, 12 heads, MLP of 3072.
const TOKENS: usize = 197;
const PATCHES: usize = 196;
const HIDDEN: usize = 768;
const HEADS: usize = 12;
const MLP: usize = 3072;
/// A tile is 16 output channels.
const NR: usize = 16;
/// The rows of one step of the AMX tile unit.
const TILE_UNIT_STEP: usize = 16;
/// The bound: the busiest thread does at most 10% more than the mean.
const BOUND: f64 = 1.10;

/// The busiest thread's work over the mean when `costs` are run in order, each by the thread that
/// becomes free first.
fn imbalance(costs: &[f64], threads: usize) -> f64 {
    let total: f64 = costs.iter().sum();
    let mut free = BinaryHeap::from(vec![Reverse(0u64); threads]);
    let mut busiest = 0u64;
    for &cost in costs {
        let Reverse(at) = free.pop().unwrap();
        // Costs in integral units keep the heap's order total.
        let done = at + cost.round() as u64;
        busiest = busiest.max(done);
        free.push(Reverse(done));
    }
    busiest as f64 / (total / threads as f64)
}

/// The tasks of a `Split` of `rows` x `tiles`, each costing rows x tiles x `depth`, its rows
/// counted in whole steps of the kernel's (`step`): a call on fewer rows costs as much (the AMX
/// tile unit's step is 16 rows, the others' one call of rows).
fn split_costs(split: &Split, depth: usize, step: usize) -> Vec<f64> {
    (0..split.tasks())
        .map(|t| {
            let (rows, tiles) = split.task(t);
            (rows.len().next_multiple_of(step) * tiles.len() * depth) as f64
        })
        .collect()
}

/// One op's tasks: their costs, and how many indivisible steps its work has (a kernel call's
/// rows by its tiles), whose share among the threads no split can make more even than
/// `ceil(steps / threads)` of them for the busiest.
struct Op {
    name: String,
    costs: Vec<f64>,
    steps: usize,
}

impl Op {
    /// The bound for `threads`: 10%, or the steps' own granularity where that is coarser (at 43
    /// threads and more, one image's proj and fc2 on the AMX tile unit, 13 steps of 16 rows by
    /// 24 pairs of tiles: 312 steps of 0.4 million multiply-adds, 40 us in all).
    fn bound(&self, threads: usize) -> f64 {
        let granularity = (self.steps.div_ceil(threads) * threads) as f64 / self.steps as f64;
        BOUND.max(granularity + 1e-9)
    }
}

/// A matmul's op: `split` of `rows` x `tiles`, calls of `step` rows by `pair` tiles.
fn matmul(
    name: String,
    split: &Split,
    (rows, tiles): (usize, usize),
    depth: usize,
    (step, pair): (usize, usize),
) -> Op {
    Op {
        name,
        costs: split_costs(split, depth, step),
        steps: rows.div_ceil(step) * tiles.div_ceil(pair),
    }
}

/// Every op's tasks at `batch` images and `threads` threads.
fn ops(batch: usize, threads: usize) -> Vec<Op> {
    let rows = batch * TOKENS;
    let mut ops = Vec::new();
    let linears = [
        ("qkv", HIDDEN, 3 * HIDDEN),
        ("proj", HIDDEN, HIDDEN),
        ("fc1", HIDDEN, MLP),
        ("fc2", MLP, HIDDEN),
    ];
    for (name, n_in, n_out) in linears {
        let tiles = n_out.div_ceil(NR);
        for pair in [1, 2] {
            let split = split_for_threads(rows, tiles, pair, threads);
            let name = format!("f32 {name} (tiles by {pair})");
            ops.push(matmul(name, &split, (rows, tiles), n_in, (f32_gemm::MR, pair)));
        }
        for (format, bytes, mr, wide_mr) in [
            ("int8", 1, int8::MR, int8::WIDE_MR),
            ("bf16", 2, bf16::MR, bf16::WIDE_MR),
        ] {
            let plan = Plan {
                rows,
                n_out,
                row_bytes: n_in * bytes,
                mr,
                pair_rows: Some(wide_mr),
                tile_unit_rows: None,
            };
            let name_of = |way: &str| format!("{format} {name} {way}");
            let split = plan.split(threads);
            ops.push(matmul(
                name_of("by tile pairs"),
                &split,
                (rows, tiles),
                n_in,
                (wide_mr, 2),
            ));
            // One-tile kernels (no pair kernel), and the tile unit (AMX).
            let one_tile = Plan {
                pair_rows: None,
                ..plan
            };
            let split = one_tile.split(threads);
            ops.push(matmul(name_of("one tile"), &split, (rows, tiles), n_in, (mr, 1)));
            let tile_unit = Plan {
                tile_unit_rows: Some(TILE_UNIT_STEP),
                ..one_tile
            };
            let split = tile_unit.split(threads);
            ops.push(matmul(
                name_of("tile unit"),
                &split,
                (rows, tiles),
                n_in,
                (TILE_UNIT_STEP, 2),
            ));
        }
    }
    // The patch embedding: a 16x16x3 convolution, one row a patch.
    let (patches, tiles) = (batch * PATCHES, HIDDEN / NR);
    let split = split_for_threads(patches, tiles, 2, threads);
    ops.push(matmul(
        "patch embedding".into(),
        &split,
        (patches, tiles),
        3 * 16 * 16,
        (f32_gemm::MR, 2),
    ));
    // Attention: per (image, head, block of queries), the scores and the context; a query's row is
    // the step.
    let blocks = query_blocks(batch * HEADS, TOKENS, threads);
    ops.push(Op {
        name: "attention".into(),
        costs: (0..batch * HEADS * blocks.count)
            .map(|t| (blocks.rows(t % blocks.count).len() * TOKENS * 2 * (HIDDEN / HEADS)) as f64)
            .collect(),
        steps: batch * HEADS * TOKENS,
    });
    let (values, chunk) = (rows * MLP, chunk_len(rows * MLP, threads));
    ops.push(Op {
        name: "gelu".into(),
        costs: (0..values.div_ceil(chunk))
            .map(|c| chunk.min(values - c * chunk) as f64)
            .collect(),
        steps: values / 16,
    });
    ops
}

#[test]
fn every_op_gives_each_of_1_to_64_threads_an_equal_share() {
    let mut worst = Vec::new();
    for batch in [1, 8] {
        for threads in 1..=64 {
            for op in ops(batch, threads) {
                let ratio = imbalance(&op.costs, threads);
                if ratio > op.bound(threads) {
                    worst.push(format!(
                        "batch {batch}, {threads} threads, {}: {ratio:.3}",
                        op.name
                    ));
                }
            }
        }
    }
    assert!(
        worst.is_empty(),
        "{} over the bound:\n{}",
        worst.len(),
        worst.join("\n")
    );
}

#[test]
fn the_measure_sees_an_uneven_split() {
    // Twelve equal tasks (one per head) on eight threads: four threads do two, the mean is 1.5.
    assert!((imbalance(&[1.0; 12], 8) - 2.0 / 1.5).abs() < 1e-9);
    assert!((imbalance(&[1.0; 16], 8) - 1.0).abs() < 1e-9);
}
