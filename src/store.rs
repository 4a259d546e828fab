//! The destination bucket: the object operations a copy needs, behind [`ObjectStore`].
//!
//! Every upload carries a CRC32C that S3 verifies: a PutObject its body's, a multipart upload a
//! full-object checksum (`ChecksumType=FULL_OBJECT`) built from each part's, checked again by S3
//! at CompleteMultipartUpload. [`S3Store`] is the real store (aws-sdk-s3, built once per
//! process); unit tests use an in-memory fake, end-to-end tests a real S3-protocol server.

use std::future::Future;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use aws_smithy_types::base64;
use bytes::Bytes;

use crate::error::aws_error_detail;

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
    /// Access denied, missing bucket and other client errors do not heal by retrying.
    pub fn is_retryable(&self) -> bool {
        match self.status {
            Some(408 | 429) => true,
            Some(s) => !(400..500).contains(&s),
            None => true,
        }
    }

    /// The multipart upload is gone (aborted, completed, or expired by a lifecycle rule).
    pub fn is_no_such_upload(&self) -> bool {
        self.code.as_deref() == Some("NoSuchUpload")
    }
}

/// What a copy needs from a bucket. `Clone` is cheap (a handle), so parts can upload in tasks.
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// Where objects go, for messages.
    fn bucket(&self) -> &str;

    /// Stores a whole object, with the CRC32C of `body` for S3 to verify.
    fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

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

    /// Completes the upload; S3 checks `crc32c` against the parts' checksums.
    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc32c: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn delete_object(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The full-object CRC32C S3 reports for a stored object, if it reports one.
    fn stored_crc32c(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<u32>, StoreError>> + Send;

    /// Whether an object is stored at `key`.
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Content type of the stored file: Fauna's gzip JSON Lines, unchanged.
pub const CONTENT_TYPE: &str = "application/gzip";

/// A CRC32C as S3 writes it: base64 of the four big-endian bytes.
pub fn crc32c_base64(crc: u32) -> String {
    base64::encode(crc.to_be_bytes())
}

/// The inverse of [`crc32c_base64`]; `None` for anything else (e.g. a composite `…-3`).
pub fn parse_crc32c_base64(value: &str) -> Option<u32> {
    let bytes = base64::decode(value).ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// An S3 bucket through aws-sdk-s3.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// Builds the client from the SDK's configuration (region, credentials,
    /// `AWS_ENDPOINT_URL[_S3]`); `force_path_style` for local S3 servers.
    pub fn new(aws: &aws_config::SdkConfig, bucket: String, force_path_style: bool) -> S3Store {
        let conf = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(force_path_style)
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket,
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        key: &str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError {
        let detail = aws_error_detail(&err);
        StoreError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            status: err.raw_response().map(|r| r.status().as_u16()),
            code: err.code().map(str::to_owned),
            detail,
        }
    }

    fn invalid(&self, operation: &'static str, key: &str, detail: String) -> StoreError {
        StoreError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            status: None,
            code: None,
            detail,
        }
    }
}

impl ObjectStore for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        let crc = crc32c::crc32c(&body);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_crc32_c(crc32c_base64(crc))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(())
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(CONTENT_TYPE)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        out.upload_id.ok_or_else(|| {
            self.invalid(
                "CreateMultipartUpload",
                key,
                "the answer has no UploadId".into(),
            )
        })
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, StoreError> {
        let crc = crc32c::crc32c(&body);
        let size = body.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_crc32_c(crc32c_base64(crc))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("UploadPart", key, e))?;
        Ok(UploadedPart {
            number,
            etag: out.e_tag.unwrap_or_default(),
            size,
            crc32c: Some(crc),
        })
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| self.error("ListParts", key, e))?;
            for p in out.parts() {
                parts.push(UploadedPart {
                    number: p.part_number().unwrap_or_default(),
                    etag: p.e_tag().unwrap_or_default().to_owned(),
                    size: p.size().unwrap_or_default().max(0) as u64,
                    crc32c: p.checksum_crc32_c().and_then(parse_crc32c_base64),
                });
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc32c: u32,
    ) -> Result<(), StoreError> {
        let parts = parts
            .into_iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(p.etag)
                    .set_checksum_crc32_c(p.crc32c.map(crc32c_base64))
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .checksum_type(ChecksumType::FullObject)
            .checksum_crc32_c(crc32c_base64(crc32c))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.error("CompleteMultipartUpload", key, e))?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| self.error("AbortMultipartUpload", key, e))?;
        Ok(())
    }

    async fn delete_object(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", key, e))?;
        Ok(())
    }

    async fn stored_crc32c(&self, key: &str) -> Result<Option<u32>, StoreError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| self.error("HeadObject", key, e))?;
        Ok(out.checksum_crc32_c().and_then(parse_crc32c_base64))
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(e) => Err(self.error("HeadObject", key, e)),
        }
    }
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
