//! Fault injection.
//!
//! Owns the fault switches set on the command line. Counted faults are [`Countdown`]s: each
//! affected call takes one unit from the budget, so "the first N calls" are hit and the rest
//! behave normally, even under concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cli::Args;
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
    /// State reported on each request's first poll, before the normal progression.
    pub unknown_state: Option<String>,
    /// Downloads whose connection is cut (one at most), and after how many body bytes.
    pub drop_download: Countdown,
    pub drop_download_after: u64,
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
}

impl Faults {
    pub fn from_args(args: &Args) -> Self {
        Self {
            throttle: Countdown::new(args.throttle),
            retry_after_secs: args.retry_after,
            server_errors: Countdown::new(args.server_errors),
            reset_connections: Countdown::new(args.reset_connections),
            slow_responses: Countdown::new(args.slow_responses),
            slow_response: Duration::from_millis(args.slow_response_ms),
            fail_requests: Countdown::new(args.fail_requests),
            fail_state: args.fail_state.into(),
            does_not_exist: args.does_not_exist,
            unknown_state: args.unknown_state.clone(),
            drop_download: Countdown::new(u64::from(args.drop_download_after.is_some())),
            drop_download_after: args.drop_download_after.unwrap_or(0),
            no_range: args.no_range,
            expired_urls: Countdown::new(args.expired_urls),
            single_use_urls: args.single_use_urls,
            corrupt_gzip: args.corrupt_gzip,
            truncate_gzip: args.truncate_gzip,
        }
    }

    /// Names of the active faults, for the startup log line.
    pub fn describe(&self, args: &Args) -> Vec<String> {
        let mut out = Vec::new();
        if args.throttle > 0 {
            out.push(format!(
                "throttle={} retry_after={}s",
                args.throttle, args.retry_after
            ));
        }
        if args.server_errors > 0 {
            out.push(format!("server_errors={}", args.server_errors));
        }
        if args.reset_connections > 0 {
            out.push(format!("reset_connections={}", args.reset_connections));
        }
        if args.slow_responses > 0 {
            out.push(format!(
                "slow_responses={} slow_response_ms={}",
                args.slow_responses, args.slow_response_ms
            ));
        }
        if args.fail_requests > 0 {
            out.push(format!(
                "fail_requests={} ({})",
                args.fail_requests,
                self.fail_state.as_str()
            ));
        }
        if self.does_not_exist {
            out.push("does_not_exist".into());
        }
        if let Some(state) = &self.unknown_state {
            out.push(format!("unknown_state={state}"));
        }
        if let Some(n) = args.drop_download_after {
            out.push(format!("drop_download_after={n}"));
        }
        if self.no_range {
            out.push("no_range".into());
        }
        if args.expired_urls > 0 {
            out.push(format!("expired_urls={}", args.expired_urls));
        }
        if self.single_use_urls {
            out.push("single_use_urls".into());
        }
        if self.corrupt_gzip {
            out.push("corrupt_gzip".into());
        }
        if self.truncate_gzip {
            out.push("truncate_gzip".into());
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
