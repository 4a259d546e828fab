//! Backoff for transient faults: capped exponential delays with full jitter, bounded attempts,
//! and `Retry-After` honoured when the server sends one.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited out inside the step: the step fails with a
    /// retryable error and the driver (Step Functions `Retry`) waits instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): a random point in
    /// `[0, min(max_delay, base_delay * 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.max_delay);
        ceiling.mul_f64(fastrand::f64())
    }

    /// The delay after a failed attempt that the server answered with `headers`: its
    /// `Retry-After` when present (`None` when that is longer than we wait in-process), else the
    /// jittered backoff.
    pub fn delay_after(&self, attempt: u32, headers: &HeaderMap) -> Option<Duration> {
        match retry_after(headers) {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt)),
        }
    }
}

/// `Retry-After` in delay-seconds form. (The HTTP-date form is rare for APIs; it falls back to
/// backoff.)
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_delay, "{attempt}: {d:?}");
            let ceiling = p.base_delay * 2u32.pow(attempt.min(20) - 1);
            assert!(d <= ceiling, "{attempt}: {d:?} > {ceiling:?}");
        }
        let spread: std::collections::HashSet<u128> =
            (0..50).map(|_| p.backoff(5).as_nanos()).collect();
        assert!(spread.len() > 1, "no jitter");
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_bound() {
        let p = RetryPolicy::default();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(p.delay_after(1, &h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(p.delay_after(1, &h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert!(p.delay_after(1, &h).is_some_and(|d| d <= p.base_delay));
    }
}
