//! Option objects from JS, with their defaults applied in one place.

use beit::{parse_device, parse_dtype, LoadOptions};
use napi_derive::napi;

/// `{ device?, dtype? }` of `fromPretrained` / `fromConfig`.
#[napi(object)]
pub struct NativeLoadOptions {
    pub device: Option<String>,
    pub dtype: Option<String>,
}

/// Resolves the options JS passed (any of them may be absent) to the crate's `LoadOptions`.
pub fn load_options(options: Option<NativeLoadOptions>) -> beit::Result<LoadOptions> {
    let (device, dtype) = match &options {
        Some(o) => (o.device.as_deref(), o.dtype.as_deref()),
        None => (None, None),
    };
    Ok(LoadOptions {
        device: parse_device(device.unwrap_or("cpu"))?,
        dtype: parse_dtype(dtype.unwrap_or("float32"))?,
    })
}
