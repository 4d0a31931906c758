//! The process-wide limits of `beit::limits` that a user may need to raise, read and set from JS.

use napi_derive::napi;

use crate::error::guard;

/// `{ maxTokens, maxAttentionBytes }`.
#[napi(object)]
pub struct NativeLimits {
    pub max_tokens: f64,
    pub max_attention_bytes: f64,
}

/// The limits in force now.
#[napi]
pub fn get_limits() -> NativeLimits {
    NativeLimits {
        max_tokens: beit::limits::max_tokens() as f64,
        max_attention_bytes: beit::limits::max_attention_bytes() as f64,
    }
}

/// Sets the limits given; the others stay as they are.
#[napi]
pub fn set_limits(max_tokens: Option<f64>, max_attention_bytes: Option<f64>) -> napi::Result<()> {
    guard(|| {
        if let Some(tokens) = max_tokens {
            beit::limits::set_max_tokens(whole("maxTokens", tokens)?)?;
        }
        if let Some(bytes) = max_attention_bytes {
            beit::limits::set_max_attention_bytes(whole("maxAttentionBytes", bytes)?);
        }
        Ok(())
    })
}

fn whole(name: &str, value: f64) -> beit::Result<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= u64::MAX as f64 {
        Ok(value as u64)
    } else {
        Err(beit::BeitError::InvalidArgument(format!(
            "{name} must be a non-negative whole number, got {value}"
        )))
    }
}
