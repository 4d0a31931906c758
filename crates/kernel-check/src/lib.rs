//! Host-side check of the CUDA kernels in crates/beit/kernels: their headers, compiled as plain
//! C++ (build.rs), drive serial emulations of each kernel (host_check.cpp) that the tests compare
//! with beit's CPU ops. Safe wrappers here check every buffer's size before the C++ reads it.

mod ffi;

pub mod attention;
pub mod epilogue;
pub mod layer_norm;
pub mod preprocess;

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
