//! Endpoint, token, cache and offline mode, resolved from the options and the environment the
//! way Python's `huggingface_hub` resolves them, so both share one configuration.

use std::path::PathBuf;

use super::HubOptions;

/// The hub that serves files when no endpoint is configured.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What a download needs to know, after options and environment are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSettings {
    /// The hub cache directory (`.../hub`), holding `models--{org}--{name}` folders.
    pub cache_root: PathBuf,
    /// Base URL without a trailing slash.
    pub endpoint: String,
    pub token: Option<String>,
    /// Never touch the network: `localFilesOnly` or `HF_HUB_OFFLINE=1`.
    pub offline: bool,
}

impl HubSettings {
    /// Settings from `options`, falling back to the process environment.
    pub fn resolve(options: &HubOptions) -> Self {
        Self::resolve_with(options, |name| std::env::var(name).ok())
    }

    /// Settings from `options`, falling back to `env` (a lookup, so tests need not mutate the
    /// process environment).
    pub fn resolve_with(options: &HubOptions, env: impl Fn(&str) -> Option<String>) -> Self {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = huggingface_home(&env);
        let cache_root = options
            .cache_dir
            .clone()
            .or_else(|| env("HF_HUB_CACHE").map(PathBuf::from))
            .unwrap_or_else(|| home.join("hub"));
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| env("HF_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string();
        let token = options
            .token
            .clone()
            .or_else(|| env("HF_TOKEN"))
            .or_else(|| env("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                read_token_file(env("HF_TOKEN_PATH").map_or_else(|| home.join("token"), PathBuf::from))
            });
        let offline = options.local_files_only || env("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v));
        Self {
            cache_root,
            endpoint,
            token,
            offline,
        }
    }
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
fn huggingface_home(env: &impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(home) = env("HF_HOME") {
        return PathBuf::from(home);
    }
    let base = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_default();
    base.join("huggingface")
}

/// The token `huggingface-cli login` saved, if any.
fn read_token_file(path: PathBuf) -> Option<String> {
    let token = std::fs::read_to_string(path).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// `huggingface_hub`'s truthy values for boolean environment variables.
fn is_true(value: &str) -> bool {
    matches!(value.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}
