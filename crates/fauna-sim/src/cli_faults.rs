//! Command-line fault options of the simulator.
//!
//! Owns the `clap` definition of every fault switch (API faults, request-state faults, renewal
//! faults, file-host faults and the seeded chaos mode), the parsing of `--state-at-poll N=NAME`,
//! and their checks.
//! `faults.rs` turns them into the runtime switches.

use clap::{Args, ValueEnum};

use crate::chaos::ChaosKind;
use crate::cli::{is_http_url, parse_size};
use crate::state::LogState;

/// Every fault switch (all off by default).
#[derive(Args, Debug)]
#[command(next_help_heading = "Faults")]
pub struct FaultArgs {
    /// Fault: the first N API calls answer 429 too_many_requests with Retry-After.
    #[arg(long, default_value_t = 0)]
    pub throttle: u64,

    /// Value of the Retry-After header sent with throttled answers, in seconds.
    #[arg(long, default_value_t = 1)]
    pub retry_after: u64,

    /// Fault: the first N API calls (after throttled ones) answer 503 internal_error.
    #[arg(long, default_value_t = 0)]
    pub server_errors: u64,

    /// Fault: every API call after the first N answers 503 internal_error, for good (Fauna
    /// down for the rest of the run).
    #[arg(long)]
    pub server_errors_after: Option<u64>,

    /// Fault: the first N API calls (after throttled and 503 ones) take effect, then their
    /// connection is reset (TCP RST) with no HTTP answer, as if the answer were lost.
    #[arg(long, default_value_t = 0)]
    pub reset_connections: u64,

    /// Fault: the first N API calls (after throttled and 503 ones) take effect but answer only
    /// after --slow-response-ms milliseconds.
    #[arg(long, default_value_t = 0)]
    pub slow_responses: u64,

    /// Delay of the answers slowed by --slow-responses, in milliseconds (the default is just
    /// past the exporter's 30 s API call timeout).
    #[arg(long, value_name = "MS", default_value_t = 31_000)]
    pub slow_response_ms: u64,

    /// Fault: the first N log requests end in --fail-state instead of Complete.
    #[arg(long, default_value_t = 0)]
    pub fail_requests: u64,

    /// Final state of the requests failed by --fail-requests.
    #[arg(long, value_enum, default_value_t = FailState::Failed, ignore_case = true)]
    pub fail_state: FailState,

    /// Fault: every request ends in DoesNotExist (no URL).
    #[arg(long)]
    pub does_not_exist: bool,

    /// Fault: every request reports this state (e.g. InProgress) on its first poll.
    #[arg(long, value_name = "NAME")]
    pub unknown_state: Option<String>,

    /// Fault (repeatable): the Nth status poll (1-based) of every request answers NAME instead
    /// of what it would have answered, with no URL; the progression goes on at the next poll.
    /// NAME may be a documented state (e.g. 5=Pending) or any other (e.g. 2=InProgress).
    #[arg(long, value_name = "N=NAME", value_parser = parse_state_at_poll)]
    pub state_at_poll: Vec<(u64, String)>,

    /// Fault: a request that reported Complete reports --fail-after-complete-state on its Nth
    /// status poll after the one that first said Complete, and on every poll after that; its
    /// URL stops working and it can no longer be renewed.
    #[arg(long, value_name = "N")]
    pub fail_after_complete: Option<u64>,

    /// The late state of --fail-after-complete.
    #[arg(long, value_enum, default_value_t = LateState::Failed, ignore_case = true)]
    pub fail_after_complete_state: LateState,

    /// Only the first K requests created that would end Complete are hit by
    /// --fail-after-complete [default: all].
    #[arg(long, value_name = "K")]
    pub fail_after_complete_requests: Option<u64>,

    /// Fault: the first N URL renewals stay in CreatingNewUrl for at least
    /// --slow-renewal-seconds of wall time.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub slow_renewals: u64,

    /// How long the renewals of --slow-renewals stay in CreatingNewUrl.
    #[arg(long, value_name = "S", default_value_t = 180)]
    pub slow_renewal_seconds: u64,

    /// Fault: the first N URL renewals never complete: the request answers CreatingNewUrl for
    /// ever and the new URL never works.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub stuck_renewals: u64,

    /// Fault: the first download's connection is cut after this many body bytes (the
    /// Content-Length still announces the full size). Accepts the units of --file-size.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub drop_download_after: Option<u64>,

    /// Fault: every download (every time, with or without Range) is cut (connection closed
    /// mid-body) once it has sent the file up to P % of its bytes counted from byte 0
    /// (floor(size × P / 100)). A range that starts at or past that point is cut before its
    /// first byte; one that ends before it is served whole. A copy can never finish.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u8).range(0..=99))]
    pub cut_every_download_at_percent: Option<u8>,

    /// Fault: the body stops sending after BYTES (of this answer's body) and the connection is
    /// held open, silent, until the client gives up (or an hour passes). Accepts the units of
    /// --file-size.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub stall_download_after: Option<u64>,

    /// Only the first N downloads stall under --stall-download-after [default: all].
    #[arg(long, value_name = "N")]
    pub stall_downloads: Option<u64>,

    /// Fault: every file download is paced to R bytes per second (a slow host). Accepts the
    /// units of --file-size (e.g. 64KiB).
    #[arg(long, value_name = "R", value_parser = parse_size)]
    pub download_bytes_per_second: Option<u64>,

    /// Fault: the first N Range downloads answered 206 carry a wrong Content-Range (see
    /// --wrong-content-range-field); the body is the bytes that header names.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub wrong_content_range: u64,

    /// What --wrong-content-range gets wrong: `start` (one byte before the asked start, or
    /// byte 1 when 0 was asked) or `total` (the size after the slash is one too many).
    #[arg(long, value_enum, default_value_t = WrongField::Start)]
    pub wrong_content_range_field: WrongField,

    /// Fault: ignore Range headers (always answer 200 with the whole file).
    #[arg(long)]
    pub no_range: bool,

    /// Fault: the first N presigned URLs issued are already expired (the file host answers 403).
    #[arg(long, default_value_t = 0)]
    pub expired_urls: u64,

    /// Fault: each presigned URL serves exactly one download (a 200 or 206 answer); later
    /// requests with it answer 403 "Request has expired", as if it expired mid-copy. A URL from
    /// a renewal (POST .../url) is good for one download again.
    #[arg(long)]
    pub single_use_urls: bool,

    /// Fault: serve a corrupt gzip (bytes flipped in the middle of the compressed data).
    #[arg(long)]
    pub corrupt_gzip: bool,

    /// Fault: serve a gzip cut in half (a valid-looking prefix, consistent Content-Length).
    #[arg(long)]
    pub truncate_gzip: bool,

    /// Fault: answer every file download (GET or HEAD /files/..., before any check) with a
    /// redirect to this URL. For security tests: run it only inside a fresh network namespace.
    #[arg(long, value_name = "URL")]
    pub redirect_downloads_to: Option<String>,

    /// Status of the --redirect-downloads-to answers.
    #[arg(long, value_name = "CODE", default_value_t = 307, value_parser = parse_redirect_status)]
    pub redirect_status: u16,

    /// Chaos: turns on seeded random faults. Each API call and each download then has a
    /// --chaos-percent chance of one fault, chosen at random among the --chaos-kinds that apply
    /// to it; the same seed and the same order of calls give the same faults.
    #[arg(long, value_name = "SEED")]
    pub chaos_seed: Option<u64>,

    /// Chaos: the chance, in percent, that an API call or a download gets a fault [default: 5].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub chaos_percent: Option<u8>,

    /// Chaos: the kinds of fault to choose from, comma separated [default: all]. API calls:
    /// throttle (429), server-error (503), reset (after the call took effect), failed (a
    /// created request ends Failed); downloads: expired-url, drop (cut at a random byte), stall
    /// (silent from a random byte for --chaos-stall-ms, then cut).
    #[arg(long, value_enum, value_name = "KINDS", value_delimiter = ',')]
    pub chaos_kinds: Vec<ChaosKind>,

    /// Chaos: how long a stalled download stays silent before its connection is cut, in
    /// milliseconds [default: 3000].
    #[arg(long, value_name = "MS")]
    pub chaos_stall_ms: Option<u64>,
}

/// Final state forced by `--fail-requests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailState {
    #[value(name = "Failed")]
    Failed,
    #[value(name = "TimedOut")]
    TimedOut,
}

impl From<FailState> for LogState {
    fn from(value: FailState) -> Self {
        match value {
            FailState::Failed => LogState::Failed,
            FailState::TimedOut => LogState::TimedOut,
        }
    }
}

/// Late state forced by `--fail-after-complete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LateState {
    #[value(name = "Failed")]
    Failed,
    #[value(name = "TimedOut")]
    TimedOut,
    #[value(name = "DoesNotExist")]
    DoesNotExist,
}

impl From<LateState> for LogState {
    fn from(value: LateState) -> Self {
        match value {
            LateState::Failed => LogState::Failed,
            LateState::TimedOut => LogState::TimedOut,
            LateState::DoesNotExist => LogState::DoesNotExist,
        }
    }
}

/// The part of `Content-Range` that `--wrong-content-range` falsifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WrongField {
    Start,
    Total,
}

/// `N=NAME` with N ≥ 1 and a non-empty NAME.
fn parse_state_at_poll(text: &str) -> Result<(u64, String), String> {
    let (n, name) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not N=NAME (e.g. 3=InProgress)"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a poll number"))?;
    let name = name.trim();
    if n == 0 || name.is_empty() {
        return Err(format!(
            "`{text}`: polls count from 1 and NAME must not be empty"
        ));
    }
    Ok((n, name.to_owned()))
}

/// A redirecting status: 301, 302, 303, 307 or 308.
fn parse_redirect_status(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(code @ (301 | 302 | 303 | 307 | 308)) => Ok(code),
        _ => Err(format!(
            "`{text}` is not a redirect status (301, 302, 303, 307, 308)"
        )),
    }
}

impl FaultArgs {
    /// Checks that clap cannot express; the message is shown to the user as is.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(name) = &self.unknown_state
            && name.trim().is_empty()
        {
            return Err("--unknown-state must not be empty".into());
        }
        if let Some(url) = &self.redirect_downloads_to
            && !is_http_url(url)
        {
            return Err("--redirect-downloads-to must start with http:// or https://".into());
        }
        if self.download_bytes_per_second == Some(0) {
            return Err("--download-bytes-per-second must be at least 1".into());
        }
        if self.fail_after_complete == Some(0) {
            return Err("--fail-after-complete counts polls after Complete, from 1".into());
        }
        if self.chaos_seed.is_none()
            && (self.chaos_percent.is_some()
                || !self.chaos_kinds.is_empty()
                || self.chaos_stall_ms.is_some())
        {
            return Err(
                "--chaos-percent, --chaos-kinds and --chaos-stall-ms need --chaos-seed".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args as Cli;
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<FaultArgs, String> {
        let base = ["fauna-sim", "--account-key", "k"];
        let args = Cli::try_parse_from(base.iter().chain(extra)).map_err(|e| e.to_string())?;
        args.validate()?;
        Ok(args.faults)
    }

    #[test]
    fn new_faults_are_off_by_default() {
        let f = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(f.state_at_poll.is_empty() && f.fail_after_complete.is_none());
        assert_eq!(
            (f.slow_renewals, f.slow_renewal_seconds, f.stuck_renewals),
            (0, 180, 0)
        );
        assert!(f.cut_every_download_at_percent.is_none() && f.stall_download_after.is_none());
        assert!(f.download_bytes_per_second.is_none() && f.redirect_downloads_to.is_none());
        assert_eq!((f.wrong_content_range, f.redirect_status), (0, 307));
    }

    #[test]
    fn fault_values_parse_and_are_checked() {
        let f = parse(&[
            "--state-at-poll",
            "2=InProgress",
            "--state-at-poll",
            "5=Pending",
            "--fail-after-complete",
            "3",
            "--fail-after-complete-state",
            "DoesNotExist",
            "--cut-every-download-at-percent",
            "50",
            "--stall-download-after",
            "1KiB",
            "--download-bytes-per-second",
            "64KiB",
            "--wrong-content-range",
            "2",
            "--wrong-content-range-field",
            "total",
            "--redirect-downloads-to",
            "http://169.254.169.254/latest",
            "--redirect-status",
            "302",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            f.state_at_poll,
            [(2, "InProgress".to_owned()), (5, "Pending".to_owned())]
        );
        assert_eq!(f.fail_after_complete_state, LateState::DoesNotExist);
        assert_eq!(f.cut_every_download_at_percent, Some(50));
        assert_eq!(f.stall_download_after, Some(1024));
        assert_eq!(f.download_bytes_per_second, Some(65_536));
        assert_eq!(f.wrong_content_range_field, WrongField::Total);
        assert_eq!(f.redirect_status, 302);
        for bad in [
            &["--state-at-poll", "0=Pending"][..],
            &["--state-at-poll", "2="],
            &["--state-at-poll", "Pending"],
            &["--cut-every-download-at-percent", "100"],
            &["--download-bytes-per-second", "0"],
            &["--redirect-downloads-to", "file:///etc/passwd"],
            &["--redirect-status", "200"],
            &["--fail-after-complete", "0"],
            &["--chaos-percent", "5"],
            &["--chaos-kinds", "reset"],
            &["--chaos-stall-ms", "100"],
            &["--chaos-seed", "1", "--chaos-percent", "101"],
            &["--chaos-seed", "1", "--chaos-kinds", "meteor"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chaos_options_parse() {
        let f = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(f.chaos_seed.is_none() && f.chaos_kinds.is_empty());
        let f = parse(&[
            "--chaos-seed",
            "42",
            "--chaos-percent",
            "12",
            "--chaos-kinds",
            "throttle,server-error,reset,failed,expired-url,drop,stall",
            "--chaos-stall-ms",
            "3000",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.chaos_seed, f.chaos_percent), (Some(42), Some(12)));
        assert_eq!(f.chaos_kinds, ChaosKind::ALL);
        assert_eq!(f.chaos_stall_ms, Some(3000));
    }
}
