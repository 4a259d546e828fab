//! The copy: stream a log file into the bucket, verified, resumable, in bounded memory.
//!
//! Bytes from the download are cut into parts (8 MiB by default); a file smaller than one part is
//! one PutObject, a larger one a multipart upload whose parts upload in background tasks, at most
//! `max_in_flight` at a time, while the download goes on (object_store's `WriteMultipart` is the
//! model). Memory stays near `(max_in_flight + 1) × part_size` whatever the file's size.
//!
//! As the bytes pass they are also checksummed (CRC32C of the whole file, which S3 verifies at
//! completion and which is confirmed after it) and gunzipped by a [`Verifier`], which checks that
//! every line is one JSON object, so a truncated, corrupt or foreign file is refused before
//! anything appears at the key.
//!
//! One file version per object: the first answer's identity (ETag, Last-Modified, size) is pinned
//! and every later answer, after a break, a renewal or in a later invocation, must be the same
//! version ([`pump`]). Past the `pause_after` instant the copy pauses and returns an
//! [`UploadProgress`] for a later invocation, which continues from the verifier's checkpoint; the
//! [`record`] beside the upload carries it. An upload is continued only when its parts are proven
//! to be this file's; a failure that ends the copy aborts it.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`copy_file`]: which upload to continue, how the copy ends, the record |
//! | `pump.rs` | the download loop: versions, breaks, pace, pauses, the verifier |
//! | `part_writer.rs` | bounded parts in flight, resume, abort |
//! | `copy_record.rs` | the record beside an upload |

pub mod copy_record;
mod part_writer;
mod pump;

use std::future::Future;
use std::time::{Duration, Instant};

use self::copy_record::{CopyRecord, Owner};
use self::part_writer::PartWriter;
use self::pump::{Pumped, Reading, ResumePoint, pump};
use crate::fauna::{DownloadError, FaunaError, FileIdentity, LogFile};
use crate::job::UploadProgress;
use crate::keys::copy_record_key;
use crate::store::{ObjectStore, StoreError, crc32c_base64};
use crate::verify::{CorruptLog, InflateWith, LogSummary};

/// How often one copy reopens a download that broke off (or went too slowly).
pub const MAX_RECONNECTS: u32 = 5;

/// How long a copy past its `pause_after` may go on reading for the verifier to reach a
/// checkpoint: then it pauses with what it has, however slowly the file comes.
pub const PAST_DEADLINE_READ: Duration = Duration::from_secs(10);

/// A download must bring at least MIN_WINDOW_BYTES in each RATE_WINDOW, or it is reopened as if
/// it broke off: a host that trickles cannot hold a step.
pub const RATE_WINDOW: Duration = Duration::from_secs(30);
pub(crate) const MIN_WINDOW_BYTES: u64 = 1 << 20;

/// A log file that can be opened at a byte offset (HTTP `Range`), renewing its URL as needed.
pub(crate) trait FileSource: Send {
    /// Opens the file at `from`; with `pinned`, asks for that version only.
    fn open(
        &mut self,
        from: u64,
        pinned: Option<&FileIdentity>,
    ) -> impl Future<Output = Result<LogFile, CopyError>> + Send;
}

/// How to copy.
#[derive(Debug, Clone)]
pub(crate) struct CopyPlan {
    /// The Fauna request whose file this is (the copy record names it).
    pub request_id: String,
    pub part_size: u64,
    pub max_in_flight: usize,
    /// Continue this upload instead of starting one.
    pub resume: Option<UploadProgress>,
    /// Pause after this instant (the Lambda deadline, minus a margin).
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
    /// Whether the store reported the object's CRC32C after it was stored, and it was
    /// `crc32c` (`false`: the store reported none, so nothing confirmed it).
    pub crc32c_confirmed: bool,
    pub summary: LogSummary,
}

/// How a copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyOutcome {
    Stored(Stored),
    /// Paused to continue in a later invocation: its time was up.
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
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            CopyError::Fauna(e) => matches!(e, FaunaError::Unavailable { .. }),
            CopyError::Download(e) => !matches!(
                e,
                DownloadError::InsecureUrl { .. } | DownloadError::FileChanged { .. }
            ),
            CopyError::Store(e) => e.is_retryable(),
            CopyError::Corrupt(_) => false,
            CopyError::ChecksumMismatch { .. } | CopyError::UrlNotReady { .. } => true,
        }
    }

    /// Whether the multipart upload went from under the copy: another run of the same request
    /// (a step AWS delivered twice) completed it, or another run of the window aborted it. That
    /// is no failure of the export: the next try finds the request's manifest, or starts over.
    pub(crate) fn is_upload_gone(&self) -> bool {
        matches!(self, CopyError::Store(e) if e.is_no_such_upload())
    }

    /// Whether the file read was not the file to store (corrupt, or another version than the
    /// copy began with): downloading it again from the first byte may give the right one.
    pub(crate) fn is_bad_file(&self) -> bool {
        matches!(
            self,
            CopyError::Corrupt(_) | CopyError::Download(DownloadError::FileChanged { .. })
        )
    }
}

/// Streams the file `source` serves into `store` at `key`, continuing the upload `plan.resume`
/// names, or one a copy of this key left behind when it was cut short (see [`record`]).
pub(crate) async fn copy_file<F: FileSource, S: ObjectStore>(
    source: &mut F,
    store: &S,
    key: &str,
    mut plan: CopyPlan,
) -> Result<CopyOutcome, CopyError> {
    let mut copy = Copy {
        store,
        record_key: copy_record_key(key, &plan.request_id),
        record_etag: None,
        adopted: None,
        request_id: &plan.request_id,
        file: plan.resume.as_ref().and_then(|p| p.file.clone()),
    };
    let found = copy_record::read(store, &copy.record_key).await?;
    let mut resume_point = None;
    match (&plan.resume, found) {
        (Some(progress), Some((rec, etag))) if rec.upload_id == progress.upload_id => {
            copy.file = copy.file.take().or_else(|| rec.identity());
            resume_point = ResumePoint::of(&rec);
            copy.record_etag = Some(etag);
        }
        (None, Some((rec, etag))) => {
            if let Some(progress) = adopt(store, key, &rec, true).await? {
                copy.file = rec.identity();
                resume_point = ResumePoint::of(&rec);
                plan.resume = Some(progress);
                copy.record_etag = Some(etag);
            }
        }
        (None, None) => {
            // Another request's copy of this key, whose process is gone (the command line
            // killed mid-copy, run again): its stored parts are continued.
            for (rec_key, rec, etag) in copy_record::list(store, key).await? {
                if !rec.owner.is_gone() {
                    continue;
                }
                match adopt(store, key, &rec, false).await? {
                    Some(progress) => {
                        plan.resume = Some(progress);
                        copy.adopted = Some((rec_key, etag));
                        break;
                    }
                    None => copy_record::remove(store, &rec_key, &etag).await,
                }
            }
        }
        _ => {}
    }
    let mut writer = PartWriter::start(store.clone(), key, &plan).await?;
    if writer.is_resumed() && !copy.file_pinned() && writer.stored_crc32c().is_none() {
        // Nothing proves the stored parts are this file's: the store lists no checksum for them,
        // and no record of this request names the file's version.
        tracing::warn!(
            "the stored parts cannot be proven to be this file's; aborting that upload and starting over"
        );
        writer.abort().await;
        copy.remove_record().await;
        plan.resume = None;
        resume_point = None;
        writer = PartWriter::start(store.clone(), key, &plan).await?;
    }
    let reading = Reading::start(&mut writer, resume_point, copy.file_pinned(), plan.inflate);
    let outcome = match pump(source, &mut writer, &plan, reading, &mut copy).await {
        Ok(Pumped::Paused(point)) => match writer.pause().await {
            Ok(mut progress) => {
                progress.file = copy.file.clone();
                copy.write_record(&progress.upload_id, progress.part_size, point)
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
                abort_stale_uploads(store, key, upload_id).await;
            }
            writer.finish(crc32c).await.map(|(parts, etag)| {
                CopyOutcome::Stored(Stored {
                    bytes,
                    parts,
                    crc32c,
                    etag,
                    crc32c_confirmed: false,
                    summary,
                })
            })
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(CopyOutcome::Stored(mut stored)) => {
            let confirmed = confirm_checksum(store, key, &stored).await;
            // The record goes once the object's checksum is confirmed (or refused, and the
            // object deleted): not before, so that a copy cut short in between is found.
            let settled = match &confirmed {
                Ok(_) | Err(CopyError::ChecksumMismatch { .. }) => true,
                Err(_) => false,
            };
            if settled {
                copy.remove_record().await;
            }
            match confirmed {
                Ok(Some(reported)) => {
                    stored.crc32c_confirmed = reported;
                    Ok(CopyOutcome::Stored(stored))
                }
                Ok(None) => Ok(CopyOutcome::Superseded(stored)),
                Err(cause) if cause.is_transient() => Ok(CopyOutcome::Interrupted {
                    progress: None,
                    cause,
                }),
                Err(e) => Err(e),
            }
        }
        Ok(paused) => Ok(paused),
        Err(cause) if cause.is_upload_gone() => {
            tracing::warn!(
                error = %cause,
                "the upload is gone (another run of this request completed it, or another run of the window aborted it); the next try finds the manifest or starts over"
            );
            writer.forget().await;
            copy.remove_record().await;
            Ok(CopyOutcome::Interrupted {
                progress: None,
                cause,
            })
        }
        Err(cause) if cause.is_transient() => {
            let progress = writer.keep().await.map(|progress| UploadProgress {
                file: copy.file.clone(),
                ..progress
            });
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

/// Whether to continue the upload a copy record names, for a copy step that holds none (the
/// caller found this request's record, `same_request`: a step killed before it could hand its
/// progress on, or a duplicate of this step still running; or another request's whose process
/// is gone: a command killed mid-copy, run again). It continues from the stored parts that
/// follow each other from the first, and aborts the key's uploads started before it that no live
/// copy holds. This request's upload is continued even with no part stored: a duplicate of the
/// step shares it, so that neither aborts the other's nor leaves one behind (whichever completes
/// it first stores the object; the other finds it gone). Another request's with no part stored
/// is aborted. (Whether the parts are proven to be this file's is [`copy_file`]'s to decide.)
async fn adopt<S: ObjectStore>(
    store: &S,
    key: &str,
    rec: &CopyRecord,
    same_request: bool,
) -> Result<Option<UploadProgress>, CopyError> {
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
    abort_stale_uploads(store, key, &rec.upload_id).await;
    if stored == 0 && !same_request {
        match store.abort_multipart(key, &rec.upload_id).await {
            Err(e) if !e.is_no_such_upload() => return Err(e.into()),
            _ => {}
        }
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
        file: None,
    }))
}

/// Aborts the key's uploads started before `upload_id` (the one this copy continues or is
/// about to complete) that no live copy holds: those a run killed after CreateMultipartUpload
/// and before its record was stored left (found by the chaos test), or that a record of a gone
/// process names. A live copy's upload, named by its request's record (another execution of
/// the window), is never aborted. Best effort: a failure is logged, and the bucket's lifecycle
/// rule removes what is left.
async fn abort_stale_uploads<S: ObjectStore>(store: &S, key: &str, upload_id: &str) {
    let Some((uploads, live)) = uploads_and_live(store, key).await else {
        return;
    };
    if !uploads.iter().any(|id| id == upload_id) {
        return;
    }
    let older = uploads.iter().take_while(|id| *id != upload_id);
    for older in older.filter(|id| !live.contains(id)) {
        abort_logged(
            store,
            key,
            older,
            "an older upload of this key that no live copy holds",
        )
        .await;
    }
}

/// For an export that ends without its object (its request failed, or was given up): aborts
/// `held`, the upload its job carried, and every upload of the key that no live copy's record
/// names, whichever of this request's steps started it (a step whose answer was lost left one
/// that no job or record names). Another execution's live upload is left alone. The caller
/// removes this request's record first. Best effort, as `abort_stale_uploads`.
pub(crate) async fn let_go_of_uploads<S: ObjectStore>(store: &S, key: &str, held: Option<&str>) {
    if let Some(held) = held {
        abort_logged(store, key, held, "the upload this export held").await;
    }
    let Some((uploads, live)) = uploads_and_live(store, key).await else {
        return;
    };
    for id in uploads
        .iter()
        .filter(|id| !live.contains(id) && Some(id.as_str()) != held)
    {
        abort_logged(
            store,
            key,
            id,
            "an upload of this key that no live copy holds",
        )
        .await;
    }
}

/// The key's uploads in progress, oldest first, and those a live copy's record names; `None`
/// (logged) when the store cannot list them.
async fn uploads_and_live<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Option<(Vec<String>, Vec<String>)> {
    match (
        store.list_uploads(key).await,
        copy_record::list(store, key).await,
    ) {
        (Ok(uploads), Ok(records)) => {
            let live = records
                .into_iter()
                .filter(|(_, rec, _)| !rec.owner.is_gone())
                .map(|(_, rec, _)| rec.upload_id)
                .collect();
            Some((uploads, live))
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "could not list this key's uploads; the bucket's lifecycle rule will remove any left");
            None
        }
    }
}

async fn abort_logged<S: ObjectStore>(store: &S, key: &str, upload_id: &str, what: &str) {
    match store.abort_multipart(key, upload_id).await {
        Ok(()) => tracing::info!(upload_id, "aborted {what}"),
        Err(e) if e.is_no_such_upload() => {}
        Err(e) => tracing::warn!(
            error = %e,
            "could not abort {what}; the bucket's AbortIncompleteMultipartUpload lifecycle rule will"
        ),
    }
}

/// The copy's record, as this copy keeps it, and the version of the file it copies.
struct Copy<'a, S> {
    store: &'a S,
    record_key: String,
    /// The ETag of the record as this copy last wrote (or adopted) it.
    record_etag: Option<String>,
    /// The record (key, ETag) of another request's copy whose upload this copy continues: removed
    /// once this copy's own record names the upload, or the copy ends.
    adopted: Option<(String, String)>,
    request_id: &'a str,
    /// The version of the file this copy reads: pinned by its first answer, or by the job or
    /// record it continues.
    file: Option<FileIdentity>,
}

impl<S: ObjectStore> Copy<'_, S> {
    /// Whether the file's version is pinned (an ETag or Last-Modified is known).
    fn file_pinned(&self) -> bool {
        self.file.as_ref().is_some_and(FileIdentity::is_pinned)
    }

    /// Pins the version of `file` on the first answer; refuses an answer of another version
    /// after that. Attributes the pin lacks are taken from the answer.
    fn pin(&mut self, file: &LogFile) -> Result<(), DownloadError> {
        let Some(pinned) = &mut self.file else {
            self.file = Some(file.identity.clone());
            return Ok(());
        };
        if !pinned.same_as(&file.identity) {
            return Err(DownloadError::FileChanged {
                url: file.url.clone(),
                pinned: pinned.to_string(),
                now: file.identity.to_string(),
            });
        }
        let now = &file.identity;
        pinned.etag = pinned.etag.take().or_else(|| now.etag.clone());
        pinned.last_modified = pinned
            .last_modified
            .take()
            .or_else(|| now.last_modified.clone());
        pinned.size = pinned.size.or(now.size);
        Ok(())
    }

    /// Writes the record of `upload_id` (at its start, or at a pause with where to continue).
    /// A failure is logged: without a record a later step reads the file again from byte 0,
    /// which costs time, not correctness.
    async fn write_record(&mut self, upload_id: &str, part_size: u64, point: Option<ResumePoint>) {
        let (checkpoint, past_mark) =
            point.map_or((None, None), |p| (Some(p.checkpoint), p.past_mark));
        let rec = CopyRecord {
            upload_id: upload_id.to_owned(),
            request_id: self.request_id.to_owned(),
            file_size: self.file.as_ref().and_then(|f| f.size).unwrap_or(0),
            part_size,
            owner: Owner::this_process(),
            checkpoint,
            past_mark,
            file: self.file.clone(),
        };
        match copy_record::write(self.store, &self.record_key, &rec).await {
            Ok(etag) => {
                self.record_etag = Some(etag);
                if let Some((key, etag)) = self.adopted.take() {
                    copy_record::remove(self.store, &key, &etag).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not write the copy record"),
        }
    }

    async fn remove_record(&mut self) {
        if let Some(etag) = self.record_etag.take() {
            copy_record::remove(self.store, &self.record_key, &etag).await;
        }
        if let Some((key, etag)) = self.adopted.take() {
            copy_record::remove(self.store, &key, &etag).await;
        }
    }
}

/// Checks the checksum S3 reports for the object this copy stored: `Some(true)` when it is the
/// one sent, `Some(false)` when the store reports none (S3 checked the upload's, but nothing
/// confirms the object: said loudly, and the manifest names no checksum), `None` when another
/// object (another run's) is at the key now: that one stands. On a mismatch this copy's object
/// is deleted, only if it is still the one at the key (`If-Match` its ETag).
async fn confirm_checksum<S: ObjectStore>(
    store: &S,
    key: &str,
    stored: &Stored,
) -> Result<Option<bool>, CopyError> {
    let head = match store.head(key).await? {
        Some(head) if head.etag == stored.etag => head,
        _ => return Ok(None),
    };
    match head.crc32c {
        Some(crc) if crc == stored.crc32c => Ok(Some(true)),
        Some(crc) => {
            if !store.delete_object_if_match(key, &stored.etag).await? {
                return Ok(None);
            }
            Err(CopyError::ChecksumMismatch {
                bucket: store.bucket().to_owned(),
                key: key.to_owned(),
                sent: crc32c_base64(stored.crc32c),
                stored: crc32c_base64(crc),
            })
        }
        None => {
            tracing::error!(
                key,
                "the store reports no CRC32C for the stored object: S3 checked the upload's, but nothing confirms the object's, and its manifest names none; is the bucket behind a proxy or an S3 look-alike?"
            );
            Ok(Some(false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::test_data::log_file;
    use bytes::Bytes;
    use futures_util::StreamExt;

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
        /// The version it serves (an ETag of its bytes, unless a test says otherwise).
        identity: FileIdentity,
        /// Whether a request for a pinned version (`If-Match`) is refused when this is another.
        honour_if_match: bool,
        /// From this open on, another file is served (a renewed URL that leads elsewhere).
        then: Option<(usize, Bytes, FileIdentity)>,
        /// Chunks from this file offset on come this long apart (a host that trickles).
        trickle: Option<(u64, Duration)>,
        /// Set while the body waits on the clock for its next chunk.
        waiting: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    /// Marks a body as waiting on the clock while it lives.
    struct Waiting(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Waiting {
        fn new(flag: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> Waiting {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Waiting(std::sync::Arc::clone(flag))
        }
    }

    impl Drop for Waiting {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn etag_of(bytes: &[u8]) -> FileIdentity {
        FileIdentity {
            etag: Some(format!("\"{:08x}\"", crc32c::crc32c(bytes))),
            last_modified: None,
            size: Some(bytes.len() as u64),
        }
    }

    impl MemoryFile {
        fn new(bytes: Vec<u8>) -> Self {
            MemoryFile {
                identity: etag_of(&bytes),
                bytes: bytes.into(),
                chunk: 1000,
                cuts: Vec::new(),
                honour_range: true,
                opens: Vec::new(),
                read: Default::default(),
                honour_if_match: true,
                then: None,
                trickle: None,
                waiting: Default::default(),
            }
        }
    }

    impl FileSource for MemoryFile {
        async fn open(
            &mut self,
            from: u64,
            pinned: Option<&FileIdentity>,
        ) -> Result<LogFile, CopyError> {
            let n = self.opens.len();
            if let Some((at, bytes, identity)) = &self.then
                && n >= *at
            {
                (self.bytes, self.identity) = (bytes.clone(), identity.clone());
            }
            if self.honour_if_match
                && pinned.is_some_and(|p| p.etag.is_some() && p.etag != self.identity.etag)
            {
                return Err(DownloadError::FileChanged {
                    url: "mem".into(),
                    pinned: String::new(),
                    now: "HTTP 412".into(),
                }
                .into());
            }
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
            let trickle = self.trickle;
            let waiting = std::sync::Arc::clone(&self.waiting);
            let mut at = start;
            let body = futures_util::stream::iter(chunks)
                .then(move |chunk| {
                    let delay = match (&chunk, trickle) {
                        (Ok(bytes), Some((from, every))) if at >= from => Some(every),
                        _ => None,
                    };
                    at += chunk.as_ref().map_or(0, |b| b.len() as u64);
                    let waiting = std::sync::Arc::clone(&waiting);
                    async move {
                        if let Some(delay) = delay {
                            let _waiting = Waiting::new(&waiting);
                            tokio::time::sleep(delay).await;
                        }
                        chunk
                    }
                })
                .inspect(move |chunk| {
                    if let Ok(bytes) = chunk {
                        read.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            Ok(LogFile {
                start,
                total: Some(self.bytes.len() as u64),
                identity: self.identity.clone(),
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
        let (s, pauses) = copy_through_pauses(&store, &bytes, "r1", None).await;
        for p in &pauses {
            assert_eq!(p.offset, (p.next_part as u64 - 1) * 4000);
        }
        assert!(pauses.len() >= 2, "{}", pauses.len());
        assert_eq!(s.summary.records, 5000);
        assert_stored_once(&store, &bytes);
    }

    /// Copies `bytes` into `store` for `request`, every step pausing, from `resume` until the
    /// object is stored: the copy stored, and each pause's progress.
    async fn copy_through_pauses(
        store: &MemoryStore,
        bytes: &[u8],
        request: &str,
        mut resume: Option<UploadProgress>,
    ) -> (Stored, Vec<UploadProgress>) {
        let mut pauses = Vec::new();
        loop {
            let plan = CopyPlan {
                request_id: request.into(),
                ..plan(resume.take(), true)
            };
            match copy(&mut MemoryFile::new(bytes.to_vec()), store, plan)
                .await
                .unwrap()
            {
                CopyOutcome::Paused(p) => {
                    pauses.push(p.clone());
                    resume = Some(p);
                }
                CopyOutcome::Stored(s) => return (s, pauses),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Pauses a copy of `bytes` into `store` once, and returns its progress.
    async fn paused_copy(store: &MemoryStore, bytes: &[u8]) -> UploadProgress {
        let paused = copy(
            &mut MemoryFile::new(bytes.to_vec()),
            store,
            plan(None, true),
        )
        .await
        .unwrap();
        let CopyOutcome::Paused(progress) = paused else {
            panic!("expected a pause, got {paused:?}")
        };
        progress
    }

    /// Nothing at the key, no upload open, no copy record.
    fn assert_nothing_left(store: &MemoryStore) {
        let st = store.state.lock().unwrap();
        assert!(st.objects.is_empty(), "{:?}", st.objects.keys());
        assert!(st.uploads.is_empty(), "{:?}", st.uploads.keys());
    }

    #[tokio::test]
    async fn a_file_that_changed_where_a_resumed_copy_reads_is_refused() {
        let bytes = log_file(1000);
        let mut changed = bytes.clone();
        let near_end = changed.len() - 100;
        changed[near_end] ^= 1;
        // The host says it is another version: the pinned ETag does not match.
        let store = MemoryStore::default();
        let progress = paused_copy(&store, &bytes).await;
        assert_eq!(
            progress.file,
            Some(etag_of(&bytes)),
            "the job pins the version"
        );
        let err = copy(
            &mut MemoryFile::new(changed.clone()),
            &store,
            plan(Some(progress), false),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, CopyError::Download(DownloadError::FileChanged { .. })),
            "{err}"
        );
        assert_nothing_left(&store);
        // A host that claims the same version for other bytes: the verifier, continuing from
        // its checkpoint, finds the member's CRC-32 wrong at its end.
        let store = MemoryStore::default();
        let progress = paused_copy(&store, &bytes).await;
        let mut liar = MemoryFile::new(changed);
        liar.identity = etag_of(&bytes);
        let err = copy(&mut liar, &store, plan(Some(progress), false))
            .await
            .unwrap_err();
        assert!(matches!(err, CopyError::Corrupt(_)), "{err}");
        assert_nothing_left(&store);
    }

    /// A download breaks, and the host then serves another file that does not honour
    /// `If-Match`: the copy refuses it rather than store the first file's head and the second's
    /// tail (valid gzip, and neither file).
    #[tokio::test]
    async fn a_download_that_resumes_into_another_file_is_never_spliced() {
        let first = log_file(1000);
        let second = log_file(1200);
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(first);
        file.cuts = vec![Some(10_500)];
        file.honour_if_match = false;
        file.then = Some((1, second.clone().into(), etag_of(&second)));
        let err = copy(&mut file, &store, plan(None, false))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CopyError::Download(DownloadError::FileChanged { .. })),
            "{err}"
        );
        assert!(err.is_bad_file() && !err.is_transient());
        assert_nothing_left(&store);
        // Another version with the same ETag but another size is another file too.
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(log_file(1000));
        file.cuts = vec![Some(10_500)];
        let mut other = file.identity.clone();
        other.size = other.size.map(|n| n + 1);
        file.then = Some((1, file.bytes.clone(), other));
        let err = copy(&mut file, &store, plan(None, false))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CopyError::Download(DownloadError::FileChanged { .. })),
            "{err}"
        );
    }

    /// Without an ETag or Last-Modified nothing pins the version: a break is not continued with
    /// Range, the file is read again from its first byte and the stored parts checked.
    #[tokio::test]
    async fn a_file_without_a_version_is_read_again_from_byte_0_after_a_break() {
        let bytes = log_file(1000);
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(bytes.clone());
        file.identity.etag = None;
        file.cuts = vec![Some(10_500)];
        stored(copy(&mut file, &store, plan(None, false)).await.unwrap());
        assert_eq!(file.opens, [0, 0], "no Range without a version");
        assert_stored_once(&store, &bytes);
    }

    /// The bytes between the stored parts and a checkpoint past them were verified before the
    /// pause and are uploaded after it: read again with other bytes (the same ETag claimed),
    /// they are refused.
    #[tokio::test]
    async fn bytes_past_the_mark_are_checked_against_what_was_verified() {
        // Parts larger than what the verifier lags behind (16 chunks), so that the checkpoint it
        // gives after the part is sent lies past that part's end.
        let bytes = log_file(20_000);
        let store = MemoryStore::default();
        let large = |resume, pause| CopyPlan {
            part_size: 40_000,
            ..plan(resume, pause)
        };
        let outcome = copy(
            &mut MemoryFile::new(bytes.clone()),
            &store,
            large(None, true),
        )
        .await
        .unwrap();
        let CopyOutcome::Paused(progress) = outcome else {
            panic!("expected a pause, got {outcome:?}")
        };
        let (rec, _) = copy_record::read(&store, &copy_record_key("k", "r1"))
            .await
            .unwrap()
            .unwrap();
        let past = rec.past_mark.expect("the checkpoint lies past the mark");
        assert_eq!(past.mark, progress.offset);
        let checkpoint = rec.checkpoint.unwrap().offset;
        assert!(checkpoint > past.mark);
        let mut changed = bytes.clone();
        changed[past.mark as usize] ^= 0x20;
        let mut liar = MemoryFile::new(changed);
        liar.identity = etag_of(&bytes);
        let err = copy(&mut liar, &store, large(Some(progress), false))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CopyError::Download(DownloadError::FileChanged { .. })),
            "{err}"
        );
        assert_eq!(liar.opens, [past.mark], "read from the mark, not byte 0");
        assert_nothing_left(&store);
    }

    /// A record another request left, whose owner is gone, names an upload whose part holds
    /// another file's bytes. On a store that lists no part checksums nothing proves the part is
    /// this file's: the upload is aborted, never completed at the key.
    #[tokio::test]
    async fn an_upload_of_another_file_is_never_completed_at_the_key() {
        let ours = log_file(5000);
        let theirs = log_file(6000);
        let store = MemoryStore::default();
        store.state.lock().unwrap().unlisted_checksums = true;
        let foreign = paused_copy(&store, &theirs).await;
        // The record says its owner is a process of this machine that has ended.
        let (mut rec, etag) = copy_record::read(&store, &copy_record_key("k", "r1"))
            .await
            .unwrap()
            .unwrap();
        copy_record::remove(&store, &copy_record_key("k", "r1"), &etag).await;
        rec.request_id = "r0".into();
        rec.owner.started = rec.owner.started.wrapping_add(1);
        assert!(rec.owner.is_gone());
        copy_record::write(&store, &copy_record_key("k", "r0"), &rec)
            .await
            .unwrap();
        let s = stored(
            copy(
                &mut MemoryFile::new(ours.clone()),
                &store,
                plan(None, false),
            )
            .await
            .unwrap(),
        );
        assert_eq!(s.summary.records, 5000);
        let st = store.state.lock().unwrap();
        assert_eq!(st.objects["k"], ours);
        assert!(
            !st.uploads.contains_key(&foreign.upload_id),
            "the foreign upload is aborted"
        );
    }

    /// Runs a copy on the test's clock: tokio's paused clock does not advance by itself while
    /// a blocking task (the verifier's thread) runs, so the test advances it, 50 ms at a time,
    /// whenever the copy waits for the host's next chunk, until the copy ends. Returns the
    /// outcome and the time it spent waiting on the host, on that clock.
    async fn copy_on_test_clock(
        mut file: MemoryFile,
        store: &MemoryStore,
        plan: CopyPlan,
    ) -> (CopyOutcome, Duration, MemoryFile) {
        let started = tokio::time::Instant::now();
        let store = store.clone();
        let waiting = std::sync::Arc::clone(&file.waiting);
        let task = tokio::spawn(async move {
            let outcome = copy(&mut file, &store, plan).await;
            (outcome, file)
        });
        while !task.is_finished() {
            if waiting.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::advance(Duration::from_millis(50)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        let took = started.elapsed();
        let (outcome, file) = task.await.unwrap();
        (outcome.unwrap(), took, file)
    }

    /// A host that sends a few bytes every two seconds cannot hold a step: past its time the
    /// copy pauses within PAST_DEADLINE_READ; with no time limit, the download is reopened while
    /// too slow and then given up, typed, within (MAX_RECONNECTS + 1) × RATE_WINDOW.
    #[tokio::test(start_paused = true)]
    async fn a_host_that_trickles_cannot_hold_a_step() {
        let bytes = log_file(5000);
        let store = MemoryStore::default();
        let mut file = MemoryFile::new(bytes.clone());
        file.trickle = Some((12_000, Duration::from_secs(2)));
        let limited = CopyPlan {
            pause_after: Some(Instant::now() + Duration::from_secs(4)),
            ..plan(None, false)
        };
        let (outcome, took, _) = copy_on_test_clock(file, &store, limited).await;
        assert!(matches!(outcome, CopyOutcome::Paused(_)), "{outcome:?}");
        // (The clock moves in 50 ms steps while the copy also waits on its verifier: a second
        // of slack, against the 150 s a trickle held a step before.)
        let bound = Duration::from_secs(4) + PAST_DEADLINE_READ + Duration::from_secs(1);
        assert!(took <= bound, "{took:?} > {bound:?}");

        let store = MemoryStore::default();
        let mut file = MemoryFile::new(bytes);
        file.trickle = Some((0, Duration::from_secs(2)));
        let (outcome, took, file) = copy_on_test_clock(file, &store, plan(None, false)).await;
        let CopyOutcome::Interrupted {
            progress: Some(_),
            cause: CopyError::Download(DownloadError::Interrupted { cause, .. }),
        } = &outcome
        else {
            panic!("expected a slow download given up, parts kept: {outcome:?}")
        };
        assert!(cause.contains("fewer than"), "{cause}");
        assert_eq!(file.opens.len() as u32, MAX_RECONNECTS + 1);
        let bound = RATE_WINDOW * (MAX_RECONNECTS + 1) + Duration::from_secs(1);
        assert!(took <= bound, "{took:?} > {bound:?}");
    }

    /// A copy cut short before its first pause leaves parts and a record without a checkpoint:
    /// the next copy reads the file again from byte 0, checking the stored parts. Its time up,
    /// it pauses at a checkpoint among them (asked at each part it reads again) rather than
    /// only once it reaches the last stored byte, so a re-read longer than a step still moves
    /// on; and no part is uploaded twice.
    #[tokio::test]
    async fn a_reread_of_the_stored_parts_can_pause_before_it_reaches_them() {
        let bytes = log_file(5000);
        let store = MemoryStore::default();
        let mut progress = paused_copy(&store, &bytes).await;
        while progress.next_part <= 12 {
            let paused = copy(
                &mut MemoryFile::new(bytes.clone()),
                &store,
                plan(Some(progress), true),
            )
            .await
            .unwrap();
            let CopyOutcome::Paused(p) = paused else {
                panic!("expected a pause, got {paused:?}")
            };
            progress = p;
        }
        let mark = progress.offset;
        let key = copy_record_key("k", "r1");
        let (mut rec, _) = copy_record::read(&store, &key).await.unwrap().unwrap();
        rec.checkpoint = None;
        rec.past_mark = None;
        copy_record::write(&store, &key, &rec).await.unwrap();
        let outcome = copy(
            &mut MemoryFile::new(bytes.clone()),
            &store,
            plan(None, true),
        )
        .await
        .unwrap();
        let CopyOutcome::Paused(paused) = outcome else {
            panic!("expected a pause, got {outcome:?}")
        };
        let (rec, _) = copy_record::read(&store, &key).await.unwrap().unwrap();
        let at = rec.checkpoint.map(|c| c.offset);
        assert!(
            at.is_some_and(|at| at < mark),
            "paused at {at:?}, the mark is {mark}"
        );
        let (s, _) = copy_through_pauses(&store, &bytes, "r1", Some(paused)).await;
        assert_eq!(s.summary.records, 5000);
        assert_stored_once(&store, &bytes);
    }

    /// Two executions of one window (two requests) copy at once, each pausing between steps:
    /// each keeps its own record, so the one that completes first leaves the other's live upload
    /// alone (it is older, and no record it read named it when there was one record per key),
    /// and the other continues it to the end: no upload is aborted.
    #[tokio::test]
    async fn a_copy_never_aborts_another_execution_s_live_upload() {
        let bytes = log_file(5000);
        let store = MemoryStore::default();
        let as_request = |request: &str, resume| CopyPlan {
            request_id: request.into(),
            ..plan(resume, true)
        };
        let step = |request: &'static str, resume: Option<UploadProgress>| {
            let (store, bytes) = (store.clone(), bytes.clone());
            async move {
                let mut file = MemoryFile::new(bytes);
                copy(&mut file, &store, as_request(request, resume))
                    .await
                    .unwrap()
            }
        };
        let CopyOutcome::Paused(first) = step("r0", None).await else {
            panic!("r0 did not pause");
        };
        let CopyOutcome::Paused(second) = step("r1", None).await else {
            panic!("r1 did not pause");
        };
        let CopyOutcome::Paused(first) = step("r0", Some(first)).await else {
            panic!("r0 did not pause again");
        };
        let (stored_second, _) = copy_through_pauses(&store, &bytes, "r1", Some(second)).await;
        assert_eq!(stored_second.summary.records, 5000);
        assert!(
            store
                .state
                .lock()
                .unwrap()
                .uploads
                .contains_key(&first.upload_id),
            "the other execution's live upload was aborted"
        );
        let (stored_first, pauses) =
            copy_through_pauses(&store, &bytes, "r0", Some(first.clone())).await;
        for p in &pauses {
            assert_eq!(p.upload_id, first.upload_id, "started over");
        }
        assert_eq!(stored_first.summary.records, 5000);
        let st = store.state.lock().unwrap();
        assert_eq!(st.aborted, 0, "an upload was aborted");
        assert!(st.uploads.is_empty(), "{:?}", st.uploads.keys());
        assert!(
            !st.objects.keys().any(|k| k.ends_with(".copy.json")),
            "{:?}",
            st.objects.keys()
        );
    }

    /// A file of one stored deflate block (no checkpoint before its end) and three parts: a
    /// step that is to pause asks for a checkpoint that never comes before the file ends. It
    /// must then finish, not pause with no checkpoint, which sent each later step back to byte 0
    /// to pause at the same place again, for ever.
    #[tokio::test]
    async fn a_pause_whose_checkpoint_never_comes_finishes_the_file() {
        use std::io::Write;
        let mut lines = Vec::new();
        for i in 0..250 {
            writeln!(
                lines,
                "{{\"TS\":\"2026-11-24 00:00:00.{i:03} Z\",\"N\":{i}}}"
            )
            .unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        gz.write_all(&lines).unwrap();
        let bytes = gz.finish().unwrap();
        assert!(
            bytes.len() > 2 * 4000 && lines.len() < 65535,
            "{}",
            bytes.len()
        );
        let store = MemoryStore::default();
        let mut resume = None;
        for _ in 0..4 {
            let mut file = MemoryFile::new(bytes.clone());
            match copy(&mut file, &store, plan(resume.take(), true))
                .await
                .unwrap()
            {
                CopyOutcome::Paused(p) => resume = Some(p),
                CopyOutcome::Stored(stored) => {
                    assert_eq!(stored.summary.records, 250);
                    assert_eq!(store.state.lock().unwrap().objects["k"], bytes);
                    return;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("four steps and the copy is not done: it pauses without moving on");
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
            file: None,
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
