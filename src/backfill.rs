//! Backfill: the past, as many windows × many scopes.
//!
//! A validated [`Plan`] (from [`crate::input::backfill`]) holds one export job per window × scope.
//! A window whose manifest is already in the bucket was exported before and is skipped unless the
//! plan says `force` ([`pending`]).
//!
//! Two drivers run a plan: the `backfill` command (in `cli.rs`) runs the windows itself with
//! bounded concurrency; on AWS, the backfill state machine's plan task gets the windows from
//! [`plan_answer`], a Map state runs the export loop for each, and [`Summary::of`] counts what
//! happened.

use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::StepError;
use crate::input::{InvalidJob, Plan};
use crate::job::{Job, Outcome};
use crate::keys::manifest_key;
use crate::store::{ObjectStore, StoreError};
use crate::time::rfc3339;

/// The most a plan's answer may take, under Step Functions' 256 KiB limit on a state.
const MAX_STATE_BYTES: usize = 240 * 1024;

/// Manifests looked up at once while planning.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// Splits the plan's windows into those to export and those whose manifest is already stored
/// (all are to export when `force` is set).
pub async fn pending<S: ObjectStore>(
    plan: Plan,
    store: &S,
) -> Result<(Vec<Job>, Vec<Job>), StoreError> {
    if plan.force {
        return Ok((plan.windows, Vec::new()));
    }
    let exported: Vec<bool> = stream::iter(plan.windows.iter())
        .map(|job| async move {
            let head = store.head(&manifest_key(&job.key)).await?;
            Ok::<bool, StoreError>(head.is_some())
        })
        .buffered(LOOKUPS_IN_FLIGHT)
        .try_collect()
        .await?;
    let (skipped, pending): (Vec<_>, Vec<_>) = plan
        .windows
        .into_iter()
        .zip(exported)
        .partition(|(_, done)| *done);
    Ok((
        pending.into_iter().map(|(job, _)| job).collect(),
        skipped.into_iter().map(|(job, _)| job).collect(),
    ))
}

/// The first payload of a window's export: its manual request and its key, so a state machine
/// can name the window even if its first step fails.
pub(crate) fn window_entry(job: &Job) -> Value {
    json!({
        job.scope.field(): job.scope.value(),
        "time_start": rfc3339(job.time_start),
        "time_end": rfc3339(job.time_end),
        "key": job.key,
    })
}

/// What the backfill state machine's plan task answers: the windows for its Map state.
pub(crate) async fn plan_answer<S: ObjectStore>(plan: Plan, store: &S) -> Result<Value, StepError> {
    let max_concurrency = plan.max_concurrency;
    let (pending, skipped) = pending(plan, store).await?;
    let answer = json!({
        "windows": pending.iter().map(window_entry).collect::<Vec<_>>(),
        "planned": pending.len(),
        "skipped": skipped.len(),
        "max_concurrency": max_concurrency,
    });
    // The windows, and then their outcomes (each smaller than its window), are the execution's
    // state; long database paths can make fewer than the window limit too many.
    let bytes = answer.to_string().len();
    if bytes > MAX_STATE_BYTES {
        return Err(InvalidJob::BadPlan {
            field: "scopes".into(),
            detail: format!(
                "the plan's {} windows take {} KiB, over the {} KiB one backfill execution can carry: split it into several backfills by time or by scope",
                pending.len(),
                bytes / 1024,
                MAX_STATE_BYTES / 1024
            ),
        }
        .into());
    }
    Ok(answer)
}

/// Failed windows a summary lists by name; the rest are counted, and the full list is in the
/// report object (see [`summarize`]). 20 names keep every answer, and the state machine's `Fail`
/// cause, far under Step Functions' limits (256 KiB a state, 32 KiB a cause) whatever the
/// number of windows.
pub const MAX_LISTED_FAILURES: usize = 20;

/// A failed window, for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub key: String,
    pub error_type: String,
    pub message: String,
}

/// The counts of a backfill, and which windows failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The first MAX_LISTED_FAILURES failed windows.
    pub failures: Vec<Failure>,
    /// Failed windows not in `failures`.
    pub failures_not_listed: usize,
    /// Where the report of every window is (`s3://bucket/key`), when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// One line for people (and the state machine's `Fail` cause).
    pub summary: String,
}

impl Summary {
    /// Counts `(key, outcome)` pairs, listing the first failures.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = (&'a str, &'a Outcome)>) -> Summary {
        let (mut done, mut skipped, mut failed) = (0, 0, 0);
        let mut failures = Vec::new();
        for (key, outcome) in outcomes {
            match outcome {
                Outcome::Done => done += 1,
                Outcome::Skipped => skipped += 1,
                Outcome::Failed {
                    error_type,
                    message,
                } => {
                    failed += 1;
                    if failures.len() < MAX_LISTED_FAILURES {
                        failures.push(Failure {
                            key: key.to_owned(),
                            error_type: error_type.clone(),
                            message: message.clone(),
                        });
                    }
                }
            }
        }
        let mut summary = Summary {
            done,
            failed,
            skipped,
            failures_not_listed: failed - failures.len(),
            failures,
            report: None,
            summary: String::new(),
        };
        summary.summary = summary.line();
        summary
    }

    fn line(&self) -> String {
        let mut line = format!(
            "{} windows: {} done, {} failed, {} skipped (already exported)",
            self.done + self.failed + self.skipped,
            self.done,
            self.failed,
            self.skipped
        );
        if self.failed > 0 {
            let named: Vec<String> = self
                .failures
                .iter()
                .map(|f| format!("{} ({})", f.key, f.error_type))
                .collect();
            line.push_str("; failed: ");
            line.push_str(&named.join(", "));
            if self.failures_not_listed > 0 {
                line.push_str(&format!(" and {} more", self.failures_not_listed));
            }
        }
        if let Some(report) = &self.report {
            line.push_str(&format!(" (every window: {report})"));
        }
        line
    }
}

/// The report of a backfill, every window: what [`summarize`] writes to the bucket.
#[derive(Serialize)]
struct Report<'a> {
    done: usize,
    failed: usize,
    skipped: usize,
    windows: Vec<ReportRow<'a>>,
}

#[derive(Serialize)]
struct ReportRow<'a> {
    key: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'a str>,
}

/// What the backfill state machine's summary task answers: the counts and the first failures,
/// and, when any window failed, the report of every window written to the bucket under the
/// prefix (`_reports/backfill-<time>-<n>.json`; the underscore keeps it out of Athena's reach)
/// and named in the answer.
pub async fn summarize<S: ObjectStore, K: AsRef<str>>(
    outcomes: &[(K, Outcome)],
    store: &S,
    prefix: &str,
) -> Result<Summary, StepError> {
    let mut summary = Summary::of(outcomes.iter().map(|(k, o)| (k.as_ref(), o)));
    if summary.failed == 0 {
        return Ok(summary);
    }
    let windows = outcomes
        .iter()
        .filter(|(key, _)| !key.as_ref().is_empty())
        .map(|(key, outcome)| ReportRow {
            key: key.as_ref(),
            outcome: match outcome {
                Outcome::Done => "done",
                Outcome::Skipped => "skipped",
                Outcome::Failed { .. } => "failed",
            },
            error_type: match outcome {
                Outcome::Failed { error_type, .. } => Some(error_type),
                _ => None,
            },
        })
        .collect();
    let report = Report {
        done: summary.done,
        failed: summary.failed,
        skipped: summary.skipped,
        windows,
    };
    let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
    let name = format!(
        "_reports/backfill-{}-{:08x}.json",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..)
    );
    let key = match prefix.trim_matches('/') {
        "" => name,
        prefix => format!("{prefix}/{name}"),
    };
    store
        .put_object(&key, body.into(), "application/json")
        .await?;
    summary.report = Some(format!("s3://{}/{key}", store.bucket()));
    summary.summary = summary.line();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::backfill::CAUSE_IN_MAP_RUN;
    use crate::input::{Event, JobRules, parse};
    use crate::store::memory::MemoryStore;
    use crate::time::parse_rfc3339;
    use chrono::{DateTime, Utc};

    fn now() -> DateTime<Utc> {
        parse_rfc3339("2026-11-26T12:00:00Z").unwrap()
    }

    fn plan(value: Value) -> Plan {
        match parse(value, &JobRules::default(), now()).unwrap() {
            Event::Plan(plan) => plan,
            other => panic!("not a plan: {other:?}"),
        }
    }

    fn entry(from: &str, to: &str) -> Value {
        json!({
            "scopes": [{"database": "us-std/ECommerce"}, {"region_group": "eu-std"}],
            "from": from, "to": to, "granularity": "day",
        })
    }

    #[test]
    fn a_window_entry_starts_that_windows_export() {
        let plan = plan(entry("2026-11-20T00:00:00Z", "2026-11-23T00:00:00Z"));
        let first = &plan.windows[0];
        assert_eq!(
            window_entry(first),
            json!({
                "database": "us-std/ECommerce",
                "time_start": "2026-11-20T00:00:00Z",
                "time_end": "2026-11-21T00:00:00Z",
                "key": first.key,
            })
        );
        // The entry is a payload the function accepts as a job's start.
        let Event::Job(job) =
            parse(window_entry(&plan.windows[1]), &JobRules::default(), now()).unwrap()
        else {
            panic!("not a job")
        };
        assert_eq!(job, plan.windows[1]);
    }

    #[tokio::test]
    async fn windows_with_a_manifest_are_skipped_unless_forced() {
        let store = MemoryStore::default();
        let value = entry("2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z");
        let all = plan(value.clone());
        store
            .put_object(
                &manifest_key(&all.windows[1].key),
                "{}".into(),
                "application/json",
            )
            .await
            .unwrap();
        let (pending_windows, skipped) = pending(all.clone(), &store).await.unwrap();
        assert_eq!(pending_windows.len(), 3);
        assert_eq!(skipped, [all.windows[1].clone()]);
        let mut forced = value;
        forced["force"] = true.into();
        let (pending_windows, skipped) = pending(plan(forced), &store).await.unwrap();
        assert_eq!((pending_windows.len(), skipped.len()), (4, 0));
    }

    #[tokio::test]
    async fn a_plan_too_large_for_one_execution_is_refused() {
        let long = format!("us-std/{}", "Database".repeat(25));
        let value = |to: &str| json!({"scopes": [{"database": long}], "from": "2026-10-01T00:00:00Z", "to": to, "granularity": "hour"});
        let store = MemoryStore::default();
        // 100 windows fit; 960 windows of such keys do not, though under the window limit.
        let fits = plan_answer(plan(value("2026-10-05T04:00:00Z")), &store)
            .await
            .unwrap();
        assert_eq!(fits["planned"], 100);
        let err = plan_answer(plan(value("2026-11-10T00:00:00Z")), &store)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidJob");
        assert!(
            err.to_string().contains("`scopes`") && err.to_string().contains("KiB"),
            "{err}"
        );
    }

    #[test]
    fn outcomes_are_summarized_with_the_failed_windows_named() {
        let Event::Outcomes(outcomes) = parse(
            json!({"summarize": {
                "outcomes": [
                    {"outcome": "done", "key": "a", "bytes": 10, "records": 2},
                    {"outcome": "failed", "key": "b", "error_type": "DownloadFailed"},
                    null,
                ],
                "skipped": 2,
            }}),
            &JobRules::default(),
            now(),
        )
        .unwrap() else {
            panic!("not outcomes")
        };
        let summary = Summary::of(outcomes.iter().map(|(k, o)| (k.as_str(), o)));
        assert_eq!((summary.done, summary.failed, summary.skipped), (1, 2, 2));
        assert_eq!(
            summary.failures[0],
            Failure {
                key: "b".into(),
                error_type: "DownloadFailed".into(),
                message: CAUSE_IN_MAP_RUN.into()
            }
        );
        assert_eq!(summary.failures[1].error_type, "ItemFailed");
        assert_eq!(
            summary.summary,
            "5 windows: 1 done, 2 failed, 2 skipped (already exported); failed: b (DownloadFailed), (a window whose item failed) (ItemFailed)"
        );
    }

    #[tokio::test]
    async fn a_summary_of_a_thousand_failures_fits_and_the_report_holds_them_all() {
        let outcomes: Vec<(String, Outcome)> = (0..1000)
            .map(|i| {
                (
                    format!(
                        "fauna-logs/region_group=us-std/database=A/date=2026-01-01/{i:04}.jsonl.gz"
                    ),
                    Outcome::Failed {
                        error_type: "DownloadFailed".into(),
                        message: CAUSE_IN_MAP_RUN.into(),
                    },
                )
            })
            .chain([("k".to_owned(), Outcome::Done)])
            .collect();
        let store = MemoryStore::default();
        let summary = summarize(&outcomes, &store, "fauna-logs").await.unwrap();
        assert_eq!((summary.failed, summary.done), (1000, 1));
        assert_eq!(summary.failures.len(), MAX_LISTED_FAILURES);
        assert_eq!(summary.failures_not_listed, 1000 - MAX_LISTED_FAILURES);
        let answer = serde_json::to_string(&summary).unwrap();
        assert!(answer.len() < 32 * 1024, "{} bytes", answer.len());
        assert!(
            summary
                .summary
                .contains(" and 980 more (every window: s3://memory/fauna-logs/_reports/backfill-"),
            "{}",
            summary.summary
        );
        let key = summary
            .report
            .unwrap()
            .trim_start_matches("s3://memory/")
            .to_owned();
        let report: Value =
            serde_json::from_slice(&store.state.lock().unwrap().objects[&key]).unwrap();
        assert_eq!(report["windows"].as_array().unwrap().len(), 1001);
        assert_eq!(report["failed"], 1000);
        // No failure, no report.
        let clean = summarize(&[("k".to_owned(), Outcome::Done)], &store, "fauna-logs")
            .await
            .unwrap();
        assert!(clean.report.is_none());
    }
}
