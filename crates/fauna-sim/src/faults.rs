//! Fault injection.
//!
//! Owns the runtime fault switches built from the command line (`cli_faults.rs`), the seeded
//! chaos mode among them (`chaos.rs`), and the choice of each renewal's `CreatingNewUrl` hold
//! under the renewal faults. Counted faults are [`Countdown`]s: each
//! affected call takes one unit from the budget, so "the first N calls" are hit and the rest
//! behave normally, even under concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::chaos::Chaos;
use crate::cli_faults::{FaultArgs, WrongField};
use crate::renewal::RenewalHold;
use crate::state::LogState;

/// A budget of affected calls that only ever goes down.
#[derive(Debug, Default)]
pub struct Countdown(AtomicU64);

impl Countdown {
    pub fn new(n: u64) -> Self {
        Self(AtomicU64::new(n))
    }

    /// Takes one unit; `true` means this call is one of the affected ones.
    pub fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Every fault the simulator can inject.
#[derive(Debug)]
pub struct Faults {
    /// API calls answered 429.
    pub throttle: Countdown,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after_secs: u64,
    /// API calls answered 503 (after the throttled ones).
    pub server_errors: Countdown,
    /// Every API call after this many answers 503; the calls so far.
    pub server_errors_after: Option<u64>,
    pub api_calls: std::sync::atomic::AtomicU64,
    /// API calls whose connection is reset after they took effect.
    pub reset_connections: Countdown,
    /// API calls answered late, and how late.
    pub slow_responses: Countdown,
    pub slow_response: Duration,
    /// Log requests that end in `fail_state`.
    pub fail_requests: Countdown,
    pub fail_state: LogState,
    /// Every request ends in `DoesNotExist`.
    pub does_not_exist: bool,
    /// Requests (that would end Complete) marked to fail after completion.
    pub fail_after_complete_requests: Countdown,
    /// Renewals that stay `CreatingNewUrl` for at least `slow_renewal_secs`.
    pub slow_renewals: Countdown,
    pub slow_renewal_secs: u64,
    /// Renewals that never complete.
    pub stuck_renewals: Countdown,
    /// Downloads whose connection is cut (one at most), and after how many body bytes.
    pub drop_download: Countdown,
    pub drop_download_after: u64,
    /// Every download is cut at this percentage of the file (from byte 0).
    pub cut_at_percent: Option<u8>,
    /// Downloads that stall, and after how many body bytes.
    pub stall_downloads: Countdown,
    pub stall_after: Option<u64>,
    /// Pace of every download, in bytes per second.
    pub bytes_per_second: Option<u64>,
    /// Range downloads answered with a falsified `Content-Range`, and what is false.
    pub wrong_content_range: Countdown,
    pub wrong_content_range_field: WrongField,
    /// Ignore `Range` headers.
    pub no_range: bool,
    /// Presigned URLs issued already expired.
    pub expired_urls: Countdown,
    /// Each presigned URL serves one download (200 or 206); later requests answer 403.
    pub single_use_urls: bool,
    /// Serve a corrupt gzip.
    pub corrupt_gzip: bool,
    /// Serve a truncated gzip.
    pub truncate_gzip: bool,
    /// Redirect every file download there, with this status.
    pub redirect_to: Option<String>,
    pub redirect_status: u16,
    /// Seeded random faults (`--chaos-seed`), if on.
    pub chaos: Option<Chaos>,
}

impl Faults {
    pub fn from_args(args: &FaultArgs) -> Self {
        Self {
            throttle: Countdown::new(args.throttle),
            retry_after_secs: args.retry_after,
            server_errors: Countdown::new(args.server_errors),
            server_errors_after: args.server_errors_after,
            api_calls: std::sync::atomic::AtomicU64::new(0),
            reset_connections: Countdown::new(args.reset_connections),
            slow_responses: Countdown::new(args.slow_responses),
            slow_response: Duration::from_millis(args.slow_response_ms),
            fail_requests: Countdown::new(args.fail_requests),
            fail_state: args.fail_state.into(),
            does_not_exist: args.does_not_exist,
            fail_after_complete_requests: Countdown::new(match args.fail_after_complete {
                Some(_) => args.fail_after_complete_requests.unwrap_or(u64::MAX),
                None => 0,
            }),
            slow_renewals: Countdown::new(args.slow_renewals),
            slow_renewal_secs: args.slow_renewal_seconds,
            stuck_renewals: Countdown::new(args.stuck_renewals),
            drop_download: Countdown::new(u64::from(args.drop_download_after.is_some())),
            drop_download_after: args.drop_download_after.unwrap_or(0),
            cut_at_percent: args.cut_every_download_at_percent,
            stall_downloads: Countdown::new(match args.stall_download_after {
                Some(_) => args.stall_downloads.unwrap_or(u64::MAX),
                None => 0,
            }),
            stall_after: args.stall_download_after,
            bytes_per_second: args.download_bytes_per_second,
            wrong_content_range: Countdown::new(args.wrong_content_range),
            wrong_content_range_field: args.wrong_content_range_field,
            no_range: args.no_range,
            expired_urls: Countdown::new(args.expired_urls),
            single_use_urls: args.single_use_urls,
            corrupt_gzip: args.corrupt_gzip,
            truncate_gzip: args.truncate_gzip,
            redirect_to: args.redirect_downloads_to.clone(),
            redirect_status: args.redirect_status,
            chaos: Chaos::from_args(args),
        }
    }

    /// How long the next renewal stays `CreatingNewUrl`, given the configured `base` hold;
    /// takes from the renewal fault budgets (call it only when a renewal starts).
    pub fn renewal_hold(&self, base: RenewalHold) -> RenewalHold {
        if self.stuck_renewals.take() {
            RenewalHold::FOREVER
        } else if self.slow_renewals.take() {
            base.at_least_seconds(self.slow_renewal_secs)
        } else {
            base
        }
    }

    /// Names of the active faults, for the startup log line.
    pub fn describe(args: &FaultArgs) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |on: bool, text: String| {
            if on {
                out.push(text);
            }
        };
        push(
            args.throttle > 0,
            format!(
                "throttle={} retry_after={}s",
                args.throttle, args.retry_after
            ),
        );
        push(
            args.server_errors > 0,
            format!("server_errors={}", args.server_errors),
        );
        if let Some(after) = args.server_errors_after {
            push(true, format!("server_errors_after={after}"));
        }
        push(
            args.reset_connections > 0,
            format!("reset_connections={}", args.reset_connections),
        );
        push(
            args.slow_responses > 0,
            format!(
                "slow_responses={} slow_response_ms={}",
                args.slow_responses, args.slow_response_ms
            ),
        );
        push(
            args.fail_requests > 0,
            format!(
                "fail_requests={} ({})",
                args.fail_requests,
                LogState::from(args.fail_state).as_str()
            ),
        );
        push(args.does_not_exist, "does_not_exist".into());
        if let Some(state) = &args.unknown_state {
            push(true, format!("unknown_state={state}"));
        }
        for (n, name) in &args.state_at_poll {
            push(true, format!("state_at_poll={n}={name}"));
        }
        if let Some(n) = args.fail_after_complete {
            push(
                true,
                format!(
                    "fail_after_complete={n} ({}) requests={}",
                    LogState::from(args.fail_after_complete_state).as_str(),
                    args.fail_after_complete_requests
                        .map_or_else(|| "all".to_owned(), |k| k.to_string())
                ),
            );
        }
        push(
            args.slow_renewals > 0,
            format!(
                "slow_renewals={} slow_renewal_seconds={}",
                args.slow_renewals, args.slow_renewal_seconds
            ),
        );
        push(
            args.stuck_renewals > 0,
            format!("stuck_renewals={}", args.stuck_renewals),
        );
        if let Some(n) = args.drop_download_after {
            push(true, format!("drop_download_after={n}"));
        }
        if let Some(p) = args.cut_every_download_at_percent {
            push(true, format!("cut_every_download_at_percent={p}"));
        }
        if let Some(n) = args.stall_download_after {
            push(
                true,
                format!(
                    "stall_download_after={n} stall_downloads={}",
                    args.stall_downloads
                        .map_or_else(|| "all".to_owned(), |k| k.to_string())
                ),
            );
        }
        if let Some(r) = args.download_bytes_per_second {
            push(true, format!("download_bytes_per_second={r}"));
        }
        push(
            args.wrong_content_range > 0,
            format!(
                "wrong_content_range={} ({:?})",
                args.wrong_content_range, args.wrong_content_range_field
            ),
        );
        push(args.no_range, "no_range".into());
        push(
            args.expired_urls > 0,
            format!("expired_urls={}", args.expired_urls),
        );
        push(args.single_use_urls, "single_use_urls".into());
        push(args.corrupt_gzip, "corrupt_gzip".into());
        push(args.truncate_gzip, "truncate_gzip".into());
        if args.redirect_downloads_to.is_some() {
            // The target is not logged: it may be an internal address under test.
            push(
                true,
                format!("redirect_downloads (status {})", args.redirect_status),
            );
        }
        if let Some(chaos) = Chaos::describe(args) {
            push(true, chaos);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn countdown_affects_exactly_the_first_n() {
        let c = Countdown::new(2);
        assert!(c.take());
        assert!(c.take());
        assert!(!c.take());
        assert!(!c.take());
        assert!(!Countdown::new(0).take());
    }

    #[test]
    fn renewal_faults_take_stuck_first_then_slow() {
        use clap::Parser;
        let args = crate::cli::Args::try_parse_from([
            "fauna-sim",
            "--account-key",
            "k",
            "--stuck-renewals",
            "1",
            "--slow-renewals",
            "1",
            "--slow-renewal-seconds",
            "90",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let faults = Faults::from_args(&args.faults);
        let base = RenewalHold {
            polls: 1,
            seconds: Some(2),
        };
        assert_eq!(faults.renewal_hold(base), RenewalHold::FOREVER);
        assert_eq!(
            faults.renewal_hold(base),
            RenewalHold {
                polls: 1,
                seconds: Some(90)
            }
        );
        assert_eq!(faults.renewal_hold(base), base);
    }

    #[test]
    fn countdown_is_exact_under_concurrency() {
        let c = Arc::new(Countdown::new(500));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || (0..1000).filter(|_| c.take()).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(total, 500);
    }
}
