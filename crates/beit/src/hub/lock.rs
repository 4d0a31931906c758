//! The lock one blob downloads under, the file lock Python's `huggingface_hub` takes
//! (`.locks/models--{org}--{name}/{etag}.lock`), so two downloads of one file, from two threads,
//! two processes or the two tools, never write the same `.part` at once. A second download waits
//! for the first (bounded by the lock timeout, and stopped by the cancel flag), then finds the
//! blob in place. The lock is the operating system's (`flock`, `LockFileEx`): a killed holder
//! releases it, and the lock file left behind is harmless, as Python leaves it.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use super::cancel::{self, CancelFlag};
use super::failure::{unwritable, Context};
use crate::error::{BeitError, Result};

/// How often a waiting download tries the lock again: often enough to start soon after the
/// holder finishes, rarely enough to cost nothing.
const POLL: Duration = Duration::from_millis(50);

/// Held while it lives; the operating system releases it when the file closes.
pub struct BlobLock {
    _file: File,
}

pub fn acquire(path: &Path, cancel: Option<&CancelFlag>, cx: &Context) -> Result<BlobLock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| unwritable(dir, &e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| unwritable(path, &e))?;
    let deadline = Instant::now() + cx.settings.lock_timeout;
    loop {
        if FileExt::try_lock_exclusive(&file).map_err(|e| unwritable(path, &e))? {
            return Ok(BlobLock { _file: file });
        }
        cancel::check(cancel, &format!("the download of {}", cx.file))?;
        if Instant::now() >= deadline {
            return Err(held(path, cx));
        }
        std::thread::sleep(POLL);
    }
}

fn held(path: &Path, cx: &Context) -> BeitError {
    BeitError::Cache(format!(
        "another download of {} of {} has held {} for more than {} s: wait for it to finish, or raise \
         BEIT_HUB_LOCK_TIMEOUT (the lockTimeoutMs option); a process that died releases the lock by itself",
        cx.file,
        cx.repo_id,
        path.display(),
        cx.settings.lock_timeout.as_secs_f64()
    ))
}
