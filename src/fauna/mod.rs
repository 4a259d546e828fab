//! The Fauna Account API: what a step asks Fauna, behind the small trait [`LogsApi`].
//!
//! - [`client`]: [`FaunaClient`], the API over HTTPS, with retries of transient faults.
//! - [`download`]: the file behind a presigned URL, fetched from a byte offset on.
//! - [`download_guard`]: where a download may go (https, public addresses, no redirects).
//! - [`account_key`]: the account key, which only ever goes into the `Authorization` header.
//! - [`secret`]: the key kept in Secrets Manager, read again when Fauna rejects it (rotation).
//!
//! The steps are generic over [`LogsApi`], so they can be tested without a network.

pub mod account_key;
pub mod client;
pub mod download;
pub mod download_guard;
pub mod secret;

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

pub use self::account_key::AccountKey;
pub use self::client::{FaunaClient, Timeouts};
pub use self::download::{DownloadError, FileIdentity, LogFile, PresignedUrl};
use crate::scope::Scope;

/// The state of a log request (`LogState` in Fauna's reference), plus whatever Fauna may add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    Requested,
    Pending,
    CreatingNewUrl,
    Complete,
    DoesNotExist,
    Failed,
    TimedOut,
    /// A state the reference does not document; treated as still working.
    Unknown(String),
}

impl From<String> for LogState {
    fn from(name: String) -> Self {
        match name.as_str() {
            "Requested" => LogState::Requested,
            "Pending" => LogState::Pending,
            "CreatingNewUrl" => LogState::CreatingNewUrl,
            "Complete" => LogState::Complete,
            "DoesNotExist" => LogState::DoesNotExist,
            "Failed" => LogState::Failed,
            "TimedOut" => LogState::TimedOut,
            _ => LogState::Unknown(name),
        }
    }
}

impl<'de> Deserialize<'de> for LogState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(LogState::from)
    }
}

impl fmt::Display for LogState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LogState::Requested => "Requested",
            LogState::Pending => "Pending",
            LogState::CreatingNewUrl => "CreatingNewUrl",
            LogState::Complete => "Complete",
            LogState::DoesNotExist => "DoesNotExist",
            LogState::Failed => "Failed",
            LogState::TimedOut => "TimedOut",
            LogState::Unknown(name) => name,
        };
        f.write_str(name)
    }
}

/// A log request as Fauna describes it (the answer of every logs endpoint).
#[derive(Debug, Clone, Deserialize)]
pub struct LogRequestStatus {
    pub request_id: String,
    pub state: LogState,
    /// The window and scope the request is for, as Fauna reports them (`database` only for a
    /// database's request; `region_group` sometimes for those too).
    #[serde(default)]
    pub time_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub time_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub region_group: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    /// Present when `state` is `Complete` (and in a renewal's answer).
    #[serde(default)]
    pub presigned_url: Option<PresignedUrl>,
    #[serde(default)]
    pub presigned_url_expiration_time: Option<DateTime<Utc>>,
}

/// A Fauna Account API call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaunaError {
    #[error(
        "Fauna rejected the account key ({endpoint}: HTTP {status} {code}: {reason}). Set FAUNA_ACCOUNT_KEY (or the key's secret) to a valid, unexpired account key of an account with Fauna Logs (Pro or Enterprise)"
    )]
    AuthRejected {
        endpoint: &'static str,
        status: u16,
        code: String,
        reason: String,
    },
    #[error("Fauna refused {endpoint} with HTTP {status} {code}: {reason}")]
    Rejected {
        endpoint: &'static str,
        status: u16,
        code: String,
        reason: String,
    },
    #[error(
        "Fauna is unavailable ({endpoint} failed {attempts} times; last: {last}). This is transient: retry the step later"
    )]
    Unavailable {
        endpoint: &'static str,
        attempts: u32,
        last: String,
    },
    #[error("Fauna answered {endpoint} with something this client does not understand: {detail}")]
    Protocol {
        endpoint: &'static str,
        detail: String,
    },
}

/// The calls a step makes to Fauna. Implemented by [`FaunaClient`]; faked in unit tests.
pub trait LogsApi: Send + Sync {
    /// `POST /api/v1/logs?type=query` for a scope and window.
    fn request_logs(
        &self,
        scope: &Scope,
        time_start: DateTime<Utc>,
        time_end: DateTime<Utc>,
    ) -> impl Future<Output = Result<LogRequestStatus, FaunaError>> + Send;

    /// `GET /api/v1/logs/{id}?type=query&regionGroup=rg`.
    fn status(
        &self,
        request_id: &str,
        region_group: &str,
    ) -> impl Future<Output = Result<LogRequestStatus, FaunaError>> + Send;

    /// `POST /api/v1/logs/{id}/url?type=query&regionGroup=rg`: a fresh presigned URL.
    fn renew_url(
        &self,
        request_id: &str,
        region_group: &str,
    ) -> impl Future<Output = Result<LogRequestStatus, FaunaError>> + Send;

    /// `GET` the presigned URL from byte `from` on (`Range`, when `from > 0`), with no
    /// Authorization header: the URL carries its own. A URL, address or redirect the
    /// [`download_guard`] refuses is [`DownloadError::InsecureUrl`], and nothing is fetched.
    /// With a `pinned` version, the host is asked for that version only (`If-Match`).
    fn download(
        &self,
        url: &PresignedUrl,
        from: u64,
        pinned: Option<&FileIdentity>,
    ) -> impl Future<Output = Result<LogFile, DownloadError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_with_a_catch_all() {
        let parse = |s: &str| serde_json::from_value::<LogState>(s.into()).unwrap();
        assert_eq!(parse("Complete"), LogState::Complete);
        assert_eq!(parse("DoesNotExist"), LogState::DoesNotExist);
        assert_eq!(parse("CreatingNewUrl"), LogState::CreatingNewUrl);
        assert_eq!(parse("InProgress"), LogState::Unknown("InProgress".into()));
        assert_eq!(parse("InProgress").to_string(), "InProgress");
    }
}
