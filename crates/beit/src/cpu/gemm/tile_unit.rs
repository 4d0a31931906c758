//! The tile unit (AMX) as the packed formats see it: one call of rows by pairs of tiles, and the
//! unit's entry in a format's table. Its kernel is `cpu::arch::x86::amx::tile_unit`.

use std::ops::Range;

/// The sums of up to 16 rows by a pair of tiles, as the unit gives them.
pub(crate) type Block<S> = [[S; 32]; 16];

/// What takes each block of sums: `(pair, row, sums, n)`, `n` rows from `row`.
pub(crate) type Finish<'a, S> = dyn FnMut(usize, usize, &Block<S>, usize) + 'a;

/// One call: `rows` of `x` (at stride `k_pad`) by the pairs of tiles `pairs`, whose packed
/// values `tiles(pair)` gives; `finish(pair, row, sums, n)` takes each block of sums, `n` rows
/// from `row`.
#[allow(dead_code, reason = "read by the tile unit's kernel, on x86-64 only")]
pub(crate) struct TileUnitCall<'a, X, W, S> {
    pub x: &'a [X],
    pub k_pad: usize,
    pub rows: Range<usize>,
    pub pairs: Range<usize>,
    pub tiles: &'a (dyn Fn(usize) -> [*const W; 2] + Sync),
    pub finish: &'a mut Finish<'a, S>,
}

/// The unit in a format's table.
pub(crate) struct TileUnit<X, W, S> {
    /// Rows per unit of work: blocks of rows are cut at multiples of it.
    pub rows: usize,
    /// The inputs of a call are a multiple of this.
    pub k_step: usize,
    pub run: unsafe fn(&mut TileUnitCall<X, W, S>),
}

impl<X, W, S> TileUnit<X, W, S> {
    /// The unit's rows per unit of work for a call of `k_pad` inputs, if it can take them.
    pub(crate) fn rows_for(&self, k_pad: usize) -> Option<usize> {
        k_pad.is_multiple_of(self.k_step).then_some(self.rows)
    }
}

// By hand: derived, they would ask `X`, `W` and `S` to be `Copy` as well.
impl<X, W, S> Clone for TileUnit<X, W, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<X, W, S> Copy for TileUnit<X, W, S> {}
