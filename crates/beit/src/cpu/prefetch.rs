//! Software prefetch of rows that a loop will read next, a few cache lines at a time, spread over
//! the work before it: for data that no hardware prefetcher sees coming (it is read later, in
//! another order, after a stretch of compute on other data).

use crate::cpu::arch::native::prefetch_l2;

const LINE: usize = 64;

/// Fetches the cache lines of `rows` into L2, in order, `per_step` lines per `step`.
pub struct RowPrefetch<'a> {
    rows: Vec<&'a [f32]>,
    per_step: usize,
    /// The next line: row `row`, byte `offset` in it.
    row: usize,
    offset: usize,
}

impl<'a> RowPrefetch<'a> {
    /// Spread over `steps` calls of `step`.
    pub fn new(rows: Vec<&'a [f32]>, steps: usize) -> Self {
        let lines: usize = rows
            .iter()
            .map(|r| std::mem::size_of_val(*r).div_ceil(LINE))
            .sum();
        Self {
            rows,
            per_step: lines.div_ceil(steps.max(1)),
            row: 0,
            offset: 0,
        }
    }

    /// Asks for the next lines.
    pub fn step(&mut self) {
        for _ in 0..self.per_step {
            let Some(row) = self.rows.get(self.row) else {
                return;
            };
            let bytes = std::mem::size_of_val(*row);
            if self.offset >= bytes {
                (self.row, self.offset) = (self.row + 1, 0);
                continue;
            }
            prefetch_l2(row.as_ptr().cast::<u8>().wrapping_add(self.offset));
            self.offset += LINE;
        }
    }
}
