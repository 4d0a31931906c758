//! One repo's folder in the cache layout Python's `huggingface_hub` writes, so a model downloaded
//! by either is reused by the other: `refs/{revision}` holds a commit hash, `snapshots/{commit}/`
//! the files (relative links into `blobs/{etag}`), and `.no_exist/{commit}/{file}` marks a file
//! the hub said the repo does not have, so nobody asks again. Downloads of one blob take the lock
//! `../.locks/models--{org}--{name}/{etag}.lock`, the file Python locks. Every name joined here
//! was checked by `names.rs` first.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::names::is_commit;

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
    root: PathBuf,
    folder: String,
    dir: PathBuf,
}

impl RepoCache {
    pub fn new(cache_root: &Path, repo_id: &str) -> Self {
        let folder = format!("models--{}", repo_id.replace('/', "--"));
        Self {
            root: cache_root.to_path_buf(),
            dir: cache_root.join(&folder),
            folder,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit a revision names: itself if it is a commit hash, else what its ref holds (when
    /// that is a commit hash: a ref holding anything else is not used as a path).
    pub fn commit(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let commit = std::fs::read_to_string(self.dir.join("refs").join(revision)).ok()?;
        Some(commit.trim().to_string()).filter(|c| is_commit(c))
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.blobs().join(etag)
    }

    /// Where a blob downloads, resumed from by the next attempt if this one breaks off.
    pub fn part(&self, etag: &str) -> PathBuf {
        self.blobs().join(format!("{etag}.part"))
    }

    pub fn lock_file(&self, etag: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(&self.folder)
            .join(format!("{etag}.lock"))
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

    /// Points `refs/{revision}` at `commit`, replacing the file at once so a concurrent reader
    /// sees the old commit or the new one, never half of one.
    pub fn write_ref(&self, revision: &str, commit: &str) -> io::Result<()> {
        let path = self.dir.join("refs").join(revision);
        if std::fs::read_to_string(&path).is_ok_and(|c| c.trim() == commit) {
            return Ok(());
        }
        create_parent(&path)?;
        let temp = temporary(&path);
        std::fs::write(&temp, commit).and_then(|()| std::fs::rename(&temp, &path))
    }

    /// Links `snapshots/{commit}/{file}` to `blob` by a relative path, as Python does. A link
    /// already there and pointing at the blob is success (another download got there first);
    /// anything else there is replaced in one rename, so racing downloads cannot fail each other.
    pub fn link(&self, blob: &Path, commit: &str, file: &str) -> io::Result<PathBuf> {
        let pointer = self.snapshot(commit).join(file);
        let target = relative_target(&self.dir, &pointer, blob);
        if std::fs::read_link(&pointer).is_ok_and(|t| t == target) {
            return Ok(pointer);
        }
        create_parent(&pointer)?;
        let temp = temporary(&pointer);
        place(&target, blob, &temp).and_then(|()| std::fs::rename(&temp, &pointer))?;
        Ok(pointer)
    }
}

/// `../../blobs/{etag}` from `snapshots/{commit}/{file}`, one more `..` per folder in `file`.
fn relative_target(repo_dir: &Path, pointer: &Path, blob: &Path) -> PathBuf {
    let depth = pointer
        .strip_prefix(repo_dir)
        .map(|p| {
            p.components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .count()
        })
        .unwrap_or(0);
    let mut target: PathBuf = std::iter::repeat_n("..", depth.saturating_sub(1)).collect();
    if let Ok(inside) = blob.strip_prefix(repo_dir) {
        target.push(inside);
    }
    target
}

#[cfg(unix)]
fn place(target: &Path, _blob: &Path, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

/// Windows allows symlinks only with developer mode or privileges: copy the blob where it
/// refuses, as `huggingface_hub` does.
#[cfg(not(unix))]
fn place(target: &Path, blob: &Path, at: &Path) -> io::Result<()> {
    #[cfg(windows)]
    if std::os::windows::fs::symlink_file(target, at).is_ok() {
        return Ok(());
    }
    let _ = target;
    std::fs::copy(blob, at).map(|_| ())
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// A name next to `path` that no other writer (thread or process) uses at the same time.
fn temporary(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}
