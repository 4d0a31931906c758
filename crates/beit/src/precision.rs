//! The reduced precisions a model can compute in, beside candle's dtypes: a leaf module, so that
//! the load options (`pretrained`) and the layers that honour them (`model`) both depend on it
//! rather than on each other.

/// How the encoder's linear layers are quantized at load (see `ops::int8_linear`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// 7-bit weights per output channel, 7-bit activations per token, i32 sums: 1.7-1.8x the f32
    /// speed here, at about 2% error per layer (bench/README.md).
    Int8,
}
