//! The launch geometry that our CUDA kernels (kernels/*.cu) are written for: block sizes, tile
//! sizes and dynamic shared memory. Plain arithmetic, built without the `cuda` feature, so that
//! crates/kernel-check can compare it with the kernels' own headers on any machine: a launch with
//! another block size than a kernel's reduction assumes would compute garbage, silently.

/// Threads per block of the attention kernel (`BEIT_ATTN_THREADS`).
pub const ATTENTION_THREADS: u32 = 128;
/// Query rows per attention block (`BEIT_ATTN_BQ`).
pub const ATTENTION_BLOCK_Q: usize = 32;
/// The largest head size the attention kernel takes (`BEIT_ATTN_MAX_HEAD_DIM`).
pub const ATTENTION_MAX_HEAD_DIM: usize = 128;
/// Threads per row of the LayerNorm kernel (`BEIT_LN_THREADS`): one warp, whose butterfly
/// reduction assumes it.
pub const LAYER_NORM_THREADS: u32 = 32;
/// Rows per LayerNorm block (`BEIT_LN_ROWS`), one warp each.
pub const LAYER_NORM_ROWS: u32 = 4;
/// Threads per block of the grid-stride kernels: epilogue and preprocessing.
pub const GRID_STRIDE_THREADS: u32 = 256;

/// Vectors each thread of the epilogue kernel loads before computing (`BEIT_EPILOGUE_UNROLL`).
pub const EPILOGUE_UNROLL: usize = 4;

/// Dynamic shared memory of one attention block, bytes (`beit_attention_shared_bytes`): the Q
/// tile, one K-or-V tile with an odd row stride, the score tile (BK + 1 a row), and two floats a
/// query row; all f32.
pub fn attention_shared_bytes(head_dim: usize) -> u32 {
    const BLOCK_K: usize = 32;
    let floats = ATTENTION_BLOCK_Q * head_dim
        + BLOCK_K * (head_dim | 1)
        + ATTENTION_BLOCK_Q * (BLOCK_K + 1)
        + 2 * ATTENTION_BLOCK_Q;
    (floats * 4) as u32
}

/// Threads per block of the tensor-core attention kernel (`BEIT_MMA_THREADS`): 4 warps.
pub const MMA_ATTENTION_THREADS: u32 = 128;
/// Query rows per tensor-core attention block (`BEIT_MMA_BQ`): 16 a warp.
pub const MMA_ATTENTION_BLOCK_Q: usize = 64;

/// Dynamic shared memory of one tensor-core attention block, bytes (`beit_mma_shared_bytes`):
/// Q, K and V tiles of 64 rows in the 2-byte dtype, the f32 scores, the probabilities in the
/// dtype, the f32 running context, and three floats a query row; rows padded as the header says.
pub fn mma_attention_shared_bytes(head_dim: usize) -> u32 {
    const BQ: usize = MMA_ATTENTION_BLOCK_Q;
    const BK: usize = 64;
    let tiles = (BQ + 2 * BK) * (head_dim + 8) * 2;
    let scores = BQ * (BK + 4) * 4;
    let probs = BQ * (BK + 8) * 2;
    let context = BQ * (head_dim + 4) * 4;
    (tiles + scores + probs + context + 3 * BQ * 4) as u32
}

/// Keys per tile of the register-resident tensor-core attention (`BEIT_FLASH_BLOCK`), and query
/// rows per block with 4 warps; its blocks have 4 or 8 warps of 16 query rows each.
pub const FLASH_ATTENTION_BLOCK: usize = 64;

/// Query rows per block of that kernel with `warps` warps (`beit_flash_block_q`).
pub fn flash_attention_block_q(warps: usize) -> usize {
    16 * warps
}

/// Dynamic shared memory of one such block, bytes (`beit_flash_shared_bytes`): the Q tile
/// (16 * warps rows) and two buffers each of K and V (64 rows) of `head_dim + 8` two-byte values;
/// then two bias tiles of 16 * warps rows of 72, the second in the Q tile's buffer where its rows
/// are as long.
pub fn flash_attention_shared_bytes(head_dim: usize, warps: usize) -> u32 {
    let (row, bias_row) = (head_dim + 8, FLASH_ATTENTION_BLOCK + 8);
    let block_q = flash_attention_block_q(warps);
    let bias_tiles = if row >= bias_row { 1 } else { 2 };
    ((block_q * row + 4 * FLASH_ATTENTION_BLOCK * row + bias_tiles * block_q * bias_row) * 2) as u32
}

/// Blocks of `threads` for a grid-stride loop over `n` elements: enough to fill any GPU, few
/// enough that the grid's x dimension never overflows.
pub fn grid_stride_blocks(n: usize, threads: u32) -> u32 {
    const MAX_BLOCKS: usize = 65_535;
    n.div_ceil(threads as usize).clamp(1, MAX_BLOCKS) as u32
}
