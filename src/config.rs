//! Configuration: the environment, read once per process (a Lambda cold start or a CLI run).
//!
//! Every setting has a documented environment variable and, where it makes sense, a default; a bad
//! value is a [`ConfigError`] naming the variable and what it expects. Reading it touches no
//! network: clients are built from it afterwards ([`crate::clients`]). The AWS SDK reads its own
//! variables (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL[_S3]`) through `aws-config`.

use std::time::Duration;

use url::Url;

use crate::fauna::{AccountKey, Timeouts};
use crate::input::schedule::{MAX_LAG_MINUTES, ScheduleDefaults};
use crate::input::{DEFAULT_PREFIX, DEFAULT_REGION_GROUPS, JobRules};
use crate::scope::Scope;
use crate::store::Destination;
use crate::time::Granularity;
use crate::verify::InflateWith;

/// The environment variables, their defaults and meaning; `--help` prints this table.
pub(crate) const ENVIRONMENT_HELP: &str = "\
Configuration (environment variables):
  FAUNA_ACCOUNT_URL          Fauna Account API base URL [default: https://account.fauna.com]
  FAUNA_ACCOUNT_KEY          Fauna account key secret (never logged); or
  FAUNA_ACCOUNT_KEY_SECRET_ARN  a Secrets Manager secret holding it (the key, or a JSON object with
                             it as FAUNA_ACCOUNT_KEY), read at cold start and again when Fauna
                             rejects the key
  LOGS_BUCKET                destination S3 bucket (required)
  LOGS_PREFIX                key prefix inside the bucket [default: fauna-logs]
  LOGS_BUCKET_OWNER          12-digit account that must own LOGS_BUCKET; sent on every S3 request
                             as ExpectedBucketOwner [default: none]
  LOGS_KMS_KEY_ARN           KMS key ARN: every object is written SSE-KMS under it, with the S3
                             Bucket Key [default: none, the bucket's default encryption]
  FAUNA_REGION_GROUPS        region groups a database path may start with [default: us-std,eu-std,classic]
  POLL_INTERVAL_SECONDS      first wait between status polls; 0 polls at once [default: 10]
  POLL_INTERVAL_MAX_SECONDS  cap of the growing poll interval [default: 120]
  POLL_DEADLINE_SECONDS      give up polling a window after this long [default: 7200]
  FAUNA_TIMEOUT_SECONDS      time allowed for one Fauna API call before it is retried [default: 30]
  DOWNLOAD_READ_TIMEOUT_SECONDS
                             a file download that sends nothing for this long is reopened where
                             it stopped [default: 60]
  MAX_REQUEST_ATTEMPTS       log requests per window when Fauna reports Failed/TimedOut [default: 3]
  PART_SIZE_MIB              multipart part size in MiB, at least 8 [default: 8]
  MAX_PARTS_IN_FLIGHT        parts uploading at once [default: 3]
  VERIFY_INFLATE             how the copy gunzips the file to verify it: isal (ISA-L, about 1.7 ×
                             faster) or zlib-rs [default: isal when built in, else zlib-rs]
  S3_FORCE_PATH_STYLE        true for local S3 servers (moto, s3s-fs, MinIO) [default: false]
  SCHEDULE_GRANULARITY       window of a scheduled run: hour or day [default: day]
  SCHEDULE_LAG_MINUTES       how long after a window ends it is exported [default: 60]
  SCHEDULE_DATABASE / SCHEDULE_REGION_GROUP
                             what a classic EventBridge Scheduled Event exports
  STEP_TIME_LIMIT_SECONDS    pause a copy at a part boundary after this long, to continue in the
                             next step (in Lambda: the invocation's deadline minus 60 s) [default: none]
  AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL,
  AWS_ENDPOINT_URL_S3        read by the AWS SDK as usual
  RUST_LOG / AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_LOG_FORMAT=JSON  log level and format";

/// Where the account key comes from: the environment, or a Secrets Manager secret.
#[derive(Debug, Clone)]
pub enum KeySource {
    Key(AccountKey),
    Secret(String),
}

/// How polling paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub deadline: Duration,
}

impl PollPolicy {
    /// The wait before poll number `polls + 1`: the initial interval growing by half each poll,
    /// capped.
    pub fn interval(&self, polls: u32) -> Duration {
        let mut wait = self.initial;
        for _ in 0..polls.min(32) {
            wait = wait.saturating_add(wait / 2);
            if wait >= self.max {
                return self.max;
            }
        }
        wait.min(self.max)
    }
}

/// Everything a step needs besides the job.
#[derive(Debug, Clone)]
pub struct Config {
    pub fauna_url: Url,
    pub account_key: KeySource,
    /// The bucket, its expected owner and encryption key.
    pub destination: Destination,
    /// What validating input needs: region groups, key prefix, schedule defaults.
    pub rules: JobRules,
    pub poll: PollPolicy,
    /// Time allowed for one Fauna API call, and for one read of a file download.
    pub timeouts: Timeouts,
    pub max_request_attempts: u32,
    pub part_size: usize,
    pub max_parts_in_flight: usize,
    /// A copy pauses at a part boundary after this long (besides the Lambda deadline).
    pub step_time_limit: Option<Duration>,
    /// How the copy's verifier inflates the file.
    pub inflate: InflateWith,
}

/// Log requests per window when Fauna ends them Failed/TimedOut, unless `MAX_REQUEST_ATTEMPTS`
/// says otherwise.
pub const DEFAULT_MAX_REQUEST_ATTEMPTS: usize = 3;

/// The smallest part size we accept (S3 allows 5 MiB; fewer, larger parts are cheaper).
pub(crate) const MIN_PART_SIZE_MIB: usize = 8;

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl Config {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(&lookup);
        let fauna_url = env.parse_with("FAUNA_ACCOUNT_URL", "https://account.fauna.com", |v| {
            Url::parse(v)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or("must be an http(s) URL such as https://account.fauna.com")
        })?;
        let account_key = match (env.get("FAUNA_ACCOUNT_KEY"), env.get("FAUNA_ACCOUNT_KEY_SECRET_ARN")) {
            (Some(key), _) => KeySource::Key(AccountKey::new(key)),
            (None, Some(arn)) => KeySource::Secret(arn),
            (None, None) => return Err(ConfigError {
                var: "FAUNA_ACCOUNT_KEY",
                problem: "is not set: set it to a Fauna account key secret (Dashboard → Account → Account Keys), or set FAUNA_ACCOUNT_KEY_SECRET_ARN to a Secrets Manager secret holding it".into(),
            }),
        };
        let bucket = env.get("LOGS_BUCKET").ok_or_else(|| ConfigError {
            var: "LOGS_BUCKET",
            problem: "is not set: name the S3 bucket the logs go to".into(),
        })?;
        let prefix = env
            .get("LOGS_PREFIX")
            .unwrap_or_else(|| DEFAULT_PREFIX.into());
        let region_groups: Vec<String> = env
            .get("FAUNA_REGION_GROUPS")
            .unwrap_or_else(|| DEFAULT_REGION_GROUPS.join(","))
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if region_groups.is_empty() {
            return Err(ConfigError {
                var: "FAUNA_REGION_GROUPS",
                problem: "is empty: list region groups separated by commas, e.g. us-std,eu-std"
                    .into(),
            });
        }
        let seconds = |var, default: u64| -> Result<Duration, ConfigError> {
            env.parse_with(var, &default.to_string(), |v| {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| "must be a whole number of seconds")
            })
        };
        let poll = PollPolicy {
            initial: seconds("POLL_INTERVAL_SECONDS", 10)?,
            max: seconds("POLL_INTERVAL_MAX_SECONDS", 120)?,
            deadline: seconds("POLL_DEADLINE_SECONDS", 7200)?,
        };
        let at_least_one_second = |var, default: &str| {
            env.parse_with(var, default, |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|s| *s >= 1)
                    .map(Duration::from_secs)
                    .ok_or("must be a whole number of seconds, at least 1")
            })
        };
        let timeouts = Timeouts {
            api: at_least_one_second("FAUNA_TIMEOUT_SECONDS", "30")?,
            download_read: at_least_one_second("DOWNLOAD_READ_TIMEOUT_SECONDS", "60")?,
        };
        let count = |var, default: usize, min: usize| -> Result<usize, ConfigError> {
            env.parse_with(var, &default.to_string(), |v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or(if min > 1 {
                        "must be a whole number of at least 8"
                    } else {
                        "must be a whole number of at least 1"
                    })
            })
        };
        let max_request_attempts = count("MAX_REQUEST_ATTEMPTS", DEFAULT_MAX_REQUEST_ATTEMPTS, 1)?;
        let part_size = count("PART_SIZE_MIB", MIN_PART_SIZE_MIB, MIN_PART_SIZE_MIB)? << 20;
        let max_parts_in_flight = count("MAX_PARTS_IN_FLIGHT", 3, 1)?;
        let inflate = env.parse_with("VERIFY_INFLATE", "", |v| match v {
            "" => Ok(InflateWith::fastest()),
            "zlib-rs" => Ok(InflateWith::ZlibRs),
            "isal" if InflateWith::AVAILABLE.contains(&InflateWith::Isal) => {
                Ok(InflateWith::Isal)
            }
            "isal" => Err("names ISA-L, which this build lacks (built without the `isal` feature): set zlib-rs or leave it unset"),
            _ => Err("must be isal or zlib-rs"),
        })?;
        let s3_force_path_style = env.parse_with("S3_FORCE_PATH_STYLE", "false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" | "" => Ok(false),
                _ => Err("must be true or false"),
            }
        })?;
        let expected_owner = env.get("LOGS_BUCKET_OWNER");
        if let Some(owner) = &expected_owner
            && !(owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError {
                var: "LOGS_BUCKET_OWNER",
                problem: "must be the 12-digit ID of the AWS account that owns LOGS_BUCKET".into(),
            });
        }
        let kms_key = env.get("LOGS_KMS_KEY_ARN");
        if let Some(arn) = &kms_key
            && !is_kms_key_arn(arn)
        {
            return Err(ConfigError {
                var: "LOGS_KMS_KEY_ARN",
                problem: "must be a KMS key ARN, arn:<partition>:kms:<region>:<account>:key/<id>"
                    .into(),
            });
        }
        let step_time_limit = match env.get("STEP_TIME_LIMIT_SECONDS") {
            None => None,
            Some(_) => Some(seconds("STEP_TIME_LIMIT_SECONDS", 0)?),
        };
        let granularity = env.parse_with("SCHEDULE_GRANULARITY", "day", |v| {
            Granularity::parse(v).ok_or("must be hour or day")
        })?;
        let lag_minutes = env.parse_with("SCHEDULE_LAG_MINUTES", "60", |v| {
            v.parse::<i64>()
                .ok()
                .filter(|m| (0..=MAX_LAG_MINUTES).contains(m))
                .ok_or("must be a whole number of minutes from 0 to 10080")
        })?;
        let scope = match (
            env.get("SCHEDULE_DATABASE"),
            env.get("SCHEDULE_REGION_GROUP"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    var: "SCHEDULE_DATABASE",
                    problem: "is set together with SCHEDULE_REGION_GROUP: set one".into(),
                });
            }
            (Some(db), None) => Some(Scope::Database(db)),
            (None, Some(rg)) => Some(Scope::RegionGroup(rg)),
            (None, None) => None,
        };
        let schedule = ScheduleDefaults {
            granularity,
            lag: chrono::TimeDelta::minutes(lag_minutes),
            scope,
        };
        Ok(Config {
            fauna_url,
            account_key,
            destination: Destination {
                bucket,
                expected_owner,
                kms_key,
                force_path_style: s3_force_path_style,
            },
            rules: JobRules {
                region_groups,
                prefix,
                schedule,
            },
            poll,
            timeouts,
            max_request_attempts: u32::try_from(max_request_attempts).unwrap_or(u32::MAX),
            part_size,
            max_parts_in_flight,
            step_time_limit,
            inflate,
        })
    }
}

/// `arn:<partition>:kms:<region>:<12-digit account>:key/<id>`: the form S3 needs to find the
/// key from any account (an alias or a bare key id is resolved in the caller's account only).
fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "kms", region, account, resource]
            if !partition.is_empty()
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty()))
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    fn parse_with<T>(
        &self,
        var: &'static str,
        default: &str,
        parse: impl Fn(&str) -> Result<T, &'static str>,
    ) -> Result<T, ConfigError> {
        let value = self.get(var).unwrap_or_else(|| default.to_owned());
        parse(value.trim()).map_err(|expected| ConfigError {
            var,
            problem: format!("is {value:?}: it {expected}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `--help`'s table names every variable the configuration reads, whichever way it is set
    /// (so a setting added to `from_lookup` without a line in ENVIRONMENT_HELP fails here).
    #[test]
    fn the_help_names_every_variable_read() {
        let asked = std::sync::Mutex::new(std::collections::BTreeSet::new());
        for given in [&["FAUNA_ACCOUNT_KEY", "LOGS_BUCKET"][..], &["LOGS_BUCKET"]] {
            let _ = Config::from_lookup(|name| {
                asked.lock().unwrap().insert(name.to_owned());
                given.contains(&name).then(|| "x".to_owned())
            });
        }
        let asked = asked.into_inner().unwrap();
        assert!(asked.len() >= 20, "{asked:?}");
        for name in &asked {
            assert!(
                ENVIRONMENT_HELP.contains(name.as_str()),
                "{name} is read but ENVIRONMENT_HELP does not name it"
            );
        }
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const REQUIRED: [(&str, &str); 2] =
        [("FAUNA_ACCOUNT_KEY", "fnac-secret"), ("LOGS_BUCKET", "b")];

    #[test]
    fn defaults() {
        let c = config(&REQUIRED).unwrap();
        assert_eq!(c.fauna_url.as_str(), "https://account.fauna.com/");
        assert_eq!(c.rules.prefix, "fauna-logs");
        assert_eq!(c.poll.initial, Duration::from_secs(10));
        assert_eq!(c.poll.deadline, Duration::from_secs(7200));
        assert_eq!(c.part_size, 8 << 20);
        assert_eq!(c.rules.region_groups, ["us-std", "eu-std", "classic"]);
        assert!(!c.destination.force_path_style);
        assert_eq!(c.destination.expected_owner, None);
        assert_eq!(c.destination.kms_key, None);
    }

    #[test]
    fn key_never_shows() {
        let c = config(&REQUIRED).unwrap();
        assert!(!format!("{c:?}").contains("fnac-secret"));
        match c.account_key {
            KeySource::Key(key) => assert_eq!(key.expose(), "fnac-secret"),
            other => panic!("unexpected {other:?}"),
        }
        let c = config(&[
            ("LOGS_BUCKET", "b"),
            ("FAUNA_ACCOUNT_KEY_SECRET_ARN", "arn:aws:secretsmanager:x"),
        ])
        .unwrap();
        assert!(
            matches!(c.account_key, KeySource::Secret(ref arn) if arn == "arn:aws:secretsmanager:x")
        );
    }

    #[test]
    fn bucket_owner_and_kms_key() {
        let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let c = config(&[
            REQUIRED[0],
            REQUIRED[1],
            ("LOGS_BUCKET_OWNER", "111122223333"),
            ("LOGS_KMS_KEY_ARN", key),
        ])
        .unwrap();
        assert_eq!(
            c.destination.expected_owner.as_deref(),
            Some("111122223333")
        );
        assert_eq!(c.destination.kms_key.as_deref(), Some(key));
        for owner in [
            "11112222333",
            "1111222233334",
            "11112222333x",
            "arn:aws:iam::1:root",
        ] {
            let err =
                config(&[REQUIRED[0], REQUIRED[1], ("LOGS_BUCKET_OWNER", owner)]).unwrap_err();
            assert_eq!(err.var, "LOGS_BUCKET_OWNER", "{owner}");
            assert!(err.to_string().contains("12-digit"), "{err}");
        }
        for bad in [
            "alias/logs",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:111122223333:alias/logs",
            "arn:aws:s3:eu-west-1:111122223333:key/x",
            "arn:aws:kms:eu-west-1:1111:key/x",
            "arn:aws:kms::111122223333:key/x",
            "arn:aws:kms:eu-west-1:111122223333:key/",
        ] {
            let err = config(&[REQUIRED[0], REQUIRED[1], ("LOGS_KMS_KEY_ARN", bad)]).unwrap_err();
            assert_eq!(err.var, "LOGS_KMS_KEY_ARN", "{bad}");
            assert!(err.to_string().contains("KMS key ARN"), "{err}");
        }
    }

    #[test]
    fn the_verifier_inflates_with_isal_when_built_in_or_as_told() {
        let default = config(&REQUIRED).unwrap().inflate;
        assert_eq!(default, InflateWith::fastest());
        assert_eq!(default == InflateWith::Isal, cfg!(feature = "isal"));
        let set = config(&[REQUIRED[0], REQUIRED[1], ("VERIFY_INFLATE", "zlib-rs")]).unwrap();
        assert_eq!(set.inflate, InflateWith::ZlibRs);
        let isal = config(&[REQUIRED[0], REQUIRED[1], ("VERIFY_INFLATE", "isal")]);
        assert_eq!(isal.is_ok(), cfg!(feature = "isal"), "{isal:?}");
        let err = config(&[REQUIRED[0], REQUIRED[1], ("VERIFY_INFLATE", "zlib")]).unwrap_err();
        assert_eq!(err.var, "VERIFY_INFLATE");
        assert!(err.to_string().contains("isal or zlib-rs"), "{err}");
    }

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[("LOGS_BUCKET", "b")]).unwrap_err();
        assert_eq!(err.var, "FAUNA_ACCOUNT_KEY");
        let err = config(&[REQUIRED[0], REQUIRED[1], ("PART_SIZE_MIB", "5")]).unwrap_err();
        assert_eq!(err.var, "PART_SIZE_MIB");
        assert!(err.to_string().contains("at least 8"), "{err}");
        let err =
            config(&[REQUIRED[0], REQUIRED[1], ("POLL_INTERVAL_SECONDS", "soon")]).unwrap_err();
        assert_eq!(err.var, "POLL_INTERVAL_SECONDS");
        let err =
            config(&[REQUIRED[0], REQUIRED[1], ("FAUNA_ACCOUNT_URL", "ftp://x")]).unwrap_err();
        assert_eq!(err.var, "FAUNA_ACCOUNT_URL");
    }

    #[test]
    fn poll_interval_grows_to_the_cap() {
        let p = PollPolicy {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(60),
            deadline: Duration::from_secs(7200),
        };
        let waits: Vec<u64> = (0..7).map(|n| p.interval(n).as_secs()).collect();
        assert_eq!(waits, [10, 15, 22, 33, 50, 60, 60]);
        assert_eq!(p.interval(u32::MAX).as_secs(), 60);
    }
}
