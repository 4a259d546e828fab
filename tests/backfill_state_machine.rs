//! The backfill state machine of infra/ (`backfill.asl.json`).
//!
//! - Its export loop can never drift from the export state machine's: the Distributed Map's
//!   `RunStep`, `WhatNext`, `WaitBeforeNextStep` and the give-up states (`CaughtError`,
//!   `AsFailedJob`, `LetGo`, `FailedJobError`) must equal `state-machine.asl.json`'s.
//! - Run for real in moto's Step Functions engine (which executes Distributed Map states and
//!   `MaxConcurrencyPath`), against the function under `cargo lambda watch`, the Fauna simulator
//!   and moto's S3: a plan of 2 scopes × 2 days where the simulator fails the first log request
//!   and the function requests a window only once, so exactly one window fails; the execution
//!   fails with `BackfillIncomplete` naming it, every other window is stored; the same plan run
//!   again exports only the failed window. The only change made to the definition is shorter
//!   retry intervals (1 s, no backoff).
//! - History events: the parent's history does not grow with the windows; one export's (a child
//!   execution's) is 9 per step + 2, measured on the Map's item processor run on its own, since
//!   moto keeps no history for the child executions of a Distributed Map (docs/backfill.md).

use crate::support;
use crate::support::step_functions;

use std::collections::BTreeSet;

use chrono::{DurationRound, TimeDelta, Utc};
use fauna_logs_export::keys::manifest_key;
use fauna_logs_export::time::rfc3339;
use serde_json::{Value, json};
use step_functions::{
    Shim, as_written, create_state_machine, definition, event_types, history, sfn, start_execution,
    task_payloads, wait_for_end,
};
use support::{Sim, Watch, bucket, export_env, object, s3};

/// Every `Next` and `Default` in `states` names a state of `states`.
fn assert_transitions_land(states: &Value, what: &str) {
    let names: BTreeSet<&String> = states.as_object().expect("States").keys().collect();
    for (name, state) in states.as_object().expect("States") {
        let mut targets: Vec<&Value> = vec![&state["Next"], &state["Default"]];
        for list in ["Choices", "Catch"] {
            targets.extend(
                state[list]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| &c["Next"]),
            );
        }
        for target in targets.into_iter().filter_map(Value::as_str) {
            assert!(
                names.contains(&target.to_owned()),
                "{what}: {name} goes to {target}, which is not a state"
            );
        }
    }
}

#[test]
fn the_backfill_runs_the_export_loop_unchanged() {
    let export = as_written("state-machine.asl.json");
    let backfill = as_written("backfill.asl.json");
    let each = &backfill["States"]["ExportEach"];
    let processor = &each["ItemProcessor"];

    // The loop: the same start and the same four states, Retry and Catch included.
    assert_eq!(processor["StartAt"], export["StartAt"]);
    for state in [
        "RunStep",
        "WhatNext",
        "WaitBeforeNextStep",
        "CaughtError",
        "AsFailedJob",
        "LetGo",
        "FailedJobError",
    ] {
        assert!(processor["States"][state].is_object(), "no {state}");
        assert_eq!(
            processor["States"][state], export["States"][state],
            "the backfill's {state} differs from state-machine.asl.json's: change both"
        );
    }
    // Only the two ends differ: they turn the job into the item's outcome instead of ending the
    // execution, so a failed window does not fail the Map.
    let names: BTreeSet<&str> = processor["States"]
        .as_object()
        .expect("States")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "RunStep",
        "WhatNext",
        "WaitBeforeNextStep",
        "CaughtError",
        "AsFailedJob",
        "LetGo",
        "FailedJobError",
        "ExportDone",
        "ExportFailed",
    ]
    .into();
    assert_eq!(names, expected);
    assert_eq!(
        processor["States"]["ExportDone"],
        json!({"Type": "Pass", "Parameters": {"outcome": "done", "key.$": "$.key", "bytes.$": "$.bytes", "records.$": "$.records"}, "End": true})
    );
    assert_eq!(
        processor["States"]["ExportFailed"],
        json!({"Type": "Pass", "Parameters": {"outcome": "failed", "key.$": "$.key", "error_type.$": "$.error.Error"}, "End": true})
    );
    assert_transitions_land(&processor["States"], "the item processor");
    assert_transitions_land(&backfill["States"], "the backfill");
    assert_transitions_land(&export["States"], "the export");

    // The Map: one standard child execution per window (its own history), as many at once as
    // the plan says, every outcome kept, the outcomes replacing the windows.
    assert_eq!(each["Type"], "Map");
    assert_eq!(
        processor["ProcessorConfig"],
        json!({"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"})
    );
    assert_eq!(each["ItemsPath"], "$.windows");
    assert_eq!(each["MaxConcurrencyPath"], "$.max_concurrency");
    assert_eq!(each["ToleratedFailurePercentage"].as_f64(), Some(100.0));
    assert_eq!(each["ResultPath"], "$.windows");
    // Plan and Summarize call the same function as the loop.
    for task in ["Plan", "Summarize"] {
        assert_eq!(
            backfill["States"][task]["Parameters"]["FunctionName"],
            export["States"]["RunStep"]["Parameters"]["FunctionName"]
        );
        assert_eq!(backfill["States"][task]["OutputPath"], "$.Payload");
    }
    // Summarize writes the report to the bucket and may start cold (the secret): it retries as
    // Plan does, S3Unavailable and SecretUnavailable included, so one S3 500 while it writes does
    // not end a backfill that exported its windows.
    let plan_retry = &backfill["States"]["Plan"]["Retry"];
    assert_eq!(
        backfill["States"]["Summarize"]["Retry"], *plan_retry,
        "Summarize retries as Plan does"
    );
    let s3_retrier = plan_retry
        .as_array()
        .expect("Plan's Retry")
        .iter()
        .find(|r| r["ErrorEquals"] == json!(["S3Unavailable", "SecretUnavailable"]))
        .expect("Plan retries S3Unavailable and SecretUnavailable");
    assert!(
        backfill["States"]["Summarize"]["Retry"]
            .as_array()
            .expect("Summarize's Retry")
            .contains(s3_retrier),
        "Summarize retries S3Unavailable and SecretUnavailable"
    );
    assert_eq!(
        backfill["States"]["BackfillIncomplete"]["Error"],
        "BackfillIncomplete"
    );

    // The stack deploys this file.
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))
            .expect("infra/template.yaml");
    assert!(template.contains("DefinitionUri: backfill.asl.json"));
}

/// Starts an execution of the backfill and waits for its end: its description and history.
async fn run_backfill(machine: &str, name: &str, plan: &Value) -> (Value, Vec<Value>) {
    let execution = start_execution(machine, name, plan).await;
    let described = wait_for_end(&execution).await;
    let events = history(&execution).await;
    (described, events)
}

/// The one Map Run of an execution, described.
async fn map_run(execution: &str) -> Value {
    let runs = sfn("ListMapRuns", json!({"executionArn": execution})).await;
    let runs = runs["mapRuns"].as_array().expect("mapRuns");
    assert_eq!(runs.len(), 1, "one Map Run: {runs:?}");
    sfn("DescribeMapRun", json!({"mapRunArn": runs[0]["mapRunArn"]})).await
}

/// Stored object and the simulator's file for a window exported by `key`'s manifest's request.
async fn assert_stored(sim: &Sim, bucket: &str, key: &str) {
    let s3 = s3().await;
    let manifest = object(&s3, bucket, &manifest_key(key))
        .await
        .unwrap_or_else(|| panic!("no manifest for {key}"));
    let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
    assert_eq!(manifest["key"], key);
    let stored = object(&s3, bucket, key)
        .await
        .unwrap_or_else(|| panic!("no object at {key}"));
    let request_id = manifest["request_id"].as_str().expect("request_id");
    assert!(
        stored == sim.file(request_id).await,
        "{key} differs from the simulator's file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_exports_every_window_and_names_the_one_that_failed() {
    // The simulator fails the first log request it receives, and the function requests a window
    // once (MAX_REQUEST_ATTEMPTS=1): exactly one window fails, whichever the Map started first.
    let sim = Sim::start(&[
        "--polls-to-complete",
        "1",
        "--file-size",
        "200000",
        "--fail-requests",
        "1",
        "--fail-state",
        "Failed",
    ]);
    let bucket = bucket(&s3().await, "backfill-state-machine").await;
    let mut env = export_env(&sim, &bucket);
    env.push(("MAX_REQUEST_ATTEMPTS".into(), "1".into()));
    let watch = Watch::start(&env);
    let shim = Shim::start(&watch);
    let machine = create_state_machine("backfill", &definition("backfill.asl.json")).await;

    // 2 scopes × the last 2 whole days: 4 windows, at most 2 exports at once.
    // The last whole day whose logs are all in (the schedule's lag, an hour by default, after
    // its end).
    let today = (Utc::now() - TimeDelta::hours(2))
        .duration_trunc(TimeDelta::days(1))
        .expect("midnight");
    let from = today - TimeDelta::days(2);
    let plan = json!({
        "scopes": [{"database": "us-std/ECommerce"}, {"region_group": "eu-std"}],
        "from": rfc3339(from),
        "to": rfc3339(today),
        "granularity": "day",
        "max_concurrency": 2,
    });

    let (first, events) = run_backfill(&machine, "first", &plan).await;
    assert_eq!(first["status"], "FAILED", "{first}");
    assert_eq!(first["error"], "BackfillIncomplete", "{first}");
    let cause = first["cause"].as_str().expect("cause");
    let payloads = task_payloads(&events);
    assert_eq!(payloads.len(), 2, "Plan and Summarize: {payloads:?}");
    let (planned, summary) = (&payloads[0], &payloads[1]);
    assert_eq!(
        (planned["planned"].as_u64(), planned["skipped"].as_u64()),
        (Some(4), Some(0))
    );
    let keys: Vec<&str> = planned["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .map(|w| w["key"].as_str().expect("each window has its key"))
        .collect();
    assert_eq!(keys.len(), 4);
    assert_eq!(
        (
            summary["done"].as_u64(),
            summary["failed"].as_u64(),
            summary["skipped"].as_u64()
        ),
        (Some(3), Some(1), Some(0)),
        "{summary}"
    );
    let failed: Vec<&str> = keys.iter().copied().filter(|k| cause.contains(k)).collect();
    assert_eq!(failed.len(), 1, "the cause names one window: {cause}");
    let failed = failed[0];
    assert!(cause.contains("ExportFailed"), "{cause}");
    assert_eq!(summary["failures"][0]["key"], failed);
    assert_eq!(summary["failures"][0]["error_type"], "ExportFailed");
    for key in keys.iter().filter(|k| **k != failed) {
        assert_stored(&sim, &bucket, key).await;
    }
    let s3 = s3().await;
    assert!(object(&s3, &bucket, failed).await.is_none());
    assert!(object(&s3, &bucket, &manifest_key(failed)).await.is_none());
    // Plan, three windows of four steps (request, poll, poll, copy), the failed one's three
    // (request, poll, poll → ExportFailed, not retryable: caught) and its LetGo, Summarize.
    assert_eq!(shim.invocations().await, 1 + 3 * 4 + 3 + 1 + 1);
    // The Map ran at most 2 at once, and every child execution succeeded: a failed export is an
    // outcome, not a failed child.
    let execution = first["executionArn"].as_str().expect("executionArn");
    let run = map_run(execution).await;
    assert_eq!(run["maxConcurrency"], 2, "{run}");
    // Observed, not read back: the simulator's peak of log requests under way at once (created,
    // and their file not yet read to its end) is the windows that ran at once.
    let ran_at_once = sim.stats().await["max_active_requests"]
        .as_u64()
        .expect("max_active_requests");
    assert!(
        (1..=2).contains(&ran_at_once),
        "{ran_at_once} windows ran at once, over the plan's max_concurrency of 2"
    );
    println!("the Map ran {ran_at_once} windows at once (max_concurrency 2)");
    assert_eq!(
        (
            run["itemCounts"]["total"].as_u64(),
            run["itemCounts"]["succeeded"].as_u64()
        ),
        (Some(4), Some(4)),
        "{run}"
    );
    // The parent's history holds the Map, not its items: two tasks, whatever the window count.
    let types = event_types(&events);
    let tasks = types.iter().filter(|t| **t == "TaskScheduled").count();
    assert_eq!(tasks, 2, "{types:?}");
    println!(
        "backfill of 4 windows (1 failed): {} parent history events: {types:?}",
        events.len()
    );
    // moto keeps no child executions: listing a Map Run's fails there (on AWS it lists one per
    // window, each with its own history).
    let (status, _) =
        step_functions::sfn_call("ListExecutions", json!({"mapRunArn": run["mapRunArn"]})).await;
    println!("ListExecutions by mapRunArn on moto: HTTP {status}; the cause: {cause}");

    // The same plan again: the three stored windows are skipped, the failed one exported.
    let before = shim.invocations().await;
    let (second, events_again) = run_backfill(&machine, "again", &plan).await;
    assert_eq!(second["status"], "SUCCEEDED", "{second}");
    let output: Value =
        serde_json::from_str(second["output"].as_str().expect("output")).expect("summary JSON");
    assert_eq!(
        (
            output["done"].as_u64(),
            output["failed"].as_u64(),
            output["skipped"].as_u64()
        ),
        (Some(1), Some(0), Some(3)),
        "{output}"
    );
    let payloads = task_payloads(&events_again);
    assert_eq!(payloads[0]["planned"], 1);
    assert_eq!(payloads[0]["windows"][0]["key"], failed);
    assert_stored(&sim, &bucket, failed).await;
    assert_eq!(shim.invocations().await - before, 1 + 4 + 1);
    let types_again = event_types(&events_again);
    assert_eq!(
        types_again
            .iter()
            .filter(|t| **t == "TaskScheduled")
            .count(),
        2,
        "{types_again:?}"
    );
    println!(
        "backfill of 1 window (3 skipped): {} parent history events",
        events_again.len()
    );
    // Ending in Succeed rather than Fail is the only difference between the two histories.
    assert!(
        events_again.len().abs_diff(events.len()) <= 1,
        "{types:?} vs {types_again:?}"
    );

    // One export's history, as a child execution has it: the Map's item processor run on its
    // own for one more window. Each step is Task (5 events) + Choice (2) + Wait (2), except the
    // last, whose Wait is the ExportDone Pass (2); plus ExecutionStarted and ExecutionSucceeded.
    let backfill = definition("backfill.asl.json");
    let processor = &backfill["States"]["ExportEach"]["ItemProcessor"];
    let export = json!({"StartAt": processor["StartAt"], "States": processor["States"]});
    let window = json!({
        "database": "us-std/ECommerce",
        "time_start": rfc3339(from - TimeDelta::days(1)),
        "time_end": rfc3339(from),
    });
    let before = shim.invocations().await;
    let child = create_state_machine("backfill-item", &export).await;
    let one = start_execution(&child, "one-window", &window).await;
    let described = wait_for_end(&one).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let outcome: Value =
        serde_json::from_str(described["output"].as_str().expect("output")).expect("outcome");
    assert_eq!(outcome["outcome"], "done", "{outcome}");
    assert_stored(&sim, &bucket, outcome["key"].as_str().expect("key")).await;
    let steps = shim.invocations().await - before;
    assert_eq!(steps, 4, "request, poll, poll, copy");
    let child_events = history(&one).await;
    println!(
        "one export of {steps} steps: {} history events: {:?}",
        child_events.len(),
        event_types(&child_events)
    );
    assert_eq!(child_events.len() as u64, 9 * steps + 2);
}
