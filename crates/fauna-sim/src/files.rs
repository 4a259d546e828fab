//! The presigned-URL file host.
//!
//! Owns `GET /files/{request_id}.jsonl.gz`: the redirect fault, signature, readiness and
//! expiry checks with S3-style XML errors, `Range` support with the no-range and
//! wrong-Content-Range faults, single-use URLs, the download's chaos draw (a URL that expires
//! now, a cut, a stall), the choice of each body's cut, stall and pace (carried out by
//! `body.rs`), and the download and refusal counters; and
//! `GET /_sim/requests/{id}/file`, the exact bytes without checks or faults.

use std::io::SeekFrom;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tokio::io::AsyncSeekExt;
use tracing::info;

use crate::api::ApiError;
use crate::app::Sim;
use crate::body::{BodyPlan, InFlight, Tracking, file_body};
use crate::chaos::{ChaosKind, DownloadChaos};
use crate::cli_faults::WrongField;
use crate::logfile::GeneratedFile;
use crate::range::{RangeRequest, parse_range};
use crate::state::LogState;
use crate::stats::{Stats, bump};
use crate::store::{ClaimError, IssuedUrl};
use crate::timefmt::rfc3339_seconds;

/// An S3-style XML error.
fn s3_error(status: StatusCode, code: &str, message: &str, extra: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>{}</RequestId></Error>",
        crate::store::random_hex(16).to_uppercase()
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn access_denied(message: &str) -> Response {
    s3_error(StatusCode::FORBIDDEN, "AccessDenied", message, "")
}

/// Equal-time comparison, so response timing does not leak how much of a signature matched.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 403 "Request has expired", as S3 words it for a URL that expired at `expired_at`.
fn url_expired(url: &IssuedUrl, expired_at: DateTime<Utc>, now: DateTime<Utc>) -> Response {
    let extra = format!(
        "<X-Amz-Expires>{}</X-Amz-Expires><Expires>{}</Expires><ServerTime>{}</ServerTime>",
        url.lifetime_secs,
        rfc3339_seconds(expired_at),
        rfc3339_seconds(now)
    );
    s3_error(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "Request has expired",
        &extra,
    )
}

fn signature_mismatch() -> Response {
    access_denied("The request signature we calculated does not match the signature you provided")
}

/// Counts one file host answer in the stats (redirects are counted where they are made).
fn count_answer(stats: &Stats, status: StatusCode, is_head: bool) {
    if status == StatusCode::FORBIDDEN {
        bump(&stats.expired_url_refusals);
    }
    if status.is_success() && !is_head {
        bump(&stats.downloads);
        if status == StatusCode::PARTIAL_CONTENT {
            bump(&stats.range_downloads);
        }
    }
}

/// `GET /files/{request_id}.jsonl.gz?X-Amz-Expires=..&X-Amz-Signature=..`
pub async fn download(
    State(sim): State<Arc<Sim>>,
    method: Method,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(target) = &sim.faults.redirect_to {
        bump(&sim.stats.redirects);
        info!("fault: redirecting a download");
        return redirect(sim.faults.redirect_status, target);
    }
    let is_head = method == Method::HEAD;
    let response = answer_download(&sim, is_head, &name, query.as_deref(), &headers).await;
    count_answer(&sim.stats, response.status(), is_head);
    response
}

/// `--redirect-downloads-to`: a redirect with an empty body.
fn redirect(status: u16, target: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    match HeaderValue::from_str(target) {
        Ok(location) => (status, [(header::LOCATION, location)]).into_response(),
        Err(_) => {
            ApiError::internal("the redirect target is not a valid header value").into_response()
        }
    }
}

/// `--wrong-content-range start`: one byte before the asked start, or byte 1 when 0 was asked
/// (`None` when the file has a single byte).
pub fn wrong_start(start: u64, end: u64, file_len: u64) -> Option<(u64, u64)> {
    if start > 0 {
        Some((start - 1, end))
    } else if file_len > 1 {
        Some((1, end.max(1)))
    } else {
        None
    }
}

/// `--cut-every-download-at-percent`: after how many bytes of a body covering
/// `[start, end]` of a `file_len`-byte file the connection is cut (`None`: the body ends
/// before the cut point).
pub fn cut_for_percent(percent: u8, start: u64, end: u64, file_len: u64) -> Option<u64> {
    let at = u64::try_from(u128::from(file_len) * u128::from(percent) / 100).unwrap_or(u64::MAX);
    (at <= end).then(|| at.saturating_sub(start))
}

async fn answer_download(
    sim: &Arc<Sim>,
    is_head: bool,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let Some(id) = name.strip_suffix(".jsonl.gz") else {
        return access_denied("Access Denied");
    };
    let signature = query.and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "X-Amz-Signature")
            .map(|(_, v)| v.to_owned())
    });
    let Some(signature) = signature else {
        return access_denied("Query-string authentication requires the X-Amz-Signature parameter");
    };
    let now = sim.now();
    let Some(request) = sim.store.for_download(id, now) else {
        return access_denied("Access Denied");
    };
    let Some(url) = request.url.as_ref() else {
        return access_denied("Access Denied");
    };
    if !same_secret(signature.as_bytes(), url.signature.as_bytes()) {
        info!(request_id = %id, "download refused: stale or wrong signature");
        return signature_mismatch();
    }
    if !url.ready {
        info!(request_id = %id, "download refused: the renewal is still CreatingNewUrl");
        bump(&sim.stats.not_ready_url_refusals);
        return access_denied("Access Denied");
    }
    if now >= url.expires_at {
        info!(request_id = %id, "download refused: URL expired");
        return url_expired(url, url.expires_at, now);
    }
    let single_use = sim.faults.single_use_urls;
    if single_use && let Some(used_at) = url.used_at {
        info!(request_id = %id, "fault: download refused: single-use URL already used");
        return url_expired(url, used_at, now);
    }
    let chaos = match &sim.faults.chaos {
        Some(chaos) if !is_head => chaos.download(&sim.stats.chaos),
        _ => None,
    };
    if chaos.is_some_and(|c| c.kind == ChaosKind::ExpiredUrl) {
        // The URL expires now, for good: a later download with it is refused as expired too.
        if let Some(expired) = sim.store.expire_url(id, &url.signature, now) {
            bump(&sim.stats.chaos.expired_url);
            info!(request_id = %id, "fault (chaos): the presigned URL expires now");
            return url_expired(&expired, expired.expires_at, now);
        }
    }
    let in_flight = (!is_head).then(|| InFlight::enter(sim));
    let file = match sim.files.get(sim.file_spec(&request)).await {
        Ok(file) => file,
        Err(e) => {
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("We encountered an internal error: {e}"),
                "",
            );
        }
    };
    // As S3 does: a GET whose If-Match names another version of the object is refused.
    if let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
        && wanted.trim() != "*"
        && wanted.split(',').all(|tag| tag.trim() != file.etag)
    {
        info!(request_id = %id, "download refused: If-Match names another version of the file");
        return s3_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            "<Condition>If-Match</Condition>",
        );
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let honour_range = !sim.faults.no_range;
    let mut range = if honour_range {
        parse_range(range_header, file.len)
    } else {
        RangeRequest::Full
    };
    if range == RangeRequest::Unsatisfiable {
        let mut response = s3_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
            "",
        );
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", file.len)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return response;
    }
    // --wrong-content-range: the first N 206 answers name other bytes than were asked.
    let mut advertised_total = file.len;
    if let RangeRequest::Partial { start, end } = range
        && !is_head
    {
        let wrong = match sim.faults.wrong_content_range_field {
            WrongField::Start => wrong_start(start, end, file.len)
                .filter(|_| sim.faults.wrong_content_range.take())
                .map(|(start, end)| range = RangeRequest::Partial { start, end }),
            WrongField::Total => sim
                .faults
                .wrong_content_range
                .take()
                .then(|| advertised_total = file.len + 1),
        };
        if wrong.is_some() {
            bump(&sim.stats.wrong_content_ranges);
            info!(request_id = %id, "fault: answering a wrong Content-Range");
        }
    }
    let opened = match open_file(&file, range).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    // The answer is now certain to be 200 or 206: this is the moment a single-use URL is spent
    // (the file may have taken a while to generate, so claim it atomically only now).
    if single_use && !is_head {
        match sim.store.claim_url(id, &url.signature, sim.now()) {
            Ok(()) => {}
            Err(ClaimError::Used(used_at)) => {
                info!(request_id = %id, "fault: download refused: single-use URL already used");
                return url_expired(url, used_at, sim.now());
            }
            Err(ClaimError::Superseded) => {
                info!(request_id = %id, "download refused: URL renewed meanwhile");
                return signature_mismatch();
            }
        }
    }
    let plan = if is_head {
        BodyPlan {
            len: opened.len,
            ..BodyPlan::default()
        }
    } else {
        body_plan(sim, &opened, file.len, chaos)
    };
    let tracking = (!is_head).then(|| Tracking {
        sim: Arc::clone(sim),
        request_id: id.to_owned(),
        start: opened.start,
        file_len: file.len,
    });
    let start = opened.start;
    let response = file_response(
        &file,
        opened,
        honour_range,
        plan,
        advertised_total,
        tracking,
        in_flight,
    );
    if !is_head {
        info!(
            request_id = %id,
            status = response.status().as_u16(),
            range = range_header.unwrap_or("-"),
            start,
            cut_after = plan.cut_after.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            stall_after = plan.stall_after.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            "download"
        );
    }
    response
}

/// The faults of one download's body: the earliest cut (`--drop-download-after` on the first
/// download, `--cut-every-download-at-percent` on all, a chaos drop), the stall (the counted
/// one, or a chaos stall, which ends in a cut after `--chaos-stall-ms`) and the pace.
fn body_plan(
    sim: &Sim,
    opened: &OpenedFile,
    file_len: u64,
    chaos: Option<DownloadChaos>,
) -> BodyPlan {
    let faults = &sim.faults;
    let end = opened.start + opened.len.saturating_sub(1);
    let dropped = faults
        .drop_download
        .take()
        .then_some(faults.drop_download_after);
    let cut_at_percent = faults
        .cut_at_percent
        .and_then(|p| cut_for_percent(p, opened.start, end, file_len));
    let chaos_at = |kind| {
        chaos
            .filter(|c| c.kind == kind && opened.len > 0)
            .map(|c| c.offset(opened.len))
    };
    let chaos_cut = chaos_at(ChaosKind::Drop);
    let cut_after = [dropped, cut_at_percent, chaos_cut]
        .into_iter()
        .flatten()
        .min();
    let counted_stall = faults.stall_after.filter(|_| faults.stall_downloads.take());
    let chaos_stall = chaos_at(ChaosKind::Stall).filter(|_| counted_stall.is_none());
    BodyPlan {
        len: opened.len,
        cut_after,
        stall_after: counted_stall.or(chaos_stall),
        stall_for: chaos_stall.and(faults.chaos.as_ref().map(|c| c.stall)),
        bytes_per_second: faults.bytes_per_second,
        chaos_cut: chaos_cut.is_some() && chaos_cut == cut_after,
        chaos_stall: chaos_stall.is_some(),
    }
}

/// `GET /_sim/requests/{request_id}/file`: the exact stored bytes, no checks or faults.
pub async fn sim_file(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let Some(request) = sim.store.get(&id) else {
        return ApiError::not_found(format!("No log request with id {id}")).into_response();
    };
    if request.final_state != LogState::Complete {
        return ApiError::not_found(format!(
            "Log request {id} has no file (it ends in {})",
            request.final_state.as_str()
        ))
        .into_response();
    }
    let file = match sim.files.get(sim.file_spec(&request)).await {
        Ok(file) => file,
        Err(e) => {
            return ApiError::internal(format!("file generation failed: {e}")).into_response();
        }
    };
    match open_file(&file, RangeRequest::Full).await {
        Ok(opened) => {
            let plan = BodyPlan {
                len: opened.len,
                ..BodyPlan::default()
            };
            file_response(&file, opened, false, plan, file.len, None, None)
        }
        Err(response) => response,
    }
}

/// A log file opened at the first byte of an answer, before any header is sent.
struct OpenedFile {
    handle: tokio::fs::File,
    status: StatusCode,
    start: u64,
    len: u64,
}

/// Opens `file` and seeks to the start of `range` (anything but `Partial` means the whole
/// file); the error is the 500 answer.
async fn open_file(file: &GeneratedFile, range: RangeRequest) -> Result<OpenedFile, Response> {
    let (status, start, len) = match range {
        RangeRequest::Partial { start, end } => {
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        _ => (StatusCode::OK, 0, file.len),
    };
    let mut handle = tokio::fs::File::open(&file.path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot open log file: {e}")).into_response())?;
    if start > 0
        && let Err(e) = handle.seek(SeekFrom::Start(start)).await
    {
        return Err(ApiError::internal(format!("cannot seek log file: {e}")).into_response());
    }
    Ok(OpenedFile {
        handle,
        status,
        start,
        len,
    })
}

/// The 200 or 206 answer for an opened file: headers, and a body streamed from disk.
/// `advertised_total` is the size after the slash of `Content-Range`.
fn file_response(
    file: &GeneratedFile,
    opened: OpenedFile,
    accept_ranges: bool,
    plan: BodyPlan,
    advertised_total: u64,
    tracking: Option<Tracking>,
    in_flight: Option<InFlight>,
) -> Response {
    let OpenedFile {
        handle,
        status,
        start,
        len,
    } = opened;
    let mut response = axum::response::Response::new(file_body(handle, plan, tracking, in_flight));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if accept_ranges {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if let Ok(etag) = HeaderValue::from_str(&file.etag) {
        headers.insert(header::ETAG, etag);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {start}-{}/{advertised_total}",
            start + len - 1
        ))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_status() {
        let stats = Stats::default();
        count_answer(&stats, StatusCode::OK, false);
        count_answer(&stats, StatusCode::PARTIAL_CONTENT, false);
        count_answer(&stats, StatusCode::PARTIAL_CONTENT, true);
        count_answer(&stats, StatusCode::FORBIDDEN, false);
        count_answer(&stats, StatusCode::FORBIDDEN, true);
        count_answer(&stats, StatusCode::RANGE_NOT_SATISFIABLE, false);
        count_answer(&stats, StatusCode::INTERNAL_SERVER_ERROR, false);
        let s = stats.snapshot();
        assert_eq!(s.downloads, 2, "200 and 206, HEAD excluded");
        assert_eq!(s.range_downloads, 1);
        assert_eq!(s.expired_url_refusals, 2, "every 403, HEAD included");
    }

    #[test]
    fn cut_points_count_from_byte_zero() {
        // 50 % of 1000 bytes: byte 500 is never sent
        assert_eq!(cut_for_percent(50, 0, 999, 1000), Some(500));
        assert_eq!(cut_for_percent(50, 200, 999, 1000), Some(300));
        assert_eq!(
            cut_for_percent(50, 500, 999, 1000),
            Some(0),
            "starts at the cut"
        );
        assert_eq!(
            cut_for_percent(50, 800, 999, 1000),
            Some(0),
            "starts past it"
        );
        assert_eq!(cut_for_percent(50, 0, 499, 1000), None, "ends before it");
        assert_eq!(cut_for_percent(50, 0, 500, 1000), Some(500));
        assert_eq!(cut_for_percent(0, 0, 999, 1000), Some(0));
        assert_eq!(cut_for_percent(99, 0, 999, 1000), Some(990));
        assert_eq!(cut_for_percent(99, 0, 8, 9), Some(8), "floor(8.91)");
    }

    #[test]
    fn wrong_starts_differ_from_the_asked_one() {
        assert_eq!(wrong_start(100, 199, 1000), Some((99, 199)));
        assert_eq!(wrong_start(0, 199, 1000), Some((1, 199)));
        assert_eq!(wrong_start(0, 0, 1000), Some((1, 1)));
        assert_eq!(wrong_start(0, 0, 1), None);
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
