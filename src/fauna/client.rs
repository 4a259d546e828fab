//! [`FaunaClient`]: the Fauna Account API over HTTPS.
//!
//! Transient faults (connection errors, timeouts, 429, 5xx) are retried with [`RetryPolicy`];
//! 401/403 are permanent and say the key was rejected; other error bodies (`{code, reason}`)
//! become [`FaunaError::Rejected`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use url::Url;

use std::sync::{Arc, RwLock};

use super::download::{self, DownloadError, LogFile, PresignedUrl};
use super::download_guard::DownloadRule;
use super::secret::SecretReader;
use super::{AccountKey, FaunaError, LogRequestStatus, LogsApi};
use crate::retry::RetryPolicy;
use crate::scope::Scope;
use crate::time::rfc3339;

/// The Fauna Account API over HTTPS. Build it once per process; it pools connections.
#[derive(Debug, Clone)]
pub struct FaunaClient {
    api: reqwest::Client,
    files: reqwest::Client,
    /// Where presigned URLs may lead, from `base` (see [`DownloadRule`]).
    download_rule: DownloadRule,
    base: Url,
    /// The account key in use; replaced when it is read again from its secret.
    key: Arc<RwLock<AccountKey>>,
    /// Where the key is kept, when it is kept in a secret.
    secret: Option<SecretReader>,
    retry: RetryPolicy,
}

/// How long the client waits on Fauna.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// One API call, before it is retried.
    pub api: Duration,
    /// One read of a file download (not the whole download: files can be large); a stalled
    /// download is reopened where it stopped.
    pub download_read: Duration,
}

impl FaunaClient {
    /// A client of the API under `base`.
    /// A client of the API under `base`, with `key`, read from `secret` when it is kept in one.
    pub fn new(
        base: Url,
        key: AccountKey,
        secret: Option<SecretReader>,
        retry: RetryPolicy,
        timeouts: Timeouts,
    ) -> Result<FaunaClient, String> {
        let api = reqwest::Client::builder()
            .user_agent(crate::USER_AGENT)
            .connect_timeout(Duration::from_secs(10).min(timeouts.api))
            .timeout(timeouts.api)
            .tls_backend_preconfigured(crate::tls::client_config()?)
            .build()
            .map_err(|e| format!("cannot build the Fauna HTTP client: {e}"))?;
        let download_rule = DownloadRule::for_account_url(&base);
        let files = download::files_client(timeouts.download_read, download_rule)?;
        Ok(FaunaClient {
            api,
            files,
            download_rule,
            base,
            key: Arc::new(RwLock::new(key)),
            secret,
            retry,
        })
    }

    /// The account key in use.
    fn key(&self) -> AccountKey {
        self.key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the key again from its secret; `true` if it changed (and is now in use).
    async fn reread_key(&self, rejected: &AccountKey) -> bool {
        let Some(secret) = &self.secret else {
            return false;
        };
        match secret.read().await {
            Ok(key) if key.expose() != rejected.expose() => {
                tracing::info!("Fauna rejected the account key; its secret holds a new one now");
                *self
                    .key
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "Fauna rejected the account key, and its secret cannot be read again");
                false
            }
        }
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
        let mut key_reread = false;
        loop {
            attempt += 1;
            let key = self.key();
            let (last, delay) = match build().bearer_auth(key.expose()).send().await {
                Ok(resp) if resp.status().is_success() => {
                    if resp
                        .content_length()
                        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
                    {
                        return Err(too_large(endpoint));
                    }
                    match resp.bytes().await {
                        Ok(body) => return parse_status(endpoint, &body),
                        Err(e) => (transport_error(e), Some(self.retry.backoff(attempt))),
                    }
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.unwrap_or_default();
                    let (code, reason) = error_body(&body);
                    match status {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            // The key may have been rotated since it was read: read it again
                            // once, and try again with the new one.
                            if !key_reread {
                                key_reread = true;
                                if self.reread_key(&key).await {
                                    attempt -= 1;
                                    continue;
                                }
                            }
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

/// The most an answer of the logs API may take: a few hundred bytes of status and a URL.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most of a string from Fauna that is kept: an id, a state, a path, an error's reason.
const MAX_FAUNA_STRING: usize = 1024;

/// The most a presigned URL may take (S3's are under 2 KiB).
const MAX_URL_BYTES: usize = 16 * 1024;

fn too_large(endpoint: &'static str) -> FaunaError {
    FaunaError::Protocol {
        endpoint,
        detail: format!("the answer is over {MAX_ANSWER_BYTES} bytes"),
    }
}

/// A status answer, parsed and bounded: every string Fauna sends has a size limit, so nothing
/// it says can grow a job, a message or a log line without bound.
fn parse_status(endpoint: &'static str, body: &[u8]) -> Result<LogRequestStatus, FaunaError> {
    let protocol = |detail: String| FaunaError::Protocol { endpoint, detail };
    if body.len() > MAX_ANSWER_BYTES {
        return Err(too_large(endpoint));
    }
    let status: LogRequestStatus = serde_json::from_slice(body)
        .map_err(|e| protocol(crate::input::error::clip(&e.to_string(), 300)))?;
    if status.request_id.is_empty() || status.request_id.len() > MAX_FAUNA_STRING {
        return Err(protocol(format!(
            "`request_id` is {} bytes: expected 1 to {MAX_FAUNA_STRING}",
            status.request_id.len()
        )));
    }
    let strings = [
        ("state", Some(status.state.to_string().len())),
        ("database", status.database.as_ref().map(String::len)),
        (
            "region_group",
            status.region_group.as_ref().map(String::len),
        ),
    ];
    for (field, len) in strings {
        if let Some(len) = len.filter(|n| *n > MAX_FAUNA_STRING) {
            return Err(protocol(format!(
                "`{field}` is {len} bytes, over {MAX_FAUNA_STRING}"
            )));
        }
    }
    if let Some(len) = status
        .presigned_url
        .as_ref()
        .map(|u| u.expose().as_str().len())
        .filter(|n| *n > MAX_URL_BYTES)
    {
        return Err(protocol(format!(
            "`presigned_url` is {len} bytes, over {MAX_URL_BYTES}"
        )));
    }
    Ok(status)
}

/// `{code, reason}` (Account API v1) or `{error: {code, message}}` (v2), else the raw text; each
/// clipped, as they go into messages.
fn error_body(body: &[u8]) -> (String, String) {
    let (code, reason) = parsed_error_body(body);
    (
        crate::input::error::clip(&code, 96),
        crate::input::error::clip(&reason, 300),
    )
}

fn parsed_error_body(body: &[u8]) -> (String, String) {
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
        body.insert(scope.field().into(), scope.value().into());
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
        self.download_rule.check_url(url)?;
        download::download(&self.files, url, from).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            None,
            RetryPolicy::default(),
            Timeouts {
                api: Duration::from_secs(30),
                download_read: Duration::from_secs(60),
            },
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
