//! Endpoint, token, cache and offline mode, resolved from the options and the environment the
//! way Python's `huggingface_hub` resolves them, so both share one configuration.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::HubOptions;
use crate::error::{BeitError, Result};

/// The hub that serves files when no endpoint is configured.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Connecting and getting the answer to a metadata request, at most; `HF_HUB_ETAG_TIMEOUT`.
/// Python's `huggingface_hub` default, so a hub slow enough to fail one fails both.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A transfer that sends no byte for this long has stalled and fails with `E_NETWORK` (the part
/// received is kept for a resume); `HF_HUB_DOWNLOAD_TIMEOUT`, Python's default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a download waits for another one of the same file (in this process or another) to
/// finish and release its lock; `BEIT_HUB_LOCK_TIMEOUT`. Ten minutes: a large checkpoint on a
/// slow line, without waiting forever on a lock whose holder hangs.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// What a download needs to know, after options and environment are merged.
#[derive(Clone, PartialEq)]
pub struct HubSettings {
    /// The hub cache directory (`.../hub`), holding `models--{org}--{name}` folders.
    pub cache_root: PathBuf,
    /// Base URL without a trailing slash.
    pub endpoint: String,
    pub token: Option<String>,
    /// Never touch the network: `localFilesOnly` or `HF_HUB_OFFLINE=1`.
    pub offline: bool,
    /// Send the token over plain http to a host other than this machine (`BEIT_HUB_TOKEN_OVER_HTTP`);
    /// by default it goes only over https, or to 127.0.0.1 / localhost.
    pub token_over_http: bool,
    /// Connect, and get a metadata answer, within this.
    pub request_timeout: Duration,
    /// A transfer fails after this long without a byte.
    pub stall_timeout: Duration,
    /// The longest wait for another download's lock on the same file.
    pub lock_timeout: Duration,
}

/// The token never shows in logs or error reports.
impl fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSettings")
            .field("cache_root", &self.cache_root)
            .field("endpoint", &self.endpoint)
            .field("token", &redacted(&self.token))
            .field("offline", &self.offline)
            .field("token_over_http", &self.token_over_http)
            .field("request_timeout", &self.request_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

/// What Debug shows of a token: whether there is one.
pub fn redacted(token: &Option<String>) -> Option<&'static str> {
    token.as_ref().map(|_| "<redacted>")
}

impl HubSettings {
    /// Settings from `options`, falling back to the process environment.
    pub fn resolve(options: &HubOptions) -> Result<Self> {
        Self::resolve_with(options, |name| std::env::var(name).ok())
    }

    /// Settings from `options`, falling back to `env` (a lookup, so tests need not mutate the
    /// process environment). A variable that is set but unusable is an `E_INVALID_ARGUMENT`.
    pub fn resolve_with(options: &HubOptions, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
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
        let token_over_http =
            options.token_over_http || env("BEIT_HUB_TOKEN_OVER_HTTP").is_some_and(|v| is_true(&v));
        let timeout = |given: Option<Duration>, name: &str, default: Duration| match given {
            Some(d) if d.is_zero() => Err(BeitError::InvalidArgument(format!(
                "a zero timeout (the option read instead of {name}) would fail every request: give one \
                 above zero"
            ))),
            Some(d) => Ok(d),
            None => env(name).map_or(Ok(default), |v| seconds(name, &v)),
        };
        Ok(Self {
            cache_root,
            endpoint,
            token,
            offline,
            token_over_http,
            request_timeout: timeout(
                options.request_timeout,
                "HF_HUB_ETAG_TIMEOUT",
                DEFAULT_REQUEST_TIMEOUT,
            )?,
            stall_timeout: timeout(
                options.stall_timeout,
                "HF_HUB_DOWNLOAD_TIMEOUT",
                DEFAULT_STALL_TIMEOUT,
            )?,
            lock_timeout: timeout(
                options.lock_timeout,
                "BEIT_HUB_LOCK_TIMEOUT",
                DEFAULT_LOCK_TIMEOUT,
            )?,
        })
    }
}

/// A timeout variable: seconds, as `huggingface_hub` reads them (fractions allowed), above zero.
fn seconds(name: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            BeitError::InvalidArgument(format!(
                "{name}={value:?} is not a number of seconds above zero: set it to e.g. 10, or unset it"
            ))
        })
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
