//! End-to-end backfills: `fauna-logs-export backfill` against the Fauna simulator and moto S3 over
//! loopback. Several windows of several databases run a few at a time; one of them fails, is named,
//! and is the only one a second run exports; `--force` exports everything again.

use crate::support;

use fauna_logs_export::keys::manifest_key;
use serde_json::Value;
use support::{Run, Sim, backfill, bucket, keys, object, open_uploads, s3};

const RANGE: [&str; 4] = [
    "--from",
    "2026-11-20T00:00:00Z",
    "--to",
    "2026-11-23T00:00:00Z",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    ["--database", "us-std/ECommerce", "us-std/Inventory"]
        .iter()
        .chain(RANGE.iter())
        .chain(["--concurrency", "4"].iter())
        .chain(extra.iter())
        .copied()
        .collect()
}

/// The exported objects (not manifests) in the bucket.
async fn objects(bucket: &str) -> Vec<String> {
    let mut keys = keys(&s3().await, bucket).await;
    keys.retain(|k| k.ends_with(".jsonl.gz"));
    keys.sort();
    keys
}

/// Every stored object equals the simulator's file named by its manifest.
async fn assert_objects_match_the_source(sim: &Sim, bucket: &str) {
    let s3 = s3().await;
    for key in objects(bucket).await {
        let manifest = object(&s3, bucket, &manifest_key(&key))
            .await
            .unwrap_or_else(|| panic!("no manifest beside {key}"));
        let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
        let request_id = manifest["request_id"].as_str().expect("request_id");
        let stored = object(&s3, bucket, &key).await.expect("object");
        assert!(stored == sim.file(request_id).await, "{key} differs");
    }
    assert_eq!(open_uploads(&s3, bucket).await, 0);
}

fn summary_line(run: &Run) -> &str {
    run.stdout.lines().last().unwrap_or_default()
}

async fn log_requests(sim: &Sim) -> u64 {
    sim.stats().await["log_requests"]
        .as_u64()
        .expect("log_requests")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_exports_every_window_names_the_failed_one_and_resumes() {
    // The first log request ends Failed and is not requested again: one window fails.
    let sim = Sim::start(&["--fail-requests", "1", "--fail-state", "Failed"]);
    let bucket = bucket(&s3().await, "backfill").await;
    let env = [("MAX_REQUEST_ATTEMPTS", "1")];

    let first = backfill(&sim, &bucket, &args(&[]), &env).await;
    first.assert_no_secrets();
    assert_eq!(first.status, 1, "{}", first.stderr);
    assert!(
        summary_line(&first)
            .starts_with("6 windows: 5 done, 1 failed, 0 skipped (already exported); failed: "),
        "{}",
        first.stdout
    );
    // A table row per window, and the failed one named with its errorType on stderr.
    assert_eq!(
        first
            .stdout
            .lines()
            .filter(|l| l.starts_with("2026-11-2"))
            .count(),
        6
    );
    assert_eq!(
        first.stdout.matches("FAILED").count(),
        1,
        "{}",
        first.stdout
    );
    assert!(
        first.stderr.contains("error: 1 windows failed:"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains("ExportFailed"), "{}", first.stderr);
    assert_eq!(
        first.stderr.matches("] done ").count(),
        5,
        "{}",
        first.stderr
    );
    // The report of every window, named in the summary line, as the state machine writes it.
    let report_key = keys(&s3().await, &bucket)
        .await
        .into_iter()
        .find(|k| k.contains("_reports/backfill-"))
        .expect("a report of the failed backfill");
    assert!(
        summary_line(&first).contains(&format!("s3://{bucket}/{report_key}")),
        "{}",
        first.stdout
    );
    let body = object(&s3().await, &bucket, &report_key)
        .await
        .expect("the report is stored");
    let report: serde_json::Value = serde_json::from_slice(&body).expect("the report is JSON");
    assert_eq!(
        (report["done"].as_u64(), report["failed"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(report["windows"].as_array().map(Vec::len), Some(6));
    let stored_first = objects(&bucket).await;
    assert_eq!(stored_first.len(), 5);
    assert_eq!(
        keys(&s3().await, &bucket).await.len(),
        11,
        "5 objects, their manifests and the report"
    );
    assert_objects_match_the_source(&sim, &bucket).await;
    assert_eq!(log_requests(&sim).await, 6);
    // --concurrency 4, observed at the simulator: the peak of log requests under way at once
    // (created, their file not yet read to its end).
    assert_eq!(sim.stats().await["max_active_requests"], 4);

    // Again: the five exported windows are skipped; only the failed one is requested.
    let again = backfill(&sim, &bucket, &args(&[]), &env).await;
    again.assert_no_secrets();
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert_eq!(
        summary_line(&again),
        "6 windows: 1 done, 0 failed, 5 skipped (already exported)"
    );
    assert_eq!(log_requests(&sim).await, 7);
    let all = objects(&bucket).await;
    assert_eq!(all.len(), 6);
    // The first run named exactly the window it could not store.
    let named_failed: Vec<&String> = all
        .iter()
        .filter(|k| {
            first
                .stdout
                .contains(&format!("failed: {k} (ExportFailed)"))
        })
        .collect();
    assert_eq!(named_failed.len(), 1, "{}", first.stdout);
    assert!(!stored_first.contains(named_failed[0]));
    assert_objects_match_the_source(&sim, &bucket).await;

    // --force exports every window again, over the same keys.
    let before = objects(&bucket).await;
    let forced = backfill(&sim, &bucket, &args(&["--force"]), &env).await;
    assert_eq!(forced.status, 0, "{}", forced.stderr);
    assert_eq!(
        summary_line(&forced),
        "6 windows: 6 done, 0 failed, 0 skipped (already exported)"
    );
    assert_eq!(log_requests(&sim).await, 13);
    assert_eq!(objects(&bucket).await, before);
    assert_objects_match_the_source(&sim, &bucket).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_backfill_is_refused_before_calling_fauna() {
    let sim = Sim::start(&[]);
    let bucket = bucket(&s3().await, "backfill-bad").await;
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--region-group",
                "us-std",
                "--from",
                "2026-11-20T06:00:00Z",
                "--to",
                "2026-11-21T00:00:00Z",
            ],
            "not on a day (UTC midnight) boundary",
        ),
        (
            &[
                "--region-group",
                "us-std",
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                "2099-01-01T00:00:00Z",
            ],
            "in the future",
        ),
        (
            &[
                "--database",
                "us-std/A",
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                "2026-11-21T00:00:00Z",
                "--window",
                "2h",
            ],
            "--window",
        ),
        (
            &[
                "--database",
                "ECommerce",
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                "2026-11-21T00:00:00Z",
            ],
            "`scopes[0]`",
        ),
    ];
    for (args, expected) in cases {
        let run = backfill(&sim, &bucket, args, &[]).await;
        assert_eq!(run.status, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    assert_eq!(sim.stats().await["api_calls"], 0);
    assert!(keys(&s3().await, &bucket).await.is_empty());
}
