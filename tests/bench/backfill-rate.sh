#!/usr/bin/env bash
# Exports per minute of `fauna-logs-export backfill` at several concurrencies, against the Fauna
# simulator and moto S3 on loopback (release build). Each concurrency backfills the same windows
# into a bucket of its own, so nothing is skipped.
#
#   tests/bench/backfill-rate.sh            # settings below, from the environment
#
# BENCH_CONCURRENCY="1 4 16"  BENCH_HOURS=24 (hourly windows of one database)
# BENCH_FILE_SIZE=1MiB (each window's log file)  BENCH_POLL_SECONDS=1 (POLL_INTERVAL_SECONDS)
# BENCH_POLLS=2 (working answers before Complete: the simulator's --polls-to-complete)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/target/release"
py="$root/.venv/bin/python"
concurrency=${BENCH_CONCURRENCY:-1 4 16}
hours=${BENCH_HOURS:-24}
file_size=${BENCH_FILE_SIZE:-1MiB}
polls=${BENCH_POLLS:-2}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

s3_port=$(free_port)
"$root/.venv/bin/python" "$root/tests/support/moto_server.py" -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
coproc SIM { exec "$bin/fauna-sim" --addr 127.0.0.1:0 --account-key bench-account-key \
  --file-size "$file_size" --polls-to-complete "$polls" --data-dir "$work" 2>"$work/sim.log"; }
read -r -u "${SIM[0]}" sim_line
export FAUNA_ACCOUNT_URL=${sim_line##* } FAUNA_ACCOUNT_KEY=bench-account-key
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port S3_FORCE_PATH_STYLE=true
export POLL_INTERVAL_SECONDS=${BENCH_POLL_SECONDS:-1}

from=2026-11-01T00:00:00Z
to=$(date -u -d "2026-11-01 + $hours hours" +%Y-%m-%dT%H:%M:%SZ)
buckets=()
for c in $concurrency; do buckets+=("backfill-bench-$c"); done
"$py" - "${buckets[@]}" <<'PY'
import os, sys, time, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for name in sys.argv[1:]:
    for _ in range(300):  # moto takes a moment to start
        try:
            s3.create_bucket(Bucket=name); break
        except botocore.exceptions.EndpointConnectionError:
            time.sleep(0.1)
    else:
        raise SystemExit("moto did not start")
PY

echo "backfill of $hours hourly windows of one database, $file_size each, Complete after $polls working polls, POLL_INTERVAL_SECONDS=$POLL_INTERVAL_SECONDS"
echo
echo "| concurrency | windows | wall s | exports/min |"
echo "|---:|---:|---:|---:|"
for c in $concurrency; do
  start=$(date +%s.%N)
  LOGS_BUCKET=backfill-bench-$c "$bin/fauna-logs-export" backfill --database us-std/ECommerce \
    --from "$from" --to "$to" --window 1h --concurrency "$c" >"$work/out-$c.txt" 2>"$work/err-$c.txt" \
    || { echo "backfill at concurrency $c failed:" >&2; tail -20 "$work/err-$c.txt" >&2; exit 1; }
  end=$(date +%s.%N)
  grep -q "^$hours windows: $hours done, 0 failed" "$work/out-$c.txt" \
    || { echo "unexpected summary at concurrency $c:" >&2; tail -3 "$work/out-$c.txt" >&2; exit 1; }
  awk -v c="$c" -v n="$hours" -v s="$start" -v e="$end" \
    'BEGIN { w = e - s; printf "| %d | %d | %.1f | %.1f |\n", c, n, w, n * 60 / w }'
done
