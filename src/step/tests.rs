//! The transitions against a scripted Fauna and the in-memory bucket.

use super::*;
use crate::config::Config;
use crate::fauna::{
    DownloadError, FaunaError, FileIdentity, LogFile, LogRequestStatus, LogState, PresignedUrl,
};
use crate::input::{Event, parse};
use crate::keys::manifest_key;
use crate::scope::Scope;
use crate::store::crc32c_base64;
use crate::store::memory::MemoryStore;
use crate::test_data::log_file;
use crate::time::rfc3339;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How the fake delivers a file: in 64 KiB chunks, as a network would.
const CHUNK: usize = 64 << 10;

/// Scripted answers, in order, for each Fauna call.
#[derive(Default)]
struct FakeFauna {
    answers: Mutex<VecDeque<Result<LogRequestStatus, FaunaError>>>,
    calls: Mutex<Vec<String>>,
    file: Vec<u8>,
    refuse_downloads: Mutex<u32>,
}

impl FakeFauna {
    fn next(&self, call: String) -> Result<LogRequestStatus, FaunaError> {
        self.calls.lock().unwrap().push(call);
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("the test scripted too few answers")
    }
}

impl LogsApi for FakeFauna {
    async fn request_logs(
        &self,
        scope: &Scope,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<LogRequestStatus, FaunaError> {
        self.next(format!(
            "request {scope} {} {}",
            rfc3339(start),
            rfc3339(end)
        ))
    }
    async fn status(&self, id: &str, rg: &str) -> Result<LogRequestStatus, FaunaError> {
        self.next(format!("status {id} {rg}"))
    }
    async fn renew_url(&self, id: &str, _rg: &str) -> Result<LogRequestStatus, FaunaError> {
        self.next(format!("renew {id}"))
    }
    async fn download(
        &self,
        url: &PresignedUrl,
        from: u64,
        _pinned: Option<&FileIdentity>,
    ) -> Result<LogFile, DownloadError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("download {} {from}", url.expose()));
        let mut refuse = self.refuse_downloads.lock().unwrap();
        if *refuse > 0 {
            *refuse -= 1;
            return Err(DownloadError::Refused {
                status: 403,
                url: url.to_string(),
            });
        }
        // In 1 MiB chunks, as a network would deliver it.
        let body = Bytes::from(self.file.clone()).slice(from as usize..);
        let chunks: Vec<_> = (0..body.len())
            .step_by(CHUNK)
            .map(|at| Ok(body.slice(at..body.len().min(at + CHUNK))))
            .collect();
        Ok(LogFile {
            start: from,
            total: Some(self.file.len() as u64),
            identity: FileIdentity {
                etag: Some(format!("\"{:08x}\"", crc32c::crc32c(&self.file))),
                last_modified: None,
                size: Some(self.file.len() as u64),
            },
            url: url.to_string(),
            body: futures_util::stream::iter(chunks).boxed(),
        })
    }
}

/// Fauna's answer for request `id` of the tests' window (us-std/ECommerce, 2026-11-24).
fn status(id: &str, state: &str) -> Result<LogRequestStatus, FaunaError> {
    Ok(LogRequestStatus {
        request_id: id.into(),
        state: LogState::from(state.to_owned()),
        time_start: crate::time::parse_rfc3339("2026-11-24T00:00:00Z").ok(),
        time_end: crate::time::parse_rfc3339("2026-11-25T00:00:00Z").ok(),
        database: Some("us-std/ECommerce".into()),
        region_group: Some("us-std".into()),
        version: Some(0),
        presigned_url: None,
        presigned_url_expiration_time: None,
    })
}

fn complete(id: &str, url: &str, expires_in: TimeDelta) -> Result<LogRequestStatus, FaunaError> {
    let mut complete = status(id, "Complete")?;
    complete.version = Some(2);
    complete.presigned_url = PresignedUrl::parse(url);
    complete.presigned_url_expiration_time = Some(Utc::now() + expires_in);
    Ok(complete)
}

/// A renewal under way: `CreatingNewUrl`, still carrying `url` (the old one, or one not working
/// yet), valid for an hour.
fn creating(id: &str, url: &str) -> Result<LogRequestStatus, FaunaError> {
    let mut creating = complete(id, url, TimeDelta::hours(1))?;
    creating.state = LogState::CreatingNewUrl;
    Ok(creating)
}

fn deps(answers: Vec<Result<LogRequestStatus, FaunaError>>) -> Deps<FakeFauna, MemoryStore> {
    deps_with(&[], answers)
}

/// [`deps`] with more settings.
fn deps_with(
    settings: &[(&str, &str)],
    answers: Vec<Result<LogRequestStatus, FaunaError>>,
) -> Deps<FakeFauna, MemoryStore> {
    let config = Config::from_lookup(|name| match name {
        "FAUNA_ACCOUNT_KEY" => Some("k".into()),
        "LOGS_BUCKET" => Some("b".into()),
        "MAX_REQUEST_ATTEMPTS" => Some("2".into()),
        _ => settings
            .iter()
            .find(|(setting, _)| *setting == name)
            .map(|(_, value)| (*value).to_owned()),
    })
    .unwrap();
    Deps {
        api: FakeFauna {
            answers: Mutex::new(answers.into()),
            file: log_file(10),
            ..Default::default()
        },
        store: MemoryStore::default(),
        config,
    }
}

fn new_job(d: &Deps<FakeFauna, MemoryStore>) -> Job {
    let payload = serde_json::json!({"database": "us-std/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"});
    match parse(payload, &d.config.rules, Utc::now()).unwrap() {
        Event::Job(job) => job,
        other => panic!("not a job: {other:?}"),
    }
}

/// A job at its copy step for request `r1`.
fn copy_job(d: &Deps<FakeFauna, MemoryStore>) -> Job {
    let mut job = new_job(d);
    job.step = Step::Copy;
    job.request_id = Some("r1".into());
    job
}

#[tokio::test]
async fn happy_path_request_poll_copy_done() {
    let d = deps(vec![
        status("r1", "Pending"),
        status("r1", "Requested"),
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
    ]);
    let job = step(new_job(&d), &d, None).await.unwrap();
    assert_eq!(
        (job.step, job.attempt, job.wait_seconds),
        (Step::Poll, 1, 10)
    );
    assert_eq!(job.request_id.as_deref(), Some("r1"));
    assert!(job.poll_deadline.is_some());
    let job = step(job, &d, None).await.unwrap();
    assert_eq!((job.step, job.polls, job.wait_seconds), (Step::Poll, 1, 15));
    let job = step(job, &d, None).await.unwrap();
    assert_eq!((job.step, job.wait_seconds), (Step::Copy, 0));
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done);
    assert_eq!(job.bytes, Some(d.api.file.len() as u64));
    assert_eq!(job.records, Some(10));
    let objects = d.store.state.lock().unwrap().objects.clone();
    assert_eq!(objects[&job.key], d.api.file);
    let manifest: serde_json::Value =
        serde_json::from_slice(&objects[&manifest_key(&job.key)]).unwrap();
    assert_eq!(manifest["records"], 10);
    assert_eq!(manifest["request_id"], "r1");
    assert_eq!(manifest["database"], "us-std/ECommerce");
    assert_eq!(
        manifest["checksum_crc32c"],
        crc32c_base64(crc32c::crc32c(&d.api.file))
    );
    let calls = d.api.calls.lock().unwrap().clone();
    assert_eq!(
        calls[0],
        "request database us-std/ECommerce 2026-11-24T00:00:00Z 2026-11-25T00:00:00Z"
    );
    assert_eq!(calls[1], "status r1 us-std");
    // done is terminal: stepping again changes nothing and calls nothing
    let again = step(job.clone(), &d, None).await.unwrap();
    assert_eq!(again, job);
    assert_eq!(d.api.calls.lock().unwrap().len(), calls.len());
}

#[tokio::test]
async fn failed_requests_are_retried_a_bounded_number_of_times() {
    let d = deps(vec![
        status("r1", "Pending"),
        status("r1", "Failed"),
        status("r2", "Pending"),
        status("r2", "TimedOut"),
    ]);
    let job = step(new_job(&d), &d, None).await.unwrap();
    let job = step(job, &d, None).await.unwrap();
    assert_eq!((job.step, job.request_id.clone()), (Step::Request, None));
    let job = step(job, &d, None).await.unwrap();
    assert_eq!((job.attempt, job.request_id.as_deref()), (2, Some("r2")));
    let err = step(job, &d, None).await.unwrap_err();
    assert_eq!(err.error_type(), "ExportFailed");
    assert!(err.to_string().contains("TimedOut"), "{err}");
}

#[tokio::test]
async fn does_not_exist_is_done_with_nothing_written() {
    let d = deps(vec![status("r1", "DoesNotExist")]);
    let job = step(new_job(&d), &d, None).await.unwrap();
    assert_eq!(
        (job.step, job.bytes, job.records),
        (Step::Done, Some(0), Some(0))
    );
    let objects = d.store.state.lock().unwrap().objects.clone();
    assert!(
        !objects.contains_key(&job.key),
        "no object for an empty window"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&objects[&manifest_key(&job.key)]).unwrap();
    assert_eq!(
        (manifest["records"].as_u64(), manifest["key"].is_null()),
        (Some(0), true)
    );
}

#[tokio::test]
async fn unknown_states_keep_polling_until_the_deadline() {
    let d = deps(vec![
        status("r1", "Pending"),
        status("r1", "InProgress"),
        status("r1", "InProgress"),
    ]);
    let job = step(new_job(&d), &d, None).await.unwrap();
    let mut job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Poll);
    job.poll_deadline = Some(Utc::now() - TimeDelta::seconds(1));
    let err = step(job, &d, None).await.unwrap_err();
    assert_eq!(err.error_type(), "PollDeadlineExceeded");
    assert!(err.to_string().contains("InProgress"));
}

#[tokio::test]
async fn a_stale_url_is_renewed_before_downloading() {
    let d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::seconds(5)),
        creating("r1", "http://127.0.0.1:1/f?sig=2"),
    ]);
    let job = copy_job(&d);
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done);
    let calls = d.api.calls.lock().unwrap();
    assert_eq!(
        calls.as_slice(),
        [
            "status r1 us-std",
            "renew r1",
            "download http://127.0.0.1:1/f?sig=2 0"
        ]
    );
}

#[tokio::test]
async fn a_refused_download_renews_a_bounded_number_of_times_then_fails() {
    // Each copy step: a status read and 3 renewals, each answered Complete with a new URL, and 4
    // downloads all refused; the step stops, counting a failure in the job. After
    // MAX_COPY_FAILURES of them the export fails, typed, with nothing stored.
    let per_step = 1 + MAX_RENEWALS as usize;
    let d = deps(
        (0..per_step * MAX_COPY_FAILURES as usize)
            .map(|i| {
                complete(
                    "r1",
                    &format!("http://127.0.0.1:1/f?sig={i}"),
                    TimeDelta::hours(1),
                )
            })
            .collect(),
    );
    *d.api.refuse_downloads.lock().unwrap() = 1000;
    let mut job = copy_job(&d);
    // The wait before the next try grows as the poll interval does (10 s by half).
    let waits = [10, 15, 22, 33, 50];
    for failures in 1..MAX_COPY_FAILURES {
        job = step(job, &d, None).await.unwrap();
        assert_eq!((job.step, job.copy_failures), (Step::Copy, failures));
        assert_eq!(
            job.wait_seconds,
            waits[failures as usize - 1],
            "after {failures}"
        );
    }
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Failed);
    let error = job.error.expect("why it failed");
    assert_eq!(error.error_type, "DownloadFailed");
    assert!(!error.message.contains("sig="), "{}", error.message);
    assert!(d.store.state.lock().unwrap().objects.is_empty());
    let calls = d.api.calls.lock().unwrap().clone();
    let count = |what: &str| calls.iter().filter(|c| c.starts_with(what)).count();
    assert_eq!(
        count("renew"),
        MAX_COPY_FAILURES as usize * MAX_RENEWALS as usize
    );
    assert_eq!(count("download"), MAX_COPY_FAILURES as usize * per_step);
}

#[tokio::test]
async fn a_renewal_still_creating_its_url_is_polled_until_complete() {
    let d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        creating("r1", "http://127.0.0.1:1/f?sig=2"),
        complete("r1", "http://127.0.0.1:1/f?sig=3", TimeDelta::hours(1)),
    ]);
    // sig=1 is refused (expired), and so is sig=2 (not ready yet); sig=3 works.
    *d.api.refuse_downloads.lock().unwrap() = 2;
    let job = copy_job(&d);
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done);
    let calls = d.api.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "status r1 us-std",
            "download http://127.0.0.1:1/f?sig=1 0",
            "renew r1",
            "download http://127.0.0.1:1/f?sig=2 0",
            "status r1 us-std",
            "download http://127.0.0.1:1/f?sig=3 0",
        ]
    );
}

/// A status read after a refused renewed URL that still says `CreatingNewUrl` is not ready,
/// even when it carries a URL (the old one, or one not working yet): the copy turns into a wait,
/// and that URL is not downloaded.
#[tokio::test]
async fn a_status_still_creating_its_url_is_not_ready_whatever_url_it_carries() {
    let d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        creating("r1", "http://127.0.0.1:1/f?sig=2"),
        creating("r1", "http://127.0.0.1:1/f?sig=3"),
    ]);
    *d.api.refuse_downloads.lock().unwrap() = 2;
    let job = step(copy_job(&d), &d, None).await.unwrap();
    assert_eq!(job.step, Step::Poll, "{job:?}");
    let calls = d.api.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "status r1 us-std",
            "download http://127.0.0.1:1/f?sig=1 0",
            "renew r1",
            "download http://127.0.0.1:1/f?sig=2 0",
            "status r1 us-std",
        ]
    );
}

#[tokio::test]
async fn a_refused_download_is_renewed_and_copied() {
    let d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)),
    ]);
    *d.api.refuse_downloads.lock().unwrap() = 1;
    let job = copy_job(&d);
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done);
    assert_eq!(d.store.state.lock().unwrap().objects[&job.key], d.api.file);
}

/// The manifest of a stored file reports what the verifier read: the first and the last
/// record's `TS`, and the records too long to keep whole (whose `TS` is not read).
#[tokio::test]
async fn the_manifest_reports_the_first_and_last_ts_and_the_long_records() {
    let mut d = deps(vec![complete(
        "r1",
        "http://127.0.0.1:1/f?sig=1",
        TimeDelta::hours(1),
    )]);
    let long = format!(
        "{{\"TS\":\"2026-11-24 00:00:01.000 Z\",\"N\":\"{}\"}}\n",
        "x".repeat(crate::verify::MAX_KEPT_LINE + 1)
    );
    let lines = format!(
        "{{\"TS\":\"2026-11-24 00:00:00.000 Z\"}}\n{long}{{\"TS\":\"2026-11-24 00:00:02.000 Z\"}}\n"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, lines.as_bytes()).unwrap();
    d.api.file = gz.finish().unwrap();
    let job = step(copy_job(&d), &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done, "{job:?}");
    let objects = d.store.state.lock().unwrap().objects.clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&objects[&manifest_key(&job.key)]).unwrap();
    assert_eq!(manifest["records"], 3);
    assert_eq!(manifest["long_records"], 1);
    assert_eq!(manifest["first_ts"], "2026-11-24 00:00:00.000 Z");
    assert_eq!(manifest["last_ts"], "2026-11-24 00:00:02.000 Z");
}

/// A log file of stored deflate blocks, so that it stays over two 8 MiB parts: two full parts
/// and a little more.
fn three_part_file() -> Vec<u8> {
    let mut lines = String::with_capacity(17 << 20);
    while lines.len() < 17 << 20 {
        let noise: String = (0..32)
            .map(|_| format!("{:016x}", fastrand::u64(..)))
            .collect();
        lines.push_str(&format!(
            "{{\"TS\":\"2026-11-24 00:00:00.000 Z\",\"N\":\"{noise}\"}}\n"
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    std::io::Write::write_all(&mut gz, lines.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// STEP_TIME_LIMIT_SECONDS counts from the step's start: with an hour ahead, a copy of three
/// parts is not paused but stored in its one step.
#[tokio::test]
async fn a_step_time_limit_ahead_lets_the_copy_finish_in_its_step() {
    let mut d = deps_with(
        &[("STEP_TIME_LIMIT_SECONDS", "3600")],
        vec![complete(
            "r1",
            "http://127.0.0.1:1/f?sig=1",
            TimeDelta::hours(1),
        )],
    );
    d.api.file = three_part_file();
    let job = step(copy_job(&d), &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done, "{job:?}");
    assert_eq!(job.bytes, Some(d.api.file.len() as u64));
}

#[tokio::test]
async fn a_corrupt_file_fails_after_two_downloads_even_when_every_step_pauses() {
    // Past the deadline from the start: each copy step stores one part and pauses. The count
    // of corrupt downloads lives in the job, so the pauses cannot make the copy loop forever.
    let mut d = deps(
        (0..20)
            .map(|_| complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)))
            .collect(),
    );
    // Valid gzip cut short: the verifier finds out only at the end of the file, after the
    // pauses.
    let mut file = three_part_file();
    file.truncate(file.len() - 8);
    d.api.file = file;
    let mut job = copy_job(&d);
    let mut steps = 0;
    let err = loop {
        steps += 1;
        assert!(steps <= 8, "the copy does not end: {job:?}");
        match step(job.clone(), &d, Some(Instant::now())).await {
            Ok(next) => {
                assert_eq!(next.step, Step::Copy);
                job = next;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.error_type(), "CorruptLogFile", "{err}");
    // The file is two full parts and a little more. Step 1: part 1, pause (more than a part is
    // left). 2: on from the checkpoint, part 2, and with less than a part left, on to the end:
    // corrupt; again from byte 0 (the upload aborted): part 1, pause, the job now saying one
    // corrupt read. 3: part 2, the end, corrupt a second time: fail. Four downloads.
    assert_eq!((steps, job.corrupt_reads), (3, 1));
    let calls = d.api.calls.lock().unwrap();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("download")).count(),
        4
    );
    let state = d.store.state.lock().unwrap();
    assert!(
        state.objects.is_empty() && state.uploads.is_empty(),
        "no object, no record, no upload"
    );
}

#[tokio::test]
async fn fauna_errors_pass_through_typed() {
    let d = deps(vec![Err(FaunaError::AuthRejected {
        endpoint: "POST /api/v1/logs",
        status: 401,
        code: "unauthorized".into(),
        reason: "bad key".into(),
    })]);
    let err = step(new_job(&d), &d, None).await.unwrap_err();
    assert_eq!(err.error_type(), "FaunaAuthRejected");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("FAUNA_ACCOUNT_KEY"));
}

#[tokio::test]
async fn a_request_of_another_window_is_refused_before_any_download() {
    let mut other = complete("r9", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)).unwrap();
    other.time_start = crate::time::parse_rfc3339("2026-11-23T00:00:00Z").ok();
    other.time_end = crate::time::parse_rfc3339("2026-11-24T00:00:00Z").ok();
    let mut other_database =
        complete("r8", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)).unwrap();
    other_database.database = Some("us-std/Inventory".into());
    for answer in [other, other_database] {
        let d = deps(vec![Ok(answer)]);
        let mut job = copy_job(&d);
        job.request_id = Some("r9".into());
        let err = step(job, &d, None).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidJob", "{err}");
        assert!(err.to_string().contains("`request_id`"), "{err}");
        let calls = d.api.calls.lock().unwrap().clone();
        assert!(
            !calls.iter().any(|c| c.starts_with("download")),
            "{calls:?}"
        );
        assert!(d.store.state.lock().unwrap().objects.is_empty());
    }
}

#[tokio::test]
async fn counters_saturate_instead_of_overflowing() {
    let d = deps(vec![status("r1", "Pending"), status("r1", "Pending")]);
    let mut job = new_job(&d);
    job.attempt = u32::MAX - 1;
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.attempt, u32::MAX);
    let mut job = job;
    job.polls = u32::MAX;
    let job = step(job, &d, None).await.unwrap();
    assert_eq!((job.step, job.polls), (Step::Poll, u32::MAX));
}

#[tokio::test]
async fn a_renewal_not_ready_turns_the_copy_into_a_wait_that_keeps_its_parts() {
    let mut creating = status("r1", "CreatingNewUrl").unwrap();
    creating.presigned_url = None;
    let d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        Ok(creating.clone()),
        Ok(creating.clone()),
        Ok(creating),
        complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)),
        complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)),
    ]);
    // sig=1 is refused: the copy renews, the renewal has no URL yet, one status read says it is
    // still being made.
    *d.api.refuse_downloads.lock().unwrap() = 1;
    let mut job = copy_job(&d);
    job.poll_deadline = Some(Utc::now() + TimeDelta::hours(1));
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(
        (job.step, job.copy_failures),
        (Step::Poll, 0),
        "a wait, not a failure"
    );
    assert_eq!(job.wait_seconds, 10);
    // Polls see CreatingNewUrl, then Complete, and the copy runs.
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Poll);
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Copy);
    let job = step(job, &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done);
    assert_eq!(d.store.state.lock().unwrap().objects[&job.key], d.api.file);
}

#[tokio::test]
async fn every_way_out_of_a_copy_aborts_its_upload() {
    let upload = |d: &Deps<FakeFauna, MemoryStore>| {
        let mut st = d.store.state.lock().unwrap();
        st.uploads.insert("u-held".into(), Default::default());
        crate::job::UploadProgress {
            upload_id: "u-held".into(),
            next_part: 2,
            offset: 8 << 20,
            part_size: 8 << 20,
            file: None,
        }
    };
    let rejected = Err(FaunaError::AuthRejected {
        endpoint: "GET /api/v1/logs/{id}",
        status: 401,
        code: "unauthorized".into(),
        reason: "revoked".into(),
    });
    for (case, answer) in [
        ("Failed", status("r1", "Failed")),
        ("DoesNotExist after Complete", status("r1", "DoesNotExist")),
        ("auth rejected", rejected),
    ] {
        let d = deps(vec![answer]);
        let mut job = copy_job(&d);
        job.upload = Some(upload(&d));
        let _ = step(job, &d, None).await;
        let st = d.store.state.lock().unwrap();
        assert!(st.uploads.is_empty(), "{case}: the upload is left open");
        assert_eq!(st.aborted, 1, "{case}");
    }
    // The poll deadline reached while a copy waits for its URL.
    let d = deps(vec![status("r1", "CreatingNewUrl")]);
    let mut job = copy_job(&d);
    job.step = Step::Poll;
    job.upload = Some(upload(&d));
    job.poll_deadline = Some(Utc::now() - TimeDelta::seconds(1));
    let err = step(job, &d, None).await.unwrap_err();
    assert_eq!(err.error_type(), "PollDeadlineExceeded");
    assert!(d.store.state.lock().unwrap().uploads.is_empty());
}

#[tokio::test]
async fn does_not_exist_never_replaces_an_export() {
    // After Complete: the logs are gone, so the window is requested again.
    let d = deps(vec![status("r1", "DoesNotExist")]);
    let job = step(copy_job(&d), &d, None).await.unwrap();
    assert_eq!((job.step, job.request_id.as_deref()), (Step::Request, None));
    // A first answer of DoesNotExist over an object already stored: refused, left as it is.
    let d = deps(vec![status("r1", "DoesNotExist")]);
    let job = new_job(&d);
    d.store
        .state
        .lock()
        .unwrap()
        .objects
        .insert(job.key.clone(), b"an earlier export".to_vec());
    let err = step(job.clone(), &d, None).await.unwrap_err();
    assert_eq!(err.error_type(), "FaunaProtocolError");
    assert!(err.to_string().contains("left as it is"), "{err}");
    assert!(
        !d.store
            .state
            .lock()
            .unwrap()
            .objects
            .contains_key(&manifest_key(&job.key))
    );
    // Over a manifest already there (an earlier empty window): done, the manifest unchanged.
    let d = deps(vec![status("r1", "DoesNotExist")]);
    d.store
        .state
        .lock()
        .unwrap()
        .objects
        .insert(manifest_key(&job.key), b"{}".to_vec());
    let done = step(job.clone(), &d, None).await.unwrap();
    assert_eq!(done.step, Step::Done);
    assert_eq!(
        d.store.state.lock().unwrap().objects[&manifest_key(&job.key)],
        b"{}"
    );
}

/// Starts an upload at `key` and writes the copy record of request `request` naming it, as a
/// copy of that request cut short leaves them; the upload's id.
async fn record_an_upload(d: &Deps<FakeFauna, MemoryStore>, key: &str, request: &str) -> String {
    let upload_id = d.store.create_multipart(key).await.unwrap();
    let record = crate::copy::copy_record::CopyRecord {
        upload_id: upload_id.clone(),
        request_id: request.into(),
        file_size: 0,
        part_size: 8 << 20,
        owner: crate::copy::copy_record::Owner::this_process(),
        checkpoint: None,
        past_mark: None,
        file: None,
    };
    crate::copy::copy_record::write(&d.store, &copy_record_key(key, request), &record)
        .await
        .unwrap();
    upload_id
}

/// A copy paused with a part stored, then Fauna answers 503 for good: the command line runs out
/// of step retries and ends the export, and lets go of everything it held: the job's upload,
/// and the upload and record a copy of its request left at the key.
#[tokio::test(start_paused = true)]
async fn a_run_that_runs_out_of_retries_lets_go_of_its_uploads() {
    let unavailable = || {
        Err(FaunaError::Unavailable {
            endpoint: "GET /api/v1/logs/{id}",
            attempts: 6,
            last: "HTTP 503".into(),
        })
    };
    let d = deps((0..20).map(|_| unavailable()).collect());
    let mut job = copy_job(&d);
    let held = d.store.create_multipart(&job.key).await.unwrap();
    record_an_upload(&d, &job.key, "r1").await;
    job.upload = Some(crate::job::UploadProgress {
        upload_id: held,
        next_part: 2,
        offset: 8 << 20,
        part_size: 8 << 20,
        file: None,
    });
    let ended =
        crate::cli::run_to_end(job, &d, crate::cli::StepLines::Quiet, std::io::stderr()).await;
    assert_eq!(ended.step, Step::Failed);
    assert_eq!(ended.error.unwrap().error_type, "FaunaUnavailable");
    let st = d.store.state.lock().unwrap();
    assert!(st.uploads.is_empty(), "{:?}", st.uploads.keys());
    assert!(st.objects.is_empty(), "{:?}", st.objects.keys());
}

/// A failed job given back to the function (the state machine's clean-up after it gave up on
/// a step) lets go of the upload its copy record names; another request's record is left alone.
#[tokio::test]
async fn a_failed_job_lets_go_of_its_request_s_upload_only() {
    let d = deps(Vec::new());
    let mut job = copy_job(&d);
    for (request, expect_gone) in [("r1", true), ("r-other", false)] {
        let recorded = record_an_upload(&d, &job.key, request).await;
        job.step = Step::Failed;
        let after = step(job.clone(), &d, None).await.unwrap();
        assert_eq!(after.step, Step::Failed);
        let st = d.store.state.lock().unwrap();
        assert_eq!(
            !st.uploads.contains_key(&recorded),
            expect_gone,
            "{request}"
        );
        assert_eq!(
            !st.objects.contains_key(&copy_record_key(&job.key, request)),
            expect_gone,
            "{request}"
        );
    }
}

/// A step delivered twice, or run again after its answer was lost: once the request's copy is
/// stored with its manifest, a copy step of that request answers `done` from the manifest. It
/// asks Fauna nothing, reads no byte of the file, and lets go of the upload it still held.
#[tokio::test]
async fn a_copy_step_of_a_stored_request_is_done_from_its_manifest() {
    let d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        complete("r2", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)),
        complete("r2", "http://127.0.0.1:1/f?sig=3", TimeDelta::hours(1)),
    ]);
    let first = copy_job(&d);
    let done = step(first.clone(), &d, None).await.unwrap();
    assert_eq!(done.step, Step::Done);
    let calls = d.api.calls.lock().unwrap().len();
    let mut stale = first;
    stale.upload = Some(crate::job::UploadProgress {
        upload_id: d.store.create_multipart(&stale.key).await.unwrap(),
        next_part: 2,
        offset: 8 << 20,
        part_size: 8 << 20,
        file: None,
    });
    let again = step(stale, &d, None).await.unwrap();
    assert_eq!(
        (again.step, again.bytes, again.records),
        (Step::Done, done.bytes, done.records)
    );
    assert_eq!(
        d.api.calls.lock().unwrap().len(),
        calls,
        "Fauna or the file was asked again"
    );
    assert!(d.store.state.lock().unwrap().uploads.is_empty());
    // Another request's manifest proves nothing for this one: its copy runs.
    let mut other = copy_job(&d);
    other.request_id = Some("r2".into());
    assert_eq!(step(other, &d, None).await.unwrap().step, Step::Done);
    let asked = d.api.calls.lock().unwrap()[calls..].to_vec();
    assert_eq!(
        asked,
        ["status r2 us-std", "download http://127.0.0.1:1/f?sig=2 0"]
    );
    // A manifest whose object is gone (deleted by hand, expired) proves nothing either.
    d.store.state.lock().unwrap().objects.remove(&done.key);
    let mut gone = copy_job(&d);
    gone.request_id = Some("r2".into());
    assert_eq!(step(gone, &d, None).await.unwrap().step, Step::Done);
    let asked = d.api.calls.lock().unwrap()[calls + 2..].to_vec();
    assert_eq!(
        asked,
        ["status r2 us-std", "download http://127.0.0.1:1/f?sig=3 0"]
    );
    assert!(
        d.store
            .state
            .lock()
            .unwrap()
            .objects
            .contains_key(&done.key)
    );
}

/// Two copies of one request on one upload (Step Functions retried a step still running): the
/// one that completes second finds the upload gone (S3's 404 NoSuchUpload). That is no failure:
/// the step tries again after the poll interval, holding nothing, and the next try is `done`
/// from the manifest the other copy wrote, without reading the file again.
#[tokio::test]
async fn a_copy_whose_upload_goes_from_under_it_is_not_a_failure() {
    let mut d = deps(vec![
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
    ]);
    d.api.file = log_file(4000);
    d.config.part_size = 16 << 10;
    assert!(d.api.file.len() > 4 * d.config.part_size);
    d.store.state.lock().unwrap().vanish_at_part = Some(3);
    let job = step(copy_job(&d), &d, None).await.unwrap();
    assert_eq!(
        (job.step, job.copy_failures),
        (Step::Copy, 1),
        "{:?}",
        job.error
    );
    assert!(job.error.is_none() && job.upload.is_none());
    {
        let st = d.store.state.lock().unwrap();
        assert!(st.uploads.is_empty(), "{:?}", st.uploads.keys());
        assert!(st.objects.is_empty(), "{:?}", st.objects.keys());
    }
    // The other copy's object and manifest, as it leaves them.
    let winner = copy_job(&d);
    let stored = step(winner, &d, None).await.unwrap();
    assert_eq!(stored.step, Step::Done);
    let calls = d.api.calls.lock().unwrap().len();
    let after = step(job, &d, None).await.unwrap();
    assert_eq!((after.step, after.records), (Step::Done, stored.records));
    assert_eq!(d.api.calls.lock().unwrap().len(), calls);
}

/// A store whose HeadObject reports no CRC32C (a proxy, an S3 look-alike): S3 checked the
/// upload's checksum, but nothing confirms the stored object's, so the manifest names none
/// rather than the one sent, and the copy still completes.
#[tokio::test]
async fn a_checksum_the_store_does_not_report_is_not_written_as_confirmed() {
    let d = deps(vec![complete(
        "r1",
        "http://127.0.0.1:1/f?sig=1",
        TimeDelta::hours(1),
    )]);
    d.store.state.lock().unwrap().unreported_checksums = true;
    let job = step(copy_job(&d), &d, None).await.unwrap();
    assert_eq!(job.step, Step::Done);
    let st = d.store.state.lock().unwrap();
    assert_eq!(st.objects[&job.key], d.api.file);
    let manifest: serde_json::Value =
        serde_json::from_slice(&st.objects[&manifest_key(&job.key)]).unwrap();
    assert_eq!(manifest["records"], 10);
    assert!(manifest["checksum_crc32c"].is_null(), "{manifest}");
}
