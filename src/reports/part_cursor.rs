//! The cursor of the reports that write the *parts* of changed parents
//! (`ticket_parts`, `lifecycle_events`, `part_attachments`): the parent
//! search's [`SearchCursor`], plus where the run that wrote a checkpoint
//! started (`resume`), so that a run resumed from a checkpoint loses no part.
//!
//! Which parts of a parent are new is decided by [`PartCutoff`]: those
//! after the version of the parent last exported. For a parent changed
//! after a *complete* sync's cursor that version is at or below the cursor,
//! so "after the cursor" is right. A checkpoint is not complete: after an
//! interrupted run, a parent that changed after the checkpoint (say a ticket
//! in a later window of an interrupted first sync) was last exported at or
//! below the position the *interrupted run started from*, not the
//! checkpoint, and its parts between the two were never written. So a
//! checkpoint carries `resume.from`, the cursor its run started from (null
//! for a first sync), and the run that resumes from it takes the cutoff of a
//! parent beyond the checkpoint from `resume.from`; the final commit of a
//! run clears `resume`.
//!
//! The one case this writes a part twice: a parent exported by the
//! interrupted run (at or below its checkpoint) that changes again before
//! the resumed run reads it gets its parts after `resume.from` again (the
//! same row versions: same key, same values). Losing parts is the
//! alternative, which nothing downstream can repair.
//!
//! Stored form: the [`SearchCursor`] fields, plus `"resume": {"from":
//! <SearchCursor or null>}` on checkpoints; a plain [`SearchCursor`] (older
//! states, the tap's start cursor) reads as a complete cursor.

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::extract::fanout::Step;
use crate::reports::conversation_parts::PartCutoff;
use crate::reports::search::SearchCursor;

/// The saved position of a parts report (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartsCursor {
    /// The parent search's position.
    #[serde(flatten)]
    pub search: SearchCursor,
    /// Set on a checkpoint: where its run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// Where an interrupted run started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The cursor the run started from; `None` for a first sync.
    pub from: Option<SearchCursor>,
}

impl PartsCursor {
    /// Read a saved cursor of `report`; an unreadable one is an error
    /// saying how to reset it.
    pub fn read(report: &str, saved: Option<&str>) -> Result<Option<PartsCursor>> {
        saved
            .map(|c| {
                serde_json::from_str::<PartsCursor>(c).map_err(|e| {
                    Error::Config(format!(
                        "the saved cursor of report {report} is not readable ({e}); reset it with \
                         `intercom-export state reset --report {report}` (the next sync re-exports it in full)"
                    ))
                })
            })
            .transpose()
    }

    /// Where a run starting from this cursor started, for its checkpoints:
    /// the interrupted run's start when this is a checkpoint, else this.
    pub fn run_start(this: Option<&PartsCursor>) -> Option<SearchCursor> {
        match this {
            None => None,
            Some(PartsCursor {
                resume: Some(r), ..
            }) => r.from.clone(),
            Some(c) => Some(c.search.clone()),
        }
    }

    /// The parts of parent `id`, now at `updated_at`, still to write.
    pub(crate) fn cutoff(
        this: Option<&PartsCursor>,
        id: &str,
        updated_at: i64,
        lookback: i64,
    ) -> PartCutoff {
        let Some(c) = this else {
            return PartCutoff::ALL;
        };
        let beyond = updated_at > c.search.updated_at
            || (updated_at == c.search.updated_at && !c.search.ids_at.iter().any(|x| x == id));
        match &c.resume {
            Some(r) if beyond => PartCutoff::of(r.from.as_ref(), id, updated_at, lookback),
            _ => PartCutoff::of(Some(&c.search), id, updated_at, lookback),
        }
    }

    /// A checkpoint's cursor: the parent search's (`search`, JSON) with
    /// `resume.from` = `start`.
    pub fn checkpoint(search: &str, start: &Option<SearchCursor>) -> Result<PartsCursor> {
        Ok(PartsCursor {
            search: parse_search(search)?,
            resume: Some(Resume {
                from: start.clone(),
            }),
        })
    }

    /// The cursor of a finished run: the parent search's new one (`None`:
    /// nothing changed), complete. A run that resumed and found nothing new
    /// still clears `resume`.
    pub fn finished(new: Option<&str>, old: Option<&PartsCursor>) -> Result<Option<PartsCursor>> {
        match (new, old) {
            (Some(search), _) => Ok(Some(PartsCursor {
                search: parse_search(search)?,
                resume: None,
            })),
            (None, Some(old)) if old.resume.is_some() => Ok(Some(PartsCursor {
                search: old.search.clone(),
                resume: None,
            })),
            (None, _) => Ok(None),
        }
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::json!(self).to_string()
    }
}

fn parse_search(search: &str) -> Result<SearchCursor> {
    serde_json::from_str(search)
        .map_err(|e| Error::Internal(format!("a search cursor that does not read back: {e}")))
}

/// `steps` with each checkpoint's cursor (the parent search's, JSON) made
/// the report's by `wrap`.
pub(crate) fn map_checkpoints<P>(
    steps: impl Stream<Item = Result<Step<P>>>,
    wrap: impl Fn(&str) -> Result<String>,
) -> impl Stream<Item = Result<Step<P>>> {
    steps.map(move |s| match s {
        Ok(Step::Checkpoint(c)) => wrap(&c).map(Step::Checkpoint),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(updated_at: i64, ids: &[&str]) -> SearchCursor {
        SearchCursor {
            updated_at,
            ids_at: ids.iter().map(|s| s.to_string()).collect(),
            recent: Vec::new(),
        }
    }

    fn cut(c: Option<&PartsCursor>, id: &str, t: i64) -> (i64, bool) {
        let c = PartsCursor::cutoff(c, id, t, 0);
        (c.since, c.include_since)
    }

    #[test]
    fn a_plain_search_cursor_reads_as_complete() {
        let c = PartsCursor::read("x", Some(r#"{"updated_at":100,"ids_at":["a"]}"#))
            .expect("readable")
            .expect("some");
        assert_eq!(c.search, search(100, &["a"]));
        assert_eq!(c.resume, None);
        assert_eq!(cut(Some(&c), "b", 200), (100, true), "after the cursor");
        let err = PartsCursor::read("ticket_parts", Some("[1]")).expect_err("unreadable");
        assert!(
            err.to_string()
                .contains("state reset --report ticket_parts")
        );
    }

    #[test]
    fn beyond_a_checkpoint_parts_start_where_the_interrupted_run_started() {
        // A first sync interrupted after its checkpoint at 100.
        let first = PartsCursor::checkpoint(r#"{"updated_at":100,"ids_at":["a"]}"#, &None)
            .expect("checkpoint");
        let round = PartsCursor::read("x", Some(&first.to_json()))
            .expect("readable")
            .expect("some");
        assert_eq!(round, first);
        assert_eq!(
            cut(Some(&first), "b", 200),
            (i64::MIN, true),
            "never exported: all its parts"
        );
        assert_eq!(cut(Some(&first), "a", 100), (100, false), "exported at 100");
        assert_eq!(cut(Some(&first), "c", 100), (i64::MIN, true));
        // An incremental run from 50 interrupted after its checkpoint at 100.
        let later =
            PartsCursor::checkpoint(r#"{"updated_at":100,"ids_at":[]}"#, &Some(search(50, &[])))
                .expect("checkpoint");
        assert_eq!(cut(Some(&later), "b", 200), (50, true));
        // Resuming keeps the interrupted run's start for its own checkpoints.
        assert_eq!(PartsCursor::run_start(Some(&later)), Some(search(50, &[])));
        assert_eq!(PartsCursor::run_start(Some(&first)), None);
        let done = PartsCursor::finished(None, Some(&later))
            .expect("ok")
            .expect("some");
        assert_eq!(done.resume, None, "a finished run clears resume");
        assert_eq!(PartsCursor::run_start(Some(&done)), Some(search(100, &[])));
        assert_eq!(PartsCursor::finished(None, Some(&done)).expect("ok"), None);
    }
}
