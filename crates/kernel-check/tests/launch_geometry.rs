//! beit's launches (crates/beit/src/launch_geometry.rs, what src/cuda/ launches with) against the
//! kernels' own headers: a block size or shared-memory size out of step with what a kernel was
//! written for would compute garbage on the GPU without any error.

use beit::launch_geometry as rust;
use kernel_check::{attention, launch_constants, LaunchConstants};

#[test]
fn block_and_tile_sizes_match_the_headers() {
    assert_eq!(
        launch_constants(),
        LaunchConstants {
            attention_threads: rust::ATTENTION_THREADS as i32,
            attention_block_q: rust::ATTENTION_BLOCK_Q as i32,
            attention_max_head_dim: rust::ATTENTION_MAX_HEAD_DIM as i32,
            layer_norm_threads: rust::LAYER_NORM_THREADS as i32,
            preprocess_threads: rust::GRID_STRIDE_THREADS as i32,
            mma_attention_threads: rust::MMA_ATTENTION_THREADS as i32,
            mma_attention_block_q: rust::MMA_ATTENTION_BLOCK_Q as i32,
            layer_norm_rows: rust::LAYER_NORM_ROWS as i32,
            flash_attention_threads: rust::MMA_ATTENTION_THREADS as i32,
            flash_attention_block: rust::FLASH_ATTENTION_BLOCK as i32,
            epilogue_threads: rust::GRID_STRIDE_THREADS as i32,
            epilogue_unroll: rust::EPILOGUE_UNROLL as i32,
        }
    );
}

#[test]
fn attention_shared_memory_matches_the_header() {
    for head_dim in 1..=rust::ATTENTION_MAX_HEAD_DIM {
        assert_eq!(
            rust::attention_shared_bytes(head_dim) as usize,
            attention::shared_bytes(head_dim),
            "head_dim {head_dim}"
        );
    }
    // Under the 48 KiB a kernel may use without opting in, which the launch does not do.
    assert!(rust::attention_shared_bytes(rust::ATTENTION_MAX_HEAD_DIM) <= 48 * 1024);
}

#[test]
fn mma_attention_shared_memory_matches_the_header_and_is_aligned() {
    for head_dim in (16..=rust::ATTENTION_MAX_HEAD_DIM).step_by(16) {
        let layout = attention::mma_smem(head_dim);
        assert_eq!(
            rust::mma_attention_shared_bytes(head_dim) as usize,
            layout.total,
            "head_dim {head_dim}"
        );
        // wmma loads and stores need 32-byte aligned tiles: every buffer, and every 16-row step
        // within it (column steps of 16 are 32 or 64 bytes).
        for offset in layout.offsets.iter().chain(&layout.sixteen_rows) {
            assert_eq!(offset % 32, 0, "head_dim {head_dim}: {layout:?}");
        }
        // Within what an A100 (the oldest GPU the PTX targets) lets a block opt in to.
        assert!(layout.total <= 163 * 1024, "head_dim {head_dim}: {layout:?}");
    }
}

#[test]
fn flash_attention_shared_memory_matches_the_header_and_is_aligned() {
    for head_dim in [32, 64, 128] {
        for warps in [4, 8] {
            let (bytes, stride) = attention::flash_layout(head_dim, warps);
            assert_eq!(
                rust::flash_attention_shared_bytes(head_dim, warps) as usize,
                bytes,
                "head_dim {head_dim}, {warps} warps"
            );
            // Within the 163 KiB a block may take on an A100.
            assert!(bytes <= 163 * 1024, "head_dim {head_dim}, {warps} warps: {bytes}");
            // ldmatrix and cp.async move 16-byte rows: every row starts on a 16-byte boundary,
            // and the 8 rows of one ldmatrix fall in 8 different groups of 4 banks.
            assert_eq!((stride * 2) % 16, 0, "head_dim {head_dim}");
            let groups: std::collections::BTreeSet<usize> =
                (0..8).map(|r| (r * stride * 2 / 16) % 8).collect();
            assert_eq!(groups.len(), 8, "head_dim {head_dim}: row stride {stride}");
        }
    }
    // The bias tile: 16-byte rows, and the 32-bit reads of a fragment (rows g = 0..8, lanes
    // c = 0..4, two values each) in 32 different banks.
    let bias = attention::flash_bias_stride();
    assert_eq!((bias * 2) % 16, 0);
    let banks: std::collections::BTreeSet<usize> = (0..8)
        .flat_map(|g| (0..4).map(move |c| (g * bias * 2 + 4 * c) / 4 % 32))
        .collect();
    assert_eq!(banks.len(), 32, "bias row stride {bias}");
    // At head size 64 (BEiT-base and -large) as many blocks a multiprocessor as the registers
    // allow (128 a thread: 4 blocks of 4 warps, 2 of 8) within an H100's 228 KiB, 1 KiB of it
    // reserved a block.
    for (warps, blocks) in [(4, 4), (8, 2)] {
        let bytes = rust::flash_attention_shared_bytes(64, warps) as usize;
        assert!(blocks * (bytes + 1024) <= 228 * 1024, "{warps} warps: {bytes}");
    }
    assert_eq!(rust::flash_attention_block_q(8), 128);
}

#[test]
fn grid_stride_blocks_cover_and_stay_in_range() {
    let t = rust::GRID_STRIDE_THREADS;
    assert_eq!(rust::grid_stride_blocks(0, t), 1);
    assert_eq!(rust::grid_stride_blocks(1, t), 1);
    assert_eq!(rust::grid_stride_blocks(257, t), 2);
    assert_eq!(rust::grid_stride_blocks(usize::MAX / 2, t), 65_535);
}
