//! What a failed request or transfer means for the caller: a file the repo does not have (not an
//! error for optional files), or an error that says what happened and what to do.

use std::io::ErrorKind;
use std::path::Path;

use super::names::{is_commit, quoted};
use super::settings::HubSettings;
use crate::error::BeitError;

/// Names in messages.
pub struct Context<'a> {
    pub repo_id: &'a str,
    pub revision: &'a str,
    pub file: &'a str,
    pub settings: &'a HubSettings,
    pub repo_dir: &'a Path,
    /// A token is configured but not sent to this endpoint (plain http to another machine).
    pub token_withheld: bool,
}

impl Context<'_> {
    pub fn endpoint(&self) -> &str {
        &self.settings.endpoint
    }
}

pub enum Failure {
    /// The hub has the repo and revision but not this file; the commit it answered for, if any.
    EntryMissing(Option<String>),
    Error(BeitError),
}

pub fn classify(err: ureq::Error, cx: &Context) -> Failure {
    match err {
        ureq::Error::Status(code, response) => status(code, &response, cx),
        ureq::Error::Transport(t) => Failure::Error(transport(&t, cx)),
    }
}

/// An HTTP error status, read as `huggingface_hub` reads it: by the `X-Error-Code` header first.
/// Only the hub's own `EntryNotFound` means the file is absent: a bare 404 comes from something
/// else (a proxy, a wrong endpoint), and recording it would hide the file from Python too.
pub fn status(code: u16, response: &ureq::Response, cx: &Context) -> Failure {
    let (repo, endpoint) = (cx.repo_id, cx.endpoint());
    let error_code = response.header("x-error-code");
    match (error_code, code) {
        (Some("EntryNotFound"), _) => Failure::EntryMissing(
            response
                .header("x-repo-commit")
                .filter(|c| is_commit(c))
                .map(String::from),
        ),
        (Some("RepoNotFound"), _) | (None, 401) => Failure::Error(BeitError::NotFound(format!(
            "repository {repo} was not found on {endpoint} (HTTP {code}): check the id; if the repo is \
             private or gated, set HF_TOKEN (or the token option) to a token that can read it{}",
            withheld_hint(cx)
        ))),
        (Some("RevisionNotFound"), _) => Failure::Error(BeitError::NotFound(format!(
            "{repo} has no revision {} on {endpoint}: pass a branch, tag or commit hash that exists \
             (default: main)",
            cx.revision
        ))),
        (Some("GatedRepo"), _) | (_, 401 | 403) => Failure::Error(BeitError::Hub(format!(
            "{endpoint} refused access to {repo} (HTTP {code}): accept the model's terms on its page and \
             set HF_TOKEN (or the token option) to a token of that account{}",
            withheld_hint(cx)
        ))),
        (None, 404) => Failure::Error(not_the_hub(
            cx,
            "answered HTTP 404 without the hub's X-Error-Code header",
        )),
        (error_code, _) => Failure::Error(BeitError::Hub(format!(
            "{endpoint} answered HTTP {code}{} for {} of {repo}: try again later",
            error_code
                .map(|c| format!(" ({})", quoted(c)))
                .unwrap_or_default(),
            cx.file
        ))),
    }
}

fn withheld_hint(cx: &Context) -> &'static str {
    if cx.token_withheld {
        " (a token is set, but it is sent only over https or to this machine: use an https endpoint, or \
         set BEIT_HUB_TOKEN_OVER_HTTP=1 if this plain-http endpoint is trusted)"
    } else {
        ""
    }
}

/// The endpoint answered, but not as the hub answers.
pub fn not_the_hub(cx: &Context, what: &str) -> BeitError {
    BeitError::Hub(format!(
        "{} {what} for {} of {}: it did not answer like the HuggingFace hub, so nothing was written to \
         the cache; check HF_ENDPOINT (the endpoint option) and any proxy in between",
        cx.endpoint(),
        cx.file,
        cx.repo_id
    ))
}

fn transport(t: &ureq::Transport, cx: &Context) -> BeitError {
    let source = std::error::Error::source(t).and_then(|s| s.downcast_ref::<std::io::Error>());
    if source.is_some_and(|e| e.kind() == ErrorKind::TimedOut) {
        return BeitError::Network(format!(
            "{} did not answer within {} s for {} of {} ({t}): try again, or allow longer with \
             HF_HUB_ETAG_TIMEOUT (the requestTimeoutMs option)",
            cx.endpoint(),
            cx.settings.request_timeout.as_secs_f64(),
            cx.file,
            cx.repo_id
        ));
    }
    unreachable(&t.to_string(), cx)
}

pub fn unreachable(reason: &str, cx: &Context) -> BeitError {
    BeitError::Network(format!(
        "could not reach {} to download {} of {}: {reason}. Check the network (and HTTPS_PROXY), or load \
         only what is cached with HF_HUB_OFFLINE=1 (the localFilesOnly option)",
        cx.endpoint(),
        cx.file,
        cx.repo_id
    ))
}

/// A transfer that broke off or stalled; the part already received is kept for a resume.
pub fn broken(e: &std::io::Error, cx: &Context) -> BeitError {
    let blobs = cx.repo_dir.join("blobs");
    if e.kind() == ErrorKind::TimedOut {
        return BeitError::Network(format!(
            "the download of {} of {} from {} stalled: no data for {} s. Run again to resume it (the part \
             already downloaded is kept in {}), or allow longer with HF_HUB_DOWNLOAD_TIMEOUT (the \
             stallTimeoutMs option)",
            cx.file,
            cx.repo_id,
            cx.endpoint(),
            cx.settings.stall_timeout.as_secs_f64(),
            blobs.display()
        ));
    }
    BeitError::Network(format!(
        "the download of {} of {} from {} broke off ({e}): run again to resume it; the part already \
         downloaded is kept in {}",
        cx.file,
        cx.repo_id,
        cx.endpoint(),
        blobs.display()
    ))
}

/// The cache directory cannot take the download.
pub fn unwritable(dir: &Path, e: &std::io::Error) -> BeitError {
    BeitError::Cache(format!(
        "cannot write into the hub cache at {} ({e}): make it writable, or choose another directory with \
         HF_HUB_CACHE or the cacheDir option",
        dir.display()
    ))
}
