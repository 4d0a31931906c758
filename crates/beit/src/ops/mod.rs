//! Ops that candle lacks or that get a fused implementation of our own. Each op is one plain
//! function with a `*_slow` reference built from ordinary tensor ops, so a CUDA kernel can slot in
//! beside the CPU one without touching the model code.

/// `match $mr` over the 1 to 4 rows a microkernel call takes, `$r` the count as a constant in
/// `$body`: the kernels keep each row's sums in registers, so the count must be known when they
/// compile.
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
#[cfg(target_arch = "x86_64")]
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

pub mod amx;
#[cfg(target_arch = "aarch64")]
mod arm_mmla;
pub mod attention;
pub mod attention_bias;
mod attention_head;
pub mod bf16_attention;
pub mod bf16_linear;
pub mod cpu_data;
pub mod cpu_level;
pub mod cuda_linear;
pub mod deferred_weight;
pub mod epilogue;
pub mod fused_attention;
pub mod gelu;
pub mod int8_linear;
pub mod interpolate;
pub mod layer_norm;
pub mod linear;
pub mod packed_conv;
pub mod packed_linear;
pub mod pool;
pub mod prefetch;
mod row_panel;
pub mod simd;
mod tile_layout;
pub mod weight_rows;

pub use attention::{attention, attention_slow, attention_with, AttentionPrecision};
pub use attention_bias::{AttentionBias, GatheredBias};
pub use epilogue::linear_epilogue;
pub use fused_attention::fused_attention;
pub use gelu::{gelu_erf, gelu_erf_slow};
pub use interpolate::{resize_bicubic, resize_bilinear, resize_bilinear_aligned};
pub use layer_norm::{layer_norm, layer_norm_slow, LayerNorm};
pub use linear::{linear, linear_slow};
pub use pool::{adaptive_avg_pool2d, max_pool2x2};
