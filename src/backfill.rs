//! Backfill: the past, as many windows × many scopes.
//!
//! A plan entry, `{"scopes": [{"database": …} | {"region_group": …}, …], "from", "to",
//! "granularity": "hour" | "day", "force", "max_concurrency"}`, expands here into one export job per
//! window × scope. The windows are aligned to the granularity and tile `[from, to)` exactly; each
//! is one hour or one day, far inside Fauna's 90-day limit. A window whose manifest is already in
//! the bucket was exported before and is skipped unless `force`.
//!
//! Two drivers run a plan: the `backfill` command (in [`crate::cli`]) runs the windows itself with
//! bounded concurrency; on AWS, the backfill state machine's plan task gets the windows from
//! [`plan_answer`], a Map state runs the export loop for each, and [`summarize`] counts what
//! happened.

use chrono::{DateTime, DurationRound, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::job::{
    InvalidJob, Job, JobRules, SHOWN_BYTES, clip, deserialize, parse_rfc3339, rfc3339,
};
use crate::manifest::manifest_key;
use crate::schedule::Granularity;
use crate::store::{ObjectStore, StoreError};

/// Windows one backfill execution may hold on Step Functions: the windows and then their outcomes
/// travel in the execution's state, which is limited to 256 KiB (see also `MAX_STATE_BYTES`).
pub const MAX_STATE_MACHINE_WINDOWS: usize = 1000;

/// The most a plan's answer may take, under Step Functions' 256 KiB limit on a state.
const MAX_STATE_BYTES: usize = 240 * 1024;

/// The most a plan entry may take: room for hundreds of scopes, not for megabytes of anything.
const MAX_PLAN_BYTES: usize = 64 * 1024;

/// Exports running at once when the plan does not say.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 4;

/// Manifests looked up at once while planning.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// The plan entry, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanInput {
    scopes: Vec<ScopeInput>,
    from: String,
    to: String,
    granularity: String,
    #[serde(default)]
    force: bool,
    max_concurrency: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeInput {
    database: Option<String>,
    region_group: Option<String>,
}

/// A validated plan: every window × scope as a job ready for its first step.
#[derive(Debug, Clone)]
pub struct Plan {
    pub windows: Vec<Job>,
    pub force: bool,
    pub max_concurrency: u32,
}

/// Whether a payload is a plan entry (rather than a job or a summary request).
pub fn is_plan(payload: &Value) -> bool {
    payload.get("scopes").is_some()
}

fn bad(field: impl Into<String>, detail: impl Into<String>) -> InvalidJob {
    InvalidJob::BadPlan {
        field: field.into(),
        detail: detail.into(),
    }
}

impl Plan {
    /// Validates a plan entry and expands it, refusing plans of more than `max_windows` windows.
    /// `now` bounds `to`: a window that has not ended yet has no complete logs.
    pub fn from_value(
        value: Value,
        rules: &JobRules,
        max_windows: usize,
        now: DateTime<Utc>,
    ) -> Result<Plan, InvalidJob> {
        let bytes = value.to_string().len();
        if bytes > MAX_PLAN_BYTES {
            return Err(bad(
                "scopes",
                format!(
                    "the plan entry is {bytes} bytes, over {MAX_PLAN_BYTES}: list fewer scopes per backfill"
                ),
            ));
        }
        let input: PlanInput = deserialize(value)?;
        let granularity = Granularity::parse(&input.granularity).ok_or_else(|| {
            bad(
                "granularity",
                format!(
                    "{:?} is not a granularity: use \"hour\" or \"day\"",
                    clip(&input.granularity, SHOWN_BYTES)
                ),
            )
        })?;
        let period = granularity.period();
        let from = aligned("from", parse_rfc3339("from", &input.from)?, granularity)?;
        let to = aligned("to", parse_rfc3339("to", &input.to)?, granularity)?;
        if from >= to {
            return Err(bad(
                "to",
                format!("{} is not after `from` ({})", rfc3339(to), rfc3339(from)),
            ));
        }
        if to > now {
            return Err(bad(
                "to",
                format!(
                    "{} is in the future: a window that has not ended has no complete logs; end the backfill at or before {}",
                    rfc3339(to),
                    rfc3339(now.duration_trunc(period).unwrap_or(now))
                ),
            ));
        }
        if input.scopes.is_empty() {
            return Err(bad(
                "scopes",
                "it is empty: list at least one {\"database\": \"us-std/ECommerce\"} or {\"region_group\": \"us-std\"}",
            ));
        }
        let max_concurrency = input.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        if max_concurrency == 0 {
            return Err(bad("max_concurrency", "0 runs nothing: use 1 or more"));
        }
        let periods = (to - from).num_seconds() / period.num_seconds();
        let count = usize::try_from(periods)
            .unwrap_or(usize::MAX)
            .saturating_mul(input.scopes.len());
        if count > max_windows {
            return Err(bad(
                "to",
                format!(
                    "the plan holds {count} windows ({periods} × {} scopes), over the limit of {max_windows} for one backfill: split it into several backfills by time, or use \"day\" granularity",
                    input.scopes.len()
                ),
            ));
        }
        // Each scope, once, checked by the job parser on the first window.
        let mut scopes: Vec<(&'static str, String)> = Vec::with_capacity(input.scopes.len());
        for (i, scope) in input.scopes.into_iter().enumerate() {
            let field = format!("scopes[{i}]");
            let scope = match (scope.database, scope.region_group) {
                (Some(db), None) => ("database", db),
                (None, Some(rg)) => ("region_group", rg),
                _ => {
                    return Err(bad(
                        field,
                        "give exactly one of `database` or `region_group`",
                    ));
                }
            };
            if scopes.contains(&scope) {
                return Err(bad(
                    field,
                    format!(
                        "{} {:?} is listed twice",
                        scope.0,
                        clip(&scope.1, SHOWN_BYTES)
                    ),
                ));
            }
            let end = from + period;
            Job::from_value(window(&scope, from, end), rules)
                .map_err(|e| bad(field.clone(), e.to_string()))?;
            scopes.push(scope);
        }
        let mut windows = Vec::with_capacity(count);
        let mut start = from;
        while start < to {
            let end = start + period;
            for scope in &scopes {
                windows.push(Job::from_value(window(scope, start, end), rules)?);
            }
            start = end;
        }
        Ok(Plan {
            windows,
            force: input.force,
            max_concurrency,
        })
    }

    /// Splits the windows into those to export and those whose manifest is already stored
    /// (all are to export when `force` is set).
    pub async fn pending<S: ObjectStore>(
        self,
        store: &S,
    ) -> Result<(Vec<Job>, Vec<Job>), StoreError> {
        if self.force {
            return Ok((self.windows, Vec::new()));
        }
        let exported: Vec<bool> = stream::iter(self.windows.iter())
            .map(|job| async move { store.exists(&manifest_key(&job.key)).await })
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        let (skipped, pending): (Vec<_>, Vec<_>) = self
            .windows
            .into_iter()
            .zip(exported)
            .partition(|(_, done)| *done);
        Ok((
            pending.into_iter().map(|(job, _)| job).collect(),
            skipped.into_iter().map(|(job, _)| job).collect(),
        ))
    }
}

/// `time` itself if it is on a boundary of the granularity, otherwise an error naming `field`.
fn aligned(
    field: &'static str,
    time: DateTime<Utc>,
    granularity: Granularity,
) -> Result<DateTime<Utc>, InvalidJob> {
    let floor = time.duration_trunc(granularity.period()).unwrap_or(time);
    if floor == time {
        Ok(time)
    } else {
        let unit = match granularity {
            Granularity::Hour => "an hour",
            Granularity::Day => "a day (UTC midnight)",
        };
        Err(bad(
            field,
            format!(
                "{} is not on {unit} boundary: windows tile the range exactly, so use {} or {}",
                rfc3339(time),
                rfc3339(floor),
                rfc3339(floor + granularity.period())
            ),
        ))
    }
}

/// The manual request of one scope and window.
fn window(scope: &(&'static str, String), start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    json!({ scope.0: scope.1, "time_start": rfc3339(start), "time_end": rfc3339(end) })
}

/// The first payload of a window's export: its manual request and its key, so a state machine
/// can name the window even if its first step fails.
pub fn window_entry(job: &Job) -> Value {
    let mut entry = serde_json::to_value(&job.scope).unwrap_or(Value::Null);
    entry["time_start"] = rfc3339(job.time_start).into();
    entry["time_end"] = rfc3339(job.time_end).into();
    entry["key"] = job.key.clone().into();
    entry
}

/// What the backfill state machine's plan task answers: the windows for its Map state.
pub async fn plan_answer<S: ObjectStore>(
    payload: Value,
    rules: &JobRules,
    store: &S,
) -> Result<Value, crate::error::StepError> {
    let plan = Plan::from_value(payload, rules, MAX_STATE_MACHINE_WINDOWS, Utc::now())?;
    let max_concurrency = plan.max_concurrency;
    let (pending, skipped) = plan
        .pending(store)
        .await
        .map_err(crate::copy::CopyError::Store)?;
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
        return Err(bad(
            "scopes",
            format!(
                "the plan's {} windows take {} KiB, over the {} KiB one backfill execution can carry: split it into several backfills by time or by scope",
                pending.len(),
                bytes / 1024,
                MAX_STATE_BYTES / 1024
            ),
        )
        .into());
    }
    Ok(answer)
}

/// How one window of a backfill ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Skipped,
    Failed { error_type: String, message: String },
}

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
    pub failures: Vec<Failure>,
    /// One line for people (and the state machine's `Fail` cause).
    pub summary: String,
}

impl Summary {
    /// Counts `(key, outcome)` pairs.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = (&'a str, &'a Outcome)>) -> Summary {
        let (mut done, mut skipped) = (0, 0);
        let mut failures = Vec::new();
        for (key, outcome) in outcomes {
            match outcome {
                Outcome::Done => done += 1,
                Outcome::Skipped => skipped += 1,
                Outcome::Failed {
                    error_type,
                    message,
                } => failures.push(Failure {
                    key: key.to_owned(),
                    error_type: error_type.clone(),
                    message: message.clone(),
                }),
            }
        }
        let failed = failures.len();
        let mut summary = format!(
            "{} windows: {done} done, {failed} failed, {skipped} skipped (already exported)",
            done + failed + skipped
        );
        if failed > 0 {
            let named: Vec<String> = failures
                .iter()
                .map(|f| format!("{} ({})", f.key, f.error_type))
                .collect();
            summary.push_str("; failed: ");
            summary.push_str(&named.join(", "));
        }
        Summary {
            done,
            failed,
            skipped,
            failures,
            summary,
        }
    }
}

/// Whether a payload asks for the summary of a backfill state machine's Map state.
pub fn is_summary_request(payload: &Value) -> bool {
    payload.get("summarize").is_some()
}

/// The summary request: `{"summarize": {"outcomes": [...], "skipped": N}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryRequest {
    summarize: SummaryInput,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryInput {
    /// What each Map item returned, in the plan's order.
    outcomes: Vec<Value>,
    #[serde(default)]
    skipped: usize,
}

/// Where a failed window's cause is, since the outcomes carry only its `errorType` (the causes
/// would not fit the execution's state).
const CAUSE_IN_MAP_RUN: &str = "the cause is in this window's child execution of the Map Run";

/// One Map item's outcome: `{"outcome": "done", "key", …}`, `{"outcome": "failed", "key",
/// "error_type"}`, or anything else when the item's own execution failed (Step Functions gives
/// no output then), which counts as failed.
fn map_outcome(value: &Value) -> (String, Outcome) {
    let text = |field: &str| value[field].as_str().map(str::to_owned);
    let key = text("key").unwrap_or_else(|| "(a window whose item failed)".into());
    let outcome = match (text("outcome").as_deref(), text("error_type")) {
        (Some("done"), _) => Outcome::Done,
        (Some("failed"), Some(error_type)) => Outcome::Failed {
            error_type,
            message: CAUSE_IN_MAP_RUN.into(),
        },
        _ => Outcome::Failed {
            error_type: "ItemFailed".into(),
            message: format!("the Map item ended without an outcome ({value}); {CAUSE_IN_MAP_RUN}"),
        },
    };
    (key, outcome)
}

/// What the backfill state machine's summary task answers.
pub fn summarize(payload: Value) -> Result<Summary, InvalidJob> {
    let request: SummaryRequest = deserialize(payload)?;
    let outcomes: Vec<(String, Outcome)> = request
        .summarize
        .outcomes
        .iter()
        .map(map_outcome)
        .chain((0..request.summarize.skipped).map(|_| (String::new(), Outcome::Skipped)))
        .collect();
    Ok(Summary::of(outcomes.iter().map(|(k, o)| (k.as_str(), o))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::tests::MemoryStore;
    use crate::job::tests::rules;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        parse_rfc3339("now", "2026-11-26T12:00:00Z").unwrap()
    }

    fn plan(value: Value) -> Result<Plan, InvalidJob> {
        Plan::from_value(value, &rules(), MAX_STATE_MACHINE_WINDOWS, now())
    }

    fn entry(from: &str, to: &str, granularity: &str) -> Value {
        json!({
            "scopes": [{"database": "us-std/ECommerce"}, {"region_group": "eu-std"}],
            "from": from, "to": to, "granularity": granularity,
        })
    }

    fn field_of(err: InvalidJob) -> String {
        match err {
            InvalidJob::BadPlan { field, .. } => field,
            other => panic!("not a plan error: {other}"),
        }
    }

    #[test]
    fn a_plan_expands_into_every_window_of_every_scope() {
        let plan = plan(entry("2026-11-20T00:00:00Z", "2026-11-23T00:00:00Z", "day")).unwrap();
        assert_eq!(plan.windows.len(), 6);
        assert_eq!(plan.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert!(!plan.force);
        let first = &plan.windows[0];
        assert_eq!(rfc3339(first.time_start), "2026-11-20T00:00:00Z");
        assert_eq!(rfc3339(first.time_end), "2026-11-21T00:00:00Z");
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
        let job = Job::from_value(window_entry(&plan.windows[1]), &rules()).unwrap();
        assert_eq!(job, plan.windows[1]);
        assert!(job.key.contains("region_group=eu-std/database=__all__/"));
    }

    #[test]
    fn bad_plans_name_their_field() {
        let cases = [
            (
                entry("2026-11-20T05:00:00Z", "2026-11-23T00:00:00Z", "day"),
                "from",
            ),
            (
                entry("2026-11-20T00:00:00Z", "2026-11-20T10:30:00Z", "hour"),
                "to",
            ),
            (
                entry("2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z", "hour"),
                "to",
            ),
            (
                entry("2026-11-20T00:00:00Z", "2026-12-20T00:00:00Z", "day"),
                "to",
            ),
            (
                entry("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "hour"),
                "to",
            ),
            (
                entry("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", "week"),
                "granularity",
            ),
            (
                json!({"scopes": [], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"}),
                "scopes",
            ),
            (
                json!({"scopes": [{"database": "ECommerce"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"}),
                "scopes[0]",
            ),
            (
                json!({"scopes": [{"region_group": "us-std"}, {"region_group": "us-std"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"}),
                "scopes[1]",
            ),
            (
                json!({"scopes": [{"region_group": "us-std", "database": "us-std/A"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"}),
                "scopes[0]",
            ),
            (
                json!({"scopes": [{"region_group": "us-std"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day", "max_concurrency": 0}),
                "max_concurrency",
            ),
        ];
        for (value, field) in cases {
            let err = plan(value.clone()).expect_err(&value.to_string());
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
            assert_eq!(field_of(err), field, "{value}");
        }
        // A huge plan is refused without echoing it.
        let huge = json!({"scopes": [{"region_group": "us-std"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "x".repeat(1 << 20)});
        let err = plan(huge).unwrap_err();
        assert_eq!(field_of(err.clone()), "scopes");
        assert!(err.to_string().len() < 1024, "{}", err.to_string().len());
        // Unknown fields and wrong types are refused by the shape, naming the path.
        let err = plan(json!({"scopes": [{"region_group": "us-std"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day", "forse": true})).unwrap_err();
        assert!(err.to_string().contains("forse"), "{err}");
        let err = plan(json!({"scopes": "us-std", "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"})).unwrap_err();
        assert!(err.to_string().contains("scopes"), "{err}");
    }

    #[tokio::test]
    async fn windows_with_a_manifest_are_skipped_unless_forced() {
        let store = MemoryStore::default();
        let value = entry("2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z", "day");
        let all = plan(value.clone()).unwrap();
        store
            .put_object(
                &manifest_key(&all.windows[1].key),
                "{}".into(),
                "application/json",
            )
            .await
            .unwrap();
        let (pending, skipped) = all.clone().pending(&store).await.unwrap();
        assert_eq!(pending.len(), 3);
        assert_eq!(skipped, [all.windows[1].clone()]);
        let mut forced = value;
        forced["force"] = true.into();
        let (pending, skipped) = plan(forced).unwrap().pending(&store).await.unwrap();
        assert_eq!((pending.len(), skipped.len()), (4, 0));
    }

    #[tokio::test]
    async fn a_plan_too_large_for_one_execution_is_refused() {
        let long = format!("us-std/{}", "Database".repeat(25));
        let value = |to: &str| json!({"scopes": [{"database": long}], "from": "2026-10-01T00:00:00Z", "to": to, "granularity": "hour"});
        let store = MemoryStore::default();
        // 100 windows fit; 960 windows of such keys do not, though under the window limit.
        let fits = plan_answer(value("2026-10-05T04:00:00Z"), &rules(), &store)
            .await
            .unwrap();
        assert_eq!(fits["planned"], 100);
        let err = plan_answer(value("2026-11-10T00:00:00Z"), &rules(), &store)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidJob");
        assert!(
            err.to_string().contains("`scopes`") && err.to_string().contains("KiB"),
            "{err}"
        );
    }

    #[test]
    fn map_outcomes_are_summarized_with_the_failed_windows_named() {
        let summary = summarize(json!({"summarize": {
            "outcomes": [
                {"outcome": "done", "key": "a", "bytes": 10, "records": 2},
                {"outcome": "failed", "key": "b", "error_type": "DownloadFailed"},
                null,
            ],
            "skipped": 2,
        }}))
        .unwrap();
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
        assert!(summarize(json!({"summarize": {"outcome": []}})).is_err());
    }

    proptest! {
        /// Whatever the range, the windows tile it exactly: aligned, contiguous, no overlap.
        #[test]
        fn windows_tile_the_range(start_hours in 0i64..20_000, hours in 1i64..400, daily in any::<bool>()) {
            let granularity = if daily { "day" } else { "hour" };
            let unit = if daily { 24 } else { 1 };
            let base = parse_rfc3339("base", "2024-01-01T00:00:00Z").unwrap();
            let from = base + TimeDelta::hours(start_hours / unit * unit);
            let to = from + TimeDelta::hours(hours / unit * unit + unit);
            let value = json!({"scopes": [{"region_group": "us-std"}], "from": rfc3339(from), "to": rfc3339(to), "granularity": granularity});
            let plan = Plan::from_value(value, &rules(), usize::MAX, to).unwrap();
            prop_assert_eq!(plan.windows.first().map(|j| j.time_start), Some(from));
            prop_assert_eq!(plan.windows.last().map(|j| j.time_end), Some(to));
            for pair in plan.windows.windows(2) {
                prop_assert_eq!(pair[0].time_end, pair[1].time_start);
            }
            for job in &plan.windows {
                prop_assert_eq!(job.time_end - job.time_start, TimeDelta::hours(unit));
            }
        }
    }
}
