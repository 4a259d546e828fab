//! The Lambda runtime path, for real: `cargo lambda watch` runs the function under its emulator of
//! the Lambda Runtime API, and `cargo lambda invoke --data-file …` drives it:
//! - one export step by step, feeding each returned job back in, against the simulator and moto,
//!   then failed steps; everything the function printed meanwhile is captured and holds neither
//!   the account key nor a presigned URL's query, and neither does any answer;
//! - issue #5's table of bad inputs, each answered with the typed error that names its field.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::{Sim, Watch, bucket, export_env, object, open_uploads, s3};

/// A fresh directory for one test's payloads and log.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fauna-lambda-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The exporter's environment at log level `debug`, so that the captured output holds everything
/// the function and the libraries under it say at `info` and `debug`.
fn debug_env(sim: &Sim, bucket: &str) -> Vec<(String, String)> {
    let mut env = export_env(sim, bucket);
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push(("RUST_LOG".into(), "debug".into()));
    env
}

/// Asserts that `text` holds no secret: not the account key, not a presigned URL's query (its
/// parameter name, or `signature` when one is given).
fn assert_no_secret(what: &str, text: &str, signature: Option<&str>) {
    assert!(
        !text.contains(support::ACCOUNT_KEY),
        "{what}: the account key leaked:\n{text}"
    );
    assert!(
        !text.contains("X-Amz-Signature"),
        "{what}: a presigned URL's query leaked:\n{text}"
    );
    if let Some(sig) = signature {
        assert!(
            !text.contains(sig),
            "{what}: the presigned URL's signature leaked:\n{text}"
        );
    }
}

/// The `X-Amz-Signature` of the presigned URL Fauna (the simulator) hands out for `request_id`.
async fn presigned_signature(sim: &Sim, request_id: &str) -> String {
    let status = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/logs/{request_id}?type=query&regionGroup=us-std",
            sim.url
        ))
        .bearer_auth(support::ACCOUNT_KEY)
        .send()
        .await
        .expect("status call")
        .text()
        .await
        .expect("status body");
    let (_, query) = status
        .split_once("X-Amz-Signature=")
        .unwrap_or_else(|| panic!("no presigned URL in {status}"));
    let signature: String = query
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert!(signature.len() >= 16, "{status}");
    signature
}

#[tokio::test(flavor = "multi_thread")]
async fn one_export_step_by_step_through_the_lambda_runtime() {
    let sim = Sim::start(&["--polls-to-complete", "1", "--file-size", "200000"]);
    let bucket = bucket(&s3().await, "lambda").await;
    let mut env = debug_env(&sim, &bucket);
    // What a classic EventBridge Scheduled Event exports.
    env.push(("SCHEDULE_DATABASE".into(), "us-std/ECommerce".into()));
    let dir = scratch("export");
    let log = dir.join("watch.log");
    let watch = Watch::start_logged(&env, Some(&log));
    // Every answer, successful or not, to check for secrets at the end.
    let mut answers: Vec<String> = Vec::new();

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/manual-request-database.json");
    let mut job = watch.invoke(&fixture).expect("first step");
    answers.push(job.to_string());
    let mut steps = vec![job["step"].as_str().unwrap_or_default().to_owned()];
    while job["step"] != "done" {
        assert!(steps.len() < 10, "too many steps: {steps:?}");
        let payload = dir.join(format!("step-{}.json", steps.len()));
        std::fs::write(&payload, job.to_string()).expect("write payload");
        job = watch.invoke(&payload).expect("next step");
        answers.push(job.to_string());
        steps.push(job["step"].as_str().unwrap_or_default().to_owned());
    }
    // request → poll (Pending), poll → poll (Requested), poll → copy (Complete), copy → done
    assert_eq!(steps, ["poll", "poll", "copy", "done"]);

    let s3 = s3().await;
    let key = job["key"].as_str().expect("key");
    let stored = object(&s3, &bucket, key).await.expect("object stored");
    let request_id = job["request_id"].as_str().expect("request id");
    let source = sim.file(request_id).await;
    assert!(
        stored == source,
        "stored bytes differ from the simulator's file"
    );
    assert_eq!(open_uploads(&s3, &bucket).await, 0);
    // The presigned URL the copy downloaded from: its signature must appear nowhere.
    let signature = presigned_signature(&sim, request_id).await;

    // Every entry-shape fixture starts an export: its first step is the log request.
    for fixture in [
        "manual-request-database.json",
        "manual-request-region-group.json",
        "scheduler-daily.json",
        "eventbridge-scheduled-event.json",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("events")
            .join(fixture);
        let job = watch
            .invoke(&path)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        answers.push(job.to_string());
        assert_eq!(job["step"], "poll", "{fixture}: {job}");
        assert_eq!(job["attempt"], 1, "{fixture}: {job}");
    }

    // The step fixtures continue a request Fauna does not know here: the typed error comes
    // back through the runtime.
    for fixture in ["step-poll.json", "step-copy-resume.json"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("events")
            .join(fixture);
        let err = watch.invoke(&path).expect_err(fixture);
        assert!(err.contains("FaunaRequestRejected"), "{fixture}: {err}");
        answers.push(err);
    }

    // A bad event is answered with the typed error Step Functions matches on.
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/invalid-window-too-long.json");
    let err = watch
        .invoke(&bad)
        .expect_err("a 151-day window must be refused");
    assert!(err.contains("InvalidJob"), "{err}");
    assert!(err.contains("90 days"), "{err}");
    answers.push(err);

    for answer in &answers {
        assert_no_secret("an answer", answer, Some(&signature));
    }
    // Everything `cargo lambda watch` and the function printed. It is the function's output (so
    // the check below can fail): its step lines on stderr, its metric lines on stdout, and the
    // runtime's report of each failed step.
    drop(watch);
    let output = std::fs::read_to_string(&log).expect("read the watch log");
    assert_eq!(
        output.matches("step done").count(),
        8,
        "one `step done` per successful step:\n{output}"
    );
    assert!(output.contains("step failed"), "{output}");
    assert!(
        output.contains("\"Namespace\":\"FaunaLogsExport\""),
        "{output}"
    );
    assert!(output.contains("FaunaRequestRejected"), "{output}");
    // Each failed step (the two step fixtures) prints its metric line too.
    assert_eq!(
        output
            .lines()
            .filter(|l| l.contains(r#""ErrorType":"FaunaRequestRejected""#)
                && l.contains(r#""StepFailures":1"#))
            .count(),
        2,
        "one metric line per failed step:\n{output}"
    );
    assert!(output.contains("WindowTooLong"), "{output}");
    assert!(output.contains("DEBUG"), "{output}");
    assert_no_secret("the function's output", &output, Some(&signature));
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `cargo lambda invoke` printed for a failed invocation: the `errorType` and the
/// `errorMessage`, unwrapped from its report (`Error: <type>`, then `× <message>` wrapped over
/// `│` lines).
fn error_answer(text: &str) -> (String, String) {
    let mut lines = text.lines();
    let error_type = lines
        .by_ref()
        .find_map(|l| l.strip_prefix("Error: "))
        .unwrap_or_else(|| panic!("not an error report: {text}"))
        .trim()
        .to_owned();
    let message: Vec<&str> = lines
        .map(|l| l.trim().trim_start_matches(['×', '│']).trim())
        .take_while(|l| !l.starts_with("Was this behavior unexpected?"))
        .filter(|l| !l.is_empty())
        .collect();
    (error_type, message.join(" "))
}

const MIB: usize = 1 << 20;

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A row of `events/expected-errors.json`: what the fixture of that name must be answered with.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expected {
    error_type: String,
    names: Vec<String>,
    says: Vec<String>,
}

/// The bad-input table (`events/invalid-*.json`, with what each must produce in
/// `events/expected-errors.json`), through the Lambda runtime: each fixture is answered with its
/// `errorType` (`InvalidJob`, or the runtime's own error for bytes that are not JSON, which never
/// reach the handler) and a message that names its fields. Beside the table, one 1 MiB payload:
/// no answer and no log line echoes it, and none holds a secret.
#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_are_refused_through_the_lambda_runtime() {
    let sim = Sim::start(&[]);
    let env = debug_env(&sim, "never-written");
    let dir = scratch("bad-inputs");
    let log = dir.join("watch.log");
    let watch = Watch::start_logged(&env, Some(&log));
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let table: std::collections::BTreeMap<String, Expected> = serde_json::from_slice(
        &std::fs::read(events.join("expected-errors.json")).expect("read the table"),
    )
    .expect("expected-errors.json");
    assert!(table.len() >= 30, "{} rows", table.len());
    let huge = "A".repeat(MIB);
    let huge_payload = dir.join("huge.json");
    std::fs::write(
        &huge_payload,
        json!({"database": format!("us-std/{huge}"), "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"}).to_string(),
    )
    .expect("write payload");
    let huge_row = Expected {
        error_type: "InvalidJob".into(),
        names: vec!["database".into()],
        says: vec!["over the limit".into()],
    };
    let rows = table
        .iter()
        .map(|(file, expected)| (events.join(file), expected))
        .chain([(huge_payload, &huge_row)]);
    for (path, expected) in rows {
        let case = path.display().to_string();
        let answer = watch
            .invoke(&path)
            .expect_err(&format!("{case}: must be refused"));
        let (got, message) = error_answer(&answer);
        assert_eq!(got, expected.error_type, "{case}: {answer}");
        // `cargo lambda invoke` wraps the message anywhere: compare without whitespace.
        let unwrapped = without_whitespace(&message);
        for name in &expected.names {
            assert!(
                unwrapped.contains(&without_whitespace(&format!("`{name}"))),
                "{case}: the message does not name `{name}`: {message}"
            );
        }
        for text in &expected.says {
            assert!(
                unwrapped.contains(&without_whitespace(text)),
                "{case}: no {text:?} in {message}"
            );
        }
        assert!(
            answer.len() < 4096,
            "{case}: a {}-byte answer echoes the payload",
            answer.len()
        );
        assert_no_secret(&case, &answer, None);
    }

    drop(watch);
    let output = std::fs::read_to_string(&log).expect("read the watch log");
    // The runtime's own report of each refusal is there (so the checks below can fail) ...
    assert!(output.contains("InvalidJob(FieldTooLarge"), "{output}");
    assert!(
        output.contains("Request payload deserialization into LambdaEvent<T> failed"),
        "{output}"
    );
    // ... and it does not echo the huge values.
    assert!(!output.contains(&huge[..4096]), "a huge value was logged");
    assert!(
        output.len() < MIB,
        "{} bytes of output for a few refusals",
        output.len()
    );
    assert_no_secret("the function's output", &output, None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cold start that cannot build its clients (here: the account key's secret does not exist
/// yet) reports why on every invocation, with its `errorType`, and the function recovers by
/// itself once the cause is gone: no crash loop, no restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_cold_start_is_reported_on_each_invocation_then_recovers() {
    let sim = Sim::start(&["--polls-to-complete", "1"]);
    let bucket = bucket(&s3().await, "cold-start").await;
    let secret = format!("fauna-cold-start-{}", std::process::id());
    let mut env = debug_env(&sim, &bucket);
    env.retain(|(k, _)| k != "FAUNA_ACCOUNT_KEY");
    env.push(("FAUNA_ACCOUNT_KEY_SECRET_ARN".into(), secret.clone()));
    let dir = scratch("cold-start");
    let log = dir.join("watch.log");
    let watch = Watch::start_logged(&env, Some(&log));
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/manual-request-database.json");
    for attempt in 1..=2 {
        let err = watch
            .invoke(&fixture)
            .expect_err("no secret yet: the invocation must fail");
        let (error_type, message) = error_answer(&err);
        assert_eq!(error_type, "ConfigError", "attempt {attempt}: {err}");
        assert!(
            message.contains("FAUNA_ACCOUNT_KEY_SECRET_ARN"),
            "attempt {attempt}: {message}"
        );
    }
    assert_eq!(
        sim.stats().await["api_calls"],
        0,
        "no Fauna call without a key"
    );
    support::create_secret(&secret, support::ACCOUNT_KEY).await;
    let job = watch
        .invoke(&fixture)
        .expect("the secret exists now: the same sandbox recovers");
    assert_eq!(job["step"], "poll", "{job}");
    assert_eq!(sim.stats().await["log_requests"], 1);
    drop(watch);
    let output = std::fs::read_to_string(&log).expect("read the watch log");
    assert!(
        output.contains("the function cannot start its clients"),
        "the cold start's failure is logged:\n{output}"
    );
    assert_no_secret("the function's output", &output, None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A backfill whose 1,000 windows all failed: the summary task's answer, through the Lambda
/// runtime, stays far under Step Functions' 256 KiB state limit; it lists the first failures,
/// counts the rest, and names the report object in the bucket that holds every window.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_failed_windows_answer_in_a_few_kilobytes_with_the_full_report_in_the_bucket() {
    let sim = Sim::start(&[]);
    let bucket = bucket(&s3().await, "report").await;
    let env = debug_env(&sim, &bucket);
    let dir = scratch("report");
    let watch = Watch::start(&env);
    let outcomes: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            json!({
                "outcome": "failed",
                "key": format!("fauna-logs/region_group=us-std/database=ECommerce/date=2026-01-01/{i:04}_window.jsonl.gz"),
                "error_type": "DownloadFailed",
            })
        })
        .collect();
    let payload = dir.join("outcomes.json");
    std::fs::write(
        &payload,
        json!({"summarize": {"outcomes": outcomes, "skipped": 0}}).to_string(),
    )
    .expect("write payload");
    let answer = watch.invoke(&payload).expect("the summary");
    let text = answer.to_string();
    assert!(text.len() < 16 * 1024, "a {}-byte answer", text.len());
    assert_eq!(answer["failed"], 1000);
    assert_eq!(
        answer["failures"].as_array().map(Vec::len),
        Some(fauna_logs_export::backfill::MAX_LISTED_FAILURES)
    );
    assert_eq!(
        answer["failures_not_listed"].as_u64(),
        Some(1000 - fauna_logs_export::backfill::MAX_LISTED_FAILURES as u64)
    );
    let report = answer["report"].as_str().expect("the report is named");
    let key = report
        .strip_prefix(&format!("s3://{bucket}/"))
        .expect("in the logs bucket");
    let stored = object(&s3().await, &bucket, key)
        .await
        .expect("the report object");
    let stored: serde_json::Value = serde_json::from_slice(&stored).expect("report JSON");
    assert_eq!(stored["windows"].as_array().map(Vec::len), Some(1000));
    assert!(stored.to_string().contains("0999_window"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The account key is rotated in its secret while a sandbox is warm: the invocation Fauna
/// refuses reads the secret again and goes on with the new key, without a cold start. Before the
/// rotation, the same re-read finds the old key and the step fails `FaunaAuthRejected`.
#[tokio::test(flavor = "multi_thread")]
async fn a_warm_sandbox_follows_a_rotated_account_key() {
    let sim = Sim::start(&["--polls-to-complete", "1"]);
    let bucket = bucket(&s3().await, "rotation").await;
    let secret = format!("fauna-rotated-{}", std::process::id());
    support::create_secret(&secret, "fnacapi_the_old_revoked_key").await;
    let mut env = debug_env(&sim, &bucket);
    env.retain(|(k, _)| k != "FAUNA_ACCOUNT_KEY");
    env.push(("FAUNA_ACCOUNT_KEY_SECRET_ARN".into(), secret.clone()));
    let dir = scratch("rotation");
    let log = dir.join("watch.log");
    let watch = Watch::start_logged(&env, Some(&log));
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/manual-request-database.json");
    let err = watch.invoke(&fixture).expect_err("the old key is refused");
    let (error_type, _) = error_answer(&err);
    assert_eq!(error_type, "FaunaAuthRejected", "{err}");
    support::secrets_manager(
        "PutSecretValue",
        json!({"SecretId": secret, "SecretString": support::ACCOUNT_KEY}),
    )
    .await;
    let job = watch
        .invoke(&fixture)
        .expect("the rotated key is read again and used");
    assert_eq!(job["step"], "poll", "{job}");
    // Fauna refused the old key once per invocation; each time the secret was read again.
    assert_eq!(
        sim.stats().await["unauthorized"],
        2,
        "{}",
        sim.stats().await
    );
    drop(watch);
    let output = std::fs::read_to_string(&log).expect("read the watch log");
    assert!(
        output.contains("its secret holds a new one now"),
        "{output}"
    );
    assert_no_secret("the function's output", &output, None);
    assert!(!output.contains("fnacapi_the_old_revoked_key"), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}
