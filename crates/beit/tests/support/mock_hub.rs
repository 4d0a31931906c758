//! A HuggingFace hub on 127.0.0.1 for tests: `/{repo}/resolve/{revision}/{file}` with the headers
//! the hub sends (`ETag`, `X-Repo-Commit`, `X-Error-Code`; large files redirect to a CDN path with
//! `X-Linked-Etag`, as LFS files do), `Range` requests, tokens for private repos, and injected
//! faults: a connection dropped halfway through a file, and what a hostile or broken hub or
//! mirror does (`Fault`).

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const COMMIT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

#[derive(Clone)]
pub struct MockRepo {
    pub files: HashMap<String, Vec<u8>>,
    /// Served from `/cdn/...` behind a redirect, as the hub serves LFS files.
    pub lfs: Vec<String>,
    /// A private repo answers only this bearer token.
    pub token: Option<String>,
}

/// One request the hub saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

/// What the hub does wrong for one file.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Sends this `ETag` (and `X-Linked-Etag`) header value.
    Etag(String),
    /// Sends this `X-Repo-Commit`.
    Commit(String),
    /// Answers a missing file with a plain 404 (no `X-Error-Code`), as a proxy's error page does.
    Bare404,
    /// Sends the content's headers, then nothing for this long.
    StallAfterHeaders(Duration),
    /// Reads the request, then sends nothing at all for this long.
    Silent(Duration),
    /// The LFS redirect leads to this base URL (another host) instead of this hub's `/cdn`.
    RedirectTo(String),
    /// Answers a `Range` request (a resume) with the whole file and 200.
    IgnoreRange,
    /// Announces this size (`X-Linked-Size`, the probe's `Content-Range`) whatever it serves.
    AnnounceSize(usize),
    /// Serves these bytes as the file's content.
    Content(Vec<u8>),
    /// Sends the body `bytes` at a time, pausing `every` between pieces.
    Drip { bytes: usize, every: Duration },
}

#[derive(Default)]
struct State {
    repos: HashMap<String, MockRepo>,
    seen: Vec<Seen>,
    /// File name -> how many more downloads of it break off halfway.
    drops: HashMap<String, usize>,
    faults: HashMap<String, Vec<Fault>>,
    /// LFS files are named by their sha256, as the hub names them.
    sha256_etags: bool,
    /// File name -> bodies sent whole (probes not counted).
    completed: HashMap<String, usize>,
    /// File name -> bodies whose sending failed: the client hung up.
    hung_up: HashMap<String, usize>,
}

impl State {
    fn fault<T>(&self, file: &str, pick: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.faults.get(file)?.iter().find_map(pick)
    }

    /// The etag the hub gives `file` of `repo`.
    fn tag(&self, repo: &MockRepo, file: &str, content: &[u8]) -> String {
        if self.sha256_etags && repo.lfs.iter().any(|f| f == file) {
            sha256(content)
        } else {
            etag(content)
        }
    }
}

pub fn sha256(content: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, content)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct MockHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

pub fn etag(content: &[u8]) -> String {
    format!("{:08x}{:032x}", crc32fast::hash(content), content.len())
}

impl MockHub {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1")
    }

    /// On another loopback address (`127.0.0.2`): a host other than `127.0.0.1` to the client.
    pub fn start_on(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, base) = (shared.clone(), base.clone());
                std::thread::spawn(move || serve(stream, &state, &base));
            }
        });
        Self { url, state }
    }

    pub fn add(&self, repo_id: &str, repo: MockRepo) {
        self.state.lock().unwrap().repos.insert(repo_id.to_string(), repo);
    }

    /// The next `times` downloads of `file` send half of it, then close the connection.
    pub fn drop_halfway(&self, file: &str, times: usize) {
        self.state.lock().unwrap().drops.insert(file.to_string(), times);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn fault(&self, file: &str, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        state.faults.entry(file.to_string()).or_default().push(fault);
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    pub fn sha256_etags(&self) {
        self.state.lock().unwrap().sha256_etags = true;
    }

    /// How many downloads of `file` the client stopped by closing the connection.
    pub fn hung_up(&self, file: &str) -> usize {
        self.state.lock().unwrap().hung_up.get(file).copied().unwrap_or(0)
    }

    /// How many times the whole content of `file` was sent.
    pub fn completed(&self, file: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .completed
            .get(file)
            .copied()
            .unwrap_or(0)
    }
}

struct Request {
    path: String,
    headers: HashMap<String, String>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Request { path, headers })
}

#[derive(Default)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close the connection after this many body bytes.
    cut_at: Option<usize>,
    /// Counted in `completed` once sent whole.
    file: Option<String>,
    silent: Option<Duration>,
    stall: Option<Duration>,
    drip: Option<(usize, Duration)>,
}

impl Response {
    fn error(status: u16, code: &str, commit: Option<&str>) -> Self {
        let mut headers = vec![("X-Error-Code".into(), code.into())];
        headers.extend(commit.map(|c| ("X-Repo-Commit".into(), c.to_string())));
        Self {
            status,
            headers,
            body: code.as_bytes().to_vec(),
            ..Self::default()
        }
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, base: &str) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let response = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            path: request.path.clone(),
            range: request.headers.get("range").cloned(),
            authorization: request.headers.get("authorization").cloned(),
        });
        route(&mut state, &request, base)
    };
    write_response(&mut stream, response, state);
}

fn route(state: &mut State, request: &Request, base: &str) -> Response {
    if let Some(tag) = request.path.strip_prefix("/cdn/") {
        let found = state
            .repos
            .values()
            .flat_map(|r| r.files.iter().map(move |(n, c)| (r, n, c)))
            .find(|(r, n, c)| state.tag(r, n, c) == tag);
        let Some((name, content)) = found.map(|(_, n, c)| (n.clone(), c.clone())) else {
            return Response::error(404, "NotFound", None);
        };
        return content_response(state, &name, &content, request, vec![]);
    }
    let Some((repo_id, rest)) = request.path.trim_start_matches('/').split_once("/resolve/") else {
        return Response::error(404, "NotFound", None);
    };
    let (revision, file) = rest.split_once('/').unwrap_or((rest, ""));
    let authorized = |repo: &MockRepo| {
        repo.token
            .as_ref()
            .is_none_or(|t| request.headers.get("authorization") == Some(&format!("Bearer {t}")))
    };
    let Some(repo) = state.repos.get(repo_id).filter(|r| authorized(r)).cloned() else {
        return Response::error(401, "RepoNotFound", None);
    };
    if revision != "main" && revision != COMMIT {
        return Response::error(404, "RevisionNotFound", None);
    }
    let Some(content) = repo.files.get(file) else {
        if state
            .fault(file, |f| matches!(f, Fault::Bare404).then_some(()))
            .is_some()
        {
            return Response {
                status: 404,
                body: b"<html>Not Found</html>".to_vec(),
                ..Response::default()
            };
        }
        return Response::error(404, "EntryNotFound", Some(COMMIT));
    };
    let tag = state.tag(&repo, file, content);
    let etag_header = state
        .fault(file, |f| match f {
            Fault::Etag(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap_or(format!("\"{tag}\""));
    let commit = state
        .fault(file, |f| match f {
            Fault::Commit(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or(COMMIT.to_string());
    let commit = ("X-Repo-Commit".to_string(), commit);
    let size = state
        .fault(file, |f| match f {
            Fault::AnnounceSize(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(content.len());
    if repo.lfs.iter().any(|f| f == file) {
        let cdn = state
            .fault(file, |f| match f {
                Fault::RedirectTo(url) => Some(url.clone()),
                _ => None,
            })
            .unwrap_or(base.to_string());
        return Response {
            status: 302,
            headers: vec![
                commit,
                ("X-Linked-Etag".into(), etag_header),
                ("X-Linked-Size".into(), size.to_string()),
                ("Location".into(), format!("{cdn}/cdn/{tag}")),
            ],
            silent: silent(state, file),
            ..Response::default()
        };
    }
    let extra = vec![commit, ("ETag".into(), etag_header)];
    let mut response = content_response(state, file, content, request, extra);
    if response.file.is_none() && size != content.len() {
        // A probe: its Content-Range total is the size the client believes.
        for (name, value) in &mut response.headers {
            if name == "Content-Range" {
                *value = format!("bytes 0-0/{size}");
            }
        }
    }
    response
}

fn silent(state: &State, file: &str) -> Option<Duration> {
    state.fault(file, |f| match f {
        Fault::Silent(d) => Some(*d),
        _ => None,
    })
}

/// The file, or the byte range asked for; a download with a pending fault breaks off halfway.
fn content_response(
    state: &mut State,
    file: &str,
    content: &[u8],
    request: &Request,
    mut headers: Vec<(String, String)>,
) -> Response {
    let replaced = state.fault(file, |f| match f {
        Fault::Content(c) => Some(c.clone()),
        _ => None,
    });
    let content = replaced.as_deref().unwrap_or(content);
    let ignore_range = state.fault(file, |f| matches!(f, Fault::IgnoreRange).then_some(()));
    let range = request
        .headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .filter(|r| *r == "0-0" || ignore_range.is_none());
    let (start, end) = match range.and_then(|r| r.split_once('-')) {
        Some((a, b)) => (
            a.parse().unwrap_or(0),
            b.parse()
                .map_or(content.len(), |b: usize| b + 1)
                .min(content.len()),
        ),
        None => (0, content.len()),
    };
    let body = content[start.min(end)..end].to_vec();
    let is_probe = range == Some("0-0");
    let cut_at = match state.drops.get_mut(file) {
        Some(n) if *n > 0 && !is_probe => {
            *n -= 1;
            Some(body.len() / 2)
        }
        _ => None,
    };
    let status = if range.is_some() {
        let last = end.max(1) - 1;
        headers.push((
            "Content-Range".into(),
            format!("bytes {start}-{last}/{}", content.len()),
        ));
        206
    } else {
        200
    };
    Response {
        status,
        headers,
        body,
        cut_at,
        file: (!is_probe).then(|| file.to_string()),
        silent: silent(state, file),
        stall: state
            .fault(file, |f| match f {
                Fault::StallAfterHeaders(d) => Some(*d),
                _ => None,
            })
            .filter(|_| !is_probe),
        drip: state
            .fault(file, |f| match f {
                Fault::Drip { bytes, every } => Some((*bytes, *every)),
                _ => None,
            })
            .filter(|_| !is_probe),
    }
}

fn write_response(stream: &mut TcpStream, response: Response, state: &Mutex<State>) {
    if let Some(pause) = response.silent {
        std::thread::sleep(pause);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let body = &response.body[..response.cut_at.unwrap_or(response.body.len())];
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.flush())
        .is_ok()
        && send_body(stream, body, &response);
    let _ = stream.shutdown(Shutdown::Both);
    if let Some(file) = response.file {
        let mut state = state.lock().unwrap();
        let counter = if !sent {
            &mut state.hung_up
        } else if response.cut_at.is_none() {
            &mut state.completed
        } else {
            return;
        };
        *counter.entry(file).or_default() += 1;
    }
}

fn send_body(stream: &mut TcpStream, body: &[u8], response: &Response) -> bool {
    if let Some(pause) = response.stall {
        std::thread::sleep(pause);
    }
    let Some((bytes, every)) = response.drip else {
        return stream.write_all(body).and_then(|()| stream.flush()).is_ok();
    };
    for piece in body.chunks(bytes.max(1)) {
        if stream.write_all(piece).and_then(|()| stream.flush()).is_err() {
            return false;
        }
        std::thread::sleep(every);
    }
    true
}

/// The reference case whose config and weights `tiny_repo` serves.
pub const TINY_CASE: &str = "tests/fixtures/reference/cls_relpos_meanpool";

/// A file of the tiny reference case.
pub fn read_tiny(file: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(TINY_CASE).join(file)).unwrap()
}

/// A real tiny classifier: config and weights of a reference case, weights as an LFS file.
pub fn tiny_repo() -> MockRepo {
    MockRepo {
        files: [
            ("config.json".to_string(), read_tiny("config.json")),
            ("model.safetensors".to_string(), read_tiny("model.safetensors")),
        ]
        .into(),
        lfs: vec!["model.safetensors".into()],
        token: None,
    }
}
