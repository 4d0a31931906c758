//! The order of inputs in the packed weight tiles of the int8 and bf16 layers: 16 output channels
//! side by side, each channel's inputs in runs of `width` (`[k / width][NR][width]`).
//!
//! `Groups` runs one kernel group: four int8 inputs, or two bf16 ones, a run. That is what
//! `vpdpbusd`, `vdpbf16ps`, `sdot` and the AMX tile unit read: each group of inputs for 16
//! channels in one 64-byte row. `Pairs` runs two groups (8 int8 inputs, 4 bf16): what Arm's
//! `smmla` and `bfmmla` read (`cpu::arch::arm::mmla`), each channel's 8 bytes whole and two channels in
//! one 16-byte register.
//!
//! A layer packs its tiles once, at load, in the layout of the active CPU level, so that its
//! kernels read them as they are. A call at another level (the tests run every level on one layer;
//! the first call of a deferred int8 layer quantizes as it goes) reorders each tile it reads into a
//! buffer first: correct everywhere, and never on the path of a process at its own level.

use crate::cpu::level::CpuLevel;

/// Output channels per packed tile (the int8 and bf16 layers' `NR`).
pub(crate) const NR: usize = 16;

/// How a packed tile orders its inputs (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TileLayout {
    /// Runs of one group (`lane` inputs).
    Groups,
    /// Runs of two groups (`2 lane` inputs): the `Mmla` level's kernels.
    Pairs,
}

impl TileLayout {
    /// The layout the kernels of `level` read.
    pub(crate) fn for_level(level: CpuLevel) -> TileLayout {
        match level {
            CpuLevel::Mmla => TileLayout::Pairs,
            _ => TileLayout::Groups,
        }
    }

    /// The inputs of a run, for groups of `lane` inputs.
    pub(crate) fn width(self, lane: usize) -> usize {
        match self {
            TileLayout::Groups => lane,
            TileLayout::Pairs => 2 * lane,
        }
    }

    /// Where channel `c`'s input `k` lies in a tile, for groups of `lane` inputs.
    pub(crate) fn index(self, lane: usize, k: usize, c: usize) -> usize {
        let width = self.width(lane);
        (k / width) * width * NR + c * width + k % width
    }
}

/// `tile` (laid out `from`, groups of `lane` inputs, a whole number of pairs of groups) in the
/// layout `to`: itself when the two agree, else reordered into `buf`.
pub(crate) fn relayout<'a, T: Copy + Default>(
    tile: &'a [T],
    lane: usize,
    from: TileLayout,
    to: TileLayout,
    buf: &'a mut Vec<T>,
) -> &'a [T] {
    if from == to {
        return tile;
    }
    assert!(tile.len().is_multiple_of(2 * lane * NR), "whole pairs of groups");
    buf.clear();
    buf.resize(tile.len(), T::default());
    for k in (0..tile.len() / NR).step_by(lane) {
        for c in 0..NR {
            let (src, dst) = (from.index(lane, k, c), to.index(lane, k, c));
            buf[dst..dst + lane].copy_from_slice(&tile[src..src + lane]);
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUTS: [TileLayout; 2] = [TileLayout::Groups, TileLayout::Pairs];

    /// A tile of `k` inputs in `layout` holding `k * 100 + c` for channel `c`'s input `k`.
    fn labelled(layout: TileLayout, lane: usize, k: usize) -> Vec<u32> {
        let mut tile = vec![u32::MAX; k * NR];
        for kk in 0..k {
            for c in 0..NR {
                tile[layout.index(lane, kk, c)] = (kk * 100 + c) as u32;
            }
        }
        tile
    }

    #[test]
    fn each_layout_places_every_input_once() {
        for (layout, lane) in LAYOUTS.into_iter().flat_map(|l| [(l, 2), (l, 4)]) {
            assert!(labelled(layout, lane, 8 * lane).iter().all(|&v| v != u32::MAX));
        }
        // Groups: a group's 16 channels in one row (the x86 kernels' 64 bytes of int8).
        assert_eq!(TileLayout::Groups.index(4, 5, 3), 16 * 4 + 3 * 4 + 1);
        // Pairs: channel 2j's eight int8 inputs, then channel 2j + 1's (one 16-byte operand).
        assert_eq!(
            TileLayout::Pairs.index(4, 7, 0) + 1,
            TileLayout::Pairs.index(4, 0, 1)
        );
        assert_eq!(
            TileLayout::Pairs.index(2, 3, 1) + 1,
            TileLayout::Pairs.index(2, 0, 2)
        );
    }

    #[test]
    fn relayout_moves_every_input_to_its_place_and_back() {
        for lane in [2, 4] {
            let k = 6 * lane;
            for from in LAYOUTS {
                for to in LAYOUTS {
                    let tile = labelled(from, lane, k);
                    let mut buf = vec![7; 3];
                    assert_eq!(relayout(&tile, lane, from, to, &mut buf), labelled(to, lane, k));
                }
            }
        }
    }
}
