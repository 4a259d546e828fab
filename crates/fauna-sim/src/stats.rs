//! Counters and peaks exposed at `GET /_sim/stats`.
//!
//! Owns the atomic counters the handlers bump, the [`Gauge`]s that track how many things are in
//! progress at once (and the peak of that number), and their JSON snapshot. Tests read them to
//! check how many calls a client made (retries, polls, renewals, downloads, refused URLs), how
//! much it downloaded, how much it did at the same time, and what the chaos mode injected.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A number of things in progress, with the highest value it ever had.
#[derive(Debug, Default)]
pub struct Gauge {
    current: AtomicU64,
    peak: AtomicU64,
}

impl Gauge {
    /// One more in progress.
    pub fn up(&self) {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    /// One fewer in progress.
    pub fn down(&self) {
        let _ = self
            .current
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// `up` now, `down` when the guard drops.
    pub fn enter(&self) -> GaugeGuard<'_> {
        self.up();
        GaugeGuard(self)
    }

    pub fn current(&self) -> u64 {
        self.current.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Holds one unit of a [`Gauge`] until dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.down();
    }
}

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
    /// `POST /api/v1/logs/{id}/url` answered 200 (including repeats during `CreatingNewUrl`).
    pub url_renewals: AtomicU64,
    /// Renewals whose new URL became usable (instant ones included).
    pub renewals_completed: AtomicU64,
    /// File downloads answered 200 or 206.
    pub downloads: AtomicU64,
    /// File downloads answered 206 (a subset of `downloads`).
    pub range_downloads: AtomicU64,
    /// File body bytes handed to client connections by `/files/…` answers (not `/_sim/…`).
    pub bytes_served: AtomicU64,
    /// File host answers 403: expired, used up (`--single-use-urls`), superseded, not yet
    /// ready or wrong URLs.
    pub expired_url_refusals: AtomicU64,
    /// File host answers 403 for a renewed URL whose renewal is still `CreatingNewUrl` (a
    /// subset of `expired_url_refusals`).
    pub not_ready_url_refusals: AtomicU64,
    /// File host answers redirected by `--redirect-downloads-to`.
    pub redirects: AtomicU64,
    /// Download bodies cut by `--drop-download-after` or `--cut-every-download-at-percent`.
    pub cut_downloads: AtomicU64,
    /// Download bodies that stopped sending under `--stall-download-after`.
    pub stalled_downloads: AtomicU64,
    /// 206 answers whose `Content-Range` was falsified by `--wrong-content-range`.
    pub wrong_content_ranges: AtomicU64,
    /// API calls answered 429 by the throttle fault.
    pub throttled: AtomicU64,
    /// API calls answered 503 by the server-error fault.
    pub server_errors: AtomicU64,
    /// API calls answered 401.
    pub unauthorized: AtomicU64,
    /// Status and renewal calls refused 400 by `--strict-region-group`.
    pub region_group_refusals: AtomicU64,
    /// API calls whose connection the reset fault closed without an answer.
    pub connection_resets: AtomicU64,
    /// API calls answered late by the slow-response fault.
    pub slow_responses: AtomicU64,
    /// Status answers that reported a `--state-at-poll` state.
    pub injected_states: AtomicU64,
    /// Requests that reported a late state under `--fail-after-complete`.
    pub failed_after_complete: AtomicU64,
    /// `/api/v1` calls between entering the server's API middleware and leaving it with an
    /// answer (slow answers included, so their delay counts).
    pub in_flight_api_calls: Gauge,
    /// Valid-URL `GET /files/…` requests from the moment their URL is accepted (waiting for
    /// the file to be generated included) until their body ends, is cut or is abandoned.
    pub in_flight_downloads: Gauge,
    /// Log requests created whose final state no status answer has reported yet.
    pub open_requests: Gauge,
    /// Log requests that are open, or Complete and not yet served in full (every byte of the
    /// file handed to some client at least once).
    pub active_requests: Gauge,
    /// What the chaos mode drew and injected.
    pub chaos: ChaosCounters,
}

/// The chaos mode's draws, and the faults it injected by kind (each also counted by the
/// counter of what happened: `throttled`, `server_errors`, `connection_resets`,
/// `expired_url_refusals`, `cut_downloads`, `stalled_downloads`).
#[derive(Debug, Default)]
pub struct ChaosCounters {
    /// API calls that drew (every one past the account-key check while the mode is on).
    pub api_draws: AtomicU64,
    /// Downloads that drew (`GET`s whose URL passed its checks).
    pub download_draws: AtomicU64,
    /// API calls answered 429.
    pub throttle: AtomicU64,
    /// API calls answered 503.
    pub server_error: AtomicU64,
    /// API calls whose connection was reset after they took effect.
    pub reset: AtomicU64,
    /// Requests created to end `Failed`.
    pub failed: AtomicU64,
    /// Downloads refused because their URL was made to expire.
    pub expired_url: AtomicU64,
    /// Download bodies cut.
    pub drop: AtomicU64,
    /// Download bodies that stalled (and were cut after the stall).
    pub stall: AtomicU64,
}

/// Point-in-time copy of [`ChaosCounters`].
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ChaosSnapshot {
    pub api_draws: u64,
    pub download_draws: u64,
    pub throttle: u64,
    pub server_error: u64,
    pub reset: u64,
    pub failed: u64,
    pub expired_url: u64,
    pub drop: u64,
    pub stall: u64,
}

impl ChaosCounters {
    pub fn snapshot(&self) -> ChaosSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ChaosSnapshot {
            api_draws: get(&self.api_draws),
            download_draws: get(&self.download_draws),
            throttle: get(&self.throttle),
            server_error: get(&self.server_error),
            reset: get(&self.reset),
            failed: get(&self.failed),
            expired_url: get(&self.expired_url),
            drop: get(&self.drop),
            stall: get(&self.stall),
        }
    }
}

/// Point-in-time copy of [`Stats`].
#[derive(Debug, Serialize)]
pub struct StatsSnapshot {
    pub api_calls: u64,
    pub log_requests: u64,
    pub requests_created: u64,
    pub status_polls: u64,
    pub url_renewals: u64,
    pub renewals_completed: u64,
    pub downloads: u64,
    pub range_downloads: u64,
    pub bytes_served: u64,
    pub expired_url_refusals: u64,
    pub not_ready_url_refusals: u64,
    pub redirects: u64,
    pub cut_downloads: u64,
    pub stalled_downloads: u64,
    pub wrong_content_ranges: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub unauthorized: u64,
    pub region_group_refusals: u64,
    pub connection_resets: u64,
    pub slow_responses: u64,
    pub injected_states: u64,
    pub failed_after_complete: u64,
    pub in_flight_api_calls: u64,
    pub max_in_flight_api_calls: u64,
    pub in_flight_downloads: u64,
    pub max_in_flight_downloads: u64,
    pub open_requests: u64,
    pub max_open_requests: u64,
    pub active_requests: u64,
    pub max_active_requests: u64,
    pub chaos: ChaosSnapshot,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
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
            renewals_completed: get(&self.renewals_completed),
            downloads: get(&self.downloads),
            range_downloads: get(&self.range_downloads),
            bytes_served: get(&self.bytes_served),
            expired_url_refusals: get(&self.expired_url_refusals),
            not_ready_url_refusals: get(&self.not_ready_url_refusals),
            redirects: get(&self.redirects),
            cut_downloads: get(&self.cut_downloads),
            stalled_downloads: get(&self.stalled_downloads),
            wrong_content_ranges: get(&self.wrong_content_ranges),
            throttled: get(&self.throttled),
            server_errors: get(&self.server_errors),
            unauthorized: get(&self.unauthorized),
            region_group_refusals: get(&self.region_group_refusals),
            connection_resets: get(&self.connection_resets),
            slow_responses: get(&self.slow_responses),
            injected_states: get(&self.injected_states),
            failed_after_complete: get(&self.failed_after_complete),
            in_flight_api_calls: self.in_flight_api_calls.current(),
            max_in_flight_api_calls: self.in_flight_api_calls.peak(),
            in_flight_downloads: self.in_flight_downloads.current(),
            max_in_flight_downloads: self.in_flight_downloads.peak(),
            open_requests: self.open_requests.current(),
            max_open_requests: self.open_requests.peak(),
            active_requests: self.active_requests.current(),
            max_active_requests: self.active_requests.peak(),
            chaos: self.chaos.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_track_the_peak() {
        let g = Gauge::default();
        {
            let _a = g.enter();
            let _b = g.enter();
            assert_eq!((g.current(), g.peak()), (2, 2));
        }
        let _c = g.enter();
        assert_eq!((g.current(), g.peak()), (1, 2));
        g.down();
        g.down(); // never below zero
        assert_eq!((g.current(), g.peak()), (0, 2));
    }
}
