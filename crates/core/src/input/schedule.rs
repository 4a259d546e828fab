//! Scheduled entries: which window a scheduled run exports.
//!
//! The window comes from the *scheduled* time, never from the clock, so a run that starts late or
//! is retried exports the same window, and runs one period apart tile time with no gap and no
//! overlap. A run scheduled at `t` with granularity `g` and lag `l` exports the last whole period
//! that ended at least `l` before `t`: `[floor_g(t - l) - g, floor_g(t - l))`. The lag is there
//! because Fauna's logs arrive late.
//!
//! Two scheduled entry shapes become a job here:
//! - our EventBridge Scheduler input: `{"scheduled_time": "<aws.scheduler.scheduled-time>",
//!   "database" | "region_group": …, "granularity": "hour" | "day", "lag_minutes": N}`;
//! - a classic EventBridge "Scheduled Event" (`"detail-type": "Scheduled Event"`, `"time"`), whose
//!   scope and window come from `SCHEDULE_*` settings.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::JobRules;
use super::error::{InvalidJob, deserialize};
use super::job::{new_job, scope, time};
use crate::job::Job;
use crate::scope::Scope;
use crate::shown::{SHOWN_BYTES, clip};
use crate::time::Granularity;

/// The most `lag_minutes` (and `SCHEDULE_LAG_MINUTES`) may say: a week.
pub const MAX_LAG_MINUTES: i64 = 7 * 24 * 60;

/// How scheduled runs choose their window, and, for classic Scheduled Events (which carry no
/// input of ours), what they export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDefaults {
    pub granularity: Granularity,
    pub lag: TimeDelta,
    /// What a classic Scheduled Event exports (`SCHEDULE_DATABASE` or `SCHEDULE_REGION_GROUP`).
    pub scope: Option<Scope>,
}

impl Default for ScheduleDefaults {
    fn default() -> Self {
        ScheduleDefaults {
            granularity: Granularity::Day,
            lag: TimeDelta::hours(1),
            scope: None,
        }
    }
}

/// The window a run scheduled at `scheduled` exports.
pub fn window_for(
    scheduled: DateTime<Utc>,
    granularity: Granularity,
    lag: TimeDelta,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let period = granularity.period();
    let shifted = scheduled - lag;
    // Whole hours and days since the epoch: `duration_trunc` cannot fail for these.
    let end = shifted.duration_trunc(period).unwrap_or(shifted);
    (end - period, end)
}

/// Whether a payload is a classic EventBridge Scheduled Event.
pub(super) fn is_classic_event(value: &Value) -> bool {
    value.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Whether a payload is our EventBridge Scheduler input.
pub(super) fn is_scheduler_input(value: &Value) -> bool {
    value.get("scheduled_time").is_some()
}

/// A classic Scheduled Event: the configured scope, the window before its `time`.
pub(super) fn classic_event(value: &Value, rules: &JobRules) -> Result<Job, InvalidJob> {
    let schedule = &rules.schedule;
    let scheduled = scheduled_time(
        "time",
        value
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;
    let scope = schedule.scope.clone().ok_or(InvalidJob::MissingField {
        field: "SCHEDULE_DATABASE",
        hint: "a classic EventBridge Scheduled Event carries no scope: set SCHEDULE_DATABASE or SCHEDULE_REGION_GROUP on the function, or use an EventBridge Scheduler input with `database`/`region_group`",
    })?;
    let (start, end) = window_for(scheduled, schedule.granularity, schedule.lag);
    new_job(scope, start, end, rules)
}

/// Our EventBridge Scheduler input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerInput {
    scheduled_time: String,
    database: Option<String>,
    region_group: Option<String>,
    granularity: Option<String>,
    lag_minutes: Option<i64>,
}

/// An EventBridge Scheduler input: its scope, the window before its `scheduled_time`.
pub(super) fn scheduler_input(value: Value, rules: &JobRules) -> Result<Job, InvalidJob> {
    let input: SchedulerInput = deserialize(value)?;
    let scheduled = scheduled_time("scheduled_time", &input.scheduled_time)?;
    let granularity = match input.granularity.as_deref() {
        None => rules.schedule.granularity,
        Some(g) => Granularity::parse(g).ok_or_else(|| InvalidJob::BadSchedule {
            field: "granularity",
            detail: format!(
                "{:?} is not a granularity: use \"hour\" or \"day\"",
                clip(g, SHOWN_BYTES)
            ),
        })?,
    };
    let lag = match input.lag_minutes {
        None => rules.schedule.lag,
        Some(m) if (0..=MAX_LAG_MINUTES).contains(&m) => TimeDelta::minutes(m),
        Some(m) => {
            return Err(InvalidJob::BadSchedule {
                field: "lag_minutes",
                detail: format!("{m} is out of range: use 0 to {MAX_LAG_MINUTES} (a week)"),
            });
        }
    };
    let scope = scope(input.database, input.region_group, rules)?;
    let (start, end) = window_for(scheduled, granularity, lag);
    new_job(scope, start, end, rules)
}

fn scheduled_time(field: &'static str, value: &str) -> Result<DateTime<Utc>, InvalidJob> {
    if value.starts_with("<aws.") {
        return Err(InvalidJob::BadTime {
            field,
            value: value.to_owned(),
            detail: "the placeholder was not replaced: put it in an EventBridge Scheduler target's input".into(),
        });
    }
    time(field, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::test_rules as rules;
    use crate::time::{parse_rfc3339, rfc3339};
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).unwrap()
    }

    fn window(job: &Job) -> (String, String) {
        (rfc3339(job.time_start), rfc3339(job.time_end))
    }

    #[test]
    fn daily_run_exports_yesterday() {
        let (s, e) = window_for(
            at("2026-11-25T01:00:00Z"),
            Granularity::Day,
            TimeDelta::hours(1),
        );
        assert_eq!(
            (rfc3339(s).as_str(), rfc3339(e).as_str()),
            ("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z")
        );
        // A run an hour late, or a retry, exports the same window.
        let late = window_for(
            at("2026-11-25T01:59:59Z"),
            Granularity::Day,
            TimeDelta::hours(1),
        );
        assert_eq!(late, (s, e));
    }

    #[test]
    fn hourly_run_with_lag() {
        let (s, e) = window_for(
            at("2026-11-25T10:05:00Z"),
            Granularity::Hour,
            TimeDelta::minutes(20),
        );
        assert_eq!(
            (rfc3339(s).as_str(), rfc3339(e).as_str()),
            ("2026-11-25T08:00:00Z", "2026-11-25T09:00:00Z")
        );
    }

    #[test]
    fn scheduler_input_becomes_a_job_for_its_window() {
        let job = scheduler_input(
            json!({"scheduled_time": "2026-11-25T01:00:00Z", "database": "us-std/ECommerce", "granularity": "hour", "lag_minutes": 30}),
            &rules(),
        )
        .unwrap();
        assert_eq!(job.scope, Scope::Database("us-std/ECommerce".into()));
        assert_eq!(
            window(&job),
            ("2026-11-24T23:00:00Z".into(), "2026-11-25T00:00:00Z".into())
        );
    }

    #[test]
    fn classic_scheduled_event_uses_the_configured_scope() {
        let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1", "time": "2026-11-25T02:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        let err = classic_event(&event, &rules()).unwrap_err();
        assert!(err.to_string().contains("SCHEDULE_DATABASE"), "{err}");
        let mut configured = rules();
        configured.schedule.scope = Some(Scope::RegionGroup("us-std".into()));
        let job = classic_event(&event, &configured).unwrap();
        assert_eq!(job.scope, Scope::RegionGroup("us-std".into()));
        assert_eq!(
            window(&job),
            ("2026-11-24T00:00:00Z".into(), "2026-11-25T00:00:00Z".into())
        );
    }

    #[test]
    fn an_unreplaced_placeholder_is_named() {
        let err = scheduler_input(
            json!({"scheduled_time": "<aws.scheduler.scheduled-time>", "region_group": "us-std"}),
            &rules(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("placeholder"), "{err}");
        let err = scheduler_input(
            json!({"scheduled_time": "2026-11-25T01:00:00Z", "region_group": "us-std", "granularity": "week"}),
            &rules(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("granularity"), "{err}");
        let err = scheduler_input(
            json!({"scheduled_time": "2026-11-25T01:00:00Z", "region_group": "us-std", "lag_minutes": 10081}),
            &rules(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`lag_minutes`"), "{err}");
    }

    fn granularity() -> impl Strategy<Value = Granularity> {
        prop_oneof![Just(Granularity::Hour), Just(Granularity::Day)]
    }

    proptest! {
        /// Runs one period apart tile time: no gap, no overlap; each window is one whole period
        /// that ended at least the lag before its run; any run within a period exports the same.
        #[test]
        fn scheduled_windows_tile_time(
            secs in 0i64..4_000_000_000,
            jitter in 0i64..3600,
            lag_minutes in 0i64..(3 * 24 * 60),
            g in granularity(),
        ) {
            let lag = TimeDelta::minutes(lag_minutes);
            let t = Utc.timestamp_opt(secs, 0).single().unwrap();
            let (s1, e1) = window_for(t, g, lag);
            let (s2, e2) = window_for(t + g.period(), g, lag);
            prop_assert_eq!(e1, s2);
            prop_assert_eq!(e1 - s1, g.period());
            prop_assert_eq!(e2 - s2, g.period());
            prop_assert!(e1 <= t - lag);
            prop_assert!(t - lag - e1 < g.period());
            // A late start within the same period exports the same window.
            let floor = window_for(t, g, lag).1 + lag;
            let late = floor + TimeDelta::seconds(jitter % g.period().num_seconds());
            prop_assert_eq!(window_for(late, g, lag), (s1, e1));
        }
    }
}
