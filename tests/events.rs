//! Every fixture in `events/` (the payloads for `cargo lambda invoke --data-file`) parses as the
//! function parses it: each valid one into the event its name says, each `invalid-*` one into the
//! error `events/expected-errors.json` says it must produce. Every fixture is read, and every row
//! of the table has its fixture.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{TimeDelta, Utc};
use fauna_logs_export::error::StepError;
use fauna_logs_export::input::schedule::ScheduleDefaults;
use fauna_logs_export::input::{Event, JobRules, parse};
use fauna_logs_export::job::Step;
use fauna_logs_export::scope::Scope;
use fauna_logs_export::time::Granularity;
use serde::Deserialize;

fn rules() -> JobRules {
    JobRules {
        region_groups: vec!["us-std".into(), "eu-std".into(), "classic".into()],
        prefix: "fauna-logs".into(),
        // What the function's SCHEDULE_* settings give a classic Scheduled Event.
        schedule: ScheduleDefaults {
            granularity: Granularity::Day,
            lag: TimeDelta::hours(1),
            scope: Some(Scope::Database("us-std/ECommerce".into())),
        },
    }
}

/// A row of `events/expected-errors.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expected {
    error_type: String,
    names: Vec<String>,
    says: Vec<String>,
}

#[test]
fn every_event_fixture_parses_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let table: BTreeMap<String, Expected> =
        serde_json::from_slice(&std::fs::read(dir.join("expected-errors.json")).expect("table"))
            .expect("expected-errors.json");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && name != "expected-errors.json")
        .collect();
    files.sort();
    let (mut valid, mut invalid) = (0, 0);
    let mut shapes = std::collections::BTreeSet::new();
    for name in &files {
        let bytes = std::fs::read(dir.join(name)).expect("read fixture");
        let Some(expected) = table.get(name) else {
            assert!(
                !name.starts_with("invalid-"),
                "{name} has no row in expected-errors.json"
            );
            let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let event =
                parse(value, &rules(), Utc::now()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let shape = match (name.split('-').next(), event) {
                (Some("backfill"), Event::Plan(plan)) => {
                    assert!(!plan.windows.is_empty(), "{name}");
                    "backfill plan"
                }
                (Some("backfill"), Event::Outcomes(outcomes)) => {
                    assert!(!outcomes.is_empty(), "{name}");
                    "backfill outcomes"
                }
                (Some("step"), Event::Job(job)) => {
                    assert!(matches!(job.step, Step::Poll | Step::Copy), "{name}");
                    assert!(job.request_id.is_some(), "{name}");
                    "returned job"
                }
                (Some(prefix @ ("manual" | "scheduler" | "eventbridge")), Event::Job(job)) => {
                    assert_eq!(job.step, Step::Request, "{name}");
                    assert!(job.request_id.is_none(), "{name}");
                    prefix
                }
                (_, other) => panic!("{name}: unexpected {other:?}"),
            };
            shapes.insert(shape);
            valid += 1;
            continue;
        };
        // Bytes that are not JSON never reach the function: the runtime refuses them (see
        // tests/lambda_runtime.rs, which sends every row).
        invalid += 1;
        let Ok(value) = serde_json::from_slice(&bytes) else {
            assert_ne!(expected.error_type, "InvalidJob", "{name} is not JSON");
            continue;
        };
        let err = StepError::from(parse(value, &rules(), Utc::now()).expect_err(name));
        assert_eq!(err.error_type(), expected.error_type, "{name}");
        let message = err.to_string();
        for field in &expected.names {
            assert!(
                message.contains(&format!("`{field}")),
                "{name}: no `{field}` in {message}"
            );
        }
        for text in &expected.says {
            assert!(
                message.contains(text.as_str()),
                "{name}: no {text:?} in {message}"
            );
        }
    }
    assert_eq!(
        invalid,
        table.len(),
        "every row of expected-errors.json has its fixture"
    );
    assert_eq!(valid + invalid, files.len());
    // Every entry shape has its fixture: manual requests, a Scheduler input, a classic Scheduled
    // Event (`eventbridge-…`), returned jobs (`step-…`), a backfill plan and its Map outcomes.
    assert_eq!(
        shapes.into_iter().collect::<Vec<_>>(),
        [
            "backfill outcomes",
            "backfill plan",
            "eventbridge",
            "manual",
            "returned job",
            "scheduler"
        ],
        "the fixtures of every entry shape"
    );
}
