//! The report registry (`reports::ALL`): every report declares what the
//! exporter needs (columns, plan, probes, description, keys), names are
//! unique and round-trip, the declared columns are the ones in `schemas/`,
//! `check` probes exactly the registered reports with the requests their
//! specs declare, and `backfill` names the reports it leaves out in one line.

use std::collections::BTreeSet;
use std::path::Path;

use intercom_export::output::schema::all_columns;
use intercom_export::reports::{
    ALL, Plan, Probe, ReportName, ReportOptions, ReportSpec, range_spec,
};
use intercom_export::simulator::DEFAULT_START_TIME;

use crate::crash::{small_world, sync_args};
use crate::harness::*;

/// A value for each list option a report requires (ids, names, ...), so its
/// plan can be built: `(key, value)` for `--option REPORT.KEY=VALUE`.
fn sample_options(spec: &ReportSpec) -> Vec<(&'static str, &'static str)> {
    spec.options
        .iter()
        .filter(|o| o.choices.is_empty() && o.key != "expand")
        .map(|o| {
            (
                o.key,
                if o.key == "emails" {
                    "a@example.com"
                } else {
                    "1"
                },
            )
        })
        .collect()
}

fn options_of(spec: &ReportSpec) -> ReportOptions {
    let mut options = ReportOptions::default();
    for (key, value) in sample_options(spec) {
        options
            .set(spec.name, key, value, spec.options)
            .expect("valid option");
    }
    options
}

#[test]
fn every_report_declares_columns_plan_probes_and_description() {
    assert_eq!(ALL.len(), ReportName::all().count());
    for spec in ALL {
        let name = spec.name;
        assert!(!spec.description.trim().is_empty(), "{name}: description");
        assert!(!spec.columns.is_empty(), "{name}: columns");
        assert!(!spec.probes.is_empty(), "{name}: probes for check");
        assert!(!spec.keys.primary_key.is_empty(), "{name}: primary key");
        let plan = (spec.plan)(&options_of(spec)).unwrap_or_else(|e| panic!("{name}: plan: {e}"));
        let report: ReportName = name.parse().expect("registered");
        // Backfill by date range is exactly the search plans and the
        // fan-outs that declare a parent search.
        assert_eq!(
            matches!(
                plan,
                Plan::Search(_)
                    | Plan::FanOut {
                        parents: Some(_),
                        ..
                    }
            ),
            range_spec(report, &options_of(spec))
                .expect("plan")
                .is_some(),
            "{name}: {plan:?}"
        );
        if let Plan::Snapshot(requests) = plan {
            assert!(!requests.is_empty(), "{name}: snapshot requests");
        }
        // `expand` is offered exactly where there is something to expand.
        assert_eq!(
            spec.options.iter().any(|o| o.key == "expand"),
            !spec.expandable.is_empty(),
            "{name}: expand option vs expandable objects"
        );
        if let Some(model) = spec.model {
            assert!(
                ["contact", "company", "conversation"].contains(&model),
                "{name}: model {model}"
            );
        }
        if let Some(option) = spec.skip_failed_option {
            assert!(
                spec.options.iter().any(|o| o.key == option.key),
                "{name}: its tolerance option is one of its options"
            );
        }
    }
}

#[test]
fn reports_that_need_an_option_say_which_when_it_is_missing() {
    let mut needing = Vec::new();
    for spec in ALL {
        if sample_options(spec).is_empty() {
            continue;
        }
        if let Err(e) = (spec.plan)(&ReportOptions::default()) {
            let text = e.to_string();
            assert!(text.contains(spec.name), "{}: {text}", spec.name);
            assert!(text.contains("--option"), "{}: {text}", spec.name);
            needing.push(spec.name);
            // Such a report is never exported unless named.
            assert!(!spec.default_enabled, "{}", spec.name);
        }
    }
    assert_eq!(
        needing,
        [
            "lead_by_id",
            "users_by_username",
            "users_by_tag",
            "users_by_segment",
            "users_by_company"
        ]
    );
}

#[test]
fn names_are_unique_round_trip_and_keep_the_registry_order() {
    let names: Vec<&str> = ALL.iter().map(|s| s.name).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "unique names");
    let handles: Vec<ReportName> = ReportName::all().collect();
    for (spec, report) in ALL.iter().zip(&handles) {
        assert_eq!(report.as_str(), spec.name);
        assert_eq!(report.to_string(), spec.name);
        assert_eq!(spec.name.parse::<ReportName>().expect("parses"), *report);
        assert!(std::ptr::eq(report.spec(), *spec));
    }
    // Sorting reports (as the config does) keeps the registry order.
    let mut sorted = handles.clone();
    sorted.reverse();
    sorted.sort();
    assert_eq!(sorted, handles);
    // The handles code names directly point at their own spec.
    assert_eq!(ReportName::Users.as_str(), "users");
    assert_eq!(ReportName::TicketTypes.as_str(), "ticket_types");
    assert_eq!(ReportName::CompanySegments.as_str(), "company_segments");
}

#[test]
fn declared_columns_are_the_columns_in_schemas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for spec in ALL {
        let text = std::fs::read_to_string(dir.join(format!("{}.json", spec.name)))
            .unwrap_or_else(|e| panic!("schemas/{}.json: {e}", spec.name));
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        let on_disk: Vec<&str> = doc["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        let declared: Vec<&str> = all_columns(spec.columns).map(|c| c.name.as_ref()).collect();
        assert_eq!(on_disk, declared, "{}", spec.name);
    }
}

/// The label `check` prints for a declared probe.
fn label(probe: &Probe, spec: &ReportSpec) -> String {
    match probe {
        Probe::Get(path) => format!("GET /{path}"),
        Probe::Post(path) => format!("POST /{path}"),
        Probe::GetUnknown(path) => format!("GET /{}", path.split('?').next().unwrap_or(path)),
        Probe::Search(search) | Probe::HalfSearch(search) => {
            format!("POST /{}", search(&options_of(spec)).expect("search").path)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_exactly_the_registered_reports_with_their_declared_requests() {
    let world = World::start(small_world()).await;
    let config = world.dir.path().join("check.toml");
    // deleted_conversations needs 2.16; older versions skip it.
    std::fs::write(&config, "intercom_version = \"2.16\"\n").expect("config");
    let names: Vec<&str> = ALL.iter().map(|s| s.name).collect();
    let mut args = vec![
        "check".to_string(),
        "--config".into(),
        config.display().to_string(),
        "--base-url".into(),
        world.sim.base_url(),
        "--reports".into(),
        names.join(","),
    ];
    for spec in ALL {
        for (key, value) in sample_options(spec) {
            args.push("--option".into());
            args.push(format!("{}.{key}={value}", spec.name));
        }
    }
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "good")]).await;
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().skip(3).collect();
    let checked: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(checked, names, "one line per registered report, in order");
    for (spec, line) in ALL.iter().zip(&lines) {
        let labels: Vec<String> = spec.probes.iter().map(|p| label(p, spec)).collect();
        let expected = format!("ok ({})", labels.join(", "));
        assert!(line.ends_with(&expected), "{line}\nexpected {expected}");
    }
    // The company reports probe `POST /companies/list` (same scope), once
    // for all three and users_by_company, and never open the workspace's one scroll: a sync right
    // after `check` would otherwise wait a minute for it to expire.
    for report in ["companies", "company_tags", "company_segments"] {
        let line = lines.iter().find(|l| l.starts_with(&format!("{report} ")));
        assert!(
            line.is_some_and(|l| l.ends_with("ok (POST /companies/list?per_page=1)")),
            "{report}: {text}"
        );
    }
    assert_eq!(world.requests_to("POST /companies/list").await, 1);
    assert_eq!(world.requests_to("GET /companies/scroll").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_names_the_reports_it_leaves_out_in_one_line() {
    let world = World::start(small_world()).await;
    let mut args = sync_args(&world, "backfill");
    args.extend(
        [
            "--reports",
            "conversations,conversation_parts,companies,admins,tickets,company_segments",
            "--since",
            &(DEFAULT_START_TIME - 30 * 86_400).to_string(),
            "--until",
            &(DEFAULT_START_TIME + 1).to_string(),
            "--window",
            "30d",
        ]
        .map(String::from),
    );
    let out = run_cli(
        &args,
        &[("INTERCOM_ACCESS_TOKEN", "t"), ("RUST_LOG", "warn")],
    )
    .await;
    assert_ok(&out);
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("cannot be exported by date range"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for all left-out reports: {err}");
    assert!(
        lines[0].contains("companies, company_segments, admins"),
        "{}",
        lines[0]
    );
    for exported in ["tickets", "conversation_parts"] {
        assert!(!lines[0].contains(exported), "{}", lines[0]);
    }
    // The searchable reports (and fan-outs over a search) were exported,
    // the others not.
    for exported in ["conversations", "tickets", "conversation_parts"] {
        assert!(
            !run_dirs(&world.output(), exported).is_empty(),
            "{exported}"
        );
    }
    for left_out in ["companies", "company_segments", "admins"] {
        assert!(run_dirs(&world.output(), left_out).is_empty(), "{left_out}");
    }
}
