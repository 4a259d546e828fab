//! The state machine of infra/, run for real: moto's Step Functions engine executes
//! `infra/state-machine.asl.json`, its `lambda:invoke` tasks reach the real function under
//! `cargo lambda watch` (through `lambda_shim.py`, which bridges the emulator's two differences
//! from Lambda's Invoke API), and the function talks to the Fauna simulator and moto's S3.
//!
//! One execution runs a whole export; another meets a retryable error on every copy attempt, so
//! `Retry` and then `Catch` → `Fail` are exercised. The only change made to the definition is
//! shorter retry intervals (1 s, no backoff) so the test does not wait minutes.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Sim, Watch, bucket, export_env, moto, object, open_uploads, s3, venv_bin};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fauna-logs-export";

/// The Lambda Invoke API shim in front of `cargo lambda watch`, stopped on drop.
struct Shim {
    child: Child,
}

impl Shim {
    fn start(watch: &Watch) -> Shim {
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

    async fn invocations(&self) -> u64 {
        let url = format!("http://127.0.0.1:{}/_shim/invocations", moto().lambda_port);
        let counts: Value = reqwest::get(url)
            .await
            .expect("shim")
            .json()
            .await
            .expect("json");
        counts["fauna-logs-export"].as_u64().unwrap_or(0)
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call of the Step Functions JSON API on moto.
async fn sfn(action: &str, body: Value) -> Value {
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
    let answer: Value = resp.json().await.expect("JSON answer");
    assert!(status.is_success(), "{action}: {status} {answer}");
    answer
}

/// The definition from infra/, with the function's ARN and (for the test's time) 1 s retries.
fn definition() -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/infra/state-machine.asl.json"
    ))
    .expect("infra/state-machine.asl.json")
    .replace("${ExportFunctionArn}", FUNCTION_ARN);
    let mut asl: Value = serde_json::from_str(&text).expect("the definition is JSON");
    for retrier in asl["States"]["RunStep"]["Retry"]
        .as_array_mut()
        .expect("RunStep has Retry")
    {
        retrier["IntervalSeconds"] = json!(1);
        retrier["BackoffRate"] = json!(1.0);
    }
    asl.to_string()
}

/// Creates the state machine, runs one execution with `input` to its end, returns its description.
async fn execute(name: &str, input: Value) -> Value {
    // moto only runs definitions when asked to.
    reqwest::Client::new()
        .post(format!("{}/moto-api/config", moto().endpoint))
        .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .expect("configure moto");
    let machine = sfn(
        "CreateStateMachine",
        json!({"name": name, "definition": definition(), "roleArn": "arn:aws:iam::123456789012:role/export"}),
    )
    .await;
    let execution = sfn(
        "StartExecution",
        json!({"stateMachineArn": machine["stateMachineArn"], "input": input.to_string()}),
    )
    .await;
    let started = Instant::now();
    loop {
        let described = sfn(
            "DescribeExecution",
            json!({"executionArn": execution["executionArn"]}),
        )
        .await;
        if described["status"] != "RUNNING" {
            return described;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the execution did not end: {described}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn window() -> Value {
    json!({"database": "us-std/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_machine_runs_an_export_and_its_retry_and_catch_work() {
    // A whole export: request → poll (Pending) → poll (Requested) → copy → done.
    let sim = Sim::start(&["--polls-to-complete", "1", "--file-size", "300000"]);
    let export_bucket = bucket(&s3().await, "state-machine").await;
    let watch = Watch::start(&export_env(&sim, &export_bucket));
    let shim = Shim::start(&watch);
    let done = execute("export", window()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
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
    assert_eq!(shim.invocations().await, 4, "one invocation per step");
    drop((shim, watch, sim));

    // Every copy attempt meets expired URLs (DownloadFailed, retryable): Retry runs it five more
    // times, then Catch ends the execution in ExportFailed with the function's errorType.
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
    // request, poll, then the copy: once and five retries.
    assert_eq!(shim.invocations().await, 2 + 6);
    let s3 = s3().await;
    assert_eq!(open_uploads(&s3, &failing_bucket).await, 0);
}
