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
    // The counters a pause must never reset, and what a finished or failed job reports.
    returned.corrupt_reads = 1;
    returned.copy_failures = 2;
    returned.bytes = Some(7);
    returned.records = Some(3);
    let round = job(serde_json::to_value(&returned).unwrap()).unwrap();
    assert_eq!(round, returned);
    let failed = returned.fail(crate::job::JobFailure {
        error_type: "DownloadFailed".into(),
        message: "the file host kept refusing".into(),
    });
    let round = job(serde_json::to_value(&failed).unwrap()).unwrap();
    assert_eq!(round, failed);
}

/// A returned job's upload must be one a copy could have left: an upload id, a part size S3
/// allows (5 MiB to 5 GiB), a next part within S3's 10,000, the offset its stored parts end at,
/// and validators no longer than 256 bytes. Each limit is accepted at its edge and refused one
/// past it, naming the field.
#[test]
fn a_returned_upload_must_be_one_a_copy_could_leave() {
    let returned = |upload: Value| {
        job(json!({
            "step": "copy", "database": "us-std/ECommerce", "request_id": "r",
            "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z",
            "wait_seconds": 0, "upload": upload,
            "key": "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz",
        }))
    };
    let upload = |part_size: u64, next_part: u64, etag_len: usize| {
        json!({
            "upload_id": "u-1", "next_part": next_part, "part_size": part_size,
            "offset": (next_part - 1) * part_size,
            "file": {"etag": "e".repeat(etag_len), "size": 1},
        })
    };
    for (part_size, next_part, etag_len) in [
        (5 << 20, 3, 10),
        (5 << 30, 2, 10),
        (8 << 20, 10_001, 10),
        (8 << 20, 1, 256),
    ] {
        let accepted = returned(upload(part_size, next_part, etag_len));
        assert!(
            accepted.is_ok(),
            "{part_size} {next_part} {etag_len}: {accepted:?}"
        );
    }
    let mut wrong_offset = upload(8 << 20, 3, 10);
    wrong_offset["offset"] = json!(1);
    let mut no_id = upload(8 << 20, 3, 10);
    no_id["upload_id"] = json!("");
    for (field, bad) in [
        ("upload_id", no_id),
        ("part_size", upload((5 << 20) - 1, 3, 10)),
        ("part_size", upload((5 << 30) + 1, 2, 10)),
        ("next_part", upload(8 << 20, 10_002, 10)),
        ("offset", wrong_offset),
        ("file.etag", upload(8 << 20, 1, 257)),
    ] {
        let err = returned(bad).unwrap_err();
        assert!(
            matches!(&err, InvalidJob::BadUpload { field: f, .. } if *f == field),
            "{field}: {err:?}"
        );
    }
}

/// A plan and the Map's outcomes are told from a job by their shape, through the one dispatch.
#[test]
fn plans_and_outcomes_are_told_from_jobs() {
    let plan = event(json!({
        "scopes": [{"database": "us-std/ECommerce"}],
        "from": "2026-11-20T00:00:00Z", "to": "2026-11-22T00:00:00Z", "granularity": "day",
    }))
    .unwrap();
    assert!(
        matches!(&plan, Event::Plan(p) if p.windows.len() == 2),
        "{plan:?}"
    );
    let outcomes = event(json!({"summarize": {"outcomes": [], "skipped": 2}})).unwrap();
    assert!(
        matches!(&outcomes, Event::Outcomes(o) if o.len() == 2),
        "{outcomes:?}"
    );
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

/// A payload that is not an object says what it is instead.
#[test]
fn a_payload_that_is_no_object_is_named_by_its_kind() {
    for (value, kind) in [
        (json!(null), "null"),
        (json!(true), "a boolean"),
        (json!(7), "a number"),
        (json!("us-std/ECommerce"), "a string"),
        (json!([1]), "a list"),
    ] {
        let message = event(value).unwrap_err().to_string();
        assert!(
            message.contains(&format!("{kind} instead of a JSON object")),
            "{message}"
        );
    }
}

/// A refused region group, or a database under one, lists the region groups that are known.
#[test]
fn a_refused_region_group_lists_the_known_ones() {
    let known = "us-std, eu-std, classic";
    let err = job(json!({"region_group": "mars", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"})).unwrap_err();
    assert!(
        err.to_string().ends_with(&format!("use one of {known}")),
        "{err}"
    );
    let err = job(json!({"database": "mars/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"})).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("(known region groups: {known})")),
        "{err}"
    );
}

/// A field of exactly MAX_FIELD_BYTES (name and JSON value) is read; one byte more is refused
/// by name before anything else reads it.
#[test]
fn a_field_may_hold_max_field_bytes_and_no_more() {
    let fits = "x".repeat(MAX_FIELD_BYTES - "note".len() - 2);
    let payload = |value: &str| json!({"database": "us-std/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z", "note": value});
    let at_the_limit = event(payload(&fits));
    assert!(
        !matches!(at_the_limit, Err(InvalidJob::FieldTooLarge { .. })),
        "a field of exactly {MAX_FIELD_BYTES} bytes was refused"
    );
    let err = event(payload(&format!("{fits}x"))).unwrap_err();
    assert!(
        matches!(&err, InvalidJob::FieldTooLarge { field, bytes } if field == "note" && *bytes == MAX_FIELD_BYTES + 1),
        "{err:?}"
    );
}

/// An object key (or its manifest's) may take all of S3's 1,024 bytes, and not one more.
#[test]
fn a_key_may_take_all_of_s3_s_1024_bytes_and_no_more() {
    use crate::keys::{MAX_KEY_BYTES, manifest_key};
    let (start, end) = ("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z");
    let longest = |name: &str| {
        let job = Job::new(
            Scope::Database(format!("us-std/{name}")),
            parse_rfc3339(start).unwrap(),
            parse_rfc3339(end).unwrap(),
            "fauna-logs",
        );
        manifest_key(&job.key).len().max(job.key.len())
    };
    let name = "x".repeat(MAX_KEY_BYTES - longest(""));
    assert_eq!(longest(&name), MAX_KEY_BYTES);
    let request = |name: &str| {
        job(json!({"database": format!("us-std/{name}"), "time_start": start, "time_end": end}))
    };
    assert!(
        request(&name).is_ok(),
        "a key of exactly {MAX_KEY_BYTES} bytes"
    );
    let err = request(&format!("{name}x")).unwrap_err();
    assert!(matches!(err, InvalidJob::BadDatabasePath { .. }), "{err:?}");
}

/// A schedule may lag its windows by up to a week, and no more.
#[test]
fn a_schedule_may_lag_a_week_and_no_more() {
    let input = |lag: i64| json!({"scheduled_time": "2026-11-25T01:00:00Z", "database": "us-std/ECommerce", "granularity": "day", "lag_minutes": lag});
    assert!(job(input(7 * 24 * 60)).is_ok());
    let err = job(input(7 * 24 * 60 + 1)).unwrap_err();
    assert!(err.to_string().contains("`lag_minutes`"), "{err}");
}

/// A classic EventBridge Scheduled Event is told apart by its shape, through the one dispatch,
/// and exports what the configuration names.
#[test]
fn a_classic_scheduled_event_reaches_the_configured_scope() {
    let event_json = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1", "time": "2026-11-25T02:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let mut rules = test_rules();
    rules.schedule.scope = Some(Scope::RegionGroup("us-std".into()));
    let Ok(Event::Job(job)) = parse(event_json, &rules, now()) else {
        panic!("a classic Scheduled Event is a job");
    };
    assert_eq!(job.scope, Scope::RegionGroup("us-std".into()));
}

/// A plan entry of a few kilobytes (dozens of scopes) is read; the bound is 64 KiB.
#[test]
fn a_plan_of_dozens_of_scopes_is_read() {
    let scopes: Vec<Value> = (0..60)
        .map(|i| json!({"database": format!("us-std/Database{i:03}")}))
        .collect();
    let payload = json!({"scopes": scopes, "from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", "granularity": "day"});
    assert!(payload.to_string().len() > 2048);
    let plan = event(payload).unwrap();
    assert!(
        matches!(&plan, Event::Plan(p) if p.windows.len() == 60),
        "{plan:?}"
    );
}

/// A malformed field's message keeps serde's detail, clipped to a few hundred bytes around its
/// length: its start and its end (where serde says what it expected) both shown.
#[test]
fn a_malformed_field_s_detail_is_clipped_not_dropped() {
    let long = "y".repeat(2000);
    let err = job(json!({"step": "poll", "database": "us-std/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z", "request_id": "r", "wait_seconds": long})).unwrap_err();
    let InvalidJob::Malformed { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("bytes]"), "{detail}");
    assert!(
        (300..500).contains(&detail.len()),
        "{} bytes: {detail}",
        detail.len()
    );
}
