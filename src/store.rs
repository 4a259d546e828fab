//! The destination bucket: the five object operations a copy needs, behind [`ObjectStore`].
//!
//! [`S3Store`] is the real one (aws-sdk-s3, built once per process). Unit tests use an in-memory
//! fake; end-to-end tests use a real S3-protocol server on loopback.

use std::future::Future;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

/// An uploaded part: its number and the ETag S3 returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: i32,
    pub etag: String,
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
}

/// What a copy needs from a bucket. `Clone` is cheap (a handle), so parts can upload in tasks.
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// Where objects go, for messages.
    fn bucket(&self) -> &str;

    fn put_object(
        &self,
        key: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn create_multipart(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<UploadedPart, StoreError>> + Send;

    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Content type of the stored file: Fauna's gzip JSON Lines, unchanged.
pub const CONTENT_TYPE: &str = "application/gzip";

/// An S3 bucket through aws-sdk-s3.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// Builds the client from the SDK's usual configuration chain (region, credentials,
    /// `AWS_ENDPOINT_URL[_S3]`); `force_path_style` for local S3 servers.
    pub async fn from_env(bucket: String, force_path_style: bool) -> S3Store {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let conf = aws_sdk_s3::config::Builder::from(&shared)
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
        StoreError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            status: err.raw_response().map(|r| r.status().as_u16()),
            code: err.code().map(str::to_owned),
            detail: DisplayErrorContext(&err).to_string(),
        }
    }
}

impl ObjectStore for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(CONTENT_TYPE)
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
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        out.upload_id.ok_or_else(|| StoreError {
            operation: "CreateMultipartUpload",
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            status: None,
            code: None,
            detail: "the answer has no UploadId".into(),
        })
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, StoreError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("UploadPart", key, e))?;
        Ok(UploadedPart {
            number,
            etag: out.e_tag.unwrap_or_default(),
        })
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
    ) -> Result<(), StoreError> {
        let parts = parts
            .into_iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(p.etag)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
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
}
