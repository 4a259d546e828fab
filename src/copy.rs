//! The copy: stream a log file into the bucket without holding it in memory.
//!
//! Bytes from the download are cut into parts of `part_size`; a file smaller than one part is
//! stored with a single PutObject, a larger one with a multipart upload whose parts upload in
//! background tasks, at most `max_in_flight` at a time, while the download goes on. Memory is
//! bounded by roughly `(max_in_flight + 1) × part_size`, whatever the file's size. Any failure
//! aborts the multipart upload, so nothing half-written is left behind; the object at the key
//! appears only when the whole file has arrived (CompleteMultipartUpload or PutObject).

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::task::JoinSet;

use crate::fauna::{DownloadError, LogFile};
use crate::store::{ObjectStore, StoreError, UploadedPart};

/// Part size and concurrency of a copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    pub part_size: usize,
    pub max_in_flight: usize,
}

/// What a finished copy stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    /// 0 for a single PutObject.
    pub parts: u32,
}

/// A copy that failed; the bucket holds nothing new at the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Streams `file` into `store` at `key`.
pub async fn copy_file<S: ObjectStore>(
    file: LogFile,
    store: &S,
    key: &str,
    options: CopyOptions,
    url_for_messages: &str,
) -> Result<Copied, CopyError> {
    let LogFile {
        content_length,
        mut body,
    } = file;
    let mut writer = PartWriter::new(store.clone(), key, options);
    let pumped = async {
        while let Some(chunk) = body.next().await {
            writer.write(chunk?).await?;
        }
        match content_length {
            Some(expected) if expected != writer.bytes => {
                Err(CopyError::Download(DownloadError::Truncated {
                    url: url_for_messages.to_owned(),
                    received: writer.bytes,
                    expected,
                }))
            }
            _ => Ok(()),
        }
    }
    .await;
    let finished = match pumped {
        Ok(()) => writer.finish().await,
        Err(e) => Err(e),
    };
    match finished {
        Ok(copied) => Ok(copied),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

/// Cuts a byte stream into parts and keeps a bounded number of them uploading.
struct PartWriter<S: ObjectStore> {
    store: S,
    key: String,
    options: CopyOptions,
    buffer: BytesMut,
    bytes: u64,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<UploadedPart, StoreError>>,
    uploaded: Vec<UploadedPart>,
}

impl<S: ObjectStore> PartWriter<S> {
    fn new(store: S, key: &str, options: CopyOptions) -> Self {
        PartWriter {
            store,
            key: key.to_owned(),
            options,
            buffer: BytesMut::new(),
            bytes: 0,
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            uploaded: Vec::new(),
        }
    }

    async fn write(&mut self, mut chunk: Bytes) -> Result<(), CopyError> {
        self.bytes += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve(self.options.part_size);
            }
            let room = self.options.part_size - self.buffer.len();
            let piece = chunk.split_to(room.min(chunk.len()));
            self.buffer.extend_from_slice(&piece);
            if self.buffer.len() == self.options.part_size {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Starts uploading the buffered part, after waiting for a free slot.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.create_multipart(&self.key).await?;
                tracing::debug!(key = %self.key, "multipart upload started");
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= self.options.max_in_flight {
            self.join_one().await?;
        }
        let body = self.buffer.split().freeze();
        let number = self.next_part;
        self.next_part += 1;
        let store = self.store.clone();
        let key = self.key.clone();
        self.in_flight
            .spawn(async move { store.upload_part(&key, &upload_id, number, body).await });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), StoreError> {
        match self.in_flight.join_next().await {
            Some(Ok(part)) => {
                self.uploaded.push(part?);
                Ok(())
            }
            Some(Err(join)) => Err(StoreError {
                operation: "UploadPart",
                bucket: self.store.bucket().to_owned(),
                key: self.key.clone(),
                status: None,
                code: None,
                detail: format!("the upload task ended abnormally: {join}"),
            }),
            None => Ok(()),
        }
    }

    /// Uploads what is left and makes the object appear at the key.
    async fn finish(&mut self) -> Result<Copied, CopyError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            self.store.put_object(&self.key, body).await?;
            return Ok(Copied {
                bytes: self.bytes,
                parts: 0,
            });
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        let mut parts = std::mem::take(&mut self.uploaded);
        parts.sort_by_key(|p| p.number);
        let count = parts.len() as u32;
        self.store
            .complete_multipart(&self.key, &upload_id, parts)
            .await?;
        self.upload_id = None;
        Ok(Copied {
            bytes: self.bytes,
            parts: count,
        })
    }

    /// Stops the parts still uploading and aborts the multipart upload, if one was started.
    async fn abort(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(upload_id) = self.upload_id.take() {
            match self.store.abort_multipart(&self.key, &upload_id).await {
                Ok(()) => tracing::info!(key = %self.key, "multipart upload aborted"),
                Err(e) => tracing::error!(
                    error = %e,
                    "could not abort the multipart upload; the bucket's AbortIncompleteMultipartUpload lifecycle rule will remove it"
                ),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::StoreError;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    /// An in-memory bucket that records what happened, for unit tests.
    #[derive(Clone, Default)]
    pub struct MemoryStore {
        pub state: Arc<Mutex<MemoryState>>,
    }

    #[derive(Default)]
    pub struct MemoryState {
        pub objects: BTreeMap<String, Vec<u8>>,
        pub uploads: BTreeMap<String, BTreeMap<i32, Bytes>>,
        pub aborted: u32,
        pub max_part_len: usize,
        pub fail_part: Option<i32>,
        pub next_id: u32,
    }

    impl MemoryStore {
        fn fail(&self, operation: &'static str, key: &str) -> StoreError {
            StoreError {
                operation,
                bucket: "memory".into(),
                key: key.into(),
                status: Some(500),
                code: Some("InternalError".into()),
                detail: "injected".into(),
            }
        }
    }

    impl ObjectStore for MemoryStore {
        fn bucket(&self) -> &str {
            "memory"
        }
        async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
            let mut s = self.state.lock().unwrap();
            s.objects.insert(key.into(), body.to_vec());
            Ok(())
        }
        async fn create_multipart(&self, _key: &str) -> Result<String, StoreError> {
            let mut s = self.state.lock().unwrap();
            s.next_id += 1;
            let id = format!("upload-{}", s.next_id);
            s.uploads.insert(id.clone(), BTreeMap::new());
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
                return Err(self.fail("UploadPart", key));
            }
            s.max_part_len = s.max_part_len.max(body.len());
            s.uploads
                .get_mut(upload_id)
                .ok_or_else(|| self.fail("UploadPart", key))?
                .insert(number, body);
            Ok(UploadedPart {
                number,
                etag: format!("etag-{number}"),
            })
        }
        async fn complete_multipart(
            &self,
            key: &str,
            upload_id: &str,
            parts: Vec<UploadedPart>,
        ) -> Result<(), StoreError> {
            let mut s = self.state.lock().unwrap();
            let stored = s
                .uploads
                .remove(upload_id)
                .ok_or_else(|| self.fail("CompleteMultipartUpload", key))?;
            let numbers: Vec<i32> = parts.iter().map(|p| p.number).collect();
            let expected: Vec<i32> = stored.keys().copied().collect();
            assert_eq!(
                numbers, expected,
                "parts must be listed in order, all of them"
            );
            let body: Vec<u8> = stored.values().flat_map(|b| b.iter().copied()).collect();
            s.objects.insert(key.into(), body);
            Ok(())
        }
        async fn abort_multipart(&self, _key: &str, upload_id: &str) -> Result<(), StoreError> {
            let mut s = self.state.lock().unwrap();
            s.uploads.remove(upload_id);
            s.aborted += 1;
            Ok(())
        }
    }

    fn file(chunks: Vec<Result<Bytes, DownloadError>>, len: Option<u64>) -> LogFile {
        LogFile {
            content_length: len,
            body: futures_util::stream::iter(chunks).boxed(),
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn chunked(bytes: &[u8], size: usize) -> Vec<Result<Bytes, DownloadError>> {
        bytes
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    }

    const OPTS: CopyOptions = CopyOptions {
        part_size: 1000,
        max_in_flight: 2,
    };

    #[tokio::test]
    async fn small_file_is_one_put() {
        let store = MemoryStore::default();
        let bytes = data(999);
        let copied = copy_file(
            file(chunked(&bytes, 100), Some(999)),
            &store,
            "k",
            OPTS,
            "u",
        )
        .await
        .unwrap();
        assert_eq!(
            copied,
            Copied {
                bytes: 999,
                parts: 0
            }
        );
        assert_eq!(store.state.lock().unwrap().objects["k"], bytes);
    }

    #[tokio::test]
    async fn large_file_is_multipart_in_order_with_bounded_parts() {
        for len in [1000, 1001, 4500, 10_000] {
            let store = MemoryStore::default();
            let bytes = data(len);
            let copied = copy_file(file(chunked(&bytes, 333), None), &store, "k", OPTS, "u")
                .await
                .unwrap();
            assert_eq!(copied.bytes, len as u64);
            assert_eq!(copied.parts as usize, len.div_ceil(1000));
            let s = store.state.lock().unwrap();
            assert_eq!(s.objects["k"], bytes, "len {len}");
            assert!(s.max_part_len <= 1000);
            assert!(s.uploads.is_empty());
        }
    }

    #[tokio::test]
    async fn a_broken_download_aborts_and_stores_nothing() {
        let store = MemoryStore::default();
        let mut chunks = chunked(&data(3500), 500);
        chunks.push(Err(DownloadError::Interrupted {
            url: "u".into(),
            received: 3500,
            cause: "reset".into(),
        }));
        let err = copy_file(file(chunks, Some(9000)), &store, "k", OPTS, "u")
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            CopyError::Download(DownloadError::Interrupted { .. })
        ));
        let s = store.state.lock().unwrap();
        assert!(s.objects.is_empty());
        assert!(s.uploads.is_empty());
        assert_eq!(s.aborted, 1);
    }

    #[tokio::test]
    async fn a_short_body_is_truncated_not_stored() {
        for len in [500, 2500] {
            let store = MemoryStore::default();
            let err = copy_file(
                file(chunked(&data(len), 100), Some(9000)),
                &store,
                "k",
                OPTS,
                "u",
            )
            .await
            .unwrap_err();
            assert!(matches!(
                err,
                CopyError::Download(DownloadError::Truncated { expected: 9000, .. })
            ));
            let s = store.state.lock().unwrap();
            assert!(s.objects.is_empty() && s.uploads.is_empty());
        }
    }

    #[tokio::test]
    async fn a_failed_part_aborts() {
        let store = MemoryStore::default();
        store.state.lock().unwrap().fail_part = Some(2);
        let err = copy_file(
            file(chunked(&data(5000), 700), None),
            &store,
            "k",
            OPTS,
            "u",
        )
        .await
        .unwrap_err();
        assert!(matches!(
            err,
            CopyError::Store(StoreError {
                operation: "UploadPart",
                ..
            })
        ));
        let s = store.state.lock().unwrap();
        assert!(s.objects.is_empty() && s.uploads.is_empty());
        assert_eq!(s.aborted, 1);
    }
}
