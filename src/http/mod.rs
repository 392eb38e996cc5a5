//! The one HTTP client that talks to Intercom.
//!
//! It owns the base URL (region), the `Authorization` and `Intercom-Version`
//! headers, JSON decoding (large bodies off the calling task:
//! [`decode_off_task`]), and retries with exponential backoff and jitter
//! (`backon`), guided by [`retry::classify`], pacing by the workspace's
//! rate-limit headers ([`pace::Pacer`], shared by clones of the client), and
//! as many calls in flight as the allowed rate at the measured latency needs
//! ([`inflight::Gate`], also shared: a call waits for a slot, then for the
//! pacer, then goes).
//! Reports never build requests themselves: they call
//! [`IntercomClient::get`] and [`IntercomClient::post`], or, for a read whose
//! cursor lives on the server (the company scroll),
//! [`IntercomClient::server_cursor`], whose failures are not retried where a
//! retry could lose a page.

mod body;
mod decode;
mod error;
mod exchange;
mod headers;
pub mod inflight;
pub mod pace;
pub mod retry;
mod stats;

pub use decode::{OFF_TASK_DECODE_BYTES, decode_blocking, decode_off_task, decodes_at_once};
pub use error::{HttpError, permission};
use exchange::Failure;
use stats::snapshot;
pub use stats::{ClientStats, StatsSnapshot};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use url::Url;

use crate::secret::AccessToken;
use retry::{Decision, Resend};

/// The default Intercom API version sent on every request.
pub const DEFAULT_INTERCOM_VERSION: &str = "2.16";

/// Everything needed to build a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.intercom.io` or a regional host; plain http only on loopback.
    pub base_url: Url,
    /// Sent as `Intercom-Version`.
    pub intercom_version: String,
    pub token: AccessToken,
    /// Per-request timeout (connect + headers + body).
    pub request_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Upper bound on the time spent sleeping between retries of one request.
    pub max_retry_time: Duration,
    /// A ceiling below Intercom's own limit, for apps sharing the quota.
    pub max_requests_per_minute: Option<u32>,
    /// The most calls in flight at once (the `concurrency` setting; at
    /// least 1): an upper bound, below which the client finds the number
    /// the rate limit needs at the measured latency ([`inflight`]).
    pub max_in_flight: usize,
}

/// Attempts, of all the client's requests together, while no connection to
/// the server could ever be opened (a wrong `--base-url`, port or region):
/// a few, not the whole `max_retry_time`, which is meant for an outage of a
/// server that was reached. Past them every request fails at its first.
pub const NEVER_REACHED_ATTEMPTS: u32 = 3;

/// Intercom API client. Cheap to clone (shares the connection pool).
#[derive(Clone)]
pub struct IntercomClient {
    http: reqwest::Client,
    base: Url,
    retry: ExponentialBuilder,
    /// The configured `max_retry_time`.
    max_retry_time: Duration,
    stats: Arc<ClientStats>,
    /// A second set of counters for one part of the work (a report of a
    /// run), counted besides `stats`: see [`IntercomClient::counted`].
    own: Option<Arc<ClientStats>>,
    /// Shared by clones: one pacer per workspace token.
    pacer: Arc<pace::Pacer>,
    /// Shared by clones: how many calls may be out at once.
    gate: Arc<inflight::Gate>,
    /// Where the token came from, for a 401's message ([`AccessToken::source`]).
    token_source: Arc<str>,
}

/// Check that `url` is https, or http on a loopback address (the simulator).
pub fn validate_base_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "base URL {url} uses plain http; only https is allowed, except for a loopback \
                     address such as http://127.0.0.1:PORT (the simulator)"
                ))
            }
        }
        other => Err(format!("base URL {url} has scheme {other:?}; use https://")),
    }
}

impl IntercomClient {
    /// Build a client. Fails on an invalid base URL or header value.
    pub fn new(config: ClientConfig) -> Result<Self, crate::Error> {
        validate_base_url(&config.base_url).map_err(crate::Error::Config)?;
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| {
                crate::Error::Config(
                    "the access token contains characters that cannot go in an HTTP header".into(),
                )
            })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            "Intercom-Version",
            HeaderValue::from_str(&config.intercom_version).map_err(|_| {
                crate::Error::Config(format!(
                    "intercom_version {:?} is not a valid header value",
                    config.intercom_version
                ))
            })?,
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("intercom-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Internal(format!("building the HTTP client: {e}")))?;
        let retry = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(config.max_retries)
            .with_total_delay(Some(config.max_retry_time));
        let mut base = config.base_url;
        // Url::join replaces the last segment unless the path ends in '/'.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let token_source = Arc::from(config.token.source());
        Ok(Self {
            http,
            base,
            token_source,
            retry,
            max_retry_time: config.max_retry_time,
            stats: Arc::default(),
            own: None,
            pacer: Arc::new(pace::Pacer::new(config.max_requests_per_minute)),
            gate: Arc::new(inflight::Gate::new(
                config.max_in_flight,
                config.max_requests_per_minute,
            )),
        })
    }

    /// GET `path` (relative to the base URL, query string allowed) and decode JSON.
    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
    ) -> Result<T, HttpError> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// A `pages.next` URL that Intercom handed back, as a path relative to
    /// the base URL, for [`get`](Self::get). The token is only ever sent to
    /// the configured base URL: a URL with another scheme, host or port, or
    /// outside the base path, is refused with a message saying why.
    pub fn relative_next(&self, next: &str) -> Result<String, String> {
        let url = Url::parse(next)
            .map_err(|e| format!("pages.next {next:?} is not a valid URL ({e})"))?;
        if url.origin() != self.base.origin() {
            return Err(format!(
                "pages.next points at {}, not at the configured base URL {}; refusing to send \
                 the access token there",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            ));
        }
        let rest = url.path().strip_prefix(self.base.path()).ok_or_else(|| {
            format!(
                "pages.next path {} is outside the base URL path {}",
                url.path(),
                self.base.path()
            )
        })?;
        Ok(match url.query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        })
    }

    /// POST a JSON body to `path` and decode the JSON answer.
    pub async fn post<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, HttpError> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// Requests that move a cursor kept by the server (`GET /companies/scroll`):
    /// not retried where a retry could skip a page (see [`ServerCursorReads`]).
    pub fn server_cursor(&self) -> ServerCursorReads<'_> {
        ServerCursorReads { client: self }
    }

    /// The calls this client (and its clones) allows in flight now: the
    /// allowed rate × the measured latency, within `[1, max_in_flight]`
    /// (see [`inflight`]).
    pub fn in_flight_target(&self) -> usize {
        self.gate.target()
    }

    /// The same number for this client and all its clones (the
    /// [`counted`](Self::counted) ones too), another for a client made
    /// apart (another workspace): what keys a run's shared answers
    /// ([`crate::extract::shared_search`]) to one workspace.
    pub fn workspace_key(&self) -> usize {
        Arc::as_ptr(&self.pacer) as usize
    }

    /// Counters so far (of every clone of this client).
    pub fn stats(&self) -> StatsSnapshot {
        snapshot(&self.stats, &self.gate)
    }

    /// A clone that also counts its own requests, retries and 429s (and
    /// the limit they were told) in counters of its own, read with
    /// [`own_stats`](Self::own_stats); its clones count there too. It
    /// shares everything else (connection pool, pacer, the client's
    /// [`stats`](Self::stats)), so reports running side by side each know
    /// their own calls while one pacer keeps the workspace's limit.
    pub fn counted(&self) -> Self {
        Self {
            own: Some(Arc::default()),
            ..self.clone()
        }
    }

    /// The counters of this [`counted`](Self::counted) clone (the client's
    /// [`stats`](Self::stats) when it is not one).
    pub fn own_stats(&self) -> StatsSnapshot {
        snapshot(self.own.as_ref().unwrap_or(&self.stats), &self.gate)
    }

    /// Add to a counter of the client and of this counted clone.
    fn count(&self, counter: impl Fn(&ClientStats) -> &AtomicU64) {
        counter(&self.stats).fetch_add(1, Ordering::Relaxed);
        if let Some(own) = &self.own {
            counter(own).fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn request<T: DeserializeOwned + Send + 'static>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, HttpError> {
        self.request_as(Resend::Idempotent, method, path, body)
            .await
    }

    /// Send a request, resending it after failures as `resend` allows.
    async fn request_as<T: DeserializeOwned + Send + 'static>(
        &self,
        resend: Resend,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, HttpError> {
        let endpoint = format!("{method} /{}", path.trim_start_matches('/'));
        let url =
            self.base
                .join(path.trim_start_matches('/'))
                .map_err(|e| HttpError::Transport {
                    endpoint: endpoint.clone(),
                    message: format!("invalid URL: {e}"),
                })?;
        let hedge = resend == Resend::Idempotent;
        // Boxed: an attempt's state (the hedges, their timer) is some
        // kilobytes, and unboxed it made every request's future that big,
        // copied whole each time a caller's future moved.
        let attempt =
            || Box::pin(self.attempt::<T>(hedge, method.clone(), url.clone(), &endpoint, body));
        let decide = |f: &Failure| retry::classify_for(resend, &f.error, f.reached_server);
        // Counted over every request of the client: once a few attempts
        // in all found no server, each request fails at its first, so
        // reports side by side do not each try (and warn) again.
        let never_reached = |f: &Failure| {
            !f.reached_server
                && !self.stats.answered.load(Ordering::Relaxed)
                && self.stats.unreached.fetch_add(1, Ordering::Relaxed) + 1
                    >= NEVER_REACHED_ATTEMPTS
        };
        attempt
            .retry(self.retry)
            .when(|f| matches!(decide(f), Decision::Retry(_)) && !never_reached(f))
            .adjust(|f, backoff| match (decide(f), backoff) {
                // Out of attempts or time: stop, whatever the server asked.
                (_, None) => None,
                (Decision::Retry(Some(server_wait)), Some(b)) => Some(server_wait.max(b)),
                (_, b) => b,
            })
            .notify(|f, wait| {
                self.count(|s| &s.retries);
                if retry::is_scroll_exists(&f.error) {
                    tracing::warn!(
                        endpoint = %endpoint,
                        wait_ms = wait.as_millis() as u64,
                        "another app holds this workspace's scroll; waiting for it to expire"
                    );
                } else {
                    tracing::warn!(error = %f.error, wait_ms = wait.as_millis() as u64, "retrying request");
                }
            })
            .await
            .map_err(|f| f.error)
    }
}

/// Requests that move a cursor kept by the server (Intercom's scroll), made
/// through [`IntercomClient::server_cursor`]. Paced and counted like every
/// request, but a failure is resent in place only when it proves the server
/// did not act ([`Resend::ServerCursor`]): a 429, or a connection that could
/// not be opened. Every other failure (any other status, a timeout, a reset,
/// an empty or cut-off body) is returned at once, because a second try would
/// get the next page and the lost one would be gone without a trace.
#[derive(Clone, Copy)]
pub struct ServerCursorReads<'a> {
    client: &'a IntercomClient,
}

impl ServerCursorReads<'_> {
    /// GET `path` once (resent only as [`Resend::ServerCursor`] allows) and decode JSON.
    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
    ) -> Result<T, HttpError> {
        self.client
            .request_as(Resend::ServerCursor, reqwest::Method::GET, path, None)
            .await
    }

    /// The longest the client waits out transient failures of one request
    /// (`max_retry_secs`), for callers that wait for the server themselves.
    pub fn max_wait(&self) -> Duration {
        self.client.max_retry_time
    }
}

/// A client of `base_url` for unit tests: token `t`, version 2.16, 30 s
/// timeout, 2 retries within 10 s, at most `max_in_flight` calls out.
#[cfg(test)]
pub(crate) fn test_client(base_url: &str, max_in_flight: usize) -> IntercomClient {
    IntercomClient::new(ClientConfig {
        base_url: base_url.parse().expect("url"),
        intercom_version: DEFAULT_INTERCOM_VERSION.into(),
        token: AccessToken::new("t".to_string()).expect("token"),
        request_timeout: Duration::from_secs(30),
        max_retries: 2,
        max_retry_time: Duration::from_secs(10),
        max_requests_per_minute: None,
        max_in_flight,
    })
    .expect("client")
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
