//! Which failures are worth another try, and how long to wait first.
//!
//! [`classify`] is the one place that decides; the client feeds its decision
//! to `backon`. Following Intercom's docs: retry 429 (after the window resets),
//! 408, 5xx, timeouts, connection failures, and bodies that are empty or cut
//! short; never retry other 4xx, which a second try cannot fix, except
//! 400 `scroll_exists`: another app holds the workspace's one scroll, which
//! expires a minute after its last use, so wait for that.
//!
//! That holds for reads that can be repeated ([`Resend::Idempotent`]). A
//! request that moves a cursor kept by the server ([`Resend::ServerCursor`],
//! `GET /companies/scroll`) is different: once the server has acted, a
//! second try gets the *next* page and the lost one is gone. Such a request
//! is resent in place only when the failure proves the server did not act
//! ([`classify_for`]); every other failure goes back to the caller, which
//! restarts its read (see `crate::api::paginate::Scroll`).

use std::time::Duration;

use super::HttpError;

/// What to do after a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again; wait at least this long if the server said so.
    Retry(Option<Duration>),
    /// Give up and report the error.
    Fail,
}

/// May a failed request be sent again as it is?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resend {
    /// Asking again gives the same answer (every list, search and get):
    /// retry whatever [`classify`] calls transient.
    #[default]
    Idempotent,
    /// Each request moves a cursor that lives on the server (Intercom's
    /// scroll): resend only after a 429 (Intercom throttles before it acts,
    /// so the cursor did not move) or a connection that could not be opened
    /// (the request never left). Not after a 5xx, a timeout, a reset or an
    /// empty or cut-off body: the server may have moved on, and the answer
    /// to a second try would be the next page. Nor after 400
    /// `scroll_exists`: the caller decides how to wait for that.
    ServerCursor,
}

/// How long an abandoned scroll lives (Intercom: one minute after last use).
pub const SCROLL_EXPIRY: Duration = Duration::from_secs(60);

/// True for 400 `scroll_exists` (another app is scrolling the same data).
pub fn is_scroll_exists(error: &HttpError) -> bool {
    matches!(error, HttpError::Status { status: 400, code, .. } if code == "scroll_exists")
}

/// Decide whether `error` is transient.
pub fn classify(error: &HttpError) -> Decision {
    match error {
        HttpError::Unauthorized { .. } | HttpError::Forbidden { .. } => Decision::Fail,
        HttpError::Status {
            status,
            retry_after,
            ..
        } => match *status {
            429 => Decision::Retry(*retry_after),
            408 | 500..=599 => Decision::Retry(*retry_after),
            400 if is_scroll_exists(error) => Decision::Retry(Some(SCROLL_EXPIRY)),
            _ => Decision::Fail,
        },
        HttpError::Transport { .. } => Decision::Retry(None),
        // An empty or truncated 200 body is a known Intercom fault: retry it.
        HttpError::Body { .. } => Decision::Retry(None),
    }
}

/// Decide whether `error` may be retried by the client for a request of
/// kind `resend`. `reached_server` is false only when the connection could
/// not be opened, so the request was never sent.
pub fn classify_for(resend: Resend, error: &HttpError, reached_server: bool) -> Decision {
    match resend {
        Resend::Idempotent => classify(error),
        Resend::ServerCursor => match error {
            HttpError::Status {
                status: 429,
                retry_after,
                ..
            } => Decision::Retry(*retry_after),
            HttpError::Transport { .. } if !reached_server => Decision::Retry(None),
            _ => Decision::Fail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<Duration>) -> HttpError {
        HttpError::Status {
            endpoint: "GET /x".into(),
            status: code,
            code: "c".into(),
            message: "m".into(),
            retry_after,
            canonical: None,
        }
    }

    #[test]
    fn transient_failures_are_retried() {
        let wait = Some(Duration::from_secs(7));
        assert_eq!(classify(&status(429, wait)), Decision::Retry(wait));
        for code in [408, 500, 502, 503, 504] {
            assert_eq!(
                classify(&status(code, None)),
                Decision::Retry(None),
                "{code}"
            );
        }
        let transport = HttpError::Transport {
            endpoint: "GET /x".into(),
            message: "connection reset".into(),
        };
        assert_eq!(classify(&transport), Decision::Retry(None));
        let body = HttpError::Body {
            endpoint: "GET /x".into(),
            message: "EOF while parsing".into(),
        };
        assert_eq!(classify(&body), Decision::Retry(None));
    }

    #[test]
    fn a_scroll_held_by_another_app_is_waited_out() {
        let held = HttpError::Status {
            endpoint: "GET /companies/scroll".into(),
            status: 400,
            code: "scroll_exists".into(),
            message: "scroll already exists".into(),
            retry_after: None,
            canonical: None,
        };
        assert_eq!(classify(&held), Decision::Retry(Some(SCROLL_EXPIRY)));
        assert!(is_scroll_exists(&held));
        assert!(!is_scroll_exists(&status(400, None)));
    }

    #[test]
    fn a_server_cursor_is_resent_only_when_the_server_provably_did_not_act() {
        let cursor = |e: &HttpError, reached: bool| classify_for(Resend::ServerCursor, e, reached);
        let wait = Some(Duration::from_secs(2));
        assert_eq!(cursor(&status(429, wait), true), Decision::Retry(wait));
        let refused = HttpError::Transport {
            endpoint: "GET /companies/scroll".into(),
            message: "could not connect".into(),
        };
        assert_eq!(cursor(&refused, false), Decision::Retry(None));
        // The same error after the request went out: the cursor may have moved.
        assert_eq!(cursor(&refused, true), Decision::Fail);
        for code in [408, 500, 502, 503, 504, 404] {
            assert_eq!(cursor(&status(code, None), true), Decision::Fail, "{code}");
        }
        let body = HttpError::Body {
            endpoint: "GET /companies/scroll".into(),
            message: "HTTP 200 with an empty body".into(),
        };
        assert_eq!(cursor(&body, true), Decision::Fail);
        let held = HttpError::Status {
            endpoint: "GET /companies/scroll".into(),
            status: 400,
            code: "scroll_exists".into(),
            message: "scroll already exists".into(),
            retry_after: None,
            canonical: None,
        };
        assert_eq!(
            cursor(&held, true),
            Decision::Fail,
            "the scroll waits itself"
        );
        // Idempotent reads keep the usual rules.
        assert_eq!(
            classify_for(Resend::Idempotent, &body, true),
            Decision::Retry(None)
        );
    }

    #[test]
    fn client_errors_are_final() {
        for code in [400, 404, 409, 410, 422] {
            assert_eq!(classify(&status(code, None)), Decision::Fail, "{code}");
        }
        let unauthorized = HttpError::Unauthorized {
            code: "unauthorized".into(),
            message: "Access Token Invalid".into(),
            token_source: String::new(),
        };
        assert_eq!(classify(&unauthorized), Decision::Fail);
        let forbidden = HttpError::Forbidden {
            endpoint: "GET /x".into(),
            code: "api_plan_restricted".into(),
            message: "Active subscription needed.".into(),
        };
        assert_eq!(classify(&forbidden), Decision::Fail);
    }
}
