//! [`S3Store`]: the bucket through aws-sdk-s3.
//!
//! [`Destination`] says which bucket, whose it must be and which key encrypts it. Every request
//! carries `ExpectedBucketOwner` when the owner is configured, so a bucket of the same name in
//! another account is never written or read (S3 answers 403, which is [`StoreError`]'s
//! non-retryable kind, and the error names the bucket and the account expected). With a KMS key,
//! every object written (log file, manifest, copy record, backfill report) is SSE-KMS under that
//! key with the S3 Bucket Key on.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    ServerSideEncryption,
};
use bytes::Bytes;

use super::{
    CONTENT_TYPE, EXPIRING_TAG, ObjectHead, ObjectStore, Precondition, StoreError, UploadedPart,
    crc32c_base64, parse_crc32c_base64,
};

/// The bucket the logs go to, and what every request to it must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub bucket: String,
    /// The 12-digit account that must own the bucket (`ExpectedBucketOwner`).
    pub expected_owner: Option<String>,
    /// The KMS key that encrypts every object written (SSE-KMS, S3 Bucket Key on).
    pub kms_key: Option<String>,
    /// Path-style addressing, for local S3 servers.
    pub force_path_style: bool,
}

/// An S3 bucket through aws-sdk-s3.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    expected_owner: Option<String>,
    kms_key: Option<String>,
}

impl S3Store {
    /// Builds the client from the SDK's configuration (region, credentials,
    /// `AWS_ENDPOINT_URL[_S3]`) for `destination`.
    pub fn new(aws: &aws_config::SdkConfig, destination: Destination) -> S3Store {
        let conf = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(destination.force_path_style)
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: destination.bucket,
            expected_owner: destination.expected_owner,
            kms_key: destination.kms_key,
        }
    }

    fn owner(&self) -> Option<String> {
        self.expected_owner.clone()
    }

    /// SSE-KMS settings for a write: `(ServerSideEncryption, key, BucketKeyEnabled)`, all `None`
    /// without a key (the bucket's default encryption applies).
    fn encryption(&self) -> (Option<ServerSideEncryption>, Option<String>, Option<bool>) {
        match &self.kms_key {
            Some(key) => (
                Some(ServerSideEncryption::AwsKms),
                Some(key.clone()),
                Some(true),
            ),
            None => (None, None, None),
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        key: &str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError {
        let mut detail = crate::aws_error::describe(&err);
        let status = err.raw_response().map(|r| r.status().as_u16());
        if let (Some(403), Some(owner)) = (status, &self.expected_owner) {
            detail.push_str(&format!(
                "; the bucket must belong to account {owner} (LOGS_BUCKET_OWNER, sent as \
                 ExpectedBucketOwner) and the function's role must be allowed to use it: check \
                 LOGS_BUCKET, LOGS_BUCKET_OWNER and the role's policy"
            ));
        }
        StoreError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            status,
            code: err.code().map(str::to_owned),
            detail,
        }
    }
}

impl S3Store {
    /// A PutObject of `body` with its CRC32C, for S3 to verify.
    fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let crc = crc32c::crc32c(&body);
        let (sse, kms_key, bucket_key) = self.encryption();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_crc32_c(crc32c_base64(crc))
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .set_bucket_key_enabled(bucket_key)
            .body(ByteStream::from(body))
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
    ) -> Result<String, StoreError> {
        let out = self.put(key, body, content_type).send().await;
        let out = out.map_err(|e| self.error("PutObject", key, e))?;
        Ok(out.e_tag.unwrap_or_default())
    }

    async fn put_expiring_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<String, StoreError> {
        let put = self.put(key, body, content_type).tagging(EXPIRING_TAG);
        let out = put
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(out.e_tag.unwrap_or_default())
    }

    async fn put_object_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
        condition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        let put = self.put(key, body, content_type);
        let if_match = matches!(condition, Precondition::IfMatch(_));
        let put = match condition {
            Precondition::IfAbsent => put.if_none_match("*"),
            Precondition::IfMatch(etag) => put.if_match(etag),
        };
        match put.send().await {
            Ok(out) => Ok(Some(out.e_tag.unwrap_or_default())),
            Err(e) => {
                let e = self.error("PutObject", key, e);
                // S3 answers `If-Match` on a key that holds nothing with 404 NoSuchKey: the
                // object it named is gone, so the condition does not hold.
                let gone = if_match && e.code.as_deref() == Some("NoSuchKey");
                if e.is_precondition_failed() || gone {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        let (sse, kms_key, bucket_key) = self.encryption();
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .key(key)
            .content_type(CONTENT_TYPE)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_type(ChecksumType::FullObject)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .set_bucket_key_enabled(bucket_key)
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        out.upload_id.ok_or_else(|| {
            StoreError::new(
                "CreateMultipartUpload",
                &self.bucket,
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
            .set_expected_bucket_owner(self.owner())
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
                .set_expected_bucket_owner(self.owner())
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
    ) -> Result<String, StoreError> {
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
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
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
        Ok(out.e_tag.unwrap_or_default())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| self.error("AbortMultipartUpload", key, e))?;
        Ok(())
    }

    async fn delete_object_if_match(&self, key: &str, etag: &str) -> Result<bool, StoreError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .key(key)
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = self.error("DeleteObject", key, e);
                if e.is_precondition_failed() || e.status == Some(404) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectHead {
                etag: out.e_tag().unwrap_or_default().to_owned(),
                crc32c: out.checksum_crc32_c().and_then(parse_crc32c_base64),
            })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(self.error("HeadObject", key, e)),
        }
    }

    async fn get_object(&self, key: &str) -> Result<Option<(Bytes, String)>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(self.error("GetObject", key, e)),
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let body = out.body.collect().await.map_err(|e| {
            StoreError::new(
                "GetObject",
                &self.bucket,
                key,
                format!("reading the object: {e}"),
            )
        })?;
        Ok(Some((body.into_bytes(), etag)))
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .set_expected_bucket_owner(self.owner())
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match (out.is_truncated(), out.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn list_uploads(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.owner())
            .prefix(key)
            .send()
            .await
            .map_err(|e| self.error("ListMultipartUploads", key, e))?;
        let mut uploads: Vec<(Option<aws_smithy_types::DateTime>, String)> = out
            .uploads()
            .iter()
            .filter(|u| u.key() == Some(key))
            .filter_map(|u| Some((u.initiated().copied(), u.upload_id()?.to_owned())))
            .collect();
        uploads.sort_by_key(|(initiated, _)| initiated.map(|t| (t.secs(), t.subsec_nanos())));
        Ok(uploads.into_iter().map(|(_, id)| id).collect())
    }
}
