//! `part_attachments`: the metadata of the files attached to conversation
//! parts and ticket parts (`attachments[]` of each part: `type`, `name`,
//! `url`, `content_type`, `filesize`, `width`, `height`), one row per
//! attachment, with its part, parent and the part's `created_at`.
//!
//! Read as `lifecycle_events` is ([`extract_both`]): the changed
//! conversations (`GET /conversations/{id}`, shared with the run's other
//! readers of conversation details), then the changed tickets
//! (parts inline when complete, else `GET /tickets/{id}`), each search with
//! its own position in the cursor. A re-read parent writes only the
//! attachments of parts created after the version of it last exported, and
//! an attachment (`parent_type`, `part_id`, `url`) once per run; the
//! files themselves are not downloaded.

use serde_json::{Value, json};

use crate::output::schema::{ColType::*, Column, timestamp_secs};
use crate::reports::both_parents::{self, Kind, extract_both, id_text};
use crate::reports::conversation_parts::PartCutoff;
use crate::reports::lifecycle;
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, ReportSpec};
use crate::reports::{ReportName, keys};

/// `part_attachments`: attachments of conversation and ticket parts.
pub static PART_ATTACHMENTS: ReportSpec = ReportSpec {
    name: "part_attachments",
    description: "Attachment metadata of conversation and ticket parts (GET /conversations/{id}, POST /tickets/search)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: keys::ReportKeys {
        primary_key: &["parent_type", "part_id", "url"],
        nullable_key_columns: &[],
        entity_key: &["parent_type", "part_id", "url"],
        version_column: "part_created_at",
        current: keys::Current::Every,
        repeats_versions: false,
        foreign_keys: &[],
    },
    probes: lifecycle::PROBES,
    skip_failed_option: None,
    // Two searches: no single parent range to backfill by.
    plan: |_| Ok(Plan::FanOut { run, parents: None }),
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `part_attachments` ([`PART_ATTACHMENTS`]).
    pub const PartAttachments: ReportName = ReportName::of(&PART_ATTACHMENTS);
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("part_id", Str, "/part_id", "The conversation or ticket part (conversation_part.id, ticket_part.id)"),
    Column::new("parent_type", Str, "/parent_type", "conversation or ticket"),
    Column::new("parent_id", Str, "/parent_id", "The conversation's or ticket's id"),
    Column::new("part_created_at", Timestamp, "/part_created_at", "The part's created_at"),
    Column::new("type", Str, "/type", "Attachment type (attachments[].type, e.g. upload)"),
    Column::new("name", Str, "/name", "File name"),
    Column::new("url", Str, "/url", "Download URL as Intercom sent it"),
    Column::new("content_type", Str, "/content_type", "MIME type"),
    Column::new("filesize", Int, "/filesize", "Size in bytes"),
    Column::new("width", Int, "/width", "Width in pixels (images; else null)"),
    Column::new("height", Int, "/height", "Height in pixels (images; else null)"),
];

/// The field the run dedupes on (not a column).
const ONCE: &str = "attachment_key";

fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract_both(c, PART_ATTACHMENTS.name, rows, Some(ONCE)))
}

/// One row per attachment of the parts of `parent` created after `cutoff`.
fn rows(kind: Kind, parent: &Value, cutoff: PartCutoff) -> Vec<Value> {
    let parent_id = id_text(&parent["id"]);
    let mut out = Vec::new();
    for p in both_parents::parts(kind, parent) {
        let created = timestamp_secs(&p["created_at"]);
        if !created.is_some_and(|t| cutoff.admits(t)) {
            continue;
        }
        let Some(part_id) = id_text(&p["id"]) else {
            continue;
        };
        for a in p["attachments"].as_array().into_iter().flatten() {
            let url = a["url"].as_str().unwrap_or_default();
            out.push(json!({
                ONCE: format!("{}:{part_id}:{url}", kind.name()),
                "part_id": part_id,
                "parent_type": kind.name(),
                "parent_id": parent_id,
                "part_created_at": p["created_at"],
                "type": a["type"],
                "name": a["name"],
                "url": a["url"],
                "content_type": a["content_type"],
                "filesize": a["filesize"],
                "width": a["width"],
                "height": a["height"],
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_attachment_of_parts_after_the_cutoff() {
        let t = json!({"id": 70, "ticket_parts": {"ticket_parts": [
            {"id": "p1", "created_at": 10, "attachments": [
                {"type": "upload", "name": "a.png", "url": "https://x/a.png", "content_type": "image/png",
                 "filesize": 5, "width": 2, "height": 3}]},
            {"id": "p2", "created_at": 20, "attachments": [
                {"type": "upload", "name": "b.pdf", "url": "https://x/b.pdf", "content_type": "application/pdf",
                 "filesize": 9, "width": null, "height": null},
                {"type": "upload", "name": "c.pdf", "url": "https://x/c.pdf", "content_type": "application/pdf",
                 "filesize": 1, "width": null, "height": null}]},
            {"id": "p3", "created_at": 30, "attachments": []},
        ]}});
        let all = rows(Kind::Ticket, &t, PartCutoff::ALL);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0]["parent_id"], "70");
        assert_eq!(all[0]["parent_type"], "ticket");
        assert_eq!(all[0]["width"], 2);
        assert_eq!(all[1][ONCE], "ticket:p2:https://x/b.pdf");
        let later = PartCutoff {
            since: 10,
            include_since: false,
        };
        assert_eq!(rows(Kind::Ticket, &t, later).len(), 2);
    }
}
