//! Download progress for callers: one event per file at its start, then a few per second, then
//! one at its end, so a callback that crosses into JavaScript is not flooded.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far the download of one file has come.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadProgress {
    /// The file's path in the repo, e.g. `model.safetensors`.
    pub file: String,
    /// Bytes on disk so far, including those of a resumed earlier attempt.
    pub downloaded: u64,
    /// The file's size in bytes.
    pub total: u64,
}

/// A shareable progress callback.
#[derive(Clone)]
pub struct ProgressCallback(pub Arc<dyn Fn(&DownloadProgress) + Send + Sync>);

impl fmt::Debug for ProgressCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressCallback")
    }
}

const INTERVAL: Duration = Duration::from_millis(100);

/// Feeds the callback from a transfer, throttled to one event per `INTERVAL`.
pub struct Reporter<'a> {
    callback: Option<&'a ProgressCallback>,
    state: DownloadProgress,
    last: Option<Instant>,
    /// `downloaded` at the last event, so the end is reported once.
    sent: Option<u64>,
}

impl<'a> Reporter<'a> {
    pub fn new(callback: Option<&'a ProgressCallback>, file: &str) -> Self {
        Self {
            callback,
            state: DownloadProgress {
                file: file.to_string(),
                downloaded: 0,
                total: 0,
            },
            last: None,
            sent: None,
        }
    }

    fn emit(&mut self, force: bool) {
        let Some(callback) = self.callback else { return };
        let now = Instant::now();
        let due = force || self.last.is_none_or(|t| now.duration_since(t) >= INTERVAL);
        if due && self.sent != Some(self.state.downloaded) {
            self.last = Some(now);
            self.sent = Some(self.state.downloaded);
            (callback.0)(&self.state);
        }
    }
}

impl Reporter<'_> {
    /// A transfer of a `total`-byte file starts, `downloaded` of them already on disk.
    pub fn start(&mut self, total: u64, downloaded: u64) {
        self.state.total = total;
        self.state.downloaded = downloaded;
        self.sent = None;
        self.emit(true);
    }

    pub fn advance(&mut self, bytes: u64) {
        self.state.downloaded += bytes;
        self.emit(self.state.downloaded == self.state.total);
    }

    pub fn finish(&mut self) {
        self.emit(true);
    }
}
