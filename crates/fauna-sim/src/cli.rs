//! Command-line interface of the simulator.
//!
//! Owns the `clap` definition of the server, lifecycle, renewal and file options (the fault
//! options are in `cli_faults.rs`), the parsing of human byte sizes such as `256MiB`, and the
//! checks that run before the server starts. Nothing here touches the network.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

pub use crate::cli_faults::FaultArgs;

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

    /// After a URL renewal (POST .../url), status polls that answer CreatingNewUrl (with no
    /// presigned_url) before the request is Complete again with the new URL. Until then the
    /// new URL answers 403. 0 with --creating-new-url-seconds 0: the new URL works at once.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub creating_new_url_polls: u64,

    /// After a URL renewal, wall time (seconds) in CreatingNewUrl before the new URL works.
    /// With --creating-new-url-polls, both must have passed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub creating_new_url_seconds: u64,

    /// The renewal's own answer (state CreatingNewUrl) carries no presigned_url and no
    /// expiration time (the reference's rule: a URL only with Complete); the client polls for
    /// the new URL. By default it carries the new URL, as in Fauna's guide.
    #[arg(long)]
    pub renewal_answer_without_url: bool,

    /// Refuse (400 bad_request) a status or renewal call whose regionGroup query parameter is
    /// missing or differs from the request's region group. Fauna documents that the server
    /// ignores it, so this is off by default.
    #[arg(long)]
    pub strict_region_group: bool,

    /// Approximate size of the compressed file served for a Complete request (bytes, or with
    /// a unit: K/KiB, KB, M/MiB, MB, G/GiB, GB). At least one record is always written.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub file_size: u64,

    /// Size of the files of one database instead of --file-size (repeatable): DATABASE=SIZE,
    /// the database path as requested, e.g. us-std/Large=9MiB.
    #[arg(long, value_name = "DATABASE=SIZE", value_parser = parse_file_size_for)]
    pub file_size_for: Vec<(String, u64)>,

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

    /// Fault options (see docs/simulator.md, "Faults").
    #[command(flatten)]
    pub faults: FaultArgs,
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
        if let Some(url) = &self.public_url
            && !is_http_url(url)
        {
            return Err("--public-url must start with http:// or https://".into());
        }
        self.faults.validate()
    }
}

/// `http://…` or `https://…` with something after the scheme.
pub fn is_http_url(url: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        url.strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    })
}

/// `DATABASE=SIZE`, e.g. `us-std/Large=9MiB`.
fn parse_file_size_for(text: &str) -> Result<(String, u64), String> {
    let (database, size) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("`{text}` is not DATABASE=SIZE (e.g. us-std/Large=9MiB)"))?;
    let database = database.trim();
    if database.is_empty() {
        return Err(format!("`{text}`: the database must not be empty"));
    }
    Ok((database.to_owned(), parse_size(size)?))
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
        assert!(
            matches!(args, Ok(a) if a.faults.fail_state == crate::cli_faults::FailState::TimedOut)
        );
    }

    #[test]
    fn connection_faults_are_off_by_default() {
        let parse = |extra: &[&str]| {
            let base = ["fauna-sim", "--account-key", "k"];
            Args::try_parse_from(base.iter().chain(extra)).map(|a| {
                let f = a.faults;
                (f.reset_connections, f.slow_responses, f.slow_response_ms)
            })
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

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let base = ["fauna-sim", "--account-key", "k"];
        Args::try_parse_from(base.iter().chain(extra))
    }

    #[test]
    fn renewal_and_strictness_options() {
        let a = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.creating_new_url_polls, a.creating_new_url_seconds),
            (0, 0)
        );
        assert!(!a.renewal_answer_without_url && !a.strict_region_group);
        let a = parse(&[
            "--creating-new-url-polls",
            "3",
            "--creating-new-url-seconds",
            "5",
            "--renewal-answer-without-url",
            "--strict-region-group",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.creating_new_url_polls, a.creating_new_url_seconds),
            (3, 5)
        );
        assert!(a.renewal_answer_without_url && a.strict_region_group);
    }

    #[test]
    fn a_database_can_have_its_own_file_size() {
        let a = parse(&[
            "--file-size-for",
            "us-std/Large=9MiB",
            "--file-size-for",
            "eu-std/a/b=100",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            a.file_size_for,
            [
                ("us-std/Large".to_owned(), 9 << 20),
                ("eu-std/a/b".to_owned(), 100)
            ]
        );
        for bad in ["us-std/Large", "=9MiB", "us-std/Large=huge"] {
            assert!(parse(&["--file-size-for", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(is_http_url("http://10.0.0.1/x") && is_http_url("https://h"));
        assert!(!is_http_url("http://") && !is_http_url("ftp://h") && !is_http_url("h"));
        let a = parse(&["--public-url", "ftp://h"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(a.validate().is_err());
    }

    #[test]
    fn single_use_urls_is_an_off_by_default_switch() {
        let parse = |extra: &[&str]| {
            let base = ["fauna-sim", "--account-key", "k"];
            Args::try_parse_from(base.iter().chain(extra)).map(|a| a.faults.single_use_urls)
        };
        assert!(matches!(parse(&[]), Ok(false)));
        assert!(matches!(parse(&["--single-use-urls"]), Ok(true)));
        assert!(parse(&["--single-use-urls=3"]).is_err());
    }
}
