//! [`PartWriter`]: cuts a byte stream into parts and keeps a bounded number of them uploading
//! (object_store's `WriteMultipart` is the model). It owns the multipart upload: it starts one
//! with the first full part, continues one a job carried over (after checking it with ListParts),
//! pauses at a part boundary, completes with the full-object CRC32C, or aborts. A part's buffer
//! is filled again once its upload is done, so a copy holds at most `max_in_flight + 1` of them.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use super::{CopyError, CopyPlan};
use crate::job::UploadProgress;
use crate::store::{CONTENT_TYPE, ObjectStore, StoreError, UploadedPart};
use crate::verify::CorruptLog;

/// S3's limit on parts in one upload; the part size grows for files that would need more.
const MAX_PARTS: u64 = 10_000;

/// Cuts a byte stream into parts and keeps a bounded number of them uploading.
pub(super) struct PartWriter<S: ObjectStore> {
    store: S,
    key: String,
    part_size: u64,
    max_in_flight: usize,
    /// Bytes from `mark()` on, not yet handed to a part.
    buffer: BytesMut,
    /// Buffers of parts whose upload is done, to be filled again rather than freed and allocated
    /// anew: a copy makes at most `max_in_flight + 1` part buffers however long the file. (Peak
    /// RSS is kept down by the single malloc arena of `main`; docs/performance.md.)
    spare: Vec<BytesMut>,
    /// Part buffers allocated so far (at most `max_in_flight + 1` while the store lets go of
    /// the bytes it was given).
    buffers_made: usize,
    upload_id: Option<String>,
    next_part: i32,
    /// Uploads in flight; each gives back its part's buffer.
    in_flight: JoinSet<Result<(UploadedPart, Bytes), StoreError>>,
    /// Parts stored, by number.
    uploaded: BTreeMap<i32, UploadedPart>,
    /// CRC32C of the part being read again below the mark (after a resume or a restart).
    reread_crc: u32,
    /// Whether bytes read again below the mark are checked against the stored parts (they are
    /// when the file is read again from byte 0; not when a copy continues from a checkpoint,
    /// whose re-read bytes start inside a part).
    check_rereads: bool,
    /// An upload this writer started and nobody was told of yet.
    created: Option<String>,
    /// The parts an upload may hold (S3's 10,000).
    max_parts: u64,
}

impl<S: ObjectStore> PartWriter<S> {
    /// A writer with nothing written yet: no upload, no parts.
    fn new(store: S, key: &str, part_size: u64, max_in_flight: usize) -> Self {
        PartWriter {
            store,
            key: key.to_owned(),
            part_size,
            max_in_flight: max_in_flight.max(1),
            buffer: BytesMut::new(),
            spare: Vec::new(),
            buffers_made: 0,
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            uploaded: BTreeMap::new(),
            reread_crc: 0,
            check_rereads: true,
            created: None,
            max_parts: MAX_PARTS,
        }
    }

    /// A writer for a fresh copy, or one continuing `plan.resume` if the store confirms it.
    pub(super) async fn start(store: S, key: &str, plan: &CopyPlan) -> Result<Self, CopyError> {
        let mut writer = Self::new(store, key, plan.part_size, plan.max_in_flight);
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
        // Parts 1 to next_part - 1 must be there, whole; parts past them (stored while an
        // interrupted step was giving up) are left to be uploaded again, which replaces them.
        let expected = progress.next_part - 1;
        let kept: Vec<UploadedPart> = parts.into_iter().filter(|p| p.number <= expected).collect();
        let consistent = kept.len() as i32 == expected
            && kept
                .iter()
                .zip(1..)
                .all(|(p, n)| p.number == n && p.size == progress.part_size)
            && u64::from(expected.unsigned_abs()) * progress.part_size == progress.offset;
        if !consistent {
            tracing::warn!(
                listed = kept.len(),
                expected,
                "the stored parts do not match the job; aborting that upload and starting over"
            );
            match writer.store.abort_multipart(key, &progress.upload_id).await {
                Err(e) if !e.is_no_such_upload() => return Err(e.into()),
                _ => return Ok(writer),
            }
        }
        tracing::info!(
            parts = expected,
            offset = progress.offset,
            "resuming the multipart upload"
        );
        writer.part_size = progress.part_size;
        writer.upload_id = Some(progress.upload_id.clone());
        writer.next_part = progress.next_part;
        writer.uploaded = kept.into_iter().map(|p| (p.number, p)).collect();
        Ok(writer)
    }

    /// Whether the writer continues an upload (`false`: it starts afresh).
    pub(super) fn is_resumed(&self) -> bool {
        self.upload_id.is_some()
    }

    /// The CRC32C of the stored parts, combined in order (S3 lists each part's): the full-object
    /// checksum of the bytes below the mark, without reading them again. `None` if a part's
    /// checksum is not known.
    pub(super) fn stored_crc32c(&self) -> Option<u32> {
        self.uploaded
            .range(..self.next_part)
            .try_fold(0u32, |crc, (_, part)| {
                let len = usize::try_from(part.size).ok()?;
                Some(crc32c::crc32c_combine(crc, part.crc32c?, len))
            })
    }

    /// The size of the parts.
    pub(super) fn part_size(&self) -> u64 {
        self.part_size
    }

    /// Checks bytes read again below the mark against the stored parts, or not.
    pub(super) fn check_rereads(&mut self, check: bool) {
        self.check_rereads = check;
        self.reread_crc = 0;
    }

    /// The multipart upload this writer writes to, if it has one (started or continued).
    pub(super) fn upload_id(&self) -> Option<&str> {
        self.upload_id.as_deref()
    }

    /// The upload this writer started, once, when it starts one.
    pub(super) fn take_created(&mut self) -> Option<String> {
        self.created.take()
    }

    /// The file offset where the next part starts: bytes before it are handed off already.
    pub(super) fn mark(&self) -> u64 {
        u64::from((self.next_part - 1).unsigned_abs()) * self.part_size
    }

    /// Grows the part size so that a file of `len` bytes fits in S3's 10,000 parts.
    pub(super) fn fit_part_size(&mut self, len: u64) {
        if self.upload_id.is_none()
            && self.next_part == 1
            && len.div_ceil(self.part_size) > MAX_PARTS
        {
            self.part_size = len.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
        }
    }

    /// The CRC32C of the first `len` buffered bytes (the file's bytes from the mark on), if
    /// that many are buffered.
    pub(super) fn buffered_crc32c(&self, len: u64) -> Option<u32> {
        let len = usize::try_from(len).ok()?;
        self.buffer.get(..len).map(crc32c::crc32c)
    }

    /// Drops buffered bytes that were not handed to a part (the stream starts over).
    pub(super) fn discard_buffer(&mut self) {
        self.buffer.clear();
    }

    /// Takes `chunk`, which starts at file offset `pos`: bytes past what is already buffered or
    /// handed off go into parts; bytes of stored parts are checked against them. Returns whether
    /// a part was sent.
    pub(super) async fn write_at(&mut self, pos: u64, mut chunk: Bytes) -> Result<bool, CopyError> {
        let mark = self.mark();
        if pos < mark && self.check_rereads {
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
                self.buffer = self.spare.pop().unwrap_or_else(|| {
                    self.buffers_made += 1;
                    BytesMut::with_capacity(part_size)
                });
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
        if u64::from(self.next_part.unsigned_abs()) > self.max_parts {
            // Only a file whose host gave no length gets here: with one, the parts grew to fit.
            return Err(StoreError {
                status: Some(400),
                code: Some("TooManyParts".into()),
                ..StoreError::new(
                    "UploadPart",
                    self.store.bucket(),
                    &self.key,
                    format!(
                        "the file is larger than {} parts of {} MiB, the most a multipart upload holds, and its host gave no length to size the parts by: set PART_SIZE_MIB higher",
                        self.max_parts,
                        self.part_size >> 20
                    ),
                )
            });
        }
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.create_multipart(&self.key).await?;
                tracing::debug!(key = %self.key, "multipart upload started");
                self.upload_id = Some(id.clone());
                self.created = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= self.max_in_flight {
            self.join_one().await?;
        }
        let body = std::mem::take(&mut self.buffer).freeze();
        let number = self.next_part;
        self.next_part += 1;
        let store = self.store.clone();
        let key = self.key.clone();
        self.in_flight.spawn(async move {
            let part = store
                .upload_part(&key, &upload_id, number, body.clone())
                .await?;
            Ok((part, body))
        });
        Ok(())
    }

    /// Keeps an uploaded part's buffer to fill again, if nothing else holds it and it is a
    /// whole part's size.
    fn recycle(&mut self, body: Bytes) {
        if self.spare.len() >= self.max_in_flight {
            return;
        }
        if let Ok(mut buffer) = body.try_into_mut()
            && buffer.capacity() as u64 >= self.part_size
        {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    async fn join_one(&mut self) -> Result<(), StoreError> {
        match self.in_flight.join_next().await {
            Some(Ok(uploaded)) => {
                let (part, body) = uploaded?;
                self.recycle(body);
                self.uploaded.insert(part.number, part);
                Ok(())
            }
            Some(Err(join)) => Err(StoreError::new(
                "UploadPart",
                self.store.bucket(),
                &self.key,
                format!("the upload task ended abnormally: {join}"),
            )),
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
    pub(super) async fn pause(&mut self) -> Result<UploadProgress, CopyError> {
        self.join_all().await?;
        let upload_id = self.upload_id.clone().ok_or_else(|| {
            StoreError::new(
                "UploadPart",
                self.store.bucket(),
                &self.key,
                "paused before a multipart upload started".into(),
            )
        })?;
        Ok(UploadProgress {
            upload_id,
            next_part: self.next_part,
            offset: self.mark(),
            part_size: self.part_size,
            file: None,
        })
    }

    /// After a failure a later try may get past: waits for the parts in flight (whatever they
    /// come to) and says where the next try continues, the parts stored in a row from the
    /// first; `None` (the upload aborted) if there are none.
    pub(super) async fn keep(&mut self) -> Option<UploadProgress> {
        while !self.in_flight.is_empty() {
            if let Err(e) = self.join_one().await {
                tracing::warn!(error = %e, "a part in flight failed too; it is uploaded again next time");
            }
        }
        let upload_id = self.upload_id.clone()?;
        // Whole parts only: a short last part (a completion that failed) is sent again.
        let stored = (1..self.next_part)
            .take_while(|n| {
                self.uploaded
                    .get(n)
                    .is_some_and(|part| part.size == self.part_size)
            })
            .count();
        if stored == 0 {
            self.abort().await;
            return None;
        }
        let next_part = i32::try_from(stored).unwrap_or(i32::MAX).saturating_add(1);
        Some(UploadProgress {
            upload_id,
            next_part,
            offset: stored as u64 * self.part_size,
            part_size: self.part_size,
            file: None,
        })
    }

    /// Uploads what is left and makes the object appear at the key. Returns the part count (0
    /// for a single PutObject) and the object's ETag.
    pub(super) async fn finish(&mut self, crc32c: u32) -> Result<(u32, String), CopyError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buffer).freeze();
            let etag = self.store.put_object(&self.key, body, CONTENT_TYPE).await?;
            return Ok((0, etag));
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        self.join_all().await?;
        // Kept: a completion refused for its parts' checksums keeps the whole parts for the
        // next try.
        let parts: Vec<UploadedPart> = self.uploaded.values().cloned().collect();
        let count = parts.len() as u32;
        let etag = self
            .store
            .complete_multipart(&self.key, &upload_id, parts, crc32c)
            .await?;
        self.upload_id = None;
        Ok((count, etag))
    }

    /// Stops the parts still uploading and forgets the multipart upload, which is gone.
    pub(super) async fn forget(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        self.upload_id = None;
    }

    /// Stops the parts still uploading and aborts the multipart upload, if one was started.
    pub(super) async fn abort(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(upload_id) = self.upload_id.take() {
            match self.store.abort_multipart(&self.key, &upload_id).await {
                Ok(()) => tracing::info!(key = %self.key, "multipart upload aborted"),
                Err(e) if e.is_no_such_upload() => {}
                Err(e) => tracing::error!(
                    error = %e,
                    "could not abort the multipart upload; the bucket's AbortIncompleteMultipartUpload lifecycle rule will remove it"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn part_size_grows_to_fit_ten_thousand_parts() {
        let mut w = PartWriter::new(MemoryStore::default(), "k", 8 << 20, 1);
        w.fit_part_size(200 << 30);
        assert!(w.part_size * MAX_PARTS >= 200 << 30);
        assert_eq!(w.part_size % (1 << 20), 0);
        let mut small = w;
        small.part_size = 8 << 20;
        small.fit_part_size(1 << 30);
        assert_eq!(small.part_size, 8 << 20);
    }

    /// A file whose host gives no length cannot grow its parts to fit: past the last part an
    /// upload holds, the copy stops with an error that names the fix, before S3 refuses it.
    #[tokio::test]
    async fn a_file_of_unknown_length_past_the_last_part_is_refused_by_name() {
        let store = MemoryStore::default();
        let mut w = PartWriter::new(store.clone(), "k", 4000, 2);
        w.max_parts = 3;
        let chunk = Bytes::from(vec![7u8; 1000]);
        let mut refused = None;
        for at in (0..20_000).step_by(1000) {
            if let Err(e) = w.write_at(at, chunk.clone()).await {
                refused = Some((at, e));
                break;
            }
        }
        let Some((at, CopyError::Store(e))) = refused else {
            panic!("not refused: {refused:?}");
        };
        assert_eq!(
            (at, e.status, e.code.as_deref()),
            (15_000, Some(400), Some("TooManyParts"))
        );
        assert!(
            !e.is_retryable() && e.to_string().contains("PART_SIZE_MIB"),
            "{e}"
        );
        w.abort().await;
        assert!(store.state.lock().unwrap().uploads.is_empty());
    }

    #[tokio::test]
    async fn part_buffers_are_filled_again_not_allocated_per_part() {
        const PART: u64 = 8 << 20;
        let store = MemoryStore::default();
        let mut w = PartWriter::new(store.clone(), "k", PART, 2);
        let chunk = Bytes::from(vec![7u8; 1 << 20]);
        let mut pos = 0;
        // Twelve parts and a half, in 1 MiB chunks, as a download delivers them.
        while pos < 12 * PART + PART / 2 {
            w.write_at(pos, chunk.clone()).await.unwrap();
            pos += chunk.len() as u64;
        }
        let crc = crc32c::crc32c(&vec![7u8; pos as usize]);
        let (parts, _) = w.finish(crc).await.unwrap();
        assert_eq!(parts, 13);
        assert_eq!(store.state.lock().unwrap().parts_uploaded, 13);
        // Two in flight and one filling: three buffers, whatever the file's length.
        assert!(
            w.buffers_made <= 3,
            "{} part buffers for 13 parts",
            w.buffers_made
        );
    }
}
