//! The command line checks every argument and setting before it builds a client or sends a
//! request, and says what is wrong in one line (exit 2).
//!
//! Each run happens in a fresh network namespace (`unshare -rn`) holding only loopback, with no
//! AWS region and no AWS profile: even if the code did reach for the network (the instance
//! metadata service, Fauna, S3), no packet could leave the machine, and the refusal it prints
//! would not be the one expected.

use std::process::Command;

/// Runs `fauna-logs-export <args>` in its own network namespace, with only `env` set (plus PATH
/// and a HOME without an AWS profile); returns the exit status and stderr.
fn refused(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let home = std::env::temp_dir().join(format!("fauna-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("temp home");
    let out = Command::new("unshare")
        .args(["-rn", env!("CARGO_BIN_EXE_fauna-logs-export")])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .envs(env.iter().copied())
        .output()
        .expect("run unshare (util-linux): the test needs a network namespace of its own");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.starts_with("unshare:"),
        "cannot make a network namespace here: {stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

const SETTINGS: [(&str, &str); 3] = [
    ("FAUNA_ACCOUNT_KEY", "fnacapi_cli_test_secret"),
    ("LOGS_BUCKET", "logs"),
    ("FAUNA_ACCOUNT_URL", "http://127.0.0.1:9"),
];

fn run_args<'a>(database: &'a str, start: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--database",
        database,
        "--start",
        start,
        "--end",
        "2026-11-25T00:00:00Z",
    ]
}

/// One line, the expected one, and nothing of the AWS SDK or the key.
fn assert_one_line(what: &str, (status, stderr): (i32, String), expected: &[&str]) {
    assert_eq!(status, 2, "{what}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line expected:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{what}: {stderr}");
    for text in expected {
        assert!(lines[0].contains(text), "{what}: no {text:?} in {stderr}");
    }
    assert!(
        !stderr.contains("fnacapi_cli_test_secret"),
        "{what}: {stderr}"
    );
}

#[test]
fn bad_arguments_are_refused_before_any_client_is_built() {
    assert_one_line(
        "bad database path, no region",
        refused(&run_args("ECommerce", "2026-11-24T00:00:00Z"), &SETTINGS),
        &["`database`", "known region group"],
    );
    assert_one_line(
        "bad start, no region",
        refused(&run_args("us-std/ECommerce", "yesterday"), &SETTINGS),
        &["`time_start`", "RFC 3339"],
    );
    assert_one_line(
        "misaligned backfill, no region",
        refused(
            &[
                "backfill",
                "--database",
                "us-std/ECommerce",
                "--from",
                "2026-11-20T05:00:00Z",
                "--to",
                "2026-11-22T00:00:00Z",
            ],
            &SETTINGS,
        ),
        &["`from`", "2026-11-20T00:00:00Z or 2026-11-21T00:00:00Z"],
    );
    let this_hour = chrono::Utc::now().format("%Y-%m-%dT%H:00:00Z").to_string();
    assert_one_line(
        "a backfill ending within the schedule's lag",
        refused(
            &[
                "backfill",
                "--database",
                "us-std/ECommerce",
                "--window",
                "1h",
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                &this_hour,
            ],
            &SETTINGS,
        ),
        &["`to`", "SCHEDULE_LAG_MINUTES"],
    );
    assert_one_line(
        "missing bucket",
        refused(
            &run_args("us-std/ECommerce", "2026-11-24T00:00:00Z"),
            &SETTINGS[..1],
        ),
        &["LOGS_BUCKET"],
    );
}

#[test]
fn a_missing_region_is_one_line_naming_aws_region() {
    assert_one_line(
        "good arguments, no region",
        refused(
            &run_args("us-std/ECommerce", "2026-11-24T00:00:00Z"),
            &SETTINGS,
        ),
        &["AWS_REGION"],
    );
}
