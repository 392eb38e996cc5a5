//! Small lists read at most once per run: the custom-attribute declarations
//! (`GET /data_attributes?model=contact|company`, `GET
//! /conversations/attributes`) and the other snapshot lists.
//!
//! The reports with custom-attribute columns (`users`, `leads`,
//! `conversations`, `companies`, …) each need their model's declarations,
//! and the `data_attributes` snapshot lists all of them. Each list is asked
//! once per run, by whichever report needs it first (and only when it does:
//! a report asks for its columns on its first rows), and the answer is kept
//! for the run's other reports. Reports of one run may run concurrently:
//! each list has its own [`tokio::sync::OnceCell`], so a second reader
//! waits for the first one's answer instead of asking again.
//!
//! Kept: a body (JSON), and the answers that say the running API version
//! does not serve the list (400, 404, 422: e.g. `model=conversation` on
//! 2.16, `/conversations/attributes` on 2.11). Not kept: other failures
//! (401, 403, 5xx after the client's retries, a broken body): the next
//! reader asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::OnceCell;

use crate::http::{HttpError, IntercomClient};

/// The run's lists, shared by every report of the run (cheap to clone: one
/// handle per run, in [`super::ExtractOptions::lists`]).
#[derive(Clone, Default)]
pub struct RunLists(Arc<Mutex<HashMap<String, Arc<OnceCell<Answer>>>>>);

impl std::fmt::Debug for RunLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunLists")
    }
}

/// What one list's request answered, as kept for the run.
#[derive(Debug)]
enum Answer {
    /// The decoded body.
    Body(Arc<Value>),
    /// A status saying the API version does not serve the list.
    NotServed {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
}

impl RunLists {
    /// The body of `GET /<path>` (relative to the base URL, query
    /// included), asked at most once per run. A 400, 404 or 422 is kept and
    /// returned to every reader as that [`HttpError::Status`]; other errors
    /// are returned and not kept.
    pub async fn get(&self, client: &IntercomClient, path: &str) -> Result<Arc<Value>, HttpError> {
        let cell = {
            let mut cells = self.0.lock().unwrap_or_else(|e| e.into_inner());
            cells.entry(path.to_string()).or_default().clone()
        };
        let answer = cell
            .get_or_try_init(|| async {
                match client.get::<Value>(path).await {
                    Ok(body) => Ok(Answer::Body(Arc::new(body))),
                    Err(HttpError::Status {
                        endpoint,
                        status: status @ (400 | 404 | 422),
                        code,
                        message,
                        ..
                    }) => Ok(Answer::NotServed {
                        endpoint,
                        status,
                        code,
                        message,
                    }),
                    Err(e) => Err(e),
                }
            })
            .await?;
        match answer {
            Answer::Body(body) => Ok(body.clone()),
            Answer::NotServed {
                endpoint,
                status,
                code,
                message,
            } => Err(HttpError::Status {
                endpoint: endpoint.clone(),
                status: *status,
                code: code.clone(),
                message: message.clone(),
                retry_after: None,
                canonical: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_list_is_asked_once_also_by_readers_at_the_same_time() {
        let sim = crate::simulator::spawn(crate::simulator::SimConfig {
            contacts: 5,
            conversations: 1,
            parts: 1,
            companies: 3,
            ..Default::default()
        })
        .await
        .expect("simulator");
        let client = crate::http::test_client(&sim.base_url(), 8);
        let lists = RunLists::default();
        let contact = "data_attributes?model=contact";
        let (a, b) = tokio::join!(lists.get(&client, contact), lists.get(&client, contact));
        let (a, b) = (a.expect("served"), b.expect("served"));
        assert!(Arc::ptr_eq(&a, &b), "one answer for both readers");
        assert!(a["data"].as_array().is_some_and(|d| !d.is_empty()));
        // 2.16 answers 422 for conversations here: kept, and said again.
        let conversation = "data_attributes?model=conversation";
        for _ in 0..2 {
            let e = lists.get(&client, conversation).await.expect_err("422");
            assert!(matches!(e, HttpError::Status { status: 422, .. }), "{e}");
        }
        assert_eq!(client.stats().requests, 2, "one request per list");
        // Another run asks again.
        RunLists::default()
            .get(&client, contact)
            .await
            .expect("served");
        assert_eq!(client.stats().requests, 3);
    }
}
