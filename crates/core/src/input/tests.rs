//! The input layer's tests: every payload shape through [`parse`]. (The bad-input table read from
//! `events/` is checked in the exporter's `error` module, which also knows each `errorType`.)

use super::*;
use crate::job::{Step, UploadProgress};
use crate::scope::Scope;
use crate::time::{parse_rfc3339, rfc3339};
use serde_json::json;

fn now() -> DateTime<Utc> {
    parse_rfc3339("2026-11-26T12:00:00Z").unwrap()
}

fn event(value: Value) -> Result<Event, InvalidJob> {
    parse(value, &test_rules(), now())
}

fn job(value: Value) -> Result<Job, InvalidJob> {
    match event(value)? {
        Event::Job(job) => Ok(job),
        other => panic!("not a job: {other:?}"),
    }
}

#[test]
fn manual_request_becomes_a_request_job() {
    let job = job(json!({
        "database": "us-std/ECommerce",
        "time_start": "2026-11-24T00:00:00Z",
        "time_end": "2026-11-25T00:00:00+00:00"
    }))
    .unwrap();
    assert_eq!(job.step, Step::Request);
    assert_eq!(job.scope, Scope::Database("us-std/ECommerce".into()));
    assert_eq!(
        job.key,
        "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
    );
    assert_eq!(job.attempt, 0);
}

#[test]
fn returned_job_parses_back_to_itself() {
    let mut returned = job(json!({
        "region_group": "eu-std",
        "time_start": "2026-11-24T10:00:00Z",
        "time_end": "2026-11-24T11:00:00Z"
    }))
    .unwrap();
    returned.step = Step::Poll;
    returned.request_id = Some("abc".into());
    returned.attempt = 1;
    returned.polls = 3;
    returned.wait_seconds = 15;
    returned.poll_deadline = Some(returned.time_end);
    returned.upload = Some(UploadProgress {
        upload_id: "u-1".into(),
        next_part: 3,
        offset: 16 << 20,
        part_size: 8 << 20,
        file: Some(crate::job::FileIdentity {
            etag: Some("\"abc\"".into()),
            last_modified: None,
            size: Some(40 << 20),
        }),
    });
    let round = job(serde_json::to_value(&returned).unwrap()).unwrap();
    assert_eq!(round, returned);
}

#[test]
fn nested_database_path_is_hive_escaped() {
    let nested = job(json!({
        "database": "us-std/production/customers",
        "time_start": "2026-11-24T00:00:00Z",
        "time_end": "2026-11-24T01:00:00Z"
    }))
    .unwrap();
    assert!(
        nested.key.contains("/database=production%2Fcustomers/"),
        "{}",
        nested.key
    );
    let rg = job(json!({
        "region_group": "classic",
        "time_start": "2026-11-24T00:00:00Z",
        "time_end": "2026-11-24T01:00:00Z"
    }))
    .unwrap();
    assert!(rg.key.contains("region_group=classic/database=__all__/"));
}

#[test]
fn scope_rules() {
    let window = |scope: Value| {
        let mut v =
            json!({"time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"});
        v.as_object_mut()
            .unwrap()
            .extend(scope.as_object().unwrap().clone());
        job(v)
    };
    assert_eq!(
        window(json!({"database": "us-std/A", "region_group": "us-std"})),
        Err(InvalidJob::BothScopes)
    );
    assert_eq!(window(json!({})), Err(InvalidJob::NoScope));
    for bad in [
        "ECommerce",
        "us-std",
        "us-std/",
        "us-std//A",
        "/us-std/A",
        "mars/A",
        "us-std/A B",
    ] {
        let err = window(json!({ "database": bad })).unwrap_err();
        assert!(
            matches!(err, InvalidJob::BadDatabasePath { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("`database`"), "{bad}: {err}");
    }
    let err = window(json!({"region_group": "mars"})).unwrap_err();
    assert!(matches!(err, InvalidJob::UnknownRegionGroup { .. }));
}

#[test]
fn window_rules() {
    let window = |start: &str, end: &str| {
        job(json!({"region_group": "us-std", "time_start": start, "time_end": end}))
    };
    assert!(window("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z").is_ok()); // exactly 90 days
    let err = window("2026-01-01T00:00:00Z", "2026-04-01T00:00:01Z").unwrap_err();
    assert!(matches!(err, InvalidJob::WindowTooLong { .. }));
    assert!(err.to_string().contains("90 days and 1s"), "{err}");
    assert!(matches!(
        window("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        Err(InvalidJob::EmptyWindow { .. })
    ));
    let err = window("yesterday", "2026-01-01T00:00:00Z").unwrap_err();
    assert!(matches!(
        err,
        InvalidJob::BadTime {
            field: "time_start",
            ..
        }
    ));
}

#[test]
fn a_scheduler_input_becomes_a_job_for_its_window() {
    let scheduled =
        job(json!({"scheduled_time": "2026-11-25T01:30:00Z", "database": "us-std/ECommerce"}))
            .unwrap();
    assert_eq!(scheduled.step, Step::Request);
    assert_eq!(rfc3339(scheduled.time_start), "2026-11-24T00:00:00Z");
    assert_eq!(rfc3339(scheduled.time_end), "2026-11-25T00:00:00Z");
    let err = job(json!({"scheduled_time": "2026-11-25T01:30:00Z"})).unwrap_err();
    assert_eq!(err, InvalidJob::NoScope);
}

#[test]
fn steps_are_checked() {
    let base = json!({"region_group": "us-std", "time_start": "2026-01-01T00:00:00Z", "time_end": "2026-01-02T00:00:00Z"});
    let with = |extra: Value| {
        let mut v = base.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        job(v)
    };
    assert_eq!(
        with(json!({"step": "poll", "request_id": "r1"}))
            .unwrap()
            .step,
        Step::Poll
    );
    assert_eq!(
        with(json!({"step": "poll"})),
        Err(InvalidJob::MISSING_REQUEST_ID)
    );
}

/// The size limit leaves room for every real job: the biggest legitimate job still parses and
/// round-trips.
#[test]
fn a_long_but_legitimate_job_passes() {
    let database = format!("us-std/{}", "a".repeat(800));
    let long = job(json!({"database": database, "step": "copy",
        "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z",
        "request_id": "r".repeat(256),
        "upload": {"upload_id": "u".repeat(1024), "next_part": 3, "offset": 16777216, "part_size": 8388608}}))
    .unwrap();
    let again = job(serde_json::to_value(&long).unwrap()).unwrap();
    assert_eq!(again, long);
}

/// A 1 MiB value in any field of any shape is refused naming the field, with a message that
/// does not echo it.
#[test]
fn a_huge_value_is_refused_by_name_without_being_echoed() {
    let huge = "Q".repeat(1 << 20);
    for field in [
        "database",
        "region_group",
        "time_start",
        "request_id",
        "upload",
        "scheduled_time",
        "comment",
    ] {
        let mut payload = json!({"database": "us-std/A", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"});
        payload[field] = Value::from(format!("us-std/{huge}"));
        let err = job(payload).unwrap_err();
        assert!(
            matches!(&err, InvalidJob::FieldTooLarge { field: f, bytes } if f == field && *bytes > 1 << 20),
            "{field}: {err:?}"
        );
        assert!(err.to_string().len() < 512, "{field}: {err}");
    }
    let err = event(json!({"scopes": [{"database": format!("us-std/{huge}")}], "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"})).unwrap_err();
    assert!(err.to_string().contains("`scopes`"), "{err}");
    assert!(err.to_string().len() < 512, "{err}");
}

fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9:/ _-]{0,12}".prop_map(Value::from),
        Just(Value::from("2026-11-24T00:00:00Z")),
        Just(Value::from("us-std/ECommerce")),
        // Long values: near and over the field limit, and database paths S3 cannot hold.
        (0usize..6000).prop_map(|n| Value::from(format!("us-std/{}", "x".repeat(n)))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("database".to_owned()),
            Just("region_group".to_owned()),
            Just("time_start".to_owned()),
            Just("time_end".to_owned()),
            Just("step".to_owned()),
            Just("request_id".to_owned()),
            Just("upload".to_owned()),
            Just("scheduled_time".to_owned()),
            Just("detail-type".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    /// Whatever arrives, parsing answers an event or a typed error; it never panics, a job it
    /// accepts survives a round trip, and an error names a field without echoing more than one
    /// field's worth of the payload.
    #[test]
    fn the_parser_never_panics(value in json_value()) {
        match event(value) {
            Ok(Event::Job(accepted)) => {
                let again = job(serde_json::to_value(&accepted).unwrap()).unwrap();
                proptest::prop_assert_eq!(again, accepted);
            }
            Ok(_) => {}
            Err(err) => {
                let message = err.to_string();
                proptest::prop_assert!(message.matches('`').count() >= 2, "{}", message);
                proptest::prop_assert!(message.len() < MAX_FIELD_BYTES, "{}", message);
            }
        }
    }
}
