//! The destination bucket: the object operations a copy needs, behind [`ObjectStore`].
//!
//! Every upload carries a CRC32C that S3 verifies: a PutObject its body's, a multipart upload a
//! full-object checksum (`ChecksumType=FULL_OBJECT`) built from each part's, checked again by S3
//! at CompleteMultipartUpload.
//!
//! - [`s3`]: [`S3Store`], the real bucket through aws-sdk-s3, built once per process.
//! - `memory`: an in-memory bucket that records what happened, for unit tests in any module
//!   (modelled on object_store's `InMemory`); `conformance`: the suite it passes as S3 does.
//! - `faulty`: any bucket with faults injected per operation, for the in-process fault matrix.
//!   End-to-end tests use a real S3-protocol server.

#[cfg(any(test, feature = "simulator"))]
pub mod conformance;
#[cfg(any(test, feature = "simulator"))]
pub mod faulty;
#[cfg(any(test, feature = "simulator"))]
pub mod memory;
pub mod s3;

use std::future::Future;

use aws_smithy_types::base64;
use bytes::Bytes;

pub use self::s3::{Destination, S3Store};

/// An uploaded part: what CompleteMultipartUpload needs, and what resuming needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: i32,
    pub etag: String,
    pub size: u64,
    /// `None` when listed by a store that does not report part checksums; the copy fills it in
    /// as it reads the file again.
    pub crc32c: Option<u32>,
}

/// A bucket operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("S3 {operation} of s3://{bucket}/{key} failed{status}: {detail}",
    status = self.status.map(|s| format!(" with HTTP {s}")).unwrap_or_default())]
pub struct StoreError {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub detail: String,
}

impl StoreError {
    /// A failure the store itself noticed (no answer from the service to quote).
    pub fn new(operation: &'static str, bucket: &str, key: &str, detail: String) -> StoreError {
        StoreError {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            status: None,
            code: None,
            detail,
        }
    }

    /// Access denied, missing bucket and other client errors do not heal by retrying; a body
    /// corrupted in transit (`BadDigest`) does.
    pub(crate) fn is_retryable(&self) -> bool {
        if self.is_checksum_refused() {
            return true;
        }
        match self.status {
            Some(408 | 429) => true,
            Some(s) => !(400..500).contains(&s),
            None => true,
        }
    }

    /// S3 refused what it received because a checksum did not match: a body corrupted in
    /// transit (`BadDigest`), or parts listed at completion with checksums other than theirs
    /// (`InvalidPart`). Sending them again (from the file, or as ListParts lists them) cures it.
    pub(crate) fn is_checksum_refused(&self) -> bool {
        matches!(self.code.as_deref(), Some("BadDigest" | "InvalidPart"))
    }

    /// A conditional request's condition did not hold (HTTP 412).
    pub(crate) fn is_precondition_failed(&self) -> bool {
        self.status == Some(412) || self.code.as_deref() == Some("PreconditionFailed")
    }

    /// The multipart upload is gone (aborted, completed, or expired by a lifecycle rule).
    pub(crate) fn is_no_such_upload(&self) -> bool {
        self.code.as_deref() == Some("NoSuchUpload")
    }
}

/// A write's condition on what the key holds (S3's conditional requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if nothing is stored at the key (`If-None-Match: *`).
    IfAbsent,
    /// Only if the object at the key has this ETag (`If-Match`).
    IfMatch(String),
}

/// What the bucket says of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub etag: String,
    /// The full-object CRC32C, when the store reports one.
    pub crc32c: Option<u32>,
}

/// What a copy needs from a bucket. `Clone` is cheap (a handle), so parts can upload in tasks.
/// There is no unconditional delete: an object is only ever deleted by the run that wrote it.
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// Where objects go, for messages.
    fn bucket(&self) -> &str;

    /// Stores a whole object, with the CRC32C of `body` for S3 to verify; returns its ETag.
    fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// [`ObjectStore::put_object`] of an object kept only while a copy runs (its record), tagged
    /// [`EXPIRING_TAG`] so that the bucket's lifecycle rule removes it when no copy does.
    fn put_expiring_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// [`ObjectStore::put_object`] only if `condition` holds: `None` when it does not.
    fn put_object_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
        condition: Precondition,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Starts a multipart upload with a full-object CRC32C.
    fn create_multipart(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Uploads part `number`, with its CRC32C.
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<UploadedPart, StoreError>> + Send;

    /// The parts an upload holds, in order (for resuming in a later invocation).
    fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<UploadedPart>, StoreError>> + Send;

    /// Completes the upload; S3 checks `crc32c` against the parts' checksums. Returns the
    /// object's ETag.
    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc32c: u32,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the object at `key` only if it is still the one with this ETag (`If-Match`);
    /// `false` when another object is there now.
    fn delete_object_if_match(
        &self,
        key: &str,
        etag: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A small object's bytes and ETag, if there is one at `key`.
    fn get_object(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(Bytes, String)>, StoreError>> + Send;

    /// The keys of the objects whose key starts with `prefix`, in order.
    fn list_keys(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The multipart uploads in progress for exactly `key`: their ids, oldest first.
    fn list_uploads(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The object at `key`, if there is one: its ETag and checksum.
    fn head(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectHead>, StoreError>> + Send;
}

/// The tag (`key=value`, as S3's `x-amz-tagging` takes it) of the objects the bucket's
/// `ExpireCopyRecords` lifecycle rule removes (infra/template.yaml).
pub const EXPIRING_TAG: &str = "fauna-logs-export=copy-record";

/// Content type of the stored file: Fauna's gzip JSON Lines, unchanged.
pub(crate) const CONTENT_TYPE: &str = "application/gzip";

/// A CRC32C as S3 writes it: base64 of the four big-endian bytes.
pub fn crc32c_base64(crc: u32) -> String {
    base64::encode(crc.to_be_bytes())
}

/// The inverse of [`crc32c_base64`]; `None` for anything else (e.g. a composite `…-3`).
pub(crate) fn parse_crc32c_base64(value: &str) -> Option<u32> {
    let bytes = base64::decode(value).ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_round_trips_through_base64() {
        // The CRC32C check value of "123456789" is 0xE3069283.
        let crc = crc32c::crc32c(b"123456789");
        assert_eq!(crc, 0xE306_9283);
        assert_eq!(crc32c_base64(crc), "4waSgw==");
        assert_eq!(parse_crc32c_base64("4waSgw=="), Some(crc));
        assert_eq!(parse_crc32c_base64("4waSgw==-3"), None);
    }
}
