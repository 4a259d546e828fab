//! Log requests and their lifecycle.
//!
//! Owns the validation of a new request (scope and time window), the in-memory store of
//! requests and idempotency tokens, the state each status poll reports
//! (`Pending` → `Requested` → … → final), the `version` counter, and the presigned URLs
//! issued for a request (only the latest one is valid; under `--single-use-urls` it also
//! records whether that URL has served its one download).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::faults::Countdown;
use crate::timefmt::{parse_request_time, rfc3339_micros, rfc3339_seconds, rfc3339_z};

/// Longest window one request may cover.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// How long an idempotency token maps to its request.
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// Fauna's `LogState`, plus any other name (the `--unknown-state` fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogState {
    Pending,
    Requested,
    CreatingNewUrl,
    Complete,
    DoesNotExist,
    Failed,
    TimedOut,
    Other(String),
}

impl LogState {
    pub fn as_str(&self) -> &str {
        match self {
            LogState::Pending => "Pending",
            LogState::Requested => "Requested",
            LogState::CreatingNewUrl => "CreatingNewUrl",
            LogState::Complete => "Complete",
            LogState::DoesNotExist => "DoesNotExist",
            LogState::Failed => "Failed",
            LogState::TimedOut => "TimedOut",
            LogState::Other(name) => name,
        }
    }
}

impl Serialize for LogState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a request covers: a whole region group, or one database in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub region_group: String,
    /// Full path including the region group, e.g. `us-std/ECommerce`.
    pub database: Option<String>,
}

impl Scope {
    /// The database path without its region group, e.g. `["ECommerce"]`.
    pub fn database_segments(&self) -> Option<Vec<String>> {
        self.database
            .as_deref()
            .map(|path| path.split('/').skip(1).map(str::to_owned).collect())
    }
}

/// Body of `POST /api/v1/logs`. Every field is optional here so the checks can name what is
/// missing; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CreateLogsBody {
    pub database: Option<String>,
    pub region_group: Option<String>,
    pub time_start: Option<String>,
    pub time_end: Option<String>,
    pub idempotency_token: Option<String>,
}

/// A validated new request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    pub scope: Scope,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    pub idempotency_token: Option<String>,
}

impl NewRequest {
    /// Applies the API's rules; the error is the `reason` of a 400 answer.
    pub fn validate(body: CreateLogsBody, region_groups: &[String]) -> Result<Self, String> {
        let scope = match (body.database, body.region_group) {
            // The database wins; its first segment names the region group.
            (Some(database), _) => {
                let segments: Vec<&str> = database.split('/').collect();
                if segments.iter().any(|s| s.is_empty()) {
                    return Err(format!(
                        "database `{database}` has an empty path segment; use a path such as us-std/ECommerce"
                    ));
                }
                let region_group = segments[0];
                if !region_groups.iter().any(|g| g == region_group) {
                    return Err(format!(
                        "database `{database}` must start with a known region group ({})",
                        region_groups.join(", ")
                    ));
                }
                if segments.len() < 2 {
                    return Err(format!(
                        "database `{database}` names only a region group; use region_group for that, or a path such as {region_group}/ECommerce"
                    ));
                }
                Scope {
                    region_group: region_group.to_owned(),
                    database: Some(database),
                }
            }
            (None, Some(region_group)) => {
                if !region_groups.contains(&region_group) {
                    return Err(format!(
                        "unknown region_group `{region_group}` (known: {})",
                        region_groups.join(", ")
                    ));
                }
                Scope {
                    region_group,
                    database: None,
                }
            }
            (None, None) => return Err("either database or region_group is required".into()),
        };
        let time_start = match body.time_start {
            Some(s) => parse_request_time("time_start", &s)?,
            None => return Err("time_start is required".into()),
        };
        let time_end = match body.time_end {
            Some(s) => parse_request_time("time_end", &s)?,
            None => return Err("time_end is required".into()),
        };
        if time_end <= time_start {
            return Err("time_end must be after time_start".into());
        }
        if time_end - time_start > Duration::days(MAX_WINDOW_DAYS) {
            return Err(format!(
                "the span from time_start to time_end must be {MAX_WINDOW_DAYS} days or less"
            ));
        }
        let idempotency_token = match body.idempotency_token {
            Some(t) if t.trim().is_empty() => {
                return Err("idempotency_token must not be empty".into());
            }
            other => other,
        };
        Ok(Self {
            scope,
            time_start,
            time_end,
            idempotency_token,
        })
    }
}

/// How requests progress, fixed at startup.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    pub polls_to_complete: u64,
    pub unknown_state: Option<String>,
    pub url_lifetime_secs: u64,
}

/// The state the `poll`-th status call (1-based) reports: optionally the unknown state first,
/// then `Pending`, then `Requested` until `polls_to_complete` working answers were given,
/// then the final state for ever.
pub fn state_for_poll(poll: u64, lifecycle: &Lifecycle, final_state: &LogState) -> LogState {
    let mut poll = poll;
    if let Some(name) = &lifecycle.unknown_state {
        if poll <= 1 {
            return LogState::Other(name.clone());
        }
        poll -= 1;
    }
    if poll > lifecycle.polls_to_complete {
        final_state.clone()
    } else if poll <= 1 {
        LogState::Pending
    } else {
        LogState::Requested
    }
}

/// A presigned URL as the file host sees it.
#[derive(Clone, Debug)]
pub struct IssuedUrl {
    pub signature: String,
    pub lifetime_secs: u64,
    pub expires_at: DateTime<Utc>,
    /// When a download claimed this URL (`--single-use-urls` only); later requests are refused
    /// as if it had expired then.
    pub used_at: Option<DateTime<Utc>>,
}

/// One log request.
#[derive(Clone, Debug)]
pub struct LogRequest {
    pub id: String,
    pub scope: Scope,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    /// Where the progression ends, decided at creation.
    pub final_state: LogState,
    /// What the last answer reported.
    pub reported: LogState,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    pub polls: u64,
    /// The only valid URL (absent until the request first reports `Complete`).
    pub url: Option<IssuedUrl>,
}

/// JSON shape of a request in API answers.
#[derive(Debug, Serialize)]
pub struct RequestView {
    pub request_id: String,
    pub state: LogState,
    pub time_start: String,
    pub time_end: String,
    pub region_group: String,
    pub updated_at: String,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presigned_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presigned_url_expiration_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl LogRequest {
    /// Renders the request; the URL appears only when `state` is `Complete` or
    /// `CreatingNewUrl` (the renewal answer).
    pub fn view(&self, base_url: &str, state: LogState) -> RequestView {
        let url = match state {
            LogState::Complete | LogState::CreatingNewUrl => self.url.as_ref(),
            _ => None,
        };
        RequestView {
            request_id: self.id.clone(),
            state,
            time_start: rfc3339_z(self.time_start),
            time_end: rfc3339_z(self.time_end),
            region_group: self.scope.region_group.clone(),
            updated_at: rfc3339_micros(self.updated_at),
            version: self.version,
            presigned_url: url.map(|u| presigned_url(base_url, &self.id, u)),
            presigned_url_expiration_time: url.map(|u| rfc3339_seconds(u.expires_at)),
            database: self.scope.database.clone(),
        }
    }

    /// Makes a new URL the only valid one. `expired` issues it already past its expiry.
    fn issue_url(&mut self, now: DateTime<Utc>, lifetime_secs: u64, expired: bool) {
        let expires_at = if expired {
            now - Duration::seconds(60)
        } else {
            i64::try_from(lifetime_secs)
                .ok()
                .and_then(Duration::try_seconds)
                .and_then(|lifetime| now.checked_add_signed(lifetime))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        // Whole seconds, so the advertised `presigned_url_expiration_time` is exact.
        let expires_at = expires_at.trunc_subsecs(0);
        self.url = Some(IssuedUrl {
            signature: random_hex(64),
            lifetime_secs,
            expires_at,
            used_at: None,
        });
    }
}

/// `http://host/files/<id>.jsonl.gz?X-Amz-Expires=<secs>&X-Amz-Signature=<hex>`.
pub fn presigned_url(base_url: &str, request_id: &str, url: &IssuedUrl) -> String {
    format!(
        "{}/files/{request_id}.jsonl.gz?X-Amz-Expires={}&X-Amz-Signature={}",
        base_url.trim_end_matches('/'),
        url.lifetime_secs,
        url.signature
    )
}

/// `n` random lowercase hex digits (not deterministic; ids and signatures).
pub fn random_hex(n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| char::from(HEX[fastrand::usize(..16)]))
        .collect()
}

/// Why a URL renewal was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RenewError {
    NotFound,
    NotComplete(String),
}

/// Why a download could not claim a single-use URL.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// The request is unknown, or a renewal replaced the URL since the download checked it.
    Superseded,
    /// The URL already served its one download, at this time.
    Used(DateTime<Utc>),
}

#[derive(Default)]
struct Inner {
    requests: HashMap<String, LogRequest>,
    /// token → (request id, when the token was first used)
    tokens: HashMap<String, (String, DateTime<Utc>)>,
}

/// All log requests of the (single) simulated account.
pub struct Store {
    lifecycle: Lifecycle,
    inner: Mutex<Inner>,
}

impl Store {
    pub fn new(lifecycle: Lifecycle) -> Self {
        Self {
            lifecycle,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the maps half-updated in a way that matters here.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a request, or returns the one its idempotency token already maps to (then
    /// `final_state` is not called). Returns the request and whether it is new.
    pub fn create(
        &self,
        new: NewRequest,
        now: DateTime<Utc>,
        final_state: impl FnOnce(&NewRequest) -> LogState,
    ) -> (LogRequest, bool) {
        let mut inner = self.lock();
        if let Some(token) = &new.idempotency_token
            && let Some((id, since)) = inner.tokens.get(token)
            && now - *since < Duration::hours(IDEMPOTENCY_HOURS)
            && let Some(existing) = inner.requests.get(id)
        {
            return (existing.clone(), false);
        }
        let mut id = random_hex(32);
        while inner.requests.contains_key(&id) {
            id = random_hex(32);
        }
        let request = LogRequest {
            id: id.clone(),
            final_state: final_state(&new),
            scope: new.scope,
            time_start: new.time_start,
            time_end: new.time_end,
            reported: LogState::Pending,
            version: 0,
            updated_at: now,
            polls: 0,
            url: None,
        };
        if let Some(token) = new.idempotency_token {
            inner.tokens.insert(token, (id.clone(), now));
        }
        inner.requests.insert(id, request.clone());
        (request, true)
    }

    /// A status poll: advances the progression by one step. `version` goes up whenever the
    /// reported state changes; the URL is issued when `Complete` is first reported.
    pub fn poll(
        &self,
        id: &str,
        now: DateTime<Utc>,
        expired_urls: &Countdown,
    ) -> Option<LogRequest> {
        let mut inner = self.lock();
        let request = inner.requests.get_mut(id)?;
        request.polls = request.polls.saturating_add(1);
        let state = state_for_poll(request.polls, &self.lifecycle, &request.final_state);
        if state != request.reported {
            request.version += 1;
            request.updated_at = now;
            if state == LogState::Complete && request.url.is_none() {
                request.issue_url(now, self.lifecycle.url_lifetime_secs, expired_urls.take());
            }
            request.reported = state;
        }
        Some(request.clone())
    }

    /// `POST .../url`: a fresh URL for a `Complete` request; older URLs stop working.
    pub fn renew(
        &self,
        id: &str,
        now: DateTime<Utc>,
        expired_urls: &Countdown,
    ) -> Result<LogRequest, RenewError> {
        let mut inner = self.lock();
        let request = inner.requests.get_mut(id).ok_or(RenewError::NotFound)?;
        if request.reported != LogState::Complete {
            return Err(RenewError::NotComplete(
                request.reported.as_str().to_owned(),
            ));
        }
        request.issue_url(now, self.lifecycle.url_lifetime_secs, expired_urls.take());
        request.version += 1;
        request.updated_at = now;
        Ok(request.clone())
    }

    pub fn get(&self, id: &str) -> Option<LogRequest> {
        self.lock().requests.get(id).cloned()
    }

    /// `--single-use-urls`: marks the request's current URL, named by its (server-side)
    /// `signature`, as used by a download answered at `now`. Of concurrent downloads with the
    /// same URL, exactly one succeeds.
    pub fn claim_url(
        &self,
        id: &str,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ClaimError> {
        let mut inner = self.lock();
        let url = inner
            .requests
            .get_mut(id)
            .and_then(|r| r.url.as_mut())
            .filter(|u| u.signature == signature)
            .ok_or(ClaimError::Superseded)?;
        match url.used_at {
            Some(at) => Err(ClaimError::Used(at)),
            None => {
                url.used_at = Some(now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<String> {
        ["us-std", "eu-std", "classic"].map(String::from).to_vec()
    }

    fn body(db: Option<&str>, rg: Option<&str>, start: &str, end: &str) -> CreateLogsBody {
        CreateLogsBody {
            database: db.map(String::from),
            region_group: rg.map(String::from),
            time_start: Some(start.into()),
            time_end: Some(end.into()),
            idempotency_token: None,
        }
    }

    const S: &str = "2099-07-10T07:46:05Z";
    const E: &str = "2099-07-11T07:46:05Z";

    #[test]
    fn database_wins_and_names_the_region_group() {
        let r = NewRequest::validate(
            body(Some("eu-std/Shop/prod"), Some("us-std"), S, E),
            &groups(),
        );
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.scope.region_group, "eu-std");
        assert_eq!(r.scope.database.as_deref(), Some("eu-std/Shop/prod"));
        assert_eq!(
            r.scope.database_segments(),
            Some(vec!["Shop".into(), "prod".into()])
        );
    }

    #[test]
    fn scope_errors() {
        let bad = [
            body(None, None, S, E),
            body(None, Some("mars-std"), S, E),
            body(Some("mars-std/Shop"), None, S, E),
            body(Some("us-std//Shop"), None, S, E),
            body(Some("us-std/Shop/"), None, S, E),
            body(Some("/us-std/Shop"), None, S, E),
            body(Some("us-std"), None, S, E),
            body(Some(""), Some("us-std"), S, E),
        ];
        for b in bad {
            let shown = format!("{b:?}");
            assert!(NewRequest::validate(b, &groups()).is_err(), "{shown}");
        }
        assert!(NewRequest::validate(body(None, Some("classic"), S, E), &groups()).is_ok());
    }

    #[test]
    fn window_rules() {
        let ok =
            |s: &str, e: &str| NewRequest::validate(body(None, Some("us-std"), s, e), &groups());
        assert!(ok(S, E).is_ok());
        assert!(ok(E, S).is_err(), "end before start");
        assert!(ok(S, S).is_err(), "empty window");
        assert!(
            ok("2099-01-01T00:00:00Z", "2099-04-01T00:00:00Z").is_ok(),
            "exactly 90 days"
        );
        assert!(
            ok("2099-01-01T00:00:00Z", "2099-04-01T00:00:00.001Z").is_err(),
            "over 90 days"
        );
        // offsets are honoured: 01:00+02:00 is 23:00Z the day before, so the window is 1 h
        let r = ok("2099-01-01T01:00:00+02:00", "2099-01-01T00:00:00Z");
        assert!(r.is_ok());
        let missing = CreateLogsBody {
            region_group: Some("us-std".into()),
            time_start: Some(S.into()),
            ..Default::default()
        };
        assert!(NewRequest::validate(missing, &groups()).is_err());
    }

    fn lifecycle(polls: u64, unknown: Option<&str>) -> Lifecycle {
        Lifecycle {
            polls_to_complete: polls,
            unknown_state: unknown.map(String::from),
            url_lifetime_secs: 3600,
        }
    }

    fn states(l: &Lifecycle, final_state: &LogState, n: u64) -> Vec<String> {
        (1..=n)
            .map(|p| state_for_poll(p, l, final_state).as_str().to_owned())
            .collect()
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

    fn new_request(token: Option<&str>) -> NewRequest {
        let mut b = body(Some("us-std/ECommerce"), None, S, E);
        b.idempotency_token = token.map(String::from);
        NewRequest::validate(b, &groups()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn versions_urls_and_renewal() {
        let store = Store::new(lifecycle(2, None));
        let none = Countdown::new(0);
        let now = Utc::now();
        let (r, created) = store.create(new_request(None), now, |_| LogState::Complete);
        assert!(created);
        assert_eq!((r.version, r.reported.clone()), (0, LogState::Pending));
        let p1 = store
            .poll(&r.id, now, &none)
            .unwrap_or_else(|| panic!("poll"));
        assert_eq!((p1.version, p1.reported.clone()), (0, LogState::Pending));
        let p2 = store
            .poll(&r.id, now, &none)
            .unwrap_or_else(|| panic!("poll"));
        assert_eq!((p2.version, p2.reported.clone()), (1, LogState::Requested));
        assert_eq!(
            store.renew(&r.id, now, &none).err(),
            Some(RenewError::NotComplete("Requested".into()))
        );
        let p3 = store
            .poll(&r.id, now, &none)
            .unwrap_or_else(|| panic!("poll"));
        assert_eq!((p3.version, p3.reported.clone()), (2, LogState::Complete));
        let first = p3.url.clone().unwrap_or_else(|| panic!("url"));
        assert!(first.expires_at > now);
        let view = p3.view("http://h:1", LogState::Complete);
        assert!(
            view.presigned_url
                .as_deref()
                .is_some_and(|u| u.starts_with(&format!(
                    "http://h:1/files/{}.jsonl.gz?X-Amz-Expires=3600&X-Amz-Signature=",
                    r.id
                )))
        );
        let renewed = store
            .renew(&r.id, now, &Countdown::new(1))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(renewed.version, 3);
        let second = renewed.url.clone().unwrap_or_else(|| panic!("url"));
        assert_ne!(first.signature, second.signature);
        assert!(second.expires_at < now, "expired-url fault");
        let p4 = store
            .poll(&r.id, now, &none)
            .unwrap_or_else(|| panic!("poll"));
        assert_eq!(p4.version, 3);
        assert_eq!(p4.url.map(|u| u.signature), Some(second.signature));
        assert_eq!(
            store.renew("nope", now, &none).err(),
            Some(RenewError::NotFound)
        );
        assert!(store.poll("nope", now, &none).is_none());
    }

    #[test]
    fn single_use_urls_serve_one_download_each() {
        let store = Store::new(lifecycle(0, None));
        let none = Countdown::new(0);
        let now = Utc::now();
        let later = now + Duration::seconds(5);
        let (r, _) = store.create(new_request(None), now, |_| LogState::Complete);
        let complete = store
            .poll(&r.id, now, &none)
            .unwrap_or_else(|| panic!("poll"));
        let first = complete.url.unwrap_or_else(|| panic!("url"));
        assert!(first.used_at.is_none());
        assert_eq!(store.claim_url(&r.id, &first.signature, now), Ok(()));
        assert_eq!(
            store.claim_url(&r.id, &first.signature, later),
            Err(ClaimError::Used(now)),
            "second download with the same URL"
        );
        let seen = store.get(&r.id).and_then(|r| r.url).and_then(|u| u.used_at);
        assert_eq!(seen, Some(now), "the download handler sees the URL as used");

        let renewed = store
            .renew(&r.id, later, &none)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let second = renewed.url.unwrap_or_else(|| panic!("url"));
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
        let store = Store::new(lifecycle(0, None));
        let now = Utc::now();
        let (r, _) = store.create(new_request(None), now, |_| LogState::Failed);
        let p = store
            .poll(&r.id, now, &Countdown::new(0))
            .unwrap_or_else(|| panic!("poll"));
        assert_eq!(p.reported, LogState::Failed);
        assert!(p.url.is_none());
        let v = p.view("http://h", LogState::Failed);
        assert!(v.presigned_url.is_none() && v.presigned_url_expiration_time.is_none());
    }

    #[test]
    fn idempotency_tokens_map_to_one_request_for_a_day() {
        let store = Store::new(lifecycle(2, None));
        let now = Utc::now();
        let (a, _) = store.create(new_request(Some("tok")), now, |_| LogState::Complete);
        let mut calls = 0;
        let (b, created) =
            store.create(new_request(Some("tok")), now + Duration::hours(23), |_| {
                calls += 1;
                LogState::Complete
            });
        assert!(!created);
        assert_eq!(calls, 0);
        assert_eq!(a.id, b.id);
        let (c, created) =
            store.create(new_request(Some("tok")), now + Duration::hours(25), |_| {
                LogState::Complete
            });
        assert!(created);
        assert_ne!(a.id, c.id);
        let (d, _) = store.create(new_request(None), now, |_| LogState::Complete);
        assert_ne!(a.id, d.id);
    }

    #[test]
    fn view_serializes_like_the_guide() {
        let store = Store::new(lifecycle(2, None));
        let now = match DateTime::parse_from_rfc3339("2099-07-11T21:53:47.398213Z") {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{e}"),
        };
        let (r, _) = store.create(new_request(None), now, |_| LogState::Complete);
        let json = serde_json::to_value(r.view("http://h", LogState::Pending)).unwrap_or_default();
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
}
