//! Single files of one repo revision, from the cache when it has them, else downloaded by the
//! `hf_hub` crate: it asks the hub for the file's etag and commit (`X-Linked-Etag` / `ETag`,
//! `X-Repo-Commit`), downloads into `blobs/{etag}.part` under a lock, resumes a `.part` left by an
//! earlier attempt with a `Range` request, and only then renames it to `blobs/{etag}` and links
//! `snapshots/{commit}/{file}` to it: a killed download never leaves a file that looks complete.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use hf_hub::api::sync::{ApiBuilder, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};

use super::cache::{Cached, RepoCache};
use super::failure::{classify, unwritable, Context, Failure};
use super::progress::{ProgressCallback, Reporter};
use super::settings::HubSettings;
use crate::error::{BeitError, Result};

/// Resumed attempts after a transfer breaks off, within one call.
const RETRIES: usize = 2;

pub struct Downloader<'a> {
    repo_id: &'a str,
    revision: &'a str,
    endpoint: &'a str,
    cache: RepoCache,
    api: ApiRepo,
    progress: Option<&'a ProgressCallback>,
}

impl<'a> Downloader<'a> {
    pub fn new(
        repo_id: &'a str,
        revision: &'a str,
        settings: &'a HubSettings,
        progress: Option<&'a ProgressCallback>,
    ) -> Result<Self> {
        // hf_hub links snapshots to blobs by relative paths computed from absolute ones.
        let root =
            std::path::absolute(&settings.cache_root).map_err(|e| unwritable(&settings.cache_root, &e))?;
        let cache = RepoCache::new(&root, repo_id);
        std::fs::create_dir_all(cache.dir()).map_err(|e| unwritable(&root, &e))?;
        let api = ApiBuilder::from_cache(Cache::new(root))
            .with_endpoint(settings.endpoint.clone())
            .with_token(settings.token.clone())
            .with_progress(false)
            .with_retries(RETRIES)
            .with_user_agent("beit-node", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| BeitError::Hub(format!("cannot set up the HTTP client: {e}")))?;
        let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
        Ok(Self {
            repo_id,
            revision,
            endpoint: &settings.endpoint,
            cache,
            api: api.repo(repo),
            progress,
        })
    }

    /// The local path of `file`, or `None` when the repo has no such file at this revision.
    pub fn fetch(&self, file: &str) -> Result<Option<PathBuf>> {
        match self.cache.lookup(self.revision, file) {
            Cached::Present(path) => return Ok(Some(path)),
            Cached::Absent => return Ok(None),
            Cached::Unknown => {}
        }
        let reporter = Reporter::new(self.progress, file);
        let downloaded = catch_unwind(AssertUnwindSafe(|| {
            self.api.download_with_progress(file, reporter)
        }))
        .map_err(|_| {
            BeitError::Hub(format!(
                "the download of {file} of {} failed unexpectedly",
                self.repo_id
            ))
        })?;
        match downloaded {
            Ok(path) => Ok(Some(path)),
            Err(err) => match classify(err, &self.context(file)) {
                Failure::EntryMissing(commit) => {
                    if let Some(commit) = commit {
                        self.cache.mark_absent(&commit, file);
                    }
                    Ok(None)
                }
                Failure::Error(e) => Err(e),
            },
        }
    }

    /// The local path of `file`, which the repo must have.
    pub fn require(&self, file: &str) -> Result<PathBuf> {
        self.fetch(file)?.ok_or_else(|| self.missing(file))
    }

    /// The error for a file (or kind of file) the repo does not have.
    pub fn missing(&self, what: &str) -> BeitError {
        BeitError::NotFound(format!(
            "{} (revision {}) has no {what} on {}: is it a BEiT checkpoint in the transformers layout?",
            self.repo_id, self.revision, self.endpoint
        ))
    }

    fn context<'b>(&'b self, file: &'b str) -> Context<'b> {
        Context {
            repo_id: self.repo_id,
            revision: self.revision,
            file,
            endpoint: self.endpoint,
            repo_dir: self.cache.dir(),
        }
    }
}
