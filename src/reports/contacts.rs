//! `users` and `leads`: contacts by role, exported incrementally through
//! `POST /contacts/search` on `updated_at` (day-granular on Intercom's side;
//! see `search.rs`).
//!
//! Domo's "Users (Scroll API)" and "Leads (Scroll API)" read Intercom's
//! retired v1 scroll; cursor pagination of contact search is its successor.

use serde_json::{Value, json};

use crate::api::query::{and, leaf};
use crate::error::{Error, Result};
use crate::output::schema::{ColType::*, Column};
use crate::reports::options::{OptionSpec, ReportOptions};
use crate::reports::search::{Granularity, SearchSpec};
use crate::reports::spec::{
    EXPAND, ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, list, required, undeclared_plan,
};
use crate::reports::{ReportName, expand, keys};

/// What every contact report shares; each sets its name, options and plan.
const CONTACT_REPORT: ReportSpec = ReportSpec {
    name: "",
    description: "",
    model: Some("contact"),
    columns: COLUMNS,
    expandable: expand::CONTACT,
    options: &[EXPAND],
    default_enabled: false,
    min_version: None,
    keys: keys::VERSIONED,
    probes: &[],
    skip_failed_option: None,
    plan: undeclared_plan,
};

/// `users`: contacts with role user.
pub static USERS: ReportSpec = ReportSpec {
    name: "users",
    description: "Contacts with role user (POST /contacts/search; successor of Domo's Users (Scroll API))",
    default_enabled: true,
    probes: &[Probe::Search(|_| Ok(search_spec("user", None)))],
    plan: |_| Ok(Plan::Search(search_spec("user", None))),
    ..CONTACT_REPORT
};

/// `leads`: contacts with role lead.
pub static LEADS: ReportSpec = ReportSpec {
    name: "leads",
    description: "Contacts with role lead (POST /contacts/search; successor of Domo's Leads (Scroll API))",
    default_enabled: true,
    probes: &[Probe::Search(|_| Ok(search_spec("lead", None)))],
    plan: |_| Ok(Plan::Search(search_spec("lead", None))),
    ..CONTACT_REPORT
};

const IDS: OptionSpec = list("ids", "Contact ids (required)");
const NAMES: OptionSpec = list("names", "Names (exact)");
const EMAILS: OptionSpec = list("emails", "Email addresses (exact)");
const TAG_IDS: OptionSpec = list("tag_ids", "Tag ids (required, at most 15)");
const SEGMENT_IDS: OptionSpec = list("segment_ids", "Segment ids (required, at most 15)");
const COMPANY_IDS: OptionSpec = list("company_ids", "Company ids, Intercom's (required)");

/// `lead_by_id`: the leads with the given ids.
pub static LEAD_BY_ID: ReportSpec = ReportSpec {
    name: "lead_by_id",
    description: "Leads with the given ids",
    options: &[IDS, EXPAND],
    probes: &[Probe::Search(lead_by_id)],
    plan: |o| lead_by_id(o).map(Plan::Search),
    ..CONTACT_REPORT
};

/// `users_by_username`: the users with the given names or emails.
pub static USERS_BY_USERNAME: ReportSpec = ReportSpec {
    name: "users_by_username",
    description: "Users with the given names or emails",
    options: &[NAMES, EMAILS, EXPAND],
    probes: &[Probe::Search(by_username)],
    plan: |o| by_username(o).map(Plan::Search),
    ..CONTACT_REPORT
};

/// `users_by_tag`: the users with any of the given tags.
pub static USERS_BY_TAG: ReportSpec = ReportSpec {
    name: "users_by_tag",
    description: "Users with any of the given tags",
    options: &[TAG_IDS, EXPAND],
    probes: &[Probe::Search(by_tag)],
    plan: |o| by_tag(o).map(Plan::Search),
    ..CONTACT_REPORT
};

/// `users_by_segment`: the users in any of the given segments.
pub static USERS_BY_SEGMENT: ReportSpec = ReportSpec {
    name: "users_by_segment",
    description: "Users in any of the given segments",
    options: &[SEGMENT_IDS, EXPAND],
    probes: &[Probe::Search(by_segment)],
    plan: |o| by_segment(o).map(Plan::Search),
    ..CONTACT_REPORT
};

/// `users_by_company`: the users of the given companies, listed per company.
pub static USERS_BY_COMPANY: ReportSpec = ReportSpec {
    name: "users_by_company",
    description: "Users of the given companies (GET /companies/{id}/contacts)",
    options: &[COMPANY_IDS, EXPAND],
    probes: &[Probe::Post("companies/list?per_page=1")],
    plan: |o| {
        required(USERS_BY_COMPANY.name, &COMPANY_IDS, o)?;
        Ok(Plan::List(by_company_run))
    },
    ..CONTACT_REPORT
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `users` ([`USERS`]).
    pub const Users: ReportName = ReportName::of(&USERS);
    /// `leads` ([`LEADS`]).
    pub const Leads: ReportName = ReportName::of(&LEADS);
    /// `lead_by_id` ([`LEAD_BY_ID`]).
    pub const LeadById: ReportName = ReportName::of(&LEAD_BY_ID);
    /// `users_by_username` ([`USERS_BY_USERNAME`]).
    pub const UsersByUsername: ReportName = ReportName::of(&USERS_BY_USERNAME);
    /// `users_by_tag` ([`USERS_BY_TAG`]).
    pub const UsersByTag: ReportName = ReportName::of(&USERS_BY_TAG);
    /// `users_by_segment` ([`USERS_BY_SEGMENT`]).
    pub const UsersBySegment: ReportName = ReportName::of(&USERS_BY_SEGMENT);
    /// `users_by_company` ([`USERS_BY_COMPANY`]).
    pub const UsersByCompany: ReportName = ReportName::of(&USERS_BY_COMPANY);
}

fn lead_by_id(o: &ReportOptions) -> Result<SearchSpec> {
    let ids = required(LEAD_BY_ID.name, &IDS, o)?;
    Ok(search_spec("lead", Some(any_of("id", &ids)?)))
}

fn by_username(o: &ReportOptions) -> Result<SearchSpec> {
    let (names, emails) = (o.list(&NAMES), o.list(&EMAILS));
    if names.is_empty() && emails.is_empty() {
        let report = USERS_BY_USERNAME.name;
        return Err(Error::Config(format!(
            "report {report} needs option names or emails (--option {report}.emails=a@b.c)"
        )));
    }
    Ok(search_spec("user", Some(names_or_emails(&names, &emails))))
}

fn by_tag(o: &ReportOptions) -> Result<SearchSpec> {
    let ids = required(USERS_BY_TAG.name, &TAG_IDS, o)?;
    Ok(search_spec("user", Some(any_of("tag_id", &ids)?)))
}

fn by_segment(o: &ReportOptions) -> Result<SearchSpec> {
    let ids = required(USERS_BY_SEGMENT.name, &SEGMENT_IDS, o)?;
    Ok(search_spec("user", Some(any_of("segment_id", &ids)?)))
}

/// [`by_company`] as the plan's extractor.
fn by_company_run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    let ids = c.report_options.list(&COMPANY_IDS);
    Box::pin(async move { by_company(c.client, &ids, c.options, c.cursor, c.tx).await })
}

/// Intercom allows this many filters in one AND/OR group.
const MAX_GROUP: usize = 15;

/// The search for contacts of one role (`user` or `lead`), narrowed by `extra`.
pub fn search_spec(role: &'static str, extra: Option<Value>) -> SearchSpec {
    let mut filters = vec![leaf("role", "=", role)];
    filters.extend(extra);
    SearchSpec {
        path: "contacts/search",
        filter: Some(and(filters)),
        granularity: Granularity::Day,
        sort: Some(("updated_at", "descending")),
    }
}

/// `field` equal to any of `values`. `id` takes `IN`; `tag_id` and
/// `segment_id` only take `=`, so those become an OR group (at most 15).
pub fn any_of(field: &str, values: &[String]) -> Result<Value> {
    if field == "id" {
        return Ok(leaf(field, "IN", values.to_vec()));
    }
    if values.len() > MAX_GROUP {
        return Err(Error::Config(format!(
            "at most {MAX_GROUP} {field}s fit in one Intercom search; got {}",
            values.len()
        )));
    }
    let leaves: Vec<Value> = values
        .iter()
        .map(|v| leaf(field, "=", v.as_str()))
        .collect();
    Ok(match leaves.len() {
        1 => leaves.into_iter().next().unwrap_or(Value::Null),
        _ => json!({ "operator": "OR", "value": leaves }),
    })
}

/// Contacts whose name or email is in the lists.
pub fn names_or_emails(names: &[String], emails: &[String]) -> Value {
    let mut any = Vec::new();
    if !names.is_empty() {
        any.push(leaf("name", "IN", names.to_vec()));
    }
    if !emails.is_empty() {
        any.push(leaf("email", "IN", emails.to_vec()));
    }
    match any.len() {
        1 => any.remove(0),
        _ => json!({ "operator": "OR", "value": any }),
    }
}

/// `users_by_company`: the contacts of each company (Intercom ids), through
/// `GET /companies/{id}/contacts` (page numbers), keeping those changed since
/// the cursor. A contact in several of the companies is written once.
pub async fn by_company(
    client: &crate::http::IntercomClient,
    company_ids: &[String],
    options: &crate::reports::ExtractOptions,
    cursor: Option<crate::reports::search::SearchCursor>,
    tx: tokio::sync::mpsc::Sender<crate::reports::WriterMsg>,
) -> Result<crate::reports::Extracted> {
    use crate::extract::list::{List, Style};
    use crate::reports::search::{CursorTracker, identity};
    const ENDPOINT: &str = "GET /companies/{id}/contacts";
    let mut tracker = CursorTracker::with_lookback_secs(cursor, options.lookback_secs);
    let mut seen = std::collections::HashSet::new();
    let mut rows = 0u64;
    for company in company_ids {
        crate::extract::url_safe_id(company, ENDPOINT).map_err(|_| {
            Error::Config(format!("company id {company:?} is not a valid Intercom id"))
        })?;
        // Every contact this company's listing gave (users and leads), to
        // hold against the `total_count` it states.
        let mut listed = std::collections::HashSet::new();
        let read = List {
            client,
            path: format!("companies/{company}/contacts"),
            endpoint: ENDPOINT,
            keys: &["data"],
            style: Style::PageNumber,
            per_page: options.per_page,
            anomalies: &options.anomalies,
        }
        .read(async |data: Vec<Value>| {
            let mut fresh = Vec::new();
            for contact in data {
                let (id, updated_at) = identity(ENDPOINT, &contact)?;
                listed.insert(id.to_string());
                if contact.get("role").and_then(Value::as_str) == Some("user")
                    && !seen.contains(id)
                    && tracker.accept(id, updated_at)
                {
                    seen.insert(id.to_string());
                    fresh.push(contact);
                }
            }
            rows += fresh.len() as u64;
            crate::reports::send_rows(&tx, fresh).await?;
            Ok(true)
        })
        .await?;
        if let Some(total) = read.total_count
            && (listed.len() as u64) < total
        {
            options.anomalies.record(
                crate::anomalies::AnomalyKind::ShortRead,
                ENDPOINT,
                Some(company),
            );
        }
    }
    Ok(crate::reports::Extracted {
        rows,
        cursor: tracker.finish().cursor.map(|c| json!(c).to_string()),
        ..Default::default()
    })
}

/// Output columns (the same for users and leads).
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Contact id (Intercom's)"),
    Column::new("workspace_id", Str, "/workspace_id", "Workspace (app) id"),
    Column::new("external_id", Str, "/external_id", "Your id for the contact (user_id)"),
    Column::new("role", Str, "/role", "user or lead"),
    Column::new("email", Str, "/email", "Email address"),
    Column::new("email_domain", Str, "/email_domain", "Domain of the email address"),
    Column::new("phone", Str, "/phone", "Phone number"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("owner_id", Str, "/owner_id", "Admin who owns the contact"),
    Column::new("has_hard_bounced", Bool, "/has_hard_bounced", "Email hard-bounced"),
    Column::new("marked_email_as_spam", Bool, "/marked_email_as_spam", "Marked an email as spam"),
    Column::new("unsubscribed_from_emails", Bool, "/unsubscribed_from_emails", "Unsubscribed from emails"),
    Column::new("created_at", Timestamp, "/created_at", "When the contact was created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last change; with id, the key of a row version"),
    Column::new("signed_up_at", Timestamp, "/signed_up_at", "When the user signed up"),
    Column::new("last_seen_at", Timestamp, "/last_seen_at", "Last seen in your product"),
    Column::new("last_replied_at", Timestamp, "/last_replied_at", "Last reply to a conversation"),
    Column::new("last_contacted_at", Timestamp, "/last_contacted_at", "Last contacted by a teammate"),
    Column::new("last_email_opened_at", Timestamp, "/last_email_opened_at", "Last email opened"),
    Column::new("last_email_clicked_at", Timestamp, "/last_email_clicked_at", "Last email link clicked"),
    Column::new("language_override", Str, "/language_override", "Preferred Messenger language"),
    Column::new("browser", Str, "/browser", "Last browser"),
    Column::new("browser_version", Str, "/browser_version", "Last browser version"),
    Column::new("browser_language", Str, "/browser_language", "Browser language"),
    Column::new("os", Str, "/os", "Last operating system"),
    Column::new("location_country", Str, "/location/country", "Country"),
    Column::new("location_region", Str, "/location/region", "Region"),
    Column::new("location_city", Str, "/location/city", "City"),
    Column::new("location_country_code", Str, "/location/country_code", "ISO country code"),
    Column::new("location_continent_code", Str, "/location/continent_code", "Continent code"),
    Column::new("android_app_name", Str, "/android_app_name", "Android app name"),
    Column::new("android_app_version", Str, "/android_app_version", "Android app version"),
    Column::new("android_device", Str, "/android_device", "Android device"),
    Column::new("android_os_version", Str, "/android_os_version", "Android OS version"),
    Column::new("android_sdk_version", Str, "/android_sdk_version", "Android SDK version"),
    Column::new("android_last_seen_at", Timestamp, "/android_last_seen_at", "Last seen on Android"),
    Column::new("ios_app_name", Str, "/ios_app_name", "iOS app name"),
    Column::new("ios_app_version", Str, "/ios_app_version", "iOS app version"),
    Column::new("ios_device", Str, "/ios_device", "iOS device"),
    Column::new("ios_os_version", Str, "/ios_os_version", "iOS version"),
    Column::new("ios_sdk_version", Str, "/ios_sdk_version", "iOS SDK version"),
    Column::new("ios_last_seen_at", Timestamp, "/ios_last_seen_at", "Last seen on iOS"),
    Column::new("avatar_image_url", Str, "/avatar/image_url", "Avatar image URL: `avatar.image_url` (an avatar object), else `avatar` itself when it is a plain URL string (older contacts, connector test workspaces)").or(&["/avatar"]),
    Column::list("tag_ids", "/tags/data", "id", "Tags inlined in the contact (about 10, sometimes fewer than it has: see tags_has_more; all of them: contact_tags)"),
    Column::new("tags_has_more", Bool, "/tags/has_more", "More tags exist than tag_ids holds: `tags.has_more`, or `tags.total_count` above the inline items (Intercom cuts inline lists short with has_more false)").or_short("data"),
    Column::list("company_ids", "/companies/data", "id", "Companies inlined in the contact (about 10, sometimes fewer than it has: see companies_has_more; all of them: contact_companies)"),
    Column::new("companies_has_more", Bool, "/companies/has_more", "More companies exist than company_ids holds: `companies.has_more`, or `companies.total_count` above the inline items (Intercom cuts inline lists short with has_more false)").or_short("data"),
    Column::new("social_profiles", Json, "/social_profiles/data", "Social profiles as JSON"),
    Column::new("custom_attributes_json", Json, "/custom_attributes", "Contact custom attributes as JSON"),
];
