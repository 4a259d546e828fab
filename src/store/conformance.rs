//! One suite of [`ObjectStore`] checks, run against the in-memory store (its unit test) and
//! against [`super::S3Store`] through the strict S3 front over moto (`tests/bucket_owner_and_key.rs`),
//! so that what the behaviour tests learn on [`super::memory::MemoryStore`] holds on S3: objects
//! and their checksums, conditional writes and deletes, multipart uploads (parts and their
//! checksums, a refused completion that leaves the upload open, `NoSuchUpload` once it is gone),
//! the listings.
//!
//! The one difference kept on purpose: S3 refuses to complete an upload whose parts (but the
//! last) are under 5 MiB, and the memory store does not, so that unit tests can copy a file in
//! parts of a few KiB. The suite uses 5 MiB parts.

use bytes::Bytes;

use super::{ObjectStore, Precondition, StoreError, UploadedPart};

const PART: usize = 5 << 20;

/// Runs every check, each under `prefix` (a fresh one per run: the checks assume no other
/// object or upload under it).
pub async fn check_all<S: ObjectStore>(store: &S, prefix: &str) {
    objects_round_trip_with_their_checksum(store, prefix).await;
    conditional_writes_hold_only_when_their_condition_does(store, prefix).await;
    a_conditional_delete_deletes_only_the_object_it_names(store, prefix).await;
    a_multipart_upload_lists_its_parts_and_completes_checked(store, prefix).await;
    a_gone_upload_is_no_such_upload(store, prefix).await;
    listings_name_exactly_what_is_there(store, prefix).await;
}

fn body(seed: u8, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn expect<T>(what: &str, result: Result<T, StoreError>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn objects_round_trip_with_their_checksum<S: ObjectStore>(store: &S, prefix: &str) {
    let key = format!("{prefix}/plain.json");
    assert_eq!(expect("head", store.head(&key).await), None);
    assert_eq!(expect("get", store.get_object(&key).await), None);
    let data = body(1, 1000);
    let etag = expect(
        "put",
        store
            .put_object(&key, data.clone(), "application/json")
            .await,
    );
    let (got, got_etag) = expect("get", store.get_object(&key).await).expect("stored");
    assert_eq!((got, &got_etag), (data.clone(), &etag));
    let head = expect("head", store.head(&key).await).expect("stored");
    assert_eq!(head.etag, etag);
    assert_eq!(head.crc32c, Some(crc32c::crc32c(&data)));
    let expiring = format!("{prefix}/_w.r.copy.json");
    let data = body(2, 10);
    let etag = expect(
        "put expiring",
        store
            .put_expiring_object(&expiring, data.clone(), "application/json")
            .await,
    );
    let got = expect("get", store.get_object(&expiring).await).expect("stored");
    assert_eq!(got, (data, etag));
}

async fn conditional_writes_hold_only_when_their_condition_does<S: ObjectStore>(
    store: &S,
    prefix: &str,
) {
    let key = format!("{prefix}/manifest.json");
    let put =
        |data: Bytes, condition| store.put_object_if(&key, data, "application/json", condition);
    let first = expect("if absent", put(body(3, 100), Precondition::IfAbsent).await)
        .expect("nothing was there");
    assert_eq!(
        expect(
            "if absent again",
            put(body(4, 100), Precondition::IfAbsent).await
        ),
        None
    );
    let stale = Precondition::IfMatch("\"not-its-etag\"".into());
    assert_eq!(
        expect("if match another", put(body(5, 100), stale).await),
        None
    );
    let second = expect(
        "if match",
        put(body(6, 100), Precondition::IfMatch(first.clone())).await,
    )
    .expect("the ETag read is the one there");
    assert_ne!(first, second);
    let (got, _) = expect("get", store.get_object(&key).await).expect("stored");
    assert_eq!(got, body(6, 100));
    let missing = format!("{prefix}/never.json");
    let on_missing = store
        .put_object_if(
            &missing,
            body(7, 1),
            "application/json",
            Precondition::IfMatch(first),
        )
        .await;
    assert_eq!(expect("if match on nothing", on_missing), None);
}

async fn a_conditional_delete_deletes_only_the_object_it_names<S: ObjectStore>(
    store: &S,
    prefix: &str,
) {
    let key = format!("{prefix}/object.jsonl.gz");
    let ours = expect(
        "put",
        store
            .put_object(&key, body(8, 50), "application/gzip")
            .await,
    );
    let theirs = expect(
        "put",
        store
            .put_object(&key, body(9, 50), "application/gzip")
            .await,
    );
    assert!(!expect(
        "delete ours",
        store.delete_object_if_match(&key, &ours).await
    ));
    assert!(
        expect("head", store.head(&key).await).is_some(),
        "theirs is still there"
    );
    assert!(expect(
        "delete theirs",
        store.delete_object_if_match(&key, &theirs).await
    ));
    assert_eq!(expect("head", store.head(&key).await), None);
}

async fn a_multipart_upload_lists_its_parts_and_completes_checked<S: ObjectStore>(
    store: &S,
    prefix: &str,
) {
    let key = format!("{prefix}/large.jsonl.gz");
    let bodies = [body(10, PART), body(11, PART), body(12, 1234)];
    let upload = expect("create", store.create_multipart(&key).await);
    let mut sent = Vec::new();
    for (number, data) in (1..).zip(&bodies) {
        let part = expect(
            "part",
            store.upload_part(&key, &upload, number, data.clone()).await,
        );
        assert_eq!((part.number, part.size), (number, data.len() as u64));
        assert_eq!(part.crc32c, Some(crc32c::crc32c(data)));
        sent.push(part);
    }
    let listed = expect("list parts", store.list_parts(&key, &upload).await);
    let shape = |parts: &[UploadedPart]| -> Vec<(i32, u64, Option<u32>)> {
        parts.iter().map(|p| (p.number, p.size, p.crc32c)).collect()
    };
    assert_eq!(shape(&listed), shape(&sent));
    let whole: Vec<u8> = bodies.iter().flat_map(|b| b.iter().copied()).collect();
    let crc = crc32c::crc32c(&whole);
    // A wrong full-object checksum is refused, nothing is stored, and the upload stays open.
    let refused = store
        .complete_multipart(&key, &upload, listed.clone(), crc ^ 1)
        .await
        .expect_err("a wrong checksum must be refused");
    assert!(
        refused.is_checksum_refused() || refused.code.as_deref() == Some("BadDigest"),
        "{refused}"
    );
    assert_eq!(expect("head", store.head(&key).await), None);
    assert_eq!(
        expect("uploads", store.list_uploads(&key).await),
        std::slice::from_ref(&upload)
    );
    let etag = expect(
        "complete",
        store.complete_multipart(&key, &upload, listed, crc).await,
    );
    let head = expect("head", store.head(&key).await).expect("stored");
    assert_eq!((head.etag, head.crc32c), (etag, Some(crc)));
    let (got, _) = expect("get", store.get_object(&key).await).expect("stored");
    assert!(got == whole, "the object is not its parts in order");
    assert!(expect("uploads", store.list_uploads(&key).await).is_empty());
}

async fn a_gone_upload_is_no_such_upload<S: ObjectStore>(store: &S, prefix: &str) {
    let key = format!("{prefix}/gone.jsonl.gz");
    let completed = expect("create", store.create_multipart(&key).await);
    let part = expect(
        "part",
        store.upload_part(&key, &completed, 1, body(13, 10)).await,
    );
    let crc = crc32c::crc32c(&body(13, 10));
    expect(
        "complete",
        store
            .complete_multipart(&key, &completed, vec![part.clone()], crc)
            .await,
    );
    let aborted = expect("create", store.create_multipart(&key).await);
    expect("abort", store.abort_multipart(&key, &aborted).await);
    for upload in [&completed, &aborted] {
        let gone = |result: Result<(), StoreError>, what: &str| {
            let e = result.expect_err(what);
            assert!(
                e.is_no_such_upload() && e.status == Some(404),
                "{what}: {e}"
            );
            assert!(!e.is_retryable(), "{what}: {e}");
        };
        gone(
            store
                .upload_part(&key, upload, 2, body(14, 10))
                .await
                .map(drop),
            "part",
        );
        gone(store.list_parts(&key, upload).await.map(drop), "list parts");
        let complete = store
            .complete_multipart(&key, upload, vec![part.clone()], crc)
            .await;
        gone(complete.map(drop), "complete");
        gone(store.abort_multipart(&key, upload).await, "abort");
    }
}

async fn listings_name_exactly_what_is_there<S: ObjectStore>(store: &S, prefix: &str) {
    let dir = format!("{prefix}/listed");
    for name in ["_w.b.copy.json", "_w.a.copy.json", "_w.manifest.json"] {
        expect(
            "put",
            store
                .put_object(&format!("{dir}/{name}"), body(15, 3), "application/json")
                .await,
        );
    }
    expect(
        "put",
        store
            .put_object(
                &format!("{prefix}/listed-not/_w.x.copy.json"),
                body(16, 3),
                "application/json",
            )
            .await,
    );
    let keys = expect("list keys", store.list_keys(&format!("{dir}/_w.")).await);
    assert_eq!(
        keys,
        ["_w.a.copy.json", "_w.b.copy.json", "_w.manifest.json"].map(|n| format!("{dir}/{n}"))
    );
    let key = format!("{dir}/w.jsonl.gz");
    let older = expect("create", store.create_multipart(&key).await);
    let newer = expect("create", store.create_multipart(&key).await);
    let elsewhere = expect(
        "create",
        store.create_multipart(&format!("{key}.other")).await,
    );
    assert_eq!(
        expect("uploads", store.list_uploads(&key).await),
        [older.clone(), newer.clone()]
    );
    for (key, upload) in [
        (key.clone(), older),
        (key.clone(), newer),
        (format!("{key}.other"), elsewhere),
    ] {
        expect("abort", store.abort_multipart(&key, &upload).await);
    }
}
