//! Time as the exporter writes and reads it: RFC 3339 in UTC, and the two window lengths
//! (an hour, a day) that schedules and backfills cut time into.
//!
//! Nothing here knows about jobs or payloads; the callers name the field a bad value came from.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Deserialize;

/// RFC 3339 in UTC with a `Z`, as Fauna and S3 keys want it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An RFC 3339 date-time, in UTC.
pub fn parse_rfc3339(value: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc))
}

/// The length of one exported window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn period(self) -> TimeDelta {
        match self {
            Granularity::Hour => TimeDelta::hours(1),
            Granularity::Day => TimeDelta::days(1),
        }
    }

    /// The name a plan or schedule input uses.
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// `hour`/`hourly`/`1h` or `day`/`daily`/`1d`.
    pub fn parse(value: &str) -> Option<Granularity> {
        match value {
            "hour" | "hourly" | "1h" => Some(Granularity::Hour),
            "day" | "daily" | "1d" => Some(Granularity::Day),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_in_utc() {
        let t = parse_rfc3339("2026-11-24T01:00:00+01:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-24T00:00:00Z");
        let fraction = parse_rfc3339("2026-11-24T00:00:00.5Z").unwrap();
        assert_eq!(rfc3339(fraction), "2026-11-24T00:00:00.500Z");
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn granularities_have_their_names() {
        for g in [Granularity::Hour, Granularity::Day] {
            assert_eq!(Granularity::parse(g.name()), Some(g));
        }
        assert_eq!(Granularity::parse("1h"), Some(Granularity::Hour));
        assert_eq!(Granularity::parse("week"), None);
    }
}
