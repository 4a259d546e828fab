//! What a log request is: Fauna's `LogState` names, the request's scope, and the validation of
//! a new request's body (scope and time window) into a [`NewRequest`].
//!
//! The stored requests and their lifecycle live in `store.rs`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::timefmt::parse_request_time;

/// Longest window one request may cover.
pub const MAX_WINDOW_DAYS: i64 = 90;

/// Fauna's `LogState`, plus any other name (the `--unknown-state` fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogState {
    Pending,
    Requested,
    CreatingNewUrl,
    Complete,
    DoesNotExist,
    Failed,
    TimedOut,
    Other(String),
}

impl LogState {
    pub fn as_str(&self) -> &str {
        match self {
            LogState::Pending => "Pending",
            LogState::Requested => "Requested",
            LogState::CreatingNewUrl => "CreatingNewUrl",
            LogState::Complete => "Complete",
            LogState::DoesNotExist => "DoesNotExist",
            LogState::Failed => "Failed",
            LogState::TimedOut => "TimedOut",
            LogState::Other(name) => name,
        }
    }

    /// The documented state of that name, or `Other(name)`.
    pub fn from_name(name: &str) -> LogState {
        match name {
            "Pending" => LogState::Pending,
            "Requested" => LogState::Requested,
            "CreatingNewUrl" => LogState::CreatingNewUrl,
            "Complete" => LogState::Complete,
            "DoesNotExist" => LogState::DoesNotExist,
            "Failed" => LogState::Failed,
            "TimedOut" => LogState::TimedOut,
            other => LogState::Other(other.to_owned()),
        }
    }
}

impl Serialize for LogState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a request covers: a whole region group, or one database in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub region_group: String,
    /// Full path including the region group, e.g. `us-std/ECommerce`.
    pub database: Option<String>,
}

impl Scope {
    /// The database path without its region group, e.g. `["ECommerce"]`.
    pub fn database_segments(&self) -> Option<Vec<String>> {
        self.database
            .as_deref()
            .map(|path| path.split('/').skip(1).map(str::to_owned).collect())
    }
}

/// Body of `POST /api/v1/logs`. Every field is optional here so the checks can name what is
/// missing; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CreateLogsBody {
    pub database: Option<String>,
    pub region_group: Option<String>,
    pub time_start: Option<String>,
    pub time_end: Option<String>,
    pub idempotency_token: Option<String>,
}

/// A validated new request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    pub scope: Scope,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    pub idempotency_token: Option<String>,
}

impl NewRequest {
    /// Applies the API's rules; the error is the `reason` of a 400 answer.
    pub fn validate(body: CreateLogsBody, region_groups: &[String]) -> Result<Self, String> {
        let scope = match (body.database, body.region_group) {
            // The database wins; its first segment names the region group.
            (Some(database), _) => {
                let segments: Vec<&str> = database.split('/').collect();
                if segments.iter().any(|s| s.is_empty()) {
                    return Err(format!(
                        "database `{database}` has an empty path segment; use a path such as us-std/ECommerce"
                    ));
                }
                let region_group = segments[0];
                if !region_groups.iter().any(|g| g == region_group) {
                    return Err(format!(
                        "database `{database}` must start with a known region group ({})",
                        region_groups.join(", ")
                    ));
                }
                if segments.len() < 2 {
                    return Err(format!(
                        "database `{database}` names only a region group; use region_group for that, or a path such as {region_group}/ECommerce"
                    ));
                }
                Scope {
                    region_group: region_group.to_owned(),
                    database: Some(database),
                }
            }
            (None, Some(region_group)) => {
                if !region_groups.contains(&region_group) {
                    return Err(format!(
                        "unknown region_group `{region_group}` (known: {})",
                        region_groups.join(", ")
                    ));
                }
                Scope {
                    region_group,
                    database: None,
                }
            }
            (None, None) => return Err("either database or region_group is required".into()),
        };
        let time_start = match body.time_start {
            Some(s) => parse_request_time("time_start", &s)?,
            None => return Err("time_start is required".into()),
        };
        let time_end = match body.time_end {
            Some(s) => parse_request_time("time_end", &s)?,
            None => return Err("time_end is required".into()),
        };
        if time_end <= time_start {
            return Err("time_end must be after time_start".into());
        }
        if time_end - time_start > Duration::days(MAX_WINDOW_DAYS) {
            return Err(format!(
                "the span from time_start to time_end must be {MAX_WINDOW_DAYS} days or less"
            ));
        }
        let idempotency_token = match body.idempotency_token {
            Some(t) if t.trim().is_empty() => {
                return Err("idempotency_token must not be empty".into());
            }
            other => other,
        };
        Ok(Self {
            scope,
            time_start,
            time_end,
            idempotency_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<String> {
        ["us-std", "eu-std", "classic"].map(String::from).to_vec()
    }

    fn body(db: Option<&str>, rg: Option<&str>, start: &str, end: &str) -> CreateLogsBody {
        CreateLogsBody {
            database: db.map(String::from),
            region_group: rg.map(String::from),
            time_start: Some(start.into()),
            time_end: Some(end.into()),
            idempotency_token: None,
        }
    }

    const S: &str = "2099-07-10T07:46:05Z";
    const E: &str = "2099-07-11T07:46:05Z";

    #[test]
    fn database_wins_and_names_the_region_group() {
        let r = NewRequest::validate(
            body(Some("eu-std/Shop/prod"), Some("us-std"), S, E),
            &groups(),
        );
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.scope.region_group, "eu-std");
        assert_eq!(r.scope.database.as_deref(), Some("eu-std/Shop/prod"));
        assert_eq!(
            r.scope.database_segments(),
            Some(vec!["Shop".into(), "prod".into()])
        );
    }

    #[test]
    fn scope_errors() {
        let bad = [
            body(None, None, S, E),
            body(None, Some("mars-std"), S, E),
            body(Some("mars-std/Shop"), None, S, E),
            body(Some("us-std//Shop"), None, S, E),
            body(Some("us-std/Shop/"), None, S, E),
            body(Some("/us-std/Shop"), None, S, E),
            body(Some("us-std"), None, S, E),
            body(Some(""), Some("us-std"), S, E),
        ];
        for b in bad {
            let shown = format!("{b:?}");
            assert!(NewRequest::validate(b, &groups()).is_err(), "{shown}");
        }
        assert!(NewRequest::validate(body(None, Some("classic"), S, E), &groups()).is_ok());
    }

    #[test]
    fn window_rules() {
        let ok =
            |s: &str, e: &str| NewRequest::validate(body(None, Some("us-std"), s, e), &groups());
        assert!(ok(S, E).is_ok());
        assert!(ok(E, S).is_err(), "end before start");
        assert!(ok(S, S).is_err(), "empty window");
        assert!(
            ok("2099-01-01T00:00:00Z", "2099-04-01T00:00:00Z").is_ok(),
            "exactly 90 days"
        );
        assert!(
            ok("2099-01-01T00:00:00Z", "2099-04-01T00:00:00.001Z").is_err(),
            "over 90 days"
        );
        // offsets are honoured: 01:00+02:00 is 23:00Z the day before, so the window is 1 h
        let r = ok("2099-01-01T01:00:00+02:00", "2099-01-01T00:00:00Z");
        assert!(r.is_ok());
        let missing = CreateLogsBody {
            region_group: Some("us-std".into()),
            time_start: Some(S.into()),
            ..Default::default()
        };
        assert!(NewRequest::validate(missing, &groups()).is_err());
    }

    #[test]
    fn state_names_round_trip() {
        for name in [
            "Pending",
            "Requested",
            "CreatingNewUrl",
            "Complete",
            "DoesNotExist",
            "Failed",
            "TimedOut",
            "InProgress",
        ] {
            assert_eq!(LogState::from_name(name).as_str(), name);
        }
        assert_eq!(
            LogState::from_name("InProgress"),
            LogState::Other("InProgress".into())
        );
    }
}
