//! The clients a step works with, built once per process (a Lambda cold start, a CLI run) from
//! a [`Config`] that has already been read and checked: the Fauna API, the bucket, and the
//! account key (read from Secrets Manager when the configuration names a secret, and read
//! again there by the Fauna client when Fauna rejects it).
//!
//! This is the only place the exporter touches the network before its first step, so everything
//! that can be checked without it (arguments, payloads, settings) is checked before
//! [`Deps::connect`] is called.

use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;

use crate::config::{Config, ConfigError, KeySource};
use crate::error::StepError;
use crate::fauna::secret::SecretReader;
use crate::fauna::{AccountKey, FaunaClient};
use crate::retry::RetryPolicy;
use crate::store::S3Store;

/// What a step works with: the Fauna API, the bucket and the configuration.
pub struct Deps<A, S> {
    pub api: A,
    pub store: S,
    pub config: Config,
}

impl Deps<FaunaClient, S3Store> {
    /// The real clients for `config`.
    pub async fn connect(config: Config) -> Result<Self, StepError> {
        let aws = aws_config().await?;
        let (key, secret) = account_key(&config.account_key, &aws).await?;
        let api = FaunaClient::new(
            config.fauna_url.clone(),
            key,
            secret,
            RetryPolicy::default(),
            config.timeouts,
        )
        .map_err(StepError::Startup)?;
        let store = S3Store::new(&aws, config.destination.clone());
        Ok(Deps { api, store, config })
    }
}

/// The AWS SDK's configuration. The region comes from `AWS_REGION` (always set in Lambda) or the
/// AWS profile, never from probing the instance metadata service: a missing region is one clear
/// error instead of a wait and a page of SDK warnings.
async fn aws_config() -> Result<aws_config::SdkConfig, ConfigError> {
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .region()
        .await
        .ok_or_else(|| ConfigError {
            var: "AWS_REGION",
            problem: "is not set, and the AWS profile names no region: set it to the bucket's region, e.g. AWS_REGION=us-east-1".into(),
        })?;
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .http_client(aws_http_client()?)
        .timeout_config(aws_timeouts())
        .load()
        .await)
}

/// How long an AWS call (S3, Secrets Manager) may take: the SDK sets no limit, and a hung
/// UploadPart or CompleteMultipartUpload would hold a step until Lambda ends it. An attempt that
/// takes longer is retried by the SDK; a call that takes longer in all fails as a transient
/// error, for the step's retry (an 8 MiB part takes well under a second in AWS).
fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(150))
        .build()
}

/// The SDK's HTTPS client as its default one (rustls over aws-lc-rs), trusting the roots of
/// [`crate::tls`] instead of reading the system store a second time.
fn aws_http_client() -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, ConfigError>
{
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(crate::tls::root_certificates_pem());
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| ConfigError {
            var: "SSL_CERT_FILE",
            problem: format!("names root certificates the AWS SDK cannot use: {e}"),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

/// The account key, and where to read it again when it is kept in a secret.
async fn account_key(
    source: &KeySource,
    aws: &aws_config::SdkConfig,
) -> Result<(AccountKey, Option<SecretReader>), StepError> {
    match source {
        KeySource::Key(key) => Ok((key.clone(), None)),
        KeySource::Secret(id) => {
            let reader = SecretReader::new(aws_sdk_secretsmanager::Client::new(aws), id.clone());
            let key = reader.read().await?;
            Ok((key, Some(reader)))
        }
    }
}
