//! The file host's faults over HTTP: the cut at P % on every download, the stall, the pace,
//! wrong `Content-Range` answers, redirects, and `bytes_served`.

use std::time::Duration;

use reqwest::StatusCode;

use super::*;

/// A Complete request and its presigned URL.
async fn ready(sim: &TestSim) -> (String, String) {
    let id = sim.create().await;
    let url = url_of(&sim.complete(&id).await);
    (id, url)
}

#[tokio::test]
async fn every_download_is_cut_at_p_percent_of_the_file() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--cut-every-download-at-percent",
        "40",
    ])
    .await;
    let (id, url) = ready(&sim).await;
    let file = sim.file_bytes(&id).await;
    let cut = file.len() * 40 / 100;
    for _ in 0..3 {
        let (got, failed) = read_body(sim.get_file(&url, None).await).await;
        assert!(failed, "the body must end in an error");
        assert_eq!(got, file[..cut], "cut at {cut} of {}", file.len());
    }
    // a resumed download gets only up to the same point, counted from byte 0
    let from = 1000;
    let response = sim.get_file(&url, Some(&format!("bytes={from}-"))).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let (got, failed) = read_body(response).await;
    assert!(failed);
    assert_eq!(got, file[from..cut]);
    // a range starting at or past the cut point sends nothing
    for start in [cut, cut + 10] {
        let response = sim.get_file(&url, Some(&format!("bytes={start}-"))).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let (got, failed) = read_body(response).await;
        assert!(failed && got.is_empty(), "{start}: {} bytes", got.len());
    }
    // a range that ends before it is served whole
    let (got, failed) = read_body(sim.get_file(&url, Some("bytes=0-99")).await).await;
    assert!(!failed);
    assert_eq!(got, file[..100]);
    let stats = sim.stats().await;
    assert_eq!(stats["cut_downloads"], 6, "{stats}");
    assert_eq!(
        stats["bytes_served"],
        (3 * cut + (cut - from) + 100) as u64,
        "{stats}"
    );
}

#[tokio::test]
async fn a_stalled_download_goes_silent_and_stays_open() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--stall-download-after",
        "1000",
        "--stall-downloads",
        "1",
    ])
    .await;
    let (id, url) = ready(&sim).await;
    let file = sim.file_bytes(&id).await;
    let mut stalled = sim.get_file(&url, None).await;
    let got = read_at_least(&mut stalled, 1000).await;
    assert_eq!(got, file[..1000]);
    // No more bytes arrive, and the connection does not end, within a client read timeout.
    let next = tokio::time::timeout(Duration::from_millis(500), stalled.chunk()).await;
    assert!(next.is_err(), "expected silence, got {next:?}");
    let stats = sim.stats().await;
    assert_eq!(
        (
            stats["stalled_downloads"].as_u64(),
            stats["in_flight_downloads"].as_u64()
        ),
        (Some(1), Some(1)),
        "{stats}"
    );
    // only the first download stalls
    let (got, failed) = read_body(sim.get_file(&url, None).await).await;
    assert!(!failed);
    assert_eq!(got, file);
    // When the client gives up, the stalled body is dropped and no longer in flight.
    drop(stalled);
    wait_for_stat(&sim, "in_flight_downloads", 0).await;
}

#[tokio::test]
async fn a_paced_download_is_served_a_little_at_a_time() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--file-size",
        "256KiB",
        "--download-bytes-per-second",
        "20000",
    ])
    .await;
    let (id, url) = ready(&sim).await;
    let len = sim.file_bytes(&id).await.len() as u64;
    assert!(len > 200_000, "{len}");
    let mut response = sim.get_file(&url, None).await;
    let first = read_at_least(&mut response, 1).await;
    assert!(!first.is_empty());
    // Unpaced, the whole file is handed to the loopback connection at once, long before the 20
    // API round trips below end (the client reads nothing meanwhile). Paced at 20 kB/s it
    // takes over 10 s, so far from all of it has been served by then.
    let mut served = 0;
    for _ in 0..20 {
        served = sim.stats().await["bytes_served"]
            .as_u64()
            .unwrap_or(u64::MAX);
    }
    assert!(served < len / 2, "served {served} of {len}");
    drop(response);
}

#[tokio::test]
async fn a_wrong_content_range_names_another_start() {
    let sim = TestSim::start(&["--polls-to-complete", "0", "--wrong-content-range", "1"]).await;
    let (id, url) = ready(&sim).await;
    let file = sim.file_bytes(&id).await;
    let len = file.len();
    // a download without Range is not affected and does not use up the fault
    let (got, _) = read_body(sim.get_file(&url, None).await).await;
    assert_eq!(got, file);
    let response = sim.get_file(&url, Some("bytes=1000-")).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let header = response.headers()["content-range"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(header, format!("bytes 999-{}/{len}", len - 1));
    let (got, failed) = read_body(response).await;
    assert!(!failed);
    assert_eq!(got, file[999..], "the body is what the header names");
    let response = sim.get_file(&url, Some("bytes=1000-")).await;
    let header = response.headers()["content-range"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        header,
        format!("bytes 1000-{}/{len}", len - 1),
        "only the first N"
    );
    assert_eq!(sim.stats().await["wrong_content_ranges"], 1);
}

#[tokio::test]
async fn a_wrong_content_range_can_name_another_total() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--wrong-content-range",
        "2",
        "--wrong-content-range-field",
        "total",
    ])
    .await;
    let (id, url) = ready(&sim).await;
    let file = sim.file_bytes(&id).await;
    let len = file.len();
    for _ in 0..2 {
        let response = sim.get_file(&url, Some("bytes=0-99")).await;
        let header = response.headers()["content-range"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(header, format!("bytes 0-99/{}", len + 1));
        let (got, _) = read_body(response).await;
        assert_eq!(got, file[..100]);
    }
    let response = sim.get_file(&url, Some("bytes=0-99")).await;
    let header = response.headers()["content-range"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(header, format!("bytes 0-99/{len}"));
}

#[tokio::test]
async fn bytes_served_counts_body_bytes_of_file_downloads_only() {
    let sim = TestSim::start(&["--polls-to-complete", "0"]).await;
    let (id, url) = ready(&sim).await;
    let len = sim.file_bytes(&id).await.len() as u64;
    assert_eq!(
        sim.stats().await["bytes_served"],
        0,
        "the /_sim/ copy is not counted"
    );
    read_body(sim.get_file(&url, None).await).await;
    read_body(sim.get_file(&url, Some("bytes=100-")).await).await;
    let head = sim
        .client
        .head(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(head.status(), StatusCode::OK);
    let stats = sim.stats().await;
    assert_eq!(stats["bytes_served"], len + (len - 100), "{stats}");
    assert_eq!(stats["downloads"], 2);
}

#[tokio::test]
async fn downloads_can_be_redirected_elsewhere() {
    let target = "http://169.254.169.254/latest/meta-data/";
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--redirect-downloads-to",
        target,
    ])
    .await;
    let (_, url) = ready(&sim).await;
    for request in [
        sim.client.get(&url),
        sim.client.head(&url),
        sim.client.get(format!("{}/files/x.jsonl.gz", sim.url)),
    ] {
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(response.headers()["location"], target);
    }
    let stats = sim.stats().await;
    assert_eq!(
        (stats["redirects"].as_u64(), stats["downloads"].as_u64()),
        (Some(3), Some(0))
    );

    let sim = TestSim::start(&[
        "--redirect-downloads-to",
        target,
        "--redirect-status",
        "302",
    ])
    .await;
    let response = sim
        .get_file(&format!("{}/files/x.jsonl.gz", sim.url), None)
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
}
