//! The state machine of infra/, run for real: moto's Step Functions engine executes
//! `infra/state-machine.asl.json`, its `lambda:invoke` tasks reach the real function under
//! `cargo lambda watch` (through `lambda_shim.py`, which bridges the emulator's two differences
//! from Lambda's Invoke API), and the function talks to the Fauna simulator and moto's S3.
//!
//! Each test runs one scenario, with its own simulator, function and bucket: a whole export; a
//! retryable error on every copy attempt, so `Retry` and then `Catch` → `Fail` are exercised; a
//! copy paused at its deadline; a corrupt file; giving up after a part was stored; and Lambda's
//! answers for a function timeout (`Sandbox.Timedout`) and for a process that exited
//! (`Runtime.ExitError`) to a first copy invocation, from the shim, which must be retried to
//! success. The only change made to the definition is shorter retry intervals (1 s, no backoff)
//! so the tests do not wait minutes.

use crate::support;
use crate::support::step_functions;

use serde_json::{Value, json};
use step_functions::{Shim, definition};
use support::{Sim, Watch, bucket, export_env, object, open_uploads, s3};

/// Runs one execution of infra/state-machine.asl.json with `input` to its end.
async fn execute(name: &str, input: Value) -> Value {
    step_functions::execute(name, &definition("state-machine.asl.json"), &input).await
}

fn window() -> Value {
    json!({"database": "us-std/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"})
}

/// moto has one Lambda endpoint per test process, which a scenario's shim takes: under nextest
/// (a process per test) the scenarios run side by side, each with its own moto; in one process
/// (`cargo test`) they take turns.
static LAMBDA_ENDPOINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A whole export: request → poll ×4 (Pending, Requested ×2, then Complete) → copy → done, with
/// real poll intervals (1 s growing by half each poll, capped at 2 s), one invocation per step.
#[tokio::test(flavor = "multi_thread")]
async fn the_state_machine_runs_an_export() {
    let _endpoint = LAMBDA_ENDPOINT.lock().await;
    let sim = Sim::start(&["--polls-to-complete", "3", "--file-size", "300000"]);
    let export_bucket = bucket(&s3().await, "state-machine").await;
    let mut env = export_env(&sim, &export_bucket);
    env.retain(|(k, _)| k != "POLL_INTERVAL_SECONDS");
    env.extend([
        ("POLL_INTERVAL_SECONDS".into(), "1".into()),
        ("POLL_INTERVAL_MAX_SECONDS".into(), "2".into()),
    ]);
    let watch = Watch::start(&env);
    let shim = Shim::start(&watch);
    let done = execute("export", window()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    // The waits the jobs asked for, and the Wait state ran once for each job that was not done.
    let events = step_functions::history(done["executionArn"].as_str().expect("arn")).await;
    let steps: Vec<(String, u64)> = step_functions::task_payloads(&events)
        .iter()
        .map(|job| {
            (
                job["step"].as_str().unwrap_or_default().to_owned(),
                job["wait_seconds"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = [
        ("poll", 1),
        ("poll", 1),
        ("poll", 2),
        ("poll", 2),
        ("copy", 0),
        ("done", 0),
    ]
    .iter()
    .map(|(s, w)| ((*s).to_owned(), *w))
    .collect();
    assert_eq!(steps, expected);
    let waits = step_functions::event_types(&events)
        .iter()
        .filter(|t| **t == "WaitStateEntered")
        .count();
    assert_eq!(waits, 5, "{:?}", step_functions::event_types(&events));
    let job: Value = serde_json::from_str(done["output"].as_str().expect("output")).expect("job");
    assert_eq!(job["step"], "done");
    let stored = object(
        &s3().await,
        &export_bucket,
        job["key"].as_str().expect("key"),
    )
    .await
    .expect("the object");
    assert!(stored == sim.file(job["request_id"].as_str().expect("id")).await);
    assert_eq!(shim.invocations().await, 6, "one invocation per step");
    drop((shim, watch, sim));
}

/// Every copy attempt meets expired URLs (DownloadFailed, transient): each copy step stops and
/// counts the failure in the job, which waits and tries again; after MAX_COPY_FAILURES the
/// function returns the job `failed`, and FailedJobError → ExportFailed ends the execution
/// with the job's errorType and message.
#[tokio::test(flavor = "multi_thread")]
async fn the_retry_then_the_catch_end_an_export_that_keeps_failing() {
    let _endpoint = LAMBDA_ENDPOINT.lock().await;
    let sim = Sim::start(&["--polls-to-complete", "0", "--expired-urls", "1000"]);
    let failing_bucket = bucket(&s3().await, "state-machine-fails").await;
    let watch = Watch::start(&export_env(&sim, &failing_bucket));
    let shim = Shim::start(&watch);
    let failed = execute("export-fails", window()).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"], "DownloadFailed", "{failed}");
    assert!(
        failed["cause"].as_str().is_some_and(|c| c.contains("403")),
        "{failed}"
    );
    assert!(
        !failed.to_string().contains("X-Amz-Signature"),
        "no presigned URL in the cause"
    );
    // request, poll, then MAX_COPY_FAILURES copy steps.
    assert_eq!(
        shim.invocations().await,
        2 + u64::from(fauna_logs_export::step::MAX_COPY_FAILURES)
    );
    let events = step_functions::history(failed["executionArn"].as_str().expect("arn")).await;
    let passed_failed_job = events.iter().any(|e| {
        e["type"] == "PassStateEntered" && e["stateEnteredEventDetails"]["name"] == "FailedJobError"
    });
    assert!(
        passed_failed_job,
        "{:?}",
        step_functions::event_types(&events)
    );
    let s3 = s3().await;
    assert_eq!(open_uploads(&s3, &failing_bucket).await, 0);
    drop((shim, watch, sim));
}

/// The deadline reached mid-copy (STEP_TIME_LIMIT_SECONDS=0 takes the Lambda deadline's path:
/// pause at the next part boundary): the copy returns `copy` jobs, the loop runs it again
/// through WhatNext and the Wait, and the object is whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_past_its_deadline_loops_through_the_wait_to_the_whole_object() {
    let _endpoint = LAMBDA_ENDPOINT.lock().await;
    let s3 = s3().await;
    let sim = Sim::start(&["--polls-to-complete", "0", "--file-size", "20000000"]);
    let split_bucket = bucket(&s3, "state-machine-split").await;
    let mut env = export_env(&sim, &split_bucket);
    env.push(("STEP_TIME_LIMIT_SECONDS".into(), "0".into()));
    let watch = Watch::start(&env);
    let shim = Shim::start(&watch);
    let split = execute("export-split", window()).await;
    assert_eq!(split["status"], "SUCCEEDED", "{split}");
    let job: Value = serde_json::from_str(split["output"].as_str().expect("output")).expect("job");
    let key = job["key"].as_str().expect("key");
    let stored = object(&s3, &split_bucket, key).await.expect("the object");
    assert!(stored.len() > 16 << 20, "the file spans three 8 MiB parts");
    assert!(stored == sim.file(job["request_id"].as_str().expect("id")).await);
    // request, poll, then a copy step per part, except that less than a part left is finished
    // rather than paused (where the pause falls depends on the verifier's checkpoint).
    let copies = shim.invocations().await - 2;
    assert!(
        copies >= 2,
        "the copy paused at a part boundary: {copies} copy steps"
    );
    assert_eq!(open_uploads(&s3, &split_bucket).await, 0);
    drop((shim, watch, sim));
}

/// A corrupt file (CorruptLogFile, not retryable): caught at once, nothing stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_file_is_caught_at_once_and_nothing_is_stored() {
    let _endpoint = LAMBDA_ENDPOINT.lock().await;
    let s3 = s3().await;
    let sim = Sim::start(&[
        "--polls-to-complete",
        "0",
        "--file-size",
        "12000000",
        "--corrupt-gzip",
    ]);
    let corrupt_bucket = bucket(&s3, "state-machine-corrupt").await;
    let watch = Watch::start(&export_env(&sim, &corrupt_bucket));
    let shim = Shim::start(&watch);
    let corrupt = execute("export-corrupt", window()).await;
    assert_eq!(corrupt["status"], "FAILED", "{corrupt}");
    assert_eq!(corrupt["error"], "CorruptLogFile", "{corrupt}");
    // request, poll, then copy steps: the emulator's short invocation deadline may pause a copy
    // at a part boundary (two parts here, read twice), and CorruptLogFile is never retried.
    let invocations = shim.invocations().await;
    assert!(
        (3..=2 + 4).contains(&invocations),
        "{invocations} invocations"
    );
    assert!(support::keys(&s3, &corrupt_bucket).await.is_empty());
    assert_eq!(open_uploads(&s3, &corrupt_bucket).await, 0);
    drop((shim, watch, sim));
}

/// Giving up lets go: the copy pauses with a part stored (its upload and copy record in the
/// bucket), then Fauna answers 503 for good. The copy step fails FaunaUnavailable until the
/// Retry runs out; the Catch hands the job, marked failed, to the function (LetGo), which
/// aborts the upload and removes the record; the execution fails with the caught error.
#[tokio::test(flavor = "multi_thread")]
async fn giving_up_lets_go_of_the_upload_and_the_copy_record() {
    let _endpoint = LAMBDA_ENDPOINT.lock().await;
    let s3 = s3().await;
    let sim = Sim::start(&[
        "--polls-to-complete",
        "0",
        "--file-size",
        "20000000",
        "--server-errors-after",
        "3",
    ]);
    let given_up_bucket = bucket(&s3, "state-machine-gives-up").await;
    let mut env = export_env(&sim, &given_up_bucket);
    env.push(("STEP_TIME_LIMIT_SECONDS".into(), "0".into()));
    let watch = Watch::start(&env);
    let shim = Shim::start(&watch);
    let given_up = execute("export-gives-up", window()).await;
    assert_eq!(given_up["status"], "FAILED", "{given_up}");
    assert_eq!(given_up["error"], "FaunaUnavailable", "{given_up}");
    let events = step_functions::history(given_up["executionArn"].as_str().expect("arn")).await;
    let let_go = events
        .iter()
        .any(|e| e["type"] == "TaskStateExited" && e["stateExitedEventDetails"]["name"] == "LetGo");
    assert!(let_go, "{:?}", step_functions::event_types(&events));
    assert_eq!(
        open_uploads(&s3, &given_up_bucket).await,
        0,
        "the upload is aborted"
    );
    assert!(
        support::keys(&s3, &given_up_bucket).await.is_empty(),
        "no copy record, no object: {:?}",
        support::keys(&s3, &given_up_bucket).await
    );
    // request, poll, the copy that paused, the copy step and its 5 retries, LetGo.
    assert_eq!(shim.invocations().await, 2 + 1 + 6 + 1);
    drop((shim, watch, sim));
}

/// An invocation that did not finish: the first copy invocation is answered, without reaching
/// the function, as Lambda answers a function timeout (Sandbox.Timedout) and then, in a second
/// execution, a process that exited (Runtime.ExitError: a panic, an out-of-memory kill). The
/// lambda:invoke integration names the error after that answer's errorType, so the Retry must
/// list those names: the copy is run again with the same job, and the export succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_or_exited_invocation_is_retried_not_caught() {
    let _endpoint = LAMBDA_ENDPOINT.lock().await;
    let s3 = s3().await;
    let sim = Sim::start(&["--polls-to-complete", "0", "--file-size", "300000"]);
    let unfinished_bucket = bucket(&s3, "state-machine-unfinished").await;
    let watch = Watch::start(&export_env(&sim, &unfinished_bucket));
    let shim = Shim::start(&watch);
    for (name, (time_start, time_end), error_type, message) in [
        (
            "export-timed-out",
            ("2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"),
            "Sandbox.Timedout",
            "Task timed out after 900.00 seconds",
        ),
        (
            "export-exited",
            ("2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"),
            "Runtime.ExitError",
            "Runtime exited with error: signal: killed",
        ),
    ] {
        shim.fail_next(
            "copy",
            error_type,
            &format!("RequestId: {{request_id}} Error: {message}"),
        )
        .await;
        let before = shim.invocations().await;
        let mut input = window();
        input["time_start"] = json!(time_start);
        input["time_end"] = json!(time_end);
        let done = execute(name, input).await;
        assert_eq!(done["status"], "SUCCEEDED", "{error_type}: {done}");
        let events = step_functions::history(done["executionArn"].as_str().expect("arn")).await;
        let types = step_functions::event_types(&events);
        // The task failed once, with the answer's errorType and its message as the cause...
        let failures = step_functions::task_failures(&events);
        assert_eq!(failures.len(), 1, "{error_type}: {failures:?}");
        assert_eq!(failures[0].0, error_type, "{failures:?}");
        let cause: Value = serde_json::from_str(&failures[0].1).expect("the cause is the answer");
        assert_eq!(cause["errorType"], error_type, "{cause}");
        assert!(
            cause["errorMessage"]
                .as_str()
                .is_some_and(|m| m.starts_with("RequestId: ") && m.ends_with(message)),
            "{cause}"
        );
        // ...and was scheduled again in RunStep, by the Retry, with the same copy job: not caught.
        let (state, failed_attempt, next_attempt) =
            step_functions::retried_after(&events, error_type);
        assert_eq!(state, "RunStep", "{types:?}");
        assert_eq!(
            failed_attempt["Payload"]["step"], "copy",
            "{failed_attempt}"
        );
        assert_eq!(
            failed_attempt, next_attempt,
            "the retried copy gets the same job"
        );
        assert!(
            !events.iter().any(|e| e["type"] == "PassStateEntered"
                && e["stateEnteredEventDetails"]["name"] == "CaughtError"),
            "{error_type} was caught: {types:?}"
        );
        // The shim answered the failure (the function never saw that invocation); then request,
        // poll, copy (answered by the shim), copy again.
        let failures = shim.failures().await;
        assert_eq!(failures["pending"], json!([]), "{failures}");
        assert_eq!(shim.invocations().await - before, 4, "{types:?}");
        let job: Value =
            serde_json::from_str(done["output"].as_str().expect("output")).expect("job");
        assert_eq!(job["step"], "done");
        let stored = object(&s3, &unfinished_bucket, job["key"].as_str().expect("key"))
            .await
            .expect("the object");
        assert!(stored == sim.file(job["request_id"].as_str().expect("id")).await);
        assert_eq!(open_uploads(&s3, &unfinished_bucket).await, 0);
    }
    let answered = shim.failures().await["answered"].clone();
    let answered: Vec<&str> = answered
        .as_array()
        .expect("answered")
        .iter()
        .map(|a| a["errorType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(answered, ["Sandbox.Timedout", "Runtime.ExitError"]);
}
