//! Ops that candle lacks or that get a fused implementation of our own. Each op is one plain
//! function with a `*_slow` reference built from ordinary tensor ops, so a CUDA kernel can slot in
//! beside the CPU one without touching the model code.

pub mod attention;
pub mod attention_bias;
pub(crate) mod attention_head;
pub mod bf16_linear;
pub mod cpu_data;
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
pub mod simd;
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
