//! The Lambda entry: one step per invocation.
//!
//! Clients and configuration are built once per cold start and shared by every invocation. The
//! event is a manual request, a scheduled entry or a job this function returned; the answer is the
//! job after one step. The backfill state machine also sends its plan entry (answered with the
//! windows to export) and its Map state's outcomes (answered with a summary): see
//! [`crate::backfill`]. Failures are reported through [`lambda_runtime::Diagnostic`] with the
//! stable `errorType` of [`StepError::error_type`], which the state machines' `Retry` and `Catch`
//! match.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::backfill::{self, Summary};
use crate::error::StepError;
use crate::fauna::{FaunaClient, LogsApi};
use crate::job::Job;
use crate::metrics;
use crate::step::{Deps, step};
use crate::store::{ObjectStore, S3Store};

/// Runs the Lambda runtime loop until the process is stopped.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    // Built at cold start and kept. If that fails (a missing setting, an unreadable secret), each
    // invocation reports the error, where Step Functions shows it, and tries again: a crash loop
    // would hide the cause, and a transient failure should not outlive the moment.
    let deps: OnceCell<Deps<FaunaClient, S3Store>> = OnceCell::new();
    if let Err(e) = deps.get_or_try_init(Deps::from_env).await {
        tracing::error!(error = %e, "the function cannot start its clients");
    }
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = pause_before(event.context.deadline);
        let deps = deps.get_or_try_init(Deps::from_env).await?;
        handle(deps, event.payload, Some(deadline)).await
    }))
    .await
}

/// Time a copy keeps for finishing its parts in flight and returning before Lambda's deadline:
/// 60 s, or a quarter of the invocation's time if that is shorter.
const DEADLINE_MARGIN: Duration = Duration::from_secs(60);

/// The instant a copy should pause by, from the invocation's deadline (ms since the epoch).
fn pause_before(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN.min(left / 4))
}

/// One invocation: a backfill's plan or summary, or one step of an export.
pub async fn handle<A: LogsApi, S: ObjectStore>(
    deps: &Deps<A, S>,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Answer, StepError> {
    if backfill::is_plan(&payload) {
        let answer = backfill::plan_answer(payload, &deps.config.job_rules(), &deps.store).await;
        if let Err(e) = &answer {
            tracing::error!(error_type = e.error_type(), error = %e, "backfill plan refused");
        }
        return answer.map(Answer::Plan);
    }
    if backfill::is_summary_request(&payload) {
        let summary = backfill::summarize(payload)?;
        tracing::info!(summary = %summary.summary, "backfill summarized");
        return Ok(Answer::Summary(summary));
    }
    export_step(deps, payload, deadline).await.map(Answer::Job)
}

/// What an invocation answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// The job after its step.
    Job(Job),
    /// A backfill plan's windows.
    Plan(Value),
    /// How a backfill's windows went.
    Summary(Summary),
}

/// One step of an export: parse the payload into a job and perform its next step.
async fn export_step<A: LogsApi, S: ObjectStore>(
    deps: &Deps<A, S>,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Job, StepError> {
    let job = Job::from_value(payload, &deps.config.job_rules())?;
    let before = job.step;
    let started = Instant::now();
    let result = step(job, deps, deadline).await;
    match &result {
        Ok(job) => {
            tracing::info!(from = %before, to = %job.step, wait_seconds = job.wait_seconds, "step done");
            println!("{}", metrics::step_line(job, before, started.elapsed()));
        }
        Err(e) => {
            tracing::error!(step = %before, error_type = e.error_type(), error = %e, "step failed");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_from_now(d: Duration) -> u64 {
        (SystemTime::now() + d)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default()
    }

    #[test]
    fn the_copy_pauses_well_before_the_deadline() {
        let budget = |d| pause_before(ms_from_now(d)).saturating_duration_since(Instant::now());
        let long = budget(Duration::from_secs(900));
        assert!(
            long <= Duration::from_secs(840) && long > Duration::from_secs(835),
            "{long:?}"
        );
        // A short timeout keeps three quarters of it for work, not nothing.
        let short = budget(Duration::from_secs(40));
        assert!(
            short <= Duration::from_secs(30) && short > Duration::from_secs(28),
            "{short:?}"
        );
        assert_eq!(budget(Duration::ZERO), Duration::ZERO);
    }
}
