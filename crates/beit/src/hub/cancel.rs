//! A flag a caller raises to stop a hub call: the downloader checks it between files, between
//! chunks of a transfer and while it waits for a lock, so the transfer itself stops (and its
//! thread is free again) rather than running on after the caller gave up.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{BeitError, Result};

/// Shared between the caller, who raises it, and the download it stops.
#[derive(Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the call to stop; it fails with `E_ABORTED` at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for CancelFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CancelFlag({})", self.is_cancelled())
    }
}

/// `E_ABORTED` when `flag` is raised.
pub fn check(flag: Option<&CancelFlag>, what: &str) -> Result<()> {
    match flag {
        Some(flag) if flag.is_cancelled() => Err(BeitError::Aborted(format!(
            "{what} was aborted by the caller; a partial download is kept and resumed by the next call"
        ))),
        _ => Ok(()),
    }
}
