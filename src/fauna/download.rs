//! The log file behind a presigned URL: fetched from a byte offset on (HTTP `Range`), streamed,
//! never buffered whole.
//!
//! A presigned URL is a bearer credential: it prints only as [`PresignedUrl`]'s redacted form,
//! in messages, logs and errors alike.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use reqwest::StatusCode;
use serde::{Deserialize, Deserializer};

pub use crate::job::FileIdentity;
use crate::redact::redact;
use url::Url;

use super::download_guard::{DownloadRule, GuardedResolver, redirect_refused, refused_address};

/// A presigned download URL: a bearer credential. It displays as `scheme://host/path?<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedUrl(Url);

impl PresignedUrl {
    pub fn parse(value: &str) -> Option<PresignedUrl> {
        Url::parse(value).ok().map(PresignedUrl)
    }

    /// The full URL, for the download request only.
    pub(crate) fn expose(&self) -> &Url {
        &self.0
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

/// The longest ETag or Last-Modified kept (S3's are under 100 bytes); a longer one is not kept,
/// and the version is then not pinned by it.
const MAX_VALIDATOR_BYTES: usize = 256;

/// The identity of the file version an answer carries: its validators and the total size.
fn identity_of(headers: &reqwest::header::HeaderMap, size: Option<u64>) -> FileIdentity {
    let validator = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_VALIDATOR_BYTES)
            .map(str::to_owned)
    };
    FileIdentity {
        etag: validator(reqwest::header::ETAG),
        last_modified: validator(reqwest::header::LAST_MODIFIED),
        size,
    }
}

/// A log file being downloaded, from byte `start` on (0 unless a `Range` was honoured).
pub struct LogFile {
    pub start: u64,
    /// The whole file's length, when the server says it.
    pub total: Option<u64>,
    /// The version the host says it sent.
    pub identity: FileIdentity,
    /// The URL in its redacted form, for messages.
    pub url: String,
    pub body: BoxStream<'static, Result<Bytes, DownloadError>>,
}

/// Fetching the file behind a presigned URL did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// A URL, address or redirect a download may not go to (see [`super::download_guard`]).
    #[error("refusing to download from {host}: {reason}")]
    InsecureUrl { host: String, reason: String },
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
    /// Another version of the file than the copy began with: its bytes are not mixed with the
    /// first version's, the copy starts over.
    #[error(
        "the file behind {url} changed during the copy (it began with {pinned}; now {now}); the copy starts over from the file's first byte"
    )]
    FileChanged {
        url: String,
        pinned: String,
        now: String,
    },
}

/// The HTTP client for files: no overall timeout (files can be large), but a read that waits
/// longer than `read_timeout` ends the download. It resolves names through the
/// [`GuardedResolver`] of `rule`, follows no redirect and uses no proxy, so that where it
/// connects is where the guard looked.
pub(crate) fn files_client(
    read_timeout: Duration,
    rule: DownloadRule,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(crate::USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(read_timeout)
        .dns_resolver(GuardedResolver { rule })
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_backend_preconfigured(crate::tls::client_config()?)
        .build()
        .map_err(|e| format!("cannot build the download HTTP client: {e}"))
}

/// `GET` the presigned URL from byte `from` on (`Range`, when `from > 0`), with no
/// Authorization header: the URL carries its own. With a `pinned` version that has an ETag, the
/// request says `If-Match` it (S3 honours it on presigned GETs), and a host that has another
/// version answers 412: [`DownloadError::FileChanged`]. (The copy compares every answer's
/// identity with the pinned one as well.) `files` is a [`files_client`]; the caller checks the
/// URL with [`DownloadRule::check_url`] first.
pub async fn download(
    files: &reqwest::Client,
    url: &PresignedUrl,
    from: u64,
    pinned: Option<&FileIdentity>,
) -> Result<LogFile, DownloadError> {
    let shown = url.to_string();
    let mut request = files.get(url.expose().clone());
    if from > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
    }
    if let Some(etag) = pinned.and_then(|p| p.etag.as_deref()) {
        request = request.header(reqwest::header::IF_MATCH, etag);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| match refused_address(&e) {
            Some(refused) => DownloadError::InsecureUrl {
                host: refused.host.clone(),
                reason: format!("it resolves to {}, {}", refused.address, refused.kind),
            },
            None => DownloadError::Interrupted {
                url: shown.clone(),
                received: from,
                // reqwest's Display names the URL, query included: strip it.
                cause: redact(&e.without_url().to_string()).into_owned(),
            },
        })?;
    if resp.status().is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok());
        return Err(redirect_refused(
            url.expose().host_str().unwrap_or_default(),
            resp.status().as_u16(),
            location,
        ));
    }
    if resp.status() == StatusCode::PRECONDITION_FAILED {
        return Err(DownloadError::FileChanged {
            url: shown,
            pinned: pinned.map(ToString::to_string).unwrap_or_default(),
            now: "another version (HTTP 412 to If-Match)".into(),
        });
    }
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
    let identity = identity_of(resp.headers(), total);
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
                cause: redact(&e.without_url().to_string()).into_owned(),
            }),
        })
        .boxed();
    Ok(LogFile {
        start,
        total,
        identity,
        url: shown,
        body,
    })
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
    use crate::fauna::LogRequestStatus;

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
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-999/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */1000"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
