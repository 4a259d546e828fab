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

use std::future::Future;
use std::time::Instant;

use futures_util::StreamExt;

use self::part_writer::PartWriter;
use crate::fauna::{DownloadError, FaunaError, LogFile};
use crate::job::UploadProgress;
use crate::store::{ObjectStore, StoreError, crc32c_base64};
use crate::verify::{CorruptLog, LogSummary, Verifier};

/// How often one copy reopens a download that broke off.
pub const MAX_RECONNECTS: u32 = 5;

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
        }) => writer.finish(crc32c).await.map(|(parts, etag)| {
            CopyOutcome::Stored(Stored {
                bytes,
                parts,
                crc32c,
                etag,
                summary,
            })
        }),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(CopyOutcome::Stored(stored)) => match confirm_checksum(store, key, &stored).await {
            Ok(true) => Ok(CopyOutcome::Stored(stored)),
            Ok(false) => Ok(CopyOutcome::Superseded(stored)),
            Err(cause) if cause.is_transient() => Ok(CopyOutcome::Interrupted {
                progress: None,
                cause,
            }),
            Err(e) => Err(e),
        },
        Ok(paused) => Ok(paused),
        Err(cause) if cause.is_transient() => {
            let progress = writer.keep().await;
            Ok(CopyOutcome::Interrupted { progress, cause })
        }
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
                other => panic!("unexpected {other:?}"),
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
            assert!(st.objects.is_empty());
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
