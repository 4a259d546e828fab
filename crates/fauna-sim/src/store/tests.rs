//! Unit tests of the request store: progression, versions, URLs, renewals, injected and late
//! states, and the open/active gauges.

use super::*;
use crate::state::CreateLogsBody;

const S: &str = "2099-07-10T07:46:05Z";
const E: &str = "2099-07-11T07:46:05Z";

fn groups() -> Vec<String> {
    ["us-std", "eu-std", "classic"].map(String::from).to_vec()
}

fn lifecycle(polls: u64, unknown: Option<&str>) -> Lifecycle {
    Lifecycle {
        polls_to_complete: polls,
        unknown_state: unknown.map(String::from),
        url_lifetime_secs: 3600,
        ..Lifecycle::default()
    }
}

fn store(l: Lifecycle) -> Store {
    Store::new(l, Arc::new(Stats::default()))
}

fn states(l: &Lifecycle, final_state: &LogState, n: u64) -> Vec<String> {
    (1..=n)
        .map(|p| state_for_poll(p, l, final_state).as_str().to_owned())
        .collect()
}

fn new_request(token: Option<&str>) -> NewRequest {
    let b = CreateLogsBody {
        database: Some("us-std/ECommerce".into()),
        time_start: Some(S.into()),
        time_end: Some(E.into()),
        idempotency_token: token.map(String::from),
        ..CreateLogsBody::default()
    };
    NewRequest::validate(b, &groups()).unwrap_or_else(|e| panic!("{e}"))
}

fn complete(_: &NewRequest) -> Fate {
    LogState::Complete.into()
}

fn poll(store: &Store, id: &str, now: DateTime<Utc>) -> LogRequest {
    store
        .poll(id, now, &Countdown::new(0))
        .unwrap_or_else(|| panic!("poll {id}"))
        .request
}

/// (state, version, has URL in the answer) of the next poll.
fn answer(store: &Store, id: &str, now: DateTime<Utc>) -> (String, u64, bool) {
    let r = poll(store, id, now);
    let v = r.view("http://h");
    (
        v.state.as_str().to_owned(),
        v.version,
        v.presigned_url.is_some(),
    )
}

fn renew(store: &Store, id: &str, now: DateTime<Utc>, hold: RenewalHold) -> Renewed {
    store
        .renew(id, now, &Countdown::new(0), || hold)
        .unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn progression() {
    let c = LogState::Complete;
    assert_eq!(
        states(&lifecycle(2, None), &c, 4),
        ["Pending", "Requested", "Complete", "Complete"]
    );
    assert_eq!(states(&lifecycle(0, None), &c, 2), ["Complete", "Complete"]);
    assert_eq!(
        states(&lifecycle(1, None), &LogState::Failed, 2),
        ["Pending", "Failed"]
    );
    assert_eq!(
        states(&lifecycle(3, None), &c, 4),
        ["Pending", "Requested", "Requested", "Complete"]
    );
    assert_eq!(
        states(&lifecycle(2, Some("InProgress")), &LogState::TimedOut, 5),
        ["InProgress", "Pending", "Requested", "TimedOut", "TimedOut"]
    );
}

#[test]
fn versions_urls_and_instant_renewal() {
    let store = store(lifecycle(2, None));
    let none = Countdown::new(0);
    let now = Utc::now();
    let (r, created) = store.create(new_request(None), now, complete);
    assert!(created);
    assert_eq!((r.version, r.reported.clone()), (0, LogState::Pending));
    let p1 = poll(&store, &r.id, now);
    assert_eq!((p1.version, p1.reported.clone()), (0, LogState::Pending));
    let p2 = poll(&store, &r.id, now);
    assert_eq!((p2.version, p2.reported.clone()), (1, LogState::Requested));
    assert_eq!(
        store
            .renew(&r.id, now, &none, || RenewalHold::INSTANT)
            .err(),
        Some(RenewError::NotComplete("Requested".into()))
    );
    let p3 = poll(&store, &r.id, now);
    assert_eq!((p3.version, p3.reported.clone()), (2, LogState::Complete));
    let first = p3.url.clone().unwrap_or_else(|| panic!("url"));
    assert!(first.expires_at > now && first.ready);
    let view = p3.view("http://h:1");
    assert!(
        view.presigned_url
            .as_deref()
            .is_some_and(|u| u.starts_with(&format!(
                "http://h:1/files/{}.jsonl.gz?X-Amz-Expires=3600&X-Amz-Signature=",
                r.id
            )))
    );
    let renewed = store
        .renew(&r.id, now, &Countdown::new(1), || RenewalHold::INSTANT)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(renewed.started);
    let renewed = renewed.request;
    assert_eq!(renewed.version, 3);
    let answer = renewed.renewal_view("http://h:1", false);
    assert_eq!(answer.state, LogState::CreatingNewUrl);
    assert!(answer.presigned_url.is_some(), "the guide's form");
    let second = renewed.url.clone().unwrap_or_else(|| panic!("url"));
    assert_ne!(first.signature, second.signature);
    assert!(second.ready, "an instant renewal's URL works at once");
    assert!(second.expires_at < now, "expired-url fault");
    let p4 = poll(&store, &r.id, now);
    assert_eq!((p4.version, p4.reported), (3, LogState::Complete));
    assert_eq!(p4.url.map(|u| u.signature), Some(second.signature));
    assert_eq!(
        store
            .renew("nope", now, &none, || RenewalHold::INSTANT)
            .err(),
        Some(RenewError::NotFound)
    );
    assert!(store.poll("nope", now, &none).is_none());
}

#[test]
fn a_renewal_held_for_polls_reports_creating_new_url_without_a_url() {
    let store = store(lifecycle(0, None));
    let now = Utc::now();
    let (r, _) = store.create(new_request(None), now, complete);
    assert_eq!(answer(&store, &r.id, now), ("Complete".into(), 1, true));
    let old = store
        .get(&r.id)
        .and_then(|r| r.url)
        .unwrap_or_else(|| panic!("url"));
    let hold = RenewalHold {
        polls: 2,
        seconds: Some(0),
    };
    let renewed = renew(&store, &r.id, now, hold);
    let new = renewed.request.url.clone().unwrap_or_else(|| panic!("url"));
    assert_ne!(new.signature, old.signature, "the old URL is superseded");
    assert!(!new.ready, "the new URL does not work yet");
    let post = renewed.request.renewal_view("http://h", false);
    assert_eq!((post.state.as_str(), post.version), ("CreatingNewUrl", 2));
    assert!(
        post.presigned_url
            .is_some_and(|u| u.contains(&new.signature))
    );
    assert_eq!(
        post.presigned_url_expiration_time,
        Some(rfc3339_seconds(old.expires_at)),
        "the answer repeats the previous expiry, as in the guide"
    );
    let bare = renewed.request.renewal_view("http://h", true);
    assert!(bare.presigned_url.is_none() && bare.presigned_url_expiration_time.is_none());
    // a second POST while creating repeats the renewal
    let again = renew(&store, &r.id, now, RenewalHold::FOREVER);
    assert!(!again.started);
    assert_eq!(
        again.request.url.map(|u| u.signature),
        Some(new.signature.clone())
    );
    assert_eq!(
        answer(&store, &r.id, now),
        ("CreatingNewUrl".into(), 2, false)
    );
    assert!(
        store
            .for_download(&r.id, now)
            .is_some_and(|r| r.url.is_some_and(|u| !u.ready))
    );
    assert_eq!(
        answer(&store, &r.id, now),
        ("CreatingNewUrl".into(), 2, false)
    );
    // after two CreatingNewUrl answers, the file host already accepts the URL
    assert!(
        store
            .for_download(&r.id, now)
            .is_some_and(|r| r.url.is_some_and(|u| u.ready))
    );
    assert_eq!(answer(&store, &r.id, now), ("Complete".into(), 3, true));
    let done = store
        .get(&r.id)
        .and_then(|r| r.url)
        .unwrap_or_else(|| panic!("url"));
    assert_eq!(done.signature, new.signature);
    assert_eq!(
        store
            .stats
            .renewals_completed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_renewal_held_for_seconds_completes_on_the_clock() {
    let store = store(lifecycle(0, None));
    let t0 = Utc::now();
    let at = |s: i64| t0 + Duration::seconds(s);
    let (r, _) = store.create(new_request(None), t0, complete);
    answer(&store, &r.id, t0);
    let hold = RenewalHold {
        polls: 0,
        seconds: Some(180),
    };
    renew(&store, &r.id, t0, hold);
    assert_eq!(answer(&store, &r.id, at(179)).0, "CreatingNewUrl");
    let ready = store.for_download(&r.id, at(180)).and_then(|r| r.url);
    let ready = ready.unwrap_or_else(|| panic!("url"));
    assert!(ready.ready);
    assert_eq!(
        ready.expires_at,
        at(180 + 3600).trunc_subsecs(0),
        "the lifetime counts from the renewal's end"
    );
    assert_eq!(answer(&store, &r.id, at(181)).0, "Complete");
}

#[test]
fn a_stuck_renewal_never_completes() {
    let store = store(lifecycle(0, None));
    let t0 = Utc::now();
    let (r, _) = store.create(new_request(None), t0, complete);
    answer(&store, &r.id, t0);
    renew(&store, &r.id, t0, RenewalHold::FOREVER);
    for s in [1, 600, 86_400] {
        assert_eq!(
            answer(&store, &r.id, t0 + Duration::seconds(s)),
            ("CreatingNewUrl".into(), 2, false)
        );
    }
}

#[test]
fn single_use_urls_serve_one_download_each() {
    let store = store(lifecycle(0, None));
    let now = Utc::now();
    let later = now + Duration::seconds(5);
    let (r, _) = store.create(new_request(None), now, complete);
    let first = poll(&store, &r.id, now)
        .url
        .unwrap_or_else(|| panic!("url"));
    assert!(first.used_at.is_none());
    assert_eq!(store.claim_url(&r.id, &first.signature, now), Ok(()));
    assert_eq!(
        store.claim_url(&r.id, &first.signature, later),
        Err(ClaimError::Used(now)),
        "second download with the same URL"
    );
    let seen = store.get(&r.id).and_then(|r| r.url).and_then(|u| u.used_at);
    assert_eq!(seen, Some(now), "the download handler sees the URL as used");

    let renewed = renew(&store, &r.id, later, RenewalHold::INSTANT);
    let second = renewed.request.url.unwrap_or_else(|| panic!("url"));
    assert!(second.used_at.is_none(), "a renewed URL is good again");
    assert_eq!(
        store.claim_url(&r.id, &first.signature, later),
        Err(ClaimError::Superseded)
    );
    assert_eq!(store.claim_url(&r.id, &second.signature, later), Ok(()));
    assert_eq!(
        store.claim_url(&r.id, &second.signature, later),
        Err(ClaimError::Used(later))
    );
    assert_eq!(
        store.claim_url("nope", &second.signature, later),
        Err(ClaimError::Superseded)
    );
}

#[test]
fn failed_requests_have_no_url() {
    let store = store(lifecycle(0, None));
    let now = Utc::now();
    let (r, _) = store.create(new_request(None), now, |_| LogState::Failed.into());
    let p = poll(&store, &r.id, now);
    assert_eq!(p.reported, LogState::Failed);
    assert!(p.url.is_none());
    let v = p.view("http://h");
    assert!(v.presigned_url.is_none() && v.presigned_url_expiration_time.is_none());
}

#[test]
fn injected_states_replace_one_answer_and_carry_no_url() {
    let mut l = lifecycle(1, None);
    l.state_at_poll
        .insert(3, LogState::Other("InProgress".into()));
    l.state_at_poll.insert(4, LogState::Pending);
    let store = store(l);
    let now = Utc::now();
    let (r, _) = store.create(new_request(None), now, complete);
    let seen: Vec<_> = (0..5).map(|_| answer(&store, &r.id, now)).collect();
    assert_eq!(
        seen,
        [
            ("Pending".into(), 0, false),
            ("Complete".into(), 1, true),
            ("InProgress".into(), 2, false),
            ("Pending".into(), 3, false),
            ("Complete".into(), 4, true),
        ]
    );
    let polled = store.poll(&r.id, now, &Countdown::new(0));
    assert!(polled.is_some_and(|p| !p.injected));
}

#[test]
fn a_complete_request_fails_on_the_nth_poll_after_completion() {
    let mut l = lifecycle(1, None);
    l.fail_after_complete = Some((2, LogState::TimedOut));
    let store = store(l);
    let now = Utc::now();
    let marked = |_: &NewRequest| Fate {
        final_state: LogState::Complete,
        fails_after_complete: true,
    };
    let (r, _) = store.create(new_request(None), now, marked);
    let (plain, _) = store.create(new_request(None), now, complete);
    let seen: Vec<_> = (0..5).map(|_| answer(&store, &r.id, now).0).collect();
    assert_eq!(
        seen,
        ["Pending", "Complete", "Complete", "TimedOut", "TimedOut"]
    );
    assert!(
        store.get(&r.id).is_some_and(|r| r.url.is_none()),
        "URL withdrawn"
    );
    assert_eq!(
        store
            .renew(&r.id, now, &Countdown::new(0), || RenewalHold::INSTANT)
            .err(),
        Some(RenewError::NotComplete("TimedOut".into()))
    );
    let plain: Vec<_> = (0..5).map(|_| answer(&store, &plain.id, now).0).collect();
    assert_eq!(plain[4], "Complete", "unmarked requests are not affected");
}

#[test]
fn open_and_active_requests() {
    let store = store(lifecycle(1, None));
    let now = Utc::now();
    let gauges = |s: &Store| {
        (
            s.stats.open_requests.current(),
            s.stats.active_requests.current(),
        )
    };
    let (a, _) = store.create(new_request(None), now, complete);
    let (b, _) = store.create(new_request(None), now, |_| LogState::DoesNotExist.into());
    assert_eq!(gauges(&store), (2, 2));
    answer(&store, &a.id, now); // Pending
    answer(&store, &b.id, now); // Pending
    assert_eq!(gauges(&store), (2, 2));
    answer(&store, &b.id, now); // DoesNotExist: closed and done
    assert_eq!(gauges(&store), (1, 1));
    answer(&store, &a.id, now); // Complete: closed, active until its file is served
    assert_eq!(gauges(&store), (0, 1));
    store.served(&a.id, 0, 600, 1000);
    store.served(&a.id, 500, 900, 1000);
    assert_eq!(gauges(&store), (0, 1), "byte 900.. not served yet");
    store.served(&a.id, 900, 1000, 1000);
    assert_eq!(gauges(&store), (0, 0));
    assert_eq!(store.stats.open_requests.peak(), 2);
    assert_eq!(store.stats.active_requests.peak(), 2);
    // idempotent repeats open nothing
    let (c, _) = store.create(new_request(Some("t")), now, complete);
    let (d, created) = store.create(new_request(Some("t")), now, complete);
    assert!(!created && c.id == d.id);
    assert_eq!(gauges(&store), (1, 1));
}

#[test]
fn coverage_merges_ranges() {
    let mut c = Coverage::default();
    assert!(c.covers(0));
    c.add(10, 20);
    c.add(0, 5);
    assert!(!c.covers(20));
    c.add(5, 10);
    assert!(c.covers(20));
    assert!(!c.covers(21));
    c.add(7, 7);
    assert!(c.covers(20));
}

#[test]
fn idempotency_tokens_map_to_one_request_for_a_day() {
    let store = store(lifecycle(2, None));
    let now = Utc::now();
    let (a, _) = store.create(new_request(Some("tok")), now, complete);
    let mut calls = 0;
    let (b, created) = store.create(new_request(Some("tok")), now + Duration::hours(23), |_| {
        calls += 1;
        LogState::Complete.into()
    });
    assert!(!created);
    assert_eq!(calls, 0);
    assert_eq!(a.id, b.id);
    let (c, created) = store.create(
        new_request(Some("tok")),
        now + Duration::hours(25),
        complete,
    );
    assert!(created);
    assert_ne!(a.id, c.id);
    let (d, _) = store.create(new_request(None), now, complete);
    assert_ne!(a.id, d.id);
}

#[test]
fn view_serializes_like_the_guide() {
    let store = store(lifecycle(2, None));
    let now = match DateTime::parse_from_rfc3339("2099-07-11T21:53:47.398213Z") {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => panic!("{e}"),
    };
    let (r, _) = store.create(new_request(None), now, complete);
    let json = serde_json::to_value(r.view("http://h")).unwrap_or_default();
    assert_eq!(json["state"], "Pending");
    assert_eq!(json["time_start"], S);
    assert_eq!(json["time_end"], E);
    assert_eq!(json["region_group"], "us-std");
    assert_eq!(json["database"], "us-std/ECommerce");
    assert_eq!(json["updated_at"], "2099-07-11T21:53:47.398213Z");
    assert_eq!(json["version"], 0);
    assert!(json.get("presigned_url").is_none());
    assert_eq!(json["request_id"].as_str().map(str::len), Some(32));
}
