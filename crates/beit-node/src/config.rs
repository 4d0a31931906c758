//! `BeitConfig` across the boundary as HF-style JSON text: Rust fills defaults and validates,
//! the TypeScript class gives it camelCase fields.

use beit::BeitConfig;
use napi_derive::napi;

use crate::error::guard;

/// Reads and validates `config.json` from a checkpoint directory; returns the complete config.
#[napi]
pub fn load_config(dir: String) -> napi::Result<String> {
    guard(|| Ok(BeitConfig::from_pretrained(&dir)?.to_json_string()))
}

/// Fills HF's defaults into a (partial) config in JSON and validates it.
#[napi]
pub fn normalize_config(json: String) -> napi::Result<String> {
    guard(|| Ok(BeitConfig::from_json_str(&json)?.to_json_string()))
}
