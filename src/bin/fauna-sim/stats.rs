//! Counters exposed at `GET /_sim/stats`.
//!
//! Owns the atomic counters the handlers bump and their JSON snapshot. Tests read them to
//! check how many calls a client made (retries, polls, renewals, downloads, refused URLs).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct Stats {
    /// Every call under `/api/v1/`, whatever its outcome.
    pub api_calls: AtomicU64,
    /// `POST /api/v1/logs` answered 200 (new or idempotent repeat).
    pub log_requests: AtomicU64,
    /// `POST /api/v1/logs` that created a request (not an idempotent repeat).
    pub requests_created: AtomicU64,
    /// `GET /api/v1/logs/{id}` answered 200.
    pub status_polls: AtomicU64,
    /// `POST /api/v1/logs/{id}/url` answered 200.
    pub url_renewals: AtomicU64,
    /// File downloads answered 200 or 206.
    pub downloads: AtomicU64,
    /// File downloads answered 206 (a subset of `downloads`).
    pub range_downloads: AtomicU64,
    /// File host answers 403: expired, used up (`--single-use-urls`), superseded or wrong URLs.
    pub expired_url_refusals: AtomicU64,
    /// API calls answered 429 by the throttle fault.
    pub throttled: AtomicU64,
    /// API calls answered 503 by the server-error fault.
    pub server_errors: AtomicU64,
    /// API calls answered 401.
    pub unauthorized: AtomicU64,
    /// API calls whose connection the reset fault closed without an answer.
    pub connection_resets: AtomicU64,
    /// API calls answered late by the slow-response fault.
    pub slow_responses: AtomicU64,
}

/// Point-in-time copy of [`Stats`].
#[derive(Debug, Serialize)]
pub struct StatsSnapshot {
    pub api_calls: u64,
    pub log_requests: u64,
    pub requests_created: u64,
    pub status_polls: u64,
    pub url_renewals: u64,
    pub downloads: u64,
    pub range_downloads: u64,
    pub expired_url_refusals: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub unauthorized: u64,
    pub connection_resets: u64,
    pub slow_responses: u64,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            api_calls: get(&self.api_calls),
            log_requests: get(&self.log_requests),
            requests_created: get(&self.requests_created),
            status_polls: get(&self.status_polls),
            url_renewals: get(&self.url_renewals),
            downloads: get(&self.downloads),
            range_downloads: get(&self.range_downloads),
            expired_url_refusals: get(&self.expired_url_refusals),
            throttled: get(&self.throttled),
            server_errors: get(&self.server_errors),
            unauthorized: get(&self.unauthorized),
            connection_resets: get(&self.connection_resets),
            slow_responses: get(&self.slow_responses),
        }
    }
}
