//! The Lambda runtime path, for real: `cargo lambda watch` runs the function under its emulator of
//! the Lambda Runtime API, and `cargo lambda invoke --data-file events/…` drives one export step by
//! step, feeding each returned job back in, against the simulator and moto.

mod support;

use std::path::Path;

use support::{Sim, Watch, bucket, export_env, object, open_uploads, s3};

#[tokio::test(flavor = "multi_thread")]
async fn one_export_step_by_step_through_the_lambda_runtime() {
    let sim = Sim::start(&["--polls-to-complete", "1", "--file-size", "200000"]);
    let bucket = bucket(&s3().await, "lambda").await;
    let mut env = export_env(&sim, &bucket);
    // What a classic EventBridge Scheduled Event exports.
    env.push(("SCHEDULE_DATABASE".into(), "us-std/ECommerce".into()));
    let watch = Watch::start(&env);
    let dir = std::env::temp_dir().join(format!("fauna-lambda-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/manual-request-database.json");
    let mut job = watch.invoke(&fixture).expect("first step");
    let mut steps = vec![job["step"].as_str().unwrap_or_default().to_owned()];
    while job["step"] != "done" {
        assert!(steps.len() < 10, "too many steps: {steps:?}");
        let payload = dir.join(format!("step-{}.json", steps.len()));
        std::fs::write(&payload, job.to_string()).expect("write payload");
        job = watch.invoke(&payload).expect("next step");
        steps.push(job["step"].as_str().unwrap_or_default().to_owned());
    }
    // request → poll (Pending), poll → poll (Requested), poll → copy (Complete), copy → done
    assert_eq!(steps, ["poll", "poll", "copy", "done"]);
    let text = job.to_string();
    assert!(!text.contains(support::ACCOUNT_KEY) && !text.contains("X-Amz-Signature"));

    let s3 = s3().await;
    let key = job["key"].as_str().expect("key");
    let stored = object(&s3, &bucket, key).await.expect("object stored");
    let source = sim
        .file(job["request_id"].as_str().expect("request id"))
        .await;
    assert!(
        stored == source,
        "stored bytes differ from the simulator's file"
    );
    assert_eq!(open_uploads(&s3, &bucket).await, 0);

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
    }

    // A bad event is answered with the typed error Step Functions matches on.
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/invalid-window-too-long.json");
    let err = watch
        .invoke(&bad)
        .expect_err("a 151-day window must be refused");
    assert!(err.contains("InvalidJob"), "{err}");
    assert!(err.contains("90 days"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
