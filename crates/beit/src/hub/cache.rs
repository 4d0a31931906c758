//! One repo's folder in the cache layout Python's `huggingface_hub` writes, so a model downloaded
//! by either is reused by the other: `refs/{revision}` holds a commit hash, `snapshots/{commit}/`
//! the files (links into `blobs/`), and `.no_exist/{commit}/{file}` marks a file the hub said the
//! repo does not have, so nobody asks again.

use std::path::{Path, PathBuf};

/// What the cache knows of one file at one revision.
#[derive(Debug, PartialEq)]
pub enum Cached {
    Present(PathBuf),
    /// The hub answered that the repo has no such file at this commit.
    Absent,
    Unknown,
}

/// `models--{org}--{name}` under a cache root.
#[derive(Debug, Clone)]
pub struct RepoCache {
    dir: PathBuf,
}

impl RepoCache {
    pub fn new(cache_root: &Path, repo_id: &str) -> Self {
        Self {
            dir: cache_root.join(format!("models--{}", repo_id.replace('/', "--"))),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit a revision names: itself if it is a commit hash, else what its ref holds.
    pub fn commit(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_string());
        }
        let commit = std::fs::read_to_string(self.dir.join("refs").join(revision)).ok()?;
        Some(commit.trim().to_string()).filter(|c| !c.is_empty())
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub fn lookup(&self, revision: &str, file: &str) -> Cached {
        let Some(commit) = self.commit(revision) else {
            return Cached::Unknown;
        };
        let path = self.snapshot(&commit).join(file);
        if path.is_file() {
            Cached::Present(path)
        } else if self.dir.join(".no_exist").join(&commit).join(file).exists() {
            Cached::Absent
        } else {
            Cached::Unknown
        }
    }

    /// Remembers that the repo has no `file` at `commit`, as `huggingface_hub` does. Best effort:
    /// without the marker the next call merely asks the hub again.
    pub fn mark_absent(&self, commit: &str, file: &str) {
        let marker = self.dir.join(".no_exist").join(commit).join(file);
        if let Some(parent) = marker.parent() {
            let _ = std::fs::create_dir_all(parent).and_then(|()| std::fs::write(&marker, b""));
        }
    }
}

pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}
