//! The reduced precisions a model can compute in, beside candle's dtypes: a leaf module, so that
//! the load options (`pretrained`) and the layers that honour them (`model`) both depend on it
//! rather than on each other.

/// How the encoder's linear layers are reduced at load, on the CPU, from float32 weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// 7-bit weights per output channel, 7-bit activations per token, i32 sums: 1.7-1.8x the f32
    /// speed here, at about 2% error per layer (bench/README.md). See `ops::int8_linear`.
    Int8,
    /// bf16 weights and activations, f32 sums, and attention's matmuls on bf16 operands where the
    /// CPU multiplies bf16; the rest of the model in f32. What `dtype: 'bfloat16'` means on the CPU
    /// (see `LoadOptions::resolved`, `ops::bf16_linear`, `cpu::bf16_attention`).
    Bfloat16,
}
