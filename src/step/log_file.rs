//! [`LogFileSource`]: the log file behind a Complete request's presigned URL, as the copy engine
//! reads it ([`FileSource`]): renewing the URL when it is stale or refused. A renewal whose URL
//! is not ready yet (`CreatingNewUrl`) stops the copy, which keeps its parts while the job waits.

use chrono::{DateTime, TimeDelta, Utc};

use super::MAX_RENEWALS;
use crate::copy::{CopyError, FileSource};
use crate::error::StepError;
use crate::fauna::{
    DownloadError, FaunaError, FileIdentity, LogFile, LogRequestStatus, LogState, LogsApi,
    PresignedUrl,
};
use crate::job::Job;

/// A URL that expires within this margin is renewed before a download starts.
const URL_EXPIRY_MARGIN: TimeDelta = TimeDelta::seconds(60);

/// The log file behind a Complete request's presigned URL, renewing the URL when it is stale
/// or refused; a renewal still `CreatingNewUrl` stops the copy ([`CopyError::UrlNotReady`]).
pub(super) struct LogFileSource<'a, A> {
    api: &'a A,
    request_id: String,
    region_group: String,
    url: PresignedUrl,
    expires: Option<DateTime<Utc>>,
    renewals: u32,
    /// The last renewal answered `CreatingNewUrl`: its URL may not work yet.
    renewal_pending: bool,
}

impl<'a, A: LogsApi> LogFileSource<'a, A> {
    /// The file of `job`'s request `request_id`, whose status is `status`.
    pub(super) fn new(
        api: &'a A,
        job: &Job,
        request_id: &str,
        status: &LogRequestStatus,
    ) -> Result<Self, StepError> {
        let url = usable_url(status)?;
        Ok(LogFileSource {
            api,
            request_id: request_id.to_owned(),
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
            self.new_url().await
        }
    }

    /// Reads the request's state once after a renewal whose URL was refused: `Complete` with
    /// a URL gives the new URL; anything else means it is not ready, and the copy stops, keeping
    /// its parts, for the job to wait as a poll does (however long Fauna takes, up to the poll
    /// deadline).
    async fn new_url(&mut self) -> Result<(), CopyError> {
        let status = self
            .api
            .status(&self.request_id, &self.region_group)
            .await?;
        if status.state == LogState::Complete && status.presigned_url.is_some() {
            self.renewal_pending = false;
            return self.take_url(&status);
        }
        tracing::info!(state = %status.state, "the new presigned URL is not ready yet");
        Err(CopyError::UrlNotReady {
            request_id: self.request_id.clone(),
        })
    }

    fn take_url(&mut self, status: &LogRequestStatus) -> Result<(), CopyError> {
        self.url = usable_url(status)?;
        self.expires = status.presigned_url_expiration_time;
        Ok(())
    }
}

impl<A: LogsApi> FileSource for LogFileSource<'_, A> {
    async fn open(
        &mut self,
        from: u64,
        pinned: Option<&FileIdentity>,
    ) -> Result<LogFile, CopyError> {
        if self.is_stale() && self.renewals < MAX_RENEWALS {
            tracing::info!("the presigned URL has expired or is about to");
            self.renew().await?;
        }
        loop {
            match self.api.download(&self.url, from, pinned).await {
                Err(DownloadError::Refused { status: 403, .. }) if self.renewal_pending => {
                    self.new_url().await?;
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

/// The presigned URL of a Complete request (where it may lead is the Fauna client's to check).
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
    Ok(url)
}
