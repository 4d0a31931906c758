//! A HuggingFace hub on 127.0.0.1 for tests: `/{repo}/resolve/{revision}/{file}` with the headers
//! the hub sends (`ETag`, `X-Repo-Commit`, `X-Error-Code`; large files redirect to a CDN path with
//! `X-Linked-Etag`, as LFS files do), `Range` requests, tokens for private repos, and injected
//! faults (a connection dropped halfway through a file).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

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

#[derive(Default)]
struct State {
    repos: HashMap<String, MockRepo>,
    seen: Vec<Seen>,
    /// File name -> how many more downloads of it break off halfway.
    drops: HashMap<String, usize>,
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
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

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close the connection after this many body bytes.
    cut_at: Option<usize>,
}

impl Response {
    fn error(status: u16, code: &str, commit: Option<&str>) -> Self {
        let mut headers = vec![("X-Error-Code".into(), code.into())];
        headers.extend(commit.map(|c| ("X-Repo-Commit".into(), c.to_string())));
        Self {
            status,
            headers,
            body: code.as_bytes().to_vec(),
            cut_at: None,
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
    write_response(&mut stream, response);
}

fn route(state: &mut State, request: &Request, base: &str) -> Response {
    if let Some(tag) = request.path.strip_prefix("/cdn/") {
        let found = state
            .repos
            .values()
            .flat_map(|r| r.files.iter())
            .find(|(_, c)| etag(c) == tag);
        let Some((name, content)) = found.map(|(n, c)| (n.clone(), c.clone())) else {
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
        return Response::error(404, "EntryNotFound", Some(COMMIT));
    };
    let tag = etag(content);
    let commit = ("X-Repo-Commit".to_string(), COMMIT.to_string());
    if repo.lfs.iter().any(|f| f == file) {
        return Response {
            status: 302,
            headers: vec![
                commit,
                ("X-Linked-Etag".into(), format!("\"{tag}\"")),
                ("X-Linked-Size".into(), content.len().to_string()),
                ("Location".into(), format!("{base}/cdn/{tag}")),
            ],
            body: vec![],
            cut_at: None,
        };
    }
    let extra = vec![commit, ("ETag".into(), format!("\"{tag}\""))];
    content_response(state, file, content, request, extra)
}

/// The file, or the byte range asked for; a download with a pending fault breaks off halfway.
fn content_response(
    state: &mut State,
    file: &str,
    content: &[u8],
    request: &Request,
    mut headers: Vec<(String, String)>,
) -> Response {
    let range = request
        .headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="));
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
    }
}

fn write_response(stream: &mut TcpStream, response: Response) {
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
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}
