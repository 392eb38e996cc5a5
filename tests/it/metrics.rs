//! `schedule --metrics-addr`: `/metrics` during a schedule run shows the rows
//! of every report it synced, equal to the run summary and the truth.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::crash::{REPORTS, small_world, sync_args, truth_of};
use crate::harness::*;

/// A port nobody listens on now (bound, then freed).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `series{labels} value` lines of one metric, by their `report` label.
fn by_report(text: &str, metric: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .map(|l| {
            let report = l
                .split("report=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .expect("report label");
            let value = l
                .rsplit(' ')
                .next()
                .expect("value")
                .parse()
                .expect("number");
            (report.to_string(), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_metrics_show_the_rows_of_every_synced_report() {
    let world = World::start(small_world()).await;
    let port = free_port();
    let summary_path = world.dir.path().join("summary.json");
    let mut args = sync_args(&world, "schedule");
    args.extend(
        [
            "--every",
            "1h",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--summary-json",
            &summary_path.display().to_string(),
        ]
        .map(String::from),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(&args)
        .env("INTERCOM_ACCESS_TOKEN", "t")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // Scrape until the first scheduled run is in (the process keeps running).
    let mut text = String::new();
    for _ in 0..3000 {
        if let Ok(resp) = client.get(format!("{base}/metrics")).send().await {
            assert_eq!(resp.status(), 200);
            let content_type = resp.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .to_string();
            assert!(
                content_type.starts_with("text/plain; version=0.0.4"),
                "{content_type}"
            );
            text = resp.text().await.expect("body");
            if text.contains("intercom_export_runs_total{") {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        text.contains(
            "intercom_export_runs_total{workspace=\"\",mode=\"schedule\",status=\"succeeded\"} 1"
        ),
        "{text}"
    );
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(
        child.try_wait().expect("wait").is_none(),
        "schedule still runs"
    );

    // The summary file is written after the run is recorded: wait for it.
    let mut summary = Value::Null;
    for _ in 0..500 {
        if let Some(v) = std::fs::read(&summary_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            summary = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let rows = by_report(&text, "intercom_export_rows_total");
    let requests = by_report(&text, "intercom_export_requests_total");
    let success = by_report(&text, "intercom_export_last_success_timestamp_seconds");
    let lag = by_report(&text, "intercom_export_lag_seconds");
    let reports = summary["reports"].as_array().expect("reports");
    assert_eq!(
        rows.len(),
        reports.len(),
        "one series per synced report\n{text}"
    );
    for r in reports {
        let name = r["report"].as_str().expect("report");
        assert_eq!(
            rows[name],
            r["rows"].as_f64().expect("rows"),
            "{name} rows = summary"
        );
        assert_eq!(
            requests[name],
            r["requests"].as_f64().expect("requests"),
            "{name}"
        );
        assert!(success[name] > 0.0, "{name} succeeded");
        assert!(lag[name] >= 0.0, "{name}");
    }
    for (report, _, _) in REPORTS {
        let truth = truth_of(&world, report).await.len() as f64;
        assert!(truth > 0.0);
        assert_eq!(rows[report], truth, "{report} rows = truth");
    }
    let pid = child.id().expect("pid") as i32;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().await.expect("exits").code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_exits_2_naming_it() {
    let world = World::start(small_world()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let mut args = sync_args(&world, "schedule");
    args.extend(["--every", "1h", "--metrics-addr", &addr].map(String::from));
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("--metrics-addr {addr}")),
        "{}",
        stderr(&out)
    );
}
