//! The simulator's shared state and HTTP routes.
//!
//! Owns [`Sim`] (configuration, request store, faults, counters, file cache), shared by every
//! handler, and the router that ties the API, the file host and the `/_sim/` inspection
//! endpoints together.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use chrono::{DateTime, Utc};
use tracing::debug;

use crate::api;
use crate::cli::Args;
use crate::faults::Faults;
use crate::filecache::FileCache;
use crate::files;
use crate::logfile::FileSpec;
use crate::renewal::RenewalHold;
use crate::state::LogState;
use crate::stats::{Stats, StatsSnapshot};
use crate::store::{Lifecycle, LogRequest, Store};

/// Everything the handlers share.
pub struct Sim {
    pub account_key: String,
    pub region_groups: Vec<String>,
    /// Scheme, host and port written into presigned URLs.
    pub base_url: String,
    pub seed: u64,
    pub file_size: u64,
    /// `--file-size-for`: the file size of some databases' requests.
    pub file_sizes: HashMap<String, u64>,
    pub store: Store,
    pub faults: Faults,
    pub stats: Arc<Stats>,
    pub files: Arc<FileCache>,
    /// How long a renewal stays `CreatingNewUrl` when no renewal fault applies.
    pub renewal_hold: RenewalHold,
    /// The renewal's answer carries no URL.
    pub renewal_answer_without_url: bool,
    /// Refuse status and renewal calls without the request's `regionGroup`.
    pub strict_region_group: bool,
    /// The clock every time the simulator shows or compares is read from (see [`Sim::now`]).
    clock: (tokio::time::Instant, DateTime<Utc>),
}

impl Sim {
    /// The simulator `args` describe, writing presigned URLs under `base_url` and files into
    /// `data_dir`; `cancel` stops file generation.
    pub fn from_args(
        args: &Args,
        base_url: String,
        data_dir: PathBuf,
        cancel: Arc<AtomicBool>,
    ) -> Sim {
        let stats = Arc::new(Stats::default());
        let f = &args.faults;
        let lifecycle = Lifecycle {
            polls_to_complete: args.polls_to_complete,
            unknown_state: f.unknown_state.clone(),
            url_lifetime_secs: args.url_lifetime_seconds,
            state_at_poll: f
                .state_at_poll
                .iter()
                .map(|(n, name)| (*n, LogState::from_name(name)))
                .collect(),
            fail_after_complete: f
                .fail_after_complete
                .map(|n| (n, f.fail_after_complete_state.into())),
        };
        Sim {
            account_key: args.account_key.clone(),
            region_groups: args
                .region_groups
                .iter()
                .map(|g| g.trim().to_owned())
                .collect(),
            base_url,
            seed: args.seed,
            file_size: args.file_size,
            file_sizes: args.file_size_for.iter().cloned().collect(),
            store: Store::new(lifecycle, Arc::clone(&stats)),
            faults: Faults::from_args(f),
            stats,
            files: Arc::new(FileCache::new(data_dir, cancel)),
            renewal_hold: RenewalHold {
                polls: args.creating_new_url_polls,
                seconds: Some(args.creating_new_url_seconds),
            },
            renewal_answer_without_url: args.renewal_answer_without_url,
            strict_region_group: args.strict_region_group,
            clock: (tokio::time::Instant::now(), Utc::now()),
        }
    }

    /// The time now, as tokio's clock tells it: the wall clock when the simulator started plus
    /// the time tokio says has passed since. Outside a test that is the wall clock; in a runtime
    /// whose clock a test paused, time passes only as the test lets it, for the simulator and
    /// the exporter alike (a renewal held for three minutes then takes no time).
    pub fn now(&self) -> DateTime<Utc> {
        let (at, wall) = self.clock;
        let passed = tokio::time::Instant::now().saturating_duration_since(at);
        wall + chrono::TimeDelta::from_std(passed).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// What decides the bytes of a request's file.
    pub fn file_spec(&self, request: &LogRequest) -> FileSpec {
        FileSpec {
            seed: self.seed,
            time_start: request.time_start,
            time_end: request.time_end,
            region_group: request.scope.region_group.clone(),
            database: request.scope.database_segments(),
            target_size: request
                .scope
                .database
                .as_ref()
                .and_then(|db| self.file_sizes.get(db))
                .copied()
                .unwrap_or(self.file_size),
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
