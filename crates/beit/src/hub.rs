//! Finding a model by HuggingFace repo id in the cache that Python's `huggingface_hub` writes
//! (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), so a model downloaded
//! by either is reused by the other:
//! `models--{org}--{name}/refs/{revision}` holds a commit hash, `snapshots/{commit}/` the files.

use std::path::{Path, PathBuf};

use crate::error::{BeitError, Result};

/// Which revision of a repo, and which cache to look in.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// A branch, tag or commit hash; default `main`.
    pub revision: Option<String>,
    /// Overrides the cache location.
    pub cache_dir: Option<PathBuf>,
}

/// The hub cache directory, resolved as `huggingface_hub` resolves it.
pub fn cache_root(options: &HubOptions) -> PathBuf {
    if let Some(dir) = &options.cache_dir {
        return dir.clone();
    }
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("HF_HUB_CACHE") {
        return dir;
    }
    if let Some(home) = var("HF_HOME") {
        return home.join("hub");
    }
    let base = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .unwrap_or_default();
    base.join("huggingface").join("hub")
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// A local directory as given, or the cached snapshot of a repo id at the requested revision.
pub fn resolve_model_dir(name_or_dir: &str, options: &HubOptions) -> Result<PathBuf> {
    let local = Path::new(name_or_dir);
    if local.is_dir() {
        return Ok(local.to_path_buf());
    }
    let looks_like_repo = !name_or_dir.is_empty()
        && name_or_dir.split('/').count() <= 2
        && !name_or_dir.starts_with(['.', '/', '~'])
        && name_or_dir.split('/').all(|part| !part.is_empty());
    if !looks_like_repo {
        return Err(BeitError::NotFound(format!(
            "{name_or_dir} is not a directory: pass a checkpoint directory or a HuggingFace repo id"
        )));
    }
    let root = cache_root(options);
    let repo = root.join(format!("models--{}", name_or_dir.replace('/', "--")));
    let revision = options.revision.as_deref().unwrap_or("main");
    let commit = if is_commit_hash(revision) {
        revision.to_string()
    } else {
        let reference = repo.join("refs").join(revision);
        std::fs::read_to_string(&reference)
            .map(|s| s.trim().to_string())
            .map_err(|_| {
                BeitError::NotFound(format!(
                "{name_or_dir} (revision {revision}) is not a local directory and not in the HuggingFace \
                 cache at {}: download it first (for example `huggingface-cli download {name_or_dir}`), \
                 or pass a checkpoint directory",
                root.display()
            ))
            })?
    };
    let snapshot = repo.join("snapshots").join(&commit);
    if !snapshot.join("config.json").is_file() {
        return Err(BeitError::NotFound(format!(
            "the cached snapshot {} of {name_or_dir} has no config.json: download the model again",
            snapshot.display()
        )));
    }
    Ok(snapshot)
}
