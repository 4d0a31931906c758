//! Which files of a repo a caller needs, whether the cache already holds them, and fetching the
//! missing ones in the order `transformers` tries them.

use std::path::{Path, PathBuf};

use super::cache::{Cached, RepoCache};
use super::download::Downloader;
use crate::config::CONFIG_FILE as CONFIG;
use crate::error::Result;
use crate::flax_weights::FLAX;
use crate::image::processor_config::PREPROCESSOR_FILE as PREPROCESSOR;
use crate::weights::{shard_names, PYTORCH, SAFETENSORS, SAFETENSORS_INDEX};

/// What a caller is about to load from a repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoFiles {
    /// `config.json`.
    Config,
    /// `preprocessor_config.json`.
    ImageProcessor,
    /// `config.json`, the weights, and `preprocessor_config.json` where the repo has one.
    Model,
}

/// The snapshot directory, when the cache holds every file `files` requires at `revision`. The
/// image processor of a model is optional here: a model cached without one loads without one.
pub fn cached_snapshot(cache: &RepoCache, revision: &str, files: RepoFiles) -> Option<PathBuf> {
    let present = |file: &str| match cache.lookup(revision, file) {
        Cached::Present(path) => Some(path),
        _ => None,
    };
    let found = match files {
        RepoFiles::Config => present(CONFIG),
        RepoFiles::ImageProcessor => present(PREPROCESSOR),
        RepoFiles::Model => present(CONFIG).filter(|config| config.parent().is_some_and(weights_cached)),
    }?;
    found.parent().map(Path::to_path_buf)
}

fn weights_cached(snapshot: &Path) -> bool {
    let index = snapshot.join(SAFETENSORS_INDEX);
    snapshot.join(SAFETENSORS).is_file()
        || snapshot.join(PYTORCH).is_file()
        || snapshot.join(FLAX).is_file()
        || (index.is_file()
            && shard_names(&index).is_ok_and(|names| names.iter().all(|n| snapshot.join(n).is_file())))
}

/// Downloads what `files` needs and returns the snapshot directory holding it.
pub fn download(downloader: &Downloader, files: RepoFiles) -> Result<PathBuf> {
    let first = match files {
        RepoFiles::Config => downloader.require(CONFIG)?,
        RepoFiles::ImageProcessor => downloader.require(PREPROCESSOR)?,
        RepoFiles::Model => {
            let config = downloader.require(CONFIG)?;
            download_weights(downloader)?;
            downloader.fetch(PREPROCESSOR)?;
            config
        }
    };
    Ok(first.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// `model.safetensors`, else the shards of `model.safetensors.index.json`, else `pytorch_model.bin`,
/// else `flax_model.msgpack`.
fn download_weights(downloader: &Downloader) -> Result<()> {
    if downloader.fetch(SAFETENSORS)?.is_some() {
        return Ok(());
    }
    if let Some(index) = downloader.fetch(SAFETENSORS_INDEX)? {
        // `shard_names` refuses names that would leave the snapshot.
        for name in shard_names(&index)? {
            downloader.require(&name)?;
        }
        return Ok(());
    }
    if downloader.fetch(PYTORCH)?.is_some() {
        return Ok(());
    }
    match downloader.fetch(FLAX)? {
        Some(_) => Ok(()),
        None => Err(downloader.missing(&format!(
            "weights ({SAFETENSORS}, {SAFETENSORS_INDEX}, {PYTORCH} or {FLAX})"
        ))),
    }
}
