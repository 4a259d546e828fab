"""Real exports for the Athena tests and the demo: the project's binaries against the Fauna
simulator and moto (behind the strict S3 front) on loopback, and a local copy of the bucket.

Owns starting and stopping those processes from Python (as tests/support/mod.rs does for the
Rust tests): each server is tied to a pipe this process holds, so it ends when this process
does, however that happens. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
ACCOUNT_KEY = "fnacapi_athena_test_secret_do_not_log"
REGION = "us-east-1"


def binary(name: str) -> Path:
    path = ROOT / "target" / "debug" / name
    if not path.exists():
        raise AssertionError(f"{path} is missing: `cargo build --all-features --bins` (make test does)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(port: int, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {limit} s")
            time.sleep(0.05)


def s3_client(endpoint: str, access_key: str = "test"):
    """boto3's S3 client for a local S3 server at `endpoint`."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=access_key, aws_secret_access_key=access_key)


class Moto:
    """moto's S3 server behind tests/support/moto_server.py, on a free loopback port; it ends
    when this process closes the pipe to its wrapper shell."""

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            ["sh", "-c", '"$0" "$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 & pid=$!; read _ignored; kill $pid',
             str(VENV_PYTHON), str(ROOT / "tests" / "support" / "moto_server.py"), str(self.port)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "MOTO_PORT": str(free_port())},
        )
        wait_until_serving(self.port)

    def s3(self):
        return s3_client(self.endpoint)

    def stop(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=30)


class Sim:
    """A Fauna simulator (target/debug/fauna-sim) with the given options, on a free port."""

    def __init__(self, *options: str):
        self._process = subprocess.Popen(
            [str(binary("fauna-sim")), "--addr", "127.0.0.1:0", "--account-key", ACCOUNT_KEY,
             "--exit-on-stdin-eof", "--strict-region-group", *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self._process.stdout.readline()
        self.url = line.strip().rsplit(" ", 1)[-1]
        if not self.url.startswith("http://127.0.0.1:"):
            raise AssertionError(f"unexpected first line from fauna-sim: {line!r}")

    def file(self, request_id: str) -> bytes:
        """The exact bytes of a request's file, as the simulator serves them."""
        with urllib.request.urlopen(f"{self.url}/_sim/requests/{request_id}/file") as answer:
            return answer.read()

    def stop(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=30)
        if self._process.stdout:
            self._process.stdout.close()


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str

    def assert_no_secrets(self) -> None:
        for text in (self.stdout, self.stderr):
            if ACCOUNT_KEY in text or "X-Amz-Signature" in text:
                raise AssertionError("a secret (the account key or a presigned URL) was printed")

    @property
    def job(self) -> dict:
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}


def exporter_env(sim: Sim, moto: Moto, bucket: str, logs_prefix: str, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API")}
    env.update({
        "FAUNA_ACCOUNT_URL": sim.url,
        "FAUNA_ACCOUNT_KEY": ACCOUNT_KEY,
        "LOGS_BUCKET": bucket,
        "LOGS_PREFIX": logs_prefix,
        "POLL_INTERVAL_SECONDS": "0",
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "S3_FORCE_PATH_STYLE": "true",
        "RUST_LOG": "info",
    })
    env.update(extra or {})
    return env


def export(command: str, args: list[str], env: dict) -> Run:
    """`fauna-logs-export <command> <args>` to its end."""
    done = subprocess.run([str(binary("fauna-logs-export")), command, *args], env=env,
                          capture_output=True, text=True, timeout=600)
    run = Run(done.returncode, done.stdout, done.stderr)
    run.assert_no_secrets()
    return run


def start_export(command: str, args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([str(binary("fauna-logs-export")), command, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def keys(s3, bucket: str) -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found += [o["Key"] for o in page.get("Contents", [])]
    return sorted(found)


def copy_bucket(s3, bucket: str, dest: Path) -> list[str]:
    """Every object of the bucket into `dest/<key>`; the keys."""
    copied = keys(s3, bucket)
    for key in copied:
        path = Path(dest, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return copied


def invoke_function(event: dict, env: dict, limit: float = 120.0) -> dict:
    """One invocation of the real function binary in its Lambda mode: this process serves the
    Lambda Runtime API (next invocation, response, error) on loopback, hands the binary `event`
    and returns its answer (or raises with its error). The binary is stopped afterwards."""
    import http.server
    import queue
    import threading

    answers: queue.Queue = queue.Queue()
    handed = threading.Event()
    body = json.dumps(event).encode()

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # /2018-06-01/runtime/invocation/next
            if handed.is_set():
                handed.wait(limit)  # the next invocation never comes
                self.send_response(503)
                self.end_headers()
                return
            handed.set()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", "athena-test-invocation")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + 900) * 1000)))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:{REGION}:123456789012:function:export")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # .../invocation/<id>/response or /error, or /runtime/init/error
            payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(202)
            self.end_headers()
            answers.put((self.path, payload))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lambda_env = {
        **env,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "export",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "athena-test",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/export",
    }
    process = subprocess.Popen([str(binary("fauna-logs-export"))], env=lambda_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        path, payload = answers.get(timeout=limit)
    finally:
        process.kill()
        stderr = process.communicate()[1]
        handed.set()
        server.shutdown()
        server.server_close()
    Run(0, "", stderr).assert_no_secrets()
    if not path.endswith("/response"):
        raise AssertionError(f"the function answered {path}: {payload[:500]!r}")
    return json.loads(payload)
