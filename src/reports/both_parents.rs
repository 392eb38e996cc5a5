//! The read `lifecycle_events` and `part_attachments` share: the
//! conversations changed since the cursor (`POST /conversations/search`,
//! each read whole with `GET /conversations/{id}`), then the changed
//! tickets (`POST /tickets/search`, parts inline when complete, else
//! `GET /tickets/{id}`), one fan-out after the other, each checkpointed at
//! its search's windows. The cursor holds both searches' positions
//! ([`PairCursor`]); each report turns a parent read whole into its rows
//! ([`RowsOf`]). The conversations are read through the run's shared
//! conversation details ([`crate::extract::shared_conversations`]): one
//! GET per changed conversation per run for all the reports that read
//! them; a report's claim on them ends with its conversation side.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::anomalies::AnomalyKind;
use crate::error::{Error, Result};
use crate::extract::fanout::{self, FanOut, FanOutOutcome, Feed, ItemKey, Job, Parents};
use crate::extract::shared_conversations::Claim;
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::{HttpError, IntercomClient, permission};
use crate::reports::conversation_parts::PartCutoff;
use crate::reports::part_cursor::{PartsCursor, map_checkpoints};
use crate::reports::search::{SearchSpec, identity};
use crate::reports::spec::ExtractCtx;
use crate::reports::{Extracted, conversations, ticket_parts, tickets};

/// A parent of the both-parent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Conversation,
    Ticket,
}

impl Kind {
    /// `conversation` or `ticket` (`object_type`, `parent_type`, failed
    /// item keys).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Conversation => "conversation",
            Kind::Ticket => "ticket",
        }
    }

    fn spec(self) -> SearchSpec {
        match self {
            Kind::Conversation => conversations::search_spec("all", "updated_at"),
            Kind::Ticket => tickets::search_spec(),
        }
    }

    fn search(self) -> &'static str {
        match self {
            Kind::Conversation => "POST /conversations/search",
            Kind::Ticket => ticket_parts::SEARCH,
        }
    }

    fn child(self) -> &'static str {
        match self {
            Kind::Conversation => "GET /conversations/{id}",
            Kind::Ticket => ticket_parts::GET,
        }
    }

    /// What the fan-out keeps of a parent search record until its child is
    /// read ([`read_whole`]): a conversation only its `id` (it is read
    /// whole with `GET /conversations/{id}`, so the feed holds bytes, not
    /// the search record, per conversation); a ticket all of it (one whose
    /// inline parts are complete is not read again, and its rows read its
    /// fields).
    fn slim(self, parent: Value) -> Value {
        match self {
            Kind::Conversation => fanout::only_keys(parent, &["id"]),
            Kind::Ticket => parent,
        }
    }

    /// The key of the parent's parts list (and of its items).
    pub(crate) fn parts_key(self) -> &'static str {
        match self {
            Kind::Conversation => "conversation_parts",
            Kind::Ticket => "ticket_parts",
        }
    }
}

/// The rows of one parent (read whole, with its parts) that pass the cutoff.
pub(crate) type RowsOf = fn(Kind, &Value, PartCutoff) -> Vec<Value>;

/// The cursor of a both-parent report: the conversation side's
/// [`PartsCursor`] fields at the top (so it reads as a search cursor too),
/// `tickets` the ticket side's, `pair` marking this form. A plain search
/// cursor (the tap's start cursor) applies to both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCursor {
    #[serde(flatten)]
    pub conversations: PartsCursor,
    #[serde(default)]
    pub tickets: Option<PartsCursor>,
    #[serde(default)]
    pub pair: bool,
}

impl PairCursor {
    /// The two sides of a saved cursor (`None`: that side has none yet).
    pub(crate) fn read(
        report: &str,
        saved: Option<&str>,
    ) -> Result<(Option<PartsCursor>, Option<PartsCursor>)> {
        let Some(saved) = saved else {
            return Ok((None, None));
        };
        let c: PairCursor = serde_json::from_str(saved).map_err(|e| {
            Error::Config(format!(
                "the saved cursor of report {report} is not readable ({e}); reset it with \
                 `intercom-export state reset --report {report}` (the next sync re-exports it in full)"
            ))
        })?;
        if !c.pair {
            return Ok((Some(c.conversations.clone()), Some(c.conversations)));
        }
        Ok((Some(c.conversations), c.tickets))
    }

    pub(crate) fn json(
        conversations: Option<&PartsCursor>,
        tickets: Option<&PartsCursor>,
    ) -> String {
        json!(PairCursor {
            conversations: conversations.cloned().unwrap_or_default(),
            tickets: tickets.cloned(),
            pair: true,
        })
        .to_string()
    }
}

/// Run a both-parent report: the changed conversations' rows, then the
/// changed tickets' (see the module docs); `dedupe`: a column whose value
/// is written once per run.
pub(crate) async fn extract_both(
    c: ExtractCtx<'_>,
    report: &'static str,
    rows: RowsOf,
    dedupe: Option<&'static str>,
) -> Result<Extracted> {
    let (saved_c, saved_t) = match c.range {
        Some(_) => (None, None),
        None => PairCursor::read(report, c.saved_cursor)?,
    };
    let parents = |saved: &Option<PartsCursor>| match c.range {
        Some((from, until)) => Parents::Range { from, until },
        None => Parents::Since(saved.as_ref().map(|s| s.search.clone())),
    };
    let pipe = WriterHandle {
        tx: &c.tx,
        progress: &c.options.progress,
    };
    let seen = Mutex::new(HashSet::new());
    let side = Side {
        client: c.client,
        options: c.options,
        pipe: &pipe,
        rows,
        seen: &seen,
        dedupe,
    };
    let retry_of = |kind: Kind| -> Vec<String> {
        let prefix = format!("{}:", kind.name());
        c.retry
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    };
    let claim = c.options.conversations.claim(report);
    let (out_c, new_c) = side
        .run(
            Kind::Conversation,
            parents(&saved_c),
            saved_c.as_ref(),
            &retry_of(Kind::Conversation),
            &|conv| PairCursor::json(Some(&conv), saved_t.as_ref()),
            Some(&claim),
        )
        .await?;
    // No more conversations to read: nothing is kept for this report now.
    drop(claim);
    let final_c = PartsCursor::finished(new_c.as_deref(), saved_c.as_ref())?.or(saved_c);
    let ticket_side = side
        .run(
            Kind::Ticket,
            parents(&saved_t),
            saved_t.as_ref(),
            &retry_of(Kind::Ticket),
            &|tick| PairCursor::json(final_c.as_ref(), Some(&tick)),
            None,
        )
        .await;
    let (out_t, new_t) = match ticket_side {
        Ok(side) => side,
        Err(Error::Http(denied @ HttpError::Forbidden { .. })) => {
            return Ok(without_denied_side(
                c.options, &denied, out_c, final_c, saved_t,
            ));
        }
        Err(e) => return Err(e),
    };
    let final_t = PartsCursor::finished(new_t.as_deref(), saved_t.as_ref())?.or(saved_t);
    let cursor = match (&c.range, &final_c, &final_t) {
        (Some(_), _, _) | (None, None, None) => None,
        _ => Some(PairCursor::json(final_c.as_ref(), final_t.as_ref())),
    };
    let mut out = out_c;
    out.rows += out_t.rows;
    out.fetched += out_t.fetched;
    out.gone += out_t.gone;
    out.failed.extend(out_t.failed);
    out.recovered.extend(out_t.recovered);
    Ok(out.into_extracted(cursor))
}

/// The conversation side's outcome alone, when the token may not read the
/// ticket side (403, e.g. without `Read tickets`): its rows stand, the
/// cursor keeps the ticket side's saved position (so it is read once the
/// scope is granted), and one [`AnomalyKind::SkippedScope`] names the
/// scope. The report succeeds: what the token can read is complete, the
/// warning says what it cannot, and the ticket reports themselves still
/// fail on the same 403 unless they are left out.
fn without_denied_side(
    options: &crate::reports::ExtractOptions,
    denied: &HttpError,
    out_c: FanOutOutcome,
    final_c: Option<PartsCursor>,
    saved_t: Option<PartsCursor>,
) -> Extracted {
    let endpoint = match denied {
        HttpError::Forbidden { endpoint, .. } => endpoint.as_str(),
        _ => Kind::Ticket.search(),
    };
    let (_, scope) = permission(endpoint);
    options.anomalies.record(
        AnomalyKind::SkippedScope,
        &format!("{endpoint}: grant the `{scope}` scope"),
        None,
    );
    let cursor = match (&final_c, &saved_t) {
        (None, None) => None,
        _ => Some(PairCursor::json(final_c.as_ref(), saved_t.as_ref())),
    };
    out_c.into_extracted(cursor)
}

/// What both sides of [`extract_both`] share.
struct Side<'a> {
    client: &'a IntercomClient,
    options: &'a crate::reports::ExtractOptions,
    pipe: &'a WriterHandle<'a>,
    rows: RowsOf,
    seen: &'a Mutex<HashSet<String>>,
    dedupe: Option<&'static str>,
}

impl Side<'_> {
    /// One side's fan-out: its outcome and its search's new cursor (JSON).
    /// `wrap` makes a checkpoint's [`PartsCursor`] the report's cursor;
    /// `claim` reads conversations through the run's shared reads.
    async fn run(
        &self,
        kind: Kind,
        parents: Parents,
        saved: Option<&PartsCursor>,
        retry: &[String],
        wrap: &dyn Fn(PartsCursor) -> String,
        claim: Option<&Claim>,
    ) -> Result<(FanOutOutcome, Option<String>)> {
        let options = self.options;
        let lookback = i64::try_from(options.lookback_secs).unwrap_or(i64::MAX / 4);
        let start = PartsCursor::run_start(saved);
        let spec = kind.spec();
        let prefix = format!("{}:", kind.name());
        let (feed, jobs) = Feed::channel(|parent: Value| {
            let (id, updated_at) = identity(kind.search(), &parent)?;
            let cutoff = PartsCursor::cutoff(saved, id, updated_at, lookback);
            let key = ItemKey::at(format!("{prefix}{id}"), cutoff.failed_since());
            Ok(Some(Job {
                key,
                parent: (kind.slim(parent), Some(updated_at), cutoff),
            }))
        });
        let searching = fanout::read_parents(self.client, &spec, options, parents, feed);
        let jobs = map_checkpoints(jobs, |search| {
            Ok(wrap(PartsCursor::checkpoint(search, &start)?))
        });
        let retry = retry
            .iter()
            .filter_map(|k| ItemKey::parse(k))
            .map(|key| {
                let id = key.id.strip_prefix(&prefix).unwrap_or(&key.id).to_string();
                let cutoff = PartCutoff {
                    since: key.at.unwrap_or(i64::MIN),
                    include_since: false,
                };
                Job {
                    parent: (json!({ "id": id }), None, cutoff),
                    key,
                }
            })
            .collect();
        let fan = FanOut {
            endpoint: kind.child(),
            concurrency: options.concurrency,
            anomalies: &options.anomalies,
            out: self.pipe,
        };
        let client = self.client;
        let fetching = fan.run(
            jobs,
            retry,
            |(parent, updated_at, cutoff): (Value, Option<i64>, PartCutoff)| async move {
                let whole = read_whole(client, claim, kind, parent, updated_at).await?;
                Ok(self.once((self.rows)(kind, &whole, cutoff)))
            },
        );
        let (searched, fetched) = tokio::join!(searching, fetching);
        let fetched = fetched?;
        Ok((fetched, searched?))
    }

    /// `rows` without those whose dedupe column was written before in the
    /// run.
    fn once(&self, rows: Vec<Value>) -> Vec<Value> {
        let Some(column) = self.dedupe else {
            return rows;
        };
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        rows.into_iter()
            .filter(|r| match r.get(column).and_then(Value::as_str) {
                Some(k) => seen.insert(k.to_string()),
                None => true,
            })
            .collect()
    }
}

/// A parent with its parts: a conversation by `GET /conversations/{id}`
/// (search results carry no parts or rating history; through `claim`, the
/// run's shared reads, for the version `updated_at` its search saw), a
/// ticket from its search result when its parts are complete, else
/// `GET /tickets/{id}`.
async fn read_whole(
    client: &IntercomClient,
    claim: Option<&Claim>,
    kind: Kind,
    parent: Value,
    updated_at: Option<i64>,
) -> Result<Value> {
    match kind {
        Kind::Ticket => ticket_parts::with_parts(client, parent).await,
        Kind::Conversation => {
            let id = parent.get("id").and_then(Value::as_str).unwrap_or_default();
            let id = url_safe_id(id, kind.search())?;
            match claim {
                Some(claim) => {
                    let body = claim.get(client, id, updated_at).await?;
                    crate::reports::conversation_parts::decode_conversation(id, &body)
                }
                None => Ok(client.get(&format!("conversations/{id}")).await?),
            }
        }
    }
}

/// The parts of a parent read whole (`<kind>_parts.<kind>_parts`).
pub(crate) fn parts(kind: Kind, parent: &Value) -> &[Value] {
    let key = kind.parts_key();
    parent
        .get(key)
        .and_then(|l| l.get(key))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A string id as written (numbers as their digits).
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
