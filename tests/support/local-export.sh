#!/usr/bin/env bash
# One whole export on loopback: starts moto (local S3, behind the strict S3 front of
# tests/support/moto_server.py, which also answers ListParts as S3 does) and the Fauna simulator on free ports,
# creates the bucket, runs `fauna-logs-export run`, and reports the stored object's key, size and
# record count; then (not with --measure) runs a saved Athena query over what landed, with DuckDB
# locally. Used by `make demo`, and by `make rss` (release build, under /usr/bin/time -v).
#
#   tests/support/local-export.sh [--release] [--measure] [--size BYTES]
#
# Needs the project's .venv (moto, boto3) and the binaries built with `--features simulator`.
set -euo pipefail

profile=debug measure=false size=24000000
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release ;;
    --measure) measure=true ;;
    --size) size="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/target/$profile"
py="$root/.venv/bin/python"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

s3_port=$(free_port)
"$py" "$root/tests/support/moto_server.py" -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
coproc SIM { exec "$bin/fauna-sim" --addr 127.0.0.1:0 --account-key demo-account-key \
  --file-size "$size" --data-dir "$work" 2>"$work/sim.log"; }
read -r -u "${SIM[0]}" sim_line
export FAUNA_ACCOUNT_URL=${sim_line##* } FAUNA_ACCOUNT_KEY=demo-account-key
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port S3_FORCE_PATH_STYLE=true
export LOGS_BUCKET=fauna-logs-demo POLL_INTERVAL_SECONDS=1 ROOT=$root

"$py" - <<'PY'
import os, time, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for _ in range(300):  # moto takes a moment to start
    try:
        s3.create_bucket(Bucket=os.environ["LOGS_BUCKET"]); break
    except botocore.exceptions.EndpointConnectionError:
        time.sleep(0.1)
else:
    raise SystemExit("moto did not start")
PY
echo "Fauna simulator: $FAUNA_ACCOUNT_URL   local S3 (moto): $AWS_ENDPOINT_URL"
echo "fauna-logs-export run --database us-std/ECommerce --start 2026-11-24T00:00:00Z --end 2026-11-25T00:00:00Z"
run=("$bin/fauna-logs-export" run --database us-std/ECommerce --start 2026-11-24T00:00:00Z --end 2026-11-25T00:00:00Z)
if $measure; then
  /usr/bin/time -v -o "$work/time.txt" "${run[@]}" >"$work/job.json"
else
  "${run[@]}" >"$work/job.json"
fi
echo "Final job: $(cat "$work/job.json")"
"$py" - "$work/job.json" <<'PY'
import gzip, json, os, sys, boto3
job = json.load(open(sys.argv[1]))
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
body = s3.get_object(Bucket=os.environ["LOGS_BUCKET"], Key=job["key"])["Body"].read()
lines = gzip.decompress(body).splitlines()
print(f"\nStored  s3://{os.environ['LOGS_BUCKET']}/{job['key']}")
print(f"Size    {len(body):,} bytes (gzip JSON Lines)")
print(f"Records {len(lines):,}, TS {json.loads(lines[0])['TS']} .. {json.loads(lines[-1])['TS']}")
folder, name = job["key"].rsplit("/", 1)
manifest_key = f"{folder}/_{name.removesuffix('.jsonl.gz')}.manifest.json"
manifest = json.loads(s3.get_object(Bucket=os.environ["LOGS_BUCKET"], Key=manifest_key)["Body"].read())
print(f"Manifest {manifest_key}: {manifest['records']:,} records, CRC32C {manifest['checksum_crc32c']}")
PY
if $measure; then
  grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$work/time.txt"
else
  # Query it where it landed: the bucket copied locally with its keys, read by DuckDB as Athena
  # reads the stack's table, and one saved query run over it (README, "Query your logs").
  "$py" - "$work/bucket" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "athena"))
import exports
s3 = exports.s3_client(os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_ACCESS_KEY_ID"])
exports.copy_bucket(s3, os.environ["LOGS_BUCKET"], exports.Path(sys.argv[1]))
PY
  echo
  "$py" "$root/tests/athena/run_saved_query.py" --copy "$work/bucket" --bucket "$LOGS_BUCKET" \
    --prefix fauna-logs costliest_query_shapes ECommerce 2026-11-24
fi
