//! The fault matrix (issue #5): one whole export through `fauna-logs-export run` per injected
//! fault, each against its own Fauna simulator and its own bucket in the shared moto S3.
//!
//! A row names the fault (simulator flags, exporter environment, S3 faults injected in front of
//! moto), the outcome it must end in, and bounds on the Fauna API calls and downloads it may cost.
//! Every row checks the outcome and its typed `errorType`; that the stored bytes equal the
//! simulator's file with a manifest beside them, or that nothing is at the key and no manifest
//! either; that no multipart upload is left open; that no secret reached the output; that the
//! counts stay within their bounds; and that the fault really fired. The rows run concurrently
//! and print their measured counts as a markdown table on stderr, the table of
//! docs/reliability.md: `cargo test --all-features --test integration fault_matrix:: -- --nocapture`.
//! `FAULT_MATRIX_ROWS=reset,slow` runs only the rows whose names contain one of those words, and
//! says that the matrix is filtered; `make test` never filters it, and a whole run checks that
//! every row ran. Rows whose outcome depends on time run alone, after the others.
//!
//! The bucket's faults that need no S3 protocol to show (a call that keeps failing, a checksum
//! reported wrong, a refusal) run in-process on the test's clock (`tests/store_faults.rs`); here
//! stay those only a real S3 path shows: the SDK's own retries absorbing a burst, and a body
//! corrupted on the wire.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fauna_logs_export::cli::STEP_RETRIES;
use fauna_logs_export::config::DEFAULT_MAX_REQUEST_ATTEMPTS;
use fauna_logs_export::copy::MAX_RECONNECTS;
use fauna_logs_export::keys::manifest_key;
use fauna_logs_export::retry::RetryPolicy;
use fauna_logs_export::step::{MAX_COPY_FAILURES, MAX_CORRUPT_DOWNLOADS, MAX_RENEWALS};
use serde_json::{Value, json};
use support::in_process::FilesDir;
use support::{Sim, WINDOW, bucket, export, keys, object, open_uploads, s3, s3_faults};
use tokio::sync::OnceCell;

// What the bounds are made of. The simulator's default `--polls-to-complete 2` answers Pending,
// Requested, then Complete, and the exporter's defaults apply unless a row sets them.

/// Status polls of a log request that ends Complete (or Failed, TimedOut).
const POLLS: u64 = 3;
/// Fauna API calls of one log request: the POST and its polls.
const REQUEST_CALLS: u64 = 1 + POLLS;
/// A clean export: one log request, and the status read that starts the copy step.
const CLEAN_CALLS: u64 = REQUEST_CALLS + 1;
/// Runs of one step the CLI makes at most: the first and `STEP_RETRIES` more after a retryable
/// failure, as the state machine's Retry does.
const STEP_RUNS: u64 = 1 + STEP_RETRIES as u64;
/// URL renewals one copy step makes at most. Each renewal answers `CreatingNewUrl`, so a refused
/// download costs a renewal and a status read.
const RENEWALS: u64 = MAX_RENEWALS as u64;
/// Downloads of a corrupt file in one copy step before it fails.
const CORRUPT_DOWNLOADS: u64 = MAX_CORRUPT_DOWNLOADS as u64;
/// Copy steps of a window that may stop on a transient fault before the export fails.
const COPY_FAILURES: u64 = MAX_COPY_FAILURES as u64;
/// Log requests per window when Fauna ends them Failed/TimedOut (`MAX_REQUEST_ATTEMPTS`).
const REQUEST_ATTEMPTS: u64 = DEFAULT_MAX_REQUEST_ATTEMPTS as u64;
/// The rows of the whole matrix: a run that is not filtered checks it ran them all.
const MATRIX_ROWS: usize = 28;
/// A file of two multipart parts (8 MiB and about 3.6 MB).
const TWO_PARTS: &str = "12000000";

/// Attempts per Fauna API call inside one step (`RetryPolicy::default()`, src/retry.rs).
fn attempts() -> u64 {
    u64::from(RetryPolicy::default().max_attempts)
}

/// `n` as a simulator argument (rows hold `&'static str`s; the matrix is built once).
fn number(n: u64) -> &'static str {
    Box::leak(n.to_string().into_boxed_str())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exit 0, `done`: the object's bytes equal the simulator's file, with a manifest beside it.
    Stored,
    /// Exit 1, `failed` with this errorType: nothing at the key, no manifest.
    Failed(&'static str),
}

impl Expect {
    fn describe(self) -> String {
        match self {
            Expect::Stored => "stored, bytes equal".into(),
            Expect::Failed(t) => format!("failed `{t}`, nothing stored"),
        }
    }
}

/// One scenario.
struct Row {
    /// Short name: the bucket's name, and what `FAULT_MATRIX_ROWS` matches.
    name: &'static str,
    /// The fault, in words.
    fault: &'static str,
    sim: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    /// S3 faults on the row's bucket (tests/support/moto_server.py).
    s3: Option<Value>,
    expect: Expect,
    max_api_calls: u64,
    max_downloads: u64,
    /// Simulator counters that show the fault fired, with their exact values.
    fired: Vec<(&'static str, u64)>,
    /// The S3 operation whose fault must have fired, and how often: at least, at most.
    s3_fired: Option<(&'static str, u64, u64)>,
    /// Text the exporter's stderr must hold (what the client saw).
    stderr_has: Vec<&'static str>,
    /// Times the CLI ran a step again after a retryable failure: 0 when the fault is absorbed
    /// inside the step (the client's or the SDK's retries), as it should be for a short burst.
    step_retries: u64,
    /// Runs after the others, by itself: its outcome depends on time (a client timeout), which
    /// a loaded machine must not be able to change.
    alone: bool,
}

impl Row {
    fn new(name: &'static str, fault: &'static str, sim: &[&'static str]) -> Row {
        Row {
            name,
            fault,
            sim: sim.to_vec(),
            env: Vec::new(),
            s3: None,
            expect: Expect::Stored,
            max_api_calls: CLEAN_CALLS,
            max_downloads: 1,
            fired: Vec::new(),
            s3_fired: None,
            stderr_has: Vec::new(),
            step_retries: 0,
            alone: false,
        }
    }

    fn alone(mut self) -> Row {
        self.alone = true;
        self
    }

    fn expect(mut self, expect: Expect) -> Row {
        self.expect = expect;
        self
    }

    fn calls(mut self, max: u64) -> Row {
        self.max_api_calls = max;
        self
    }

    fn downloads(mut self, max: u64) -> Row {
        self.max_downloads = max;
        self
    }

    fn fired(mut self, counter: &'static str, value: u64) -> Row {
        self.fired.push((counter, value));
        self
    }

    fn env(mut self, name: &'static str, value: &'static str) -> Row {
        self.env.push((name, value));
        self
    }

    fn s3(mut self, faults: Value, operation: &'static str, hits: (u64, u64)) -> Row {
        self.s3 = Some(faults);
        self.s3_fired = Some((operation, hits.0, hits.1));
        self
    }

    fn step_retries(mut self, n: u64) -> Row {
        self.step_retries = n;
        self
    }

    fn stderr_has(mut self, text: &'static str) -> Row {
        self.stderr_has.push(text);
        self
    }

    /// How the fault is injected, for the table.
    fn injected(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.sim.is_empty() {
            parts.push(format!("`{}`", self.sim.join(" ")));
        }
        for (k, v) in &self.env {
            parts.push(format!("`{k}={v}`"));
        }
        if let Some(s3) = &self.s3 {
            parts.push(format!("S3 `{s3}`"));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }
}

/// The matrix. Every bound says where it comes from; "+ n" is one extra call per injected fault.
fn rows() -> Vec<Row> {
    let n = attempts();
    vec![
        Row::new("clean", "no fault (the reference counts)", &[]),
        // Each 429 costs one call; Retry-After 1 s is waited out inside the step.
        Row::new(
            "throttle",
            "429 burst with Retry-After: 1",
            &["--throttle", "3", "--retry-after", "1"],
        )
        .calls(CLEAN_CALLS + 3)
        .fired("throttled", 3),
        // Never stops, Retry-After 0: each step run makes its `n` attempts, the CLI runs the step
        // STEP_RUNS times, then the typed error. Exactly, not just at most.
        Row::new(
            "throttle-forever",
            "429 on every call, Retry-After: 0",
            &["--throttle", "1000000", "--retry-after", "0"],
        )
        .expect(Expect::Failed("FaunaUnavailable"))
        .step_retries(STEP_RUNS - 1)
        .calls(STEP_RUNS * n)
        .downloads(0)
        .fired("throttled", STEP_RUNS * n),
        // A Retry-After beyond what a step waits (60 s) is not slept on: one attempt per step run,
        // and the driver (CLI or Step Functions Retry) waits instead.
        Row::new(
            "throttle-long",
            "429 on every call, Retry-After: 3600",
            &["--throttle", "1000000", "--retry-after", "3600"],
        )
        .expect(Expect::Failed("FaunaUnavailable"))
        .step_retries(STEP_RUNS - 1)
        .calls(STEP_RUNS)
        .downloads(0)
        .fired("throttled", STEP_RUNS),
        // n - 1 errors: the last attempt of the first call succeeds.
        Row::new(
            "5xx",
            "503 burst, absorbed inside one call",
            &["--server-errors", number(n - 1)],
        )
        .calls(CLEAN_CALLS + n - 1)
        .fired("server_errors", n - 1),
        // Longer than one step's attempts: the step fails FaunaUnavailable after n, the CLI runs
        // it again, and the last 2 errors are absorbed there.
        Row::new(
            "5xx-long",
            "503 burst longer than one step's attempts",
            &["--server-errors", number(n + 2)],
        )
        .calls(CLEAN_CALLS + n + 2)
        .fired("server_errors", n + 2)
        .step_retries(1)
        .stderr_has("FaunaUnavailable"),
        // The POST takes effect, then its connection is reset (twice): each reset costs a call.
        // All three POSTs reached Fauna, and carried the same idempotency token, so one request
        // was created.
        Row::new(
            "reset",
            "connection reset during an API call (after it took effect)",
            &["--reset-connections", "2"],
        )
        .calls(CLEAN_CALLS + 2)
        .fired("connection_resets", 2)
        .fired("log_requests", 3)
        .fired("requests_created", 1)
        .stderr_has("reset by peer"),
        // The answer comes after 12 s, past FAUNA_TIMEOUT_SECONDS=4: the call times out and is
        // made again, one more call, same request. It runs alone, after the others, and every
        // other call has 4 s, so no load on the machine can time out a call that is not slow.
        Row::new(
            "slow",
            "API answer slower than the client timeout (FAUNA_TIMEOUT_SECONDS)",
            &["--slow-responses", "1", "--slow-response-ms", "12000"],
        )
        .env("FAUNA_TIMEOUT_SECONDS", "4")
        .alone()
        .calls(CLEAN_CALLS + 1)
        .fired("slow_responses", 1)
        .fired("log_requests", 2)
        .fired("requests_created", 1)
        .stderr_has("timed out"),
        // A Failed request costs a whole request cycle more.
        Row::new(
            "failed",
            "request ends Failed once",
            &["--fail-requests", "1", "--fail-state", "Failed"],
        )
        .calls(CLEAN_CALLS + REQUEST_CALLS)
        .fired("log_requests", 2),
        // Not retryable: REQUEST_ATTEMPTS request cycles, then ExportFailed; no copy.
        Row::new(
            "timed-out",
            "request ends TimedOut every time",
            &["--fail-requests", "1000000", "--fail-state", "TimedOut"],
        )
        .expect(Expect::Failed("ExportFailed"))
        .calls(REQUEST_ATTEMPTS * REQUEST_CALLS)
        .downloads(0)
        .fired("log_requests", REQUEST_ATTEMPTS),
        // The undocumented state is one more poll.
        Row::new(
            "unknown-state",
            "undocumented state `InProgress`",
            &["--unknown-state", "InProgress"],
        )
        .calls(CLEAN_CALLS + 1)
        .fired("status_polls", POLLS + 1 + 1)
        .stderr_has("InProgress"),
        // The URL's expiry time is already past: renewed before any download (one renewal, one
        // status read for the CreatingNewUrl answer at most).
        Row::new(
            "expired-before",
            "presigned URL expired before the download",
            &["--expired-urls", "1"],
        )
        .calls(CLEAN_CALLS + 2)
        .fired("url_renewals", 1)
        .fired("expired_url_refusals", 0),
        // The connection drops after 9 MB; the single-use URL then answers 403 "expired": one
        // renewal, the download resumes with Range.
        Row::new(
            "expired-during",
            "presigned URL expires during the download",
            &[
                "--file-size",
                TWO_PARTS,
                "--drop-download-after",
                "9000000",
                "--single-use-urls",
            ],
        )
        .calls(CLEAN_CALLS + 2)
        .downloads(2)
        .fired("expired_url_refusals", 1)
        .fired("url_renewals", 1)
        .fired("range_downloads", 1),
        // Every URL is issued expired: each copy step spends its RENEWALS, each a renewal, a
        // download refused 403 while the renewal is `CreatingNewUrl`, a status read, and another
        // refused download; then it stops, counting a failure in the job. After COPY_FAILURES
        // such steps the export fails DownloadFailed.
        Row::new(
            "expired-forever",
            "every presigned URL expired",
            &["--expired-urls", "1000000"],
        )
        .expect(Expect::Failed("DownloadFailed"))
        .calls(REQUEST_CALLS + COPY_FAILURES * (1 + 2 * RENEWALS))
        .downloads(0)
        .fired("url_renewals", COPY_FAILURES * RENEWALS)
        .fired("expired_url_refusals", COPY_FAILURES * 2 * RENEWALS),
        // The download breaks off after 9 MB and resumes at the next byte.
        Row::new(
            "drop-range",
            "download dropped, Range supported",
            &["--file-size", TWO_PARTS, "--drop-download-after", "9000000"],
        )
        .downloads(2)
        .fired("range_downloads", 1)
        .stderr_has("download resumed with Range"),
        // Without Range the second download starts over; stored parts are checked, not re-sent.
        Row::new(
            "drop-no-range",
            "download dropped, Range ignored",
            &[
                "--file-size",
                TWO_PARTS,
                "--drop-download-after",
                "9000000",
                "--no-range",
            ],
        )
        .downloads(2)
        .fired("range_downloads", 0)
        .stderr_has("ignored Range"),
        // The download goes silent after 9 MB and stays open: the read timeout
        // (DOWNLOAD_READ_TIMEOUT_SECONDS=3) ends it, and it resumes with Range at the next
        // byte. Alone: on a loaded machine a healthy read must not look stalled.
        Row::new(
            "stall",
            "download stalls mid-file (the connection stays open)",
            &[
                "--file-size",
                TWO_PARTS,
                "--stall-download-after",
                "9000000",
                "--stall-downloads",
                "1",
            ],
        )
        .env("DOWNLOAD_READ_TIMEOUT_SECONDS", "3")
        .alone()
        .downloads(2)
        .fired("stalled_downloads", 1)
        .fired("range_downloads", 1)
        .stderr_has("download resumed with Range"),
        // The download goes silent after 3 MB, before the first part is whole, and the step's
        // time (STEP_TIME_LIMIT_SECONDS=1, the Lambda deadline's stand-in) runs out meanwhile:
        // the read gives up PAST_DEADLINE_READ after it, not after the 60 s read timeout and its
        // five reopenings, so the step ends in time; the copy stops (counted in the job) and the
        // next step stores the file. Alone: it depends on time.
        Row::new(
            "stall-past-deadline",
            "download stalls as the step's time runs out",
            &[
                "--file-size",
                TWO_PARTS,
                "--stall-download-after",
                "3000000",
                "--stall-downloads",
                "1",
            ],
        )
        .env("STEP_TIME_LIMIT_SECONDS", "1")
        .alone()
        .calls(CLEAN_CALLS + 1)
        .downloads(2)
        .fired("stalled_downloads", 1)
        .stderr_has("past the step's time limit"),
        // The download breaks off, and the Range request that resumes it is answered with a
        // Content-Range from another byte: refused (BadRange), the copy stops, keeping its first
        // part, and the next copy step continues from it.
        Row::new(
            "wrong-range",
            "206 with the wrong Content-Range",
            &[
                "--file-size",
                TWO_PARTS,
                "--drop-download-after",
                "9000000",
                "--wrong-content-range",
                "1",
            ],
        )
        .calls(CLEAN_CALLS + 1)
        .downloads(3)
        .fired("wrong_content_ranges", 1)
        .stderr_has("answered a Range request"),
        // The URL is expired, and its renewal stays `CreatingNewUrl` for two status reads, with
        // no URL that works meanwhile: the copy renews, is refused once, reads the state
        // (CreatingNewUrl) and becomes a poll; the next poll says CreatingNewUrl, the one after
        // Complete, and the copy downloads: a renewal, three status reads and one more copy
        // status read.
        Row::new(
            "renewal-held",
            "a renewal stays CreatingNewUrl for two status reads",
            &["--expired-urls", "1", "--creating-new-url-polls", "2"],
        )
        .calls(CLEAN_CALLS + 5)
        .fired("url_renewals", 1)
        .fired("renewals_completed", 1)
        .stderr_has("copy → poll"),
        // The request is `CreatingNewUrl` when the copy step starts (its first status read):
        // the copy waits as a poll would, and copies once the request is Complete again.
        Row::new(
            "not-complete-at-copy",
            "the request is CreatingNewUrl when the copy starts",
            &["--state-at-poll", "4=CreatingNewUrl"],
        )
        .calls(CLEAN_CALLS + 2)
        .fired("injected_states", 1)
        .stderr_has("copy → poll"),
        // Found corrupt: downloaded CORRUPT_DOWNLOADS times, then CorruptLogFile (not retried).
        Row::new(
            "corrupt",
            "corrupt gzip",
            &["--file-size", TWO_PARTS, "--corrupt-gzip"],
        )
        .expect(Expect::Failed("CorruptLogFile"))
        .downloads(CORRUPT_DOWNLOADS)
        .fired("downloads", CORRUPT_DOWNLOADS),
        Row::new(
            "truncated",
            "truncated gzip",
            &["--file-size", TWO_PARTS, "--truncate-gzip"],
        )
        .expect(Expect::Failed("CorruptLogFile"))
        .downloads(CORRUPT_DOWNLOADS)
        .fired("downloads", CORRUPT_DOWNLOADS),
        // Two 500s on UploadPart: the SDK's own retries absorb them.
        Row::new(
            "s3-part-burst",
            "S3 UploadPart 500 twice",
            &["--file-size", TWO_PARTS],
        )
        .s3(
            json!({"upload_part": {"status": 500, "count": 2}}),
            "upload_part",
            (2, 2),
        ),
        Row::new(
            "s3-complete-burst",
            "S3 CompleteMultipartUpload 503 twice",
            &["--file-size", TWO_PARTS],
        )
        .s3(
            json!({"complete_multipart_upload": {"status": 503, "count": 2}}),
            "complete_multipart_upload",
            (2, 2),
        ),
        // A part's bytes change on the way (the S3 front flips one): S3 refuses it BadDigest, a
        // 400 the SDK does not retry; the copy stops (ChecksumMismatch, counted in the job) and
        // the next copy step stores the file.
        Row::new(
            "s3-corrupt-part",
            "S3 UploadPart body corrupted in transit once",
            &["--file-size", TWO_PARTS],
        )
        .s3(
            json!({"upload_part": {"corrupt": true, "count": 1}}),
            "upload_part",
            (1, 1),
        )
        .calls(CLEAN_CALLS + 1)
        .downloads(2)
        .stderr_has("BadDigest"),
        // Every download is cut at 60 % of the file, from byte 0 on, with or without Range, and
        // the copy pauses after every part: the first two parts (16 MiB of 30 MB) are stored, one
        // a step; then no step can get further, each stopping after MAX_RECONNECTS reopenings,
        // counted in the job. After MAX_COPY_FAILURES of them the export fails, the upload
        // aborted: 2 + 6 copy steps, their status reads, and 1 + 1 + 6 × 6 downloads, and up to
        // MAX_RECONNECTS more when the second step's read on to its checkpoint meets the cut.
        Row::new(
            "cut-60",
            "every download cut at 60 % of the file, the copy pausing after every part",
            &[
                "--file-size",
                "30000000",
                "--cut-every-download-at-percent",
                "60",
            ],
        )
        .env("STEP_TIME_LIMIT_SECONDS", "0")
        .expect(Expect::Failed("DownloadFailed"))
        .calls(REQUEST_CALLS + 2 + COPY_FAILURES)
        .downloads(2 + COPY_FAILURES * (1 + u64::from(MAX_RECONNECTS)) + u64::from(MAX_RECONNECTS))
        .stderr_has("the copy failed too often"),
        // STEP_TIME_LIMIT_SECONDS=0: the copy pauses after every part while more than a part is
        // left, and the next step reads on from the verifier's checkpoint (HTTP Range), not from
        // byte 0. 30 MB is three 8 MiB parts and 4.8 MB: a part, a pause, a part, a pause, then
        // the rest: three copy steps, three downloads (two resumed with Range).
        Row::new(
            "deadline",
            "Lambda deadline reached mid-copy",
            &["--file-size", "30000000"],
        )
        .env("STEP_TIME_LIMIT_SECONDS", "0")
        .calls(REQUEST_CALLS + 3)
        .downloads(3)
        .fired("downloads", 3)
        .fired("range_downloads", 2)
        .stderr_has("continuing the copy from its checkpoint"),
    ]
}

/// What one row measured.
struct Measured {
    outcome: String,
    step_retries: u64,
    api_calls: u64,
    downloads: u64,
    url_renewals: u64,
    log_requests: u64,
    requests_created: u64,
    s3_hits: Option<u64>,
    seconds: f64,
}

/// Starts a simulator with `args` whose log files live in `files` (`--data-dir`).
async fn start_sim(args: &[&str], files: &Path) -> Sim {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--data-dir".to_owned(), files.display().to_string()]);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Sim::start(&args)
    })
    .await
    .expect("start the simulator")
}

/// Stops a simulator; that waits for its process, so not on a runtime worker.
async fn stop_sim(sim: Sim) {
    tokio::task::spawn_blocking(move || drop(sim))
        .await
        .expect("stop the simulator");
}

/// The simulator flags that decide a log file's bytes.
fn file_flags(sim: &[&'static str]) -> Vec<&'static str> {
    let mut flags = Vec::new();
    let mut args = sim.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--file-size" => flags.extend([*arg, args.next().copied().unwrap_or_default()]),
            "--corrupt-gzip" | "--truncate-gzip" => flags.push(*arg),
            _ => {}
        }
    }
    flags
}

/// The rows' log files: one directory every row's simulator shares (`--data-dir`; a file is
/// named after what decides its bytes), each kind of file generated once, by the first row that
/// needs it, while the others wait. Rows started at once would otherwise each generate the same
/// file, and that is most of the matrix's CPU time. The directory goes when the matrix ends.
struct Files {
    dir: FilesDir,
    kinds: Mutex<HashMap<Vec<&'static str>, Arc<OnceCell<()>>>>,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: FilesDir::new(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Makes sure the file a simulator started with `sim` serves is in the directory.
    async fn prepare(&self, sim: &[&'static str]) {
        let flags = file_flags(sim);
        let cell = {
            let mut kinds = self.kinds.lock().expect("the file kinds");
            Arc::clone(kinds.entry(flags.clone()).or_default())
        };
        cell.get_or_init(|| self.generate(flags)).await;
    }

    /// Has a simulator with `flags` generate its file.
    async fn generate(&self, flags: Vec<&'static str>) {
        let sim = start_sim(&flags, &self.dir.0).await;
        support::make_file(&sim).await;
        stop_sim(sim).await;
    }
}

async fn run_row(row: &Row, files: &Files) -> Measured {
    let started = Instant::now();
    let label = row.name;
    files.prepare(&row.sim).await;
    let sim = start_sim(&row.sim, &files.dir.0).await;
    let s3 = s3().await;
    let bucket = bucket(&s3, &format!("fm-{label}")).await;
    if let Some(faults) = &row.s3 {
        let state = s3_faults(&bucket, faults.clone()).await;
        assert!(
            state.as_object().is_some_and(|o| !o.is_empty()),
            "{label}: S3 faults not set: {state}"
        );
    }
    let run = export(&sim, &bucket, &WINDOW, &row.env).await;

    // No secret anywhere in stdout (the job JSON) or stderr.
    assert!(
        run.job.is_object(),
        "{label}: no job JSON on stdout:\n{}",
        run.stdout
    );
    run.assert_no_secrets();
    for text in &row.stderr_has {
        assert!(
            run.stderr.contains(text),
            "{label}: stderr lacks {text:?}:\n{}",
            run.stderr
        );
    }

    let key = run.job["key"]
        .as_str()
        .expect("the job names its key")
        .to_owned();
    let s3_keys = keys(&s3, &bucket).await;
    assert_eq!(
        open_uploads(&s3, &bucket).await,
        0,
        "{label}: a multipart upload was left open"
    );
    match row.expect {
        Expect::Stored => {
            assert_eq!(
                run.status, 0,
                "{label}: exit status; stderr:\n{}",
                run.stderr
            );
            assert_eq!(run.step(), "done", "{label}: {}", run.stdout);
        }
        Expect::Failed(error_type) => {
            assert_eq!(
                run.status, 1,
                "{label}: exit status; stderr:\n{}",
                run.stderr
            );
            assert_eq!(run.step(), "failed", "{label}: {}", run.stdout);
            assert_eq!(run.error_type(), error_type, "{label}: {}", run.stdout);
        }
    }
    let expected_keys = match row.expect {
        Expect::Stored => vec![key.clone(), manifest_key(&key)],
        Expect::Failed(_) => vec![],
    };
    assert_eq!(s3_keys, expected_keys, "{label}: what the bucket holds");
    if !s3_keys.is_empty() {
        // Whatever is at the key is the source's bytes, whole.
        let request_id = run.job["request_id"]
            .as_str()
            .expect("the job names its request");
        let source = sim.file(request_id).await;
        let stored = object(&s3, &bucket, &key).await;
        assert!(
            stored.as_ref() == Some(&source),
            "{label}: the stored bytes differ from the simulator's file ({:?} stored, {} in the source)",
            stored.as_ref().map(Vec::len),
            source.len()
        );
        if row.expect == Expect::Stored {
            assert_eq!(
                run.job["bytes"].as_u64(),
                Some(source.len() as u64),
                "{label}"
            );
            let manifest = object(&s3, &bucket, &manifest_key(&key))
                .await
                .expect("a manifest");
            let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
            assert_eq!(manifest["request_id"], request_id, "{label}: {manifest}");
            assert_eq!(
                manifest["bytes"].as_u64(),
                Some(source.len() as u64),
                "{label}: {manifest}"
            );
        }
    }

    let step_retries = run.stderr.matches("; trying again in ").count() as u64;
    assert_eq!(
        step_retries, row.step_retries,
        "{label}: steps run again by the CLI:\n{}",
        run.stderr
    );
    let stats = sim.stats().await;
    let count = |name: &str| support::counter(&stats, name);
    let api_calls = count("api_calls");
    let downloads = count("downloads");
    assert!(
        api_calls <= row.max_api_calls,
        "{label}: {api_calls} Fauna API calls, bound {}: {stats}",
        row.max_api_calls
    );
    assert!(
        downloads <= row.max_downloads,
        "{label}: {downloads} downloads, bound {}: {stats}",
        row.max_downloads
    );
    for (name, want) in &row.fired {
        assert_eq!(count(name), *want, "{label}: {name}: {stats}");
    }
    let s3_hits = match row.s3_fired {
        Some((operation, min, max)) => {
            let state = s3_faults(&bucket, json!({})).await;
            let hits = state[operation]["hits"]
                .as_u64()
                .expect("hits in the S3 fault state");
            assert!(
                (min..=max).contains(&hits),
                "{label}: the S3 {operation} fault fired {hits} times, expected {min} to {max}: {state}"
            );
            Some(hits)
        }
        None => None,
    };
    let measured = Measured {
        outcome: row.expect.describe(),
        step_retries,
        api_calls,
        downloads,
        url_renewals: count("url_renewals"),
        log_requests: count("log_requests"),
        requests_created: count("requests_created"),
        s3_hits,
        seconds: started.elapsed().as_secs_f64(),
    };
    stop_sim(sim).await;
    measured
}

fn table_row(row: &Row, m: &Measured) -> String {
    format!(
        "| {} | {} | {} | {} | {} (≤ {}) | {} (≤ {}) | {} | {} | {} | {} | {:.1} |",
        row.fault,
        row.injected(),
        m.outcome,
        m.step_retries,
        m.api_calls,
        row.max_api_calls,
        m.downloads,
        row.max_downloads,
        m.url_renewals,
        m.log_requests,
        m.requests_created,
        match (m.s3_hits, row.s3_fired) {
            (Some(hits), Some((_, min, max))) if min == max => format!("{hits} (= {min})"),
            (Some(hits), Some((_, min, max))) => format!("{hits} ({min}–{max})"),
            _ => "–".to_owned(),
        },
        m.seconds
    )
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".into()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_ends_stored_or_failed_cleanly_within_bounds() {
    let only = std::env::var("FAULT_MATRIX_ROWS").ok();
    let all = rows();
    let total = all.len();
    let rows: Vec<Row> = all
        .into_iter()
        .filter(|r| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|w| r.name.contains(w.trim())))
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "FAULT_MATRIX_ROWS={only:?} matches no row"
    );
    match &only {
        Some(filter) => eprintln!(
            "FAULT_MATRIX_ROWS={filter}: the matrix is FILTERED, {} of its {total} rows run",
            rows.len()
        ),
        None => assert_eq!(
            total, MATRIX_ROWS,
            "rows were added or removed: update MATRIX_ROWS"
        ),
    }
    // Start moto once, before the rows need it.
    let _ = s3().await;
    let started = Instant::now();
    let files = Arc::new(Files::new());
    let (alone, together): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.alone);
    let spawn = |row: Row| {
        let name = row.name;
        let files = Arc::clone(&files);
        let task = tokio::spawn(async move {
            let measured = run_row(&row, &files).await;
            (row, measured)
        });
        (name, task)
    };
    let mut tasks: Vec<_> = together.into_iter().map(spawn).collect();
    // The rows that must not share the machine, one at a time once the others are done.
    let mut outcomes = Vec::new();
    for (name, task) in tasks.drain(..) {
        outcomes.push((name, task.await));
    }
    for row in alone {
        let (name, task) = spawn(row);
        outcomes.push((name, task.await));
    }
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Ok((row, measured)) => lines.push(table_row(&row, &measured)),
            Err(e) => failures.push(format!("{name}: {}", panic_text(e))),
        }
    }
    eprintln!(
        "\n| fault | injected | outcome | step retries | Fauna API calls (bound) | downloads (bound) | URL renewals | log requests answered | created | S3 faults fired (bounds) | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for line in &lines {
        eprintln!("{line}");
    }
    eprintln!(
        "\n{} rows in {:.1} s",
        lines.len() + failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The matrix's row that takes real minutes, run in-process on the test's clock: the renewal
/// of an expired URL stays `CreatingNewUrl` for three minutes. The copy turns into polls at
/// the configured intervals (5 s growing by half to 30 s) until the new URL works, then
/// copies: stored, the simulator's bytes, its manifest beside it, no upload left, nothing
/// retried, at most 17 Fauna calls and one download, one renewal, completed, no secret in the
/// log. The simulator is `fauna_sim::serve` in this runtime, whose clock is paused: both sides
/// read tokio's time, which moves on only while every task waits on it (the copy's verifier,
/// a blocking task, holds it still), so the three minutes pass in milliseconds.
#[tokio::test(start_paused = true)]
async fn a_renewal_held_for_three_minutes_is_polled_through_on_the_test_clock() {
    use fauna_logs_export::job::Step;
    use fauna_logs_export::store::memory::MemoryStore;
    use support::in_process::{export, memory_contents};

    let sim = Sim::in_process(&[
        "--polls-to-complete",
        "0",
        "--expired-urls",
        "1",
        "--slow-renewals",
        "1",
        "--slow-renewal-seconds",
        "180",
    ])
    .await;
    let store = MemoryStore::default();
    let started = tokio::time::Instant::now();
    let run = export(
        &sim,
        store.clone(),
        &[
            ("POLL_INTERVAL_SECONDS", "5"),
            ("POLL_INTERVAL_MAX_SECONDS", "30"),
        ],
    )
    .await;
    let waited = started.elapsed();
    let job = &run.job;

    assert_eq!(job.step, Step::Done, "{job:?}");
    assert!(
        waited >= Duration::from_secs(180),
        "done after {waited:?} on the test's clock: the renewal was not waited out"
    );
    assert_eq!(run.step_retries(), 0, "{}", run.progress);
    let request_id = job.request_id.clone().expect("the job names its request");
    let source = sim.file(&request_id).await;
    let (mut keys, stored, open) = memory_contents(&store, &job.key);
    let mut expected = vec![job.key.clone(), manifest_key(&job.key)];
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected, "what the bucket holds");
    assert_eq!(open, 0, "uploads left open");
    assert!(
        stored.as_ref() == Some(&source),
        "the stored bytes differ from the simulator's file"
    );
    assert_eq!(job.bytes, Some(source.len() as u64));

    let stats = sim.stats().await;
    let count = |name: &str| support::counter(&stats, name);
    assert!(count("api_calls") <= 1 + 1 + 1 + 2 + 12, "{stats}");
    assert!(count("downloads") <= 1, "{stats}");
    assert_eq!(count("url_renewals"), 1, "{stats}");
    assert_eq!(count("renewals_completed"), 1, "{stats}");
    let held = run.log.matches("state=CreatingNewUrl").count();
    assert!(
        held >= 2,
        "the copy did not turn into polls of the held renewal ({held} reads of CreatingNewUrl):\n{}",
        run.log
    );
    run.assert_no_secrets();
}
