//! HuggingFace repo ids to local directories. The cache is the one Python's `huggingface_hub`
//! writes (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), shared with it
//! both ways; what it lacks is downloaded from `$HF_ENDPOINT` (default huggingface.co) with
//! `$HF_TOKEN`, unless `$HF_HUB_OFFLINE` or `local_files_only` forbids the network.
//!
//! A revision whose files are all cached is used without asking the hub whether the branch has
//! moved on (Python asks on every load): loading stays fast and works offline. Pass a commit hash
//! as `revision` to pin one, or delete the cached ref to pick up a newer one.

mod cache;
mod checkpoint_files;
mod download;
mod failure;
mod progress;
mod settings;

use std::path::{Path, PathBuf};

pub use checkpoint_files::RepoFiles;
pub use progress::{DownloadProgress, ProgressCallback};
pub use settings::{HubSettings, DEFAULT_ENDPOINT};

use crate::error::{BeitError, Result};
use cache::RepoCache;
use download::Downloader;

/// Which revision of a repo, where to cache it, and how to reach the hub. Unset fields fall back
/// to the environment variables `huggingface_hub` reads.
#[derive(Debug, Clone, Default)]
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
}

/// A local directory as given, or the snapshot of a repo id at the requested revision holding
/// the `files` a caller needs, downloaded first if the cache lacks them.
pub fn resolve_model_dir(name_or_dir: &str, files: RepoFiles, options: &HubOptions) -> Result<PathBuf> {
    let local = Path::new(name_or_dir);
    if local.is_dir() {
        return Ok(local.to_path_buf());
    }
    check_repo_id(name_or_dir)?;
    let settings = HubSettings::resolve(options);
    let revision = options.revision.as_deref().unwrap_or("main");
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
    let downloader = Downloader::new(name_or_dir, revision, &settings, options.progress.as_ref())?;
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
