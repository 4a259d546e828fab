//! The Lambda entry: one event per invocation.
//!
//! The configuration is read and the clients built once per cold start, and shared by every
//! invocation. Each event is parsed into an [`Event`] ([`crate::input`]): an export's job gets
//! one step and the job after it is the answer; the backfill state machine's plan entry is
//! answered with the windows to export, and its Map state's outcomes with a summary (see
//! [`crate::backfill`]). Failures are reported through [`lambda_runtime::Diagnostic`] with the
//! stable `errorType` of [`StepError::error_type`], which the state machines' `Retry` and `Catch`
//! match.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::backfill::{self, Summary};
use crate::clients::Deps;
use crate::config::Config;
use crate::error::StepError;
use crate::fauna::{FaunaClient, LogsApi};
use crate::input::{self, Event};
use crate::job::Job;
use crate::metrics;
use crate::step::step;
use crate::store::{ObjectStore, S3Store};

/// Runs the Lambda runtime loop until the process is stopped.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    // Built at cold start and kept. If that fails (a missing setting, an unreadable secret), each
    // invocation reports the error, where Step Functions shows it, and tries again: a crash loop
    // would hide the cause, and a transient failure should not outlive the moment.
    let deps: OnceCell<Deps<FaunaClient, S3Store>> = OnceCell::new();
    if let Err(e) = deps.get_or_try_init(connect).await {
        tracing::error!(error_type = e.error_type(), error = %e, "the function cannot start its clients");
    }
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = pause_before(event.context.deadline);
        let deps = deps.get_or_try_init(connect).await?;
        handle(deps, event.payload, Some(deadline)).await
    }))
    .await
}

/// The configuration, then the clients.
async fn connect() -> Result<Deps<FaunaClient, S3Store>, StepError> {
    Deps::connect(Config::from_env()?).await
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

/// What an invocation answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// The job after its step.
    Job(Box<Job>),
    /// A backfill plan's windows.
    Plan(Value),
    /// How a backfill's windows went.
    Summary(Summary),
}

/// One invocation: the event of `payload`, handled.
pub async fn handle<A: LogsApi, S: ObjectStore>(
    deps: &Deps<A, S>,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Answer, StepError> {
    let event = input::parse(payload, &deps.config.rules, Utc::now())
        .map_err(StepError::from)
        .inspect_err(|e| {
            tracing::error!(error_type = e.error_type(), error = %e, "event refused");
        })?;
    match event {
        Event::Job(job) => export_step(deps, job, deadline)
            .await
            .map(|job| Answer::Job(Box::new(job))),
        Event::Plan(plan) => {
            let answer = backfill::plan_answer(plan, &deps.store).await;
            if let Err(e) = &answer {
                tracing::error!(error_type = e.error_type(), error = %e, "backfill plan refused");
            }
            answer.map(Answer::Plan)
        }
        Event::Outcomes(outcomes) => {
            let summary =
                backfill::summarize(&outcomes, &deps.store, &deps.config.rules.prefix).await?;
            tracing::info!(summary = %summary.summary, "backfill summarized");
            Ok(Answer::Summary(summary))
        }
    }
}

/// One step of an export.
async fn export_step<A: LogsApi, S: ObjectStore>(
    deps: &Deps<A, S>,
    job: Job,
    deadline: Option<Instant>,
) -> Result<Job, StepError> {
    let before = job.step;
    let scope = job.scope.clone();
    let started = Instant::now();
    let result = step(job, deps, deadline).await;
    match &result {
        Ok(job) => {
            tracing::info!(from = %before, to = %job.step, wait_seconds = job.wait_seconds, "step done");
            println!("{}", metrics::step_line(job, before, started.elapsed()));
        }
        Err(e) => {
            tracing::error!(step = %before, error_type = e.error_type(), error = %e, "step failed");
            println!(
                "{}",
                metrics::failed_step_line(&scope, before, e.error_type(), started.elapsed())
            );
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
