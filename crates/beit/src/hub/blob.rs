//! One blob from the hub into `blobs/{etag}`: written to `blobs/{etag}.part`, resumed from there
//! with a `Range` request after a transfer breaks off (or a process dies), and renamed to its
//! final name only once its size (and, for an LFS file, whose etag is its sha256, its hash) is
//! what the hub announced: a blob in place is always whole, for this crate and for Python. A
//! server that answers a resume with the whole file (200, not 206) is written from the start
//! again rather than appended. Runs under the blob's lock (`lock.rs`).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use super::cancel::{self, CancelFlag};
use super::failure::{broken, classify, not_the_hub, unwritable, Context, Failure};
use super::http::Http;
use super::metadata::{content_range, FileMeta};
use super::names::is_sha256;
use super::progress::Reporter;
use crate::error::{BeitError, Result};

/// Resumed attempts after a transfer breaks off, within one call.
pub const RETRIES: usize = 2;

/// Bytes read and written at a time; the cancel flag is checked between chunks.
const CHUNK: usize = 64 * 1024;

/// Why one attempt ended early.
enum Stop {
    /// The transfer broke off: worth resuming.
    Broken(std::io::Error),
    Fatal(BeitError),
}

impl From<BeitError> for Stop {
    fn from(e: BeitError) -> Self {
        Stop::Fatal(e)
    }
}

pub struct Transfer<'a> {
    pub http: &'a Http<'a>,
    pub meta: &'a FileMeta,
    pub blob: PathBuf,
    pub part: PathBuf,
    pub cancel: Option<&'a CancelFlag>,
    pub cx: &'a Context<'a>,
}

impl Transfer<'_> {
    /// The blob, downloaded unless a whole one is already in place.
    pub fn run(&self, reporter: &mut Reporter) -> Result<()> {
        if std::fs::metadata(&self.blob).is_ok_and(|m| m.is_file() && m.len() == self.meta.size) {
            return Ok(());
        }
        reporter.start(self.meta.size, self.part_len().map_err(Stop::into_error)?);
        let mut attempt = 0;
        loop {
            match self.attempt(reporter) {
                Ok(()) => break,
                Err(Stop::Broken(e)) if attempt < RETRIES && e.kind() != ErrorKind::TimedOut => attempt += 1,
                Err(Stop::Broken(e)) => return Err(broken(&e, self.cx)),
                Err(Stop::Fatal(e)) => return Err(e),
            }
        }
        self.verify()?;
        std::fs::rename(&self.part, &self.blob).map_err(|e| unwritable(&self.blob, &e))?;
        reporter.finish();
        Ok(())
    }

    fn part_len(&self) -> std::result::Result<u64, Stop> {
        match std::fs::metadata(&self.part) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Stop::Fatal(unwritable(&self.part, &e))),
        }
    }

    /// One request, from where the part file ends.
    fn attempt(&self, reporter: &mut Reporter) -> std::result::Result<(), Stop> {
        let size = self.meta.size;
        let start = self.part_len()?;
        if start > size {
            return Err(Stop::Fatal(self.stale_part()));
        }
        if start == size {
            return Ok(());
        }
        let reply = match self.http.content(&self.meta.url, start).map_err(|e| *e) {
            Ok(reply) => reply,
            Err(ureq::Error::Transport(t)) => return Err(Stop::Broken(transport_io(&t))),
            Err(e) => {
                return Err(Stop::Fatal(match classify(e, self.cx) {
                    Failure::Error(e) => e,
                    Failure::EntryMissing(_) => {
                        not_the_hub(self.cx, "announced the file, then did not have it")
                    }
                }))
            }
        };
        let from = self.check_answer(&reply.response, start)?;
        if from != start {
            reporter.start(size, from);
        }
        let mut file = self.open_part(from)?;
        self.copy(reply.response.into_reader(), &mut file, size - from, reporter)
    }

    /// Where the answer's bytes start: `start` for a 206 that resumes there, 0 for a 200 (the
    /// whole file: the part is rewritten). Anything else, or a size other than the one announced,
    /// is refused.
    fn check_answer(&self, response: &ureq::Response, start: u64) -> std::result::Result<u64, Stop> {
        let size = self.meta.size;
        let length = response
            .header("content-length")
            .and_then(|l| l.trim().parse::<u64>().ok());
        let (from, ok) = match response.status() {
            206 => {
                let range = response.header("content-range").and_then(content_range);
                let matches = range.is_some_and(|r| r.first == start && r.total.is_none_or(|t| t == size));
                (start, matches)
            }
            200 => (0, true),
            status => {
                let what = format!("answered HTTP {status} to the download");
                return Err(Stop::Fatal(not_the_hub(self.cx, &what)));
            }
        };
        if !ok || length.is_some_and(|l| l != size - from) {
            let what = format!(
                "announced {size} bytes, then sent {} from byte {from}",
                length.map_or("an unknown number".to_string(), |l| l.to_string())
            );
            return Err(Stop::Fatal(self.discard(&what)));
        }
        Ok(from)
    }

    fn open_part(&self, from: u64) -> std::result::Result<File, Stop> {
        if let Some(blobs) = self.part.parent() {
            std::fs::create_dir_all(blobs).map_err(|e| Stop::Fatal(unwritable(blobs, &e)))?;
        }
        let mut options = OpenOptions::new();
        options.create(true);
        if from == 0 {
            options.write(true).truncate(true);
        } else {
            options.append(true);
        }
        options
            .open(&self.part)
            .map_err(|e| Stop::Fatal(unwritable(&self.part, &e)))
    }

    /// Exactly `remaining` bytes, a chunk at a time; a server that sends more is refused.
    fn copy(
        &self,
        reader: impl Read,
        file: &mut File,
        remaining: u64,
        reporter: &mut Reporter,
    ) -> std::result::Result<(), Stop> {
        let mut reader = reader.take(remaining + 1);
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        loop {
            cancel::check(self.cancel, &format!("the download of {}", self.cx.file))?;
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Broken(e)),
            };
            got += n as u64;
            if got > remaining {
                let what = format!("sent more than the {} bytes it announced", self.meta.size);
                return Err(Stop::Fatal(self.discard(&what)));
            }
            file.write_all(&buf[..n])
                .map_err(|e| Stop::Fatal(unwritable(&self.part, &e)))?;
            reporter.advance(n as u64);
        }
        if got < remaining {
            let msg = format!("the connection closed {} bytes before the end", remaining - got);
            return Err(Stop::Broken(std::io::Error::new(ErrorKind::UnexpectedEof, msg)));
        }
        Ok(())
    }

    /// The part's size, and its sha256 when the etag is one, against what the hub announced.
    fn verify(&self) -> Result<()> {
        let len = std::fs::metadata(&self.part)
            .map_err(|e| unwritable(&self.part, &e))?
            .len();
        if len != self.meta.size {
            let what = format!("announced {} bytes, but {len} arrived", self.meta.size);
            return Err(self.discard(&what));
        }
        if !is_sha256(&self.meta.etag) {
            return Ok(());
        }
        let digest = sha256(&self.part).map_err(|e| unwritable(&self.part, &e))?;
        if digest != self.meta.etag {
            let what = format!(
                "sent content whose sha256 is {digest}, not the {} its etag announced",
                self.meta.etag
            );
            return Err(self.discard(&what));
        }
        Ok(())
    }

    /// A part that cannot be the file is deleted, so the next call starts afresh.
    fn discard(&self, what: &str) -> BeitError {
        let _ = std::fs::remove_file(&self.part);
        not_the_hub(self.cx, &format!("{what} (the download was discarded)"))
    }

    fn stale_part(&self) -> BeitError {
        BeitError::Cache(format!(
            "a partial download of {} in {} is longer than the file on the hub: delete the *.part files \
             there and try again",
            self.cx.file,
            self.cx.repo_dir.join("blobs").display()
        ))
    }
}

impl Stop {
    fn into_error(self) -> BeitError {
        match self {
            Stop::Broken(e) => BeitError::Network(e.to_string()),
            Stop::Fatal(e) => e,
        }
    }
}

/// A failed request as an I/O error, a timeout still one, so that a stall is not retried.
fn transport_io(t: &ureq::Transport) -> std::io::Error {
    let source = std::error::Error::source(t).and_then(|s| s.downcast_ref::<std::io::Error>());
    let kind = source.map_or(ErrorKind::Other, std::io::Error::kind);
    std::io::Error::new(kind, t.to_string())
}

fn sha256(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => context.update(&buf[..n]),
        }
    }
    Ok(context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
