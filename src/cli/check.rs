//! `check`: one cheap request per report shows whether the token, the
//! region and the scopes let each configured report run, without writing
//! anything.

use std::io::Write;

use crate::config::Settings;
use crate::error::Error;
use crate::http::IntercomClient;
use crate::reports::ReportName;

use super::run::resolve;
use super::{ExitStatus, SyncArgs};

pub(super) async fn check(args: SyncArgs) -> anyhow::Result<ExitStatus> {
    let mut worst = ExitStatus::Success;
    for settings in resolve(&args)? {
        if !settings.workspace.is_empty() {
            writeln!(std::io::stdout(), "[[workspace]] {}:", settings.workspace)?;
        }
        worst = worst.max_severity(check_one(&settings).await?);
    }
    Ok(worst)
}

/// `check` for one workspace.
pub(super) async fn check_one(settings: &Settings) -> anyhow::Result<ExitStatus> {
    let token = settings.token()?;
    let client = IntercomClient::new(settings.client_config(token))?;
    let mut out = std::io::stdout().lock();
    let me: serde_json::Value = client.get("me").await.map_err(Error::from)?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    writeln!(
        out,
        "token: valid ({} {} <{}>, id {})",
        s(&me["type"]),
        s(&me["name"]),
        s(&me["email"]),
        s(&me["id"])
    )?;
    writeln!(
        out,
        "workspace: {} (app id {}), region {}, time zone {}",
        s(&me["app"]["name"]),
        s(&me["app"]["id_code"]),
        s(&me["app"]["region"]),
        s(&me["app"]["timezone"])
    )?;
    writeln!(
        out,
        "api: {}, Intercom-Version {}",
        settings.base_url, settings.intercom_version
    )?;
    let mut status = ExitStatus::Success;
    let mut passed = std::collections::HashSet::new();
    for &report in &settings.reports {
        if let Some(needed) = report.min_version()
            && !report.offered_by(&settings.intercom_version)
        {
            writeln!(
                out,
                "{:<24} skipped: needs Intercom-Version {needed} or later (intercom_version is {}); \
                 sync skips it too",
                report.as_str(),
                settings.intercom_version
            )?;
            continue;
        }
        let probes = probes_for(report, settings)?;
        let mut failure = None;
        let mut labels = Vec::new();
        let mut without = Vec::new();
        for (label, request, tolerates) in probes {
            // The same request another report's probe already passed is not
            // sent again (the company reports share one).
            let key = (request.0, request.1.as_ref().map(|b| b.to_string()));
            if passed.contains(&key) {
                labels.push(label);
                continue;
            }
            match result_of(&client, request).await {
                Ok(()) => {
                    passed.insert(key);
                    labels.push(label)
                }
                // A probe asking for an unknown record on purpose: its 404
                // shows the endpoint answers (a missing scope is a 403).
                Err(crate::http::HttpError::Status { status: 404, .. })
                    if tolerates == Tolerates::NotFound =>
                {
                    labels.push(label)
                }
                // A half the report exports without: readable, and said.
                Err(crate::http::HttpError::Forbidden { .. })
                    if tolerates == Tolerates::Forbidden =>
                {
                    without.push(label)
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let verdict = match failure {
            None if labels.is_empty() => "not checked (no cheap probe for this report)".to_string(),
            None if !without.is_empty() => format!(
                "ok ({}); without {} (403: sync exports the rest with a skipped_scopes \
                 warning; grant the scope for the whole report)",
                labels.join(", "),
                without.join(", ")
            ),
            None => format!("ok ({})", labels.join(", ")),
            // A collection that is not found cannot be read: wrong base URL
            // or region, or an endpoint this workspace or version lacks.
            Some(crate::http::HttpError::Status {
                status: 404,
                endpoint,
                ..
            }) => {
                status = status.max_severity(ExitStatus::Auth);
                format!(
                    "NOT READABLE: {endpoint} answered 404 (not found); check base_url/region \
                     and intercom_version, or leave the report out"
                )
            }
            Some(e @ crate::http::HttpError::Forbidden { .. }) => {
                status = ExitStatus::Auth;
                format!("FORBIDDEN: {e}")
            }
            Some(e) => {
                status = status.max_severity(if e.is_auth() {
                    ExitStatus::Auth
                } else {
                    ExitStatus::Internal
                });
                format!("ERROR: {e}")
            }
        };
        writeln!(out, "{:<24} {verdict}", report.as_str())?;
    }
    Ok(status)
}

/// A cheap request for `check`: (label, (path, search body or `None` for a
/// GET), which refusal still counts as readable).
pub(super) type Probe = (String, (&'static str, Option<serde_json::Value>), Tolerates);

/// Which refusal of a probe still leaves its report readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tolerates {
    /// None: the probe must succeed.
    Nothing,
    /// A 404: the probe asks for an unknown record on purpose.
    NotFound,
    /// A 403: the probe reads a half the report exports without.
    Forbidden,
}

/// The small requests `check` sends for a report: the probes its spec
/// declares ([`crate::reports::ReportSpec::probes`]).
pub(super) fn probes_for(report: ReportName, settings: &Settings) -> anyhow::Result<Vec<Probe>> {
    let options = settings
        .report_options
        .get(&report)
        .cloned()
        .unwrap_or_default();
    report
        .spec()
        .probes
        .iter()
        .map(|probe| probe_for(*probe, &options))
        .collect()
}

/// The request of one declared probe.
pub(super) fn probe_for(
    probe: crate::reports::Probe,
    options: &crate::reports::ReportOptions,
) -> anyhow::Result<Probe> {
    use crate::reports::Probe as P;
    Ok(match probe {
        P::Get(path) => (format!("GET /{path}"), (path, None), Tolerates::Nothing),
        P::Post(path) => (
            format!("POST /{path}"),
            (path, Some(serde_json::json!({}))),
            Tolerates::Nothing,
        ),
        // The id is made up: the path without its query names the probe.
        P::GetUnknown(path) => {
            let label = path.split('?').next().unwrap_or(path);
            (format!("GET /{label}"), (path, None), Tolerates::NotFound)
        }
        P::Search(search) => search_probe(search, options, Tolerates::Nothing)?,
        P::HalfSearch(search) => search_probe(search, options, Tolerates::Forbidden)?,
    })
}

/// The probe of a search: the report's own search, `updated_at > now`, one
/// result a page.
fn search_probe(
    search: fn(
        &crate::reports::ReportOptions,
    ) -> crate::error::Result<crate::reports::search::SearchSpec>,
    options: &crate::reports::ReportOptions,
    tolerates: Tolerates,
) -> anyhow::Result<Probe> {
    let spec = search(options)?;
    // An AND group's members go in flat (Intercom nests two levels at most).
    let mut filters: Vec<serde_json::Value> = match spec.filter {
        Some(serde_json::Value::Object(group)) if group["operator"] == "AND" => {
            match group.get("value") {
                Some(serde_json::Value::Array(members)) => members.clone(),
                _ => Vec::new(),
            }
        }
        other => other.into_iter().collect(),
    };
    filters.push(crate::api::query::leaf(
        "updated_at",
        ">",
        crate::state::unix_now(),
    ));
    let body = crate::api::query::search_body(crate::api::query::and(filters), 1, None, None);
    Ok((
        format!("POST /{}", spec.path),
        (spec.path, Some(body)),
        tolerates,
    ))
}

/// Send a probe; only whether it succeeded matters.
pub(super) async fn result_of(
    client: &IntercomClient,
    (path, body): (&'static str, Option<serde_json::Value>),
) -> Result<(), crate::http::HttpError> {
    match body {
        Some(body) => client
            .post::<serde_json::Value>(path, &body)
            .await
            .map(|_| ()),
        None => client.get::<serde_json::Value>(path).await.map(|_| ()),
    }
}
