//! Date-time parsing and the several timestamp styles Fauna uses.
//!
//! Owns the reading of request date-times (RFC 3339 / ISO 8601 with any offset and fractional
//! seconds) and the writers for the API's `...Z` fields, the microsecond `updated_at`, and the
//! log records' `"2099-05-10 18:05:42.871 Z"` style.

use chrono::{DateTime, SecondsFormat, Utc};

/// Parses a request date-time. The UTC offset is required (`Z`, `+00:00`, `-05:30`, ...);
/// a `T` or a space may separate date and time; any number of fractional digits is allowed.
pub fn parse_request_time(field: &str, value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "{field} must be an ISO 8601 date-time with a UTC offset, e.g. 2099-07-10T07:46:05Z"
            )
        })
}

/// `2099-07-10T07:46:05Z`, with fractional digits only when the instant has them.
pub fn rfc3339_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `2099-07-11T22:53:54Z` (whole seconds), as in `presigned_url_expiration_time`.
pub fn rfc3339_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2099-07-11T21:53:47.398213Z` (microseconds), as in `updated_at`.
pub fn rfc3339_micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `2099-05-10 18:05:42.871 Z`, the log records' `TS` style (the reference the record
/// writer's faster formatting is tested against).
#[cfg(test)]
pub fn fauna_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        match parse_request_time("t", s) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let z = at("2099-07-10T07:46:05Z");
        assert_eq!(rfc3339_z(z), "2099-07-10T07:46:05Z");
        // luxon toISO() output
        let luxon = at("2026-11-24T21:40:00.123+00:00");
        assert_eq!(rfc3339_z(luxon), "2026-11-24T21:40:00.123Z");
        let offset = at("2026-11-24T23:40:00.123456789+02:00");
        assert_eq!(rfc3339_z(offset), "2026-11-24T21:40:00.123456789Z");
        assert_eq!(at("2026-11-24 21:40:00z"), at("2026-11-24T21:40:00Z"));
    }

    #[test]
    fn rejects_missing_offset_and_garbage() {
        assert!(parse_request_time("time_start", "2099-07-10T07:46:05").is_err());
        assert!(parse_request_time("time_start", "yesterday").is_err());
        assert!(parse_request_time("time_start", "").is_err());
    }

    #[test]
    fn output_styles() {
        let t = at("2099-07-11T21:53:47.398213456Z");
        assert_eq!(rfc3339_micros(t), "2099-07-11T21:53:47.398213Z");
        assert_eq!(rfc3339_seconds(t), "2099-07-11T21:53:47Z");
        assert_eq!(fauna_ts(t), "2099-07-11 21:53:47.398 Z");
        let whole = at("2099-07-11T21:53:47Z");
        assert_eq!(rfc3339_micros(whole), "2099-07-11T21:53:47.000000Z");
    }
}
