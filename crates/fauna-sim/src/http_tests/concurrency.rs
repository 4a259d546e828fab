//! Concurrency peaks over HTTP: API calls held open by slow answers, downloads held open by a
//! stall, and open/active log requests.

use super::*;

#[tokio::test]
async fn the_peak_of_concurrent_api_calls_is_recorded() {
    let sim = TestSim::start(&["--slow-responses", "3", "--slow-response-ms", "3000"]).await;
    let sim = Arc::new(sim);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let sim = Arc::clone(&sim);
            tokio::spawn(async move { sim.create().await })
        })
        .collect();
    // All three are held open at once (observed, not assumed)...
    let during = wait_for_stat(&sim, "in_flight_api_calls", 3).await;
    assert_eq!(during["max_in_flight_api_calls"], 3);
    for call in calls {
        call.await.unwrap_or_else(|e| panic!("{e}"));
    }
    // ...and the peak stays when they are done; a later call alone does not raise it.
    sim.create().await;
    let after = sim.stats().await;
    assert_eq!(
        (
            after["in_flight_api_calls"].as_u64(),
            after["max_in_flight_api_calls"].as_u64()
        ),
        (Some(0), Some(3)),
        "{after}"
    );
}

#[tokio::test]
async fn the_peak_of_concurrent_downloads_is_recorded() {
    let sim = TestSim::start(&["--polls-to-complete", "0", "--stall-download-after", "100"]).await;
    let id = sim.create().await;
    let url = url_of(&sim.complete(&id).await);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut response = sim.get_file(&url, None).await;
        assert_eq!(read_at_least(&mut response, 100).await.len(), 100);
        held.push(response);
    }
    let stats = sim.stats().await;
    assert_eq!(
        (
            stats["in_flight_downloads"].as_u64(),
            stats["max_in_flight_downloads"].as_u64()
        ),
        (Some(3), Some(3)),
        "{stats}"
    );
    drop(held);
}

#[tokio::test]
async fn open_and_active_requests_show_how_many_windows_ran_at_once() {
    let sim = TestSim::start(&["--polls-to-complete", "1"]).await;
    let ids = [sim.create().await, sim.create().await, sim.create().await];
    let s = sim.stats().await;
    assert_eq!(
        (s["open_requests"].as_u64(), s["active_requests"].as_u64()),
        (Some(3), Some(3))
    );
    let mut urls = Vec::new();
    for id in &ids {
        urls.push(url_of(&sim.complete(id).await));
    }
    let s = sim.stats().await;
    assert_eq!(
        (s["open_requests"].as_u64(), s["active_requests"].as_u64()),
        (Some(0), Some(3)),
        "{s}"
    );
    // a copy in two parts: the request stays active until its last byte is served
    let (first, _) = read_body(sim.get_file(&urls[0], Some("bytes=0-999")).await).await;
    assert_eq!(first.len(), 1000);
    assert_eq!(sim.stats().await["active_requests"], 3);
    read_body(sim.get_file(&urls[0], Some("bytes=1000-")).await).await;
    assert_eq!(sim.stats().await["active_requests"], 2);
    for url in &urls[1..] {
        read_body(sim.get_file(url, None).await).await;
    }
    let later = sim.create().await;
    let s = sim.stats().await;
    assert_eq!(
        (
            s["open_requests"].as_u64(),
            s["max_open_requests"].as_u64(),
            s["active_requests"].as_u64(),
            s["max_active_requests"].as_u64()
        ),
        (Some(1), Some(3), Some(1), Some(3)),
        "{s}"
    );
    assert!(!later.is_empty());
}
