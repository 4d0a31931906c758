//! How a packed matmul's rows x tiles are cut into parallel tasks (`Split`), for the float32
//! layers (`ops::packed_linear`, `ops::packed_conv`) and the reduced-precision ones
//! (`cpu::gemm::driver`).

/// The most tiles of one block: its outputs (198 rows by 16 `MAX_TILES` channels, 198 KiB) stay in
/// L2 between the passes over the inputs.
pub(crate) const MAX_TILES: usize = 16;

/// How uneven the threads' shares may be: the busiest thread's work over the mean, at most, when
/// each thread runs whole tasks (`cpu::thread_shares` checks it for 1 to 64 threads).
pub(crate) const SPREAD: f64 = 1.08;

/// How one call's rows x tiles are cut into tasks: blocks of at most so many rows, as even as whole
/// panels allow, and the tiles in groups so that there are enough tasks to keep every thread busy
/// to the end (a batch of one image is 197 rows: two blocks would leave no slack).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Split {
    rows: usize,
    block: usize,
    tiles: usize,
    group: usize,
}

impl Split {
    /// Blocks of at most `max_rows` rows cut at multiples of `unit` (a kernel's rows per call), by
    /// groups of tiles in multiples of `pair` (the tiles a kernel call takes), for `threads`
    /// threads. The largest blocks of rows (fewest passes over the weights), then the fewest groups
    /// of tiles from 16 tasks a thread up, whose tasks share out within `SPREAD`; smaller blocks only
    /// where the tiles alone cannot make enough tasks (8 images of int8 rows make three blocks, and
    /// a layer of 24 pairs of tiles 72 tasks: too few for 64 threads). Where nothing does (a tiny
    /// call on many threads), the most even cut.
    pub(crate) fn for_threads(
        rows: usize,
        tiles: usize,
        pair: usize,
        (max_rows, unit): (usize, usize),
        threads: usize,
    ) -> Self {
        let threads = threads.max(1);
        let cut = |block: usize, group: usize| Self {
            rows,
            block,
            tiles,
            // Whole pairs of tiles where the kernel takes two: an odd group ends in a single tile,
            // run with half the accumulators.
            group: group.next_multiple_of(pair).max(1),
        };
        if rows == 0 || tiles == 0 {
            return cut(unit.max(1), tiles);
        }
        let block_for = |blocks: usize| rows.div_ceil(blocks).next_multiple_of(unit).max(unit);
        let first = block_for(rows.div_ceil(max_rows).max(1));
        let most_groups = tiles.div_ceil(pair);
        let groups = (16 * threads)
            .div_ceil(rows.div_ceil(first))
            .max(tiles.div_ceil(MAX_TILES))
            .clamp(1, most_groups);
        let first_cut = cut(first, tiles.div_ceil(groups));
        let mut best = (first_cut.spread(threads), first_cut);
        let blocks = (rows.div_ceil(first)..=rows.div_ceil(unit)).map(block_for);
        for block in dedup(blocks) {
            let groups = (groups..=most_groups).map(|g| tiles.div_ceil(g));
            for group in dedup(groups) {
                let split = cut(block, group);
                let spread = split.spread(threads);
                if spread <= SPREAD {
                    return split;
                }
                if spread < best.0 {
                    best = (spread, split);
                }
            }
        }
        best.1
    }

    /// The busiest thread's work over the mean, at most, when each runs whole tasks: at most
    /// `ceil(tasks / threads)` tasks of at most a full block by a full group.
    fn spread(&self, threads: usize) -> f64 {
        let busiest = self.tasks().div_ceil(threads) * self.block.min(self.rows) * self.group.min(self.tiles);
        (busiest * threads) as f64 / (self.rows * self.tiles) as f64
    }

    fn groups(&self) -> usize {
        self.tiles.div_ceil(self.group)
    }

    pub(crate) fn tasks(&self) -> usize {
        self.rows.div_ceil(self.block) * self.groups()
    }

    pub(crate) fn task(&self, i: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (b, g) = (i / self.groups(), i % self.groups());
        let rows = b * self.block..((b + 1) * self.block).min(self.rows);
        let tiles = g * self.group..((g + 1) * self.group).min(self.tiles);
        (rows, tiles)
    }
}

/// `values` without its runs of equal values (they are sorted: the candidate sizes only shrink).
fn dedup(values: impl Iterator<Item = usize>) -> impl Iterator<Item = usize> {
    let mut last = None;
    values.filter(move |&v| last.replace(v) != Some(v))
}
