//! How a packed matmul's rows x tiles are cut into parallel tasks (`Split`), for the float32
//! layers (`ops::packed_linear`, `ops::packed_conv`) and the pair path of `cpu::gemm::driver`.

/// The most tiles of one block: its outputs (198 rows by 16 `MAX_TILES` channels, 198 KiB) stay in
/// L2 between the passes over the inputs.
pub(crate) const MAX_TILES: usize = 16;

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
    /// Blocks of at most `max_rows` rows cut at multiples of `unit` (a kernel's rows per call),
    /// by groups of tiles in multiples of `pair` (the tiles a kernel call takes).
    pub(crate) fn with_blocks(
        rows: usize,
        tiles: usize,
        pair: usize,
        (max_rows, unit): (usize, usize),
    ) -> Self {
        let threads = rayon::current_num_threads().max(1);
        let block = rows
            .div_ceil(rows.div_ceil(max_rows).max(1))
            .next_multiple_of(unit)
            .max(unit);
        let row_blocks = rows.div_ceil(block);
        let groups = (16 * threads)
            .div_ceil(row_blocks.max(1))
            .max(tiles.div_ceil(MAX_TILES))
            .clamp(1, tiles);
        Self {
            rows,
            block,
            tiles,
            // Whole pairs of tiles where the kernel takes two: an odd group ends in a single tile,
            // run with half the accumulators.
            group: tiles.div_ceil(groups).next_multiple_of(pair),
        }
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
