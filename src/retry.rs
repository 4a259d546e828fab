//! Backoff for transient faults: capped exponential delays with full jitter, bounded attempts,
//! and `Retry-After` honoured when the server sends one.

use std::future::Future;
use std::time::{Duration, Instant};

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
    pub(crate) fn delay_after(&self, attempt: u32, headers: &HeaderMap) -> Option<Duration> {
        match retry_after(headers) {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt)),
        }
    }
}

/// `Retry-After`, in either of its forms: delay-seconds, or an HTTP-date (a date in the past is
/// no wait).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.to_utc() - chrono::Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
}

tokio::task_local! {
    /// The instant the running step must have yielded by, for the waits inside it.
    static STEP_DEADLINE: Instant;
}

/// Runs `step` with `deadline` as the instant its retries must not wait past.
pub(crate) async fn within_deadline<F: Future>(deadline: Option<Instant>, step: F) -> F::Output {
    match deadline {
        Some(deadline) => STEP_DEADLINE.scope(deadline, step).await,
        None => step.await,
    }
}

/// Whether waiting `delay` from now ends before the running step's deadline (always, outside a
/// step that has one): a retry that would wait past it is not made, and the step yields with
/// its error instead, for the driver to retry.
pub(crate) fn fits_before_deadline(delay: Duration) -> bool {
    STEP_DEADLINE
        .try_with(|deadline| Instant::now() + delay < *deadline)
        .unwrap_or(true)
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
        // The HTTP-date form: a date 5 s ahead is about 5 s; one in the past, no wait.
        let ahead = (chrono::Utc::now() + chrono::TimeDelta::seconds(5)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&ahead).unwrap());
        let wait = p.delay_after(1, &h).unwrap();
        assert!(
            wait > Duration::from_secs(3) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(p.delay_after(1, &h), Some(Duration::ZERO));
        let far = (chrono::Utc::now() + chrono::TimeDelta::hours(2)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&far).unwrap());
        assert_eq!(p.delay_after(1, &h), None);
    }

    #[tokio::test]
    async fn waits_end_before_the_step_deadline() {
        assert!(
            fits_before_deadline(Duration::from_secs(3600)),
            "no deadline"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        within_deadline(Some(deadline), async {
            assert!(fits_before_deadline(Duration::from_secs(1)));
            assert!(!fits_before_deadline(Duration::from_secs(11)));
        })
        .await;
    }
}
