//! [`WatchedStore`]: the in-memory bucket, as the run's plan has it behave, watched.
//!
//! It is [`MemoryStore`] (S3's checks), or, when the plan says so, a bucket like moto: ListParts
//! lists no part checksums, and CompleteMultipartUpload checks the full-object CRC32C against
//! the part checksums the client lists rather than against the bytes stored, and HeadObject
//! reports the checksum the completion named. It records the
//! uploads the run created and the largest part it was sent, for the invariants.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::store::memory::MemoryStore;
use crate::store::{ObjectHead, ObjectStore, Precondition, StoreError, UploadedPart};

#[derive(Clone)]
pub struct WatchedStore {
    pub inner: MemoryStore,
    moto_like: bool,
    /// Uploads created during the run.
    pub created: Arc<Mutex<Vec<String>>>,
    /// The largest part body sent.
    pub largest_part: Arc<AtomicUsize>,
    /// Moto-like: the checksum each completion named, by key, with the object's ETag.
    named: Arc<Mutex<HashMap<String, (String, u32)>>>,
}

impl WatchedStore {
    pub fn new(moto_like: bool) -> WatchedStore {
        let inner = MemoryStore::default();
        // Like moto: ListParts lists no part checksums.
        inner.state.lock().expect("store lock").unlisted_checksums = moto_like;
        WatchedStore {
            inner,
            moto_like,
            created: Arc::default(),
            largest_part: Arc::default(),
            named: Arc::default(),
        }
    }

    fn refused(key: &str, code: &str) -> StoreError {
        StoreError {
            operation: "CompleteMultipartUpload",
            bucket: "memory".into(),
            key: key.into(),
            status: Some(if code == "NoSuchUpload" { 404 } else { 400 }),
            code: Some(code.into()),
            detail: "refused by the watched store".into(),
        }
    }

    /// Completion as moto checks it: the listed checksums, combined, must be the full-object
    /// checksum; the stored bytes are not looked at.
    async fn complete_trusting_listed(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc: u32,
    ) -> Result<String, StoreError> {
        let body = {
            let mut state = self.inner.state.lock().expect("store lock");
            // As S3: a completion refused leaves the upload open.
            let upload = state
                .uploads
                .get(upload_id)
                .ok_or_else(|| Self::refused(key, "NoSuchUpload"))?;
            let mut body = Vec::new();
            let mut listed = 0u32;
            for part in &parts {
                let stored = upload
                    .parts
                    .get(&part.number)
                    .ok_or_else(|| Self::refused(key, "InvalidPart"))?;
                let part_crc = part.crc32c.unwrap_or_else(|| crc32c::crc32c(stored));
                listed = crc32c::crc32c_combine(listed, part_crc, stored.len());
                body.extend_from_slice(stored);
            }
            if listed != crc {
                return Err(Self::refused(key, "BadDigest"));
            }
            state.uploads.remove(upload_id);
            body
        };
        let etag = self
            .inner
            .put_object(key, Bytes::from(body), crate::store::CONTENT_TYPE)
            .await?;
        self.named
            .lock()
            .expect("lock")
            .insert(key.to_owned(), (etag.clone(), crc));
        Ok(etag)
    }
}

impl ObjectStore for WatchedStore {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<String, StoreError> {
        self.inner.put_object(key, body, content_type).await
    }

    async fn put_expiring_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<String, StoreError> {
        self.inner
            .put_expiring_object(key, body, content_type)
            .await
    }

    async fn put_object_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
        condition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        self.inner
            .put_object_if(key, body, content_type, condition)
            .await
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        let id = self.inner.create_multipart(key).await?;
        self.created.lock().expect("lock").push(id.clone());
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, StoreError> {
        self.largest_part.fetch_max(body.len(), Ordering::Relaxed);
        self.inner.upload_part(key, upload_id, number, body).await
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        self.inner.list_parts(key, upload_id).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc32c: u32,
    ) -> Result<String, StoreError> {
        if self.moto_like {
            return self
                .complete_trusting_listed(key, upload_id, parts, crc32c)
                .await;
        }
        self.inner
            .complete_multipart(key, upload_id, parts, crc32c)
            .await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.inner.abort_multipart(key, upload_id).await
    }

    async fn delete_object_if_match(&self, key: &str, etag: &str) -> Result<bool, StoreError> {
        self.inner.delete_object_if_match(key, etag).await
    }

    async fn get_object(&self, key: &str) -> Result<Option<(Bytes, String)>, StoreError> {
        self.inner.get_object(key).await
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(prefix).await
    }

    async fn list_uploads(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_uploads(key).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, StoreError> {
        let head = self.inner.head(key).await?;
        let named = self.named.lock().expect("lock").get(key).cloned();
        Ok(match (head, named) {
            (Some(head), Some((etag, crc))) if head.etag == etag => Some(ObjectHead {
                etag,
                crc32c: Some(crc),
            }),
            (head, _) => head,
        })
    }
}
