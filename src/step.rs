//! One transition of a job: `step(job, deps) -> job`.
//!
//! | step in   | what happens                              | step out                          |
//! |-----------|-------------------------------------------|-----------------------------------|
//! | `request` | `POST /api/v1/logs?type=query`            | `poll` (or as its state says)     |
//! | `poll`    | `GET /api/v1/logs/{id}`                   | `poll`, `copy`, `done`, `request` |
//! | `copy`    | presigned URL → bucket (renewed if stale) | `done` (or back to `poll`)        |
//!
//! What a Fauna state means is decided in one place, [`after_status`], whichever call reported it.
//! The driver (Step Functions or the CLI) waits `wait_seconds` before the next step.

use chrono::{TimeDelta, Utc};

use crate::config::Config;
use crate::copy::{CopyOptions, copy_file};
use crate::error::StepError;
use crate::fauna::{
    DownloadError, FaunaClient, FaunaError, LogRequestStatus, LogState, LogsApi, PresignedUrl,
};
use crate::job::{InvalidJob, Job, Step};
use crate::retry::RetryPolicy;
use crate::store::{ObjectStore, S3Store};

/// A URL that expires within this margin is renewed before the download starts.
const URL_EXPIRY_MARGIN: TimeDelta = TimeDelta::seconds(60);

/// What a step works with: the Fauna API, the bucket and the configuration. Built once per
/// process.
pub struct Deps<A, S> {
    pub api: A,
    pub store: S,
    pub config: Config,
}

impl Deps<FaunaClient, S3Store> {
    /// The real clients, from the environment.
    pub async fn from_env() -> Result<Self, StepError> {
        let config = Config::from_env()?;
        let api = FaunaClient::new(
            config.fauna_url.clone(),
            config.account_key.clone(),
            RetryPolicy::default(),
        )
        .map_err(StepError::Startup)?;
        let store = S3Store::from_env(config.bucket.clone(), config.s3_force_path_style).await;
        Ok(Deps { api, store, config })
    }
}

/// Performs the job's next step and returns the job as it is after it.
pub async fn step<A: LogsApi, S: ObjectStore>(
    job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    match job.step {
        Step::Request => request(job, deps).await,
        Step::Poll => poll(job, deps).await,
        Step::Copy => copy(job, deps).await,
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
    after_status(job, status, &deps.config)
}

async fn poll<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let id = request_id(&job)?;
    let status = deps.api.status(&id, job.scope.region_group()).await?;
    job.polls += 1;
    after_status(job, status, &deps.config)
}

async fn copy<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
) -> Result<Job, StepError> {
    let id = request_id(&job)?;
    let rg = job.scope.region_group().to_owned();
    let mut status = deps.api.status(&id, &rg).await?;
    // A fresh URL is fetched at most once per reason: stale before the start, or refused (403).
    let mut renewed = false;
    loop {
        if status.state != LogState::Complete {
            // Someone (or a renewal) moved the request on; let the common rules decide.
            return after_status(job, status, &deps.config);
        }
        let url = usable_url(&status, "GET /api/v1/logs/{id}")?;
        if !url.is_allowed() {
            let insecure = DownloadError::InsecureUrl {
                url: url.to_string(),
            };
            return Err(StepError::Copy(insecure.into()));
        }
        let stale = status
            .presigned_url_expiration_time
            .is_some_and(|t| t <= Utc::now() + URL_EXPIRY_MARGIN);
        if stale && !renewed {
            tracing::info!(request_id = %id, "presigned URL expired or about to; renewing");
            status = deps.api.renew_url(&id, &rg).await?;
            renewed = true;
            if status.state == LogState::CreatingNewUrl && status.presigned_url.is_some() {
                // The renewal answers with the new URL while saying CreatingNewUrl; use it.
                status.state = LogState::Complete;
            }
            continue;
        }
        let file = match deps.api.download(&url).await {
            Err(DownloadError::Refused { status: 403, .. }) if !renewed => {
                tracing::info!(request_id = %id, "file host refused the URL; renewing");
                status = deps.api.renew_url(&id, &rg).await?;
                renewed = true;
                if status.presigned_url.is_some() {
                    status.state = LogState::Complete;
                }
                continue;
            }
            other => other.map_err(|e| StepError::Copy(e.into()))?,
        };
        let options = CopyOptions {
            part_size: deps.config.part_size,
            max_in_flight: deps.config.max_parts_in_flight,
        };
        let copied = copy_file(file, &deps.store, &job.key, options, &url.to_string()).await?;
        tracing::info!(
            bucket = deps.store.bucket(),
            key = %job.key,
            bytes = copied.bytes,
            parts = copied.parts,
            "log file stored"
        );
        job.step = Step::Done;
        job.bytes = Some(copied.bytes);
        job.wait_seconds = 0;
        return Ok(job);
    }
}

fn request_id(job: &Job) -> Result<String, StepError> {
    job.request_id
        .clone()
        .ok_or(StepError::InvalidJob(InvalidJob::MISSING_REQUEST_ID))
}

fn usable_url(
    status: &LogRequestStatus,
    endpoint: &'static str,
) -> Result<PresignedUrl, StepError> {
    status.presigned_url.clone().ok_or_else(|| {
        StepError::Fauna(FaunaError::Protocol {
            endpoint,
            detail: format!(
                "request {} is Complete but has no presigned_url",
                status.request_id
            ),
        })
    })
}

/// What a reported state means for the job: the one place the state rules live.
fn after_status(mut job: Job, status: LogRequestStatus, config: &Config) -> Result<Job, StepError> {
    tracing::info!(request_id = %status.request_id, state = %status.state, polls = job.polls, "log request state");
    match status.state {
        LogState::Complete => {
            job.step = Step::Copy;
            job.wait_seconds = 0;
        }
        LogState::DoesNotExist => {
            // No logs in the window: nothing is written (see the README), the job is done.
            job.step = Step::Done;
            job.bytes = Some(0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::copy::tests::MemoryStore;
    use crate::fauna::LogFile;
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
        async fn download(&self, url: &PresignedUrl) -> Result<LogFile, DownloadError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("download {}", url.expose()));
            let mut refuse = self.refuse_downloads.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return Err(DownloadError::Refused {
                    status: 403,
                    url: url.to_string(),
                });
            }
            let body = Bytes::from(self.file.clone());
            Ok(LogFile {
                content_length: Some(body.len() as u64),
                body: futures_util::stream::iter([Ok(body)]).boxed(),
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
                file: b"\x1f\x8b fake gzip".to_vec(),
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

    #[tokio::test]
    async fn happy_path_request_poll_copy_done() {
        let d = deps(vec![
            status("r1", "Pending"),
            status("r1", "Requested"),
            complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
            complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
        ]);
        let job = step(new_job(&d), &d).await.unwrap();
        assert_eq!(
            (job.step, job.attempt, job.wait_seconds),
            (Step::Poll, 1, 10)
        );
        assert_eq!(job.request_id.as_deref(), Some("r1"));
        assert!(job.poll_deadline.is_some());
        let job = step(job, &d).await.unwrap();
        assert_eq!((job.step, job.polls, job.wait_seconds), (Step::Poll, 1, 15));
        let job = step(job, &d).await.unwrap();
        assert_eq!((job.step, job.wait_seconds), (Step::Copy, 0));
        let job = step(job, &d).await.unwrap();
        assert_eq!(job.step, Step::Done);
        assert_eq!(job.bytes, Some(d.api.file.len() as u64));
        assert_eq!(d.store.state.lock().unwrap().objects[&job.key], d.api.file);
        let calls = d.api.calls.lock().unwrap().clone();
        assert_eq!(
            calls[0],
            "request database us-std/ECommerce 2026-11-24T00:00:00Z 2026-11-25T00:00:00Z"
        );
        assert_eq!(calls[1], "status r1 us-std");
        // done is terminal: stepping again changes nothing and calls nothing
        let again = step(job.clone(), &d).await.unwrap();
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
        let job = step(new_job(&d), &d).await.unwrap();
        let job = step(job, &d).await.unwrap();
        assert_eq!((job.step, job.request_id.clone()), (Step::Request, None));
        let job = step(job, &d).await.unwrap();
        assert_eq!((job.attempt, job.request_id.as_deref()), (2, Some("r2")));
        let err = step(job, &d).await.unwrap_err();
        assert_eq!(err.error_type(), "ExportFailed");
        assert!(err.to_string().contains("TimedOut"), "{err}");
    }

    #[tokio::test]
    async fn does_not_exist_is_done_with_nothing_written() {
        let d = deps(vec![status("r1", "DoesNotExist")]);
        let job = step(new_job(&d), &d).await.unwrap();
        assert_eq!((job.step, job.bytes), (Step::Done, Some(0)));
        assert!(d.store.state.lock().unwrap().objects.is_empty());
    }

    #[tokio::test]
    async fn unknown_states_keep_polling_until_the_deadline() {
        let d = deps(vec![
            status("r1", "Pending"),
            status("r1", "InProgress"),
            status("r1", "InProgress"),
        ]);
        let job = step(new_job(&d), &d).await.unwrap();
        let mut job = step(job, &d).await.unwrap();
        assert_eq!(job.step, Step::Poll);
        job.poll_deadline = Some(Utc::now() - TimeDelta::seconds(1));
        let err = step(job, &d).await.unwrap_err();
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
        let mut job = new_job(&d);
        job.step = Step::Copy;
        job.request_id = Some("r1".into());
        let job = step(job, &d).await.unwrap();
        assert_eq!(job.step, Step::Done);
        let calls = d.api.calls.lock().unwrap();
        assert_eq!(
            calls.as_slice(),
            [
                "status r1 us-std",
                "renew r1",
                "download http://127.0.0.1:1/f?sig=2"
            ]
        );
    }

    #[tokio::test]
    async fn a_refused_download_renews_once_then_fails() {
        let d = deps(vec![
            complete("r1", "http://127.0.0.1:1/f?sig=1", TimeDelta::hours(1)),
            complete("r1", "http://127.0.0.1:1/f?sig=2", TimeDelta::hours(1)),
        ]);
        *d.api.refuse_downloads.lock().unwrap() = 2;
        let mut job = new_job(&d);
        job.step = Step::Copy;
        job.request_id = Some("r1".into());
        let err = step(job, &d).await.unwrap_err();
        assert_eq!(err.error_type(), "DownloadFailed");
        assert!(err.is_retryable());
        assert!(!err.to_string().contains("sig="), "{err}");
        assert!(d.store.state.lock().unwrap().objects.is_empty());
    }

    #[tokio::test]
    async fn insecure_urls_are_refused() {
        let d = deps(vec![complete(
            "r1",
            "http://files.example/f?sig=1",
            TimeDelta::hours(1),
        )]);
        let mut job = new_job(&d);
        job.step = Step::Copy;
        job.request_id = Some("r1".into());
        let err = step(job, &d).await.unwrap_err();
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
        let err = step(new_job(&d), &d).await.unwrap_err();
        assert_eq!(err.error_type(), "FaunaAuthRejected");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("FAUNA_ACCOUNT_KEY"));
    }
}
