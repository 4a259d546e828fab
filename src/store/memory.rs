//! An in-memory bucket for unit tests: it keeps objects and multipart uploads, checks what S3
//! checks (parts listed in order, the full-object CRC32C at completion), reports part checksums
//! in ListParts as S3 does, and records what happened (parts uploaded, aborts, the largest part)
//! so tests can assert on it. Faults: `fail_part` fails one part number; `unlisted_checksums` lists parts without checksums. Like S3, it keeps a copy
//! of what it is sent, never the caller's buffer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{ObjectHead, ObjectStore, Precondition, StoreError, UploadedPart};

/// An in-memory bucket that records what happened, for unit tests.
#[derive(Clone, Default)]
pub struct MemoryStore {
    pub state: Arc<Mutex<MemoryState>>,
}

#[derive(Default)]
pub struct MemoryState {
    pub objects: BTreeMap<String, Vec<u8>>,
    /// The keys of the objects stored tagged for the lifecycle rule to expire.
    pub expiring: std::collections::BTreeSet<String>,
    pub uploads: BTreeMap<String, MemoryUpload>,
    pub aborted: u32,
    pub parts_uploaded: u32,
    pub max_part_len: usize,
    pub fail_part: Option<i32>,
    /// When part N arrives, the upload is gone (another run completed or aborted it): that part
    /// and everything after it on the upload answer NoSuchUpload.
    pub vanish_at_part: Option<i32>,
    /// ListParts lists no part checksums (as moto does).
    pub unlisted_checksums: bool,
    /// HeadObject reports no CRC32C for an object.
    pub unreported_checksums: bool,
    pub next_id: u32,
}

/// An ETag of the bytes, as S3's depends on the bytes alone.
fn etag(body: &[u8]) -> String {
    format!("\"{:08x}-{}\"", crc32c::crc32c(body), body.len())
}

/// A multipart upload in progress: its key and its parts.
#[derive(Default)]
pub struct MemoryUpload {
    pub key: String,
    pub parts: BTreeMap<i32, Bytes>,
}

fn fail(operation: &'static str, key: &str, code: &str) -> StoreError {
    StoreError {
        operation,
        bucket: "memory".into(),
        key: key.into(),
        status: Some(if code == "NoSuchUpload" { 404 } else { 500 }),
        code: Some(code.into()),
        detail: format!("{code} (the in-memory bucket)"),
    }
}

impl MemoryStore {
    /// Stores `body` at `key`, tagged to expire or not; its ETag.
    fn store(&self, key: &str, body: &[u8], expiring: bool) -> String {
        let mut s = self.state.lock().unwrap();
        s.objects.insert(key.into(), body.to_vec());
        if expiring {
            s.expiring.insert(key.into());
        } else {
            s.expiring.remove(key);
        }
        etag(body)
    }
}

impl ObjectStore for MemoryStore {
    fn bucket(&self) -> &str {
        "memory"
    }
    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        _ct: &'static str,
    ) -> Result<String, StoreError> {
        Ok(self.store(key, &body, false))
    }
    async fn put_expiring_object(
        &self,
        key: &str,
        body: Bytes,
        _ct: &'static str,
    ) -> Result<String, StoreError> {
        Ok(self.store(key, &body, true))
    }
    async fn put_object_if(
        &self,
        key: &str,
        body: Bytes,
        _ct: &'static str,
        condition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        let mut s = self.state.lock().unwrap();
        let holds = match (&condition, s.objects.get(key)) {
            (Precondition::IfAbsent, found) => found.is_none(),
            (Precondition::IfMatch(want), Some(found)) => etag(found) == *want,
            (Precondition::IfMatch(_), None) => false,
        };
        if !holds {
            return Ok(None);
        }
        s.objects.insert(key.into(), body.to_vec());
        Ok(Some(etag(&body)))
    }
    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        // Zero-padded, so that the ids sort oldest first.
        let id = format!("upload-{:06}", s.next_id);
        let upload = MemoryUpload {
            key: key.into(),
            parts: BTreeMap::new(),
        };
        s.uploads.insert(id.clone(), upload);
        Ok(id)
    }
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, StoreError> {
        tokio::task::yield_now().await;
        let mut s = self.state.lock().unwrap();
        if s.fail_part == Some(number) {
            return Err(fail("UploadPart", key, "InternalError"));
        }
        if s.vanish_at_part == Some(number) {
            s.vanish_at_part = None;
            s.uploads.remove(upload_id);
        }
        s.max_part_len = s.max_part_len.max(body.len());
        s.parts_uploaded += 1;
        let part = UploadedPart {
            number,
            etag: format!("etag-{number}"),
            size: body.len() as u64,
            crc32c: Some(crc32c::crc32c(&body)),
        };
        s.uploads
            .get_mut(upload_id)
            .ok_or_else(|| fail("UploadPart", key, "NoSuchUpload"))?
            .parts
            .insert(number, Bytes::copy_from_slice(&body));
        Ok(part)
    }
    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        let s = self.state.lock().unwrap();
        let parts = s
            .uploads
            .get(upload_id)
            .ok_or_else(|| fail("ListParts", key, "NoSuchUpload"))?;
        Ok(parts
            .parts
            .iter()
            .map(|(n, b)| UploadedPart {
                number: *n,
                etag: format!("etag-{n}"),
                size: b.len() as u64,
                // Like S3; moto lists none (`unlisted_checksums`).
                crc32c: (!s.unlisted_checksums).then(|| crc32c::crc32c(b)),
            })
            .collect())
    }
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        crc: u32,
    ) -> Result<String, StoreError> {
        let mut s = self.state.lock().unwrap();
        // As S3: a completion refused leaves the upload open.
        let stored = s
            .uploads
            .get(upload_id)
            .ok_or_else(|| fail("CompleteMultipartUpload", key, "NoSuchUpload"))?;
        // As S3: the parts listed, in ascending order, each one stored; parts not listed are
        // dropped.
        let numbers: Vec<i32> = parts.iter().map(|p| p.number).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "parts must be listed in ascending order: {numbers:?}"
        );
        let mut body = Vec::new();
        for number in numbers {
            let part = stored
                .parts
                .get(&number)
                .ok_or_else(|| fail("CompleteMultipartUpload", key, "InvalidPart"))?;
            body.extend_from_slice(part);
        }
        if crc32c::crc32c(&body) != crc {
            return Err(fail("CompleteMultipartUpload", key, "BadDigest"));
        }
        let tag = etag(&body);
        s.uploads.remove(upload_id);
        s.objects.insert(key.into(), body);
        Ok(tag)
    }
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        let mut s = self.state.lock().unwrap();
        s.uploads
            .remove(upload_id)
            .ok_or_else(|| fail("AbortMultipartUpload", key, "NoSuchUpload"))?;
        s.aborted += 1;
        Ok(())
    }
    async fn delete_object_if_match(&self, key: &str, want: &str) -> Result<bool, StoreError> {
        let mut s = self.state.lock().unwrap();
        match s.objects.get(key) {
            Some(found) if etag(found) == want => {
                s.objects.remove(key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.objects.get(key).map(|b| ObjectHead {
            etag: etag(b),
            crc32c: (!s.unreported_checksums).then(|| crc32c::crc32c(b)),
        }))
    }
    async fn get_object(&self, key: &str) -> Result<Option<(Bytes, String)>, StoreError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .objects
            .get(key)
            .map(|b| (Bytes::from(b.clone()), etag(b))))
    }
    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    async fn list_uploads(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.uploads
            .iter()
            .filter(|(_, upload)| upload.key == key)
            .map(|(id, _)| id.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory store passes the suite S3Store passes through the strict S3 front.
    #[tokio::test]
    async fn the_memory_store_conforms() {
        crate::store::conformance::check_all(&MemoryStore::default(), "conformance").await;
    }
}
