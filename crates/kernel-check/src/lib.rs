//! Host-side check of the CUDA kernels in crates/beit/kernels: their headers, compiled as plain
//! C++ (build.rs), drive serial emulations of each kernel (host_check.cpp) that the tests compare
//! with beit's CPU ops. Safe wrappers here check every buffer's size before the C++ reads it.

mod ffi;

pub mod attention;
pub mod epilogue;
pub mod layer_norm;
pub mod preprocess;

/// The block and tile sizes the kernels' headers define.
#[derive(Debug, PartialEq, Eq)]
pub struct LaunchConstants {
    pub attention_threads: i32,
    pub attention_block_q: i32,
    pub attention_max_head_dim: i32,
    pub layer_norm_threads: i32,
    pub preprocess_threads: i32,
    pub mma_attention_threads: i32,
    pub mma_attention_block_q: i32,
    pub layer_norm_rows: i32,
    pub flash_attention_threads: i32,
    pub flash_attention_block: i32,
    pub epilogue_threads: i32,
    pub epilogue_unroll: i32,
}

/// The headers' launch constants.
pub fn launch_constants() -> LaunchConstants {
    let mut out = [0i32; 12];
    // SAFETY: the C++ writes exactly twelve ints.
    unsafe { ffi::beit_host_launch_constants(out.as_mut_ptr()) };
    LaunchConstants {
        attention_threads: out[0],
        attention_block_q: out[1],
        attention_max_head_dim: out[2],
        layer_norm_threads: out[3],
        preprocess_threads: out[4],
        mma_attention_threads: out[5],
        mma_attention_block_q: out[6],
        layer_norm_rows: out[7],
        flash_attention_threads: out[8],
        flash_attention_block: out[9],
        epilogue_threads: out[10],
        epilogue_unroll: out[11],
    }
}

/// Panics unless `buf` holds exactly `want` values: the C++ side trusts the sizes it is given.
fn check_len<T>(what: &str, buf: &[T], want: usize) {
    assert_eq!(
        buf.len(),
        want,
        "{what}: {} values, the shape needs {want}",
        buf.len()
    );
}

/// A size as the kernels' `int` arguments take it.
fn to_int(v: usize) -> i32 {
    i32::try_from(v).expect("a kernel size argument must fit an i32")
}
