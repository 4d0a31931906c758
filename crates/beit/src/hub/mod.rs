//! HuggingFace repo ids to local directories. The cache is the one Python's `huggingface_hub`
//! writes (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), shared with it
//! both ways; what it lacks is downloaded from `$HF_ENDPOINT` (default huggingface.co) with
//! `$HF_TOKEN`, unless `$HF_HUB_OFFLINE` or `local_files_only` forbids the network.
//!
//! A revision whose files are all cached is used without asking the hub whether the branch has
//! moved on (Python asks on every load): loading stays fast and works offline. Pass a commit hash
//! as `revision` to pin one, or delete the cached ref to pick up a newer one.
//!
//! The hub is not trusted: what it sends never names a path outside the cache (`names.rs`), every
//! request has a timeout and a transfer a stall timeout (`settings.rs`), the token goes only to
//! the endpoint's own host (`http.rs`), a blob is linked only once its size and sha256 check
//! (`blob.rs`), and concurrent downloads of one file wait for each other (`lock.rs`).

mod blob;
mod cache;
mod cancel;
mod checkpoint_files;
mod download;
mod failure;
mod http;
mod lock;
mod metadata;
mod names;
mod progress;
mod settings;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cancel::CancelFlag;
pub use checkpoint_files::RepoFiles;
pub use http::MAX_REDIRECTS;
pub use names::{MAX_ETAG_LEN, MAX_FILE_LEN, MAX_REVISION_LEN};
pub use progress::{DownloadProgress, ProgressCallback};
pub use settings::{
    HubSettings, DEFAULT_ENDPOINT, DEFAULT_LOCK_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STALL_TIMEOUT,
};

use crate::error::{BeitError, Result};
use cache::RepoCache;
use download::Downloader;

/// Which revision of a repo, where to cache it, and how to reach the hub. Unset fields fall back
/// to the environment variables `huggingface_hub` reads.
#[derive(Clone, Default)]
pub struct HubOptions {
    /// A branch, tag or commit hash; default `main`.
    pub revision: Option<String>,
    /// The hub cache directory; default `$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`.
    pub cache_dir: Option<PathBuf>,
    /// The hub's base URL; default `$HF_ENDPOINT`, else huggingface.co.
    pub endpoint: Option<String>,
    /// An access token for private or gated repos; default `$HF_TOKEN`, else the saved login.
    pub token: Option<String>,
    /// Use only the cache, never the network (as `$HF_HUB_OFFLINE=1` does).
    pub local_files_only: bool,
    /// Called as files download.
    pub progress: Option<ProgressCallback>,
    /// Raised by the caller to stop the call: the download stops at its next chunk (or lock
    /// poll) and the call fails with `E_ABORTED`.
    pub cancel: Option<CancelFlag>,
    /// Connecting, and a metadata answer, at most this long; default `$HF_HUB_ETAG_TIMEOUT`
    /// (seconds), else `DEFAULT_REQUEST_TIMEOUT`.
    pub request_timeout: Option<Duration>,
    /// A transfer fails after this long without a byte; default `$HF_HUB_DOWNLOAD_TIMEOUT`
    /// (seconds), else `DEFAULT_STALL_TIMEOUT`.
    pub stall_timeout: Option<Duration>,
    /// The longest wait for another download of the same file to finish; default
    /// `$BEIT_HUB_LOCK_TIMEOUT` (seconds), else `DEFAULT_LOCK_TIMEOUT`.
    pub lock_timeout: Option<Duration>,
    /// Send the token over plain http to a host other than this machine (also
    /// `$BEIT_HUB_TOKEN_OVER_HTTP=1`). Off: anyone on the path could read it.
    pub token_over_http: bool,
}

/// The token never shows in logs or error reports.
impl fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubOptions")
            .field("revision", &self.revision)
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("token", &settings::redacted(&self.token))
            .field("local_files_only", &self.local_files_only)
            .field("progress", &self.progress)
            .field("cancel", &self.cancel)
            .field("request_timeout", &self.request_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .field("token_over_http", &self.token_over_http)
            .finish()
    }
}

/// A local directory as given, or the snapshot of a repo id at the requested revision holding
/// the `files` a caller needs, downloaded first if the cache lacks them.
pub fn resolve_model_dir(name_or_dir: &str, files: RepoFiles, options: &HubOptions) -> Result<PathBuf> {
    let local = Path::new(name_or_dir);
    if local.is_dir() {
        return Ok(local.to_path_buf());
    }
    check_repo_id(name_or_dir)?;
    let settings = HubSettings::resolve(options)?;
    let revision = options.revision.as_deref().unwrap_or("main");
    names::check_revision(name_or_dir, revision)?;
    let cache = RepoCache::new(&settings.cache_root, name_or_dir);
    if let Some(dir) = checkpoint_files::cached_snapshot(&cache, revision, files) {
        return Ok(dir);
    }
    if settings.offline {
        return Err(BeitError::NotFound(format!(
            "{name_or_dir} (revision {revision}) is not in the HuggingFace cache at {}, and offline mode \
             (HF_HUB_OFFLINE or localFilesOnly) forbids downloading it: download it while online (or with \
             `huggingface-cli download {name_or_dir}`), or pass a checkpoint directory",
            settings.cache_root.display()
        )));
    }
    let downloader = Downloader::new(
        name_or_dir,
        revision,
        &settings,
        options.progress.as_ref(),
        options.cancel.as_ref(),
    )?;
    checkpoint_files::download(&downloader, files)
}

/// `org/name` or `name`, the forms repo ids take; anything else is a path that does not exist.
fn check_repo_id(name: &str) -> Result<()> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && !part.starts_with(['.', '-'])
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() <= 2 && parts.iter().all(|p| valid_part(p)) {
        return Ok(());
    }
    Err(BeitError::NotFound(format!(
        "{name} is not a directory, nor a HuggingFace repo id (org/name): pass a checkpoint directory \
         or a repo id"
    )))
}
