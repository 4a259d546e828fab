//! The log request's side of an export: the `request` step (`POST /api/v1/logs?type=query` for
//! the job's scope and window), the `poll` step (`GET /api/v1/logs/{id}`), and what each state
//! Fauna reports means for the job ([`after_status`], the one place the state rules live, whichever
//! step read the state: the copy step's first status read comes here too).

use chrono::{TimeDelta, Utc};

use super::abandon_upload;
use crate::clients::Deps;
use crate::error::StepError;
use crate::fauna::{FaunaError, LogRequestStatus, LogState, LogsApi};
use crate::input::InvalidJob;
use crate::job::{Job, Step};
use crate::keys::manifest_key;
use crate::manifest::{self, Manifest};
use crate::scope::Scope;
use crate::shown::{SHOWN_BYTES, clip};
use crate::store::{ObjectStore, Precondition};
use crate::time::rfc3339;

pub(super) async fn request<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let status = deps
        .api
        .request_logs(&job.scope, job.time_start, job.time_end)
        .await?;
    check_same_window(&job, &status)?;
    job.attempt = job.attempt.saturating_add(1);
    job.polls = 0;
    job.request_id = Some(status.request_id.clone());
    if job.poll_deadline.is_none() {
        let deadline = TimeDelta::from_std(deps.config.poll.deadline).unwrap_or(TimeDelta::MAX);
        job.poll_deadline = Utc::now().checked_add_signed(deadline);
    }
    tracing::info!(scope = %job.scope, request_id = %status.request_id, attempt = job.attempt, "logs requested");
    after_status(job, status, deps).await
}

pub(super) async fn poll<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let id = request_id(&job)?;
    let status = deps.api.status(&id, job.scope.region_group()).await?;
    check_same_window(&job, &status)?;
    job.polls = job.polls.saturating_add(1);
    after_status(job, status, deps).await
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
