//! The copy: stream a log file into the bucket, verified, resumable, in bounded memory.
//!
//! Bytes from the download are cut into parts (8 MiB by default); a file smaller than one part is
//! one PutObject, a larger one a multipart upload whose parts upload in background tasks, at most
//! `max_in_flight` at a time, while the download goes on (object_store's `WriteMultipart` is the
//! model). Memory stays near `(max_in_flight + 1) × part_size` whatever the file's size.
//!
//! As the bytes pass they are also checksummed (CRC32C of the whole file, which S3 verifies at
//! completion and which is confirmed after it) and gunzipped by a [`Verifier`], so a truncated or
//! corrupt file is refused before anything appears at the key.
//!
//! Resuming: a download that breaks off is reopened at the next byte (HTTP `Range`); if the server
//! answers 200 instead of 206 the stream starts over from byte 0 and only bytes past the parts
//! already handed off are uploaded. Past the `pause_after` instant the copy stops at a part
//! boundary and returns an [`UploadProgress`] (upload id, next part, offset) for a later
//! invocation, which rebuilds the part list with ListParts and reads the file again from its
//! start, verifying but not re-uploading what is already stored.
//!
//! Any failure aborts the multipart upload: nothing half-written is left behind.

use std::future::Future;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::fauna::{DownloadError, FaunaError, LogFile};
use crate::store::{CONTENT_TYPE, ObjectStore, StoreError, UploadedPart, crc32c_base64};
use crate::verify::{CorruptLog, LogSummary, Verifier};

/// S3's limit on parts in one upload; the part size grows for files that would need more.
const MAX_PARTS: u64 = 10_000;

/// How often one copy reopens a download that broke off.
const MAX_RECONNECTS: u32 = 5;

/// Where a multipart copy stands between invocations. Carried in the job: no URL, no part list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadProgress {
    pub upload_id: String,
    /// The next part to upload; parts `1..next_part` are stored.
    pub next_part: i32,
    /// Bytes stored in those parts: the file offset the copy continues from.
    pub offset: u64,
    pub part_size: u64,
}

/// A log file that can be opened at a byte offset (HTTP `Range`), renewing its URL as needed.
pub trait FileSource: Send {
    fn open(&mut self, from: u64) -> impl Future<Output = Result<LogFile, CopyError>> + Send;
}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyPlan {
    pub part_size: u64,
    pub max_in_flight: usize,
    /// Continue this upload instead of starting one.
    pub resume: Option<UploadProgress>,
    /// Stop at the next part boundary after this instant (the Lambda deadline, minus a margin).
    pub pause_after: Option<Instant>,
}

/// A copy that reached the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: u64,
    /// 0 for a single PutObject.
    pub parts: u32,
    pub crc32c: u32,
    pub summary: LogSummary,
}

/// How a copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    Stored(Stored),
    /// Stopped at a part boundary to continue in a later invocation.
    Paused(UploadProgress),
}

/// A copy that failed; the bucket holds nothing new at the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// Renewing the URL failed.
    #[error(transparent)]
    Fauna(#[from] FaunaError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the log file is corrupt or incomplete: {0}")]
    Corrupt(#[from] CorruptLog),
    #[error(
        "S3 reports CRC32C {stored} for s3://{bucket}/{key} but the bytes sent have {sent}; the object was deleted"
    )]
    ChecksumMismatch {
        bucket: String,
        key: String,
        sent: String,
        stored: String,
    },
}

/// Streams the file `source` serves into `store` at `key`.
pub async fn copy_file<F: FileSource, S: ObjectStore>(
    source: &mut F,
    store: &S,
    key: &str,
    plan: CopyPlan,
) -> Result<CopyOutcome, CopyError> {
    let mut writer = PartWriter::start(store.clone(), key, &plan).await?;
    let outcome = pump(source, &mut writer, &plan).await;
    let outcome = match outcome {
        Ok(Pumped::Paused) => writer.pause().await.map(CopyOutcome::Paused),
        Ok(Pumped::Ended {
            bytes,
            crc32c,
            summary,
        }) => writer.finish(crc32c).await.map(|parts| {
            CopyOutcome::Stored(Stored {
                bytes,
                parts,
                crc32c,
                summary,
            })
        }),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(CopyOutcome::Stored(stored)) => {
            confirm_checksum(store, key, stored.crc32c).await?;
            Ok(CopyOutcome::Stored(stored))
        }
        Ok(paused) => Ok(paused),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

enum Pumped {
    Ended {
        bytes: u64,
        crc32c: u32,
        summary: LogSummary,
    },
    Paused,
}

/// Moves bytes from the source to the verifier, the checksum and the part writer, reopening
/// the download where it broke off.
async fn pump<F: FileSource, S: ObjectStore>(
    source: &mut F,
    writer: &mut PartWriter<S>,
    plan: &CopyPlan,
) -> Result<Pumped, CopyError> {
    let verifier = Verifier::spawn();
    let mut pos = 0u64;
    let mut crc = 0u32;
    let mut total: Option<u64> = None;
    let mut reconnects = 0;
    'download: loop {
        let mut file = source.open(pos).await?;
        if file.start != pos {
            tracing::warn!(
                from = pos,
                "the file host ignored Range and sent the whole file; reading it again from the start"
            );
            verifier.restart().await;
            writer.discard_buffer();
            crc = 0;
            pos = 0;
        } else if pos > 0 {
            tracing::info!(from = pos, "download resumed with Range");
        }
        if let Some(len) = file.total {
            total = Some(len);
            writer.fit_part_size(len);
        }
        while let Some(chunk) = file.body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) if reconnects < MAX_RECONNECTS => {
                    reconnects += 1;
                    tracing::warn!(error = %e, at = pos, "download broke off; reopening it at the next byte");
                    continue 'download;
                }
                Err(e) => return Err(e.into()),
            };
            crc = crc32c::crc32c_append(crc, &chunk);
            let len = chunk.len() as u64;
            verifier.feed(chunk.clone()).await;
            let sent_part = writer.write_at(pos, chunk).await?;
            pos += len;
            let time_is_up = plan.pause_after.is_some_and(|t| Instant::now() >= t);
            if sent_part && time_is_up && total != Some(pos) {
                return Ok(Pumped::Paused);
            }
        }
        match total {
            Some(expected) if pos < expected && reconnects < MAX_RECONNECTS => {
                reconnects += 1;
                tracing::warn!(
                    at = pos,
                    expected,
                    "download ended early; reopening it at the next byte"
                );
            }
            Some(expected) if pos != expected => {
                return Err(CopyError::Download(DownloadError::Truncated {
                    url: file.url,
                    received: pos,
                    expected,
                }));
            }
            _ => break,
        }
    }
    let summary = verifier.finish().await?;
    Ok(Pumped::Ended {
        bytes: pos,
        crc32c: crc,
        summary,
    })
}

/// Checks the checksum S3 reports for the stored object; deletes the object on a mismatch.
async fn confirm_checksum<S: ObjectStore>(
    store: &S,
    key: &str,
    sent: u32,
) -> Result<(), CopyError> {
    match store.stored_crc32c(key).await? {
        Some(stored) if stored == sent => Ok(()),
        Some(stored) => {
            store.delete_object(key).await?;
            Err(CopyError::ChecksumMismatch {
                bucket: store.bucket().to_owned(),
                key: key.to_owned(),
                sent: crc32c_base64(sent),
                stored: crc32c_base64(stored),
            })
        }
        None => {
            tracing::warn!(
                key,
                "the store reports no CRC32C for the object; it verified the upload's checksum, but it cannot be confirmed"
            );
            Ok(())
        }
    }
}

/// Cuts a byte stream into parts and keeps a bounded number of them uploading.
struct PartWriter<S: ObjectStore> {
    store: S,
    key: String,
    part_size: u64,
    max_in_flight: usize,
    /// Bytes from `mark()` on, not yet handed to a part.
    buffer: BytesMut,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<UploadedPart, StoreError>>,
    /// Parts stored, by number.
    uploaded: BTreeMap<i32, UploadedPart>,
    /// CRC32C of the part being read again below the mark (after a resume or a restart).
    reread_crc: u32,
}

impl<S: ObjectStore> PartWriter<S> {
    /// A writer for a fresh copy, or one continuing `plan.resume` if the store confirms it.
    async fn start(store: S, key: &str, plan: &CopyPlan) -> Result<Self, CopyError> {
        let mut writer = PartWriter {
            store,
            key: key.to_owned(),
            part_size: plan.part_size,
            max_in_flight: plan.max_in_flight.max(1),
            buffer: BytesMut::new(),
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            uploaded: BTreeMap::new(),
            reread_crc: 0,
        };
        let Some(progress) = &plan.resume else {
            return Ok(writer);
        };
        let parts = match writer.store.list_parts(key, &progress.upload_id).await {
            Ok(parts) => parts,
            Err(e) if e.is_no_such_upload() => {
                tracing::warn!("the upload to resume no longer exists; starting the copy over");
                return Ok(writer);
            }
            Err(e) => return Err(e.into()),
        };
        let expected = progress.next_part - 1;
        let consistent = parts.len() as i32 == expected
            && parts
                .iter()
                .zip(1..)
                .all(|(p, n)| p.number == n && p.size == progress.part_size)
            && u64::from(expected.unsigned_abs()) * progress.part_size == progress.offset;
        if !consistent {
            tracing::warn!(
                listed = parts.len(),
                expected,
                "the stored parts do not match the job; aborting that upload and starting over"
            );
            writer
                .store
                .abort_multipart(key, &progress.upload_id)
                .await?;
            return Ok(writer);
        }
        tracing::info!(
            parts = expected,
            offset = progress.offset,
            "resuming the multipart upload"
        );
        writer.part_size = progress.part_size;
        writer.upload_id = Some(progress.upload_id.clone());
        writer.next_part = progress.next_part;
        writer.uploaded = parts.into_iter().map(|p| (p.number, p)).collect();
        Ok(writer)
    }

    /// The file offset where the next part starts: bytes before it are handed off already.
    fn mark(&self) -> u64 {
        u64::from((self.next_part - 1).unsigned_abs()) * self.part_size
    }

    /// Grows the part size so that a file of `len` bytes fits in S3's 10,000 parts.
    fn fit_part_size(&mut self, len: u64) {
        if self.upload_id.is_none()
            && self.next_part == 1
            && len.div_ceil(self.part_size) > MAX_PARTS
        {
            self.part_size = len.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
        }
    }

    /// Drops buffered bytes that were not handed to a part (the stream starts over).
    fn discard_buffer(&mut self) {
        self.buffer.clear();
    }

    /// Takes `chunk`, which starts at file offset `pos`: bytes past what is already buffered or
    /// handed off go into parts; bytes of stored parts are checked against them. Returns whether
    /// a part was sent.
    async fn write_at(&mut self, pos: u64, mut chunk: Bytes) -> Result<bool, CopyError> {
        let mark = self.mark();
        if pos < mark {
            let below = usize::try_from(mark - pos).map_or(chunk.len(), |n| n.min(chunk.len()));
            self.check_stored(pos, &chunk[..below])?;
        }
        let next_byte = mark + self.buffer.len() as u64;
        let end = pos + chunk.len() as u64;
        if end <= next_byte {
            return Ok(false);
        }
        let skip = next_byte.saturating_sub(pos);
        let _ = chunk.split_to(usize::try_from(skip).unwrap_or(chunk.len()));
        let part_size = usize::try_from(self.part_size).unwrap_or(usize::MAX);
        let mut sent = false;
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve(part_size);
            }
            let room = part_size - self.buffer.len();
            let piece = chunk.split_to(room.min(chunk.len()));
            self.buffer.extend_from_slice(&piece);
            if self.buffer.len() == part_size {
                self.send_part().await?;
                sent = true;
            }
        }
        Ok(sent)
    }

    /// Checks bytes read again below the mark against the checksums of the parts that hold them,
    /// and fills in checksums the store did not list. A difference means the file changed.
    fn check_stored(&mut self, mut pos: u64, mut bytes: &[u8]) -> Result<(), CopyError> {
        while !bytes.is_empty() {
            let in_part = pos % self.part_size;
            if in_part == 0 {
                self.reread_crc = 0;
            }
            let take = usize::try_from(self.part_size - in_part)
                .map_or(bytes.len(), |n| n.min(bytes.len()));
            self.reread_crc = crc32c::crc32c_append(self.reread_crc, &bytes[..take]);
            bytes = &bytes[take..];
            pos += take as u64;
            if !pos.is_multiple_of(self.part_size) {
                continue;
            }
            let number = i32::try_from(pos / self.part_size).unwrap_or(i32::MAX);
            // A part still uploading is checked by S3 against the checksum it was sent with.
            if let Some(part) = self.uploaded.get_mut(&number) {
                match part.crc32c {
                    Some(stored) if stored != self.reread_crc => {
                        return Err(CopyError::Corrupt(CorruptLog(format!(
                            "part {number} of the file differs from the one stored earlier: the file changed"
                        ))));
                    }
                    Some(_) => {}
                    None => part.crc32c = Some(self.reread_crc),
                }
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
        while self.in_flight.len() >= self.max_in_flight {
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
                let part = part?;
                self.uploaded.insert(part.number, part);
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

    async fn join_all(&mut self) -> Result<(), StoreError> {
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        Ok(())
    }

    /// Waits for the parts in flight and says where a later invocation continues.
    async fn pause(&mut self) -> Result<UploadProgress, CopyError> {
        self.join_all().await?;
        let upload_id = self.upload_id.clone().ok_or_else(|| StoreError {
            operation: "UploadPart",
            bucket: self.store.bucket().to_owned(),
            key: self.key.clone(),
            status: None,
            code: None,
            detail: "paused before a multipart upload started".into(),
        })?;
        Ok(UploadProgress {
            upload_id,
            next_part: self.next_part,
            offset: self.mark(),
            part_size: self.part_size,
        })
    }

    /// Uploads what is left and makes the object appear at the key. Returns the part count.
    async fn finish(&mut self, crc32c: u32) -> Result<u32, CopyError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            self.store.put_object(&self.key, body, CONTENT_TYPE).await?;
            return Ok(0);
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        self.join_all().await?;
        let parts: Vec<UploadedPart> = std::mem::take(&mut self.uploaded).into_values().collect();
        let count = parts.len() as u32;
        self.store
            .complete_multipart(&self.key, &upload_id, parts, crc32c)
            .await?;
        self.upload_id = None;
        Ok(count)
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
    use std::io::Write;
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
        pub parts_uploaded: u32,
        pub max_part_len: usize,
        pub fail_part: Option<i32>,
        pub next_id: u32,
    }

    fn fail(operation: &'static str, key: &str, code: &str) -> StoreError {
        StoreError {
            operation,
            bucket: "memory".into(),
            key: key.into(),
            status: Some(if code == "NoSuchUpload" { 404 } else { 500 }),
            code: Some(code.into()),
            detail: "injected".into(),
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
        ) -> Result<(), StoreError> {
            self.state
                .lock()
                .unwrap()
                .objects
                .insert(key.into(), body.to_vec());
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
                return Err(fail("UploadPart", key, "InternalError"));
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
                .insert(number, body);
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
                .iter()
                .map(|(n, b)| UploadedPart {
                    number: *n,
                    etag: format!("etag-{n}"),
                    size: b.len() as u64,
                    // Like S3 (moto lists none: the end-to-end tests cover that).
                    crc32c: Some(crc32c::crc32c(b)),
                })
                .collect())
        }
        async fn complete_multipart(
            &self,
            key: &str,
            upload_id: &str,
            parts: Vec<UploadedPart>,
            crc: u32,
        ) -> Result<(), StoreError> {
            let mut s = self.state.lock().unwrap();
            let stored = s
                .uploads
                .remove(upload_id)
                .ok_or_else(|| fail("CompleteMultipartUpload", key, "NoSuchUpload"))?;
            let numbers: Vec<i32> = parts.iter().map(|p| p.number).collect();
            let expected: Vec<i32> = stored.keys().copied().collect();
            assert_eq!(
                numbers, expected,
                "parts must be listed in order, all of them"
            );
            let body: Vec<u8> = stored.values().flat_map(|b| b.iter().copied()).collect();
            if crc32c::crc32c(&body) != crc {
                return Err(fail("CompleteMultipartUpload", key, "BadDigest"));
            }
            s.objects.insert(key.into(), body);
            Ok(())
        }
        async fn abort_multipart(&self, _key: &str, upload_id: &str) -> Result<(), StoreError> {
            let mut s = self.state.lock().unwrap();
            s.uploads.remove(upload_id);
            s.aborted += 1;
            Ok(())
        }
        async fn delete_object(&self, key: &str) -> Result<(), StoreError> {
            self.state.lock().unwrap().objects.remove(key);
            Ok(())
        }
        async fn stored_crc32c(&self, key: &str) -> Result<Option<u32>, StoreError> {
            Ok(self
                .state
                .lock()
                .unwrap()
                .objects
                .get(key)
                .map(|b| crc32c::crc32c(b)))
        }

        async fn exists(&self, key: &str) -> Result<bool, StoreError> {
            Ok(self.state.lock().unwrap().objects.contains_key(key))
        }
    }

    /// A file served from memory, with scripted faults per open.
    struct MemoryFile {
        bytes: Bytes,
        chunk: usize,
        /// For each open in turn: cut the body after this many bytes.
        cuts: Vec<Option<usize>>,
        honour_range: bool,
        opens: Vec<u64>,
    }

    impl MemoryFile {
        fn new(bytes: Vec<u8>) -> Self {
            MemoryFile {
                bytes: bytes.into(),
                chunk: 1000,
                cuts: Vec::new(),
                honour_range: true,
                opens: Vec::new(),
            }
        }
    }

    impl FileSource for MemoryFile {
        async fn open(&mut self, from: u64) -> Result<LogFile, CopyError> {
            let n = self.opens.len();
            self.opens.push(from);
            let start = if self.honour_range { from } else { 0 };
            let body = self.bytes.slice(start as usize..);
            let cut = self.cuts.get(n).copied().flatten();
            let mut chunks: Vec<Result<Bytes, DownloadError>> = Vec::new();
            let mut sent = 0;
            for c in body.chunks(self.chunk) {
                if cut.is_some_and(|cut| sent + c.len() > cut) {
                    chunks.push(Err(DownloadError::Interrupted {
                        url: "mem".into(),
                        received: start + sent as u64,
                        cause: "cut".into(),
                    }));
                    break;
                }
                sent += c.len();
                chunks.push(Ok(body.slice_ref(c)));
            }
            Ok(LogFile {
                start,
                total: Some(self.bytes.len() as u64),
                url: "mem".into(),
                body: futures_util::stream::iter(chunks).boxed(),
            })
        }
    }

    /// A gzip JSON Lines file of roughly `records` × 60 bytes, hard to compress.
    pub fn log_file(records: usize) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut x: u64 = 7;
        for i in 0..records {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            writeln!(
                enc,
                "{{\"TS\":\"2026-11-24 00:00:{:02}.{:03} Z\",\"N\":{x}}}",
                i / 1000 % 60,
                i % 1000
            )
            .unwrap();
        }
        enc.finish().unwrap()
    }

    fn plan(resume: Option<UploadProgress>, pause: bool) -> CopyPlan {
        CopyPlan {
            part_size: 4000,
            max_in_flight: 2,
            resume,
            pause_after: pause.then(Instant::now),
        }
    }

    async fn copy(
        file: &mut MemoryFile,
        store: &MemoryStore,
        plan: CopyPlan,
    ) -> Result<CopyOutcome, CopyError> {
        copy_file(file, store, "k", plan).await
    }

    /// The object holds `bytes`, and each of its parts was uploaded exactly once.
    fn assert_stored_once(store: &MemoryStore, bytes: &[u8]) {
        let st = store.state.lock().unwrap();
        assert_eq!(st.objects["k"], bytes);
        assert_eq!(
            st.parts_uploaded as usize,
            bytes.len().div_ceil(4000),
            "no part uploaded twice"
        );
    }

    fn stored(outcome: CopyOutcome) -> Stored {
        match outcome {
            CopyOutcome::Stored(s) => s,
            other => panic!("expected stored, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn small_file_is_one_put_and_verified() {
        let bytes = log_file(20);
        assert!(bytes.len() < 4000);
        let store = MemoryStore::default();
        let s = stored(
            copy(
                &mut MemoryFile::new(bytes.clone()),
                &store,
                plan(None, false),
            )
            .await
            .unwrap(),
        );
        assert_eq!(
            (s.bytes, s.parts, s.summary.records),
            (bytes.len() as u64, 0, 20)
        );
        assert_eq!(s.crc32c, crc32c::crc32c(&bytes));
        assert_eq!(
            s.summary.first_ts.as_deref(),
            Some("2026-11-24 00:00:00.000 Z")
        );
        assert_eq!(store.state.lock().unwrap().objects["k"], bytes);
    }

    #[tokio::test]
    async fn large_file_is_multipart_in_order_with_bounded_parts() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let s = stored(
            copy(
                &mut MemoryFile::new(bytes.clone()),
                &store,
                plan(None, false),
            )
            .await
            .unwrap(),
        );
        assert_eq!(s.parts as usize, bytes.len().div_ceil(4000));
        assert_eq!(s.summary.records, 1000);
        let st = store.state.lock().unwrap();
        assert_eq!(st.objects["k"], bytes);
        assert!(st.max_part_len <= 4000);
        assert!(st.uploads.is_empty());
    }

    #[tokio::test]
    async fn a_broken_download_resumes_with_range_without_reuploading() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(bytes.clone());
        file.cuts = vec![Some(10_500), Some(3000)];
        stored(copy(&mut file, &store, plan(None, false)).await.unwrap());
        assert_eq!(
            file.opens,
            [0, 10_000, 13_000],
            "reopened at the next byte each time"
        );
        assert_stored_once(&store, &bytes);
    }

    #[tokio::test]
    async fn without_range_support_the_stream_starts_over_cleanly() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(bytes.clone());
        file.honour_range = false;
        file.cuts = vec![Some(10_500)];
        let s = stored(copy(&mut file, &store, plan(None, false)).await.unwrap());
        assert_eq!(
            s.summary.records, 1000,
            "the verifier restarted with the stream"
        );
        assert_stored_once(&store, &bytes);
    }

    #[tokio::test]
    async fn a_copy_split_across_invocations_is_identical() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let mut resume = None;
        let mut pauses = 0;
        let s = loop {
            let mut file = MemoryFile::new(bytes.clone());
            match copy(&mut file, &store, plan(resume.take(), true))
                .await
                .unwrap()
            {
                CopyOutcome::Paused(p) => {
                    pauses += 1;
                    assert_eq!(p.offset, (p.next_part as u64 - 1) * 4000);
                    resume = Some(p);
                }
                CopyOutcome::Stored(s) => break s,
            }
        };
        assert!(pauses >= 2, "{pauses}");
        assert_eq!(s.summary.records, 1000);
        assert_stored_once(&store, &bytes);
    }

    #[tokio::test]
    async fn a_file_that_changed_between_invocations_is_refused() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let paused = copy(
            &mut MemoryFile::new(bytes.clone()),
            &store,
            plan(None, true),
        )
        .await
        .unwrap();
        let CopyOutcome::Paused(progress) = paused else {
            panic!("expected a pause")
        };
        let mut changed = bytes.clone();
        changed[10] ^= 1;
        let err = copy(
            &mut MemoryFile::new(changed),
            &store,
            plan(Some(progress), false),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("the file changed"), "{err}");
        let st = store.state.lock().unwrap();
        assert!(st.objects.is_empty() && st.uploads.is_empty());
    }

    #[tokio::test]
    async fn a_resume_whose_upload_is_gone_starts_over() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let gone = UploadProgress {
            upload_id: "nope".into(),
            next_part: 3,
            offset: 8000,
            part_size: 4000,
        };
        stored(
            copy(
                &mut MemoryFile::new(bytes.clone()),
                &store,
                plan(Some(gone), false),
            )
            .await
            .unwrap(),
        );
        assert_eq!(store.state.lock().unwrap().objects["k"], bytes);
    }

    #[tokio::test]
    async fn corrupt_and_truncated_files_are_aborted_and_not_stored() {
        let good = log_file(1000);
        let mut corrupt = good.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid..mid + 8].iter_mut().for_each(|b| *b ^= 0xa5);
        let truncated = good[..good.len() / 2].to_vec();
        for bytes in [corrupt, truncated] {
            let store = MemoryStore::default();
            let err = copy(&mut MemoryFile::new(bytes), &store, plan(None, false))
                .await
                .unwrap_err();
            assert!(matches!(err, CopyError::Corrupt(_)), "{err}");
            let st = store.state.lock().unwrap();
            assert!(st.objects.is_empty() && st.uploads.is_empty());
            assert_eq!(st.aborted, 1);
        }
    }

    #[tokio::test]
    async fn a_failed_part_aborts() {
        let store = MemoryStore::default();
        store.state.lock().unwrap().fail_part = Some(2);
        let err = copy(
            &mut MemoryFile::new(log_file(1000)),
            &store,
            plan(None, false),
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
        let st = store.state.lock().unwrap();
        assert!(st.objects.is_empty() && st.uploads.is_empty());
        assert_eq!(st.aborted, 1);
    }

    #[tokio::test]
    async fn too_many_breaks_fail_the_copy() {
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(log_file(1000));
        file.cuts = vec![Some(100); 10];
        let err = copy(&mut file, &store, plan(None, false))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            CopyError::Download(DownloadError::Interrupted { .. })
        ));
        assert_eq!(file.opens.len() as u32, MAX_RECONNECTS + 1);
        assert!(store.state.lock().unwrap().uploads.is_empty());
    }

    #[test]
    fn part_size_grows_to_fit_ten_thousand_parts() {
        let mut w = PartWriter {
            store: MemoryStore::default(),
            key: "k".into(),
            part_size: 8 << 20,
            max_in_flight: 1,
            buffer: BytesMut::new(),
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            uploaded: BTreeMap::new(),
            reread_crc: 0,
        };
        w.fit_part_size(200 << 30);
        assert!(w.part_size * MAX_PARTS >= 200 << 30);
        assert_eq!(w.part_size % (1 << 20), 0);
        let mut small = w;
        small.part_size = 8 << 20;
        small.fit_part_size(1 << 30);
        assert_eq!(small.part_size, 8 << 20);
    }
}
