//! Single files of one repo revision, from the cache when it has them, else from the hub: ask for
//! the file's metadata (`metadata.rs`), point `refs/{revision}` at its commit, take the blob's
//! lock (`lock.rs`), download and verify the blob (`blob.rs`), and link
//! `snapshots/{commit}/{file}` to it (`cache.rs`).
//!
//! This is our own client rather than the `hf-hub` crate's, which this crate used before: hf-hub
//! joined the hub's etag and commit headers and the caller's revision to cache paths unchecked (a
//! hostile hub or mirror could write outside the cache), had no read timeout (a stalled hub hung
//! the call, and a libuv thread with it), sent the token along redirects to other hosts, recorded
//! any 404 as "file absent", failed a second concurrent download of a file instead of waiting for
//! the first, and trusted a resumed download without checking its size or hash. Each of those
//! needs control of the requests and of the cache writes, which is most of what it did.

use std::path::PathBuf;

use super::blob::Transfer;
use super::cache::{Cached, RepoCache};
use super::cancel::{self, CancelFlag};
use super::failure::{classify, unwritable, Context, Failure};
use super::http::Http;
use super::names::{check_file, url_path, url_segment};
use super::progress::{ProgressCallback, Reporter};
use super::settings::HubSettings;
use super::{lock, metadata};
use crate::error::{BeitError, Result};

pub struct Downloader<'a> {
    repo_id: &'a str,
    revision: &'a str,
    settings: &'a HubSettings,
    cache: RepoCache,
    http: Http<'a>,
    progress: Option<&'a ProgressCallback>,
    cancel: Option<&'a CancelFlag>,
}

impl<'a> Downloader<'a> {
    pub fn new(
        repo_id: &'a str,
        revision: &'a str,
        settings: &'a HubSettings,
        progress: Option<&'a ProgressCallback>,
        cancel: Option<&'a CancelFlag>,
    ) -> Result<Self> {
        // Snapshot links are relative paths computed from where the blobs are.
        let root =
            std::path::absolute(&settings.cache_root).map_err(|e| unwritable(&settings.cache_root, &e))?;
        let cache = RepoCache::new(&root, repo_id);
        std::fs::create_dir_all(cache.dir()).map_err(|e| unwritable(&root, &e))?;
        Ok(Self {
            repo_id,
            revision,
            settings,
            cache,
            http: Http::new(settings),
            progress,
            cancel,
        })
    }

    /// The local path of `file`, or `None` when the repo has no such file at this revision.
    pub fn fetch(&self, file: &str) -> Result<Option<PathBuf>> {
        check_file(self.repo_id, file)?;
        cancel::check(self.cancel, &format!("loading {} of {}", file, self.repo_id))?;
        match self.cache.lookup(self.revision, file) {
            Cached::Present(path) => return Ok(Some(path)),
            Cached::Absent => return Ok(None),
            Cached::Unknown => {}
        }
        let cx = self.context(file);
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.settings.endpoint,
            self.repo_id,
            url_segment(self.revision),
            url_path(file)
        );
        let meta = match self.http.probe(&url) {
            Ok(reply) => metadata::read(&reply, &cx)?,
            Err(err) => match classify(*err, &cx) {
                Failure::EntryMissing(commit) => {
                    if let Some(commit) = commit {
                        self.cache.mark_absent(&commit, file);
                    }
                    return Ok(None);
                }
                Failure::Error(e) => return Err(e),
            },
        };
        if meta.commit != self.revision {
            let dir = self.cache.dir();
            self.cache
                .write_ref(self.revision, &meta.commit)
                .map_err(|e| unwritable(dir, &e))?;
        }
        let _lock = lock::acquire(&self.cache.lock_file(&meta.etag), self.cancel, &cx)?;
        let transfer = Transfer {
            http: &self.http,
            meta: &meta,
            blob: self.cache.blob(&meta.etag),
            part: self.cache.part(&meta.etag),
            cancel: self.cancel,
            cx: &cx,
        };
        transfer.run(&mut Reporter::new(self.progress, file))?;
        let pointer = self
            .cache
            .link(&transfer.blob, &meta.commit, file)
            .map_err(|e| unwritable(self.cache.dir(), &e))?;
        Ok(Some(pointer))
    }

    /// The local path of `file`, which the repo must have.
    pub fn require(&self, file: &str) -> Result<PathBuf> {
        self.fetch(file)?.ok_or_else(|| self.missing(file))
    }

    /// The error for a file (or kind of file) the repo does not have.
    pub fn missing(&self, what: &str) -> BeitError {
        BeitError::NotFound(format!(
            "{} (revision {}) has no {what} on {}: is it a BEiT checkpoint in the transformers layout?",
            self.repo_id, self.revision, self.settings.endpoint
        ))
    }

    fn context<'b>(&'b self, file: &'b str) -> Context<'b> {
        Context {
            repo_id: self.repo_id,
            revision: self.revision,
            file,
            settings: self.settings,
            repo_dir: self.cache.dir(),
            token_withheld: self.http.token_withheld(),
        }
    }
}
