//! The stored log requests and their lifecycle.
//!
//! Owns the in-memory store of requests and idempotency tokens, the state each status poll
//! reports (`Pending` → `Requested` → … → final, with the injected and late states of the
//! faults), the `version` counter, the presigned URLs issued for a request (only the latest
//! one is valid; a renewal's URL works only once its `CreatingNewUrl` hold is over; under
//! `--single-use-urls` a URL also records whether it served its one download), and the
//! open/active request gauges of the stats.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Serialize;

use crate::faults::Countdown;
use crate::renewal::{Renewal, RenewalHold};
use crate::state::{LogState, NewRequest, Scope};
use crate::stats::{Stats, bump};
use crate::timefmt::{rfc3339_micros, rfc3339_seconds, rfc3339_z};

/// How long an idempotency token maps to its request.
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// How requests progress, fixed at startup.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    pub polls_to_complete: u64,
    pub unknown_state: Option<String>,
    pub url_lifetime_secs: u64,
    /// `--state-at-poll N=NAME`: the Nth status answer of every request reports NAME.
    pub state_at_poll: BTreeMap<u64, LogState>,
    /// `--fail-after-complete N`: the Nth status poll after a marked request first reported
    /// `Complete` reports this state, and so does every later one.
    pub fail_after_complete: Option<(u64, LogState)>,
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

/// What a new request's future holds, decided when it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fate {
    pub final_state: LogState,
    /// Marked by `--fail-after-complete`.
    pub fails_after_complete: bool,
}

impl From<LogState> for Fate {
    fn from(final_state: LogState) -> Self {
        Fate {
            final_state,
            fails_after_complete: false,
        }
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
    /// False while the renewal that made it is still `CreatingNewUrl` (the file host answers
    /// 403).
    pub ready: bool,
}

/// Byte ranges of a file handed to clients, merged, to tell when a file was served in full.
#[derive(Clone, Debug, Default)]
pub struct Coverage(Vec<(u64, u64)>);

impl Coverage {
    /// Adds the half-open range `[start, end)`.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        self.0.push((start, end));
        self.0.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for &(s, e) in &self.0 {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.0 = merged;
    }

    /// Every byte of `[0, len)` is covered.
    pub fn covers(&self, len: u64) -> bool {
        len == 0 || self.0.first().is_some_and(|&(s, e)| s == 0 && e >= len)
    }
}

/// One log request.
#[derive(Clone, Debug)]
pub struct LogRequest {
    pub id: String,
    pub scope: Scope,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    /// Where the progression ends, decided at creation (a file exists iff `Complete`).
    pub final_state: LogState,
    pub fails_after_complete: bool,
    /// What the last answer reported.
    pub reported: LogState,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    pub polls: u64,
    /// The only valid URL (absent until the request first reports `Complete`).
    pub url: Option<IssuedUrl>,
    /// The poll that first reported `Complete` (from the progression).
    pub completed_at_poll: Option<u64>,
    /// The state `--fail-after-complete` moved the request to, for good.
    pub late_state: Option<LogState>,
    /// A renewal still `CreatingNewUrl`.
    pub renewal: Option<Renewal>,
    /// A status answer has reported `final_state`.
    pub end_state_read: bool,
    /// What of the file downloads have handed out.
    pub served: Coverage,
    /// Still counted in the `active_requests` gauge.
    pub active: bool,
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
    fn render(&self, state: LogState, url: Option<(String, String)>) -> RequestView {
        let (presigned_url, presigned_url_expiration_time) = url.unzip();
        RequestView {
            request_id: self.id.clone(),
            state,
            time_start: rfc3339_z(self.time_start),
            time_end: rfc3339_z(self.time_end),
            region_group: self.scope.region_group.clone(),
            updated_at: rfc3339_micros(self.updated_at),
            version: self.version,
            presigned_url,
            presigned_url_expiration_time,
            database: self.scope.database.clone(),
        }
    }

    /// The answer of a status poll (or of the POST that created the request): the reported
    /// state, with the URL only when that state is `Complete` and the URL works.
    pub fn view(&self, base_url: &str) -> RequestView {
        let url = match self.reported {
            LogState::Complete => self.url.as_ref().filter(|u| u.ready),
            _ => None,
        };
        let url = url.map(|u| {
            (
                presigned_url(base_url, &self.id, u),
                rfc3339_seconds(u.expires_at),
            )
        });
        self.render(self.reported.clone(), url)
    }

    /// The answer of `POST …/url`: `CreatingNewUrl`, with the new URL unless `without_url`.
    /// While the renewal is in progress its expiry is not known yet, so the answer repeats the
    /// previous URL's expiry (as the guide's example does).
    pub fn renewal_view(&self, base_url: &str, without_url: bool) -> RequestView {
        let url = self.url.as_ref().filter(|_| !without_url).map(|u| {
            let expiry = match &self.renewal {
                Some(r) => r.previous_expiry.unwrap_or(u.expires_at),
                None => u.expires_at,
            };
            (
                presigned_url(base_url, &self.id, u),
                rfc3339_seconds(expiry),
            )
        });
        self.render(LogState::CreatingNewUrl, url)
    }

    /// Makes a new URL the only valid one. `expired` issues it already past its expiry.
    fn issue_url(&mut self, now: DateTime<Utc>, lifetime_secs: u64, expired: bool, ready: bool) {
        self.url = Some(IssuedUrl {
            signature: random_hex(64),
            lifetime_secs,
            expires_at: expiry(now, lifetime_secs, expired),
            used_at: None,
            ready,
        });
    }

    /// Ends a renewal whose hold is over: its URL works from now on, for its full lifetime.
    fn settle(&mut self, now: DateTime<Utc>, stats: &Stats) {
        let Some(renewal) = &self.renewal else {
            return;
        };
        if !renewal.is_done(now) {
            return;
        }
        let expired = renewal.issue_expired;
        self.renewal = None;
        if let Some(url) = &mut self.url {
            url.ready = true;
            url.expires_at = expiry(now, url.lifetime_secs, expired);
        }
        bump(&stats.renewals_completed);
    }

    /// Complete, and not failed since.
    fn is_complete(&self) -> bool {
        self.completed_at_poll.is_some() && self.late_state.is_none()
    }

    /// Open (final state not read yet), or Complete and not served in full.
    fn still_active(&self, file_len: Option<u64>) -> bool {
        if !self.end_state_read {
            return true;
        }
        self.final_state == LogState::Complete
            && self.late_state.is_none()
            && !file_len.is_some_and(|len| self.served.covers(len))
    }
}

/// `now` plus the lifetime (or a minute ago when `expired`), in whole seconds so the advertised
/// `presigned_url_expiration_time` is exact.
fn expiry(now: DateTime<Utc>, lifetime_secs: u64, expired: bool) -> DateTime<Utc> {
    let at = if expired {
        now - Duration::seconds(60)
    } else {
        i64::try_from(lifetime_secs)
            .ok()
            .and_then(Duration::try_seconds)
            .and_then(|lifetime| now.checked_add_signed(lifetime))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    at.trunc_subsecs(0)
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

/// A status poll's outcome.
#[derive(Debug)]
pub struct Polled {
    pub request: LogRequest,
    /// The answer came from `--state-at-poll`.
    pub injected: bool,
    /// This answer moved the request to its `--fail-after-complete` state.
    pub failed_late: bool,
}

/// A renewal call's outcome.
#[derive(Debug)]
pub struct Renewed {
    pub request: LogRequest,
    /// False when a renewal was already in progress (the answer repeats it).
    pub started: bool,
}

#[derive(Default)]
struct Inner {
    requests: HashMap<String, LogRequest>,
    /// token → (request id, when the token was first used)
    tokens: HashMap<String, (String, DateTime<Utc>)>,
    /// File length of each request whose file was served (to tell when it is served in full).
    file_lens: HashMap<String, u64>,
}

/// All log requests of the (single) simulated account.
pub struct Store {
    lifecycle: Lifecycle,
    stats: Arc<Stats>,
    inner: Mutex<Inner>,
}

impl Store {
    pub fn new(lifecycle: Lifecycle, stats: Arc<Stats>) -> Self {
        Self {
            lifecycle,
            stats,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the maps half-updated in a way that matters here.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Updates the `active_requests` gauge after a change to `request`.
    fn recheck_active(&self, request: &mut LogRequest, file_len: Option<u64>) {
        if request.active && !request.still_active(file_len) {
            request.active = false;
            self.stats.active_requests.down();
        }
    }

    /// Creates a request, or returns the one its idempotency token already maps to (then
    /// `fate` is not called). Returns the request and whether it is new.
    pub fn create(
        &self,
        new: NewRequest,
        now: DateTime<Utc>,
        fate: impl FnOnce(&NewRequest) -> Fate,
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
        let fate = fate(&new);
        let request = LogRequest {
            id: id.clone(),
            final_state: fate.final_state,
            fails_after_complete: fate.fails_after_complete,
            scope: new.scope,
            time_start: new.time_start,
            time_end: new.time_end,
            reported: LogState::Pending,
            version: 0,
            updated_at: now,
            polls: 0,
            url: None,
            completed_at_poll: None,
            late_state: None,
            renewal: None,
            end_state_read: false,
            served: Coverage::default(),
            active: true,
        };
        if let Some(token) = new.idempotency_token {
            inner.tokens.insert(token, (id.clone(), now));
        }
        self.stats.open_requests.up();
        self.stats.active_requests.up();
        inner.requests.insert(id, request.clone());
        (request, true)
    }

    /// A status poll: advances the progression by one step. `version` goes up whenever the
    /// reported state changes; the URL is issued when `Complete` is first reported.
    pub fn poll(&self, id: &str, now: DateTime<Utc>, expired_urls: &Countdown) -> Option<Polled> {
        let mut inner = self.lock();
        let file_len = inner.file_lens.get(id).copied();
        let request = inner.requests.get_mut(id)?;
        request.polls = request.polls.saturating_add(1);
        let poll = request.polls;
        request.settle(now, &self.stats);
        let mut failed_late = false;
        let injected = self.lifecycle.state_at_poll.get(&poll).cloned();
        let is_injected = injected.is_some();
        let state = if let Some(state) = injected {
            state
        } else if let Some(late) = &request.late_state {
            late.clone()
        } else if let Some((after, late)) = &self.lifecycle.fail_after_complete
            && request.fails_after_complete
            && request
                .completed_at_poll
                .is_some_and(|c| poll - c >= *after)
        {
            request.late_state = Some(late.clone());
            request.url = None;
            request.renewal = None;
            failed_late = true;
            late.clone()
        } else if let Some(renewal) = &mut request.renewal {
            renewal.polls_answered += 1;
            LogState::CreatingNewUrl
        } else {
            state_for_poll(poll, &self.lifecycle, &request.final_state)
        };
        if state != request.reported {
            request.version += 1;
            request.updated_at = now;
            request.reported = state.clone();
        }
        if !is_injected && !failed_late && state == request.final_state {
            if state == LogState::Complete && request.completed_at_poll.is_none() {
                request.completed_at_poll = Some(poll);
                let expired = expired_urls.take();
                request.issue_url(now, self.lifecycle.url_lifetime_secs, expired, true);
            }
            if !request.end_state_read {
                request.end_state_read = true;
                self.stats.open_requests.down();
            }
        }
        self.recheck_active(request, file_len);
        Some(Polled {
            request: request.clone(),
            injected: is_injected,
            failed_late,
        })
    }

    /// `POST .../url`: a fresh URL for a `Complete` request; older URLs stop working at once.
    /// With an instant `hold` the new URL works at once and the request stays `Complete`;
    /// otherwise it reports `CreatingNewUrl` (without a URL) until the hold is over. While a
    /// renewal is in progress, another call repeats it (`started` false) and `hold` is not
    /// called.
    pub fn renew(
        &self,
        id: &str,
        now: DateTime<Utc>,
        expired_urls: &Countdown,
        hold: impl FnOnce() -> RenewalHold,
    ) -> Result<Renewed, RenewError> {
        let mut inner = self.lock();
        let request = inner.requests.get_mut(id).ok_or(RenewError::NotFound)?;
        request.settle(now, &self.stats);
        if request.renewal.is_some() {
            return Ok(Renewed {
                request: request.clone(),
                started: false,
            });
        }
        if !request.is_complete() {
            return Err(RenewError::NotComplete(
                request.reported.as_str().to_owned(),
            ));
        }
        let hold = hold();
        let expired = expired_urls.take();
        let lifetime = self.lifecycle.url_lifetime_secs;
        request.version += 1;
        request.updated_at = now;
        if hold.is_instant() {
            request.issue_url(now, lifetime, expired, true);
            bump(&self.stats.renewals_completed);
        } else {
            let previous_expiry = request.url.as_ref().map(|u| u.expires_at);
            request.issue_url(now, lifetime, false, false);
            request.renewal = Some(Renewal {
                started_at: now,
                hold,
                polls_answered: 0,
                issue_expired: expired,
                previous_expiry,
            });
            request.reported = LogState::CreatingNewUrl;
        }
        Ok(Renewed {
            request: request.clone(),
            started: true,
        })
    }

    pub fn get(&self, id: &str) -> Option<LogRequest> {
        self.lock().requests.get(id).cloned()
    }

    /// The request as the file host sees it at `now` (a renewal whose time is up is over).
    pub fn for_download(&self, id: &str, now: DateTime<Utc>) -> Option<LogRequest> {
        let mut inner = self.lock();
        let request = inner.requests.get_mut(id)?;
        request.settle(now, &self.stats);
        Some(request.clone())
    }

    /// Records that bytes `[start, end)` of the request's file (`file_len` bytes) were handed
    /// to a client.
    pub fn served(&self, id: &str, start: u64, end: u64, file_len: u64) {
        let mut inner = self.lock();
        inner.file_lens.insert(id.to_owned(), file_len);
        if let Some(request) = inner.requests.get_mut(id) {
            request.served.add(start, end);
            self.recheck_active(request, Some(file_len));
        }
    }

    /// Chaos: makes the request's current URL, named by its `signature`, expire at `now` (whole
    /// seconds, as every expiry); the URL as it is now. `None` if it is no longer the current one.
    pub fn expire_url(&self, id: &str, signature: &str, now: DateTime<Utc>) -> Option<IssuedUrl> {
        let mut inner = self.lock();
        let url = inner
            .requests
            .get_mut(id)
            .and_then(|r| r.url.as_mut())
            .filter(|u| u.signature == signature)?;
        url.expires_at = url.expires_at.min(now.trunc_subsecs(0));
        Some(url.clone())
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
            .filter(|u| u.signature == signature && u.ready)
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
mod tests;
