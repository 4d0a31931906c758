//! Repo ids to local directories through the HuggingFace cache.

use std::path::PathBuf;

use beit::hub::{resolve_model_dir as resolve, HubOptions};
use napi_derive::napi;

use crate::error::guard;

/// A checkpoint directory as given, or the cached snapshot of a HuggingFace repo id.
#[napi]
pub fn resolve_model_dir(
    name_or_dir: String,
    revision: Option<String>,
    cache_dir: Option<String>,
) -> napi::Result<String> {
    guard(|| {
        let options = HubOptions {
            revision,
            cache_dir: cache_dir.map(PathBuf::from),
        };
        Ok(resolve(&name_or_dir, &options)?.to_string_lossy().into_owned())
    })
}
