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
use crate::error::StepError;
use crate::fauna::{LogRequestStatus, LogState, LogsApi};
use crate::input::InvalidJob;
use crate::input::error::{SHOWN_BYTES, clip};
use crate::job::{Job, Step};
use crate::keys::manifest_key;
use crate::manifest::{self, Manifest};
use crate::scope::Scope;
use crate::store::ObjectStore;
use crate::time::rfc3339;

/// Renewals of the presigned URL in one copy step.
pub const MAX_RENEWALS: u32 = 3;

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
    match job.step {
        Step::Request => request::request(job, deps).await,
        Step::Poll => poll::poll(job, deps).await,
        Step::Copy => {
            let limit = deps.config.step_time_limit.map(|d| Instant::now() + d);
            let pause_after = match (deadline, limit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            copy::copy(job, deps, pause_after).await
        }
        Step::Done | Step::Failed => Ok(job),
    }
}

pub(super) async fn write_manifest<S: ObjectStore>(
    store: &S,
    object_key: &str,
    manifest: &Manifest,
) -> Result<(), StepError> {
    let key = manifest_key(object_key);
    store
        .put_object(&key, manifest.to_json().into(), manifest::CONTENT_TYPE)
        .await
        .map_err(StepError::Store)
}

pub(super) fn request_id(job: &Job) -> Result<String, StepError> {
    job.request_id
        .clone()
        .ok_or(StepError::InvalidJob(InvalidJob::MISSING_REQUEST_ID))
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
        LogState::DoesNotExist => {
            // No logs in the window: no object, but a manifest that says so.
            let manifest = Manifest::empty(&job, status.request_id, deps.store.bucket());
            write_manifest(&deps.store, &job.key, &manifest).await?;
            job.step = Step::Done;
            job.bytes = Some(0);
            job.records = Some(0);
            job.wait_seconds = 0;
        }
        LogState::Failed | LogState::TimedOut => {
            if job.attempt >= config.max_request_attempts {
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
            job.upload = None;
            job.wait_seconds = config.poll.initial.as_secs();
        }
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
