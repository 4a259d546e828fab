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
use serde_json::Value;

use crate::support;

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

/// `infra/template.yaml` as JSON, read by cfn-lint's own YAML loader (it knows CloudFormation's
/// short tags: `!Sub` becomes `{"Fn::Sub": …}`).
fn template() -> Value {
    let out = std::process::Command::new(support::venv_bin("python"))
        .args([
            "-c",
            "import json, sys; from cfnlint.decode import decode; t, m = decode(sys.argv[1]); assert not m, m; print(json.dumps(t))",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/template.yaml"))
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the template as JSON")
}

/// The template's schedule input, expanded as a deployment with the default parameters and then
/// EventBridge Scheduler expand it (`${Parameter}` by CloudFormation's `Fn::Sub`, the
/// `<aws.scheduler.scheduled-time>` context attribute by Scheduler at `scheduled_time`), is the
/// fixture `events/scheduler-daily.json`, and the function makes of it the job for the day
/// before, by the schedule's lag.
#[test]
fn the_templates_schedule_input_is_the_fixture_and_parses() {
    let template = template();
    let inputs: Vec<&Value> = template["Resources"]
        .as_object()
        .expect("Resources")
        .values()
        .filter_map(|r| r["Properties"]["Events"].as_object())
        .flat_map(|events| events.values())
        .filter(|e| e["Type"] == "ScheduleV2")
        .map(|e| &e["Properties"]["Input"]["Fn::Sub"][0])
        .collect();
    assert_eq!(inputs.len(), 1, "one schedule, its Input a Fn::Sub");
    let mut input = inputs[0].as_str().expect("the Sub template").to_owned();
    for (name, parameter) in template["Parameters"].as_object().expect("Parameters") {
        let default = match &parameter["Default"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        input = input.replace(&format!("${{{name}}}"), &default);
    }
    assert!(
        !input.contains("${"),
        "a parameter without a default: {input}"
    );
    let scheduled_time = "2026-11-25T01:00:00Z";
    let input = input.replace("<aws.scheduler.scheduled-time>", scheduled_time);
    let expanded: Value = serde_json::from_str(&input).expect("the expanded input is JSON");
    let fixture: Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("events/scheduler-daily.json"))
            .expect("read the fixture"),
    )
    .expect("fixture JSON");
    assert_eq!(
        expanded, fixture,
        "events/scheduler-daily.json is what Scheduler sends"
    );
    let Event::Job(job) = parse(expanded, &rules(), Utc::now()).expect("the function parses it")
    else {
        panic!("not a job")
    };
    assert_eq!(job.scope, Scope::Database("us-std/ECommerce".into()));
    assert_eq!(
        (
            fauna_logs_export::time::rfc3339(job.time_start),
            fauna_logs_export::time::rfc3339(job.time_end)
        ),
        ("2026-11-24T00:00:00Z".into(), "2026-11-25T00:00:00Z".into())
    );
}

/// Every `LogsPrefix` the template's pattern accepts gives object, manifest and copy-record keys
/// that start with exactly `<LogsPrefix>/`, the prefix the function role's S3 grant names
/// (`arn:…:s3:::<bucket>/<LogsPrefix>/*`), so no accepted prefix can make a write AccessDenied.
#[test]
fn every_prefix_the_template_accepts_is_the_prefix_the_grant_names() {
    use fauna_logs_export::keys::{copy_record_key, manifest_key, object_key};
    use proptest::prelude::*;
    let template = template();
    let pattern = template["Parameters"]["LogsPrefix"]["AllowedPattern"]
        .as_str()
        .expect("LogsPrefix has a pattern");
    let grant = serde_json::to_string(&template["Resources"]).expect("resources");
    assert!(
        grant.contains("${Bucket}/${LogsPrefix}/*"),
        "the grant is not <bucket>/<LogsPrefix>/*"
    );
    // proptest generates from the pattern without its anchors (it matches whole strings).
    let body = pattern.trim_start_matches('^').trim_end_matches('$');
    let start = fauna_logs_export::time::parse_rfc3339("2026-11-24T00:00:00Z").expect("time");
    let end = fauna_logs_export::time::parse_rfc3339("2026-11-25T00:00:00Z").expect("time");
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &proptest::string::string_regex(body).expect("the pattern"),
            |prefix| {
                prop_assume!(!prefix.is_empty() && prefix.len() <= 200);
                let grant_prefix = format!("{prefix}/");
                for (region_group, database) in [("us-std", Some("ECommerce")), ("eu-std", None)] {
                    let key = object_key(&prefix, region_group, database, start, end);
                    prop_assert!(key.starts_with(&grant_prefix), "{key} for {prefix:?}");
                    prop_assert!(manifest_key(&key).starts_with(&grant_prefix));
                    prop_assert!(copy_record_key(&key, "r/1?").starts_with(&grant_prefix));
                }
                Ok(())
            },
        )
        .expect("every accepted prefix is the granted prefix");
}
