//! URL renewal over HTTP: the `CreatingNewUrl` hold, the answer's forms, the 403 of a URL that
//! is not ready yet, and the slow and stuck renewal faults.

use reqwest::StatusCode;

use super::*;

#[tokio::test]
async fn a_held_renewal_reports_creating_new_url_without_a_url_until_it_is_done() {
    let sim = TestSim::start(&["--polls-to-complete", "1", "--creating-new-url-polls", "2"]).await;
    let id = sim.create().await;
    assert_eq!(sim.poll(&id).await["state"], "Pending");
    let complete = sim.poll(&id).await;
    assert_eq!(
        (complete["state"].as_str(), complete["version"].as_u64()),
        (Some("Complete"), Some(1))
    );
    let old = url_of(&complete);
    assert_eq!(sim.get_file(&old, None).await.status(), StatusCode::OK);

    let renewed = sim.renew(&id).await;
    assert_eq!(renewed["state"], "CreatingNewUrl");
    assert_eq!(renewed["version"], 2);
    let new = url_of(&renewed);
    assert_ne!(new, old);
    assert_eq!(
        renewed["presigned_url_expiration_time"], complete["presigned_url_expiration_time"],
        "as in the guide, the answer repeats the previous expiry"
    );
    assert_eq!(
        sim.get_file(&old, None).await.status(),
        StatusCode::FORBIDDEN,
        "superseded"
    );
    assert_eq!(
        sim.get_file(&new, None).await.status(),
        StatusCode::FORBIDDEN,
        "not ready"
    );

    for _ in 0..2 {
        let creating = sim.poll(&id).await;
        assert_eq!(creating["state"], "CreatingNewUrl");
        assert_eq!(creating["version"], 2);
        assert!(creating.get("presigned_url").is_none(), "{creating}");
        assert!(
            creating.get("presigned_url_expiration_time").is_none(),
            "{creating}"
        );
    }
    // Two CreatingNewUrl answers given: the new URL works, even before the next poll.
    let response = sim.get_file(&new, Some("bytes=10-")).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let done = sim.poll(&id).await;
    assert_eq!(
        (done["state"].as_str(), done["version"].as_u64()),
        (Some("Complete"), Some(3))
    );
    assert_eq!(url_of(&done), new);
    assert_ne!(
        done["presigned_url_expiration_time"],
        serde_json::Value::Null
    );
    assert_eq!(
        sim.get_file(&old, None).await.status(),
        StatusCode::FORBIDDEN
    );

    let stats = sim.stats().await;
    assert_eq!(stats["not_ready_url_refusals"], 1, "{stats}");
    assert_eq!(stats["expired_url_refusals"], 3, "{stats}");
    assert_eq!(
        (
            stats["url_renewals"].as_u64(),
            stats["renewals_completed"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn the_renewal_answer_can_leave_the_url_out() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--creating-new-url-polls",
        "1",
        "--renewal-answer-without-url",
    ])
    .await;
    let id = sim.create().await;
    sim.complete(&id).await;
    let renewed = sim.renew(&id).await;
    assert_eq!(renewed["state"], "CreatingNewUrl");
    assert!(renewed.get("presigned_url").is_none(), "{renewed}");
    assert!(
        renewed.get("presigned_url_expiration_time").is_none(),
        "{renewed}"
    );
    assert_eq!(sim.poll(&id).await["state"], "CreatingNewUrl");
    let done = sim.poll(&id).await;
    assert_eq!(done["state"], "Complete");
    assert_eq!(
        sim.get_file(&url_of(&done), None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn by_default_a_renewed_url_works_at_once_as_in_the_guide() {
    let sim = TestSim::start(&["--polls-to-complete", "0"]).await;
    let id = sim.create().await;
    let complete = sim.complete(&id).await;
    let renewed = sim.renew(&id).await;
    assert_eq!(
        (renewed["state"].as_str(), renewed["version"].as_u64()),
        (Some("CreatingNewUrl"), Some(2))
    );
    let new = url_of(&renewed);
    assert_ne!(new, url_of(&complete));
    assert_eq!(sim.get_file(&new, None).await.status(), StatusCode::OK);
    let next = sim.poll(&id).await;
    assert_eq!(
        (next["state"].as_str(), next["version"].as_u64()),
        (Some("Complete"), Some(2))
    );
    assert_eq!(url_of(&next), new);
}

#[tokio::test]
async fn a_stuck_renewal_never_completes_and_a_repeat_does_not_help() {
    let sim = TestSim::start(&["--polls-to-complete", "0", "--stuck-renewals", "1"]).await;
    let id = sim.create().await;
    sim.complete(&id).await;
    let renewed = sim.renew(&id).await;
    let new = url_of(&renewed);
    for _ in 0..5 {
        let v = sim.poll(&id).await;
        assert_eq!(v["state"], "CreatingNewUrl");
        assert!(v.get("presigned_url").is_none());
    }
    let again = sim.renew(&id).await;
    assert_eq!(
        (again["state"].as_str(), again["version"].as_u64()),
        (Some("CreatingNewUrl"), Some(2))
    );
    assert_eq!(
        url_of(&again),
        new,
        "a repeat answers the renewal in progress"
    );
    assert_eq!(
        sim.get_file(&new, None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(sim.poll(&id).await["state"], "CreatingNewUrl");
    let stats = sim.stats().await;
    assert_eq!(
        (
            stats["url_renewals"].as_u64(),
            stats["renewals_completed"].as_u64()
        ),
        (Some(2), Some(0))
    );
}

#[tokio::test]
async fn a_slow_renewal_holds_for_its_wall_time_then_renewals_are_instant_again() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--slow-renewals",
        "1",
        "--slow-renewal-seconds",
        "180",
    ])
    .await;
    let a = sim.create().await;
    sim.complete(&a).await;
    let renewed = sim.renew(&a).await;
    for _ in 0..3 {
        assert_eq!(sim.poll(&a).await["state"], "CreatingNewUrl");
    }
    assert_eq!(
        sim.get_file(&url_of(&renewed), None).await.status(),
        StatusCode::FORBIDDEN
    );
    // The fault hit one renewal: the next request's renewal is the default (instant) one.
    let b = sim.create().await;
    sim.complete(&b).await;
    let renewed = sim.renew(&b).await;
    assert_eq!(
        sim.get_file(&url_of(&renewed), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(sim.poll(&b).await["state"], "Complete");
}

#[tokio::test]
async fn a_wall_time_hold_is_creating_new_url_at_first() {
    let sim = TestSim::start(&[
        "--polls-to-complete",
        "0",
        "--creating-new-url-seconds",
        "600",
    ])
    .await;
    let id = sim.create().await;
    sim.complete(&id).await;
    let renewed = sim.renew(&id).await;
    for _ in 0..3 {
        assert_eq!(sim.poll(&id).await["state"], "CreatingNewUrl");
    }
    assert_eq!(
        sim.get_file(&url_of(&renewed), None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(sim.stats().await["not_ready_url_refusals"], 1);
}
