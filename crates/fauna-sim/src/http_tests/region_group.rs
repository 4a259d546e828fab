//! `--strict-region-group` over HTTP: status and renewal calls without the request's
//! `regionGroup` are refused 400 `{code, reason}` naming the parameter, and counted.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

fn refused(a: &Answer) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(a.body["code"], "bad_request");
    assert!(
        a.body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("regionGroup")),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn strict_region_group_refuses_missing_and_wrong_values() {
    let sim = TestSim::start(&["--polls-to-complete", "0", "--strict-region-group"]).await;
    let id = sim.create().await;
    refused(&sim.poll_with(&id, "type=query").await);
    refused(&sim.poll_with(&id, "type=query&regionGroup=eu-std").await);
    refused(&sim.poll_with(&id, "type=query&region_group=us-std").await);
    assert_eq!(
        sim.stats().await["status_polls"],
        0,
        "refused calls do not advance the request"
    );
    assert_eq!(sim.poll(&id).await["state"], "Complete");
    refused(&sim.renew_with(&id, "type=query").await);
    refused(&sim.renew_with(&id, "type=query&regionGroup=classic").await);
    assert_eq!(sim.renew(&id).await["state"], "CreatingNewUrl");
    // a region-group request is checked against its own group
    let eu = sim
        .create_with(json!({"region_group": "eu-std", "time_start": START, "time_end": END}))
        .await;
    let eu = eu.body["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    refused(&sim.poll_with(&eu, "type=query&regionGroup=us-std").await);
    assert_eq!(
        sim.poll_with(&eu, "type=query&regionGroup=eu-std")
            .await
            .status,
        StatusCode::OK
    );
    // an unknown request without the parameter is refused for the parameter; with it, 404
    refused(&sim.poll_with("0123", "type=query").await);
    assert_eq!(
        sim.poll_with("0123", "type=query&regionGroup=us-std")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let stats = sim.stats().await;
    assert_eq!(stats["region_group_refusals"], 7, "{stats}");
}

#[tokio::test]
async fn by_default_region_group_is_ignored_as_fauna_documents() {
    let sim = TestSim::start(&["--polls-to-complete", "0"]).await;
    let id = sim.create().await;
    assert_eq!(
        sim.poll_with(&id, "type=query").await.status,
        StatusCode::OK
    );
    assert_eq!(
        sim.poll_with(&id, "type=query&regionGroup=eu-std")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        sim.renew_with(&id, "type=query").await.status,
        StatusCode::OK
    );
    assert_eq!(sim.stats().await["region_group_refusals"], 0);
}
