//! The Fauna Account API logs endpoints (`/api/v1/...`).
//!
//! Owns the JSON error shape `{"code","reason"}`, the guard every API call passes (in-flight
//! gauge, account-key check, the chaos draw, the throttle and server-error faults before the
//! handler, the slow-response and connection-reset faults after it), the query-string checks (`type=query`,
//! and `regionGroup` under `--strict-region-group`), and the three handlers: request logs, poll
//! status, and create a new file URL.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::{debug, info};

use crate::app::Sim;
use crate::chaos::{ChaosKind, FailThisRequest};
use crate::conn::ConnHandle;
use crate::files::same_secret;
use crate::logfile::millisecond_slots;
use crate::state::{CreateLogsBody, LogState, NewRequest};
use crate::stats::bump;
use crate::store::{Fate, LogRequest, RenewError, RequestView};

/// An API error answer: `{"code": "...", "reason": "..."}` as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    reason: String,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    reason: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status,
            code,
            reason: reason.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", reason)
    }
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", reason)
    }
    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid or missing account key",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            reason: &self.reason,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Runs around every `/api/v1` handler: counts the call, checks the account key, draws its
/// chaos fault (if the mode is on), then applies the throttle and server-error faults (in that
/// order). A call that gets through takes effect; then the slow-response fault may hold its
/// answer back and the reset fault may drop it, resetting the connection, as if the answer were
/// lost on the way.
pub async fn guard(State(sim): State<Arc<Sim>>, mut request: Request, next: Next) -> Response {
    bump(&sim.stats.api_calls);
    let _in_flight = sim.stats.in_flight_api_calls.enter();
    if !authorized(request.headers(), &sim.account_key) {
        bump(&sim.stats.unauthorized);
        return ApiError::unauthorized().into_response();
    }
    let chaos = sim.faults.chaos.as_ref().and_then(|chaos| {
        let creates = request.method() == Method::POST && request.uri().path() == "/api/v1/logs";
        chaos.api_call(&sim.stats.chaos, creates)
    });
    if chaos == Some(ChaosKind::Failed) {
        request.extensions_mut().insert(FailThisRequest);
    }
    if chaos == Some(ChaosKind::Throttle) || sim.faults.throttle.take() {
        if chaos == Some(ChaosKind::Throttle) {
            bump(&sim.stats.chaos.throttle);
        }
        bump(&sim.stats.throttled);
        info!(path = %request.uri().path(), "fault: throttling API call");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests; retry after the Retry-After delay",
        );
        e.retry_after = Some(sim.faults.retry_after_secs);
        return e.into_response();
    }
    let calls = 1 + sim
        .faults
        .api_calls
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let down_for_good = sim.faults.server_errors_after.is_some_and(|n| calls > n);
    if chaos == Some(ChaosKind::ServerError) || down_for_good || sim.faults.server_errors.take() {
        if chaos == Some(ChaosKind::ServerError) {
            bump(&sim.stats.chaos.server_error);
        }
        bump(&sim.stats.server_errors);
        info!(path = %request.uri().path(), "fault: answering 503");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal_error",
            "The service is temporarily unavailable; please retry",
        )
        .into_response();
    }
    let path = request.uri().path().to_owned();
    let conn = request
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|info| info.0.clone());
    let response = next.run(request).await;
    if sim.faults.slow_responses.take() {
        bump(&sim.stats.slow_responses);
        let delay = sim.faults.slow_response;
        info!(%path, delay_ms = delay.as_millis() as u64, "fault: answering late");
        tokio::time::sleep(delay).await;
    }
    if chaos == Some(ChaosKind::Reset) || sim.faults.reset_connections.take() {
        let Some(conn) = conn else {
            return ApiError::internal(
                "fault: cannot reset a connection the server did not accept",
            )
            .into_response();
        };
        if chaos == Some(ChaosKind::Reset) {
            bump(&sim.stats.chaos.reset);
        }
        bump(&sim.stats.connection_resets);
        info!(%path, "fault: resetting the connection instead of answering");
        conn.reset();
    }
    response
}

/// `Authorization: Bearer <account key>` (scheme name case-insensitive).
fn authorized(headers: &HeaderMap, key: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && same_secret(token.trim().as_bytes(), key.as_bytes())
}

type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The query string, with the required `type=query` parameter checked.
fn check_type(query: QueryParams) -> Result<HashMap<String, String>, ApiError> {
    let Query(params) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    match params.get("type").map(String::as_str) {
        Some("query") => Ok(params),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid type `{other}`; the only valid value is `query`"
        ))),
        None => Err(ApiError::bad_request(
            "the query parameter type is required (type=query)",
        )),
    }
}

/// `--strict-region-group`: the `regionGroup` parameter must name the request's region group.
/// `region_group` is `None` for an unknown request (then only a missing parameter is refused
/// here, and the handler answers 404).
fn check_region_group(
    sim: &Sim,
    params: &HashMap<String, String>,
    region_group: Option<&str>,
) -> Result<(), ApiError> {
    if !sim.strict_region_group {
        return Ok(());
    }
    let refusal = match (params.get("regionGroup"), region_group) {
        (None, _) => Some(
            "the query parameter regionGroup is required (regionGroup=<the request's region group>)"
                .to_owned(),
        ),
        (Some(given), Some(expected)) if given != expected => Some(format!(
            "the query parameter regionGroup is `{given}`, but the request belongs to region group `{expected}`"
        )),
        _ => None,
    };
    match refusal {
        Some(reason) => {
            bump(&sim.stats.region_group_refusals);
            info!("refusing a call without the request's regionGroup");
            Err(ApiError::bad_request(reason))
        }
        None => Ok(()),
    }
}

fn request_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(format!("invalid request id: {e}")))
}

/// `POST /api/v1/logs?type=query`
pub async fn create_logs(
    State(sim): State<Arc<Sim>>,
    fail_this: Option<Extension<FailThisRequest>>,
    query: QueryParams,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    check_type(query)?;
    let body = body.map_err(|e| ApiError::bad_request(format!("cannot read body: {e}")))?;
    let body: CreateLogsBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be a JSON object of the request fields: {e}"
        ))
    })?;
    let new = NewRequest::validate(body, &sim.region_groups).map_err(ApiError::bad_request)?;
    let faults = &sim.faults;
    let (request, created) = sim.store.create(new, sim.now(), |new| {
        if faults.does_not_exist || millisecond_slots(new.time_start, new.time_end).is_none() {
            LogState::DoesNotExist.into()
        } else if fail_this.is_some() {
            bump(&sim.stats.chaos.failed);
            info!("fault (chaos): the request will end Failed");
            LogState::Failed.into()
        } else if faults.fail_requests.take() {
            faults.fail_state.clone().into()
        } else {
            Fate {
                final_state: LogState::Complete,
                fails_after_complete: faults.fail_after_complete_requests.take(),
            }
        }
    });
    bump(&sim.stats.log_requests);
    if created {
        bump(&sim.stats.requests_created);
        info!(
            request_id = %request.id,
            region_group = %request.scope.region_group,
            database = request.scope.database.as_deref().unwrap_or("-"),
            final_state = request.final_state.as_str(),
            "log request created"
        );
    } else {
        info!(request_id = %request.id, "idempotency token reused; returning the existing request");
    }
    Ok(Json(request.view(&sim.base_url)))
}

/// The region group of a known request, for the `regionGroup` check.
fn region_group_of(sim: &Sim, id: &str) -> Option<String> {
    sim.store.get(id).map(|r: LogRequest| r.scope.region_group)
}

/// `GET /api/v1/logs/{request_id}?type=query&regionGroup=..`
pub async fn get_status(
    State(sim): State<Arc<Sim>>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
) -> Result<Json<RequestView>, ApiError> {
    let id = request_id(path)?;
    let params = check_type(query)?;
    check_region_group(&sim, &params, region_group_of(&sim, &id).as_deref())?;
    let polled = sim
        .store
        .poll(&id, sim.now(), &sim.faults.expired_urls)
        .ok_or_else(|| ApiError::not_found(format!("No log request with id {id}")))?;
    bump(&sim.stats.status_polls);
    if polled.injected {
        bump(&sim.stats.injected_states);
    }
    if polled.failed_late {
        bump(&sim.stats.failed_after_complete);
        info!(request_id = %id, state = polled.request.reported.as_str(), "fault: a Complete request changed its state");
    }
    let request = polled.request;
    debug!(
        request_id = %id,
        state = request.reported.as_str(),
        version = request.version,
        poll = request.polls,
        "status poll"
    );
    Ok(Json(request.view(&sim.base_url)))
}

/// `POST /api/v1/logs/{request_id}/url?type=query&regionGroup=..`
pub async fn renew_url(
    State(sim): State<Arc<Sim>>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
) -> Result<Json<RequestView>, ApiError> {
    let id = request_id(path)?;
    let params = check_type(query)?;
    check_region_group(&sim, &params, region_group_of(&sim, &id).as_deref())?;
    let renewed = sim
        .store
        .renew(&id, sim.now(), &sim.faults.expired_urls, || {
            sim.faults.renewal_hold(sim.renewal_hold)
        })
        .map_err(|e| match e {
            RenewError::NotFound => ApiError::not_found(format!("No log request with id {id}")),
            RenewError::NotComplete(state) => ApiError::bad_request(format!(
                "a new URL can only be created for a Complete request; request {id} is {state}"
            )),
        })?;
    bump(&sim.stats.url_renewals);
    let request = renewed.request;
    if renewed.started {
        info!(
            request_id = %id,
            version = request.version,
            creating = request.renewal.is_some(),
            "new presigned URL issued"
        );
    } else {
        info!(request_id = %id, "renewal already in progress; repeating it");
    }
    Ok(Json(request.renewal_view(
        &sim.base_url,
        sim.renewal_answer_without_url,
    )))
}

/// Unknown paths.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route for {method} {}", uri.path()))
}

/// Known paths, wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn bearer_auth() {
        assert!(authorized(&headers("Bearer secret"), "secret"));
        assert!(authorized(&headers("bearer secret"), "secret"));
        assert!(!authorized(&headers("Bearer secre"), "secret"));
        assert!(!authorized(&headers("Basic secret"), "secret"));
        assert!(!authorized(&headers("secret"), "secret"));
        assert!(!authorized(&HeaderMap::new(), "secret"));
    }
}
