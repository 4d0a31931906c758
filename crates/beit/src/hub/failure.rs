//! What a failed download means for the caller: a file the repo does not have (not an error for
//! optional files), or an error that says what happened and what to do.

use std::io::ErrorKind;
use std::path::Path;

use hf_hub::api::sync::ApiError;

use crate::error::BeitError;

/// Names in messages.
pub struct Context<'a> {
    pub repo_id: &'a str,
    pub revision: &'a str,
    pub file: &'a str,
    pub endpoint: &'a str,
    pub repo_dir: &'a Path,
}

pub enum Failure {
    /// The hub has the repo and revision but not this file; the commit it answered for, if any.
    EntryMissing(Option<String>),
    Error(BeitError),
}

pub fn classify(err: ApiError, cx: &Context) -> Failure {
    match err {
        ApiError::RequestError(err) => match *err {
            ureq::Error::Status(code, response) => status(code, &response, cx),
            ureq::Error::Transport(t) => Failure::Error(unreachable(&t.to_string(), cx)),
        },
        ApiError::TooManyRetries(inner) => classify(*inner, cx),
        ApiError::IoError(e) => Failure::Error(io(&e, cx)),
        ApiError::InvalidResume => Failure::Error(BeitError::Cache(format!(
            "a partial download of {} in {} is longer than the file on the hub: delete the *.part files \
             there and try again",
            cx.file,
            cx.repo_dir.join("blobs").display()
        ))),
        ApiError::LockAcquisition(lock) => Failure::Error(BeitError::Cache(format!(
            "another process holds {} (downloading {} right now?): wait for it to finish, or delete the \
             lock file if no download is running",
            lock.display(),
            cx.file
        ))),
        other => Failure::Error(BeitError::Hub(format!(
            "{} did not answer like the HuggingFace hub for {} of {} ({other}): check HF_ENDPOINT",
            cx.endpoint, cx.file, cx.repo_id
        ))),
    }
}

/// An HTTP error status, read as `huggingface_hub` reads it: by the `X-Error-Code` header first.
fn status(code: u16, response: &ureq::Response, cx: &Context) -> Failure {
    let (repo, endpoint) = (cx.repo_id, cx.endpoint);
    match (response.header("x-error-code"), code) {
        (Some("RepoNotFound"), _) | (None, 401) => Failure::Error(BeitError::NotFound(format!(
            "repository {repo} was not found on {endpoint} (HTTP {code}): check the id; if the repo is \
             private or gated, set HF_TOKEN (or the token option) to a token that can read it"
        ))),
        (Some("RevisionNotFound"), _) => Failure::Error(BeitError::NotFound(format!(
            "{repo} has no revision {} on {endpoint}: pass a branch, tag or commit hash that exists \
             (default: main)",
            cx.revision
        ))),
        (Some("EntryNotFound"), _) | (None, 404) => {
            Failure::EntryMissing(response.header("x-repo-commit").map(String::from))
        }
        (Some("GatedRepo"), _) | (_, 401 | 403) => Failure::Error(BeitError::Hub(format!(
            "{endpoint} refused access to {repo} (HTTP {code}): accept the model's terms on its page and \
             set HF_TOKEN (or the token option) to a token of that account"
        ))),
        (error_code, _) => Failure::Error(BeitError::Hub(format!(
            "{endpoint} answered HTTP {code}{} for {} of {repo}: try again later",
            error_code.map(|c| format!(" ({c})")).unwrap_or_default(),
            cx.file
        ))),
    }
}

fn unreachable(reason: &str, cx: &Context) -> BeitError {
    BeitError::Network(format!(
        "could not reach {} to download {} of {}: {reason}. Check the network (and HTTPS_PROXY), or load \
         only what is cached with HF_HUB_OFFLINE=1 (the localFilesOnly option)",
        cx.endpoint, cx.file, cx.repo_id
    ))
}

/// An I/O error either broke the transfer (the partial file is kept for a resume) or could not
/// write into the cache.
fn io(e: &std::io::Error, cx: &Context) -> BeitError {
    let broken_transfer = matches!(
        e.kind(),
        ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::TimedOut
            | ErrorKind::NotConnected
    );
    if broken_transfer {
        BeitError::Network(format!(
            "the download of {} of {} from {} broke off ({e}): run again to resume it; the part already \
             downloaded is kept in {}",
            cx.file,
            cx.repo_id,
            cx.endpoint,
            cx.repo_dir.join("blobs").display()
        ))
    } else {
        unwritable(cx.repo_dir, e)
    }
}

/// The cache directory cannot take the download.
pub fn unwritable(dir: &Path, e: &std::io::Error) -> BeitError {
    BeitError::Cache(format!(
        "cannot write into the hub cache at {} ({e}): make it writable, or choose another directory with \
         HF_HUB_CACHE or the cacheDir option",
        dir.display()
    ))
}
