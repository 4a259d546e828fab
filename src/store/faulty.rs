//! [`FaultyStore`]: any bucket, with faults injected per operation (object_store's
//! `ThrottledStore` pattern: a wrapper, not a mode of one store). The in-process fault matrix
//! (`tests/store_faults.rs`) runs whole exports against it over the in-memory bucket; what only
//! the S3 protocol can show (the SDK's retries, a body corrupted on the wire) stays with the
//! strict S3 front.
//!
//! A fault names an operation, what goes wrong (an error answer, or a checksum reported other
//! than the stored one), optionally the keys it applies to, and how many times it fires. The store
//! counts how often each fault fired.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use super::{ObjectHead, ObjectStore, Precondition, StoreError, UploadedPart};

/// The bucket operations a fault can name, by their S3 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// PutObject, conditional or not, of an object or a copy record.
    PutObject,
    UploadPart,
    ListParts,
    CompleteMultipartUpload,
    HeadObject,
}

impl Operation {
    /// Its name, as a `StoreError` from S3 gives it.
    fn name(self) -> &'static str {
        match self {
            Operation::PutObject => "PutObject",
            Operation::UploadPart => "UploadPart",
            Operation::ListParts => "ListParts",
            Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            Operation::HeadObject => "HeadObject",
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misbehaviour {
    /// The call fails with this HTTP status and error code, as S3 answers it.
    Answer { status: u16, code: &'static str },
    /// HeadObject reports this CRC32C for the object; ListParts, for every part.
    ReportCrc32c(u32),
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: Operation,
    pub misbehaviour: Misbehaviour,
    /// Only keys that end so (e.g. `.manifest.json`); `None`: every key.
    pub key_suffix: Option<&'static str>,
    /// How many times it fires; `None`: every time.
    pub count: Option<u64>,
}

impl Fault {
    /// Every `operation` fails with `status` and `code`.
    pub fn answer(operation: Operation, status: u16, code: &'static str) -> Fault {
        Fault {
            operation,
            misbehaviour: Misbehaviour::Answer { status, code },
            key_suffix: None,
            count: None,
        }
    }

    /// Every `operation` reports `crc32c` as the stored checksum.
    pub fn report_crc32c(operation: Operation, crc32c: u32) -> Fault {
        Fault {
            operation,
            misbehaviour: Misbehaviour::ReportCrc32c(crc32c),
            key_suffix: None,
            count: None,
        }
    }

    /// Only the first `count` times.
    pub fn times(mut self, count: u64) -> Fault {
        self.count = Some(count);
        self
    }

    /// Only for keys ending with `suffix`.
    pub fn on_keys_ending(mut self, suffix: &'static str) -> Fault {
        self.key_suffix = Some(suffix);
        self
    }
}

/// `inner`, misbehaving as its faults say. Clones share the faults and their counts.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    /// Each fault with how often it fired.
    faults: Arc<Mutex<Vec<(Fault, u64)>>>,
}

impl<S: ObjectStore> FaultyStore<S> {
    pub fn new(inner: S, faults: Vec<Fault>) -> FaultyStore<S> {
        FaultyStore {
            inner,
            faults: Arc::new(Mutex::new(faults.into_iter().map(|f| (f, 0)).collect())),
        }
    }

    /// How often the faults on `operation` fired.
    pub fn fired(&self, operation: Operation) -> u64 {
        self.lock()
            .iter()
            .filter(|(f, _)| f.operation == operation)
            .map(|(_, fired)| fired)
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Fault, u64)>> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The misbehaviour due now for `operation` on `key`, counted as fired. A reported checksum
    /// is due only when there is something to report it of (`reportable`): an object, a part.
    fn due(&self, operation: Operation, key: &str, reportable: bool) -> Option<Misbehaviour> {
        let mut faults = self.lock();
        let (fault, fired) = faults.iter_mut().find(|(f, fired)| {
            f.operation == operation
                && f.key_suffix.is_none_or(|s| key.ends_with(s))
                && f.count.is_none_or(|c| *fired < c)
                && (reportable || matches!(f.misbehaviour, Misbehaviour::Answer { .. }))
        })?;
        *fired += 1;
        Some(fault.misbehaviour.clone())
    }

    /// `Fail` with the injected answer when one is due; `Report` with a checksum, when one is.
    fn check(&self, operation: Operation, key: &str, reportable: bool) -> Checked {
        match self.due(operation, key, reportable) {
            Some(Misbehaviour::Answer { status, code }) => Checked::Fail(StoreError {
                operation: operation.name(),
                bucket: self.inner.bucket().to_owned(),
                key: key.to_owned(),
                status: Some(status),
                code: Some(code.to_owned()),
                detail: format!("{code} (injected)"),
            }),
            Some(Misbehaviour::ReportCrc32c(crc)) => Checked::Report(crc),
            None => Checked::Pass,
        }
    }

    /// The store's answer to a write, unless a fault answers instead.
    async fn guarded<T>(
        &self,
        operation: Operation,
        key: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.check(operation, key, false) {
            Checked::Fail(e) => Err(e),
            Checked::Pass | Checked::Report(_) => call.await,
        }
    }
}

enum Checked {
    Pass,
    Fail(StoreError),
    Report(u32),
}

impl<S: ObjectStore> ObjectStore for FaultyStore<S> {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<String, StoreError> {
        let call = self.inner.put_object(key, body, content_type);
        self.guarded(Operation::PutObject, key, call).await
    }

    async fn put_expiring_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<String, StoreError> {
        let call = self.inner.put_expiring_object(key, body, content_type);
        self.guarded(Operation::PutObject, key, call).await
    }

    async fn put_object_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &'static str,
        condition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        let call = self.inner.put_object_if(key, body, content_type, condition);
        self.guarded(Operation::PutObject, key, call).await
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        self.inner.create_multipart(key).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, StoreError> {
        let call = self.inner.upload_part(key, upload_id, number, body);
        self.guarded(Operation::UploadPart, key, call).await
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        let parts = self.inner.list_parts(key, upload_id).await?;
        Ok(
            match self.check(Operation::ListParts, key, !parts.is_empty()) {
                Checked::Fail(e) => return Err(e),
                Checked::Report(crc) => parts
                    .into_iter()
                    .map(|p| UploadedPart {
                        crc32c: Some(crc),
                        ..p
                    })
                    .collect(),
                _ => parts,
            },
        )
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc32c: u32,
    ) -> Result<String, StoreError> {
        let call = self.inner.complete_multipart(key, upload_id, parts, crc32c);
        self.guarded(Operation::CompleteMultipartUpload, key, call)
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
        Ok(
            match self.check(Operation::HeadObject, key, head.is_some()) {
                Checked::Fail(e) => return Err(e),
                Checked::Report(crc) => head.map(|h| ObjectHead {
                    crc32c: Some(crc),
                    ..h
                }),
                _ => head,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn faults_fire_as_often_as_asked_on_the_keys_asked() {
        let store = FaultyStore::new(
            MemoryStore::default(),
            vec![
                Fault::answer(Operation::PutObject, 500, "InternalError")
                    .on_keys_ending(".json")
                    .times(2),
                Fault::report_crc32c(Operation::HeadObject, 7),
            ],
        );
        let body = || Bytes::from_static(b"x");
        for _ in 0..2 {
            let e = store.put_object("a.json", body(), "t").await.unwrap_err();
            assert_eq!(
                (e.status, e.code.as_deref()),
                (Some(500), Some("InternalError"))
            );
            assert!(e.is_retryable());
        }
        store.put_object("a.json", body(), "t").await.unwrap();
        store.put_object("b.gz", body(), "t").await.unwrap();
        assert_eq!(store.fired(Operation::PutObject), 2);
        let head = store.head("b.gz").await.unwrap().unwrap();
        assert_eq!(head.crc32c, Some(7));
        assert_eq!(store.fired(Operation::HeadObject), 1);
        // The inner store holds what passed.
        assert_eq!(store.list_keys("").await.unwrap(), ["a.json", "b.gz"]);
    }

    #[tokio::test]
    async fn list_parts_reports_the_injected_checksum_for_every_part() {
        let store = FaultyStore::new(
            MemoryStore::default(),
            vec![Fault::report_crc32c(Operation::ListParts, 9).times(1)],
        );
        let id = store.create_multipart("k").await.unwrap();
        store
            .upload_part("k", &id, 1, Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let lied = store.list_parts("k", &id).await.unwrap();
        assert_eq!(lied[0].crc32c, Some(9));
        let honest = store.list_parts("k", &id).await.unwrap();
        assert_eq!(honest[0].crc32c, Some(crc32c::crc32c(b"abc")));
    }
}
