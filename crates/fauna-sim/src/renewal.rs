//! How long a URL renewal (`POST /api/v1/logs/{id}/url`) keeps its request in `CreatingNewUrl`.
//!
//! Owns [`RenewalHold`] (the status answers and wall time a renewal waits before its new URL
//! works, or "never") and [`Renewal`] (one renewal in progress). The store applies them; the
//! command line and the renewal faults decide each renewal's hold.

use chrono::{DateTime, Duration, Utc};

/// How long one renewal stays in `CreatingNewUrl`: it completes once at least `polls` status
/// answers have reported `CreatingNewUrl` **and** at least `seconds` of wall time have passed
/// since the renewal (`None`: it never completes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewalHold {
    pub polls: u64,
    pub seconds: Option<u64>,
}

impl RenewalHold {
    /// The new URL works at once and the request stays `Complete` (the renewal's answer still
    /// says `CreatingNewUrl`, as in Fauna's guide).
    pub const INSTANT: RenewalHold = RenewalHold {
        polls: 0,
        seconds: Some(0),
    };

    /// A renewal that never completes.
    pub const FOREVER: RenewalHold = RenewalHold {
        polls: 0,
        seconds: None,
    };

    pub fn is_instant(&self) -> bool {
        *self == Self::INSTANT
    }

    /// This hold, lasting at least `seconds` of wall time.
    pub fn at_least_seconds(self, seconds: u64) -> RenewalHold {
        RenewalHold {
            polls: self.polls,
            seconds: self.seconds.map(|s| s.max(seconds)),
        }
    }
}

/// A renewal in progress: its request answers `CreatingNewUrl` without a URL, and its new URL
/// is refused (403) until [`Renewal::is_done`].
#[derive(Clone, Debug)]
pub struct Renewal {
    pub started_at: DateTime<Utc>,
    pub hold: RenewalHold,
    /// Status answers that have reported `CreatingNewUrl` for this renewal.
    pub polls_answered: u64,
    /// The new URL is to be issued already expired (`--expired-urls`).
    pub issue_expired: bool,
    /// Expiry of the URL this renewal replaces; the renewal's own answer repeats it, as the
    /// guide's example does, because the new URL's expiry is not known until it exists.
    pub previous_expiry: Option<DateTime<Utc>>,
}

impl Renewal {
    pub fn is_done(&self, now: DateTime<Utc>) -> bool {
        let Some(seconds) = self.hold.seconds else {
            return false;
        };
        let waited = i64::try_from(seconds)
            .ok()
            .and_then(Duration::try_seconds)
            .and_then(|d| self.started_at.checked_add_signed(d))
            .is_some_and(|ready_at| now >= ready_at);
        waited && self.polls_answered >= self.hold.polls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renewal(polls: u64, seconds: Option<u64>, at: DateTime<Utc>) -> Renewal {
        Renewal {
            started_at: at,
            hold: RenewalHold { polls, seconds },
            polls_answered: 0,
            issue_expired: false,
            previous_expiry: None,
        }
    }

    #[test]
    fn a_renewal_needs_both_its_polls_and_its_time() {
        let t0 = Utc::now();
        let later = |s: i64| t0 + Duration::seconds(s);
        let mut r = renewal(2, Some(10), t0);
        assert!(!r.is_done(later(60)), "no poll yet");
        r.polls_answered = 2;
        assert!(!r.is_done(later(9)), "time not up");
        assert!(r.is_done(later(10)));
        let mut polls_only = renewal(1, Some(0), t0);
        assert!(!polls_only.is_done(t0));
        polls_only.polls_answered = 1;
        assert!(polls_only.is_done(t0));
        let mut never = renewal(0, None, t0);
        never.polls_answered = 1_000;
        assert!(!never.is_done(later(1_000_000)));
    }

    #[test]
    fn holds() {
        assert!(RenewalHold::INSTANT.is_instant());
        assert!(!RenewalHold::FOREVER.is_instant());
        let h = RenewalHold {
            polls: 3,
            seconds: Some(5),
        };
        assert_eq!(h.at_least_seconds(180).seconds, Some(180));
        assert_eq!(h.at_least_seconds(1).seconds, Some(5));
        assert_eq!(RenewalHold::FOREVER.at_least_seconds(180).seconds, None);
    }
}
