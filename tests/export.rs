//! End-to-end exports: the `fauna-logs-export run` binary against the Fauna simulator and a moto
//! S3 server, both over HTTP on loopback. Each test checks the stored bytes against the
//! simulator's file (or their absence), that no multipart upload is left open, and that no secret
//! reached the output.

use crate::support;

use std::io::Read;

use fauna_logs_export::keys::manifest_key;
use fauna_logs_export::store::crc32c_base64;
use serde_json::json;
use support::{Run, Sim, bucket, export, keys, object, open_uploads, records_in, s3, s3_faults};

const DAY: [&str; 4] = [
    "--start",
    "2026-11-24T00:00:00Z",
    "--end",
    "2026-11-25T00:00:00Z",
];

fn args<'a>(scope: &[&'a str]) -> Vec<&'a str> {
    scope.iter().chain(DAY.iter()).copied().collect()
}

/// Starts a simulator with `sim_args`, makes a bucket named after the test, and exports
/// `us-std/ECommerce` for one day with `env` added.
async fn export_ecommerce(
    sim_args: &[&str],
    name: &str,
    env: &[(&str, &str)],
) -> (Sim, String, Run) {
    let sim = Sim::start(sim_args);
    let bucket = bucket(&s3().await, name).await;
    let run = export(
        &sim,
        &bucket,
        &args(&["--database", "us-std/ECommerce"]),
        env,
    )
    .await;
    (sim, bucket, run)
}

/// `(downloads, range_downloads)` from the simulator's counters.
async fn downloads(sim: &Sim) -> (u64, u64) {
    let stats = sim.stats().await;
    let count = |name: &str| support::counter(&stats, name);
    (count("downloads"), count("range_downloads"))
}

async fn assert_stored(sim: &Sim, bucket: &str, run: &Run) -> Vec<u8> {
    assert_eq!(run.status, 0, "exit status; stderr:\n{}", run.stderr);
    assert_eq!(run.step(), "done", "{}", run.stdout);
    run.assert_no_secrets();
    let key = run.job["key"].as_str().expect("key in the job");
    let request_id = run.job["request_id"]
        .as_str()
        .expect("request_id in the job");
    let s3 = s3().await;
    let stored = object(&s3, bucket, key)
        .await
        .expect("an object at the key");
    let source = sim.file(request_id).await;
    assert!(!source.is_empty());
    assert!(
        stored == source,
        "stored bytes differ from the simulator's file"
    );
    assert_eq!(run.job["bytes"].as_u64(), Some(source.len() as u64));
    assert_eq!(
        open_uploads(&s3, bucket).await,
        0,
        "a multipart upload was left open"
    );
    assert!(
        !run.stderr.contains("cannot be confirmed"),
        "S3 did not report the checksum:\n{}",
        run.stderr
    );
    let records = records_in(&stored);
    assert_eq!(run.job["records"].as_u64(), Some(records));
    let manifest = manifest(&s3, bucket, key).await;
    assert_eq!(manifest["records"].as_u64(), Some(records));
    assert_eq!(manifest["bytes"].as_u64(), Some(source.len() as u64));
    assert_eq!(manifest["request_id"], request_id);
    assert_eq!(manifest["key"], key);
    assert_eq!(
        manifest["checksum_crc32c"],
        crc32c_base64(crc32c::crc32c(&source)).as_str()
    );
    stored
}

/// The manifest beside an object.
async fn manifest(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> serde_json::Value {
    let body = object(s3, bucket, &manifest_key(key))
        .await
        .expect("a manifest beside the object");
    serde_json::from_slice(&body).expect("manifest JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn large_file_is_copied_byte_for_byte_with_multipart() {
    let (sim, bucket, run) = export_ecommerce(&["--file-size", "20000000"], "large", &[]).await;
    let stored = assert_stored(&sim, &bucket, &run).await;
    assert!(
        stored.len() > 16 << 20,
        "the file must span several 8 MiB parts"
    );
    assert_eq!(
        run.job["key"],
        "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
    );
    // The stored object is Fauna's gzip JSON Lines, intact.
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&stored[..])
        .read_to_string(&mut text)
        .expect("the stored file is valid gzip");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a record")).expect("JSON line");
    assert!(first["TS"].is_string() && first["DATABASE"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn small_region_group_file_is_one_put() {
    let sim = Sim::start(&["--file-size", "100000"]);
    let bucket = bucket(&s3().await, "small").await;
    let run = export(&sim, &bucket, &args(&["--region-group", "eu-std"]), &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert!(
        run.job["key"]
            .as_str()
            .is_some_and(|k| k.contains("region_group=eu-std/database=__all__/"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_state_progression_is_polled_to_completion() {
    let (sim, bucket, run) = export_ecommerce(&["--polls-to-complete", "6"], "slow", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    // six answers of a working state, then the seventh says Complete
    assert_eq!(run.job["polls"].as_u64(), Some(7));
    assert_eq!(run.job["attempt"].as_u64(), Some(1));
}

/// The copy keeps at most MAX_PARTS_IN_FLIGHT parts uploading at once (its memory bound), and
/// does keep that many going: observed at the S3 front, with each part held 2 s there so that
/// parts overlap whenever the copy lets them, even when a loaded machine (tests run side by side)
/// is slow to download the next 8 MiB. 400 ms was too short under that load.
#[tokio::test(flavor = "multi_thread")]
async fn parts_in_flight_stay_within_their_bound() {
    let sim = Sim::start(&["--file-size", "34000000"]);
    let bucket = bucket(&s3().await, "in-flight").await;
    s3_faults(&bucket, json!({"upload_part": {"delay_ms": 2000}})).await;
    let run = export(
        &sim,
        &bucket,
        &args(&["--database", "us-std/ECommerce"]),
        &[("MAX_PARTS_IN_FLIGHT", "2")],
    )
    .await;
    assert_stored(&sim, &bucket, &run).await;
    let stats = support::s3_stats(&bucket).await;
    assert_eq!(stats["operations"]["upload_part"]["requests"], 5, "{stats}");
    assert_eq!(stats["upload_part_in_flight"]["peak"], 2, "{stats}");
}

/// Real poll intervals: 1 s, growing by half each poll, capped at 3 s. The waits each job asked
/// for are the ones the CLI prints after each step (not measured: the clock is not the test).
#[tokio::test(flavor = "multi_thread")]
async fn the_poll_interval_grows_to_its_cap() {
    let env = [
        ("POLL_INTERVAL_SECONDS", "1"),
        ("POLL_INTERVAL_MAX_SECONDS", "3"),
    ];
    let (sim, bucket, run) =
        export_ecommerce(&["--polls-to-complete", "4"], "intervals", &env).await;
    assert_stored(&sim, &bucket, &run).await;
    let transitions: Vec<&str> = run.stderr.lines().filter(|l| l.contains(" → ")).collect();
    assert_eq!(
        transitions,
        [
            "request → poll (next in 1s)",
            "poll → poll (next in 1s)",
            "poll → poll (next in 2s)",
            "poll → poll (next in 3s)",
            "poll → poll (next in 3s)",
            "poll → copy",
            "copy → done",
        ],
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_are_retried() {
    let faults = [
        "--throttle",
        "2",
        "--retry-after",
        "1",
        "--server-errors",
        "2",
    ];
    let (sim, bucket, run) = export_ecommerce(&faults, "flaky", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    let stats = sim.stats().await;
    assert_eq!(stats["throttled"], 2, "{stats}");
    assert_eq!(stats["server_errors"], 2, "{stats}");
    assert_eq!(
        stats["log_requests"], 1,
        "one log request, retried, not several: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_state_is_treated_as_working() {
    let (sim, bucket, run) =
        export_ecommerce(&["--unknown-state", "InProgress"], "unknown", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert!(run.stderr.contains("InProgress"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_request_is_requested_again() {
    let faults = ["--fail-requests", "1", "--fail-state", "Failed"];
    let (sim, bucket, run) = export_ecommerce(&faults, "failed-once", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert_eq!(run.job["attempt"].as_u64(), Some(2));
    assert_eq!(sim.stats().await["log_requests"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_that_keep_timing_out_fail_the_export() {
    let faults = ["--fail-requests", "5", "--fail-state", "TimedOut"];
    let env = [("MAX_REQUEST_ATTEMPTS", "2")];
    let (sim, bucket, run) = export_ecommerce(&faults, "timed-out", &env).await;
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert_eq!(run.step(), "failed");
    assert_eq!(run.error_type(), "ExportFailed");
    assert_eq!(sim.stats().await["log_requests"], 2);
    assert!(keys(&s3().await, &bucket).await.is_empty());
    run.assert_no_secrets();
}

#[tokio::test(flavor = "multi_thread")]
async fn does_not_exist_finishes_with_only_a_manifest() {
    let (_sim, bucket, run) = export_ecommerce(&["--does-not-exist"], "empty", &[]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.step(), "done");
    assert_eq!(run.job["bytes"].as_u64(), Some(0));
    assert_eq!(run.job["records"].as_u64(), Some(0));
    let s3 = s3().await;
    let key = run.job["key"].as_str().expect("key");
    assert_eq!(
        keys(&s3, &bucket).await,
        [manifest_key(key)],
        "only a manifest"
    );
    let manifest = manifest(&s3, &bucket, key).await;
    assert_eq!(manifest["records"], 0);
    assert!(manifest["key"].is_null());
    run.assert_no_secrets();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_key_fails_at_once_without_retries() {
    let env = [("FAUNA_ACCOUNT_KEY", "fnacapi_wrong_key")];
    let (sim, _bucket, run) = export_ecommerce(&[], "unauthorized", &env).await;
    assert_eq!(run.status, 1);
    assert_eq!(run.error_type(), "FaunaAuthRejected", "{}", run.stdout);
    assert!(run.stderr.contains("FAUNA_ACCOUNT_KEY"), "{}", run.stderr);
    assert!(!run.stderr.contains("fnacapi_wrong_key") && !run.stdout.contains("fnacapi_wrong_key"));
    assert_eq!(sim.stats().await["api_calls"], 1, "401 must not be retried");
    run.assert_no_secrets();
}

#[tokio::test(flavor = "multi_thread")]
async fn re_runs_and_concurrent_runs_of_a_window_leave_one_correct_object() {
    let sim = Sim::start(&["--file-size", "12000000"]);
    let bucket = bucket(&s3().await, "same-window").await;
    let args = args(&["--database", "us-std/ECommerce"]);
    let first = export(&sim, &bucket, &args, &[]).await;
    let first_bytes = assert_stored(&sim, &bucket, &first).await;
    // Again, and then twice at once: the same key, overwritten, never duplicated or corrupt.
    let again = export(&sim, &bucket, &args, &[]).await;
    assert_eq!(again.job["key"], first.job["key"]);
    assert!(assert_stored(&sim, &bucket, &again).await == first_bytes);
    let (a, b) = tokio::join!(
        export(&sim, &bucket, &args, &[]),
        export(&sim, &bucket, &args, &[])
    );
    for run in [&a, &b] {
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
    let s3 = s3().await;
    let key = first.job["key"].as_str().expect("key");
    let stored = object(&s3, &bucket, key).await.expect("the object");
    assert!(
        stored == first_bytes,
        "the file after concurrent runs is intact"
    );
    assert_eq!(
        keys(&s3, &bucket).await,
        [key.to_owned(), manifest_key(key)]
    );
    assert_eq!(open_uploads(&s3, &bucket).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_key_can_come_from_secrets_manager() {
    let arn = support::create_secret("fauna-account-key", support::ACCOUNT_KEY).await;
    let env = [
        ("FAUNA_ACCOUNT_KEY", ""),
        ("FAUNA_ACCOUNT_KEY_SECRET_ARN", arn.as_str()),
    ];
    let (sim, bucket, run) = export_ecommerce(&[], "from-secret", &env).await;
    assert_stored(&sim, &bucket, &run).await;

    let env = [
        ("FAUNA_ACCOUNT_KEY", ""),
        (
            "FAUNA_ACCOUNT_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing",
        ),
    ];
    let (sim, _bucket, run) = export_ecommerce(&[], "missing-secret", &env).await;
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("FAUNA_ACCOUNT_KEY_SECRET_ARN"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().await["api_calls"], 0);

    // The console's key/value form: {"FAUNA_ACCOUNT_KEY": "<key>"}.
    let json = serde_json::json!({"FAUNA_ACCOUNT_KEY": support::ACCOUNT_KEY}).to_string();
    let arn = support::create_secret("fauna-account-key-json", &json).await;
    let env = [
        ("FAUNA_ACCOUNT_KEY", ""),
        ("FAUNA_ACCOUNT_KEY_SECRET_ARN", arn.as_str()),
    ];
    let (sim, bucket, run) = export_ecommerce(&[], "json-secret", &env).await;
    assert_stored(&sim, &bucket, &run).await;
    // Another JSON shape is refused, naming the field it must have, never quoting the secret.
    let other = serde_json::json!({"key": support::ACCOUNT_KEY}).to_string();
    let arn = support::create_secret("fauna-account-key-other", &other).await;
    let env = [
        ("FAUNA_ACCOUNT_KEY", ""),
        ("FAUNA_ACCOUNT_KEY_SECRET_ARN", arn.as_str()),
    ];
    let (_sim, _bucket, run) = export_ecommerce(&[], "other-secret", &env).await;
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("\"FAUNA_ACCOUNT_KEY\""),
        "{}",
        run.stderr
    );
    run.assert_no_secrets();
    // Secrets Manager not answering: transient, said so, tried again, and exit 1.
    let env = [
        ("FAUNA_ACCOUNT_KEY", ""),
        ("FAUNA_ACCOUNT_KEY_SECRET_ARN", "fauna-account-key-json"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9"),
    ];
    // Retried as a step is (STEP_RETRIES times), then exit 1, as the README says of transient
    // failures: not 2, which says to fix a setting.
    let (_sim, _bucket, run) = export_ecommerce(&[], "no-secrets-manager", &env).await;
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("trying again in").count() as u32,
        fauna_logs_export::cli::STEP_RETRIES,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cannot be read right now"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_download_resumes_with_range() {
    let faults = [
        "--file-size",
        "20000000",
        "--drop-download-after",
        "9000000",
    ];
    let (sim, bucket, run) = export_ecommerce(&faults, "dropped", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert!(
        run.stderr.contains("download resumed with Range"),
        "{}",
        run.stderr
    );
    assert_eq!(downloads(&sim).await, (2, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_download_without_range_support_starts_over() {
    let faults = [
        "--file-size",
        "20000000",
        "--drop-download-after",
        "9000000",
        "--no-range",
    ];
    let (sim, bucket, run) = export_ecommerce(&faults, "dropped-no-range", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert!(run.stderr.contains("ignored Range"), "{}", run.stderr);
    assert_eq!(downloads(&sim).await, (2, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_url_is_renewed_before_the_copy() {
    let (sim, bucket, run) = export_ecommerce(&["--expired-urls", "1"], "expired", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert_eq!(sim.stats().await["url_renewals"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_expires_during_the_copy_is_renewed_and_the_copy_continues() {
    let faults = [
        "--file-size",
        "20000000",
        "--drop-download-after",
        "9000000",
        "--single-use-urls",
    ];
    let (sim, bucket, run) = export_ecommerce(&faults, "expired-during", &[]).await;
    assert_stored(&sim, &bucket, &run).await;
    assert_eq!(sim.stats().await["url_renewals"], 1);
    assert_eq!(downloads(&sim).await, (2, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_split_across_invocations_is_byte_identical() {
    let env = [("STEP_TIME_LIMIT_SECONDS", "0")];
    let (sim, bucket, run) = export_ecommerce(&["--file-size", "30000000"], "split", &env).await;
    assert_stored(&sim, &bucket, &run).await;
    let pauses = run.stderr.matches("copy → copy").count();
    assert!(
        pauses >= 2,
        "the copy should span several steps:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_and_truncated_files_are_refused_and_never_stored() {
    for fault in ["--corrupt-gzip", "--truncate-gzip"] {
        let name = format!("bad-gzip{fault}");
        let (sim, bucket, run) =
            export_ecommerce(&["--file-size", "20000000", fault], &name, &[]).await;
        assert_eq!(run.status, 1, "{fault}: {}", run.stderr);
        assert_eq!(
            run.error_type(),
            "CorruptLogFile",
            "{fault}: {}",
            run.stdout
        );
        let s3 = s3().await;
        assert!(
            keys(&s3, &bucket).await.is_empty(),
            "{fault}: nothing at the key, no manifest"
        );
        assert_eq!(open_uploads(&s3, &bucket).await, 0, "{fault}");
        assert_eq!(
            downloads(&sim).await.0,
            2,
            "{fault}: downloaded again once, then failed"
        );
        run.assert_no_secrets();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_calling_fauna() {
    let sim = Sim::start(&[]);
    let bucket = bucket(&s3().await, "bad-input").await;
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--database",
                "us-std/ECommerce",
                "--start",
                "2026-01-01T00:00:00Z",
                "--end",
                "2026-04-02T00:00:00Z",
            ],
            "90 days",
        ),
        (
            &[
                "--database",
                "ECommerce",
                "--start",
                "2026-01-01T00:00:00Z",
                "--end",
                "2026-01-02T00:00:00Z",
            ],
            "`database`",
        ),
        (
            &[
                "--region-group",
                "us-std",
                "--start",
                "2026-01-02T00:00:00Z",
                "--end",
                "2026-01-01T00:00:00Z",
            ],
            "before `time_end`",
        ),
        (
            &[
                "--region-group",
                "us-std",
                "--start",
                "yesterday",
                "--end",
                "2026-01-01T00:00:00Z",
            ],
            "RFC 3339",
        ),
    ];
    for (args, expected) in cases {
        let run = export(&sim, &bucket, args, &[]).await;
        assert_eq!(run.status, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    assert_eq!(sim.stats().await["api_calls"], 0);
}
