//! Two runs of one window at once, interleaved deterministically at the strict S3 front (it holds
//! a chosen request of one run until the other has finished): whatever the order, the manifest at
//! the end describes the object at the key, and no run deletes an object it did not write.
//!
//! The runs talk to two simulators with different seeds, so their files (and objects) differ,
//! and the test can tell whose object and whose manifest ended up at the key.

use crate::support;

use fauna_logs_export::keys::manifest_key;
use serde_json::{Value, json};
use support::{Run, Sim, WINDOW, bucket, export, object, open_uploads, s3, s3_faults, until_held};

async fn release(bucket: &str) {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/_faults/{bucket}/release",
            support::moto().endpoint
        ))
        .json(&json!({}))
        .send()
        .await
        .expect("release");
    assert!(resp.status().is_success());
}

/// Runs `first` until the front holds its `operation`, then `second` to its end, then lets
/// `first` go on: the two runs' outcomes, in that order.
async fn interleave(
    bucket: &str,
    operation: &str,
    suffix: Option<&str>,
    first: &Sim,
    second: &Sim,
) -> (Run, Run) {
    let mut spec = json!({"hold": true, "count": 1});
    if let Some(suffix) = suffix {
        spec["key_suffix"] = suffix.into();
    }
    s3_faults(bucket, json!({ operation: spec })).await;
    let second_after_first_is_held = async {
        until_held(bucket, operation).await;
        let b = export(second, bucket, &WINDOW, &[]).await;
        release(bucket).await;
        b
    };
    let (a, b) = tokio::join!(
        export(first, bucket, &WINDOW, &[]),
        second_after_first_is_held
    );
    (a, b)
}

/// The object at the key and the manifest beside it agree (same size and checksum), and the
/// object is the file of the run `winner` says.
async fn assert_manifest_describes_the_object(
    bucket: &str,
    key: &str,
    winner: &Sim,
    winner_run: &Run,
    other_run: &Run,
) {
    let runs = format!(
        "the winner said:\n{}\nthe other run said:\n{}",
        winner_run.stderr, other_run.stderr
    );
    let s3 = s3().await;
    let stored = object(&s3, bucket, key)
        .await
        .expect("an object at the key");
    let manifest: Value = serde_json::from_slice(
        &object(&s3, bucket, &manifest_key(key))
            .await
            .expect("a manifest"),
    )
    .expect("manifest JSON");
    let crc = fauna_logs_export::store::crc32c_base64(crc32c::crc32c(&stored));
    assert_eq!(
        manifest["checksum_crc32c"], crc,
        "the manifest describes another object; {runs}"
    );
    assert_eq!(manifest["bytes"], stored.len() as u64);
    let request_id = winner_run.job["request_id"].as_str().expect("request id");
    assert_eq!(manifest["request_id"], request_id, "{runs}");
    assert!(
        stored == winner.file(request_id).await,
        "the object is not the winner's file; {runs}"
    );
    assert_eq!(open_uploads(&s3, bucket).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_manifest_is_held_while_another_stores_the_window_leaves_the_others() {
    let (a_sim, b_sim) = (Sim::start(&["--seed", "1"]), Sim::start(&["--seed", "2"]));
    let bucket = bucket(&s3().await, "held-manifest").await;
    // A stores its object and is held writing its manifest; B then stores its object (over A's)
    // and its manifest. Released, A finds B's object at the key and writes nothing.
    let (a, b) = interleave(
        &bucket,
        "put_object",
        Some(".manifest.json"),
        &a_sim,
        &b_sim,
    )
    .await;
    assert_eq!((a.status, b.status), (0, 0), "{}\n{}", a.stderr, b.stderr);
    assert!(
        a.stderr.contains("its manifest is that run's to write"),
        "{}",
        a.stderr
    );
    let key = b.job["key"].as_str().expect("key");
    assert_manifest_describes_the_object(&bucket, key, &b_sim, &b, &a).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_object_lands_last_writes_the_last_manifest() {
    let (a_sim, b_sim) = (Sim::start(&["--seed", "1"]), Sim::start(&["--seed", "2"]));
    let bucket = bucket(&s3().await, "held-object").await;
    // A is held storing its object (a single PutObject: the file is under one part); B stores
    // its object and manifest. Released, A's object replaces B's, and A's manifest B's.
    let (a, b) = interleave(&bucket, "put_object", Some(".jsonl.gz"), &a_sim, &b_sim).await;
    assert_eq!((a.status, b.status), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let key = a.job["key"].as_str().expect("key");
    assert_manifest_describes_the_object(&bucket, key, &a_sim, &a, &b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_deletes_only_its_own_object() {
    let (a_sim, b_sim) = (Sim::start(&["--seed", "1"]), Sim::start(&["--seed", "2"]));
    let bucket = bucket(&s3().await, "held-delete").await;
    // A's checksum confirmation is told another CRC32C, so A deletes its object; that delete is
    // held while B stores its object and manifest. Released, A's delete (If-Match A's ETag) finds
    // B's object and deletes nothing.
    s3_faults(
        &bucket,
        json!({"head_object": {"report_crc32c": "AAAAAA==", "count": 1}}),
    )
    .await;
    let (a, b) = interleave(&bucket, "delete_object", None, &a_sim, &b_sim).await;
    assert_eq!((a.status, b.status), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let key = b.job["key"].as_str().expect("key");
    assert_manifest_describes_the_object(&bucket, key, &b_sim, &b, &a).await;
    let stats = support::s3_stats(&bucket).await;
    assert_eq!(
        stats["operations"]["delete_object"]["requests"], 1,
        "{stats}"
    );
}

/// Two executions of one window (two processes, two Fauna requests), each copying in 1 s steps
/// that pause between parts, B started once A's upload exists and finishing first: B never
/// aborts A's upload, which is older and live. With one copy record per key the two overwrote
/// each other's at every pause, and B, completing, took A's upload for one a killed run left:
/// A's copy then started over. Both objects are the window's; no upload is aborted at all.
#[tokio::test(flavor = "multi_thread")]
async fn two_executions_of_a_window_never_abort_each_other_s_upload() {
    let a_sim = Sim::start(&[
        "--seed",
        "1",
        "--file-size",
        "24000000",
        "--download-bytes-per-second",
        "4194304",
    ]);
    let b_sim = Sim::start(&[
        "--seed",
        "2",
        "--file-size",
        "12000000",
        "--download-bytes-per-second",
        "8388608",
    ]);
    let bucket = bucket(&s3().await, "two-executions").await;
    let steps = [("STEP_TIME_LIMIT_SECONDS", "1")];
    let a = export(&a_sim, &bucket, &WINDOW, &steps);
    let b_after_a_uploads = async {
        support::until_parts_stored(&bucket, 1).await;
        export(&b_sim, &bucket, &WINDOW, &steps).await
    };
    let (a, b) = tokio::join!(a, b_after_a_uploads);
    assert_eq!((a.status, b.status), (0, 0), "{}\n{}", a.stderr, b.stderr);
    for run in [&a, &b] {
        assert!(
            !run.stderr.contains("no longer exists") && !run.stderr.contains("the upload is gone"),
            "{}",
            run.stderr
        );
    }
    let stats = support::s3_stats(&bucket).await;
    assert_eq!(
        stats["operations"]["abort_multipart_upload"]["requests"]
            .as_u64()
            .unwrap_or(0),
        0,
        "{stats}"
    );
    assert_eq!(open_uploads(&s3().await, &bucket).await, 0);
    let key = a.job["key"].as_str().expect("key");
    let stored = object(&s3().await, &bucket, key).await.expect("stored");
    let files = [
        a_sim
            .file(a.job["request_id"].as_str().expect("request id"))
            .await,
        b_sim
            .file(b.job["request_id"].as_str().expect("request id"))
            .await,
    ];
    assert!(files.contains(&stored), "the object is neither run's file");
}
