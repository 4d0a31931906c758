//! Requests to the hub: timeouts on every one, and redirects followed by this code rather than by
//! `ureq`, so that the token goes only where it belongs. The token is sent to the endpoint's own
//! origin (scheme, host and port), over https, or over plain http to this machine (127.0.0.1,
//! ::1, localhost) or when the user opts in; once a redirect has left that origin it is not sent
//! again, even if a later hop comes back (as `huggingface_hub` drops it for the CDN).

use std::time::Duration;

use url::Url;

use super::settings::HubSettings;

/// Redirects followed per request: the hub needs one (to its CDN) or two (a renamed repo, then
/// the CDN); more is a loop or a hostile server.
pub const MAX_REDIRECTS: usize = 5;

/// What a request came to: an answer (maybe a redirect the caller reads), or why there is none
/// (boxed: ureq's error holds a whole response).
pub type Answer = std::result::Result<Reply, Box<ureq::Error>>;

/// An answer and the URL that gave it.
pub struct Reply {
    pub response: ureq::Response,
    pub url: Url,
}

pub struct Http<'a> {
    agent: ureq::Agent,
    settings: &'a HubSettings,
    /// Where the token may go.
    endpoint: Option<Url>,
}

/// Which redirects a request follows.
#[derive(Clone, Copy, PartialEq)]
pub enum Follow {
    /// Relative ones only (a renamed repo); an absolute one (to the CDN) is the answer, whose
    /// headers describe the file, as `huggingface_hub` reads a file's metadata.
    Relative,
    /// All, up to `MAX_REDIRECTS`.
    All,
}

impl<'a> Http<'a> {
    pub fn new(settings: &'a HubSettings) -> Self {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(settings.request_timeout)
            .timeout_write(settings.request_timeout)
            // A read that waits longer than this for a byte fails: the stall timeout.
            .timeout_read(settings.stall_timeout)
            .user_agent(concat!("beit-node/", env!("CARGO_PKG_VERSION")))
            .try_proxy_from_env(true)
            .build();
        Self {
            agent,
            settings,
            endpoint: Url::parse(&settings.endpoint).ok(),
        }
    }

    /// A file's metadata: `Range: bytes=0-0`, so a server answers with headers and a byte; the
    /// whole exchange is bounded by the request timeout.
    pub fn probe(&self, url: &str) -> Answer {
        self.get(
            url,
            Some("bytes=0-0"),
            Follow::Relative,
            Some(self.settings.request_timeout),
        )
    }

    /// A file's content from `start` on.
    pub fn content(&self, url: &str, start: u64) -> Answer {
        let range = (start > 0).then(|| format!("bytes={start}-"));
        self.get(url, range.as_deref(), Follow::All, None)
    }

    fn get(&self, url: &str, range: Option<&str>, follow: Follow, timeout: Option<Duration>) -> Answer {
        let mut url = parse(url)?;
        let mut left_endpoint = !self.is_endpoint(&url);
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.request_url("GET", &url);
            if let Some(range) = range {
                request = request.set("Range", range);
            }
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            if let Some(token) = self.token_for(&url, left_endpoint) {
                request = request.set("Authorization", &format!("Bearer {token}"));
            }
            let response = request.call().map_err(Box::new)?;
            let Some(next) = redirect(&response, &url, follow) else {
                return Ok(Reply { response, url });
            };
            left_endpoint |= !self.is_endpoint(&next);
            url = next;
        }
        Err(Box::new(ureq::Error::from(too_many_redirects(&url))))
    }

    fn is_endpoint(&self, url: &Url) -> bool {
        self.endpoint.as_ref().is_some_and(|e| e.origin() == url.origin())
    }

    fn token_for(&self, url: &Url, left_endpoint: bool) -> Option<&str> {
        let token = self.settings.token.as_deref()?;
        let safe = url.scheme() == "https" || is_this_machine(url) || self.settings.token_over_http;
        (!left_endpoint && self.is_endpoint(url) && safe).then_some(token)
    }

    /// A token is configured but withheld from the endpoint because it is plain http elsewhere.
    pub fn token_withheld(&self) -> bool {
        let Some(endpoint) = &self.endpoint else {
            return false;
        };
        self.settings.token.is_some() && self.token_for(endpoint, false).is_none()
    }
}

/// Where a redirect leads, when `follow` takes it.
fn redirect(response: &ureq::Response, url: &Url, follow: Follow) -> Option<Url> {
    if !(300..400).contains(&response.status()) {
        return None;
    }
    let location = response.header("location")?;
    let relative = Url::parse(location).is_err_and(|e| e == url::ParseError::RelativeUrlWithoutBase);
    if follow == Follow::Relative && !relative {
        return None;
    }
    url.join(location).ok()
}

/// A redirect's target, resolved against the URL that sent it.
pub fn location(reply: &Reply) -> Option<Url> {
    reply.url.join(reply.response.header("location")?).ok()
}

/// 127.0.0.1, ::1 or localhost: plain http that never leaves the machine. Only these names, not
/// all of 127.0.0.0/8, so that the exception stays as narrow as it reads.
fn is_this_machine(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    }
}

fn parse(url: &str) -> std::result::Result<Url, Box<ureq::Error>> {
    Url::parse(url).map_err(|e| {
        Box::new(ureq::Error::from(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{url} is not a URL ({e})"),
        )))
    })
}

fn too_many_redirects(url: &Url) -> std::io::Error {
    std::io::Error::other(format!(
        "more than {MAX_REDIRECTS} redirects, the last to {}",
        url.origin().ascii_serialization()
    ))
}
