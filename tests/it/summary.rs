//! The run summary's share of the allowed calls (`allowed_calls_used`,
//! `rate_limit_per_10s`) against the simulator's stated limit and its own
//! request count.

use std::time::Instant;

use intercom_export::simulator::SimConfig;
use serde_json::Value;

use crate::harness::World;

/// `requests ÷ (limit × ⌈seconds ÷ 10⌉)`: a whole window's calls are
/// allowed at once, so a run may use `limit` calls per started 10 s.
fn share(requests: f64, limit: f64, seconds: f64) -> f64 {
    requests / (limit * (seconds / 10.0).ceil())
}

const LIMIT: u32 = 40;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test]
async fn allowed_calls_used_follows_the_stated_limit_and_the_run_time() {
    let world = World::start(SimConfig {
        contacts: 30,
        conversations: 10,
        // Low enough that the old `requests ÷ (limit / 10 × seconds)` put
        // this sub-second run far above 100 %, high enough that the run
        // never waits for a window.
        rate_limit: Some(LIMIT),
        ..SimConfig::default()
    })
    .await;
    let summary_path = world.dir.path().join("summary.json");
    let outer = Instant::now();
    let out = world
        .sync(&[
            "--reports",
            "users,conversations",
            "--summary-json",
            &summary_path.display().to_string(),
        ])
        .await;
    let outer_secs = outer.elapsed().as_secs_f64();
    assert!(out.status.success(), "{out:?}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
            .expect("json");

    // The limit is the one the simulator states, at the run and per report.
    assert_eq!(json["rate_limit_per_10s"], LIMIT, "{json}");
    // The run's requests are the simulator's count of API calls.
    let requests = json["requests"].as_u64().expect("requests");
    assert_eq!(
        Value::from(requests),
        world.sim.sim.stats()["total"],
        "{json}"
    );
    assert!(requests > 0);

    // The pacer kept the limit (no 429), so the share is at most 100 %…
    assert_eq!(json["rate_limited"], 0, "{json}");
    let seconds = json["seconds"].as_f64().expect("seconds");
    let used = json["allowed_calls_used"]
        .as_f64()
        .expect("a share, not null");
    assert!(used > 0.0 && used <= 1.0, "{json}");
    // …its requests over the calls allowed in its own wall seconds…
    assert!(
        close(used, share(requests as f64, f64::from(LIMIT), seconds)),
        "{json}"
    );
    // …and those seconds lie between the reports' span (they run side by
    // side: from the first start to the last end) and the process's.
    let reports = json["reports"].as_array().expect("reports");
    let start = |r: &Value| r["started_secs"].as_f64().expect("started_secs");
    let first_start = reports.iter().map(start).fold(f64::INFINITY, f64::min);
    let last_end = reports
        .iter()
        .map(|r| start(r) + r["seconds"].as_f64().expect("s"))
        .fold(0.0, f64::max);
    let report_secs = last_end - first_start;
    assert!(
        report_secs <= seconds && seconds <= outer_secs,
        "{report_secs} {seconds} {outer_secs}"
    );
    assert!(
        used <= share(requests as f64, f64::from(LIMIT), report_secs),
        "{json}"
    );
    assert!(
        used >= share(requests as f64, f64::from(LIMIT), outer_secs),
        "{json}"
    );

    // Each report: its own requests over its own seconds.
    assert_eq!(reports.len(), 2, "{json}");
    for r in reports {
        assert_eq!(r["rate_limit_per_10s"], LIMIT, "{r}");
        let own = share(
            r["requests"].as_f64().expect("requests"),
            f64::from(LIMIT),
            r["seconds"].as_f64().expect("seconds"),
        );
        let used = r["allowed_calls_used"].as_f64().expect("share");
        assert!(close(used, own) && used <= 1.0, "{r}");
    }

    // The human summary says it, with the configured limit.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = format!(
        "used {:.0} % of the allowed calls over {seconds:.1} s (limit {LIMIT} per 10 s)",
        used * 100.0
    );
    assert!(
        stdout.contains(&line) || stderr.contains(&line),
        "{line}\n{stdout}\n{stderr}"
    );
}

// The case where no response states a limit is in `bugreports.rs` (a fake
// Intercom that sends no `X-RateLimit-*` headers).

/// A run that cannot run (its token is refused) still writes
/// `--summary-json`, so the scheduler reading it learns why: status
/// `failed`, the process's exit code and the error, and never the token.
#[tokio::test]
async fn a_refused_token_still_writes_the_summary_json() {
    let token = "refused-token-3f9a";
    let world = World::start(SimConfig {
        contacts: 10,
        conversations: 5,
        reject_tokens: vec![token.to_string()],
        ..SimConfig::default()
    })
    .await;
    let mut args = crate::crash::sync_args(&world, "sync");
    let json = world.dir.path().join("summary.json");
    args.extend([
        "--reports".to_string(),
        "users,admins".to_string(),
        "--summary-json".to_string(),
        json.display().to_string(),
    ]);
    let out = crate::harness::run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", token)]).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        crate::harness::stderr(&out)
    );
    let text = std::fs::read_to_string(&json).expect("the summary JSON is written");
    assert!(!text.contains(token), "the token is never written: {text}");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(doc["exit_code"], 3, "{doc}");
    let error = doc["error"].as_str().expect("error");
    assert!(
        error.contains("401") || error.contains("refused"),
        "{error}"
    );
    // It says where that token was read from, and only that.
    assert!(
        error.contains("Set a valid token in the INTERCOM_ACCESS_TOKEN environment variable")
            && !error.contains("token_file"),
        "{error}"
    );
}
