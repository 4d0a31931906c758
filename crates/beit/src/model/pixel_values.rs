//! The checks every model runs on `pixel_values` before touching it, shared by `BeitModel` and
//! `BeitBackbone`.

use candle_core::{DType, Device, Tensor};

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::limits;

/// Checks `[B, C, H, W]` against the config and moves it to the model's device and dtype.
pub fn prepare_pixel_values(
    cfg: &BeitConfig,
    pixels: &Tensor,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let dims = pixels.dims();
    let [b, c, h, w] = dims else {
        return Err(BeitError::Shape(format!(
            "pixelValues must have 4 dims [batch, channels, height, width], got {dims:?}"
        )));
    };
    if *b == 0 {
        return Err(BeitError::Shape("pixelValues has a batch of 0 images".into()));
    }
    if *c != cfg.num_channels {
        return Err(BeitError::Shape(format!(
            "pixelValues has {c} channels, but the model's config expects {} (num_channels): \
             convert the images (e.g. to RGB) before calling the model",
            cfg.num_channels
        )));
    }
    let p = cfg.patch_size;
    if *h < p || *w < p {
        return Err(BeitError::Shape(format!(
            "pixelValues is {h}x{w}, smaller than one {p}x{p} patch"
        )));
    }
    if !pixels.dtype().is_float() {
        return Err(BeitError::Shape(format!(
            "pixelValues must be float32, got {:?}",
            pixels.dtype()
        )));
    }
    Ok(pixels.to_device(device)?.to_dtype(dtype)?)
}

/// Refuses an input resolution whose sequence is over `limits::max_tokens`, and attention outputs
/// over `limits::max_attention_bytes`: attention memory grows with the square of the sequence, so a
/// 2048x2048 input would take tens of gigabytes.
pub fn check_sequence(cfg: &BeitConfig, pixels: &Tensor, output_attentions: bool) -> Result<()> {
    let (b, _, h, w) = pixels.dims4()?;
    let (rows, cols) = patch_grid(cfg, pixels)?;
    let tokens = (rows * cols) as u64 + 1;
    if tokens > limits::max_tokens() {
        return Err(BeitError::Shape(format!(
            "pixelValues is {h}x{w}: {rows}x{cols} patches and CLS make {tokens} tokens per image, over \
             the limit of {} (resize the images, or raise it with setLimits({{ maxTokens }}))",
            limits::max_tokens()
        )));
    }
    if output_attentions {
        let s = tokens as usize;
        let bytes = limits::checked_product(&[cfg.num_hidden_layers, b, cfg.num_attention_heads, s, s, 4]);
        let limit = limits::max_attention_bytes();
        if bytes.is_none_or(|bytes| bytes > limit) {
            return Err(BeitError::Shape(format!(
                "outputAttentions for {b} images of {tokens} tokens would return {} bytes, over the limit \
                 of {limit} (send fewer images per call, or raise setLimits({{ maxAttentionBytes }}))",
                bytes.map_or_else(|| "more than 2^64".into(), |b| b.to_string())
            )));
        }
    }
    Ok(())
}

/// The patch grid (rows, columns) of an input: the conv's floor of H/p and W/p.
pub fn patch_grid(cfg: &BeitConfig, pixels: &Tensor) -> Result<(usize, usize)> {
    let (_, _, h, w) = pixels.dims4()?;
    Ok((h / cfg.patch_size, w / cfg.patch_size))
}

/// `[B, 1 + h*w, D]` tokens to a `[B, D, h, w]` map, dropping CLS (HF's reshape of features).
pub fn tokens_to_map(tokens: &Tensor, grid: (usize, usize)) -> Result<Tensor> {
    let (b, s, d) = tokens.dims3()?;
    Ok(tokens
        .narrow(1, 1, s - 1)?
        .transpose(1, 2)?
        .reshape((b, d, grid.0, grid.1))?)
}
