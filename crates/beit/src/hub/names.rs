//! The values that become file names in the cache, checked before any is joined to a path: the
//! caller's revision (`refs/{revision}`), the hub's commit (`snapshots/{commit}`, `.no_exist/`)
//! and etag (`blobs/{etag}`, `.locks/.../{etag}.lock`), and a file's path in the repo. A value
//! that could climb out of its folder (`..`, `/`, `\`, an absolute path) is refused, naming it.

use std::path::{Component, Path};

use crate::error::{BeitError, Result};

/// Longest revision accepted: git has no limit, but a ref is a file name and file systems stop at
/// 255 bytes per component; no real branch or tag comes near it.
pub const MAX_REVISION_LEN: usize = 255;

/// Longest etag accepted: the hub's are 40 (git blob sha1) or 64 (LFS sha256) hex digits; 128
/// leaves room for a mirror's own forms (an S3 multipart etag is 32 hex, a dash and a count).
pub const MAX_ETAG_LEN: usize = 128;

/// Longest file path in a repo accepted, as most file systems allow.
pub const MAX_FILE_LEN: usize = 1024;

/// How much of a refused value an error message quotes.
const QUOTED: usize = 80;

/// A value for a message: quoted, escaped, and cut short when long.
pub fn quoted(value: &str) -> String {
    let mut cut: String = value.chars().take(QUOTED).collect();
    if cut.len() < value.len() {
        cut.push_str("...");
    }
    format!("{cut:?}")
}

/// `huggingface_hub`'s commit form: 40 lowercase hex digits.
pub fn is_commit(value: &str) -> bool {
    value.len() == 40 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An LFS etag is the file's sha256: 64 lowercase hex digits.
pub fn is_sha256(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A branch, tag or commit a caller names: what `git check-ref-format` accepts for a branch,
/// which rules out `..`, backslashes, a leading `/`, empty components and control characters.
pub fn check_revision(repo_id: &str, revision: &str) -> Result<()> {
    match revision_problem(revision) {
        None => Ok(()),
        Some(problem) => Err(BeitError::NotFound(format!(
            "{repo_id} has no revision {}: {problem}, which no git branch, tag or commit has; pass a \
             branch, tag or commit hash (default: main)",
            quoted(revision)
        ))),
    }
}

fn revision_problem(revision: &str) -> Option<&'static str> {
    const FORBIDDEN: &[char] = &[' ', '~', '^', ':', '?', '*', '[', '\\'];
    if revision.is_empty() {
        return Some("it is empty");
    }
    if revision.len() > MAX_REVISION_LEN {
        return Some("it is longer than 255 bytes");
    }
    if revision.chars().any(|c| c.is_control() || FORBIDDEN.contains(&c)) {
        return Some("it holds a control character, a space or one of ~^:?*[\\");
    }
    if revision.contains("..") || revision.contains("@{") || revision == "@" {
        return Some("it holds `..` or `@{`");
    }
    if revision.ends_with('.') || revision.ends_with(".lock") {
        return Some("it ends with `.` or `.lock`");
    }
    let bad_part = |p: &str| p.is_empty() || p.starts_with('.') || p.ends_with(".lock");
    if revision.split('/').any(bad_part) {
        return Some("a part between slashes is empty, starts with `.` or ends with `.lock`");
    }
    None
}

/// An etag as a header carries it (`"..."`, maybe `W/"..."`) to the bare token the cache names
/// blobs by; `None` when it is not a safe file name: letters, digits, `-` and `_` only.
pub fn etag_token(header: &str) -> Option<String> {
    let token = header.trim().trim_start_matches("W/").trim_matches('"');
    let safe = !token.is_empty()
        && token.len() <= MAX_ETAG_LEN
        && !token.starts_with('-')
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    safe.then(|| token.to_string())
}

/// A file's path in the repo: relative, `/`-separated, every part a plain name.
pub fn check_file(repo_id: &str, file: &str) -> Result<()> {
    let plain = !file.is_empty()
        && file.len() <= MAX_FILE_LEN
        && !file.contains('\\')
        && !file.chars().any(char::is_control)
        && file.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if plain {
        return Ok(());
    }
    Err(BeitError::Hub(format!(
        "{} is not a file name inside the repo {repo_id} (an absolute path, `..`, a backslash or an \
         empty part): nothing was downloaded",
        quoted(file)
    )))
}

/// One path segment of a URL, percent-encoded (`/` included, as `huggingface_hub` quotes a
/// revision), so a name cannot change which URL is asked for.
pub fn url_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A repo file's path for a URL: each part encoded, the slashes kept.
pub fn url_path(file: &str) -> String {
    file.split('/').map(url_segment).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_that_git_allows_pass_and_path_tricks_do_not() {
        for ok in ["main", "v1.0", "refs/pr/1", "feature/x-y_z", &"a".repeat(40)] {
            assert!(revision_problem(ok).is_none(), "{ok}");
        }
        for bad in [
            "",
            "../../../../x",
            "a/../b",
            "/abs",
            "a//b",
            "a/",
            "a\\b",
            ".hidden",
            "x.lock",
            "a b",
            "a\nb",
            "@",
            "a@{1}",
            "C:x",
        ] {
            assert!(revision_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn etags_keep_only_safe_tokens() {
        assert_eq!(etag_token("\"abc123\"").as_deref(), Some("abc123"));
        assert_eq!(etag_token("W/\"abc-1\"").as_deref(), Some("abc-1"));
        for bad in [
            "\"../../../../x\"",
            "\"a/b\"",
            "\"a.b\"",
            "\"\"",
            "\"-x\"",
            "\"a\\b\"",
        ] {
            assert_eq!(etag_token(bad), None, "{bad}");
        }
        assert_eq!(etag_token(&"a".repeat(MAX_ETAG_LEN + 1)), None);
    }

    #[test]
    fn file_names_stay_inside_the_repo() {
        assert!(check_file("o/r", "sub/model.safetensors").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\..\\b", "./a"] {
            assert_eq!(check_file("o/r", bad).unwrap_err().code(), "E_HUB", "{bad}");
        }
    }

    #[test]
    fn url_parts_are_encoded() {
        assert_eq!(url_segment("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(url_path("a b/c?d#e"), "a%20b/c%3Fd%23e");
    }
}
