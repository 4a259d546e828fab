//! Chaos at scale (issue #13 item 4): a backfill of many windows over several databases with
//! seeded random faults on every side — the simulator's chaos mode (429, 503, resets, `Failed`
//! requests, expired URLs, dropped and stalled downloads), the S3 front's chaos mode (500
//! InternalError on any S3 operation) and SIGKILLs of the exporter at seeded moments — re-run
//! until every window is done. Then: every object equals its source file, every manifest
//! matches its object, no multipart upload is open, no copy record is left, the Fauna API calls
//! and downloads stay within bounds derived from the exporter's retry policy, and neither the
//! account key nor a presigned URL appears in any output. It prints its figures.
//!
//! One seed (`CHAOS_SEED`, printed) decides every fault the servers inject and every kill;
//! which call meets which fault also depends on the order the concurrent exports make their
//! calls, so a failure is reproduced by running the same seed again, not always to the call.
//! The small version (8 windows, one kill) runs in `make test`; the large one (72 windows, 4
//! kills; `CHAOS_HOURS` changes its hours per database) is `#[ignore]`d and run by
//! `make chaos`: `cargo test --all-features --test integration chaos:: -- --ignored --nocapture`.

use crate::support;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fauna_logs_export::cli::STEP_RETRIES;
use fauna_logs_export::config::DEFAULT_MAX_REQUEST_ATTEMPTS;
use fauna_logs_export::copy::MAX_RECONNECTS;
use fauna_logs_export::keys::manifest_key;
use fauna_logs_export::retry::RetryPolicy;
use fauna_logs_export::step::{MAX_COPY_FAILURES, MAX_RENEWALS};
use fauna_logs_export::store::crc32c_base64;
use serde_json::{Value, json};
use support::{
    ACCOUNT_KEY, Sim, bucket, exporter_command, keys, moto, object, records_in, s3, s3_stats,
};

/// The seed when `CHAOS_SEED` is not set.
const DEFAULT_SEED: u64 = 20261130;
/// Size of the files of the small databases; the large one's files take two multipart parts.
const SMALL_FILE: u64 = 256 << 10;
const LARGE_FILE: u64 = 10_000_000;
const LARGE_DATABASE: &str = "us-std/Large";
/// The first window; windows are hours from here.
const FROM: &str = "2026-11-20T00:00:00Z";
/// How long a chaos stall stays silent before the simulator cuts the body.
const STALL_MS: &str = "1500";
/// The signal that ends a killed run.
const SIGKILL: i32 = 9;
/// Ends a run that hangs (a test failure; the kills are the only other reason to stop one).
const RUN_LIMIT: Duration = Duration::from_secs(30 * 60);

// What the bounds are made of: the exporter's retry policy, imported from the crate.

/// Status polls of a log request: the simulator runs with `--polls-to-complete 2`, so Pending,
/// Requested, then Complete.
const POLLS: u64 = 3;
/// Runs of one step the CLI makes at most: the first and `STEP_RETRIES` more.
const STEP_RUNS: u64 = 1 + STEP_RETRIES as u64;
/// Log requests per window when Fauna ends them Failed.
const REQUEST_ATTEMPTS: u64 = DEFAULT_MAX_REQUEST_ATTEMPTS as u64;
/// Copy steps of one window: the transient stops it may survive, and the one that finishes.
const COPY_STEPS: u64 = MAX_COPY_FAILURES as u64 + 1;
const RENEWALS: u64 = MAX_RENEWALS as u64;
const RECONNECTS: u64 = MAX_RECONNECTS as u64;

/// Attempts per Fauna API call inside one step (`RetryPolicy::default()`).
fn attempts() -> u64 {
    u64::from(RetryPolicy::default().max_attempts)
}

/// Fauna API calls one run of one window may make at most. Its steps: per log request (up to
/// REQUEST_ATTEMPTS when they end Failed) a POST and POLLS status reads; per copy step a status
/// read and up to RENEWALS renewals, each answered `CreatingNewUrl` and read again. Each call
/// takes at most `attempts()` tries in a step, and each step is run at most STEP_RUNS times.
fn max_api_calls_per_window_run() -> u64 {
    let calls = REQUEST_ATTEMPTS * (1 + POLLS) + COPY_STEPS * (1 + 2 * RENEWALS);
    calls * attempts() * STEP_RUNS
}

/// Downloads (answered or refused as expired) one run of one window may start at most: per run
/// of a copy step, the first, one per reconnect after a cut and one per renewed URL.
fn max_downloads_per_window_run() -> u64 {
    COPY_STEPS * STEP_RUNS * (1 + RECONNECTS + RENEWALS)
}

/// The size of one chaos run.
struct Scale {
    databases: &'static [&'static str],
    hours: u32,
    concurrency: u32,
    /// Chance of a fault per Fauna API call and per download, and per S3 request.
    fauna_percent: u8,
    s3_percent: u8,
    /// Runs that are SIGKILLed (the first ones).
    kills: u32,
    /// Runs allowed in all: not converging within them fails the test.
    max_runs: u32,
}

impl Scale {
    fn windows(&self) -> u64 {
        self.databases.len() as u64 * u64::from(self.hours)
    }
}

fn seed() -> u64 {
    match std::env::var("CHAOS_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("CHAOS_SEED={text:?} is not a number")),
        Err(_) => DEFAULT_SEED,
    }
}

/// When to SIGKILL a run: once the simulator counts this many API calls, or bytes served.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    ApiCalls(u64),
    BytesServed(u64),
}

impl KillAt {
    async fn reached(self, sim: &Sim) -> bool {
        let stats = sim.stats().await;
        let count = |name: &str| stats[name].as_u64().unwrap_or(0);
        match self {
            KillAt::ApiCalls(n) => count("api_calls") >= n,
            KillAt::BytesServed(n) => count("bytes_served") >= n,
        }
    }
}

/// What one run of `backfill` did.
struct RunOutcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// Windows it set out to export (not skipped), from its first line.
    exporting: u64,
    kill: Option<KillAt>,
    /// When it started and ended, by the wall clock (S3 dates uploads by it).
    began: SystemTime,
    ended: SystemTime,
}

impl RunOutcome {
    fn killed(&self) -> bool {
        self.status.signal() == Some(SIGKILL)
    }

    fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }

    /// Exit 0 with no window failed: every window is done or was done before.
    fn converged(&self) -> bool {
        self.status.code() == Some(0) && self.summary().contains(" 0 failed,")
    }
}

/// `exporting N` from `backfill: W windows; S already exported (skipped); exporting N, ...`.
fn exporting(stderr: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.starts_with("backfill: "))?;
    let rest = line.split("exporting ").nth(1)?;
    rest.split(',').next()?.trim().parse().ok()
}

/// Where one run's output goes: files, so a killed run's output is kept.
fn output_file(bucket: &str, run: u32, stream: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{bucket}-run{run}.{stream}"))
}

fn spawn_backfill(sim: &Sim, bucket: &str, args: &[String], run: u32) -> Child {
    let stdout = File::create(output_file(bucket, run, "out")).expect("create the stdout file");
    let stderr = File::create(output_file(bucket, run, "err")).expect("create the stderr file");
    let mut cmd = exporter_command(sim, bucket, "backfill");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    cmd.spawn().expect("start fauna-logs-export backfill")
}

/// Runs `backfill` once; with `kill`, SIGKILLs it at a moment drawn from `rng` once it says how
/// many windows it exports (unless it ends first).
async fn run_backfill(
    sim: &Sim,
    bucket: &str,
    args: &[String],
    run: u32,
    mean_file: u64,
    mut kill: Option<&mut fastrand::Rng>,
) -> RunOutcome {
    let began = SystemTime::now();
    let mut child = spawn_backfill(sim, bucket, args, run);
    let started = Instant::now();
    let mut kill_at = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the backfill") {
            break status;
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "run {run} did not end within {RUN_LIMIT:?}"
        );
        if let Some(rng) = kill.as_deref_mut() {
            if kill_at.is_none() {
                let stderr =
                    std::fs::read_to_string(output_file(bucket, run, "err")).unwrap_or_default();
                if let Some(windows) = exporting(&stderr).filter(|w| *w > 0) {
                    // A moment anywhere in the first part of the run, which it reaches: each
                    // window it finishes makes at least five API calls (a request, three polls,
                    // a status read) and is served its whole file (on average `mean_file`).
                    let stats = sim.stats().await;
                    let now = |name: &str| stats[name].as_u64().unwrap_or(0);
                    let windows = windows.max(1);
                    kill_at = Some(if rng.bool() {
                        KillAt::ApiCalls(now("api_calls") + rng.u64(1..=4 * windows))
                    } else {
                        let bytes = windows * mean_file / 2;
                        KillAt::BytesServed(now("bytes_served") + rng.u64(1..=bytes))
                    });
                }
            }
            if let Some(at) = kill_at
                && at.reached(sim).await
            {
                // SIGKILL: no chance to clean up, as when Lambda or the OS ends the process.
                let _ = child.kill();
                break child.wait().expect("reap the killed backfill");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let read =
        |stream| std::fs::read_to_string(output_file(bucket, run, stream)).unwrap_or_default();
    let (stdout, stderr) = (read("out"), read("err"));
    for stream in ["out", "err"] {
        let _ = std::fs::remove_file(output_file(bucket, run, stream));
    }
    RunOutcome {
        exporting: exporting(&stderr).unwrap_or(0),
        status,
        stdout,
        stderr,
        kill: kill_at,
        began,
        ended: SystemTime::now(),
    }
}

/// Neither the account key nor a presigned URL's query (`X-Amz-Signature`, `X-Amz-Expires`) is
/// in `text`: every file URL in it ends `?<redacted>`, or without a query.
fn assert_no_secrets(text: &str) -> Result<(), String> {
    if text.contains(ACCOUNT_KEY) {
        return Err("the account key leaked".into());
    }
    for name in ["X-Amz-Signature", "X-Amz-Expires"] {
        if text.contains(name) {
            return Err(format!("a presigned URL's {name} leaked"));
        }
    }
    for (at, _) in text.match_indices(".jsonl.gz?") {
        let query = &text[at + ".jsonl.gz?".len()..];
        if !query.starts_with("<redacted>") {
            let shown: String = query.chars().take(40).collect();
            return Err(format!("a presigned URL's query leaked: ?{shown}"));
        }
    }
    Ok(())
}

#[test]
fn the_secret_check_finds_what_it_looks_for() {
    let url = "http://127.0.0.1:1/files/ab.jsonl.gz";
    assert_eq!(
        assert_no_secrets(&format!("from {url}?<redacted> broke off")),
        Ok(())
    );
    for leak in [
        format!("GET {url}?X-Amz-Expires=60&X-Amz-Signature=00ff"),
        format!("GET {url}?Sig=00ff"),
        format!("key {ACCOUNT_KEY}"),
    ] {
        assert!(assert_no_secrets(&leak).is_err(), "{leak}");
    }
}

/// What the bucket holds at the end.
struct Stored {
    /// Objects stored in more than one part.
    multipart: u64,
    bytes: u64,
}

/// `POST`, `GET` or `DELETE /_chaos/<bucket>` at the S3 front: its chaos state.
async fn s3_chaos(method: reqwest::Method, bucket: &str, body: Option<Value>) -> Value {
    let mut request =
        reqwest::Client::new().request(method, format!("{}/_chaos/{bucket}", moto().endpoint));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("S3 front chaos call");
    let status = response.status();
    let text = response.text().await.expect("S3 front chaos state");
    assert!(status.is_success(), "S3 chaos: {status} {text}");
    serde_json::from_str(&text).expect("S3 chaos state JSON")
}

/// Every stored object equals its source file and has a manifest that matches it; the bucket
/// holds nothing else (no copy record); every planned window has its object; no multipart
/// upload is open.
async fn assert_every_window_stored(
    sim: &Sim,
    bucket: &str,
    scale: &Scale,
    runs: &[RunOutcome],
) -> Stored {
    let s3 = s3().await;
    let mut all = keys(&s3, bucket).await;
    all.sort();
    let objects: Vec<&String> = all.iter().filter(|k| k.ends_with(".jsonl.gz")).collect();
    let manifests: Vec<String> = objects.iter().map(|k| manifest_key(k)).collect();
    let mut expected: Vec<String> = objects
        .iter()
        .map(|k| (*k).clone())
        .chain(manifests)
        .collect();
    expected.sort();
    assert_eq!(
        all, expected,
        "the bucket holds objects and their manifests only"
    );
    assert_eq!(
        objects.len() as u64,
        scale.windows(),
        "one object per window"
    );
    let mut windows_seen = BTreeMap::new();
    let (mut multipart, mut bytes) = (0, 0);
    for key in objects {
        let manifest = object(&s3, bucket, &manifest_key(key))
            .await
            .unwrap_or_else(|| panic!("no manifest beside {key}"));
        let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
        let request_id = manifest["request_id"].as_str().expect("request_id");
        let stored = object(&s3, bucket, key).await.expect("the object");
        let source = sim.file(request_id).await;
        assert!(
            stored == source,
            "{key}: {} bytes stored, the source has {}",
            stored.len(),
            source.len()
        );
        assert_eq!(manifest["key"], key.as_str(), "{manifest}");
        assert_eq!(manifest["bucket"], bucket, "{manifest}");
        assert_eq!(
            manifest["bytes"].as_u64(),
            Some(stored.len() as u64),
            "{manifest}"
        );
        assert_eq!(
            manifest["records"].as_u64(),
            Some(records_in(&stored)),
            "{manifest}"
        );
        assert_eq!(
            manifest["checksum_crc32c"],
            crc32c_base64(crc32c::crc32c(&stored)).as_str(),
            "{manifest}"
        );
        let database = manifest["database"].as_str().unwrap_or_default().to_owned();
        let start = manifest["time_start"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            windows_seen
                .insert((database, start), key.clone())
                .is_none(),
            "two objects for one window: {manifest}"
        );
        bytes += stored.len() as u64;
        if stored.len() as u64 > LARGE_FILE / 2 {
            multipart += 1;
        }
    }
    let databases: std::collections::BTreeSet<&str> =
        windows_seen.keys().map(|(db, _)| db.as_str()).collect();
    assert_eq!(
        databases,
        scale.databases.iter().copied().collect(),
        "every database has its windows"
    );
    let open = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list multipart uploads");
    if let Some(upload) = open.uploads().first() {
        // What the front saw of the key, to tell how the upload came to be left open.
        let key = upload.key().unwrap_or_default();
        let stats = s3_stats(bucket).await;
        let history: Vec<String> = stats["requests"]
            .as_array()
            .map(|requests| {
                requests
                    .iter()
                    .filter(|r| r["key"] == key)
                    .map(|r| format!("{} {}", r["operation"], r["status"]))
                    .collect()
            })
            .unwrap_or_default();
        let killed: Vec<(SystemTime, SystemTime)> = runs
            .iter()
            .filter(|r| r.killed())
            .map(|r| (r.began, r.ended))
            .collect();
        panic!(
            "{} multipart uploads open; the first: {key} {:?}, initiated {:?} (killed runs: {killed:?}); the front saw for the key:\n{}",
            open.uploads().len(),
            upload.upload_id(),
            upload.initiated(),
            history.join("\n")
        );
    }
    Stored { multipart, bytes }
}

async fn chaos_backfill(name: &str, scale: Scale) {
    let started = Instant::now();
    let seed = seed();
    println!(
        "chaos {name}: CHAOS_SEED={seed} ({} windows: {} databases × {} hours)",
        scale.windows(),
        scale.databases.len(),
        scale.hours
    );
    let (fauna_percent, seed_text) = (scale.fauna_percent.to_string(), seed.to_string());
    let large_size = format!("{LARGE_DATABASE}={LARGE_FILE}");
    let small_size = SMALL_FILE.to_string();
    let sim = Sim::start(&[
        "--file-size",
        &small_size,
        "--file-size-for",
        &large_size,
        "--polls-to-complete",
        "2",
        "--retry-after",
        "1",
        "--chaos-seed",
        &seed_text,
        "--chaos-percent",
        &fauna_percent,
        "--chaos-stall-ms",
        STALL_MS,
    ]);
    let bucket = bucket(&s3().await, &format!("chaos-{name}")).await;
    s3_chaos(
        reqwest::Method::POST,
        &bucket,
        Some(json!({"seed": seed, "percent": scale.s3_percent})),
    )
    .await;

    let to = chrono::DateTime::parse_from_rfc3339(FROM).expect("FROM")
        + chrono::Duration::hours(i64::from(scale.hours));
    let mut args: Vec<String> = vec!["--database".into()];
    args.extend(scale.databases.iter().map(|d| (*d).to_owned()));
    args.extend([
        "--from".into(),
        FROM.into(),
        "--to".into(),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "--window".into(),
        "1h".into(),
        "--concurrency".into(),
        scale.concurrency.to_string(),
    ]);

    let mut kills = fastrand::Rng::with_seed(seed);
    let databases = scale.databases.len() as u64;
    let mean_file = (SMALL_FILE * (databases - 1) + LARGE_FILE) / databases;
    let mut runs = Vec::new();
    loop {
        let number = runs.len() as u32;
        assert!(
            number < scale.max_runs,
            "not every window done after {number} runs; the last said:\n{}\n{}",
            runs.last()
                .map(|r: &RunOutcome| r.stdout.as_str())
                .unwrap_or_default(),
            runs.last()
                .map(|r: &RunOutcome| r.stderr.as_str())
                .unwrap_or_default()
        );
        let kill = (number < scale.kills).then_some(&mut kills);
        let run = run_backfill(&sim, &bucket, &args, number, mean_file, kill).await;
        println!(
            "run {}: {} {}; exporting {}{}",
            number + 1,
            if run.killed() { "SIGKILLed" } else { "exited" },
            run.status,
            run.exporting,
            match run.kill {
                Some(at) if run.killed() => format!(", killed at {at:?}"),
                _ => format!(": {}", run.summary()),
            }
        );
        let converged = run.converged();
        runs.push(run);
        if converged {
            break;
        }
    }
    let fauna_chaos = sim.stats().await;
    let s3_chaos_state = s3_chaos(reqwest::Method::DELETE, &bucket, None).await;

    // Secrets: nothing any run printed holds the account key or a presigned URL's credential
    // (its query; docs/security.md: a URL prints only as `scheme://host/path?<redacted>`).
    for (i, run) in runs.iter().enumerate() {
        for text in [&run.stdout, &run.stderr] {
            assert_no_secrets(text).unwrap_or_else(|leak| panic!("run {}: {leak}:\n{text}", i + 1));
        }
    }

    let Stored {
        multipart,
        bytes: stored_bytes,
    } = assert_every_window_stored(&sim, &bucket, &scale, &runs).await;
    assert!(
        multipart > 0,
        "no object of the large database took two parts"
    );

    // Calls and downloads, against the bounds of the retry policy, per run of a window.
    let stats = sim.stats().await;
    let count = |name: &str| support::counter(&stats, name);
    let window_runs: u64 = runs.iter().map(|r| r.exporting).sum();
    let (api_calls, downloads) = (count("api_calls"), count("downloads"));
    let download_starts = downloads + count("expired_url_refusals");
    assert!(window_runs >= scale.windows(), "{window_runs} window runs");
    assert!(
        api_calls <= window_runs * max_api_calls_per_window_run(),
        "{api_calls} API calls for {window_runs} window runs, bound {} each",
        max_api_calls_per_window_run()
    );
    assert!(
        download_starts <= window_runs * max_downloads_per_window_run(),
        "{download_starts} downloads for {window_runs} window runs, bound {} each",
        max_downloads_per_window_run()
    );

    // The faults were injected: both sides' chaos, and the kills planned.
    let chaos = &fauna_chaos["chaos"];
    let fauna_kinds = [
        "throttle",
        "server_error",
        "reset",
        "failed",
        "expired_url",
        "drop",
        "stall",
    ];
    let fauna_faults: u64 = fauna_kinds
        .iter()
        .map(|k| chaos[k].as_u64().unwrap_or(0))
        .sum();
    let s3_injected = s3_chaos_state["injected"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let s3_faults: u64 = s3_injected.values().filter_map(Value::as_u64).sum();
    assert!(
        fauna_faults + s3_faults > 0,
        "no fault injected: {chaos} {s3_chaos_state}"
    );
    let killed = runs.iter().filter(|r| r.killed()).count() as u32;
    let planned_kills = runs
        .iter()
        .take(scale.kills as usize)
        .filter(|r| r.exporting > 0)
        .count() as u32;
    assert_eq!(killed, planned_kills, "every planned kill landed");

    let s3_requests: u64 = s3_stats(&bucket).await["operations"]
        .as_object()
        .map(|ops| ops.values().filter_map(|o| o["requests"].as_u64()).sum())
        .unwrap_or(0);
    let windows = scale.windows();
    let per_window = |n: u64| n as f64 / windows as f64;
    println!("chaos {name} figures (CHAOS_SEED={seed}):");
    println!(
        "  windows: {windows} ({} databases × {} hourly windows, {multipart} of two parts), concurrency {}",
        scale.databases.len(),
        scale.hours,
        scale.concurrency
    );
    println!(
        "  runs: {} ({} re-runs; {killed} SIGKILLed), {window_runs} window runs",
        runs.len(),
        runs.len() - 1
    );
    println!(
        "  Fauna faults ({} % of {} API calls and {} downloads drawn): {}",
        scale.fauna_percent,
        chaos["api_draws"],
        chaos["download_draws"],
        fauna_kinds
            .iter()
            .map(|k| format!("{k} {}", chaos[k]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  S3 faults ({} % of {} requests drawn): 500 InternalError {s3_faults}: {}",
        scale.s3_percent,
        s3_chaos_state["draws"],
        s3_injected
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  per window: {:.1} Fauna API calls (bound {} per window run), {:.2} downloads (bound {}), {:.1} log requests, {:.1} S3 requests",
        per_window(api_calls),
        max_api_calls_per_window_run(),
        per_window(download_starts),
        max_downloads_per_window_run(),
        per_window(count("log_requests")),
        per_window(s3_requests)
    );
    println!(
        "  bytes served: {} for {stored_bytes} stored ({:.2}×)",
        count("bytes_served"),
        count("bytes_served") as f64 / stored_bytes.max(1) as f64
    );
    println!("  wall time: {:.1} s", started.elapsed().as_secs_f64());
}

/// The always-on version, in `make test`: 8 windows, one kill, few faults.
#[tokio::test(flavor = "multi_thread")]
async fn a_small_backfill_under_chaos_ends_with_every_window_stored() {
    chaos_backfill(
        "small",
        Scale {
            databases: &["us-std/Shop", LARGE_DATABASE],
            hours: 4,
            concurrency: 4,
            fauna_percent: 5,
            s3_percent: 3,
            kills: 1,
            max_runs: 8,
        },
    )
    .await;
}

/// `make chaos`: 72 windows (`CHAOS_HOURS` per database), four kills, more faults.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long: run by `make chaos`"]
async fn a_large_backfill_under_chaos_ends_with_every_window_stored() {
    let hours = match std::env::var("CHAOS_HOURS") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("CHAOS_HOURS={text:?} is not a number")),
        Err(_) => 24,
    };
    chaos_backfill(
        "large",
        Scale {
            databases: &["us-std/Shop", "eu-std/Billing", LARGE_DATABASE],
            hours,
            concurrency: 6,
            fauna_percent: 8,
            s3_percent: 5,
            kills: 4,
            max_runs: 16,
        },
    )
    .await;
}
