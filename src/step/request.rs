//! The `request` step: `POST /api/v1/logs?type=query` for the job's scope and window.

use chrono::{TimeDelta, Utc};

use super::{after_status, check_same_window};
use crate::clients::Deps;
use crate::error::StepError;
use crate::fauna::LogsApi;
use crate::job::Job;
use crate::store::ObjectStore;

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
