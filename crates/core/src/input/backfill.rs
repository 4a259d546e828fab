//! Backfill entries of the backfill state machine: its plan, and its Map state's outcomes.
//!
//! A plan, `{"scopes": [{"database": …} | {"region_group": …}, …], "from", "to", "granularity":
//! "hour" | "day", "force", "max_concurrency"}`, becomes a [`Plan`]: one job per window × scope,
//! the windows aligned to the granularity and tiling `[from, to)` exactly. The `backfill`
//! command builds the same [`Plan`] from its arguments through [`Plan::new`]. The outcomes,
//! `{"summarize": {"outcomes": […], "skipped": N}}`, become each window's [`Outcome`].

use chrono::{DateTime, DurationRound, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::JobRules;
use super::error::{InvalidJob, deserialize};
use super::job::{new_job, time};
use crate::job::{Job, Outcome};
use crate::scope::Scope;
use crate::shown::{SHOWN_BYTES, clip};
use crate::time::{Granularity, rfc3339};

/// Windows one backfill execution may hold on Step Functions: the windows and then their outcomes
/// travel in the execution's state, which is limited to 256 KiB.
pub const MAX_STATE_MACHINE_WINDOWS: usize = 1000;

/// The most a plan entry may take: room for hundreds of scopes, not for megabytes of anything.
const MAX_PLAN_BYTES: usize = 64 * 1024;

/// Exports running at once when the plan does not say.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 4;

/// The most exports one backfill runs at once (the command line's `--concurrency` and a plan's
/// `max_concurrency` alike): each polls Fauna, and 64 of them make at most about 6 requests a
/// second at the shortest poll interval (docs/backfill.md).
pub const MAX_CONCURRENCY: u32 = 64;

/// A backfill as asked for, before validation: typed, from a plan entry or the command line.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub scopes: Vec<Scope>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub force: bool,
    pub max_concurrency: Option<u32>,
}

/// A validated plan: every window × scope as a job ready for its first step, oldest first.
#[derive(Debug, Clone)]
pub struct Plan {
    pub windows: Vec<Job>,
    pub force: bool,
    pub max_concurrency: u32,
}

fn bad(field: impl Into<String>, detail: impl Into<String>) -> InvalidJob {
    InvalidJob::BadPlan {
        field: field.into(),
        detail: detail.into(),
    }
}

impl Plan {
    /// Validates a backfill and expands it, refusing plans of more than `max_windows` windows.
    /// `now` bounds `to`: a window that has not ended yet has no complete logs.
    pub fn new(
        request: PlanRequest,
        rules: &JobRules,
        max_windows: usize,
        now: DateTime<Utc>,
    ) -> Result<Plan, InvalidJob> {
        let PlanRequest {
            scopes,
            from,
            to,
            granularity,
            force,
            max_concurrency,
        } = request;
        let period = granularity.period();
        let from = aligned("from", from, granularity)?;
        let to = aligned("to", to, granularity)?;
        if from >= to {
            return Err(bad(
                "to",
                format!("{} is not after `from` ({})", rfc3339(to), rfc3339(from)),
            ));
        }
        // A window is exported once its logs are all in: the schedule's lag after it ends.
        let latest = now - rules.schedule.lag;
        if to > latest {
            let reason = if to > now {
                "is in the future: a window that has not ended has no complete logs"
            } else {
                "ends within SCHEDULE_LAG_MINUTES of now: Fauna's logs of a window arrive late, and an export now would miss them"
            };
            return Err(bad(
                "to",
                format!(
                    "{} {reason}; end the backfill at or before {}",
                    rfc3339(to),
                    rfc3339(latest.duration_trunc(period).unwrap_or(latest))
                ),
            ));
        }
        if scopes.is_empty() {
            return Err(bad(
                "scopes",
                "it is empty: list at least one {\"database\": \"us-std/ECommerce\"} or {\"region_group\": \"us-std\"}",
            ));
        }
        let max_concurrency = max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        if max_concurrency == 0 {
            return Err(bad("max_concurrency", "0 runs nothing: use 1 or more"));
        }
        if max_concurrency > MAX_CONCURRENCY {
            return Err(bad(
                "max_concurrency",
                format!(
                    "{max_concurrency} is over the limit of {MAX_CONCURRENCY} exports at once: use at most {MAX_CONCURRENCY}"
                ),
            ));
        }
        let periods = (to - from).num_seconds() / period.num_seconds();
        let count = usize::try_from(periods)
            .unwrap_or(usize::MAX)
            .saturating_mul(scopes.len());
        if count > max_windows {
            return Err(bad(
                "to",
                format!(
                    "the plan holds {count} windows ({periods} × {} scopes), over the limit of {max_windows} for one backfill: split it into several backfills by time, or use \"day\" granularity",
                    scopes.len()
                ),
            ));
        }
        // Each scope, once, checked as the first window's job.
        let mut checked: Vec<Scope> = Vec::with_capacity(scopes.len());
        for (i, scope) in scopes.into_iter().enumerate() {
            let field = format!("scopes[{i}]");
            if checked.contains(&scope) {
                return Err(bad(
                    field,
                    format!(
                        "{} {:?} is listed twice",
                        scope.field(),
                        clip(scope.value(), SHOWN_BYTES)
                    ),
                ));
            }
            let first = new_job(scope, from, from + period, rules)
                .map_err(|e| bad(field.clone(), e.to_string()))?;
            checked.push(first.scope);
        }
        let mut windows = Vec::with_capacity(count);
        let mut start = from;
        while start < to {
            let end = start + period;
            for scope in &checked {
                windows.push(new_job(scope.clone(), start, end, rules)?);
            }
            start = end;
        }
        Ok(Plan {
            windows,
            force,
            max_concurrency,
        })
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

/// Whether a payload is a backfill plan.
pub(super) fn is_plan(value: &Value) -> bool {
    value.get("scopes").is_some()
}

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

/// A plan entry of the backfill state machine.
pub(super) fn plan(value: Value, rules: &JobRules, now: DateTime<Utc>) -> Result<Plan, InvalidJob> {
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
    let scopes = input
        .scopes
        .into_iter()
        .enumerate()
        .map(|(i, scope)| match (scope.database, scope.region_group) {
            (Some(db), None) => Ok(Scope::Database(db)),
            (None, Some(rg)) => Ok(Scope::RegionGroup(rg)),
            _ => Err(bad(
                format!("scopes[{i}]"),
                "give exactly one of `database` or `region_group`",
            )),
        })
        .collect::<Result<_, _>>()?;
    let request = PlanRequest {
        scopes,
        from: time("from", &input.from)?,
        to: time("to", &input.to)?,
        granularity,
        force: input.force,
        max_concurrency: input.max_concurrency,
    };
    Plan::new(request, rules, MAX_STATE_MACHINE_WINDOWS, now)
}

/// Whether a payload asks for the summary of a backfill state machine's Map state.
pub(super) fn is_outcomes(value: &Value) -> bool {
    value.get("summarize").is_some()
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
pub const CAUSE_IN_MAP_RUN: &str = "the cause is in this window's child execution of the Map Run";

/// Each window's outcome, by key (skipped windows have no key here).
pub(super) fn outcomes(value: Value) -> Result<Vec<(String, Outcome)>, InvalidJob> {
    let request: SummaryRequest = deserialize(value)?;
    Ok(request
        .summarize
        .outcomes
        .iter()
        .map(map_outcome)
        .chain((0..request.summarize.skipped).map(|_| (String::new(), Outcome::Skipped)))
        .collect())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::test_rules as rules;
    use crate::time::parse_rfc3339;
    use chrono::TimeDelta;
    use proptest::prelude::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_rfc3339("2026-11-26T12:00:00Z").unwrap()
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
        let plan = plan(
            entry("2026-11-20T00:00:00Z", "2026-11-23T00:00:00Z", "day"),
            &rules(),
            now(),
        )
        .unwrap();
        assert_eq!(plan.windows.len(), 6);
        assert_eq!(plan.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert!(!plan.force);
        let first = &plan.windows[0];
        assert_eq!(first.scope, Scope::Database("us-std/ECommerce".into()));
        assert_eq!(rfc3339(first.time_start), "2026-11-20T00:00:00Z");
        assert_eq!(rfc3339(first.time_end), "2026-11-21T00:00:00Z");
        assert_eq!(plan.windows[1].scope, Scope::RegionGroup("eu-std".into()));
        assert!(
            plan.windows[1]
                .key
                .contains("region_group=eu-std/database=__all__/")
        );
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
            let err = plan(value.clone(), &rules(), now()).expect_err(&value.to_string());
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
            assert_eq!(field_of(err), field, "{value}");
        }
        // A huge plan is refused without echoing it.
        let huge = json!({"scopes": [{"region_group": "us-std"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "x".repeat(1 << 20)});
        let err = plan(huge, &rules(), now()).unwrap_err();
        assert_eq!(field_of(err.clone()), "scopes");
        assert!(err.to_string().len() < 1024, "{}", err.to_string().len());
        // Unknown fields and wrong types are refused by the shape, naming the path.
        let err = plan(json!({"scopes": [{"region_group": "us-std"}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day", "forse": true}), &rules(), now()).unwrap_err();
        assert!(err.to_string().contains("forse"), "{err}");
        let err = plan(json!({"scopes": "us-std", "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"}), &rules(), now()).unwrap_err();
        assert!(err.to_string().contains("scopes"), "{err}");
    }

    /// A backfill ends a lag (SCHEDULE_LAG_MINUTES, an hour by default) before now at the
    /// latest, as the schedule does: the last window's logs must all be in.
    #[test]
    fn a_backfill_respects_the_schedules_lag() {
        let now = parse_rfc3339("2026-11-26T00:30:00Z").unwrap();
        let entry = |to: &str| json!({"scopes": [{"region_group": "us-std"}], "from": "2026-11-25T00:00:00Z", "to": to, "granularity": "hour"});
        assert!(plan(entry("2026-11-25T23:00:00Z"), &rules(), now).is_ok());
        let err = plan(entry("2026-11-26T00:00:00Z"), &rules(), now).unwrap_err();
        assert_eq!(field_of(err.clone()), "to");
        assert!(err.to_string().contains("SCHEDULE_LAG_MINUTES"), "{err}");
        assert!(
            err.to_string()
                .contains("at or before 2026-11-25T23:00:00Z"),
            "{err}"
        );
        let err = plan(entry("2026-11-26T01:00:00Z"), &rules(), now).unwrap_err();
        assert!(err.to_string().contains("in the future"), "{err}");
    }

    #[test]
    fn map_outcomes_name_their_windows() {
        let outcomes = outcomes(json!({"summarize": {
            "outcomes": [
                {"outcome": "done", "key": "a", "bytes": 10, "records": 2},
                {"outcome": "failed", "key": "b", "error_type": "DownloadFailed"},
                null,
            ],
            "skipped": 2,
        }}))
        .unwrap();
        assert_eq!(outcomes[0], ("a".into(), Outcome::Done));
        assert_eq!(
            outcomes[1],
            (
                "b".into(),
                Outcome::Failed {
                    error_type: "DownloadFailed".into(),
                    message: CAUSE_IN_MAP_RUN.into()
                }
            )
        );
        assert!(
            matches!(&outcomes[2].1, Outcome::Failed { error_type, .. } if error_type == "ItemFailed")
        );
        assert_eq!(
            outcomes[3..],
            [
                (String::new(), Outcome::Skipped),
                (String::new(), Outcome::Skipped)
            ]
        );
        assert!(super::outcomes(json!({"summarize": {"outcome": []}})).is_err());
    }

    proptest! {
        /// Whatever the range, the windows tile it exactly: aligned, contiguous, no overlap.
        #[test]
        fn windows_tile_the_range(start_hours in 0i64..20_000, hours in 1i64..400, daily in any::<bool>()) {
            let (granularity, unit) = if daily { (Granularity::Day, 24) } else { (Granularity::Hour, 1) };
            let base = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
            let from = base + TimeDelta::hours(start_hours / unit * unit);
            let to = from + TimeDelta::hours(hours / unit * unit + unit);
            let request = PlanRequest {
                scopes: vec![Scope::RegionGroup("us-std".into())],
                from,
                to,
                granularity,
                force: false,
                max_concurrency: None,
            };
            let plan = Plan::new(request, &rules(), usize::MAX, to + TimeDelta::days(1)).unwrap();
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
