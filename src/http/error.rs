//! [`HttpError`]: how an exchange with Intercom failed, and what to tell
//! the user (the endpoint, the permission to grant; never the token), and
//! the readers of Intercom's error bodies and of reqwest's error chain.

use std::time::Duration;

/// A failed exchange with Intercom. Messages name the endpoint (method and
/// path), never the token.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 401: the token is missing, wrong, expired or revoked. `token_source`
    /// says where that token was read from ([`crate::secret::AccessToken::source`]).
    #[error(
        "Intercom rejected the access token (HTTP 401 {code}: {message}). Set a valid token in \
         {token_source}"
    )]
    Unauthorized {
        code: String,
        message: String,
        token_source: String,
    },

    /// 403: the token is valid but may not read this endpoint (a missing
    /// scope, or `api_plan_restricted`).
    #[error(
        "the access token lacks permission for {} (HTTP 403 {code} on {endpoint}: {message}): grant \
         the `{}` scope to your app in the Intercom Developer Hub (Configure > Authentication), \
         or leave the report out",
        permission(.endpoint).0,
        permission(.endpoint).1
    )]
    Forbidden {
        endpoint: String,
        code: String,
        message: String,
    },

    /// Any other non-success status.
    #[error("{endpoint} failed with HTTP {status} {code}: {message}")]
    Status {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
        /// How long the server asked us to wait (`Retry-After`, or the rate-limit reset).
        retry_after: Option<Duration>,
        /// The target of a `Link: <...>; rel="canonical"` header, as sent
        /// (e.g. `/contacts/{id}`): Intercom 2.16 answers `GET /contacts/{id}`
        /// of a merged contact with 410 `contact_merged` and this header
        /// naming the contact it was merged into.
        canonical: Option<String>,
    },

    /// No usable HTTP response: connection refused or reset, timeout, TLS.
    #[error("{endpoint} failed: {message}")]
    Transport { endpoint: String, message: String },

    /// A 2xx response whose body was empty or not the JSON we expected.
    #[error("{endpoint} returned an unusable body: {message}")]
    Body { endpoint: String, message: String },
}

/// How a [`HttpError::Transport`] message starts when no connection could
/// be opened (refused, no route, DNS).
pub(super) const CONNECT_FAILED: &str = "could not connect";

impl HttpError {
    /// No connection to the server could be opened (see [`CONNECT_FAILED`]).
    pub fn is_connect_failure(&self) -> bool {
        matches!(self, HttpError::Transport { message, .. } if message.starts_with(CONNECT_FAILED))
    }

    /// True for authentication and permission failures.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            HttpError::Unauthorized { .. } | HttpError::Forbidden { .. }
        )
    }
}

/// What an endpoint reads and the Developer Hub permission that allows it,
/// from the endpoint's first path segment (`GET /tickets/search` → tickets).
pub fn permission(endpoint: &str) -> (&'static str, &'static str) {
    let path = endpoint.split_once(' ').map_or(endpoint, |(_, p)| p);
    let first = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    match first {
        "conversations" => ("conversations", "Read conversations"),
        "contacts" => ("contacts", "Read and list users and companies"),
        "companies" => ("companies", "Read and list users and companies"),
        "events" => ("data events", "Read events"),
        "tickets" | "ticket_types" => ("tickets", "Read tickets"),
        "admins" | "teams" => ("admins and teams", "Read admins"),
        "tags" => ("tags", "Read tags"),
        "segments" => ("segments", "Read and list users and companies"),
        "data_attributes" => ("data attributes", "Read data attributes"),
        // OAuth scope `read_articles_scope` (OpenAPI 2.16).
        "help_center" | "articles" => ("the help center", "Read articles"),
        _ => ("this endpoint", "matching read"),
    }
}

/// What a connect failure's message ends with: where to look.
pub(super) const CONNECT_HINT: &str = "check `region` and `base_url` (they choose this host), and \
     the network, firewall or proxy between here and it";

/// Reqwest's Display hides the cause; walk the chain for a useful message.
/// `host` is the base URL's host (`api.eu.intercom.io`), named when no
/// connection could be opened, with [`CONNECT_HINT`].
pub(super) fn describe_reqwest_error(e: &reqwest::Error, host: &str) -> String {
    use std::error::Error as _;
    if e.is_connect() && !e.is_timeout() {
        let mut msg = format!("{CONNECT_FAILED} to {host}");
        let mut source = e.source();
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        msg.push_str("; ");
        msg.push_str(CONNECT_HINT);
        return msg;
    }
    let mut msg = if e.is_timeout() {
        "request timed out".to_string()
    } else if e.is_connect() {
        CONNECT_FAILED.to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    // The URL is never included: it is in the endpoint already and could
    // carry query parameters we do not want in logs.
    msg
}

/// Pull `code` and `message` out of Intercom's error bodies (`error.list`,
/// the bare `{type:"error", message}` form, or an HTML gateway page).
pub(super) fn error_details(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct ErrorList {
        #[serde(default)]
        errors: Vec<ErrorItem>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<ErrorList>(body) {
        Ok(list) => match list.errors.into_iter().next() {
            Some(item) => (
                item.code.unwrap_or_else(|| "error".into()),
                item.message.unwrap_or_default(),
            ),
            None => ("error".into(), list.message.unwrap_or_default()),
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.chars().take(120).collect();
            ("non_json_body".into(), snippet.trim().to_string())
        }
    }
}
