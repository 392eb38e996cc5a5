//! Where the simulator's answers deliberately differ from Intercom's OpenAPI
//! description: the one list of them.
//!
//! Two kinds of entries. Most are **places where the wire wins**: Intercom
//! sends something other than its description says, as recorded in public
//! captures (test cassettes, connector snapshots, webhook fixtures; each
//! entry names the repository, commit and file). The rest are **errors in
//! the description itself** (a schema that contradicts its own example,
//! a required field never defined), with the section of the API notes that
//! explains them.
//!
//! The spec test (`tests/it/spec.rs`) validates every endpoint's answer
//! against the description and excuses exactly these, and fails when an
//! entry is no longer needed, so the list cannot go stale.
//!
//! The end of the file is the table of **wire variants** that validate but
//! differ from the canonical form: which records are sent cut or in
//! another unit ([`inline_cut`], [`company_remote_created_millis`]).

use super::super::rng::hash;
use super::contact::INLINE_LIMIT;

/// One known difference between the simulator's answers and the OpenAPI
/// description.
#[derive(Debug, Clone, Copy)]
pub struct WireException {
    /// `2.16`, `2.11` or `*` (both).
    pub version: &'static str,
    /// The endpoint (`GET /contacts/{}`), or empty for any.
    pub endpoint: &'static str,
    /// With an endpoint: the validation error's instance path starts with
    /// this; without: contains it.
    pub path: &'static str,
    /// A fragment of the validation message (empty: any).
    pub message: &'static str,
    /// What differs and why.
    pub reason: &'static str,
    /// Where it was recorded (repository, commit, path) or documented.
    pub source: &'static str,
}

const fn spec(
    version: &'static str,
    endpoint: &'static str,
    path: &'static str,
    message: &'static str,
    reason: &'static str,
    source: &'static str,
) -> WireException {
    WireException {
        version,
        endpoint,
        path,
        message,
        reason,
        source,
    }
}

/// Every known difference (see the module doc).
pub const WIRE_EXCEPTIONS: &[WireException] = &[
    // --- The wire wins: recorded captures. ---
    spec(
        "*",
        "",
        "/avatar",
        "",
        "a contact's avatar can be a plain URL string instead of {type, image_url}",
        "airbytehq/airbyte@39947f070035d219ee71ac33f9c9694c5efa4284 \
         airbyte-integrations/connectors/source-intercom/contacts.yml (lead \
         5fd150d50697b6d0bbc4a2c2, 2.2); hull/hull-connectors@165c8c052fc4f9e2941405dc3f1b3f96a63594d4 \
         packages/connectors/hull-intercom/test/integration/scenarios/fetch/fetch-all-users.test.js",
    ),
    spec(
        "2.11",
        "",
        "/teammates",
        "\"teammates\" is a required property",
        "a conversation's teammates list is {type: admin.list, admins: [...]}, not teammates",
        "estuary/connectors@12cbc289aa6fe03c6efabf0d7aa593a218910677 \
         source-intercom-native/tests/snapshots/snapshots__capture__capture.stdout.json (2.11); \
         airbytehq/airbyte@39947f070035d219ee71ac33f9c9694c5efa4284 \
         airbyte-integrations/connectors/source-intercom/conversations.yml (2.2)",
    ),
    spec(
        "2.11",
        "",
        "/ticket_type",
        "",
        "a ticket type's attributes are {type: list, data: [...]}, not \
         {type: ticket_type_attributes.list, ticket_type_attributes: [...]}",
        "estuary/connectors@12cbc289aa6fe03c6efabf0d7aa593a218910677 \
         source-intercom-native/tests/snapshots/snapshots__capture__capture.stdout.json (2.11); \
         airbytehq/airbyte@09143b8c213f35c5886ee37d3cc64ab6d0cb20ac \
         airbyte-integrations/connectors/source-intercom/integration_tests/tickets_expected_records.jsonl",
    ),
    spec(
        "2.11",
        "",
        "/ticket_state",
        "",
        "2.11 sends ticket_state as the 2.16 object for some tickets (the schema: a string enum)",
        "estuary/connectors@12cbc289aa6fe03c6efabf0d7aa593a218910677 \
         source-intercom-native/tests/snapshots/snapshots__capture__capture.stdout.json (2.11 ticket 2)",
    ),
    // --- Errors of the description (API notes). ---
    spec(
        "*",
        "GET /events",
        "",
        "",
        "the 200 schema is data_event_summary, but a plain list is event.list",
        "API notes §8",
    ),
    spec(
        "*",
        "GET /companies/scroll",
        "/pages",
        "",
        "pages is null on scroll responses; the spec says cursor_pages",
        "API notes §3.11; hull/hull-connectors@1b7db03b4d0f90c8e2747a34431485874d9bed71 \
         fetch-all-companies.test.js",
    ),
    spec(
        "*",
        "POST /companies/list",
        "/pages/next",
        "",
        "page-number endpoints give next as a URL string; the spec says an object",
        "API notes §2",
    ),
    spec(
        "*",
        "GET /companies",
        "/pages/next",
        "",
        "page-number endpoints give next as a URL string; the spec says an object",
        "API notes §2",
    ),
    spec(
        "*",
        "GET /companies/{}/contacts",
        "/pages/next",
        "",
        "page-number endpoints give next as a URL string; the spec says an object",
        "API notes §2",
    ),
    spec(
        "2.11",
        "",
        "/ticket_parts/ticket_parts/",
        "\"body\" is a required property",
        "2.11 ticket parts without a body (state changes, assignments) leave body out",
        "estuary/connectors@12cbc289aa6fe03c6efabf0d7aa593a218910677 \
         source-intercom-native/tests/snapshots/snapshots__capture__capture.stdout.json (2.11 ticket 2, \
         parts 7, 8, 13)",
    ),
    spec(
        "2.11",
        "",
        "/ticket_parts/ticket_parts/",
        "\"ticket_state\" is a required property",
        "2.11 ticket parts other than state changes (assignments, comments) have no ticket_state",
        "estuary/connectors@12cbc289aa6fe03c6efabf0d7aa593a218910677 \
         source-intercom-native/tests/snapshots/snapshots__capture__capture.stdout.json (2.11 ticket 2, \
         assignment part 8)",
    ),
    spec(
        "*",
        "GET /admins/activity_logs",
        "/pages/next",
        "",
        "page-number endpoints give next as a URL string; the spec says an object",
        "API notes §2",
    ),
    spec(
        "*",
        "GET /help_center/collections",
        "/pages/next",
        "",
        "page-number endpoints give next as a URL string; the spec says an object",
        "API notes §2",
    ),
    spec(
        "*",
        "GET /articles",
        "/pages/next",
        "",
        "page-number endpoints give next as a URL string; the spec says an object",
        "API notes §2",
    ),
    spec(
        "2.11",
        "",
        "/pages/next",
        "anyOf",
        "cursor next is {page, starting_after} in practice; 2.11 requires per_page",
        "API notes §2, §8; estuary/connectors@8442f1d8ba3b3a71cd25539c8bf8b415292dad9d \
         source-intercom-native/bruno/Contacts/search sort descending 2.16.yml",
    ),
    spec(
        "2.11",
        "GET /ticket_types",
        "",
        "",
        "the 2.11 schema has ticket_types, its own example (and the API) data",
        "API notes §3.20",
    ),
    spec(
        "2.11",
        "",
        "",
        "\"topics\" is a required property",
        "2.11 conversation requires topics but never defines it",
        "API notes §8",
    ),
    spec(
        "2.11",
        "",
        "/data/",
        "\"applied_",
        "2.11 tag requires applied_at/applied_by, which only embedded tags carry",
        "API notes §5.7",
    ),
    spec(
        "2.11",
        "",
        "/data/",
        "\"website\" is a required property",
        "2.11 company requires website; companies without one leave it out (2.16: not nullable)",
        "API notes §5.2",
    ),
    spec(
        "*",
        "",
        "/custom_attributes/",
        "",
        "custom attribute values may be bool or float; some do not fit their declared type",
        "API notes §8; estuary/connectors@c4d73280d246aa505c05b855cd0350b9dcdf9640 \
         snapshots__capture_v2_16__capture.stdout.json (`Copilot used: false`)",
    ),
];

// --- Wire variants: which records the API sends in a recorded variant. ---
//
// The API routes send these; `/__sim/truth` keeps the canonical form. Each
// choice is a hash of the world's seed and the record, so the same world
// always sends the same variant, whichever route or page asks. The older
// variants are chosen next to their builders: `contact::json`'s
// `wire_avatar_as_url` and `wire_signed_up_millis`, `conversation::shape`'s
// `wire_legacy_assignee` (2.11), `ticket::wire_state_as_string` (2.11).

/// Salts of the variant draws (independent of the world's own streams).
const CUT_TAGS: u64 = 0x5749_5245_0001;
const CUT_COMPANIES: u64 = 0x5749_5245_0002;
const COMPANY_MILLIS: u64 = 0x5749_5245_0003;

/// A contact's addressable list (`tags`, `companies`), which Intercom can
/// send cut short of its `total_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InlineList {
    Tags,
    Companies,
}

/// How one of a contact's inline lists is cut on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InlineCut {
    /// Items sent (the first ones of the list), fewer than `total_count`.
    pub sent: usize,
    /// What `has_more` says.
    pub has_more: bool,
}

/// The wire form of list `list` of contact `idx`, which has `total` items:
/// `None` for the canonical form (the first 10, `has_more` when there are
/// more). For about 1 in 4 contacts whose list has 2 items or more, one of
/// the two recorded cuts:
///
/// - `has_more: false` with `total_count` above the items sent: estuary's
///   2.16 and 2.11 contact carries 11 of its 14 tags (estuary/connectors@
///   c4d73280d246aa505c05b855cd0350b9dcdf9640
///   snapshots__capture_v2_16__capture.stdout.json); here the first
///   `1..total-1` items, or 11 when the list is longer than that;
/// - `has_more: true` with a single item: hull's contacts carry 1 of 12 tags
///   and 1 of 10 companies (hull/hull-connectors@165c8c052fc4f9e2941405dc3f1b3f96a63594d4
///   fetch-all-users.test.js).
pub(crate) fn inline_cut(seed: u64, list: InlineList, idx: u32, total: usize) -> Option<InlineCut> {
    if total < 2 {
        return None;
    }
    let salt = match list {
        InlineList::Tags => CUT_TAGS,
        InlineList::Companies => CUT_COMPANIES,
    };
    let h = hash(&[seed, salt, u64::from(idx)]);
    match h % 8 {
        0 => Some(InlineCut {
            sent: 1,
            has_more: true,
        }),
        1 => {
            let sent = if total > INLINE_LIMIT + 1 {
                INLINE_LIMIT + 1
            } else {
                1 + (h >> 8) as usize % (total - 1)
            };
            Some(InlineCut {
                sent,
                has_more: false,
            })
        }
        _ => None,
    }
}

/// Whether company `idx` sends `remote_created_at` in unix milliseconds, as
/// a public bug report of another Intercom connector showed (issue #20,
/// fault 1; `remote_created_at` is set by the customer's own integration,
/// so its unit is whatever that sent): about 1 in 6 companies.
pub(crate) fn company_remote_created_millis(seed: u64, idx: u32) -> bool {
    hash(&[seed, COMPANY_MILLIS, u64::from(idx)]).is_multiple_of(6)
}
