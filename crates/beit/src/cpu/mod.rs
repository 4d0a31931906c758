//! The CPU kernel tree: what the CPU can do (`level`), the packed-GEMM formats and their one
//! driver (`gemm`), and each instruction set's kernels (`arch`). The candle-facing layers that
//! call them are in `ops`.
//!
//! Adding an instruction set is one file in its arch folder, one `CpuLevel` (with its probe in
//! `level`) and one row in each format's table (`arch::native::{int8_kernels, bf16_kernels}`).

/// `match $mr` over the 1 to 4 rows a microkernel call takes, `$r` the count as a constant in
/// `$body`: the kernels keep each row's sums in registers, so the count must be known when they
/// compile.
#[allow(unused_macros)]
macro_rules! by_rows {
    ($mr:expr, $r:ident => $body:expr) => {
        match $mr {
            4 => {
                const $r: usize = 4;
                $body
            }
            3 => {
                const $r: usize = 3;
                $body
            }
            2 => {
                const $r: usize = 2;
                $body
            }
            _ => {
                const $r: usize = 1;
                $body
            }
        }
    };
}

/// `by_rows!` for the 1 to 8 rows of the AVX-512 kernels on a pair of tiles (`WIDE_MR`), whose 32
/// registers hold two tiles' sums for 8 rows.
#[allow(unused_macros)]
macro_rules! by_wide_rows {
    ($mr:expr, $r:ident => $body:expr) => {
        match $mr {
            8 => {
                const $r: usize = 8;
                $body
            }
            7 => {
                const $r: usize = 7;
                $body
            }
            6 => {
                const $r: usize = 6;
                $body
            }
            5 => {
                const $r: usize = 5;
                $body
            }
            _ => by_rows!($mr, $r => $body),
        }
    };
}

pub mod arch;
pub mod bf16_attention;
pub mod gemm;
pub mod level;
pub mod prefetch;
#[cfg(test)]
mod thread_shares;
pub mod threads;
