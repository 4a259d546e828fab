//! The chaos mode over HTTP: a seed decides which calls and downloads get which fault, each
//! injected fault is counted by kind in `/_sim/stats`, and every kind does what it says (429,
//! 503, a reset after the call took effect, a request that ends `Failed`, a URL that expires for
//! good, a body cut at a random byte, a stall that ends in a cut after `--chaos-stall-ms`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::*;

/// What a client saw of one call: the status, or "reset" when the connection failed.
async fn outcome(request: reqwest::RequestBuilder) -> String {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16().to_string();
            // Read the body so the connection can be used again.
            let _ = response.bytes().await;
            status
        }
        Err(e) if e.is_request() || e.is_connect() || e.is_body() => "reset".to_owned(),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

/// `n` log requests in a row (each a new one: no idempotency token), and what each answered.
async fn creates(sim: &TestSim, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let request = sim
            .client
            .post(format!("{}/api/v1/logs?type=query", sim.url))
            .bearer_auth(KEY)
            .json(&json!({"database": "us-std/ECommerce", "time_start": START, "time_end": END}));
        out.push(outcome(request).await);
    }
    out
}

const API_CHAOS: [&str; 8] = [
    "--chaos-seed",
    "11",
    "--chaos-percent",
    "40",
    "--chaos-kinds",
    "throttle,server-error,reset",
    "--retry-after",
    "0",
];

#[tokio::test]
async fn a_seed_decides_which_api_calls_fail_and_each_fault_is_counted() {
    let a = TestSim::start(&API_CHAOS).await;
    let seen = creates(&a, 60).await;
    let same = creates(&TestSim::start(&API_CHAOS).await, 60).await;
    assert_eq!(seen, same, "the same seed and calls give the same faults");
    let mut other_seed = API_CHAOS;
    other_seed[1] = "12";
    let other = creates(&TestSim::start(&other_seed).await, 60).await;
    assert_ne!(seen, other, "another seed gives other faults");

    let count = |what: &str| seen.iter().filter(|s| *s == what).count() as u64;
    let (throttled, unavailable, resets) = (count("429"), count("503"), count("reset"));
    assert_eq!(
        count("200") + throttled + unavailable + resets,
        60,
        "{seen:?}"
    );
    assert!(throttled > 0 && unavailable > 0 && resets > 0, "{seen:?}");
    // About 40 % of the calls: 24 expected, binomial spread.
    let faulted = throttled + unavailable + resets;
    assert!((10..=40).contains(&faulted), "{faulted} of 60: {seen:?}");
    let stats = a.stats().await;
    let chaos = &stats["chaos"];
    assert_eq!(chaos["api_draws"], 60, "{stats}");
    assert_eq!(chaos["throttle"], throttled, "{stats}");
    assert_eq!(chaos["server_error"], unavailable, "{stats}");
    assert_eq!(chaos["reset"], resets, "{stats}");
    assert_eq!(chaos["download_draws"], 0, "{stats}");
    // The counters of what happened count them too; a reset call took effect.
    assert_eq!(stats["throttled"], throttled, "{stats}");
    assert_eq!(stats["server_errors"], unavailable, "{stats}");
    assert_eq!(stats["connection_resets"], resets, "{stats}");
    assert_eq!(stats["requests_created"], count("200") + resets, "{stats}");
}

#[tokio::test]
async fn a_chaos_failure_ends_the_request_it_creates_failed() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--chaos-seed",
        "1",
        "--chaos-percent",
        "100",
        "--chaos-kinds",
        "failed",
    ])
    .await;
    let token = json!({"database": "us-std/ECommerce", "time_start": START, "time_end": END,
                       "idempotency_token": "3f0c1a52-0d0e-4c1e-9a55-2b1f0f6f3b11"});
    let first = sim.create_with(token.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let id = first.body["request_id"].as_str().unwrap_or_default();
    // Status calls draw too, but `failed` applies only to a call that creates a request.
    assert_eq!(sim.poll(id).await["state"], "Failed");
    // A repeat of the same token creates nothing, so nothing is failed by it.
    let again = sim.create_with(token).await;
    assert_eq!(again.body["request_id"], first.body["request_id"]);
    let stats = sim.stats().await;
    assert_eq!(stats["chaos"]["failed"], 1, "{stats}");
    assert_eq!(stats["chaos"]["api_draws"], 3, "{stats}");
    assert_eq!(
        (stats["throttled"].as_u64(), stats["server_errors"].as_u64()),
        (Some(0), Some(0))
    );
}

/// A Complete request under chaos that touches only downloads; its id, URL and file.
async fn ready(sim: &TestSim) -> (String, String, Vec<u8>) {
    let id = sim.create().await;
    let url = url_of(&sim.complete(&id).await);
    let file = sim.file_bytes(&id).await;
    (id, url, file)
}

fn download_chaos(kinds: &'static str) -> [&'static str; 8] {
    [
        "--polls-to-complete",
        "0",
        "--chaos-seed",
        "5",
        "--chaos-percent",
        "100",
        "--chaos-kinds",
        kinds,
    ]
}

#[tokio::test]
async fn an_expired_url_stays_expired_until_renewed() {
    let sim = TestSim::start(&download_chaos("expired-url")).await;
    let (id, url, _) = ready(&sim).await;
    for _ in 0..2 {
        let response = sim.get_file(&url, None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let text = response.text().await.unwrap_or_default();
        assert!(text.contains("Request has expired"), "{text}");
    }
    let stats = sim.stats().await;
    // The second refusal is the URL's own expiry: no draw, no new fault.
    assert_eq!(
        (
            stats["chaos"]["expired_url"].as_u64(),
            stats["chaos"]["download_draws"].as_u64(),
            stats["expired_url_refusals"].as_u64(),
            stats["downloads"].as_u64(),
        ),
        (Some(1), Some(1), Some(2), Some(0)),
        "{stats}"
    );
    // A renewal gives a URL that works until its own draw expires it.
    let renewed = url_of(&sim.renew(&id).await);
    assert_ne!(renewed, url);
    assert_eq!(
        sim.get_file(&renewed, None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(sim.stats().await["chaos"]["expired_url"], 2);
}

#[tokio::test]
async fn a_dropped_download_sends_a_prefix_then_is_cut() {
    let sim = TestSim::start(&download_chaos("drop")).await;
    let (_, url, file) = ready(&sim).await;
    let (got, failed) = read_body(sim.get_file(&url, None).await).await;
    assert!(failed, "the body must end in an error");
    assert!(got.len() < file.len() && got == file[..got.len()]);
    // Resumed where it stopped: cut again, inside the rest.
    let from = got.len();
    let response = sim.get_file(&url, Some(&format!("bytes={from}-"))).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let (rest, failed) = read_body(response).await;
    assert!(failed && from + rest.len() < file.len());
    assert_eq!(rest, file[from..from + rest.len()]);
    let stats = sim.stats().await;
    assert_eq!(stats["chaos"]["drop"], 2, "{stats}");
    assert_eq!(stats["cut_downloads"], 2, "{stats}");
    assert_eq!(stats["downloads"], 2, "{stats}");
}

#[tokio::test]
async fn a_stalled_download_is_cut_after_the_stall() {
    let mut args = download_chaos("stall").to_vec();
    args.extend(["--chaos-stall-ms", "400"]);
    let sim = TestSim::start(&args).await;
    let (_, url, file) = ready(&sim).await;
    let started = Instant::now();
    let mut response = sim.get_file(&url, None).await;
    let mut got = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the stalled body must end in a cut, soon");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the cut comes after the stall"
    );
    assert!(got.len() < file.len() && got == file[..got.len()]);
    let stats = wait_for_stat(&sim, "in_flight_downloads", 0).await;
    assert_eq!(stats["chaos"]["stall"], 1, "{stats}");
    assert_eq!(stats["stalled_downloads"], 1, "{stats}");
}

#[tokio::test]
async fn a_seed_decides_where_downloads_are_cut() {
    async fn cuts() -> Vec<(usize, bool)> {
        let sim = TestSim::start(&[
            "--polls-to-complete",
            "0",
            "--chaos-seed",
            "9",
            "--chaos-percent",
            "60",
            "--chaos-kinds",
            "drop",
        ])
        .await;
        let (_, url, file) = ready(&sim).await;
        let mut seen = Vec::new();
        for _ in 0..8 {
            let (got, failed) = read_body(sim.get_file(&url, None).await).await;
            assert_eq!(got, file[..got.len()]);
            seen.push((got.len(), failed));
        }
        seen
    }
    let (a, b) = (cuts().await, cuts().await);
    assert_eq!(a, b);
    assert!(
        a.iter().any(|(_, cut)| *cut) && a.iter().any(|(_, cut)| !cut),
        "{a:?}"
    );
}
