//! Request states over HTTP: injected states at the Nth poll, a Complete request that changes
//! its state later, and `--fail-requests` beside the other faults.

use reqwest::StatusCode;

use super::*;

async fn states(sim: &TestSim, id: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let v = sim.poll(id).await;
        let has_url = v.get("presigned_url").is_some();
        assert_eq!(has_url, v["state"] == "Complete", "{v}");
        out.push(v["state"].as_str().unwrap_or_default().to_owned());
    }
    out
}

#[tokio::test]
async fn an_injected_state_replaces_the_nth_answer() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "1",
        "--state-at-poll",
        "2=InProgress",
        "--state-at-poll",
        "4=Pending",
    ])
    .await;
    let id = sim.create().await;
    assert_eq!(
        states(&sim, &id, 5).await,
        ["Pending", "InProgress", "Complete", "Pending", "Complete"]
    );
    assert_eq!(sim.stats().await["injected_states"], 2);
}

#[tokio::test]
async fn a_complete_request_fails_later_between_copy_steps() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--fail-after-complete",
        "2",
        "--fail-after-complete-state",
        "TimedOut",
    ])
    .await;
    let id = sim.create().await;
    let complete = sim.poll(&id).await;
    assert_eq!(complete["state"], "Complete");
    let url = url_of(&complete);
    assert_eq!(
        sim.get_file(&url, Some("bytes=0-99")).await.status(),
        StatusCode::PARTIAL_CONTENT
    );
    assert_eq!(
        states(&sim, &id, 3).await,
        ["Complete", "TimedOut", "TimedOut"]
    );
    assert_eq!(
        sim.get_file(&url, Some("bytes=100-")).await.status(),
        StatusCode::FORBIDDEN
    );
    let renew = sim.renew_with(&id, "type=query&regionGroup=us-std").await;
    assert_eq!(renew.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.stats().await["failed_after_complete"], 1);
}

#[tokio::test]
async fn only_the_first_k_requests_fail_after_complete() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--fail-after-complete",
        "1",
        "--fail-after-complete-state",
        "DoesNotExist",
        "--fail-after-complete-requests",
        "1",
    ])
    .await;
    let a = sim.create().await;
    let b = sim.create().await;
    assert_eq!(states(&sim, &a, 2).await, ["Complete", "DoesNotExist"]);
    assert_eq!(states(&sim, &b, 2).await, ["Complete", "Complete"]);
}

#[tokio::test]
async fn fail_requests_still_works_beside_the_other_faults() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "1",
        "--fail-requests",
        "1",
        "--fail-state",
        "TimedOut",
        "--state-at-poll",
        "1=InProgress",
        "--creating-new-url-polls",
        "1",
        "--fail-after-complete",
        "5",
        "--cut-every-download-at-percent",
        "50",
        "--strict-region-group",
    ])
    .await;
    let failed = sim.create().await;
    let ok = sim.create().await;
    assert_eq!(
        states(&sim, &failed, 3).await,
        ["InProgress", "TimedOut", "TimedOut"]
    );
    assert_eq!(states(&sim, &ok, 2).await, ["InProgress", "Complete"]);
    let renewed = sim.renew(&ok).await;
    assert_eq!(renewed["state"], "CreatingNewUrl");
    assert_eq!(states(&sim, &ok, 2).await, ["CreatingNewUrl", "Complete"]);
    let (_, cut) = read_body(sim.get_file(&url_of(&renewed), None).await).await;
    assert!(cut);
}
