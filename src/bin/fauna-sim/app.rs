//! The simulator's shared state and HTTP routes.
//!
//! Owns [`Sim`] (configuration, request store, faults, counters, file cache), shared by every
//! handler, and the router that ties the API, the file host and the `/_sim/` inspection
//! endpoints together.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use tracing::debug;

use crate::api;
use crate::faults::Faults;
use crate::files::{self, FileCache};
use crate::logfile::FileSpec;
use crate::state::{LogRequest, Store};
use crate::stats::{Stats, StatsSnapshot};

/// Everything the handlers share.
pub struct Sim {
    pub account_key: String,
    pub region_groups: Vec<String>,
    /// Scheme, host and port written into presigned URLs.
    pub base_url: String,
    pub seed: u64,
    pub file_size: u64,
    pub store: Store,
    pub faults: Faults,
    pub stats: Stats,
    pub files: Arc<FileCache>,
}

impl Sim {
    /// What decides the bytes of a request's file.
    pub fn file_spec(&self, request: &LogRequest) -> FileSpec {
        FileSpec {
            seed: self.seed,
            time_start: request.time_start,
            time_end: request.time_end,
            region_group: request.scope.region_group.clone(),
            database: request.scope.database_segments(),
            target_size: self.file_size,
            corrupt: self.faults.corrupt_gzip,
            truncate: self.faults.truncate_gzip,
        }
    }
}

/// All routes.
pub fn router(sim: Arc<Sim>) -> Router {
    // Full paths rather than `nest`, so handlers see (and report) the path the client sent.
    let api = Router::new()
        .route("/api/v1/logs", post(api::create_logs))
        .route("/api/v1/logs/{request_id}", get(api::get_status))
        .route("/api/v1/logs/{request_id}/url", post(api::renew_url))
        // Unknown API paths still pass the account-key check first.
        .route("/api/v1/{*rest}", any(api::not_found))
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&sim), api::guard));
    Router::new()
        .route("/files/{file}", get(files::download))
        .route("/_sim/requests/{request_id}/file", get(files::sim_file))
        .route("/_sim/stats", get(stats))
        .method_not_allowed_fallback(api::method_not_allowed)
        .merge(api)
        .fallback(api::not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(sim)
}

/// `GET /_sim/stats`
async fn stats(State(sim): State<Arc<Sim>>) -> Json<StatsSnapshot> {
    Json(sim.stats.snapshot())
}

/// One debug line per HTTP request. Only the path is logged: a presigned URL's query string
/// is a credential.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    debug!(
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "http"
    );
    response
}
