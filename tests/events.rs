//! Every fixture in `events/` (the payloads for `cargo lambda invoke --data-file`) parses as the
//! function would parse it: the valid ones into a job ready for its first step, the `invalid-*`
//! ones into the typed error that names the field, the `backfill-*` ones into a backfill plan.

use std::path::Path;

use chrono::TimeDelta;
use fauna_logs_export::backfill::{MAX_STATE_MACHINE_WINDOWS, Plan};
use fauna_logs_export::job::{Job, JobRules, Step};
use fauna_logs_export::schedule::{Granularity, ScheduleDefaults};

fn rules() -> JobRules {
    JobRules {
        region_groups: vec!["us-std".into(), "eu-std".into(), "classic".into()],
        prefix: "fauna-logs".into(),
        // What the function's SCHEDULE_* settings give a classic Scheduled Event.
        schedule: ScheduleDefaults {
            granularity: Granularity::Day,
            lag: TimeDelta::hours(1),
            scope: Some(("database", "us-std/ECommerce".into())),
        },
    }
}

#[test]
fn every_event_fixture_parses_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("read fixture");
        let value: serde_json::Value = serde_json::from_str(&text).expect("fixtures are JSON");
        if name.starts_with("backfill-") {
            let plan = Plan::from_value(
                value,
                &rules(),
                MAX_STATE_MACHINE_WINDOWS,
                chrono::Utc::now(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!plan.windows.is_empty(), "{name}");
            seen += 1;
            continue;
        }
        let parsed = Job::from_value(value, &rules());
        if name.starts_with("invalid-") {
            let err = parsed.expect_err(&name);
            assert!(
                err.to_string().contains('`'),
                "{name}: the error names a field: {err}"
            );
        } else {
            let job = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!job.step.is_terminal(), "{name}");
            if job.step == Step::Request {
                assert!(job.request_id.is_none(), "{name}");
            }
        }
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected the fixtures of every entry shape, found {seen}"
    );
}
