//! The float32 format as its kernels see it: panels of `MR` rows of activations interleaved input
//! by input (`[k][MR]`, `cpu::gemm::row_panel`) by tiles of `NR` channels' weights (`[k][NR]`),
//! the products added into the destination. Here are the table of kernels an instruction set
//! offers (`F32Kernels`, filled by `cpu::arch`); the layers that pack and call them are
//! `ops::packed_linear` and `ops::packed_conv`, whose portable kernel is the reference.

/// Rows per kernel call, so rows per panel: 12 accumulators, 2 weight vectors and a broadcast
/// fill 15 of the 16 AVX registers.
pub(crate) const MR: usize = 6;
/// Output channels per tile: one cache line of weights per input.
pub(crate) const NR: usize = 16;

/// `c[r][..NR] += sum_k a[k][r] w[k][..NR]` for the `MR` rows of `c` at `stride`: `a` a panel of
/// `kc` inputs, `w` a tile's `kc` lanes.
pub(crate) type TileKernel = unsafe fn(*const f32, *const f32, usize, *mut f32, usize);

/// `TileKernel` over two tiles side by side (`c` rows of `2 NR`).
pub(crate) type PairKernel = unsafe fn(*const f32, [*const f32; 2], usize, *mut f32, usize);

/// What one instruction set offers at one level (`cpu::arch::native::f32_kernels`), chosen once per call.
#[derive(Clone, Copy)]
pub(crate) struct F32Kernels {
    /// One tile a call (none: the portable loop).
    pub tile: Option<TileKernel>,
    /// Two tiles a call.
    pub pair: Option<PairKernel>,
}

impl F32Kernels {
    /// How many tiles one kernel call takes.
    pub(crate) fn tiles(&self) -> usize {
        if self.pair.is_some() {
            2
        } else {
            1
        }
    }
}
