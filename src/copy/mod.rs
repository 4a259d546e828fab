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

//!
//! The part writer ([`part_writer`]) owns the multipart upload: bounded parts in flight, resume,
//! abort.

mod part_writer;
pub mod record;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;

use futures_util::StreamExt;

use self::part_writer::PartWriter;
use self::record::{CopyRecord, Owner};
use crate::fauna::{DownloadError, FaunaError, LogFile};
use crate::job::UploadProgress;
use crate::keys::copy_record_key;
use crate::store::{ObjectStore, StoreError, crc32c_base64};
use crate::verify::{Checkpoint, CorruptLog, InflateWith, LogSummary, Verifier};

/// How often one copy reopens a download that broke off.
pub const MAX_RECONNECTS: u32 = 5;

/// How long a read may wait for data once the step's time is up. A download stalled then must
/// not carry the step past its deadline: Lambda's margin is 60 s, and the read timeout alone is
/// 60 s, reopened five times.
pub const PAST_DEADLINE_READ: Duration = Duration::from_secs(10);

/// The next chunk of the download. Once `pause_after` has passed, a read that waits longer than
/// PAST_DEADLINE_READ for data ends the copy for this step (a transient fault: the next step
/// continues from the stored parts), instead of reopening the download.
async fn next_chunk(
    file: &mut LogFile,
    pause_after: Option<Instant>,
    pos: u64,
) -> Result<Option<Result<Bytes, DownloadError>>, DownloadError> {
    let Some(pause_after) = pause_after else {
        return Ok(file.body.next().await);
    };
    let limit = pause_after.max(Instant::now()) + PAST_DEADLINE_READ;
    tokio::time::timeout_at(limit.into(), file.body.next())
        .await
        .map_err(|_| DownloadError::Interrupted {
            url: file.url.clone(),
            received: pos,
            cause: format!(
                "no data for {} s past the step's time limit",
                PAST_DEADLINE_READ.as_secs()
            ),
        })
}

/// A log file that can be opened at a byte offset (HTTP `Range`), renewing its URL as needed.
pub trait FileSource: Send {
    fn open(&mut self, from: u64) -> impl Future<Output = Result<LogFile, CopyError>> + Send;
}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyPlan {
    /// The Fauna request whose file this is (the copy record names it).
    pub request_id: String,
    pub part_size: u64,
    pub max_in_flight: usize,
    /// Continue this upload instead of starting one.
    pub resume: Option<UploadProgress>,
    /// Stop at the next part boundary after this instant (the Lambda deadline, minus a margin).
    pub pause_after: Option<Instant>,
    /// How the verifier inflates the file.
    pub inflate: InflateWith,
}

/// A copy that reached the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: u64,
    /// 0 for a single PutObject.
    pub parts: u32,
    pub crc32c: u32,
    /// The object's ETag: what tells this copy's object from another run's at the same key.
    pub etag: String,
    pub summary: LogSummary,
}

/// How a copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    Stored(Stored),
    /// Stopped at a part boundary to continue in a later invocation: its time was up.
    Paused(UploadProgress),
    /// Stored and verified, but another run of the same window stored its object at the key
    /// since: that one stands, and this copy's is gone.
    Superseded(Stored),
    /// Stopped by something a later try may get past (a download that kept breaking off, S3
    /// unavailable, a presigned URL still being made): the parts stored so far are kept for it
    /// (`None`: none were).
    Interrupted {
        progress: Option<UploadProgress>,
        cause: CopyError,
    },
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
    /// The request is `CreatingNewUrl`: its new presigned URL does not work yet.
    #[error("the presigned URL of request {request_id} is being renewed (CreatingNewUrl)")]
    UrlNotReady { request_id: String },
}

impl CopyError {
    /// Whether a later try may get past it, so that the copy keeps the parts it stored.
    pub fn is_transient(&self) -> bool {
        match self {
            CopyError::Fauna(e) => matches!(e, FaunaError::Unavailable { .. }),
            CopyError::Download(e) => !matches!(e, DownloadError::InsecureUrl { .. }),
            CopyError::Store(e) => e.is_retryable(),
            CopyError::Corrupt(_) => false,
            CopyError::ChecksumMismatch { .. } | CopyError::UrlNotReady { .. } => true,
        }
    }
}

/// Streams the file `source` serves into `store` at `key`, continuing the upload `plan.resume`
/// names, or one a copy of this key left behind when it was cut short (see [`record`]).
pub async fn copy_file<F: FileSource, S: ObjectStore>(
    source: &mut F,
    store: &S,
    key: &str,
    mut plan: CopyPlan,
) -> Result<CopyOutcome, CopyError> {
    let record_key = copy_record_key(key);
    let found = record::read(store, &record_key).await?;
    let mut checkpoint = None;
    let mut record_etag = None;
    // The upload of a record this copy found and did not continue: its owner may be running.
    let mut left_alone = None;
    match (&plan.resume, found) {
        (Some(progress), Some((rec, etag))) if rec.upload_id == progress.upload_id => {
            checkpoint = rec.checkpoint;
            record_etag = Some(etag);
        }
        (None, Some((rec, etag))) => {
            left_alone = Some(rec.upload_id.clone());
            if let Some(progress) = adopt(store, key, &rec, &plan.request_id).await? {
                if rec.request_id == plan.request_id {
                    checkpoint = rec.checkpoint;
                }
                plan.resume = Some(progress);
                record_etag = Some(etag);
            }
        }
        _ => {}
    }
    let mut writer = PartWriter::start(store.clone(), key, &plan).await?;
    let reading = Reading::start(&mut writer, checkpoint, plan.inflate);
    let mut copy = Copy {
        store,
        record_key,
        record_etag,
        request_id: &plan.request_id,
        file_size: 0,
    };
    let outcome = match pump(source, &mut writer, &plan, reading, &mut copy).await {
        Ok(Pumped::Paused(checkpoint)) => match writer.pause().await {
            Ok(progress) => {
                copy.write_record(&progress.upload_id, progress.part_size, checkpoint)
                    .await;
                Ok(CopyOutcome::Paused(progress))
            }
            Err(e) => Err(e),
        },
        Ok(Pumped::Ended {
            bytes,
            crc32c,
            summary,
        }) => {
            if let Some(upload_id) = writer.upload_id() {
                abort_older_uploads(store, key, upload_id, left_alone.as_deref()).await;
            }
            writer.finish(crc32c).await.map(|(parts, etag)| {
                CopyOutcome::Stored(Stored {
                    bytes,
                    parts,
                    crc32c,
                    etag,
                    summary,
                })
            })
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(CopyOutcome::Stored(stored)) => {
            copy.remove_record().await;
            match confirm_checksum(store, key, &stored).await {
                Ok(true) => Ok(CopyOutcome::Stored(stored)),
                Ok(false) => Ok(CopyOutcome::Superseded(stored)),
                Err(cause) if cause.is_transient() => Ok(CopyOutcome::Interrupted {
                    progress: None,
                    cause,
                }),
                Err(e) => Err(e),
            }
        }
        Ok(paused) => Ok(paused),
        Err(cause) if cause.is_transient() => {
            let progress = writer.keep().await;
            if progress.is_none() {
                copy.remove_record().await;
            }
            Ok(CopyOutcome::Interrupted { progress, cause })
        }
        Err(e) => {
            writer.abort().await;
            copy.remove_record().await;
            Err(e)
        }
    }
}

/// Whether to continue the upload a copy record names, for a copy step that holds none: it
/// does if the record is this request's (a step killed before it could hand its progress on),
/// or its owner is a process of this machine that is gone (a command killed mid-copy, run
/// again). It then continues from the stored parts that follow each other from the first, and
/// the other uploads of the key started before it, left by earlier cut-short copies, are
/// aborted. An upload whose owner may still be running is left alone.
async fn adopt<S: ObjectStore>(
    store: &S,
    key: &str,
    rec: &CopyRecord,
    request_id: &str,
) -> Result<Option<UploadProgress>, CopyError> {
    if rec.request_id != request_id && !rec.owner.is_gone() {
        return Ok(None);
    }
    let parts = match store.list_parts(key, &rec.upload_id).await {
        Ok(parts) => parts,
        Err(e) if e.is_no_such_upload() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let stored = parts
        .iter()
        .zip(1..)
        .take_while(|(p, n)| p.number == *n && p.size == rec.part_size)
        .count();
    let uploads = store.list_uploads(key).await?;
    for older in uploads.iter().take_while(|id| **id != rec.upload_id) {
        tracing::info!(upload_id = %older, "aborting an older upload of this key left by a copy cut short");
        if let Err(e) = store.abort_multipart(key, older).await {
            tracing::warn!(error = %e, "could not abort it; the bucket's lifecycle rule will");
        }
    }
    if stored == 0 {
        store.abort_multipart(key, &rec.upload_id).await?;
        return Ok(None);
    }
    tracing::info!(
        parts = stored,
        "continuing the upload of a copy of this key that was cut short"
    );
    Ok(Some(UploadProgress {
        upload_id: rec.upload_id.clone(),
        next_part: i32::try_from(stored).unwrap_or(i32::MAX).saturating_add(1),
        offset: stored as u64 * rec.part_size,
        part_size: rec.part_size,
    }))
}

/// Before a multipart copy completes: aborts the uploads of the key started before its own,
/// except `left_alone`, the upload of a record the copy found and did not continue (its owner
/// may still be running). A copy killed after CreateMultipartUpload and before its record was
/// stored left one that no record names (found by the chaos test); the window's object is about
/// to be whole, so an older upload of it is superseded, as [`adopt`] treats the uploads older
/// than the one it continues. Best effort: a failure is logged, and the bucket's lifecycle rule
/// removes what is left.
async fn abort_older_uploads<S: ObjectStore>(
    store: &S,
    key: &str,
    upload_id: &str,
    left_alone: Option<&str>,
) {
    let uploads = match store.list_uploads(key).await {
        Ok(uploads) => uploads,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the older uploads of this key; the bucket's lifecycle rule will remove any");
            return;
        }
    };
    if !uploads.iter().any(|id| id == upload_id) {
        return;
    }
    let older = uploads.iter().take_while(|id| *id != upload_id);
    for older in older.filter(|id| Some(id.as_str()) != left_alone) {
        tracing::info!(upload_id = %older, "aborting an older upload of this key left by a copy cut short");
        if let Err(e) = store.abort_multipart(key, older).await {
            tracing::warn!(error = %e, "could not abort it; the bucket's lifecycle rule will");
        }
    }
}

/// The copy's record, as this copy keeps it.
struct Copy<'a, S> {
    store: &'a S,
    record_key: String,
    /// The ETag of the record as this copy last wrote (or adopted) it.
    record_etag: Option<String>,
    request_id: &'a str,
    /// The file's size, once the download says it.
    file_size: u64,
}

impl<S: ObjectStore> Copy<'_, S> {
    /// Writes the record of `upload_id` (at its start, or at a pause with the verifier's
    /// checkpoint). A failure is logged: without a record a later step reads the file again
    /// from byte 0, which costs time, not correctness.
    async fn write_record(
        &mut self,
        upload_id: &str,
        part_size: u64,
        checkpoint: Option<Checkpoint>,
    ) {
        let rec = CopyRecord {
            upload_id: upload_id.to_owned(),
            request_id: self.request_id.to_owned(),
            file_size: self.file_size,
            part_size,
            owner: Owner::this_process(),
            checkpoint,
        };
        match record::write(self.store, &self.record_key, &rec).await {
            Ok(etag) => self.record_etag = Some(etag),
            Err(e) => tracing::warn!(error = %e, "could not write the copy record"),
        }
    }

    async fn remove_record(&mut self) {
        if let Some(etag) = self.record_etag.take() {
            record::remove(self.store, &self.record_key, &etag).await;
        }
    }
}

/// Where a copy reads from, and what each byte it reads goes to.
struct Reading {
    verifier: Verifier,
    /// The first file byte the verifier needs (0, or a checkpoint's offset).
    verify_from: u64,
    /// The full-object CRC32C of the bytes below `crc_from`.
    crc: u32,
    crc_from: u64,
    /// Where the download starts.
    from: u64,
}

impl Reading {
    /// From a checkpoint, when the writer continues an upload whose parts' checksums are known:
    /// the file is read from the checkpoint (or the mark, if that is lower), each byte once.
    /// Otherwise from byte 0, bytes below the mark checked against the stored parts.
    fn start<S: ObjectStore>(
        writer: &mut PartWriter<S>,
        checkpoint: Option<Checkpoint>,
        inflate: InflateWith,
    ) -> Reading {
        let mark = writer.mark();
        let stored_crc = writer.stored_crc32c();
        match (checkpoint, stored_crc) {
            (Some(checkpoint), Some(crc)) if writer.is_resumed() => {
                writer.check_rereads(false);
                let from = checkpoint.offset.min(mark);
                tracing::info!(
                    from,
                    checkpoint = checkpoint.offset,
                    mark,
                    "continuing the copy from its checkpoint"
                );
                Reading {
                    verify_from: checkpoint.offset,
                    verifier: Verifier::resume_with(checkpoint, inflate),
                    crc,
                    crc_from: mark,
                    from,
                }
            }
            _ => Reading::from_byte_0(writer, inflate),
        }
    }

    fn from_byte_0<S: ObjectStore>(writer: &mut PartWriter<S>, inflate: InflateWith) -> Reading {
        writer.check_rereads(true);
        Reading {
            verifier: Verifier::spawn_with(inflate),
            verify_from: 0,
            crc: 0,
            crc_from: 0,
            from: 0,
        }
    }
}

enum Pumped {
    Ended {
        bytes: u64,
        crc32c: u32,
        summary: LogSummary,
    },
    /// Stopped at a part boundary; the verifier's checkpoint, when it gave one.
    Paused(Option<Checkpoint>),
}

/// Moves bytes from the source to the verifier, the checksum and the part writer, reopening
/// the download where it broke off. Past `plan.pause_after`, once a part was sent, it asks the
/// verifier for a checkpoint and reads on for the verifier alone until it has one (the
/// verifier's queue and a deflate block at most), then stops at that part boundary.
async fn pump<F: FileSource, S: ObjectStore>(
    source: &mut F,
    writer: &mut PartWriter<S>,
    plan: &CopyPlan,
    mut reading: Reading,
    copy: &mut Copy<'_, S>,
) -> Result<Pumped, CopyError> {
    let mut pos = reading.from;
    let mut total: Option<u64> = None;
    let mut reconnects = 0;
    let mut checkpoint: Option<Pin<Box<dyn Future<Output = Option<Checkpoint>> + Send>>> = None;
    let mut asked = false;
    'download: loop {
        let mut file = source.open(pos).await?;
        if file.start != pos {
            tracing::warn!(
                from = pos,
                "the file host ignored Range and sent the whole file; reading it again from the start"
            );
            if asked {
                return Ok(Pumped::Paused(None));
            }
            reading = Reading::from_byte_0(writer, plan.inflate);
            writer.discard_buffer();
            pos = 0;
        } else if pos > 0 {
            tracing::info!(from = pos, "download resumed with Range");
        }
        if let Some(len) = file.total {
            if len < writer.mark() {
                return Err(CopyError::Corrupt(CorruptLog(format!(
                    "the file is {len} bytes, shorter than the {} bytes of parts already stored: the file changed",
                    writer.mark()
                ))));
            }
            total = Some(len);
            copy.file_size = len;
            writer.fit_part_size(len);
        }
        loop {
            let read = next_chunk(&mut file, plan.pause_after, pos);
            let next = match checkpoint.as_mut() {
                None => read.await,
                Some(waiting) => tokio::select! {
                    got = waiting => return Ok(Pumped::Paused(got)),
                    chunk = read => chunk,
                },
            };
            let next = match next {
                Ok(next) => next,
                Err(stalled) => return Err(stalled.into()),
            };
            let Some(chunk) = next else { break };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) if reconnects < MAX_RECONNECTS => {
                    reconnects += 1;
                    tracing::warn!(error = %e, at = pos, "download broke off; reopening it at the next byte");
                    continue 'download;
                }
                Err(e) => return Err(e.into()),
            };
            let len = chunk.len() as u64;
            let end = pos + len;
            if end > reading.verify_from {
                let skip = usize::try_from(reading.verify_from.saturating_sub(pos)).unwrap_or(0);
                reading.verifier.feed(chunk.slice(skip..)).await;
            }
            // Once a checkpoint is asked for, the copy only reads on for the verifier: it stops
            // at the part boundary it asked at, which the next step reads on from.
            let mut sent_part = false;
            if !asked {
                if end > reading.crc_from {
                    let skip = usize::try_from(reading.crc_from.saturating_sub(pos)).unwrap_or(0);
                    reading.crc = crc32c::crc32c_append(reading.crc, &chunk[skip..]);
                }
                sent_part = writer.write_at(pos, chunk).await?;
            }
            pos = end;
            if let Some(upload_id) = writer.take_created() {
                copy.write_record(&upload_id, writer.part_size(), None)
                    .await;
            }
            let time_is_up = plan.pause_after.is_some_and(|t| Instant::now() >= t);
            // A pause is worth it while more than a part is left; less is finished now.
            let more_than_a_part_left =
                total.is_none_or(|t| t.saturating_sub(pos) > writer.part_size());
            if sent_part && time_is_up && more_than_a_part_left && !asked {
                asked = true;
                checkpoint = Some(Box::pin(
                    reading.verifier.checkpoint_at_or_after(writer.mark()),
                ));
            }
        }
        if asked {
            // The file ended (or broke off) before the verifier could be checkpointed: pause
            // without one; the next step reads the file from byte 0.
            return Ok(Pumped::Paused(None));
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
    let summary = reading.verifier.finish().await?;
    Ok(Pumped::Ended {
        bytes: pos,
        crc32c: reading.crc,
        summary,
    })
}

/// Checks the checksum S3 reports for the object this copy stored. `false` when another object
/// (another run's) is at the key now: that one stands. On a mismatch this copy's object is
/// deleted, only if it is still the one at the key (`If-Match` its ETag).
async fn confirm_checksum<S: ObjectStore>(
    store: &S,
    key: &str,
    stored: &Stored,
) -> Result<bool, CopyError> {
    let head = match store.head(key).await? {
        Some(head) if head.etag == stored.etag => head,
        _ => return Ok(false),
    };
    match head.crc32c {
        Some(crc) if crc == stored.crc32c => Ok(true),
        Some(crc) => {
            if !store.delete_object_if_match(key, &stored.etag).await? {
                return Ok(false);
            }
            Err(CopyError::ChecksumMismatch {
                bucket: store.bucket().to_owned(),
                key: key.to_owned(),
                sent: crc32c_base64(stored.crc32c),
                stored: crc32c_base64(crc),
            })
        }
        None => {
            tracing::warn!(
                key,
                "the store reports no CRC32C for the object; it verified the upload's checksum, but it cannot be confirmed"
            );
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::test_data::log_file;
    use bytes::Bytes;

    /// A file served from memory, with scripted faults per open.
    struct MemoryFile {
        bytes: Bytes,
        chunk: usize,
        /// For each open in turn: cut the body after this many bytes.
        cuts: Vec<Option<usize>>,
        honour_range: bool,
        opens: Vec<u64>,
        /// Bytes the copy took from the bodies served.
        read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }

    impl MemoryFile {
        fn new(bytes: Vec<u8>) -> Self {
            MemoryFile {
                bytes: bytes.into(),
                chunk: 1000,
                cuts: Vec::new(),
                honour_range: true,
                opens: Vec::new(),
                read: Default::default(),
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
            let read = std::sync::Arc::clone(&self.read);
            let body = futures_util::stream::iter(chunks).inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    read.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
            });
            Ok(LogFile {
                start,
                total: Some(self.bytes.len() as u64),
                url: "mem".into(),
                body: body.boxed(),
            })
        }
    }

    fn plan(resume: Option<UploadProgress>, pause: bool) -> CopyPlan {
        CopyPlan {
            request_id: "r1".into(),
            part_size: 4000,
            max_in_flight: 2,
            resume,
            pause_after: pause.then(Instant::now),
            inflate: InflateWith::fastest(),
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

    /// Resuming reads each byte at most once, plus at most a part per resumed step (the
    /// checkpoint can sit below the part boundary the copy paused at).
    #[tokio::test]
    async fn a_resumed_copy_does_not_read_the_file_again() {
        // Parts larger than the verifier's queue (16 chunks of 1,000 bytes), as 8 MiB parts are
        // larger than the network's chunks.
        const PART: u64 = 40_000;
        let bytes = log_file(20_000);
        let store = MemoryStore::default();
        let (mut resume, mut read, mut steps) = (None, 0u64, 0u64);
        loop {
            steps += 1;
            let mut file = MemoryFile::new(bytes.clone());
            let plan = CopyPlan {
                part_size: PART,
                ..plan(resume.take(), true)
            };
            let outcome = copy(&mut file, &store, plan).await.unwrap();
            read += file.read.load(std::sync::atomic::Ordering::Relaxed);
            match outcome {
                CopyOutcome::Paused(p) => resume = Some(p),
                CopyOutcome::Stored(_) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(steps >= 5, "{steps} steps");
        // Per resumed step, what was read past the part boundary it paused at, for the
        // verifier to reach its checkpoint: the verifier's queue, and what lay between the
        // boundary and the previous checkpoint.
        let per_step = 2 * crate::verify::QUEUE_CHUNKS as u64 * 1000;
        let bound = bytes.len() as u64 + (steps - 1) * per_step;
        assert!(
            read <= bound,
            "{read} bytes read for a {}-byte file in {steps} steps",
            bytes.len()
        );
        let st = store.state.lock().unwrap();
        assert_eq!(st.objects["k"], bytes);
        assert_eq!(
            st.parts_uploaded as u64,
            (bytes.len() as u64).div_ceil(PART)
        );
        assert!(
            st.objects.keys().all(|k| k == "k"),
            "the copy record is gone"
        );
    }

    /// A copy cut short without handing its progress on (a killed process, a Lambda timeout):
    /// the next copy of the key finds its record and continues its upload, no part sent twice.
    #[tokio::test]
    async fn a_copy_cut_short_is_continued_from_its_record() {
        let bytes = log_file(5000);
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(bytes.clone());
        let first = copy(&mut file, &store, plan(None, true)).await.unwrap();
        assert!(matches!(first, CopyOutcome::Paused(_)), "{first:?}");
        // The progress is lost; the same request's next copy step starts with none.
        let mut again = MemoryFile::new(bytes.clone());
        stored(copy(&mut again, &store, plan(None, false)).await.unwrap());
        assert_stored_once(&store, &bytes);
        assert_ne!(
            again.opens,
            [0],
            "it continued from the checkpoint, not byte 0"
        );
        // Another request's copy, while the first one's owner may still be running, leaves its
        // upload alone and starts its own.
        let store = MemoryStore::default();
        let paused = copy(
            &mut MemoryFile::new(bytes.clone()),
            &store,
            plan(None, true),
        )
        .await
        .unwrap();
        assert!(matches!(paused, CopyOutcome::Paused(_)));
        let mut other = plan(None, false);
        other.request_id = "r2".into();
        stored(
            copy(&mut MemoryFile::new(bytes.clone()), &store, other)
                .await
                .unwrap(),
        );
        let st = store.state.lock().unwrap();
        assert_eq!(st.objects["k"], bytes);
        assert_eq!(st.uploads.len(), 1, "the live owner's upload is left alone");
    }

    #[tokio::test]
    async fn an_upload_no_record_names_is_aborted_when_the_copy_completes() {
        // A copy killed after CreateMultipartUpload and before its record was stored.
        let bytes = log_file(5000);
        let store = MemoryStore::default();
        let orphan = store.create_multipart("k").await.unwrap();
        stored(
            copy(
                &mut MemoryFile::new(bytes.clone()),
                &store,
                plan(None, false),
            )
            .await
            .unwrap(),
        );
        assert_stored_once(&store, &bytes);
        let st = store.state.lock().unwrap();
        assert!(
            !st.uploads.contains_key(&orphan),
            "the orphan is still open"
        );
        assert!(st.uploads.is_empty(), "{:?}", st.uploads.keys());
    }

    #[tokio::test]
    async fn a_copy_split_across_invocations_is_identical() {
        // Large enough that each pause's checkpoint comes before the end of the file (the
        // verifier may lag the download by its queue, 16 chunks).
        let bytes = log_file(5000);
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
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!(pauses >= 2, "{pauses}");
        assert_eq!(s.summary.records, 5000);
        assert_stored_once(&store, &bytes);
    }

    #[tokio::test]
    async fn a_file_that_changed_where_a_resumed_copy_reads_is_refused() {
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
        // A byte past the checkpoint changes: the verifier, continuing from its checkpoint,
        // finds the member's CRC-32 wrong at its end (a part that was stored is not read again,
        // so a change there leaves the object the file as first read: whole and valid).
        let mut changed = bytes.clone();
        let near_end = changed.len() - 100;
        changed[near_end] ^= 1;
        let err = copy(
            &mut MemoryFile::new(changed),
            &store,
            plan(Some(progress), false),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CopyError::Corrupt(_)), "{err}");
        let st = store.state.lock().unwrap();
        assert!(!st.objects.contains_key("k") && st.uploads.is_empty());
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
    async fn a_failed_part_keeps_the_parts_before_it_for_the_next_try() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        store.state.lock().unwrap().fail_part = Some(2);
        let outcome = copy(
            &mut MemoryFile::new(bytes.clone()),
            &store,
            plan(None, false),
        )
        .await
        .unwrap();
        let CopyOutcome::Interrupted {
            progress: Some(progress),
            cause,
        } = outcome
        else {
            panic!("expected an interruption with parts kept, got {outcome:?}")
        };
        assert!(matches!(
            cause,
            CopyError::Store(StoreError {
                operation: "UploadPart",
                ..
            })
        ));
        assert_eq!((progress.next_part, progress.offset), (2, 4000));
        {
            let mut st = store.state.lock().unwrap();
            assert!(!st.objects.contains_key("k"));
            assert_eq!((st.uploads.len(), st.aborted), (1, 0), "the upload is kept");
            st.fail_part = None;
        }
        // The next try continues after part 1 and stores the file.
        stored(
            copy(
                &mut MemoryFile::new(bytes.clone()),
                &store,
                plan(Some(progress), false),
            )
            .await
            .unwrap(),
        );
        let st = store.state.lock().unwrap();
        assert_eq!(st.objects["k"], bytes);
        assert!(st.uploads.is_empty());
    }

    #[tokio::test]
    async fn too_many_breaks_stop_the_copy_with_nothing_kept() {
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(log_file(1000));
        file.cuts = vec![Some(100); 10];
        let outcome = copy(&mut file, &store, plan(None, false)).await.unwrap();
        assert!(
            matches!(
                outcome,
                CopyOutcome::Interrupted {
                    progress: None,
                    cause: CopyError::Download(DownloadError::Interrupted { .. })
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(file.opens.len() as u32, MAX_RECONNECTS + 1);
        assert!(store.state.lock().unwrap().uploads.is_empty());
    }
}
