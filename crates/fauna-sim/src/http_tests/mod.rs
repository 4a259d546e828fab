//! HTTP-level tests: the simulator's real router and listener on a loopback port, built from
//! command-line arguments exactly as the binary builds them, driven by a plain HTTP client.
//!
//! Owns the [`TestSim`] harness (start, the three API calls, downloads, stats) shared by the
//! test modules below, one per area.

mod chaos;
mod concurrency;
mod downloads;
mod region_group;
mod renewal;
mod states;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::{self, Sim};
use crate::cli::Args;
use crate::conn::{ConnHandle, ResettableListener};

pub const KEY: &str = "test-account-key";
pub const START: &str = "2099-07-10T07:46:05Z";
pub const END: &str = "2099-07-10T08:46:05Z";

/// One simulator on a loopback port, stopped and its data dir removed on drop.
pub struct TestSim {
    pub url: String,
    pub client: reqwest::Client,
    dir: PathBuf,
    server: JoinHandle<()>,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response's status and JSON body (`Null` when it has none).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl TestSim {
    /// Starts a simulator with `--account-key KEY --file-size 64KiB` and `extra` arguments.
    pub async fn start(extra: &[&str]) -> TestSim {
        let mut argv = vec!["fauna-sim", "--account-key", KEY];
        if !extra.contains(&"--file-size") {
            argv.extend(["--file-size", "64KiB"]);
        }
        argv.extend(extra);
        let args = Args::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        args.validate().unwrap_or_else(|e| panic!("{e}"));
        let dir =
            std::env::temp_dir().join(format!("fauna-sim-http-test-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://{addr}");
        let sim = Arc::new(Sim::from_args(
            &args,
            url.clone(),
            dir.clone(),
            Arc::new(AtomicBool::new(false)),
        ));
        let service = app::router(sim).into_make_service_with_connect_info::<ConnHandle>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(ResettableListener(listener), service).await;
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        TestSim {
            url,
            client,
            dir,
            server,
        }
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// `POST /api/v1/logs?type=query` with `body`.
    pub async fn create_with(&self, body: Value) -> Answer {
        let request = self
            .client
            .post(format!("{}/api/v1/logs?type=query", self.url))
            .bearer_auth(KEY)
            .json(&body);
        self.answer(request).await
    }

    /// A new request for `us-std/ECommerce` over [START, END); its id.
    pub async fn create(&self) -> String {
        let a = self
            .create_with(
                json!({"database": "us-std/ECommerce", "time_start": START, "time_end": END}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body["request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no request_id: {}", a.body))
            .to_owned()
    }

    /// `GET /api/v1/logs/{id}?{query}`.
    pub async fn poll_with(&self, id: &str, query: &str) -> Answer {
        let request = self
            .client
            .get(format!("{}/api/v1/logs/{id}?{query}", self.url))
            .bearer_auth(KEY);
        self.answer(request).await
    }

    /// A status poll as Fauna's samples send it; must answer 200.
    pub async fn poll(&self, id: &str) -> Value {
        let a = self.poll_with(id, "type=query&regionGroup=us-std").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    /// `POST /api/v1/logs/{id}/url?{query}`.
    pub async fn renew_with(&self, id: &str, query: &str) -> Answer {
        let request = self
            .client
            .post(format!("{}/api/v1/logs/{id}/url?{query}", self.url))
            .bearer_auth(KEY);
        self.answer(request).await
    }

    /// A renewal as the guide sends it; must answer 200.
    pub async fn renew(&self, id: &str) -> Value {
        let a = self.renew_with(id, "type=query&regionGroup=us-std").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    /// Polls until `Complete` (at most 20 polls); the answer.
    pub async fn complete(&self, id: &str) -> Value {
        for _ in 0..20 {
            let v = self.poll(id).await;
            if v["state"] == "Complete" {
                return v;
            }
        }
        panic!("request {id} did not complete");
    }

    /// `GET /_sim/stats`.
    pub async fn stats(&self) -> Value {
        let a = self
            .answer(self.client.get(format!("{}/_sim/stats", self.url)))
            .await;
        a.body
    }

    /// The exact file bytes of a request.
    pub async fn file_bytes(&self, id: &str) -> Vec<u8> {
        let r = self
            .client
            .get(format!("{}/_sim/requests/{id}/file", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap_or_else(|e| panic!("{e}")).to_vec()
    }

    /// Starts a download of `url` (with an optional `Range` header).
    pub async fn get_file(&self, url: &str, range: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(url);
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        request.send().await.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The body read to its end: the bytes received, and whether it ended in an error (a cut).
pub async fn read_body(mut response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            Ok(None) => return (got, false),
            Err(_) => return (got, true),
        }
    }
}

/// Reads until `want` bytes arrived (or the body ends); the bytes.
pub async fn read_at_least(response: &mut reqwest::Response, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        match response.chunk().await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            _ => break,
        }
    }
    got
}

/// The URL of a JSON answer.
pub fn url_of(v: &Value) -> String {
    v["presigned_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no presigned_url: {v}"))
        .to_owned()
}

/// Polls `/_sim/stats` until `field` reaches `want` (a deadline, not a sleep, bounds it).
pub async fn wait_for_stat(sim: &TestSim, field: &str, want: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stats = sim.stats().await;
        if stats[field].as_u64() == Some(want) {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{field} never reached {want}: {stats}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
