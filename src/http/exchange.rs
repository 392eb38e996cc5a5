//! One attempt of a request and its HTTP exchange: a slot of the
//! in-flight gate, the pacer, the call (counted when it goes out), the
//! rate-limit headers read, the body decoded, and a hedge for a call far
//! later than usual. [`super::IntercomClient`]'s retries call
//! [`IntercomClient::attempt`] once per try.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::de::DeserializeOwned;
use url::Url;

use super::body::Body;
use super::error::{describe_reqwest_error, error_details};
use super::headers::{canonical_link, server_wait, stated_limit, stated_reset};
use super::{HttpError, IntercomClient, decode_off_task};

/// The most calls one attempt sends of the same request (the first and
/// its hedges): with 2 % of calls hanging, two copies both hang for 1 in
/// 2,500 requests, three for 1 in 125,000.
pub const MAX_COPIES: usize = 3;

impl IntercomClient {
    /// One attempt of a request. With `hedge` (a request that may be sent
    /// twice: every one but the company scroll), a call still out after
    /// [`super::inflight::Gate::stall_after`] is sent again beside it (a
    /// hedge), and again after each further stall while every copy is still
    /// out, up to [`MAX_COPIES`] calls in all; the first answer wins and the
    /// other calls are dropped. A hung call then costs a few seconds, not
    /// the request timeout, even when its first copy hangs too, while a slow
    /// but healthy answer still arrives (each call goes on until
    /// `request_timeout`, the hard cap of each call).
    pub(super) async fn attempt<T: DeserializeOwned + Send + 'static>(
        &self,
        hedge: bool,
        method: reqwest::Method,
        url: Url,
        endpoint: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, Failure> {
        use futures::stream::{FuturesUnordered, StreamExt};
        let once =
            |sent| Box::pin(self.exchange::<T>(method.clone(), url.clone(), endpoint, body, sent));
        if !hedge {
            return once(None).await;
        }
        // The stall is timed from when the first call went out, not from
        // its wait for a slot or the pacer.
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        let mut first = once(Some(sent_tx));
        tokio::select! {
            out = &mut first => return out,
            sent = sent_rx => if sent.is_err() {
                // Dropped unsent: the first call ends without going out.
                return first.await;
            }
        }
        let mut calls = FuturesUnordered::new();
        calls.push(first);
        let mut copies = 1;
        loop {
            tokio::select! {
                out = calls.next() => match out {
                    Some(Ok(v)) => return Ok(v),
                    // A copy that timed out while another is still out: the
                    // others may yet answer. Any other failure ends the
                    // attempt (the retry sends the request again).
                    Some(Err(f)) if !calls.is_empty() && f.timed_out() => {}
                    Some(Err(f)) => return Err(f),
                    None => unreachable!("the attempt returns when its last call ends"),
                },
                () = tokio::time::sleep(self.gate.stall_after()), if copies < MAX_COPIES => {
                    copies += 1;
                    tracing::debug!(
                        endpoint,
                        copies,
                        "no answer yet, far later than usual: sending the request again beside it"
                    );
                    calls.push(once(None));
                }
            }
        }
    }

    /// One HTTP exchange: a slot, the pacer, the request (counted, and
    /// said on `sent`, when it goes out), its body decoded.
    async fn exchange<T: DeserializeOwned + Send + 'static>(
        &self,
        method: reqwest::Method,
        url: Url,
        endpoint: &str,
        body: Option<&serde_json::Value>,
        sent: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<T, Failure> {
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(body);
        }
        let transport = |e: reqwest::Error| HttpError::Transport {
            endpoint: endpoint.to_string(),
            message: describe_reqwest_error(&e, self.base.host_str().unwrap_or("the server")),
        };
        // A slot first, then the pacer: a call waiting for the rate holds
        // its slot, so the calls in flight never exceed the gate's target.
        let mut slot = self.gate.enter().await;
        let ticket = self.pacer.acquire().await;
        self.count(|s| &s.requests);
        if let Some(tx) = sent {
            // The receiver may be gone (the attempt ended): nothing to say.
            let _ = tx.send(());
        }
        let sent = Instant::now();
        // The exchange, from sending to the body read. A call out far
        // longer than the others gives its slot to the next call meanwhile
        // (`Slot::watch`); its own end is still the request timeout.
        let exchange = async {
            let mut resp = req.send().await.map_err(|e| Failure {
                // A connection that could not be opened carried no request.
                reached_server: !e.is_connect(),
                error: transport(e),
            })?;
            self.stats.answered.store(true, Ordering::Relaxed);
            ticket.observe(resp.headers());
            drop(ticket);
            let limit = stated_limit(resp.headers());
            if let Some(limit) = limit {
                for stats in std::iter::once(&self.stats).chain(&self.own) {
                    stats.rate_limit_per_10s.store(limit, Ordering::Relaxed);
                }
            }
            if let Some(reset) = stated_reset(resp.headers()) {
                for stats in std::iter::once(&self.stats).chain(&self.own) {
                    stats.count_window(reset);
                }
            }
            let status = resp.status();
            let retry_after = server_wait(resp.headers());
            let canonical = canonical_link(resp.headers());
            // Into a buffer used again (see `body.rs`), chunk by chunk.
            let mut bytes = Body::with_capacity(resp.content_length());
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Failure::sent(transport(e)))?
            {
                bytes.extend(&chunk);
            }
            Ok::<_, Failure>((status, limit, retry_after, canonical, bytes))
        };
        let (status, limit, retry_after, canonical, bytes) = slot.watch(exchange).await?;
        // The slot's time after the pacer: Little's law's latency.
        if status.as_u16() == 429 {
            slot.throttled(limit);
        } else {
            slot.answered(sent.elapsed(), limit);
        }
        drop(slot);
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(Failure::sent(HttpError::Body {
                    endpoint: endpoint.to_string(),
                    message: format!("HTTP {} with an empty body", status.as_u16()),
                }));
            }
            // Large pages decode on the blocking pool, so the extractor's
            // task (and the other core) goes on meanwhile.
            return decode_off_task(bytes, endpoint)
                .await
                .map_err(Failure::sent);
        }
        let (code, message) = error_details(&bytes);
        Err(Failure::sent(match status.as_u16() {
            401 => HttpError::Unauthorized {
                code,
                message,
                token_source: self.token_source.to_string(),
            },
            403 => HttpError::Forbidden {
                endpoint: endpoint.to_string(),
                code,
                message,
            },
            s => {
                if s == 429 {
                    self.count(|s| &s.rate_limited);
                }
                HttpError::Status {
                    endpoint: endpoint.to_string(),
                    status: s,
                    code,
                    message,
                    retry_after,
                    canonical,
                }
            }
        }))
    }
}

/// One failed attempt, and whether the request got to the server.
pub(super) struct Failure {
    pub(super) error: HttpError,
    /// False only when the connection could not be opened.
    pub(super) reached_server: bool,
}

impl Failure {
    /// The call got no answer within the request timeout.
    fn timed_out(&self) -> bool {
        matches!(&self.error, HttpError::Transport { message, .. } if message.contains("timed out"))
    }

    pub(super) fn sent(error: HttpError) -> Self {
        Failure {
            error,
            reached_server: true,
        }
    }
}
