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

use super::download::{self, DownloadError, FileIdentity, LogFile, PresignedUrl};
use super::download_guard::DownloadRule;
use super::secret::SecretReader;
use super::{AccountKey, FaunaError, LogRequestStatus, LogsApi};
use crate::redact::redact;
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
                    match read_bounded(resp, MAX_ANSWER_BYTES).await {
                        Ok(Some(body)) => return parse_status(endpoint, &body),
                        Ok(None) => return Err(too_large(endpoint)),
                        Err(e) => (transport_error(e), Some(self.retry.backoff(attempt))),
                    }
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = read_prefix(resp, MAX_ERROR_BODY_BYTES).await;
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
                Some(delay)
                    if attempt < self.retry.max_attempts
                        && crate::retry::fits_before_deadline(delay) =>
                {
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
    redact(&text).into_owned()
}

/// The most an answer of the logs API may take: a few hundred bytes of status and a URL.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most of an error answer's body that is read: its `{code, reason}` is short, and the rest
/// (an HTML page, a proxy's dump) is not read at all.
const MAX_ERROR_BODY_BYTES: usize = 8 * 1024;

/// The body of `resp`, read chunk by chunk, chunked or not: `None` as soon as it is over `limit`
/// bytes (a declared Content-Length over it is refused before a byte is read), so that no answer
/// makes memory grow past the limit, whatever it says of its length.
async fn read_bounded(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// At most the first `limit` bytes of an error answer's body (what could be read of them; the
/// connection is dropped with the rest unread).
async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

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
        .map_err(|e| protocol(crate::shown::clip(&redact(&e.to_string()), 300)))?;
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
    // These strings go into the job and its messages: one that holds a credential (an echoed
    // key, a token) is refused, never carried.
    let carried = [
        ("request_id", Some(status.request_id.as_str())),
        ("database", status.database.as_deref()),
        ("region_group", status.region_group.as_deref()),
    ];
    for (field, value) in carried {
        if value.is_some_and(|v| matches!(redact(v), std::borrow::Cow::Owned(_))) {
            return Err(protocol(format!("`{field}` holds a credential")));
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

/// The answer about request `asked`, or a protocol error when it is about another one: a status
/// or a URL of another request would copy another export's file to this window's key.
fn same_request(
    endpoint: &'static str,
    asked: &str,
    status: LogRequestStatus,
) -> Result<LogRequestStatus, FaunaError> {
    if status.request_id == asked {
        return Ok(status);
    }
    Err(FaunaError::Protocol {
        endpoint,
        detail: format!(
            "the answer is about request {}, not {}",
            crate::shown::clip(&status.request_id, crate::shown::SHOWN_BYTES),
            crate::shown::clip(asked, crate::shown::SHOWN_BYTES)
        ),
    })
}

/// `{code, reason}` (Account API v1) or `{error: {code, message}}` (v2), else the raw text; each
/// clipped, as they go into messages.
fn error_body(body: &[u8]) -> (String, String) {
    let (code, reason) = parsed_error_body(body);
    (
        crate::shown::clip(&redact(&code), crate::shown::SHOWN_BYTES),
        crate::shown::clip(&redact(&reason), 300),
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
        let endpoint = "GET /api/v1/logs/{id}";
        let status = self
            .call(endpoint, || self.api.request(Method::GET, url.clone()))
            .await?;
        same_request(endpoint, request_id, status)
    }

    async fn renew_url(
        &self,
        request_id: &str,
        region_group: &str,
    ) -> Result<LogRequestStatus, FaunaError> {
        let url = self.endpoint(&[request_id, "url"], Some(region_group));
        let endpoint = "POST /api/v1/logs/{id}/url";
        let status = self
            .call(endpoint, || self.api.request(Method::POST, url.clone()))
            .await?;
        same_request(endpoint, request_id, status)
    }

    async fn download(
        &self,
        url: &PresignedUrl,
        from: u64,
        pinned: Option<&FileIdentity>,
    ) -> Result<LogFile, DownloadError> {
        self.download_rule.check_url(url)?;
        download::download(&self.files, url, from, pinned).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A file host on a loopback port that answers every request with `head` and then `body`
    /// chunks from `body` until it returns `None` (or the client hangs up); counts what it sent.
    async fn serve(
        head: &'static str,
        body: impl Fn(u64) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> (Url, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let body = Arc::new(body);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (sent, body) = (Arc::clone(&counter), Arc::clone(&body));
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut n = 0;
                    while let Some(chunk) = body(n) {
                        n += 1;
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        (url, sent)
    }

    fn client(base: Url) -> FaunaClient {
        FaunaClient::new(
            base,
            AccountKey::new("fnAE_client_test_key_0123".into()),
            None,
            RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            Timeouts {
                api: Duration::from_secs(30),
                download_read: Duration::from_secs(30),
            },
        )
        .unwrap()
    }

    /// One chunk of HTTP/1.1 chunked encoding.
    fn chunk(data: &[u8]) -> Vec<u8> {
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// No answer makes the client read more than its limit: not a 503 whose body is 300 MiB,
    /// not a Complete answer followed by 300 MiB of whitespace, chunked. The host can only
    /// get as far as the socket buffers take.
    #[tokio::test]
    async fn every_answer_is_read_within_its_limit() {
        const HUGE: u64 = 300 << 20;
        let mib = |n: u64| (n * (1 << 20) < HUGE).then(|| vec![b' '; 1 << 20]);
        let head_503 = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 314572800\r\n\r\n";
        let (url, sent) = serve(head_503, mib).await;
        let err = client(url).status("r1", "us-std").await.unwrap_err();
        assert!(matches!(err, FaunaError::Unavailable { .. }), "{err}");
        let complete = br#"{"request_id":"r1","state":"Complete"}"#;
        let head_chunked = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        let (url2, sent2) = serve(head_chunked, move |n| match n {
            0 => Some(chunk(complete)),
            n if n * (1 << 20) < HUGE => Some(chunk(&vec![b' '; 1 << 20])),
            _ => None,
        })
        .await;
        let err = client(url2).status("r1", "us-std").await.unwrap_err();
        assert!(
            matches!(&err, FaunaError::Protocol { detail, .. } if detail.contains("over")),
            "{err}"
        );
        for (what, sent) in [("the 503", sent), ("the chunked answer", sent2)] {
            let sent = sent.load(Ordering::Relaxed);
            assert!(sent < 32 << 20, "{what}: the host sent {sent} bytes");
        }
    }

    /// A gateway that quotes the request's Authorization header in its reason: the key never
    /// reaches the error, and an answer that carries a credential in a field the job keeps is
    /// refused.
    #[tokio::test]
    async fn an_echoed_key_never_reaches_an_error() {
        let head = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 108\r\n\r\n";
        let body = br#"{"code":"bad_request","reason":"bad header Authorization: Bearer fnAE_client_test_key_0123 (x)"}"#;
        let body = format!("{:<108}", String::from_utf8_lossy(body)).into_bytes();
        let (url, _) = serve(head, move |n| (n == 0).then(|| body.clone())).await;
        let err = client(url).status("r1", "us-std").await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, FaunaError::Rejected { .. }), "{shown}");
        assert!(!shown.contains("fnAE_client_test_key_0123"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");

        let echoed = br#"{"request_id":"r1 Bearer fnAE_client_test_key_0123","state":"Pending"}"#;
        let err = parse_status("GET /api/v1/logs/{id}", echoed).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("fnAE_client"), "{err}");
    }

    /// A status answer about another request is refused, typed: its URL would copy another
    /// export's file.
    #[tokio::test]
    async fn an_answer_about_another_request_is_refused() {
        let body = br#"{"request_id":"r2","state":"Complete"}"#;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 38\r\n\r\n";
        let (url, _) = serve(head, move |n| (n == 0).then(|| body.to_vec())).await;
        let c = client(url);
        for err in [
            c.status("r1", "us-std").await.unwrap_err(),
            c.renew_url("r1", "us-std").await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, FaunaError::Protocol { detail, .. } if detail.contains("not r1")),
                "{err}"
            );
        }
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
