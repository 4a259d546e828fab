//! One transition of a job: `step(job, deps, deadline) -> job`.
//!
//! | step in   | what happens                                   | step out                          |
//! |-----------|------------------------------------------------|-----------------------------------|
//! | `request` | `POST /api/v1/logs?type=query`                 | `poll` (or as its state says)     |
//! | `poll`    | `GET /api/v1/logs/{id}`                        | `poll`, `copy`, `done`, `request` |
//! | `copy`    | presigned URL → bucket, then the manifest      | `done`, or `copy` to continue     |
//!
//! What a Fauna state means is decided in one place, [`after_status`], whichever call reported it.
//! The driver (Step Functions or the CLI) waits `wait_seconds` before the next step.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Config;
use crate::copy::{CopyError, CopyOutcome, CopyPlan, FileSource, copy_file};
use crate::error::StepError;
use crate::fauna::{
    DownloadError, FaunaClient, FaunaError, LogFile, LogRequestStatus, LogState, LogsApi,
    PresignedUrl,
};
use crate::job::{InvalidJob, Job, Step};
use crate::manifest::{self, Manifest, manifest_key};
use crate::retry::RetryPolicy;
use crate::store::{ObjectStore, S3Store, crc32c_base64};

/// A URL that expires within this margin is renewed before a download starts.
const URL_EXPIRY_MARGIN: TimeDelta = TimeDelta::seconds(60);

/// Renewals of the presigned URL in one copy step.
const MAX_RENEWALS: u32 = 3;

/// Downloads of a window's file found corrupt before the copy fails, counted across steps
/// (`Job::corrupt_reads`).
const MAX_CORRUPT_DOWNLOADS: u32 = 2;

/// What a step works with: the Fauna API, the bucket and the configuration. Built once per
/// process.
pub struct Deps<A, S> {
    pub api: A,
    pub store: S,
    pub config: Config,
}

impl Deps<FaunaClient, S3Store> {
    /// The real clients, from the environment (and the account key's secret, if it has one).
    pub async fn from_env() -> Result<Self, StepError> {
        let config = Config::from_env()?;
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let key = config.account_key.resolve(&aws).await?;
        let api = FaunaClient::new(
            config.fauna_url.clone(),
            key,
            RetryPolicy::default(),
            config.api_timeout,
        )
        .map_err(StepError::Startup)?;
        let store = S3Store::new(&aws, config.bucket.clone(), config.s3_force_path_style);
        Ok(Deps { api, store, config })
    }
}

/// Performs the job's next step and returns the job as it is after it. A copy pauses at a part
/// boundary after `deadline` (and after `STEP_TIME_LIMIT_SECONDS`), returning a `copy` job.
pub async fn step<A: LogsApi, S: ObjectStore>(
    job: Job,
    deps: &Deps<A, S>,
    deadline: Option<Instant>,
) -> Result<Job, StepError> {
    match job.step {
        Step::Request => request(job, deps).await,
        Step::Poll => poll(job, deps).await,
        Step::Copy => {
            let limit = deps.config.step_time_limit.map(|d| Instant::now() + d);
            let pause_after = match (deadline, limit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            copy(job, deps, pause_after).await
        }
        Step::Done | Step::Failed => Ok(job),
    }
}

async fn request<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let status = deps
        .api
        .request_logs(&job.scope, job.time_start, job.time_end)
        .await?;
    job.attempt += 1;
    job.polls = 0;
    job.request_id = Some(status.request_id.clone());
    if job.poll_deadline.is_none() {
        let deadline = TimeDelta::from_std(deps.config.poll.deadline).unwrap_or(TimeDelta::MAX);
        job.poll_deadline = Utc::now().checked_add_signed(deadline);
    }
    tracing::info!(scope = %job.scope, request_id = %status.request_id, attempt = job.attempt, "logs requested");
    after_status(job, status, deps).await
}

async fn poll<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let id = request_id(&job)?;
    let status = deps.api.status(&id, job.scope.region_group()).await?;
    job.polls += 1;
    after_status(job, status, deps).await
}

async fn copy<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
    pause_after: Option<Instant>,
) -> Result<Job, StepError> {
    let id = request_id(&job)?;
    let status = deps.api.status(&id, job.scope.region_group()).await?;
    if status.state != LogState::Complete {
        // The request moved on (a renewal in progress, say): the common rules decide.
        return after_status(job, status, deps).await;
    }
    let mut source = FaunaFile::new(&deps.api, &job, &status)?;
    let mut resume = job.upload.take();
    let outcome = loop {
        let plan = CopyPlan {
            part_size: deps.config.part_size as u64,
            max_in_flight: deps.config.max_parts_in_flight,
            resume: resume.take(),
            pause_after,
        };
        match copy_file(&mut source, &deps.store, &job.key, plan).await {
            // Counted in the job: a download again that pauses must not reset the count.
            Err(CopyError::Corrupt(e)) if job.corrupt_reads + 1 < MAX_CORRUPT_DOWNLOADS => {
                job.corrupt_reads += 1;
                tracing::warn!(error = %e, "the log file is corrupt; downloading it again");
            }
            other => break other,
        }
    };
    match outcome? {
        CopyOutcome::Paused(progress) => {
            tracing::info!(
                offset = progress.offset,
                next_part = progress.next_part,
                "copy paused at a part boundary; it continues in the next step"
            );
            job.upload = Some(progress);
            job.wait_seconds = 0;
            Ok(job)
        }
        CopyOutcome::Stored(stored) => {
            tracing::info!(
                bucket = deps.store.bucket(),
                key = %job.key,
                bytes = stored.bytes,
                parts = stored.parts,
                records = stored.summary.records,
                "log file stored and verified"
            );
            let manifest = Manifest {
                key: Some(job.key.clone()),
                bytes: stored.bytes,
                records: stored.summary.records,
                first_ts: stored.summary.first_ts,
                last_ts: stored.summary.last_ts,
                checksum_crc32c: Some(crc32c_base64(stored.crc32c)),
                ..Manifest::empty(&job, id, deps.store.bucket())
            };
            write_manifest(&deps.store, &job.key, &manifest).await?;
            job.step = Step::Done;
            job.bytes = Some(stored.bytes);
            job.records = Some(stored.summary.records);
            job.wait_seconds = 0;
            Ok(job)
        }
    }
}

async fn write_manifest<S: ObjectStore>(
    store: &S,
    object_key: &str,
    manifest: &Manifest,
) -> Result<(), StepError> {
    let key = manifest_key(object_key);
    store
        .put_object(&key, manifest.to_json().into(), manifest::CONTENT_TYPE)
        .await
        .map_err(|e| CopyError::Store(e).into())
}

fn request_id(job: &Job) -> Result<String, StepError> {
    job.request_id
        .clone()
        .ok_or(StepError::InvalidJob(InvalidJob::MISSING_REQUEST_ID))
}

/// What a reported state means for the job: the one place the state rules live.
async fn after_status<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    status: LogRequestStatus,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let config = &deps.config;
    tracing::info!(request_id = %status.request_id, state = %status.state, polls = job.polls, "log request state");
    match status.state {
        LogState::Complete => {
            job.step = Step::Copy;
            job.wait_seconds = 0;
        }
        LogState::DoesNotExist => {
            // No logs in the window: no object, but a manifest that says so.
            let manifest = Manifest::empty(&job, status.request_id, deps.store.bucket());
            write_manifest(&deps.store, &job.key, &manifest).await?;
            job.step = Step::Done;
            job.bytes = Some(0);
            job.records = Some(0);
            job.wait_seconds = 0;
        }
        LogState::Failed | LogState::TimedOut => {
            if job.attempt >= config.max_request_attempts {
                return Err(StepError::ExportFailed {
                    scope: job.scope.clone(),
                    time_start: job.time_start,
                    time_end: job.time_end,
                    state: status.state.to_string(),
                    attempts: job.attempt,
                });
            }
            tracing::warn!(state = %status.state, attempt = job.attempt, "Fauna gave up on the request; requesting again");
            job.step = Step::Request;
            job.request_id = None;
            job.polls = 0;
            job.upload = None;
            job.wait_seconds = config.poll.initial.as_secs();
        }
        LogState::Requested
        | LogState::Pending
        | LogState::CreatingNewUrl
        | LogState::Unknown(_) => {
            if let LogState::Unknown(name) = &status.state {
                tracing::warn!(state = %name, "undocumented state from Fauna; treating it as still working");
            }
            let now = Utc::now();
            let deadline = job.poll_deadline.unwrap_or(now);
            if now >= deadline {
                return Err(StepError::PollDeadlineExceeded {
                    request_id: status.request_id,
                    state: status.state.to_string(),
                    deadline,
                });
            }
            let left = (deadline - now).num_seconds().max(1) as u64;
            job.step = Step::Poll;
            job.wait_seconds = config.poll.interval(job.polls).as_secs().min(left);
        }
    }
    Ok(job)
}

/// The log file behind a Complete request's presigned URL, renewing the URL when it is stale
/// or refused, and waiting out a renewal that is still `CreatingNewUrl`.
struct FaunaFile<'a, A> {
    api: &'a A,
    request_id: String,
    region_group: String,
    url: PresignedUrl,
    expires: Option<DateTime<Utc>>,
    renewals: u32,
    /// The last renewal answered `CreatingNewUrl`: its URL may not work yet.
    renewal_pending: bool,
}

impl<'a, A: LogsApi> FaunaFile<'a, A> {
    fn new(api: &'a A, job: &Job, status: &LogRequestStatus) -> Result<Self, StepError> {
        let url = usable_url(status)?;
        Ok(FaunaFile {
            api,
            request_id: status.request_id.clone(),
            region_group: job.scope.region_group().to_owned(),
            url,
            expires: status.presigned_url_expiration_time,
            renewals: 0,
            renewal_pending: false,
        })
    }

    fn is_stale(&self) -> bool {
        self.expires
            .is_some_and(|t| t <= Utc::now() + URL_EXPIRY_MARGIN)
    }

    /// `POST /api/v1/logs/{id}/url`.
    async fn renew(&mut self) -> Result<(), CopyError> {
        tracing::info!(request_id = %self.request_id, "renewing the presigned URL");
        self.renewals += 1;
        let status = self
            .api
            .renew_url(&self.request_id, &self.region_group)
            .await?;
        self.renewal_pending = status.state == LogState::CreatingNewUrl;
        if status.presigned_url.is_some() {
            self.take_url(&status)
        } else {
            self.wait_for_new_url().await
        }
    }

    /// Polls the request until it is `Complete` again with a URL.
    async fn wait_for_new_url(&mut self) -> Result<(), CopyError> {
        let mut wait = Duration::from_secs(1);
        for _ in 0..10 {
            let status = self
                .api
                .status(&self.request_id, &self.region_group)
                .await?;
            if status.state == LogState::Complete && status.presigned_url.is_some() {
                self.renewal_pending = false;
                return self.take_url(&status);
            }
            tracing::info!(state = %status.state, "waiting for the new presigned URL");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
        Err(CopyError::Fauna(FaunaError::Protocol {
            endpoint: "GET /api/v1/logs/{id}",
            detail: format!(
                "request {} did not return to Complete after a URL renewal",
                self.request_id
            ),
        }))
    }

    fn take_url(&mut self, status: &LogRequestStatus) -> Result<(), CopyError> {
        self.url = usable_url(status)?;
        self.expires = status.presigned_url_expiration_time;
        Ok(())
    }
}

impl<A: LogsApi> FileSource for FaunaFile<'_, A> {
    async fn open(&mut self, from: u64) -> Result<LogFile, CopyError> {
        if self.is_stale() && self.renewals < MAX_RENEWALS {
            tracing::info!("the presigned URL has expired or is about to");
            self.renew().await?;
        }
        loop {
            match self.api.download(&self.url, from).await {
                Err(DownloadError::Refused { status: 403, .. }) if self.renewal_pending => {
                    self.wait_for_new_url().await?;
                }
                Err(DownloadError::Refused { status: 403, .. }) if self.renewals < MAX_RENEWALS => {
                    tracing::info!("the file host refused the presigned URL");
                    self.renew().await?;
                }
                other => return Ok(other?),
            }
        }
    }
}

/// The presigned URL of a Complete request, if it is one we may fetch.
fn usable_url(status: &LogRequestStatus) -> Result<PresignedUrl, CopyError> {
    let url = status.presigned_url.clone().ok_or_else(|| {
        CopyError::Fauna(FaunaError::Protocol {
            endpoint: "GET /api/v1/logs/{id}",
            detail: format!(
                "request {} is {} but has no presigned_url",
                status.request_id, status.state
            ),
        })
    })?;
    if !url.is_allowed() {
        return Err(CopyError::Download(DownloadError::InsecureUrl {
            url: url.to_string(),
        }));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::copy::tests::{MemoryStore, log_file};
    use crate::job::{Scope, rfc3339};
    use bytes::Bytes;
    use chrono::{DateTime, Utc};
    use futures_util::StreamExt;
    use std::collections::VecDeque;
    use std::sync::Mutex;

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
        async fn download(&self, url: &PresignedUrl, from: u64) -> Result<LogFile, DownloadError> {
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
                .step_by(1 << 20)
                .map(|at| Ok(body.slice(at..body.len().min(at + (1 << 20)))))
                .collect();
            Ok(LogFile {
                start: from,
                total: Some(self.file.len() as u64),
                url: url.to_string(),
                body: futures_util::stream::iter(chunks).boxed(),
            })
        }
    }

    fn status(id: &str, state: &str) -> Result<LogRequestStatus, FaunaError> {
        Ok(LogRequestStatus {
            request_id: id.into(),
            state: LogState::from(state.to_owned()),
            version: Some(0),
            presigned_url: None,
            presigned_url_expiration_time: None,
        })
    }

    fn complete(
        id: &str,
        url: &str,
        expires_in: TimeDelta,
    ) -> Result<LogRequestStatus, FaunaError> {
        Ok(LogRequestStatus {
            request_id: id.into(),
            state: LogState::Complete,
            version: Some(2),
            presigned_url: PresignedUrl::parse(url),
            presigned_url_expiration_time: Some(Utc::now() + expires_in),
        })
    }

    fn deps(answers: Vec<Result<LogRequestStatus, FaunaError>>) -> Deps<FakeFauna, MemoryStore> {
        let config = Config::from_lookup(|name| match name {
            "FAUNA_ACCOUNT_KEY" => Some("k".into()),
            "LOGS_BUCKET" => Some("b".into()),
            "MAX_REQUEST_ATTEMPTS" => Some("2".into()),
            _ => None,
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
        Job::from_value(
            serde_json::json!({"database": "us-std/ECommerce", "time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"}),
            &d.config.job_rules(),
        )
        .unwrap()
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
        let mut renewed =
            complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)).unwrap();
        renewed.state = LogState::CreatingNewUrl;
        let d = deps(vec![
            complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::seconds(5)),
            Ok(renewed),
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
        let d = deps(vec![
            complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
            complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)),
            complete("r1", "http://127.0.0.1:1/f?sig=3", TimeDelta::hours(1)),
            complete("r1", "http://127.0.0.1:1/f?sig=4", TimeDelta::hours(1)),
        ]);
        *d.api.refuse_downloads.lock().unwrap() = 100;
        let job = copy_job(&d);
        let err = step(job, &d, None).await.unwrap_err();
        assert_eq!(err.error_type(), "DownloadFailed");
        assert!(err.is_retryable());
        assert!(!err.to_string().contains("sig="), "{err}");
        assert!(d.store.state.lock().unwrap().objects.is_empty());
        let calls = d.api.calls.lock().unwrap().clone();
        assert_eq!(calls.iter().filter(|c| c.starts_with("renew")).count(), 3);
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("download")).count(),
            4
        );
    }

    #[tokio::test]
    async fn a_renewal_still_creating_its_url_is_polled_until_complete() {
        let mut creating =
            complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)).unwrap();
        creating.state = LogState::CreatingNewUrl;
        let d = deps(vec![
            complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
            Ok(creating),
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

    #[tokio::test]
    async fn a_corrupt_file_fails_after_two_downloads_even_when_every_step_pauses() {
        // Past the deadline from the start: each copy step stores one part and pauses. The count
        // of corrupt downloads lives in the job, so the pauses cannot make the copy loop forever.
        let mut d = deps(
            (0..20)
                .map(|_| complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)))
                .collect(),
        );
        // Valid gzip (stored blocks, so it stays over two 8 MiB parts) cut short: the verifier
        // finds out only at the end of the file, after the pauses.
        let mut noise = vec![0u8; 17 << 20];
        noise.iter_mut().for_each(|b| *b = fastrand::u8(..));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        std::io::Write::write_all(&mut gz, &noise).unwrap();
        let mut file = gz.finish().unwrap();
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
        // The file is three parts. Steps 1-2: a part each, pause. 3: the last part, corrupt;
        // again from byte 0: part 1, pause, the job now saying one corrupt read. 4: part 2. 5: the
        // rest, corrupt a second time: fail. Six downloads (each step reads from byte 0).
        assert_eq!((steps, job.corrupt_reads), (5, 1));
        let calls = d.api.calls.lock().unwrap();
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("download")).count(),
            6
        );
        let state = d.store.state.lock().unwrap();
        assert!(state.objects.is_empty() && state.uploads.is_empty());
    }

    #[tokio::test]
    async fn insecure_urls_are_refused() {
        let d = deps(vec![complete(
            "r1",
            "http://files.example/f?sig=1",
            TimeDelta::hours(1),
        )]);
        let job = copy_job(&d);
        let err = step(job, &d, None).await.unwrap_err();
        assert_eq!(err.error_type(), "InsecureDownloadUrl");
        assert!(!err.to_string().contains("sig="), "{err}");
        assert_eq!(d.api.calls.lock().unwrap().as_slice(), ["status r1 us-std"]);
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
}
