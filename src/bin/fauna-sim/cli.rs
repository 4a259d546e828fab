//! Command-line interface of the simulator.
//!
//! Owns the `clap` definition of every flag (server, lifecycle, file and fault options), the
//! parsing of human byte sizes such as `256MiB`, and the checks that run before the server
//! starts. Nothing here touches the network.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::state::LogState;

/// Fauna Logs API simulator: serves `/api/v1/logs` like Fauna's Account API, plus presigned
/// gzip JSON Lines log files, with optional fault injection for tests and benchmarks.
///
/// After binding, prints exactly one line to stdout:
/// `fauna-sim listening on http://HOST:PORT`. Logs go to stderr (filter with RUST_LOG).
#[derive(Parser)]
#[command(name = "fauna-sim", version)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (see the line printed to stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,

    /// Account key clients must send as `Authorization: Bearer <KEY>`.
    #[arg(long, env = "FAUNA_SIM_ACCOUNT_KEY", hide_env_values = true)]
    pub account_key: String,

    /// Region groups the simulator knows (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "us-std,eu-std,classic")]
    pub region_groups: Vec<String>,

    /// Base URL written into presigned URLs [default: http://<bound address>].
    #[arg(long)]
    pub public_url: Option<String>,

    /// Status polls (GET) a request answers with a working state (Pending, then Requested)
    /// before it reports its final state. The POST itself answers Pending.
    #[arg(long, default_value_t = 2)]
    pub polls_to_complete: u64,

    /// Lifetime of presigned URLs, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub url_lifetime_seconds: u64,

    /// Approximate size of the compressed file served for a Complete request (bytes, or with
    /// a unit: K/KiB, KB, M/MiB, MB, G/GiB, GB). At least one record is always written.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub file_size: u64,

    /// Seed of the record generator; files are deterministic for (seed, window, scope, size).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Directory for generated files [default: a fresh temp dir, removed on exit]. Files are
    /// named after their content, so a kept directory is reused by later runs.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,

    /// Exit when stdin reaches end of file (lets a test harness tie the simulator to itself).
    #[arg(long)]
    pub exit_on_stdin_eof: bool,

    /// Fault: the first N API calls answer 429 too_many_requests with Retry-After.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub throttle: u64,

    /// Value of the Retry-After header sent with throttled answers, in seconds.
    #[arg(long, default_value_t = 1, help_heading = "Faults")]
    pub retry_after: u64,

    /// Fault: the first N API calls (after throttled ones) answer 503 internal_error.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub server_errors: u64,

    /// Fault: the first N API calls (after throttled and 503 ones) take effect, then their
    /// connection is reset (TCP RST) with no HTTP answer, as if the answer were lost.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub reset_connections: u64,

    /// Fault: the first N API calls (after throttled and 503 ones) take effect but answer only
    /// after --slow-response-ms milliseconds.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub slow_responses: u64,

    /// Delay of the answers slowed by --slow-responses, in milliseconds (the default is just
    /// past the exporter's 30 s API call timeout).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 31_000,
        help_heading = "Faults"
    )]
    pub slow_response_ms: u64,

    /// Fault: the first N log requests end in --fail-state instead of Complete.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub fail_requests: u64,

    /// Final state of the requests failed by --fail-requests.
    #[arg(long, value_enum, default_value_t = FailState::Failed, ignore_case = true, help_heading = "Faults")]
    pub fail_state: FailState,

    /// Fault: every request ends in DoesNotExist (no URL).
    #[arg(long, help_heading = "Faults")]
    pub does_not_exist: bool,

    /// Fault: every request reports this state (e.g. InProgress) on its first poll.
    #[arg(long, value_name = "NAME", help_heading = "Faults")]
    pub unknown_state: Option<String>,

    /// Fault: the first download's connection is cut after this many body bytes (the
    /// Content-Length still announces the full size). Accepts the units of --file-size.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Faults")]
    pub drop_download_after: Option<u64>,

    /// Fault: ignore Range headers (always answer 200 with the whole file).
    #[arg(long, help_heading = "Faults")]
    pub no_range: bool,

    /// Fault: the first N presigned URLs issued are already expired (the file host answers 403).
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub expired_urls: u64,

    /// Fault: each presigned URL serves exactly one download (a 200 or 206 answer); later
    /// requests with it answer 403 "Request has expired", as if it expired mid-copy. A URL from
    /// a renewal (POST .../url) is good for one download again.
    #[arg(long, help_heading = "Faults")]
    pub single_use_urls: bool,

    /// Fault: serve a corrupt gzip (bytes flipped in the middle of the compressed data).
    #[arg(long, help_heading = "Faults")]
    pub corrupt_gzip: bool,

    /// Fault: serve a gzip cut in half (a valid-looking prefix, consistent Content-Length).
    #[arg(long, help_heading = "Faults")]
    pub truncate_gzip: bool,
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

impl Args {
    /// Checks that clap cannot express; the message is shown to the user as is.
    pub fn validate(&self) -> Result<(), String> {
        if self.account_key.trim().is_empty() {
            return Err("--account-key must not be empty".into());
        }
        if self.region_groups.is_empty() || self.region_groups.iter().any(|g| g.trim().is_empty()) {
            return Err("--region-groups needs at least one non-empty name".into());
        }
        if let Some(name) = &self.unknown_state
            && name.trim().is_empty()
        {
            return Err("--unknown-state must not be empty".into());
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err("--public-url must start with http:// or https://".into());
        }
        Ok(())
    }
}

/// Parses a byte count such as `1048576`, `512K`, `1MiB`, `2MB` or `4GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` is not a byte count"));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use K, KiB, KB, M, MiB, MB, G, GiB, GB)"
            ));
        }
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("10 k"), Ok(10 << 10));
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn fail_state_accepts_documented_names() {
        let args = Args::try_parse_from([
            "fauna-sim",
            "--account-key",
            "k",
            "--fail-state",
            "TimedOut",
        ]);
        assert!(matches!(args, Ok(a) if a.fail_state == FailState::TimedOut));
    }

    #[test]
    fn connection_faults_are_off_by_default() {
        let parse = |extra: &[&str]| {
            let base = ["fauna-sim", "--account-key", "k"];
            Args::try_parse_from(base.iter().chain(extra))
                .map(|a| (a.reset_connections, a.slow_responses, a.slow_response_ms))
        };
        assert!(matches!(parse(&[]), Ok((0, 0, 31_000))));
        assert!(matches!(
            parse(&[
                "--reset-connections",
                "2",
                "--slow-responses",
                "1",
                "--slow-response-ms",
                "500"
            ]),
            Ok((2, 1, 500))
        ));
        assert!(parse(&["--slow-response-ms", "soon"]).is_err());
    }

    #[test]
    fn single_use_urls_is_an_off_by_default_switch() {
        let parse = |extra: &[&str]| {
            let base = ["fauna-sim", "--account-key", "k"];
            Args::try_parse_from(base.iter().chain(extra)).map(|a| a.single_use_urls)
        };
        assert!(matches!(parse(&[]), Ok(false)));
        assert!(matches!(parse(&["--single-use-urls"]), Ok(true)));
        assert!(parse(&["--single-use-urls=3"]).is_err());
    }
}
