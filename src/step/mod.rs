//! One transition of a job: `step(job, deps, deadline) -> job`.
//!
//! | step in   | what happens                                   | step out                          |
//! |-----------|------------------------------------------------|-----------------------------------|
//! | `request` | `POST /api/v1/logs?type=query`                 | `poll` (or as its state says)     |
//! | `poll`    | `GET /api/v1/logs/{id}`                        | `poll`, `copy`, `done`, `request` |
//! | `copy`    | presigned URL → bucket, then the manifest      | `done`, or `copy` to continue     |
//!
//! What a Fauna state means is decided in one place, [`after_status`], whichever call reported it.
//! The driver (Step Functions or the CLI) waits `wait_seconds` before the next step.
//!
//! Each step has its file: [`request`], [`poll`], [`copy`] (with [`log_file`], the file behind
//! the presigned URL, renewed as needed).

mod copy;
mod log_file;
mod poll;
mod request;

use std::time::Instant;

use chrono::Utc;

use crate::clients::Deps;
use crate::copy::record;
use crate::error::StepError;
use crate::fauna::{FaunaError, LogRequestStatus, LogState, LogsApi};
use crate::input::InvalidJob;
use crate::input::error::{SHOWN_BYTES, clip};
use crate::job::{Job, Step};
use crate::keys::{copy_record_key, manifest_key};
use crate::manifest::{self, Manifest};
use crate::scope::Scope;
use crate::store::{ObjectStore, Precondition, StoreError};
use crate::time::rfc3339;

/// Renewals of the presigned URL in one copy step.
pub const MAX_RENEWALS: u32 = 3;

/// Copy steps of a window that may stop on a transient fault (counted across steps, never reset)
/// before the export fails with it.
pub const MAX_COPY_FAILURES: u32 = 6;

/// Downloads of a window's file found corrupt before the copy fails, counted across steps
/// (`Job::corrupt_reads`).
pub const MAX_CORRUPT_DOWNLOADS: u32 = 2;

/// Performs the job's next step and returns the job as it is after it. A copy pauses at a part
/// boundary after `deadline` (and after `STEP_TIME_LIMIT_SECONDS`), returning a `copy` job.
pub async fn step<A: LogsApi, S: ObjectStore>(
    job: Job,
    deps: &Deps<A, S>,
    deadline: Option<Instant>,
) -> Result<Job, StepError> {
    let mut held = job.clone();
    let limit = deps.config.step_time_limit.map(|d| Instant::now() + d);
    let pause_after = match (deadline, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let run = async {
        match job.step {
            Step::Request => request::request(job, deps).await,
            Step::Poll => poll::poll(job, deps).await,
            Step::Copy => copy::copy(job, deps, pause_after).await,
            Step::Done => Ok(job),
            // A failed job given back (the state machine's clean-up after it gave up) lets go of
            // what its export still holds.
            Step::Failed => {
                let mut job = job;
                abandon_upload(&mut job, deps).await;
                Ok(job)
            }
        }
    };
    let result = crate::retry::within_deadline(pause_after, run).await;
    // A failure that ends the export (a retryable one leaves the job to run again, upload and
    // all) lets go of the upload the job held.
    if let Err(e) = &result
        && !e.is_retryable()
    {
        abandon_upload(&mut held, deps).await;
    }
    result
}

/// Tries at writing the manifest while other runs of the window write theirs.
const MANIFEST_TRIES: u32 = 5;

/// Writes the manifest of the object this run stored (ETag `etag`), so that whatever other runs
/// of the window do meanwhile, the manifest at the end describes the object at the key: it is
/// written only while this run's object is the one at the key, and only over the manifest read
/// just before (`If-Match`, or `If-None-Match` when there is none), so that a run that stored its
/// object later, and wrote its manifest first, is not overwritten. `false` when another run's
/// object is at the key now: its manifest is that run's to write.
pub(super) async fn publish_manifest<S: ObjectStore>(
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

pub(super) fn request_id(job: &Job) -> Result<String, StepError> {
    job.request_id
        .clone()
        .ok_or(StepError::InvalidJob(InvalidJob::MISSING_REQUEST_ID))
}

/// Fauna gave up on the request (`Failed`, `TimedOut`, or a `Complete` one's logs are gone):
/// request the window again, after the poll interval, unless it was requested
/// MAX_REQUEST_ATTEMPTS times already. Either way the upload the job held is aborted.
async fn request_again<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    status: &LogRequestStatus,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    abandon_upload(&mut job, deps).await;
    if job.attempt >= deps.config.max_request_attempts {
        return Err(StepError::ExportFailed {
            scope: job.scope.clone(),
            time_start: job.time_start,
            time_end: job.time_end,
            state: status.state.to_string(),
            attempts: job.attempt,
        });
    }
    tracing::warn!(state = %status.state, attempt = job.attempt, "Fauna gave up on the request; requesting again");
    job.step = Step::Request;
    job.request_id = None;
    job.polls = 0;
    job.wait_seconds = deps.config.poll.initial.as_secs();
    Ok(job)
}

/// The job as it ends on `failure`, having let go of what its export holds (see
/// [`abandon_upload`]): the command line's way out when a step keeps failing.
pub async fn give_up<A, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
    failure: crate::job::JobFailure,
) -> Job {
    abandon_upload(&mut job, deps).await;
    job.fail(failure)
}

/// Lets go of what the job's export holds: its request's copy record, the multipart upload the
/// job carries, and every other upload of the key no live copy holds (a copy of its request cut
/// short, or a step whose answer was lost, left them). Every way out of a copy that does not
/// complete it goes through here, so no upload or record is left behind. Another request's
/// record, and the upload it names while its copy lives, are left alone. A failure is logged;
/// the bucket's lifecycle rules remove what is left.
pub(super) async fn abandon_upload<A, S: ObjectStore>(job: &mut Job, deps: &Deps<A, S>) {
    let held = job.upload.take().map(|upload| upload.upload_id);
    if let Some(request) = job.request_id.as_deref() {
        let key = copy_record_key(&job.key, request);
        match record::read(&deps.store, &key).await {
            Ok(Some((_, etag))) => record::remove(&deps.store, &key, &etag).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the copy record to remove it"),
        }
    }
    crate::copy::let_go_of_uploads(&deps.store, &job.key, held.as_deref()).await;
}

/// What a reported state means for the job: the one place the state rules live.
pub(super) async fn after_status<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    status: LogRequestStatus,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let config = &deps.config;
    tracing::info!(request_id = %status.request_id, state = %status.state, polls = job.polls, "log request state");
    match status.state {
        LogState::Complete => {
            job.step = Step::Copy;
            job.wait_seconds = 0;
        }
        LogState::DoesNotExist if job.step == Step::Copy || job.upload.is_some() => {
            // The request was Complete, and now its logs are gone: not an empty window. Request
            // them again, as after Failed (bounded by MAX_REQUEST_ATTEMPTS).
            tracing::warn!(request_id = %status.request_id, "a Complete request now says DoesNotExist");
            return request_again(job, &status, deps).await;
        }
        LogState::DoesNotExist => {
            // No logs in the window: no object, but a manifest that says so. Never over an
            // export already in the bucket, nor over a manifest already there.
            if deps.store.head(&job.key).await?.is_some() {
                return Err(FaunaError::Protocol {
                    endpoint: "GET /api/v1/logs/{id}",
                    detail: format!(
                        "request {} says the window has no logs (DoesNotExist), but s3://{}/{} holds an export of it from an earlier run; it is left as it is. If it is wrong, delete it and its manifest and export the window again",
                        clip(&status.request_id, SHOWN_BYTES),
                        deps.store.bucket(),
                        job.key
                    ),
                }
                .into());
            }
            let manifest = Manifest::empty(&job, status.request_id, deps.store.bucket());
            let key = manifest_key(&job.key);
            let written = deps
                .store
                .put_object_if(
                    &key,
                    manifest.to_json().into(),
                    manifest::CONTENT_TYPE,
                    Precondition::IfAbsent,
                )
                .await?;
            if written.is_none() {
                tracing::info!(%key, "a manifest of this window is already there; left as it is");
            }
            job.step = Step::Done;
            job.bytes = Some(0);
            job.records = Some(0);
            job.wait_seconds = 0;
        }
        LogState::Failed | LogState::TimedOut => return request_again(job, &status, deps).await,
        LogState::Requested
        | LogState::Pending
        | LogState::CreatingNewUrl
        | LogState::Unknown(_) => {
            if let LogState::Unknown(name) = &status.state {
                tracing::warn!(state = %name, "undocumented state from Fauna; treating it as still working");
            }
            let now = Utc::now();
            let deadline = job.poll_deadline.unwrap_or(now);
            if now >= deadline {
                abandon_upload(&mut job, deps).await;
                return Err(StepError::PollDeadlineExceeded {
                    request_id: status.request_id,
                    state: status.state.to_string(),
                    deadline,
                });
            }
            let left = (deadline - now).num_seconds().max(1) as u64;
            job.step = Step::Poll;
            job.wait_seconds = config.poll.interval(job.polls).as_secs().min(left);
        }
    }
    Ok(job)
}

#[cfg(test)]
mod tests;

/// Refuses a request whose window or scope, as Fauna reports them, are not the job's: a job
/// whose `request_id` came from another export would otherwise copy that export's file to this
/// window's key. (What Fauna leaves out is not compared; it always reports the window.)
pub(super) fn check_same_window(job: &Job, status: &LogRequestStatus) -> Result<(), StepError> {
    let window_differs = status.time_start.is_some_and(|t| t != job.time_start)
        || status.time_end.is_some_and(|t| t != job.time_end);
    let database_differs = match (&job.scope, &status.database) {
        (Scope::Database(ours), Some(theirs)) => ours != theirs,
        (Scope::RegionGroup(_), Some(_)) => true,
        (_, None) => false,
    };
    let region_group_differs = status
        .region_group
        .as_deref()
        .is_some_and(|rg| rg != job.scope.region_group());
    if !(window_differs || database_differs || region_group_differs) {
        return Ok(());
    }
    let show = |t: Option<chrono::DateTime<Utc>>| t.map(rfc3339).unwrap_or_else(|| "?".into());
    let theirs_scope = match (&status.database, &status.region_group) {
        (Some(db), _) => format!("database {}", clip(db, SHOWN_BYTES)),
        (None, Some(rg)) => format!("region group {}", clip(rg, SHOWN_BYTES)),
        (None, None) => "an unnamed scope".into(),
    };
    Err(InvalidJob::ForeignRequest {
        request_id: clip(&status.request_id, SHOWN_BYTES),
        theirs: format!(
            "{theirs_scope} {}/{}",
            show(status.time_start),
            show(status.time_end)
        ),
        ours: job.window_name(),
    }
    .into())
}
