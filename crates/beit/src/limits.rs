//! What one input may cost, in one place: the bounds that config files, processor configs, images,
//! forward passes and post-processing are checked against before anything is allocated for them.
//!
//! The fixed bounds are far above every BEiT checkpoint on the hub (the largest has 24 layers,
//! hidden size 1024, 21,841 labels, 640x640 inputs) and far below what would exhaust a machine.
//! The two a user can legitimately need more of (long sequences from large inputs, and attention
//! probabilities returned to the caller) are process-wide settings, as Pillow's
//! `Image.MAX_IMAGE_PIXELS` is: [`set_max_tokens`], [`set_max_attention_bytes`]. The decoded-image
//! limit is the image processor's `max_pixels` (`maxPixels` in JS).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{BeitError, Result};

/// The decoded-image limit by default: Pillow refuses images over twice `Image.MAX_IMAGE_PIXELS`
/// (89,478,485) as decompression bombs.
pub const DEFAULT_MAX_PIXELS: u64 = 2 * 89_478_485;

/// `config.json` / `preprocessor_config.json` larger than this are refused unread: a config with
/// the 21,841 labels of ImageNet-22k is about 1 MB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 << 20;

/// Bounds of `config.json` fields, each far above the largest BEiT checkpoint.
pub const MAX_LAYERS: usize = 256;
pub const MAX_HIDDEN_SIZE: usize = 16_384;
pub const MAX_INTERMEDIATE_SIZE: usize = 131_072;
pub const MAX_ATTENTION_HEADS: usize = 1024;
pub const MAX_IMAGE_SIZE: usize = 8192;
pub const MAX_CHANNELS: usize = 64;
pub const MAX_LABELS: usize = 1_000_000;
pub const MAX_VOCAB_SIZE: usize = 1 << 20;
/// UperNet's pyramid pooling: scales (output grid sides) and how many of them.
pub const MAX_POOL_SCALE: usize = 256;
pub const MAX_POOL_SCALES: usize = 16;
pub const MAX_AUXILIARY_CHANNELS: usize = 16_384;
pub const MAX_AUXILIARY_CONVS: usize = 64;

/// A side of the processor's `size` / `crop_size`: 8192 px is 16x BEiT's largest input.
pub const MAX_PROCESSOR_SIDE: usize = 8192;

/// Label maps of post-processing larger than the largest image the processor decodes by default
/// (Pillow's decompression-bomb limit, [`DEFAULT_MAX_PIXELS`]) are refused.
pub const MAX_TARGET_PIXELS: u64 = DEFAULT_MAX_PIXELS;

/// Tokens per image (patches + CLS) by default: a 64x64 patch grid, i.e. 1024x1024 pixels at patch
/// size 16 (BEiT's largest checkpoints take 640x640, 1,601 tokens). Memory grows with its square:
/// a thread's attention scores are `S x S` floats and the relative position index `S x S` u32 (67 MB
/// each at this bound; off the CPU each layer's bias is `heads x S x S` floats, 800 MB for BEiT-base),
/// cached per input size.
pub const DEFAULT_MAX_TOKENS: u64 = 64 * 64 + 1;

/// Attention probabilities returned by one forward pass (`outputAttentions`), all layers: 2 GiB.
pub const DEFAULT_MAX_ATTENTION_BYTES: u64 = 2 << 30;

/// Input grids whose relative position bias stays cached, most recently used first.
pub const BIAS_CACHE_SIZES: usize = 4;

static MAX_TOKENS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_TOKENS);
static MAX_ATTENTION_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_ATTENTION_BYTES);

/// The largest sequence (patches + CLS) one image may become.
pub fn max_tokens() -> u64 {
    MAX_TOKENS.load(Ordering::Relaxed)
}

/// Raises (or lowers) [`max_tokens`] for the whole process.
pub fn set_max_tokens(tokens: u64) -> Result<()> {
    if tokens < 2 {
        return Err(BeitError::InvalidArgument(format!(
            "maxTokens must be at least 2 (one patch and CLS), got {tokens}"
        )));
    }
    MAX_TOKENS.store(tokens, Ordering::Relaxed);
    Ok(())
}

/// The most bytes of attention probabilities one forward pass may return.
pub fn max_attention_bytes() -> u64 {
    MAX_ATTENTION_BYTES.load(Ordering::Relaxed)
}

/// Raises (or lowers) [`max_attention_bytes`] for the whole process.
pub fn set_max_attention_bytes(bytes: u64) {
    MAX_ATTENTION_BYTES.store(bytes, Ordering::Relaxed);
}

/// `value` of `field` must be at most `limit`; the error names both.
pub fn check_at_most(field: &str, value: usize, limit: usize) -> Result<()> {
    if value > limit {
        return Err(BeitError::Config(format!(
            "{field} is {value}, over the limit of {limit}: no BEiT checkpoint is that large, so the \
             file is damaged or not a BEiT config"
        )));
    }
    Ok(())
}

/// The product of `factors`, or `None` when it overflows `u64`.
pub fn checked_product(factors: &[usize]) -> Option<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(u64::try_from(f).ok()?))
}
