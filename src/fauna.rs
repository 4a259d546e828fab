//! The Fauna Account API client: request logs, poll a request, renew its URL, fetch its file.
//!
//! [`LogsApi`] is the small trait the steps are generic over, so they can be tested without a
//! network; [`FaunaClient`] is the real implementation over HTTP. Transient faults (connection
//! errors, timeouts, 429, 5xx) are retried with [`RetryPolicy`]; 401/403 are permanent and say the
//! key was rejected; other error bodies (`{code, reason}`) become [`FaunaError::Rejected`]. The
//! account key only ever goes into the `Authorization` header, and a presigned URL only ever
//! prints as [`PresignedUrl`]'s redacted form.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Deserialize, Deserializer};
use url::{Host, Url};

use crate::config::AccountKey;
use crate::job::{Scope, rfc3339};
use crate::retry::RetryPolicy;

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

/// A presigned download URL: a bearer credential. It displays as `scheme://host/path?<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedUrl(Url);

impl PresignedUrl {
    pub fn parse(value: &str) -> Option<PresignedUrl> {
        Url::parse(value).ok().map(PresignedUrl)
    }

    /// The full URL, for the download request only.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// https, or http to a loopback host (the simulator, local tests).
    pub fn is_allowed(&self) -> bool {
        match self.0.scheme() {
            "https" => true,
            "http" => match self.0.host() {
                Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            },
            _ => false,
        }
    }
}

impl fmt::Display for PresignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.0.host_str().unwrap_or("");
        let port = self.0.port().map(|p| format!(":{p}")).unwrap_or_default();
        write!(f, "{}://{host}{port}{}", self.0.scheme(), self.0.path())?;
        if self.0.query().is_some() {
            f.write_str("?<redacted>")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PresignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresignedUrl({self})")
    }
}

impl<'de> Deserialize<'de> for PresignedUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        // The error must not echo the value: it is a credential.
        PresignedUrl::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom("presigned_url is not a valid URL"))
    }
}

/// A log request as Fauna describes it (the answer of every logs endpoint).
#[derive(Debug, Clone, Deserialize)]
pub struct LogRequestStatus {
    pub request_id: String,
    pub state: LogState,
    #[serde(default)]
    pub version: Option<u64>,
    /// Present when `state` is `Complete` (and in a renewal's answer).
    #[serde(default)]
    pub presigned_url: Option<PresignedUrl>,
    #[serde(default)]
    pub presigned_url_expiration_time: Option<DateTime<Utc>>,
}

/// A log file being downloaded, from byte `start` on (0 unless a `Range` was honoured).
pub struct LogFile {
    pub start: u64,
    /// The whole file's length, when the server says it.
    pub total: Option<u64>,
    /// The URL in its redacted form, for messages.
    pub url: String,
    pub body: BoxStream<'static, Result<Bytes, DownloadError>>,
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

/// Fetching the file behind a presigned URL did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    #[error(
        "refusing to download from {url}: presigned URLs must be https (plain http is allowed for loopback hosts only)"
    )]
    InsecureUrl { url: String },
    #[error(
        "the file host answered HTTP {status} for {url}{hint}",
        hint = if *status == 403 { " (the presigned URL has expired or was replaced; it is renewed on the next attempt)" } else { "" }
    )]
    Refused { status: u16, url: String },
    #[error("the download from {url} broke off after {received} bytes: {cause}")]
    Interrupted {
        url: String,
        received: u64,
        cause: String,
    },
    #[error("the download from {url} ended after {received} of the {expected} bytes announced")]
    Truncated {
        url: String,
        received: u64,
        expected: u64,
    },
    #[error("the file host answered a Range request for {url} from byte {asked} with {answer:?}")]
    BadRange {
        url: String,
        asked: u64,
        answer: String,
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
    /// Authorization header: the URL carries its own. The caller checks
    /// [`PresignedUrl::is_allowed`] first.
    fn download(
        &self,
        url: &PresignedUrl,
        from: u64,
    ) -> impl Future<Output = Result<LogFile, DownloadError>> + Send;
}

/// The Fauna Account API over HTTPS. Build it once per process; it pools connections.
#[derive(Debug, Clone)]
pub struct FaunaClient {
    api: reqwest::Client,
    files: reqwest::Client,
    base: Url,
    key: AccountKey,
    retry: RetryPolicy,
}

const USER_AGENT: &str = concat!("fauna-logs-export/", env!("CARGO_PKG_VERSION"));

impl FaunaClient {
    /// A client of the API under `base`; each API call may take `api_timeout` before it is
    /// retried.
    pub fn new(
        base: Url,
        key: AccountKey,
        retry: RetryPolicy,
        api_timeout: Duration,
    ) -> Result<FaunaClient, String> {
        let api = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10).min(api_timeout))
            .timeout(api_timeout)
            .build()
            .map_err(|e| format!("cannot build the Fauna HTTP client: {e}"))?;
        // No overall timeout for files (they can be large); a stalled read still ends.
        let files = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the download HTTP client: {e}"))?;
        Ok(FaunaClient {
            api,
            files,
            base,
            key,
            retry,
        })
    }

    /// `{base}/api/v1/logs/{segments…}?type=query[&regionGroup=rg]`.
    fn endpoint(&self, segments: &[&str], region_group: Option<&str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "logs"])
                .extend(segments);
        }
        url.set_query(None);
        let mut query = url.query_pairs_mut();
        query.append_pair("type", "query");
        if let Some(rg) = region_group {
            query.append_pair("regionGroup", rg);
        }
        drop(query);
        url
    }

    /// Sends the request `build` makes, retrying transient faults, and parses the answer.
    async fn call(
        &self,
        endpoint: &'static str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<LogRequestStatus, FaunaError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (last, delay) = match build().bearer_auth(self.key.expose()).send().await {
                Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                    Ok(body) => {
                        return serde_json::from_slice(&body).map_err(|e| FaunaError::Protocol {
                            endpoint,
                            detail: e.to_string(),
                        });
                    }
                    Err(e) => (transport_error(e), Some(self.retry.backoff(attempt))),
                },
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.unwrap_or_default();
                    let (code, reason) = error_body(&body);
                    match status {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(FaunaError::AuthRejected {
                                endpoint,
                                status: status.as_u16(),
                                code,
                                reason,
                            });
                        }
                        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => (
                            format!("HTTP {} {code}: {reason}", status.as_u16()),
                            self.retry.delay_after(attempt, &headers),
                        ),
                        s if s.is_server_error() => (
                            format!("HTTP {} {code}: {reason}", status.as_u16()),
                            self.retry.delay_after(attempt, &headers),
                        ),
                        _ => {
                            return Err(FaunaError::Rejected {
                                endpoint,
                                status: status.as_u16(),
                                code,
                                reason,
                            });
                        }
                    }
                }
                Err(e) if e.is_builder() => {
                    return Err(FaunaError::Protocol {
                        endpoint,
                        detail: e.to_string(),
                    });
                }
                Err(e) => (transport_error(e), Some(self.retry.backoff(attempt))),
            };
            match delay {
                Some(delay) if attempt < self.retry.max_attempts => {
                    tracing::warn!(endpoint, attempt, ?delay, cause = %last, "Fauna call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    return Err(FaunaError::Unavailable {
                        endpoint,
                        attempts: attempt,
                        last,
                    });
                }
            }
        }
    }
}

/// A transport error (reset, timeout, refused connection) in a line, with the causes reqwest
/// wraps: "error sending request: …: connection reset by peer" says more than its Display alone.
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// `{code, reason}` (Account API v1) or `{error: {code, message}}` (v2), else the raw text.
fn error_body(body: &[u8]) -> (String, String) {
    #[derive(Deserialize)]
    struct V1 {
        code: Option<String>,
        reason: Option<String>,
        error: Option<V2>,
    }
    #[derive(Deserialize)]
    struct V2 {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<V1>(body) {
        Ok(V1 {
            code: Some(code),
            reason,
            ..
        }) => (code, reason.unwrap_or_default()),
        Ok(V1 { error: Some(e), .. }) => (
            e.code.unwrap_or_else(|| "unknown".into()),
            e.message.unwrap_or_default(),
        ),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            ("unknown".into(), text.trim().to_owned())
        }
    }
}

impl LogsApi for FaunaClient {
    async fn request_logs(
        &self,
        scope: &Scope,
        time_start: DateTime<Utc>,
        time_end: DateTime<Utc>,
    ) -> Result<LogRequestStatus, FaunaError> {
        let mut body = serde_json::Map::new();
        let (field, value) = match scope {
            Scope::Database(path) => ("database", path),
            Scope::RegionGroup(rg) => ("region_group", rg),
        };
        body.insert(field.into(), value.clone().into());
        body.insert("time_start".into(), rfc3339(time_start).into());
        body.insert("time_end".into(), rfc3339(time_end).into());
        // One token per log request, the same on every retry of this call: a POST whose answer
        // was lost (a reset, a timeout) and is sent again maps to the request it already created
        // (Fauna dedupes a token for 24 h) instead of creating another.
        let token = uuid::Builder::from_random_bytes(std::array::from_fn(|_| fastrand::u8(..)));
        body.insert(
            "idempotency_token".into(),
            token.into_uuid().hyphenated().to_string().into(),
        );
        let url = self.endpoint(&[], None);
        self.call("POST /api/v1/logs", || {
            self.api.request(Method::POST, url.clone()).json(&body)
        })
        .await
    }

    async fn status(
        &self,
        request_id: &str,
        region_group: &str,
    ) -> Result<LogRequestStatus, FaunaError> {
        let url = self.endpoint(&[request_id], Some(region_group));
        self.call("GET /api/v1/logs/{id}", || {
            self.api.request(Method::GET, url.clone())
        })
        .await
    }

    async fn renew_url(
        &self,
        request_id: &str,
        region_group: &str,
    ) -> Result<LogRequestStatus, FaunaError> {
        let url = self.endpoint(&[request_id, "url"], Some(region_group));
        self.call("POST /api/v1/logs/{id}/url", || {
            self.api.request(Method::POST, url.clone())
        })
        .await
    }

    async fn download(&self, url: &PresignedUrl, from: u64) -> Result<LogFile, DownloadError> {
        let shown = url.to_string();
        let mut request = self.files.get(url.expose().clone());
        if from > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = request
            .send()
            .await
            .map_err(|e| DownloadError::Interrupted {
                url: shown.clone(),
                received: from,
                // reqwest's Display names the URL, query included: strip it.
                cause: e.without_url().to_string(),
            })?;
        let (start, total) = match resp.status() {
            StatusCode::OK => (0, resp.content_length()),
            StatusCode::PARTIAL_CONTENT => {
                let answer = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                match parse_content_range(&answer) {
                    Some((start, total)) if start == from => (start, total),
                    _ => {
                        return Err(DownloadError::BadRange {
                            url: shown,
                            asked: from,
                            answer,
                        });
                    }
                }
            }
            status => {
                return Err(DownloadError::Refused {
                    status: status.as_u16(),
                    url: shown,
                });
            }
        };
        let mut received = start;
        let url_for_errors = shown.clone();
        let body = resp
            .bytes_stream()
            .map(move |chunk| match chunk {
                Ok(bytes) => {
                    received += bytes.len() as u64;
                    Ok(bytes)
                }
                Err(e) => Err(DownloadError::Interrupted {
                    url: url_for_errors.clone(),
                    received,
                    cause: e.without_url().to_string(),
                }),
            })
            .boxed();
        Ok(LogFile {
            start,
            total,
            url: shown,
            body,
        })
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL); TOTAL may be `*` (unknown).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    Some((start.parse().ok()?, total))
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

    #[test]
    fn presigned_urls_never_print_their_query() {
        let url =
            PresignedUrl::parse("https://files.example/logs/a.gz?X-Amz-Signature=s3cr3t").unwrap();
        assert_eq!(
            url.to_string(),
            "https://files.example/logs/a.gz?<redacted>"
        );
        assert!(!format!("{url:?}").contains("s3cr3t"));
        let status: LogRequestStatus = serde_json::from_value(serde_json::json!({
            "request_id": "r", "state": "Complete",
            "presigned_url": "https://files.example/x?sig=s3cr3t",
            "presigned_url_expiration_time": "2099-07-11T22:53:54Z"
        }))
        .unwrap();
        assert!(!format!("{status:?}").contains("s3cr3t"));
        let err = serde_json::from_value::<LogRequestStatus>(serde_json::json!({
            "request_id": "r", "state": "Complete", "presigned_url": "not a url s3cr3t"
        }))
        .unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn only_https_or_loopback_http_is_allowed() {
        let allowed = |u: &str| PresignedUrl::parse(u).unwrap().is_allowed();
        assert!(allowed("https://bucket.s3.amazonaws.com/x?a=b"));
        assert!(allowed("http://127.0.0.1:9000/x"));
        assert!(allowed("http://127.8.0.1/x"));
        assert!(allowed("http://localhost:80/x"));
        assert!(allowed("http://[::1]:80/x"));
        assert!(!allowed("http://files.example/x"));
        assert!(!allowed("http://10.0.0.1/x"));
        assert!(!allowed("ftp://127.0.0.1/x"));
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-999/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */1000"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_body(br#"{"code":"bad_request","reason":"window too long"}"#),
            ("bad_request".into(), "window too long".into())
        );
        assert_eq!(
            error_body(br#"{"error":{"code":"not_found","message":"no such request"}}"#),
            ("not_found".into(), "no such request".into())
        );
        assert_eq!(
            error_body(b"<html>oops</html>"),
            ("unknown".into(), "<html>oops</html>".into())
        );
    }

    #[test]
    fn endpoints_are_built_under_the_base() {
        let client = FaunaClient::new(
            Url::parse("http://127.0.0.1:8080").unwrap(),
            AccountKey::new("k".into()),
            RetryPolicy::default(),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            client.endpoint(&[], None).as_str(),
            "http://127.0.0.1:8080/api/v1/logs?type=query"
        );
        assert_eq!(
            client.endpoint(&["a/b", "url"], Some("us-std")).as_str(),
            "http://127.0.0.1:8080/api/v1/logs/a%2Fb/url?type=query&regionGroup=us-std"
        );
    }
}
