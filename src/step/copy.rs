//! The `copy` step: the file behind the presigned URL into the bucket ([`crate::copy`]), then the
//! manifest beside it.
//!
//! A copy past its time pauses at a part boundary and returns a `copy` job that carries the
//! upload's progress. A copy stopped by a fault a later try may get past keeps its parts too: it
//! counts the failure in the job (`copy_failures`, never reset) and tries again after the poll
//! interval, up to MAX_COPY_FAILURES, then the export fails with that fault and the upload is
//! aborted. A renewed URL that is not ready yet turns the job into a `poll`, parts kept, which
//! waits as long as Fauna takes, up to the poll deadline.

use std::time::Instant;

use super::log_file::LogFileSource;
use super::log_request::{after_status, check_same_window, request_id};
use super::{MAX_COPY_FAILURES, MAX_CORRUPT_DOWNLOADS, abandon_upload};
use crate::clients::Deps;
use crate::copy::{CopyError, CopyOutcome, CopyPlan, copy_file};
use crate::error::StepError;
use crate::fauna::{LogState, LogsApi};
use crate::job::{Job, Step};
use crate::keys::manifest_key;
use crate::manifest::{self, Manifest};
use crate::store::{ObjectStore, Precondition, StoreError, crc32c_base64};

pub(super) async fn copy<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
    pause_after: Option<Instant>,
) -> Result<Job, StepError> {
    let id = request_id(&job)?;
    if let Some(stored) = stored_already(&deps.store, &job.key, &id).await? {
        // This step ran before (its answer lost), or a duplicate of it did, and the copy
        // completed: nothing is read again, and what this job still holds is let go.
        tracing::info!(key = %job.key, "this request's file is stored already, with its manifest");
        if job.upload.is_some() {
            abandon_upload(&mut job, deps).await;
        }
        return Ok(done(job, stored.bytes, stored.records));
    }
    let status = deps.api.status(&id, job.scope.region_group()).await?;
    check_same_window(&job, &status)?;
    if status.state != LogState::Complete {
        // The request moved on (a renewal in progress, say): the common rules decide.
        return after_status(job, status, deps).await;
    }
    let mut source = LogFileSource::new(&deps.api, &job, &id, &status)?;
    let mut resume = job.upload.take();
    let outcome = loop {
        let plan = CopyPlan {
            request_id: id.clone(),
            part_size: deps.config.part_size as u64,
            max_in_flight: deps.config.max_parts_in_flight,
            resume: resume.take(),
            pause_after,
            inflate: deps.config.inflate,
        };
        match copy_file(&mut source, &deps.store, &job.key, plan).await {
            // Corrupt, or another version than the copy began with: downloaded again from its
            // first byte. Counted in the job: a download again that pauses must not reset the
            // count.
            Err(e)
                if e.is_bad_file()
                    && job.corrupt_reads.saturating_add(1) < MAX_CORRUPT_DOWNLOADS =>
            {
                job.corrupt_reads = job.corrupt_reads.saturating_add(1);
                tracing::warn!(error = %e, "the log file is not the one to store; downloading it again");
            }
            other => break other,
        }
    };
    match outcome? {
        CopyOutcome::Interrupted {
            progress,
            cause: CopyError::UrlNotReady { .. },
        } => {
            job.upload = progress;
            job.step = Step::Poll;
            job.wait_seconds = deps.config.poll.interval(job.polls).as_secs();
            Ok(job)
        }
        CopyOutcome::Interrupted { progress, cause } => {
            job.upload = progress;
            job.copy_failures = job.copy_failures.saturating_add(1);
            let error = StepError::from(cause);
            if job.copy_failures >= MAX_COPY_FAILURES {
                tracing::error!(error_type = error.error_type(), error = %error, failures = job.copy_failures, "the copy failed too often; the export ends");
                abandon_upload(&mut job, deps).await;
                return Ok(job.fail(error.failure()));
            }
            job.wait_seconds = deps.config.poll.interval(job.copy_failures - 1).as_secs();
            tracing::warn!(
                error_type = error.error_type(),
                error = %error,
                failures = job.copy_failures,
                next_in = job.wait_seconds,
                "the copy stopped; it continues from its stored parts in the next step"
            );
            Ok(job)
        }
        CopyOutcome::Paused(progress) => {
            tracing::info!(
                offset = progress.offset,
                next_part = progress.next_part,
                "copy paused at a part boundary; it continues in the next step"
            );
            job.upload = Some(progress);
            job.wait_seconds = 0;
            Ok(job)
        }
        CopyOutcome::Superseded(stored) => {
            tracing::warn!(
                key = %job.key,
                "another run of this window stored its object at the key after this one did; that one stands, with its manifest"
            );
            Ok(done(job, stored.bytes, stored.summary.records))
        }
        CopyOutcome::Stored(stored) => {
            tracing::info!(
                bucket = deps.store.bucket(),
                key = %job.key,
                bytes = stored.bytes,
                parts = stored.parts,
                records = stored.summary.records,
                "log file stored and verified"
            );
            let manifest = Manifest {
                key: Some(job.key.clone()),
                bytes: stored.bytes,
                records: stored.summary.records,
                first_ts: stored.summary.first_ts.clone(),
                last_ts: stored.summary.last_ts.clone(),
                long_records: stored.summary.long_records,
                // Only a checksum the store reported for the object.
                checksum_crc32c: stored
                    .crc32c_confirmed
                    .then(|| crc32c_base64(stored.crc32c)),
                ..Manifest::empty(&job, id, deps.store.bucket())
            };
            if !publish_manifest(&deps.store, &job.key, &stored.etag, &manifest).await? {
                tracing::warn!(key = %job.key, "another run of this window stored its object at the key meanwhile; its manifest is that run's to write");
            }
            Ok(done(job, stored.bytes, stored.summary.records))
        }
    }
}

/// What the manifest of a stored window says of it.
#[derive(serde::Deserialize)]
struct ManifestOf {
    request_id: String,
    key: Option<String>,
    bytes: u64,
    records: u64,
}

/// The window's manifest, when it is request `id`'s and the object it describes is at the key:
/// that request's copy completed. (A manifest that cannot be read is no proof: the copy runs.)
async fn stored_already<S: ObjectStore>(
    store: &S,
    key: &str,
    id: &str,
) -> Result<Option<ManifestOf>, StepError> {
    let Some((body, _)) = store.get_object(&manifest_key(key)).await? else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_slice::<ManifestOf>(&body) else {
        return Ok(None);
    };
    if manifest.request_id != id {
        return Ok(None);
    }
    match &manifest.key {
        Some(object) if store.head(object).await?.is_none() => Ok(None),
        _ => Ok(Some(manifest)),
    }
}

/// The job once its file (`bytes`, `records`) is stored.
fn done(mut job: Job, bytes: u64, records: u64) -> Job {
    job.step = Step::Done;
    job.bytes = Some(bytes);
    job.records = Some(records);
    job.wait_seconds = 0;
    job
}

/// Tries at writing the manifest while other runs of the window write theirs.
const MANIFEST_TRIES: u32 = 5;

/// Writes the manifest of the object this run stored (ETag `etag`), so that whatever other runs
/// of the window do meanwhile, the manifest at the end describes the object at the key: it is
/// written only while this run's object is the one at the key, and only over the manifest read
/// just before (`If-Match`, or `If-None-Match` when there is none), so that a run that stored its
/// object later, and wrote its manifest first, is not overwritten. `false` when another run's
/// object is at the key now: its manifest is that run's to write.
async fn publish_manifest<S: ObjectStore>(
    store: &S,
    object_key: &str,
    etag: &str,
    manifest: &Manifest,
) -> Result<bool, StepError> {
    let key = manifest_key(object_key);
    let body: bytes::Bytes = manifest.to_json().into();
    for _ in 0..MANIFEST_TRIES {
        let current = store.head(&key).await?.map(|h| h.etag);
        match store.head(object_key).await? {
            Some(head) if head.etag == etag => {}
            _ => return Ok(false),
        }
        let condition = current.map_or(Precondition::IfAbsent, Precondition::IfMatch);
        if store
            .put_object_if(&key, body.clone(), manifest::CONTENT_TYPE, condition)
            .await?
            .is_some()
        {
            return Ok(true);
        }
    }
    Err(StoreError::new(
        "PutObject",
        store.bucket(),
        &key,
        format!("the manifest changed under this run {MANIFEST_TRIES} times (other runs of the window are writing theirs)"),
    )
    .into())
}
