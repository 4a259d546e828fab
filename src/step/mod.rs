//! One transition of a job: `step(job, deps, deadline) -> job`.
//!
//! | step in   | what happens                                   | step out                          |
//! |-----------|------------------------------------------------|-----------------------------------|
//! | `request` | `POST /api/v1/logs?type=query`                 | `poll` (or as its state says)     |
//! | `poll`    | `GET /api/v1/logs/{id}`                        | `poll`, `copy`, `done`, `request` |
//! | `copy`    | presigned URL → bucket, then the manifest      | `done`, or `copy` to continue     |
//!
//! What a Fauna state means is decided in one place, `log_request::after_status`, whichever call
//! reported it.
//! The driver (Step Functions or the CLI) waits `wait_seconds` before the next step.
//!
//! Two files hold the steps: [`log_request`] (`request`, `poll`, and what each state means) and
//! [`copy`] (with [`log_file`], the file behind the presigned URL, renewed as needed). This one
//! dispatches, and holds the ways out that let go of what an export holds.

mod copy;
mod log_file;
mod log_request;

use std::time::Instant;

use crate::clients::Deps;
use crate::copy::copy_record;
use crate::error::StepError;
use crate::fauna::LogsApi;
use crate::job::{Job, Step};
use crate::keys::copy_record_key;
use crate::store::ObjectStore;

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
            Step::Request => log_request::request(job, deps).await,
            Step::Poll => log_request::poll(job, deps).await,
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

/// The job as it ends on `failure`, having let go of what its export holds (see
/// [`abandon_upload`]): the command line's way out when a step keeps failing.
pub(crate) async fn give_up<A, S: ObjectStore>(
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
        match copy_record::read(&deps.store, &key).await {
            Ok(Some((_, etag))) => copy_record::remove(&deps.store, &key, &etag).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the copy record to remove it"),
        }
    }
    crate::copy::let_go_of_uploads(&deps.store, &job.key, held.as_deref()).await;
}

#[cfg(test)]
mod tests;
