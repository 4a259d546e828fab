//! The `poll` step: `GET /api/v1/logs/{id}`, then what the state means ([`super::after_status`]).

use super::{after_status, check_same_window, request_id};
use crate::clients::Deps;
use crate::error::StepError;
use crate::fauna::LogsApi;
use crate::job::Job;
use crate::store::ObjectStore;

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
