//! What the hub says of a file before it is downloaded, read from the headers of its answer to
//! `GET /{repo}/resolve/{revision}/{file}` (as `huggingface_hub` reads them): the commit the
//! revision is at (`X-Repo-Commit`), the blob's etag (`X-Linked-Etag` for LFS files, else `ETag`),
//! its size (`X-Linked-Size`, else the `Content-Range` / `Content-Length` of the answer), and where
//! to download it (the redirect's target for an LFS file). Commit and etag become file names, so
//! each is checked here and refused, named, when it is not one.

use super::failure::{not_the_hub, Context};
use super::http::{location, Reply};
use super::names::{etag_token, is_commit, quoted};
use crate::error::Result;

#[derive(Debug)]
pub struct FileMeta {
    /// 40 hex digits.
    pub commit: String,
    /// A safe token: `blobs/{etag}`.
    pub etag: String,
    /// Bytes the blob must have.
    pub size: u64,
    /// Where its content is.
    pub url: String,
}

pub fn read(reply: &Reply, cx: &Context) -> Result<FileMeta> {
    let response = &reply.response;
    let header = |name: &str| response.header(name);
    let commit = header("x-repo-commit").ok_or_else(|| not_the_hub(cx, "sent no X-Repo-Commit header"))?;
    if !is_commit(commit) {
        let what = format!(
            "sent the X-Repo-Commit {}, which is not a 40-hex commit hash",
            quoted(commit)
        );
        return Err(not_the_hub(cx, &what));
    }
    let raw_etag = header("x-linked-etag")
        .or_else(|| header("etag"))
        .ok_or_else(|| not_the_hub(cx, "sent no ETag header"))?;
    let etag = etag_token(raw_etag).ok_or_else(|| {
        let what = format!(
            "sent the etag {}, which is not a safe blob name (letters, digits, - and _ only)",
            quoted(raw_etag)
        );
        not_the_hub(cx, &what)
    })?;
    let size = size(response).ok_or_else(|| not_the_hub(cx, "sent no usable file size"))?;
    let redirected = (300..400).contains(&response.status());
    let url = if redirected {
        location(reply).ok_or_else(|| not_the_hub(cx, "redirected without a usable Location"))?
    } else {
        reply.url.clone()
    };
    Ok(FileMeta {
        commit: commit.to_string(),
        etag,
        size,
        url: url.to_string(),
    })
}

/// `X-Linked-Size`, else the total of `Content-Range: bytes 0-0/{total}`, else the length of a
/// whole-file answer.
fn size(response: &ureq::Response) -> Option<u64> {
    if let Some(linked) = response.header("x-linked-size") {
        return linked.trim().parse().ok();
    }
    if let Some(range) = response.header("content-range") {
        return content_range(range).and_then(|r| r.total);
    }
    (response.status() == 200)
        .then(|| response.header("content-length")?.trim().parse().ok())
        .flatten()
}

/// `bytes {first}-{last}/{total}`; the total is `None` when the server writes `*`.
pub struct ContentRange {
    pub first: u64,
    pub total: Option<u64>,
}

pub fn content_range(header: &str) -> Option<ContentRange> {
    let (span, total) = header.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, _last) = span.split_once('-')?;
    Some(ContentRange {
        first: first.trim().parse().ok()?,
        total: match total.trim() {
            "*" => None,
            t => Some(t.parse().ok()?),
        },
    })
}
