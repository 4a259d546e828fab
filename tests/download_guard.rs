//! Downloads go only where they should, end to end: the simulator hands out presigned URLs to
//! http on a non-loopback name, to names that resolve to loopback, private and link-local
//! addresses, to an internal IP literal, and answers with redirects to internal addresses. Each
//! is refused as `InsecureDownloadUrl` naming the host, before anything is fetched there.
//!
//! None of this may reach a real internal address even if the code under test is wrong, so the
//! test runs itself again inside a fresh user, network and mount namespace (`unshare -rnm`):
//! only loopback exists there, and the test names resolve through a hosts file bind-mounted over
//! `/etc/hosts` inside that namespace (the system resolver's own override), e.g.
//! `files.internal.test` → 10.9.8.7 and `metadata.test` → 169.254.169.254. A packet to those
//! addresses has no route out. The simulator, moto and the exporter all run inside.

use crate::support;

use std::process::Command;

use serde_json::Value;
use support::{Run, Sim, WINDOW, bucket, export, free_port, keys, open_uploads, s3};

/// Set in the namespace, where the scenarios run.
const INSIDE: &str = "DOWNLOAD_GUARD_IN_NAMESPACE";

const HOSTS: &str = "\
127.0.0.1 localhost
::1 localhost
127.0.0.1 fauna-api.test
127.0.0.1 sneaky.test
10.9.8.7 files.internal.test
169.254.169.254 metadata.test
";

/// How the exporter finds Fauna: the simulator's own loopback URL (the rule for tests and the
/// demo), or a name that resolves to it (the production rule).
#[derive(Debug, Clone, Copy)]
enum AccountUrl {
    Loopback,
    Named,
}

/// One refused download: the simulator's arguments (`{port}` is its port), and the host the
/// refusal must name.
struct Case {
    what: &'static str,
    account_url: AccountUrl,
    sim_args: &'static [&'static str],
    names: &'static str,
    /// The simulator answered this many file requests with a redirect.
    redirects: u64,
}

const CASES: [Case; 9] = [
    Case {
        what: "plain http to a non-loopback name",
        account_url: AccountUrl::Loopback,
        sim_args: &["--public-url", "http://files.internal.test:{port}"],
        names: "files.internal.test",
        redirects: 0,
    },
    Case {
        what: "https to a name that resolves to a private address",
        account_url: AccountUrl::Loopback,
        sim_args: &["--public-url", "https://files.internal.test:{port}"],
        names: "files.internal.test: it resolves to 10.9.8.7, a private address",
        redirects: 0,
    },
    Case {
        what: "the instance metadata address as a literal",
        account_url: AccountUrl::Loopback,
        sim_args: &["--public-url", "https://169.254.169.254:{port}"],
        names: "169.254.169.254",
        redirects: 0,
    },
    Case {
        what: "a redirect to an internal address",
        account_url: AccountUrl::Loopback,
        sim_args: &[
            "--redirect-downloads-to",
            "http://10.9.8.7/latest/creds?token=x",
        ],
        names: "a redirect to 10.9.8.7",
        redirects: 1,
    },
    Case {
        what: "a redirect to a name of the metadata service",
        account_url: AccountUrl::Loopback,
        sim_args: &[
            "--redirect-downloads-to",
            "https://metadata.test/latest/meta-data/",
            "--redirect-status",
            "302",
        ],
        names: "a redirect to metadata.test",
        redirects: 1,
    },
    Case {
        what: "plain http to loopback outside test mode",
        account_url: AccountUrl::Named,
        sim_args: &[],
        names: "127.0.0.1",
        redirects: 0,
    },
    Case {
        what: "https to a name that resolves to loopback, outside test mode",
        account_url: AccountUrl::Named,
        sim_args: &["--public-url", "https://sneaky.test:{port}"],
        names: "sneaky.test: it resolves to 127.0.0.1, a loopback address",
        redirects: 0,
    },
    Case {
        what: "https to a name of the metadata service, outside test mode",
        account_url: AccountUrl::Named,
        sim_args: &["--public-url", "https://metadata.test:{port}"],
        names: "metadata.test: it resolves to 169.254.169.254, a link-local address",
        redirects: 0,
    },
    Case {
        what: "https to an IPv6 loopback literal, outside test mode",
        account_url: AccountUrl::Named,
        sim_args: &["--public-url", "https://[::1]:{port}"],
        names: "[::1]",
        redirects: 0,
    },
];

#[test]
fn downloads_to_internal_addresses_are_refused() {
    if std::env::var_os(INSIDE).is_some() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(scenarios());
        return;
    }
    let hosts = std::env::temp_dir().join(format!("download-guard-hosts-{}", std::process::id()));
    std::fs::write(&hosts, HOSTS).expect("write the test hosts file");
    let out = Command::new("unshare")
        .args(["-rnm", "sh", "-c"])
        .arg(
            "PATH=\"$PATH:/usr/sbin:/sbin\" ip link set lo up && mount --bind \"$0\" /etc/hosts \
             && exec \"$@\"",
        )
        .arg(&hosts)
        .arg(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "download_guard::downloads_to_internal_addresses_are_refused",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare (util-linux): the test needs namespaces of its own");
    let _ = std::fs::remove_file(&hosts);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "inside the namespace:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

/// Inside the namespace: first that it is one (no route out, the test names resolve as set),
/// then every case.
async fn scenarios() {
    let unreachable = std::net::TcpStream::connect("10.9.8.7:80");
    assert!(unreachable.is_err(), "10.9.8.7 must be unreachable here");
    let resolved: Vec<_> = tokio::net::lookup_host(("metadata.test", 80))
        .await
        .expect("the namespace's hosts file")
        .collect();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].ip().to_string(), "169.254.169.254");

    for (n, case) in CASES.iter().enumerate() {
        refused(n, case).await;
    }
}

async fn refused(n: usize, case: &Case) {
    let port = free_port();
    let port_text = port.to_string();
    let args: Vec<String> = case
        .sim_args
        .iter()
        .map(|a| a.replace("{port}", &port_text))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sim = Sim::start_on(port, &args);
    let bucket = bucket(&s3().await, &format!("guard-{n}")).await;
    let account_url = match case.account_url {
        AccountUrl::Loopback => sim.url.clone(),
        AccountUrl::Named => format!("http://fauna-api.test:{port}"),
    };
    let run: Run = export(
        &sim,
        &bucket,
        &WINDOW,
        &[("FAUNA_ACCOUNT_URL", account_url.as_str())],
    )
    .await;
    let what = case.what;
    run.assert_no_secrets();
    assert_eq!(run.step(), "failed", "{what}: {}", run.stderr);
    assert_eq!(
        run.error_type(),
        "InsecureDownloadUrl",
        "{what}: {}",
        run.stdout
    );
    let message = run.job["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(case.names), "{what}: {message}");
    assert!(
        !message.contains('?') || message.contains("?<redacted>"),
        "{what}: no query in {message}"
    );
    assert!(
        !run.stderr.contains("trying again in"),
        "{what}: a refusal is not retried: {}",
        run.stderr
    );
    let stats: Value = sim.stats().await;
    assert_eq!(stats["downloads"], 0, "{what}: nothing fetched: {stats}");
    assert_eq!(stats["redirects"], case.redirects, "{what}: {stats}");
    assert!(keys(&s3().await, &bucket).await.is_empty(), "{what}");
    assert_eq!(open_uploads(&s3().await, &bucket).await, 0, "{what}");
    println!("refused: {what}: {message}");
}
