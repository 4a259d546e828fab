//! Test harness for the integration tests: real servers on loopback, and the exporter in-process.
//!
//! - [`Moto`]: one moto S3 server per test process (from the project's `.venv`, made by
//!   `make test`, through `moto_server.py`, which fixes moto's ListParts answer), on a free
//!   port, stopped when the test binary exits (its watchdog wrapper notices that our end of its
//!   stdin pipe closed).
//! - [`Sim`]: one Fauna simulator per test, with the faults the test asks for, strict about
//!   `regionGroup`, stopped on drop.
//! - [`export`]: runs `fauna-logs-export run …` against both and captures everything it printed.
//! - [`Watch`]: `cargo lambda watch`, the Lambda runtime emulator, running the function.
//! - [`step_functions`]: the state machines run in moto against that function.
//! - [`in_process`]: whole exports in the test's own process, into any bucket, on its clock.

#![allow(dead_code)]

pub mod in_process;
pub mod step_functions;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use serde_json::Value;

pub const ACCOUNT_KEY: &str = "fnacapi_test_secret_key_do_not_log";
pub const REGION: &str = "us-east-1";

fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The window most tests export: one day of `us-std/ECommerce`, as CLI arguments.
pub const WINDOW: [&str; 6] = [
    "--database",
    "us-std/ECommerce",
    "--start",
    "2026-11-24T00:00:00Z",
    "--end",
    "2026-11-25T00:00:00Z",
];

/// A port nobody listens on right now, for a server another process binds (moto, the Lambda
/// shim, `cargo lambda watch`). Drawn below the kernel's ephemeral range (32768 and up): a port
/// the kernel handed out and took back would be its next pick for some outgoing connection of
/// the dozen tests running beside this one, before the server binds it, and the test would talk
/// to whatever holds it then.
pub fn free_port() -> u16 {
    let mut rng = fastrand::Rng::new();
    for _ in 0..1000 {
        let port = rng.u16(20_000..32_768);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000..32768")
}

/// Waits until something listens at `url`'s host and port, failing the test after `limit`.
pub fn wait_until_serving(url: &str, limit: Duration) {
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < limit,
            "{url} did not start serving within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The moto S3 server shared by the tests of one binary.
pub struct Moto {
    pub endpoint: String,
    /// Where moto's Step Functions engine sends its Lambda invocations (`MOTO_PORT`): nothing
    /// listens there unless a test starts the Lambda shim on it.
    pub lambda_port: u16,
    _child: Child,
    _stdin: Mutex<ChildStdin>,
}

pub fn venv_bin(name: &str) -> PathBuf {
    let path = project_dir().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (it creates .venv with moto and cargo-lambda)",
        path.display()
    );
    path
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let port = free_port();
        let lambda_port = free_port();
        let python = venv_bin("python");
        let server = project_dir().join("tests/support/moto_server.py");
        // The shell kills moto as soon as its stdin closes, i.e. when this test binary exits.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 & pid=$!; read _ignored; kill $pid"#)
            .arg(&python)
            .arg(&server)
            .arg(port.to_string())
            .env("MOTO_PORT", lambda_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let stdin = child.stdin.take().expect("moto stdin");
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_until_serving(&endpoint, Duration::from_secs(60));
        Moto {
            endpoint,
            lambda_port,
            _child: child,
            _stdin: Mutex::new(stdin),
        }
    })
}

/// An S3 client for checking what landed in moto.
pub async fn s3() -> Client {
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(&moto().endpoint)
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
}

/// A new bucket with a unique name.
pub async fn bucket(s3: &Client, name: &str) -> String {
    let bucket = format!("{name}-{}", std::process::id());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// The object's bytes, or `None` if there is no object at the key.
pub async fn object(s3: &Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Some(
            out.body
                .collect()
                .await
                .expect("read object")
                .into_bytes()
                .to_vec(),
        ),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
        Err(e) => panic!("GetObject failed: {e:?}"),
    }
}

/// Keys in the bucket.
pub async fn keys(s3: &Client, bucket: &str) -> Vec<String> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// Records (lines) in a gzip JSON Lines file.
pub fn records_in(gzip: &[u8]) -> u64 {
    use std::io::Read;
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(gzip)
        .read_to_end(&mut text)
        .expect("valid gzip");
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64
}

/// Multipart uploads still open in the bucket.
pub async fn open_uploads(s3: &Client, bucket: &str) -> usize {
    let out = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list multipart uploads");
    out.uploads().len()
}

/// Sets S3 faults on one bucket of the shared moto (see `moto_server.py`), e.g.
/// `json!({"upload_part": {"status": 500, "count": 2}})`, and returns the bucket's whole fault
/// state, with how often each fault fired; `json!({})` changes nothing and just reads it.
pub async fn s3_faults(bucket: &str, faults: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/_faults/{bucket}", moto().endpoint))
        .json(&faults)
        .send()
        .await
        .expect("set S3 faults");
    let status = resp.status();
    let text = resp.text().await.expect("S3 fault state");
    assert!(status.is_success(), "setting S3 faults: {status} {text}");
    serde_json::from_str(&text).expect("S3 fault state JSON")
}

/// Clears the S3 faults of `bucket` and releases the requests they hold (`DELETE /_faults/<bucket>`).
pub async fn s3_faults_clear(bucket: &str) {
    let resp = reqwest::Client::new()
        .delete(format!("{}/_faults/{bucket}", moto().endpoint))
        .send()
        .await
        .expect("clear S3 faults");
    assert!(resp.status().is_success(), "clearing S3 faults");
}

/// Waits until the front holds a request of `operation` for `bucket`, failing after a minute.
pub async fn until_held(bucket: &str, operation: &str) {
    let started = Instant::now();
    loop {
        let state = s3_faults(bucket, serde_json::json!({})).await;
        if state[operation]["held"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no {operation} held: {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the strict S3 front saw of `bucket`'s requests (`GET /_stats/<bucket>`, see
/// `moto_server.py`): per operation counts, the peak of UploadParts in flight, each request.
pub async fn s3_stats(bucket: &str) -> Value {
    reqwest::get(format!("{}/_stats/{bucket}", moto().endpoint))
        .await
        .expect("S3 front stats")
        .json()
        .await
        .expect("S3 front stats JSON")
}

/// Waits until the front has stored `parts` UploadParts for the bucket.
pub async fn until_parts_stored(bucket: &str, parts: usize) {
    let started = Instant::now();
    loop {
        let stats = s3_stats(bucket).await;
        let stored = stored_parts(&stats);
        if stored >= parts {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {stored} parts stored: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn stored_parts(stats: &serde_json::Value) -> usize {
    stats["requests"]
        .as_array()
        .map(|requests| {
            requests
                .iter()
                .filter(|r| r["operation"] == "upload_part" && r["status"] == 200)
                .count()
        })
        .unwrap_or(0)
}

/// Forgets what the front recorded of `bucket`'s requests (`DELETE /_stats/<bucket>`).
pub async fn s3_stats_reset(bucket: &str) {
    let resp = reqwest::Client::new()
        .delete(format!("{}/_stats/{bucket}", moto().endpoint))
        .send()
        .await
        .expect("reset S3 front stats");
    assert!(resp.status().is_success(), "resetting S3 front stats");
}

/// Calls moto's Secrets Manager (served on the same endpoint as S3) and returns its answer.
pub async fn secrets_manager(action: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(&moto().endpoint)
        .header("X-Amz-Target", format!("secretsmanager.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("call Secrets Manager");
    let status = resp.status();
    let text = resp.text().await.expect("Secrets Manager's answer");
    assert!(status.is_success(), "{action}: {status} {text}");
    serde_json::from_str(&text).expect("Secrets Manager's answer is JSON")
}

/// Creates a secret in moto and returns its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    let created = secrets_manager(
        "CreateSecret",
        serde_json::json!({"Name": name, "SecretString": value}),
    )
    .await;
    created["ARN"].as_str().expect("ARN").to_owned()
}

/// Neither the account key nor any presigned URL's signature is in any of `texts`.
pub fn assert_no_secrets(texts: &[&str]) {
    for text in texts {
        assert!(
            !text.contains(ACCOUNT_KEY),
            "the account key leaked:\n{text}"
        );
        assert!(
            !text.contains("X-Amz-Signature"),
            "a presigned URL's query leaked:\n{text}"
        );
    }
}

/// The simulator's counter `name` in `stats` (what [`Sim::stats`] answered); the test fails when
/// there is none.
pub fn counter(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}

/// Has `sim` make its log file for [`WINDOW`]: requests the logs, then reads the file. A second
/// simulator with the same flags and `--data-dir` serves the same file without making it again.
pub async fn make_file(sim: &Sim) {
    let created: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/logs?type=query", sim.url))
        .bearer_auth(ACCOUNT_KEY)
        .json(&serde_json::json!({"database": WINDOW[1], "time_start": WINDOW[3], "time_end": WINDOW[5]}))
        .send()
        .await
        .expect("request logs from the simulator")
        .json()
        .await
        .expect("the simulator's answer");
    let id = created["request_id"].as_str().expect("a request id");
    assert!(!sim.file(id).await.is_empty(), "an empty file");
}

/// The flags every test's simulator gets, in a process or not. Fauna ignores `regionGroup`; the
/// tests' simulator refuses a missing or wrong one, which proves the client sends the right one
/// on every status and renewal call.
const SIM_FLAGS: [&str; 3] = ["--account-key", ACCOUNT_KEY, "--strict-region-group"];

/// A Fauna simulator, stopped on drop: a process of the `fauna-sim` binary ([`Sim::start`]), or
/// `fauna_sim::serve` in the test's own runtime ([`Sim::in_process`]), on the test's clock.
pub struct Sim {
    pub url: String,
    running: Running,
}

enum Running {
    Process {
        child: Child,
        stdin: Option<ChildStdin>,
    },
    /// Dropping the sender stops the server.
    InProcess(Option<tokio::sync::oneshot::Sender<()>>),
}

impl Sim {
    pub fn start(args: &[&str]) -> Sim {
        Sim::start_on(0, args)
    }

    /// A simulator on loopback `port` (0: any free one).
    pub fn start_on(port: u16, args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fauna-sim"))
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(SIM_FLAGS)
            .arg("--exit-on-stdin-eof")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fauna-sim");
        let stdout = child.stdout.take().expect("sim stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the sim's address");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line from fauna-sim: {line:?}"))
            .to_owned();
        let stdin = child.stdin.take();
        Sim {
            url,
            running: Running::Process { child, stdin },
        }
    }

    /// A simulator served in this runtime on a free loopback port, with the flags the process
    /// gets: in a runtime whose clock is paused, it keeps the test's time.
    pub async fn in_process(args: &[&str]) -> Sim {
        let mut argv = vec!["fauna-sim"];
        argv.extend_from_slice(&SIM_FLAGS);
        argv.extend_from_slice(args);
        let args = <fauna_sim::Args as clap::Parser>::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("simulator flags: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = fauna_sim::serve(listener, args, shutdown).await {
                panic!("the simulator stopped: {e}");
            }
        });
        Sim {
            url,
            running: Running::InProcess(Some(stop)),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let resp = reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("sim inspection call");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp
    }

    /// The exact bytes of a request's file, as the simulator serves it.
    pub async fn file(&self, request_id: &str) -> Vec<u8> {
        self.get(&format!("/_sim/requests/{request_id}/file"))
            .await
            .bytes()
            .await
            .expect("file bytes")
            .to_vec()
    }

    /// The simulator's call counters.
    pub async fn stats(&self) -> Value {
        self.get("/_sim/stats")
            .await
            .json()
            .await
            .expect("stats json")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let (child, stdin) = match &mut self.running {
            Running::Process { child, stdin } => (child, stdin),
            Running::InProcess(stop) => {
                drop(stop.take());
                return;
            }
        };
        // Closing stdin asks the simulator to shut down and clean its data directory.
        drop(stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// What one `fauna-logs-export run` printed.
pub struct Run {
    pub status: i32,
    pub job: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let job = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        Run {
            status: out.status.code().unwrap_or(-1),
            job,
            stdout,
            stderr,
        }
    }

    /// Neither the account key nor any presigned URL's signature may appear in the output.
    pub fn assert_no_secrets(&self) {
        assert_no_secrets(&[&self.stdout, &self.stderr]);
    }

    pub fn step(&self) -> &str {
        self.job["step"].as_str().unwrap_or_default()
    }

    pub fn error_type(&self) -> &str {
        self.job["error"]["error_type"].as_str().unwrap_or_default()
    }
}

/// Environment for the exporter: the simulator, moto, and a fast poll.
pub fn export_env(sim: &Sim, bucket: &str) -> Vec<(String, String)> {
    [
        ("FAUNA_ACCOUNT_URL", sim.url.as_str()),
        ("FAUNA_ACCOUNT_KEY", ACCOUNT_KEY),
        ("LOGS_BUCKET", bucket),
        ("LOGS_PREFIX", "fauna-logs"),
        ("POLL_INTERVAL_SECONDS", "0"),
        ("AWS_ENDPOINT_URL", moto().endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", REGION),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Runs `fauna-logs-export run <args>` with [`export_env`] plus `extra_env`.
pub async fn export(sim: &Sim, bucket: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    exporter(sim, bucket, "run", args, extra_env).await
}

/// Runs `fauna-logs-export backfill <args>` with [`export_env`] plus `extra_env`.
pub async fn backfill(sim: &Sim, bucket: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    exporter(sim, bucket, "backfill", args, extra_env).await
}

/// `fauna-logs-export COMMAND` set up to export from `sim` into `bucket` on loopback: the
/// environment of [`export_env`], without the caller's AWS profile, endpoints or Lambda API.
pub fn exporter_command(sim: &Sim, bucket: &str, command: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fauna-logs-export"));
    cmd.arg(command);
    for var in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_S3",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(export_env(sim, bucket))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

async fn exporter(
    sim: &Sim,
    bucket: &str,
    command: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Run {
    let mut cmd = exporter_command(sim, bucket, command);
    cmd.args(args).envs(extra_env.iter().copied());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run fauna-logs-export");
    Run::from_output(out)
}

/// `cargo lambda watch`, stopped on drop.
pub struct Watch {
    pub port: u16,
    child: Child,
}

impl Watch {
    pub fn start(env: &[(String, String)]) -> Watch {
        Watch::start_logged(env, None)
    }

    /// [`Watch::start`], appending everything `cargo lambda watch` and the function print (stdout
    /// and stderr) to the file `log` when one is given.
    pub fn start_logged(env: &[(String, String)], log: Option<&Path>) -> Watch {
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                let copy = file.try_clone().expect("clone the log file handle");
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let port = free_port();
        let mut cmd = Command::new(venv_bin("cargo-lambda"));
        cmd.args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--all-features",
            "--quiet",
        ])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
        for (k, v) in env {
            cmd.arg("--env-var").arg(format!("{k}={v}"));
        }
        let child = cmd.spawn().expect("start cargo lambda watch");
        wait_until_serving(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(120),
        );
        Watch { port, child }
    }

    /// `cargo lambda invoke` with a payload file; the function's answer, or its error.
    pub fn invoke(&self, payload: &Path) -> Result<Value, String> {
        let out = Command::new(venv_bin("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                "fauna-logs-export",
                "--output-format",
                "json",
            ])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
            ])
            .arg("--data-file")
            .arg(payload)
            .output()
            .expect("run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            serde_json::from_str(&stdout).map_err(|e| format!("not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{stderr}"))
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // cargo lambda watch runs the function as its child; end the whole group.
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
