//! moto's Step Functions engine, for the tests that run infra/'s state machines for real.
//!
//! moto executes a definition's `lambda:invoke` tasks by calling Lambda's Invoke API at
//! `localhost:$MOTO_PORT`; [`Shim`] listens there (`lambda_shim.py`) and forwards to the function
//! under `cargo lambda watch`, or answers an invocation as one that did not finish when a test
//! asks ([`Shim::fail_next`]). [`definition`] loads a definition from infra/ with the function's
//! ARN and 1 s retries; everything else is run as written.
//!
//! A module of `support`: a test names it `crate::support::step_functions`.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, Watch, moto, venv_bin};

/// The function's ARN in the definitions; the shim invokes `cargo lambda watch`'s function by
/// the name at its end.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fauna-logs-export";

/// How long one execution may run before the test gives up on it.
pub const EXECUTION_LIMIT: Duration = Duration::from_secs(300);

/// The Lambda Invoke API shim in front of `cargo lambda watch`, stopped on drop.
pub struct Shim {
    child: Child,
}

impl Shim {
    pub fn start(watch: &Watch) -> Shim {
        let port = moto().lambda_port;
        let child = Command::new(venv_bin("python"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/lambda_shim.py"
            ))
            .args([port.to_string(), watch.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Lambda shim");
        support::wait_until_serving(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30));
        Shim { child }
    }

    /// Invocations of the function so far.
    pub async fn invocations(&self) -> u64 {
        let url = format!("http://127.0.0.1:{}/_shim/invocations", moto().lambda_port);
        let counts: Value = reqwest::get(url)
            .await
            .expect("shim")
            .json()
            .await
            .expect("json");
        counts["fauna-logs-export"].as_u64().unwrap_or(0)
    }

    /// Makes the shim answer the next invocation whose payload's `step` is `step` as Lambda
    /// answers an invocation that did not finish, without forwarding it: HTTP 200,
    /// `X-Amz-Function-Error: Unhandled`, `{"errorType": error_type, "errorMessage": message}`,
    /// with `{request_id}` in `message` replaced by a fresh request ID. Lambda's function timeout
    /// is `Sandbox.Timedout`, "RequestId: {request_id} Error: Task timed out after 900.00
    /// seconds"; a process that exited (a panic, an out-of-memory kill) `Runtime.ExitError`,
    /// "RequestId: {request_id} Error: Runtime exited with error: signal: killed".
    pub async fn fail_next(&self, step: &str, error_type: &str, message: &str) {
        let url = format!("http://127.0.0.1:{}/_shim/fail-next", moto().lambda_port);
        let resp = reqwest::Client::new()
            .post(url)
            .json(&json!({"step": step, "errorType": error_type, "errorMessage": message}))
            .send()
            .await
            .expect("shim");
        assert!(resp.status().is_success(), "fail-next: {}", resp.status());
    }

    /// The shim's fail-next entries: those not used yet (`pending`) and the answers it gave
    /// (`answered`, each with `step`, `errorType` and `errorMessage`).
    pub async fn failures(&self) -> Value {
        let url = format!("http://127.0.0.1:{}/_shim/fail-next", moto().lambda_port);
        reqwest::get(url)
            .await
            .expect("shim")
            .json()
            .await
            .expect("json")
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call of the Step Functions JSON API on moto; panics unless it succeeds.
pub async fn sfn(action: &str, body: Value) -> Value {
    let (status, answer) = sfn_call(action, body).await;
    assert!(status.is_success(), "{action}: {status} {answer}");
    answer
}

/// One call of the Step Functions JSON API on moto: its status and answer, whatever they are.
pub async fn sfn_call(action: &str, body: Value) -> (reqwest::StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(&moto().endpoint)
        .header("X-Amz-Target", format!("AWSStepFunctions.{action}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/states/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("Step Functions call");
    let status = resp.status();
    let text = resp.text().await.expect("answer body");
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, answer)
}

/// The text of the definition `infra/<file>`.
fn read(file: &str) -> String {
    let path = format!("{}/infra/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The definition `infra/<file>` exactly as written.
pub fn as_written(file: &str) -> Value {
    serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("infra/{file} is not JSON: {e}"))
}

/// The definition `infra/<file>`, with the function's ARN and, for the test's time, every
/// retrier's interval cut to 1 s without backoff. Nothing else is changed.
pub fn definition(file: &str) -> Value {
    let text = read(file).replace("${ExportFunctionArn}", FUNCTION_ARN);
    let mut asl: Value = serde_json::from_str(&text).expect("the definition is JSON");
    shorten_retries(&mut asl);
    asl
}

/// Every `Retry` in the definition, nested ones included: 1 s intervals, no backoff.
fn shorten_retries(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                match (name.as_str(), field) {
                    ("Retry", Value::Array(retriers)) => {
                        for retrier in retriers {
                            retrier["IntervalSeconds"] = json!(1);
                            retrier["BackoffRate"] = json!(1.0);
                        }
                    }
                    (_, field) => shorten_retries(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(shorten_retries),
        _ => {}
    }
}

/// Creates a state machine that moto executes; its ARN.
pub async fn create_state_machine(name: &str, definition: &Value) -> String {
    // moto only runs definitions when asked to.
    reqwest::Client::new()
        .post(format!("{}/moto-api/config", moto().endpoint))
        .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .expect("configure moto");
    let machine = sfn(
        "CreateStateMachine",
        json!({"name": name, "definition": definition.to_string(), "roleArn": "arn:aws:iam::123456789012:role/export"}),
    )
    .await;
    machine["stateMachineArn"]
        .as_str()
        .expect("stateMachineArn")
        .to_owned()
}

/// Starts an execution named `name` with `input`; its ARN.
pub async fn start_execution(machine: &str, name: &str, input: &Value) -> String {
    let execution = sfn(
        "StartExecution",
        json!({"stateMachineArn": machine, "name": name, "input": input.to_string()}),
    )
    .await;
    execution["executionArn"]
        .as_str()
        .expect("executionArn")
        .to_owned()
}

/// Waits until the execution is no longer running (polling its status, within
/// [`EXECUTION_LIMIT`]); its description.
pub async fn wait_for_end(execution: &str) -> Value {
    let started = Instant::now();
    loop {
        let described = sfn("DescribeExecution", json!({"executionArn": execution})).await;
        if described["status"] != "RUNNING" {
            return described;
        }
        assert!(
            started.elapsed() < EXECUTION_LIMIT,
            "the execution did not end: {described}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the state machine `name`, runs one execution with `input` to its end, returns its
/// description.
pub async fn execute(name: &str, definition: &Value, input: &Value) -> Value {
    let machine = create_state_machine(name, definition).await;
    let execution = start_execution(&machine, name, input).await;
    wait_for_end(&execution).await
}

/// The execution's whole event history (every page).
pub async fn history(execution: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({"executionArn": execution, "maxResults": 1000});
        if let Some(token) = &token {
            request["nextToken"] = json!(token);
        }
        let page = sfn("GetExecutionHistory", request).await;
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return events,
        }
    }
}

/// The events' types, in order.
pub fn event_types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect()
}

/// The `TaskFailed` events' error and cause, in order: every failure of a task, retried or not.
pub fn task_failures(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "TaskFailed")
        .map(|e| {
            let details = &e["taskFailedEventDetails"];
            (
                details["error"].as_str().unwrap_or_default().to_owned(),
                details["cause"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A task that failed with `error` and was scheduled again by its `Retry`, in the same state:
/// the name of the state, and the parameters of the attempt that failed and of the next one.
/// Panics, with the events' types, unless the history shows that: the `TaskFailed` with `error`,
/// then a `TaskScheduled` with no state left or entered in between (a `Catch` would leave the
/// state).
pub fn retried_after(events: &[Value], error: &str) -> (String, Value, Value) {
    let types = event_types(events);
    let failed = events
        .iter()
        .position(|e| e["type"] == "TaskFailed" && e["taskFailedEventDetails"]["error"] == error)
        .unwrap_or_else(|| panic!("no task failed with {error}: {types:?}"));
    let parameters = |event: &Value| -> Value {
        let text = event["taskScheduledEventDetails"]["parameters"]
            .as_str()
            .unwrap_or_else(|| panic!("TaskScheduled without parameters: {event}"));
        serde_json::from_str(text).expect("a task's parameters are JSON")
    };
    let before = events[..failed]
        .iter()
        .rposition(|e| e["type"] == "TaskScheduled")
        .unwrap_or_else(|| panic!("{error}: no task was scheduled before it failed: {types:?}"));
    let state = events[..before]
        .iter()
        .rev()
        .find(|e| e["type"] == "TaskStateEntered")
        .and_then(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .unwrap_or_else(|| panic!("{error}: the task's state was not entered: {types:?}"))
        .to_owned();
    let after = events[failed + 1..]
        .iter()
        .position(|e| e["type"] == "TaskScheduled")
        .map(|i| failed + 1 + i)
        .unwrap_or_else(|| panic!("{error}: the task was not scheduled again: {types:?}"));
    let between = &types[failed + 1..after];
    assert!(
        !between
            .iter()
            .any(|t| t.ends_with("StateExited") || t.ends_with("StateEntered")),
        "{error}: {state} was left before it was scheduled again (caught, not retried): {types:?}"
    );
    (
        state,
        parameters(&events[before]),
        parameters(&events[after]),
    )
}

/// The `Payload` each `lambda:invoke` task of the execution answered, in order.
pub fn task_payloads(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "TaskSucceeded")
        .filter_map(|e| e["taskSucceededEventDetails"]["output"].as_str())
        .map(|output| {
            let result: Value = serde_json::from_str(output).expect("a task's output is JSON");
            result["Payload"].clone()
        })
        .collect()
}
