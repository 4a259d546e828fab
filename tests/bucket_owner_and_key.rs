//! Writes go only to the team's own bucket, under the team's key, end to end: the CLI against
//! the Fauna simulator and the strict S3 front (tests/support/moto_server.py), which records the
//! headers of every request and, once a bucket's owner is set, answers 403 AccessDenied to a
//! request whose `x-amz-expected-bucket-owner` names another account (moto itself ignores the
//! header).
//!
//! - With `LOGS_BUCKET_OWNER`, every S3 request names the owner, over a copy that uses each of
//!   the eleven operations the exporter sends.
//! - A bucket owned by another account is a typed, non-retryable error that names the bucket and
//!   the account expected, and nothing is written.
//! - With `LOGS_KMS_KEY_ARN`, the log file, its manifest and the copy record are written SSE-KMS
//!   under that key with the S3 Bucket Key; without it, no encryption header is sent.

use crate::support;

use std::collections::BTreeSet;
use std::process::Stdio;

use aws_sdk_s3::types::ServerSideEncryption;
use fauna_logs_export::keys::manifest_key;
use serde_json::{Value, json};
use support::{
    Sim, WINDOW, bucket, export, exporter_command, keys, object, open_uploads, s3, s3_faults,
    s3_stats, s3_stats_reset, until_parts_stored,
};

/// moto's account: the owner of every bucket it makes.
const MOTO_ACCOUNT: &str = "123456789012";

/// The operations `src/store/s3.rs` sends, by the names the front records.
const OPERATIONS: [&str; 11] = [
    "put_object",
    "create_multipart_upload",
    "upload_part",
    "list_parts",
    "complete_multipart_upload",
    "abort_multipart_upload",
    "head_object",
    "get_object",
    "delete_object",
    "list_multipart_uploads",
    "list_objects",
];

fn requests(stats: &Value) -> Vec<Value> {
    stats["requests"].as_array().cloned().unwrap_or_default()
}

/// A bucket the front knows to belong to `owner`.
async fn owned_bucket(name: &str, owner: &str) -> String {
    let bucket = new_bucket(name).await;
    s3_faults(&bucket, json!({"bucket_owner": owner})).await;
    bucket
}

/// A new bucket whose request log at the front starts after its creation, so it holds only what
/// the exporter sends until the test itself looks into the bucket.
async fn new_bucket(name: &str) -> String {
    let bucket = bucket(&s3().await, name).await;
    s3_stats_reset(&bucket).await;
    bucket
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_names_the_expected_owner() {
    let owner = [("LOGS_BUCKET_OWNER", MOTO_ACCOUNT)];

    // A copy killed after two parts and run again: the copy record is written, read and
    // removed, the upload listed and continued, its parts listed, the upload completed.
    let sim = Sim::start(&[
        "--file-size",
        "40000000",
        "--download-bytes-per-second",
        "8388608",
    ]);
    let continued = owned_bucket("owner-continued", MOTO_ACCOUNT).await;
    let mut child = exporter_command(&sim, &continued, "run")
        .args(WINDOW)
        .envs(owner)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the export");
    until_parts_stored(&continued, 2).await;
    child.kill().expect("SIGKILL the export");
    child.wait().expect("reap it");
    let run = export(&sim, &continued, &WINDOW, &owner).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.assert_no_secrets();

    // A corrupt file: its upload is aborted.
    let sim = Sim::start(&["--file-size", "12000000", "--corrupt-gzip"]);
    let aborted = owned_bucket("owner-aborted", MOTO_ACCOUNT).await;
    let run = export(&sim, &aborted, &WINDOW, &owner).await;
    assert_eq!(run.error_type(), "CorruptLogFile", "{}", run.stdout);

    let mut seen = BTreeSet::new();
    for bucket in [&continued, &aborted] {
        let stats = s3_stats(bucket).await;
        s3_stats_reset(bucket).await;
        assert_eq!(stats["requests_dropped"], 0, "{stats}");
        for request in requests(&stats) {
            assert_eq!(
                request["expected_bucket_owner"], MOTO_ACCOUNT,
                "a request without the owner: {request}"
            );
            assert_eq!(request["status"].as_u64().map(|s| s < 500), Some(true));
            seen.insert(request["operation"].as_str().unwrap_or_default().to_owned());
        }
        assert_eq!(open_uploads(&s3().await, bucket).await, 0);
    }
    let expected: BTreeSet<String> = OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        seen, expected,
        "every operation was sent, and each named the owner"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_of_another_account_is_refused_and_nothing_is_written() {
    let sim = Sim::start(&["--file-size", "12000000"]);
    let bucket = owned_bucket("owner-mismatch", "111122223333").await;
    let run = export(
        &sim,
        &bucket,
        &WINDOW,
        &[("LOGS_BUCKET_OWNER", "444455556666")],
    )
    .await;
    run.assert_no_secrets();
    assert_eq!(run.step(), "failed", "{}", run.stdout);
    assert_eq!(run.error_type(), "S3WriteRejected", "{}", run.stdout);
    let message = run.job["error"]["message"].as_str().unwrap_or_default();
    for names in [bucket.as_str(), "444455556666", "LOGS_BUCKET_OWNER"] {
        assert!(message.contains(names), "{names} in {message}");
    }
    assert_eq!(
        run.stderr.matches("trying again in").count(),
        0,
        "not retried: {}",
        run.stderr
    );
    let stats = s3_stats(&bucket).await;
    let sent = requests(&stats);
    assert!(!sent.is_empty(), "{stats}");
    let served: Vec<&Value> = sent.iter().filter(|r| r["status"] != 403).collect();
    assert!(served.is_empty(), "every request was refused: {served:?}");
    s3_faults(&bucket, json!({"bucket_owner": null})).await;
    assert!(keys(&s3().await, &bucket).await.is_empty());
    assert_eq!(open_uploads(&s3().await, &bucket).await, 0);
}

/// The SSE headers each write sent, as the front recorded them.
fn encryption_headers(stats: &Value, operation: &str) -> Vec<Value> {
    requests(stats)
        .into_iter()
        .filter(|r| r["operation"] == operation)
        .map(|r| {
            let mut headers = r["headers"].clone();
            if let Some(h) = headers.as_object_mut() {
                h.retain(|name, _| name.starts_with("x-amz-server-side-encryption"));
            }
            headers
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_are_written_under_the_teams_key() {
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    // 12 MB is a multipart upload (two parts); the step limit pauses it after the first part,
    // so a copy record is written too.
    let sim = Sim::start(&["--file-size", "12000000"]);
    let bucket = new_bucket("kms").await;
    let run = export(
        &sim,
        &bucket,
        &WINDOW,
        &[
            ("LOGS_KMS_KEY_ARN", key_arn),
            ("STEP_TIME_LIMIT_SECONDS", "0"),
        ],
    )
    .await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.assert_no_secrets();
    let key = run.job["key"].as_str().expect("key").to_owned();
    let request_id = run.job["request_id"].as_str().expect("request id");
    let stored = object(&s3().await, &bucket, &key).await.expect("stored");
    assert!(stored == sim.file(request_id).await, "stored bytes differ");

    let client = s3().await;
    for object_key in [key.clone(), manifest_key(&key)] {
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(&object_key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms),
            "{object_key}"
        );
        assert_eq!(head.ssekms_key_id(), Some(key_arn), "{object_key}");
    }
    // moto keeps the Bucket Key setting of a PutObject, but forgets that of a multipart upload
    // (its multipart record has no field for it): the manifest reports it here, the upload's
    // CreateMultipartUpload is checked below for the header it sent.
    let manifest = client
        .head_object()
        .bucket(&bucket)
        .key(manifest_key(&key))
        .send()
        .await
        .expect("head the manifest");
    assert_eq!(manifest.bucket_key_enabled(), Some(true));

    let stats = s3_stats(&bucket).await;
    let writes: Vec<Value> = ["put_object", "create_multipart_upload"]
        .iter()
        .flat_map(|op| encryption_headers(&stats, op))
        .collect();
    // the manifest, the copy record at the pause, the upload
    assert!(writes.len() >= 3, "{stats}");
    let want = json!({
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": key_arn,
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
    });
    for sent in &writes {
        assert_eq!(sent, &want, "every write names the key");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_no_encryption_header_is_sent() {
    let sim = Sim::start(&["--file-size", "12000000"]);
    let bucket = new_bucket("no-kms").await;
    let run = export(&sim, &bucket, &WINDOW, &[]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    let stats = s3_stats(&bucket).await;
    let writes: Vec<Value> = ["put_object", "create_multipart_upload"]
        .iter()
        .flat_map(|op| encryption_headers(&stats, op))
        .collect();
    assert!(writes.len() >= 2, "{stats}");
    for sent in writes {
        assert_eq!(sent, json!({}), "the bucket's default encryption applies");
    }
}

/// ListParts answers at most 1,000 parts a page: an upload of 1,205 parts is listed whole, in
/// order, each part with its size and CRC32C, over more than one ListParts request (each naming
/// the owner), and the upload is then aborted.
#[tokio::test(flavor = "multi_thread")]
async fn list_parts_pages_past_a_thousand_parts() {
    use bytes::Bytes;
    use fauna_logs_export::store::ObjectStore;
    use futures_util::{StreamExt, TryStreamExt};

    const PARTS: i32 = 1205;
    let bucket = owned_bucket("list-parts-pages", MOTO_ACCOUNT).await;
    let store = s3_store(&bucket);
    let key = "fauna-logs/list-parts-pages.jsonl.gz";
    // A few bytes each, of varying length: only a completion needs 5 MiB parts.
    let body = |n: i32| Bytes::from(format!("part {n}\n"));

    let upload_id = store
        .create_multipart(key)
        .await
        .expect("create the upload");
    let (store_ref, upload) = (&store, upload_id.as_str());
    let uploaded: Vec<_> = futures_util::stream::iter(1..=PARTS)
        .map(|n| async move { store_ref.upload_part(key, upload, n, body(n)).await })
        .buffer_unordered(16)
        .try_collect()
        .await
        .expect("upload the parts");
    assert_eq!(uploaded.len(), PARTS as usize);

    s3_stats_reset(&bucket).await;
    let listed = store
        .list_parts(key, &upload_id)
        .await
        .expect("list the parts");
    let stats = s3_stats(&bucket).await;

    assert_eq!(listed.len(), PARTS as usize, "parts listed");
    for (part, number) in listed.iter().zip(1..) {
        assert_eq!(part.number, number, "the parts in order");
        let sent = body(number);
        assert_eq!(part.size, sent.len() as u64, "part {number}");
        assert_eq!(part.crc32c, Some(crc32c::crc32c(&sent)), "part {number}");
        assert!(!part.etag.is_empty(), "part {number}");
    }

    let pages: Vec<Value> = requests(&stats)
        .into_iter()
        .filter(|r| r["operation"] == "list_parts")
        .collect();
    assert!(pages.len() > 1, "one ListParts request: {stats}");
    for page in &pages {
        assert_eq!(page["status"], 200, "{page}");
        assert_eq!(page["expected_bucket_owner"], MOTO_ACCOUNT, "{page}");
    }
    assert_eq!(
        stats["operations"]["list_parts"]["requests"],
        pages.len(),
        "{stats}"
    );

    store
        .abort_multipart(key, &upload_id)
        .await
        .expect("abort the upload");
    assert_eq!(open_uploads(&s3().await, &bucket).await, 0);
}

/// The exporter's S3 store on `bucket`, through the strict front, naming moto's account as owner.
fn s3_store(bucket: &str) -> fauna_logs_export::store::S3Store {
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(support::REGION))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"),
        ))
        .endpoint_url(&support::moto().endpoint)
        .build();
    fauna_logs_export::store::S3Store::new(
        &aws,
        fauna_logs_export::store::Destination {
            bucket: bucket.to_owned(),
            expected_owner: Some(MOTO_ACCOUNT.to_owned()),
            kms_key: None,
            force_path_style: true,
        },
    )
}

/// S3Store, through the strict front over moto, passes the suite the memory store passes
/// (`src/store/conformance.rs`): what the in-process behaviour tests learn on the memory store
/// holds on S3.
#[tokio::test(flavor = "multi_thread")]
async fn the_s3_store_conforms_through_the_strict_front() {
    let bucket = owned_bucket("conformance", MOTO_ACCOUNT).await;
    fauna_logs_export::store::conformance::check_all(&s3_store(&bucket), "conformance").await;
}
