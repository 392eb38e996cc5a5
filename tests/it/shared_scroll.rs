//! One companies scroll per run feeds `companies`, `company_tags` and
//! `company_segments` (issue #14): counted in the simulator's request
//! statistics, with the three reports equal to the ground truth.

use std::collections::BTreeMap;

use intercom_export::simulator::SimConfig;

use crate::harness::*;
use crate::scroll::{company_truth, exported_pairs};

/// The simulator's scroll pages hold 50 companies and the scroll ends with
/// an empty page: one pass over 500 companies is 11 requests.
const COMPANIES: usize = 500;
const ONE_PASS: u64 = COMPANIES as u64 / 50 + 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_company_reports_share_one_scroll_per_run() {
    let world = World::start(SimConfig {
        seed: 41,
        contacts: 20,
        conversations: 5,
        parts: 1,
        companies: COMPANIES,
        ..SimConfig::default()
    })
    .await;
    let reports = ["--reports", "companies,company_tags,company_segments"];

    let before = world.by_endpoint().await;
    let out = world.sync(&reports).await;
    assert_ok(&out);
    let first = requests_between(&before, &world.by_endpoint().await);
    assert_eq!(
        first.get("GET /companies/scroll").copied(),
        Some(ONE_PASS),
        "one scroll pass for the three reports: {first:?}"
    );

    let truth = company_truth(&world).await;
    assert_eq!(truth.companies.len(), COMPANIES);
    let mut rows = Vec::new();
    for dir in run_dirs(&world.output(), "companies") {
        rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
    }
    assert_eq!(unique_map(&rows), truth.companies, "companies");
    assert_eq!(
        exported_pairs(&world, "company_tags", "tag_id"),
        truth.tags,
        "company_tags"
    );
    assert_eq!(
        exported_pairs(&world, "company_segments", "segment_id"),
        truth.segments,
        "company_segments"
    );

    // Nothing changed: one scroll pass, no company's segments (no company
    // changed), and no custom attribute declarations (no rows to write).
    let before = world.by_endpoint().await;
    let out = world.sync(&reports).await;
    assert_ok(&out);
    let second = requests_between(&before, &world.by_endpoint().await);
    let expected: BTreeMap<String, u64> = [("GET /companies/scroll".to_string(), ONE_PASS)].into();
    assert_eq!(second, expected, "a sync with nothing changed");
    let text = stdout(&out);
    for report in ["companies", "company_tags", "company_segments"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(report)),
            "{report} ran in the second sync: {text}"
        );
    }
}
