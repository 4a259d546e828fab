"""Cold start of the Lambda binary: how long from exec until it asks the Runtime API for its
first invocation, and until it has answered a first `poll` step, next to a minimal
lambda_runtime binary measured the same way (the floor). A benchmark: it asserts nothing about
time, it reports medians.

    .venv/bin/python tests/bench/cold-init.py [--runs 21] [--write docs/performance.md]

`make bench-init` builds the release binaries (and examples/minimal_runtime.rs) and runs it.
This process serves the Lambda Runtime API on loopback (GET .../invocation/next, POST
.../response and .../error); the Fauna simulator answers the poll. The account key comes from
the environment, as `cargo lambda invoke` and the tests give it: no Secrets Manager, no network
beyond loopback (AWS_EC2_METADATA_DISABLED, a region and static credentials are set, so the SDK
probes nothing). Each run is a fresh process; the three measurements alternate within a round so
that a change in the machine's load touches all of them alike.

- **init**: exec of `fauna-logs-export` to its first `GET /runtime/invocation/next`: the
  configuration, the Fauna and S3 clients (TLS roots included), the runtime's own start.
- **init + first poll**: exec to the `POST .../response` of a `poll` step handed to it as the
  first invocation: the above, then one status call to the simulator and the answer.
- **floor**: the same as init for examples/minimal_runtime.rs, lambda_runtime and an echo
  handler, nothing else.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "target" / "release"
ACCOUNT_KEY = "bench-init-account-key"
MARK_BEGIN = "<!-- bench-init:begin (written by tests/bench/cold-init.py; edits here are overwritten) -->"
MARK_END = "<!-- bench-init:end -->"


class RuntimeApi:
    """A Lambda Runtime API on loopback that hands out one event per process and notes when
    the process asked for it and when it answered."""

    def __init__(self) -> None:
        self.event: bytes = b"{}"
        self.asked: queue.Queue = queue.Queue()  # perf_counter of each GET next
        self.answered: queue.Queue = queue.Queue()  # (perf_counter, path, body)
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # /2018-06-01/runtime/invocation/next
                api.asked.put(time.perf_counter())
                body = api.event
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-invocation")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + 900) * 1000)))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:export")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # an init-only run stops the process as soon as it asked

            def do_POST(self):  # .../invocation/<id>/response or /error, /runtime/init/error
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.answered.put((at, self.path, body))

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def drain(self) -> None:
        for q in (self.asked, self.answered):
            while not q.empty():
                q.get_nowait()


def lambda_env(api: RuntimeApi, fauna_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "RUST_LOG"}
    env.update({
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "export",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench-init",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/export",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        # Never contacted by init or a poll; loopback all the same.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_FORCE_PATH_STYLE": "true",
        "LOGS_BUCKET": "bench-init",
        "FAUNA_ACCOUNT_URL": fauna_url,
        "FAUNA_ACCOUNT_KEY": ACCOUNT_KEY,
    })
    return env


def one_run(api: RuntimeApi, binary: Path, env: dict, event: dict, until_answer: bool,
            limit: float = 60.0) -> tuple[float, dict | None]:
    """Milliseconds from exec to the first GET next (or to the answer), and the answer."""
    api.drain()
    api.event = json.dumps(event).encode()
    started = time.perf_counter()
    process = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            if not until_answer:
                return (api.asked.get(timeout=limit) - started) * 1000, None
            at, path, body = api.answered.get(timeout=limit)
        except queue.Empty:
            raise SystemExit(f"{binary.name}: no {'answer' if until_answer else 'GET next'} in {limit} s")
        if not path.endswith("/response"):
            raise SystemExit(f"{binary.name} answered {path}: {body[:300]!r}")
        return (at - started) * 1000, json.loads(body)
    finally:
        process.kill()
        _, stderr = process.communicate()
        if process.returncode not in (0, -9):
            print(stderr.decode(errors="replace")[-2000:], file=sys.stderr)


def start_simulator() -> tuple[subprocess.Popen, str]:
    # Requests stay Pending: every poll step is one status call answered "not yet".
    sim = subprocess.Popen(
        [str(RELEASE / "fauna-sim"), "--addr", "127.0.0.1:0", "--account-key", ACCOUNT_KEY,
         "--polls-to-complete", "1000000", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = sim.stdout.readline()
    url = line.strip().rsplit(" ", 1)[-1]
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit(f"unexpected first line from fauna-sim: {line!r}")
    return sim, url


def summary(values: list[float]) -> str:
    values = sorted(values)
    q = statistics.quantiles(values, n=10) if len(values) >= 2 else [values[0]] * 9
    return f"{statistics.median(values):.1f} | {q[0]:.1f} | {q[-1]:.1f}"


def size_mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--write", type=Path, help="rewrite the bench-init section of this file")
    args = parser.parse_args(argv)
    ours, floor = RELEASE / "fauna-logs-export", RELEASE / "examples" / "minimal_runtime"
    for binary in (ours, floor, RELEASE / "fauna-sim"):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run `make bench-init`")

    load = os.getloadavg()
    api = RuntimeApi()
    sim, fauna_url = start_simulator()
    try:
        env = lambda_env(api, fauna_url)
        request = json.loads((ROOT / "events" / "manual-request-database.json").read_text())
        _, poll = one_run(api, ours, env, request, until_answer=True)
        if not poll or poll.get("step") != "poll" or not poll.get("request_id"):
            raise SystemExit(f"the request step answered {poll!r}, not a poll job")
        init, init_poll, floor_init = [], [], []
        for _ in range(args.runs):
            init.append(one_run(api, ours, env, poll, until_answer=False)[0])
            ms, answer = one_run(api, ours, env, poll, until_answer=True)
            if not answer or answer.get("step") != "poll" or answer.get("polls", 0) <= poll.get("polls", 0):
                raise SystemExit(f"the poll step answered {answer!r}")
            init_poll.append(ms)
            floor_init.append(one_run(api, floor, env, {"echo": 1}, until_answer=False)[0])
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(timeout=30)
        api.server.shutdown()

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    lines = [
        f"Measured {now} with `make bench-init`: {args.runs} runs of each, median and 10th / 90th "
        f"percentiles, in ms.",
        "",
        f"- Machine: {os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start",
        f"- Source: commit {commit}; release profile of Cargo.toml; stripped x86_64 binaries: "
        f"`fauna-logs-export` {size_mb(ours)} MB, `minimal_runtime` {size_mb(floor)} MB",
        "",
        "| what | median ms | p10 ms | p90 ms |",
        "|---|---:|---:|---:|",
        f"| init: exec to the first `GET /runtime/invocation/next` | {summary(init)} |",
        f"| init + a first `poll` step answered (one status call to the simulator) | {summary(init_poll)} |",
        f"| floor: a minimal lambda_runtime binary, exec to its first `GET next` | {summary(floor_init)} |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = args.write.read_text()
        begin, end = doc.index(MARK_BEGIN), doc.index(MARK_END)
        args.write.write_text(doc[: begin + len(MARK_BEGIN)] + "\n" + text + "\n" + doc[end:])
        print(f"\n(written into {args.write})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
