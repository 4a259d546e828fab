#!/usr/bin/env bash
# Copy benchmark (not a test: it measures and reports, it asserts nothing).
#
# For each file size it serves a log file from the Fauna simulator and copies it into a local S3
# server (s3s-fs) three ways, measuring wall time and peak RSS of each:
#
#   ours      fauna-logs-export run --database us-std/ECommerce --start … --end …
#   ceiling   aws s3 cp FILE s3://…            the same bytes, from local disk
#   pipeline  curl -s URL | aws s3 cp - s3://…  what a user would write with the presigned URL
#
# then prints a table (MiB/s, peak RSS, ours/ceiling and ours/pipeline) and writes it into
# docs/performance.md between its `bench:begin`/`bench:end` markers. `make bench` installs the
# tools and builds the release binaries first; run directly, this script expects them in place:
#   target/release/{fauna-logs-export,fauna-sim}   cargo build --release --all-features --bins
#   target/bench-tools/bin/s3s-fs                   cargo install s3s-fs@0.14.1 --features binary
#   .venv/bin/aws (awscli 1.x), .venv/bin/python    make tools + pip install awscli
#
# Settings (environment; `make bench` passes its command-line variables through):
#   BENCH_SIZES   sizes to run, with the simulator's units        [256MiB 1GiB 4GiB]
#   BENCH_REPEAT  runs of each way per size (median time, max RSS) [1]
#   BENCH_NOTE    a line written above the table (e.g. "Preliminary: …")
#   BENCH_REPORT  Markdown file to update, or "-" for none          [docs/performance.md]
#   BENCH_TMPDIR  where the files and the S3 root go (≈ 4.5 × the largest size free) [/tmp]
set -euo pipefail
export LC_ALL=C # decimal points in $EPOCHREALTIME, awk and sort

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
verifier_bench=$root/target/release/examples/verify_throughput
s3s_fs=$root/target/bench-tools/bin/s3s-fs
aws=$root/.venv/bin/aws
py=$root/.venv/bin/python

read -r -a sizes <<<"${BENCH_SIZES:-256MiB 1GiB 4GiB}"
repeat=${BENCH_REPEAT:-1}
report=${BENCH_REPORT:-$root/docs/performance.md}
ways=(ours ceiling pipeline)

# The export window, scope and destination every way uses (the simulator's file depends only on
# seed, window, scope and size, so every request below is served the same bytes).
database=us-std/ECommerce
window_start=2026-11-24T00:00:00Z
window_end=2026-11-25T00:00:00Z
account_key=bench-account-key
bucket=fauna-logs-bench

# Goals reported against (never asserted).
goal_vs_ceiling=0.95
goal_vs_pipeline=1.0
goal_rss_mib=64

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# --- set-up and clean-up -------------------------------------------------------------------------

server_pids=()   # every server still running, for the exit trap
last_server_pid= # the one start_server started last
work= s3_url= sim_url= sim_pid= load_at_start=

cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -z "$work" ] || rm -rf "$work"
}

check_prerequisites() {
  local f
  for f in "$bin/fauna-logs-export" "$bin/fauna-sim" "$verifier_bench" "$s3s_fs" "$aws" "$py" /usr/bin/time; do
    [ -x "$f" ] || die "missing $f (run \`make bench\`, which installs and builds everything)"
  done
  command -v curl >/dev/null || die "curl is needed for the pipeline measurement"
  [[ $repeat =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
}

# size_bytes SIZE: the byte count of a size written with the simulator's units (e.g. 4GiB).
size_bytes() {
  "$py" - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+)\s*(|B|K|KiB|KB|M|MiB|MB|G|GiB|GB)", sys.argv[1])
if not m:
    sys.exit(f"bad size {sys.argv[1]!r}")
unit = {"": 1, "B": 1, "K": 2**10, "KiB": 2**10, "KB": 10**3, "M": 2**20, "MiB": 2**20,
        "MB": 10**6, "G": 2**30, "GiB": 2**30, "GB": 10**9}[m[2]]
print(int(m[1]) * unit)
PY
}

# check_disk: the largest size needs its file in the simulator's data dir, a local copy for the
# ceiling, and the stored object plus its multipart parts in s3s-fs (≈ 4 × size, plus slack).
check_disk() {
  local size largest=0 bytes free
  for size in "${sizes[@]}"; do
    bytes=$(size_bytes "$size")
    if ((bytes > largest)); then largest=$bytes; fi
  done
  free=$(df --output=avail -B1 "$work" | tail -1)
  ((free > largest * 9 / 2)) ||
    die "$work has $((free >> 20)) MiB free; the largest size needs about $((largest * 9 / 2 >> 20)) MiB (set BENCH_TMPDIR)"
}

# aws_env: a private, empty AWS configuration, so the CLI runs on its defaults (multipart
# threshold and chunk size 8 MB, 10 concurrent requests, default checksums) whatever ~/.aws says.
# Path-style addressing is the only setting, as for any local S3 server.
aws_env() {
  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL_S3
  printf '[default]\ns3 =\n    addressing_style = path\n' >"$work/aws-config"
  : >"$work/aws-credentials"
  export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
  export AWS_ACCESS_KEY_ID=bench-access-key AWS_SECRET_ACCESS_KEY=bench-secret-key
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
}

# start_server VAR LOG CMD...: starts CMD in the background (output in LOG, pid kept for the exit
# trap), waits until LOG announces an http://127.0.0.1:PORT address and stores it in VAR.
start_server() {
  local -n address=$1
  local name=$1 log=$2 pid i
  shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  server_pids+=("$pid")
  for ((i = 0; i < 600; i++)); do
    if address=$(grep -oE -m1 'http://127\.0\.0\.1:[0-9]+' "$log"); then
      last_server_pid=$pid
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "server for $name exited: $(tail -5 "$log")"
    sleep 0.1
  done
  die "server for $name did not announce its address within 60 s"
}

# stop_server PID: stops one server started by start_server.
stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local -a kept=()
  local pid
  for pid in "${server_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  server_pids=("${kept[@]}")
}

# start_s3: s3s-fs on a free loopback port (port 0: the kernel picks) with the bucket created.
start_s3() {
  mkdir -p "$work/s3-root"
  # Info level only for s3s-fs's own target: its start-up line carries the bound address.
  start_server s3_url "$work/s3s-fs.log" env RUST_LOG=s3s_fs=info "$s3s_fs" --host 127.0.0.1 \
    --port 0 --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3-root"
  "$aws" --endpoint-url "$s3_url" s3 mb "s3://$bucket" >/dev/null
}

# start_sim SIZE: a simulator serving files of SIZE (its own data dir, so one file per size).
start_sim() {
  mkdir -p "$work/sim-data"
  start_server sim_url "$work/sim-$1.log" "$bin/fauna-sim" --addr 127.0.0.1:0 \
    --account-key "$account_key" --file-size "$1" --data-dir "$work/sim-data"
  sim_pid=$last_server_pid
}

# --- the simulator's API (the presigned URL is kept in a variable, never printed) ---------------

# fauna_api METHOD PATH [BODY]: one authenticated Account API call; prints the JSON answer.
fauna_api() {
  local -a body=()
  [ $# -lt 3 ] || body=(--data "$3")
  curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $account_key" \
    -H 'Content-Type: application/json' "${body[@]}" "$sim_url$2"
}

# json_field NAME: the field NAME of the JSON object on stdin (empty when absent).
json_field() {
  "$py" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1]) or "")' "$1"
}

# request_log_file: asks for the bench window's logs and polls until Complete; sets request_id
# and presigned_url.
request_log_file() {
  local body answer state i
  body=$(printf '{"database":"%s","time_start":"%s","time_end":"%s"}' \
    "$database" "$window_start" "$window_end")
  answer=$(fauna_api POST '/api/v1/logs?type=query' "$body")
  request_id=$(json_field request_id <<<"$answer")
  for ((i = 0; i < 100; i++)); do
    answer=$(fauna_api GET "/api/v1/logs/$request_id?type=query")
    state=$(json_field state <<<"$answer")
    if [ "$state" = Complete ]; then
      presigned_url=$(json_field presigned_url <<<"$answer")
      return 0
    fi
    sleep 0.05
  done
  die "log request $request_id still $state after 100 polls"
}

# prepare_file SIZE: starts the simulator for SIZE, has it generate its file (untimed), and keeps
# a local copy of the exact bytes for the ceiling; sets local_file and file_bytes.
prepare_file() {
  start_sim "$1"
  request_log_file
  local_file=$work/local.jsonl.gz
  log "$1: generating the simulator's file (untimed)"
  curl -sS --fail -o "$local_file" "$sim_url/_sim/requests/$request_id/file"
  file_bytes=$(stat -c %s "$local_file")
}

# finish_size: stops the size's simulator and frees its disk.
finish_size() {
  stop_server "$sim_pid"
  rm -rf "$work/sim-data" "$local_file"
}

# --- the three ways; each copies the file into the bucket and sets object_key -------------------

# timed TAG CMD...: runs CMD under GNU time; its report (peak RSS) goes to $work/time/TAG.
timed() {
  local tag=$1
  shift
  /usr/bin/time -v -o "$work/time/$tag" "$@"
}

# aws_cp SOURCE KEY: `aws s3 cp` on the CLI's defaults, quiet (no progress meter).
aws_cp() {
  timed aws "$aws" --endpoint-url "$s3_url" s3 cp --only-show-errors "$1" "s3://$bucket/$2"
}

copy_ours() {
  timed export env FAUNA_ACCOUNT_URL="$sim_url" FAUNA_ACCOUNT_KEY="$account_key" \
    LOGS_BUCKET="$bucket" LOGS_PREFIX=ours AWS_ENDPOINT_URL="$s3_url" S3_FORCE_PATH_STYLE=true \
    POLL_INTERVAL_SECONDS=0 \
    "$bin/fauna-logs-export" run --database "$database" --start "$window_start" --end "$window_end" \
    >"$work/job.json" 2>"$work/export.log" || die "export failed: $(tail -5 "$work/export.log")"
  object_key=$(json_field key <"$work/job.json")
}

copy_ceiling() {
  object_key=ceiling/$(basename "$local_file")
  aws_cp "$local_file" "$object_key"
}

# The URL reaches curl through a config file on a pipe: it stays out of process listings and of
# GNU time's "Command being timed" line.
copy_pipeline() {
  object_key=pipeline/$(basename "$local_file")
  timed curl curl -s --fail -K <(printf 'url = "%s"\n' "$presigned_url") | aws_cp - "$object_key"
}

# --- measuring ------------------------------------------------------------------------------------

declare -A seconds=() rss_kib=() cpu=() # per "SIZE.WAY": the timed runs' seconds, the largest peak RSS, ours' CPU seconds
declare -a rows=()                # the result table's rows, one per size

# peak_rss_kib: the processes' peak RSS in KiB, added up over the GNU time reports of one way (a
# pipeline's stages run at once, so their sum bounds the pipeline's peak from above).
peak_rss_kib() {
  awk -F': ' '/Maximum resident set size/ { sum += $2 } END { print sum + 0 }' "$work"/time/*
}

# verify KEY: the stored object is the file, byte for byte (s3s-fs keeps objects as plain files).
verify() {
  cmp -s "$local_file" "$work/s3-root/$bucket/$1" || die "s3://$bucket/$1 differs from the file"
}

# measure SIZE WAY: one timed copy, checked and removed afterwards; records its time and peak RSS.
# Ours makes its own log request inside the clock (loopback, a few ms); the pipeline's request
# for a fresh URL is made before the clock starts.
measure() {
  local size=$1 way=$2 t0 t1 secs rss
  [ "$way" != pipeline ] || request_log_file
  rm -rf "$work/time" && mkdir "$work/time"
  t0=$EPOCHREALTIME
  "copy_$way"
  t1=$EPOCHREALTIME
  verify "$object_key"
  "$aws" --endpoint-url "$s3_url" s3 rm --only-show-errors "s3://$bucket/$object_key"
  secs=$(calc "$t1 - $t0" %.3f)
  rss=$(peak_rss_kib)
  seconds[$size.$way]+="$secs "
  if [ "$way" = ours ]; then
    cpu[$size.ours]+="$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { print s + 0 }' "$work/time/export") "
  fi
  if ((rss > ${rss_kib[$size.$way]:-0})); then rss_kib[$size.$way]=$rss; fi
  log "$size $way: $secs s, $(calc "$file_bytes / 1048576 / $secs") MiB/s, peak RSS $(calc "$rss / 1024") MiB"
}

# calc EXPR [FORMAT]: floating-point arithmetic (awk), printed with FORMAT [%.1f].
calc() { awk "BEGIN { printf \"${2:-%.1f}\", $1 }"; }

# median_seconds KEY [ARRAY]: the median of the runs recorded under KEY (in `seconds`, or ARRAY).
median_seconds() {
  local -n runs=${2:-seconds}
  tr ' ' '\n' <<<"${runs[$1]}" | grep . | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# yes_no CONDITION: "yes" or "no" for an awk condition.
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"no\" }"; }

# add_row SIZE: the size's table row: throughput and peak RSS per way, ours' ratios, the goals.
add_row() {
  local size=$1 way a b c cells=""
  for way in "${ways[@]}"; do
    cells+=" $(calc "$file_bytes / 1048576 / $(median_seconds "$size.$way")") |"
    cells+=" $(calc "${rss_kib[$size.$way]} / 1024") |"
  done
  a=$(median_seconds "$size.ours") b=$(median_seconds "$size.ceiling") c=$(median_seconds "$size.pipeline")
  local vs_b vs_c rss_a
  vs_b=$(calc "$b / $a" %.2f) vs_c=$(calc "$c / $a" %.2f) rss_a=$(calc "${rss_kib[$size.ours]} / 1024")
  cpu_per_gib=$(calc "$(median_seconds "$size.ours" cpu) * 1073741824 / $file_bytes" %.2f)
  rows+=("| $size | $file_bytes |$cells $cpu_per_gib | $vs_b | $vs_c | $(yes_no "$vs_b >= $goal_vs_ceiling") / $(yes_no "$vs_c >= $goal_vs_pipeline") / $(yes_no "$rss_a <= $goal_rss_mib") |")
}

# run_size SIZE: the three ways, BENCH_REPEAT times each, interleaved; then the size's row.
run_size() {
  local r way
  prepare_file "$1"
  for ((r = 0; r < repeat; r++)); do
    for way in "${ways[@]}"; do measure "$1" "$way"; done
  done
  add_row "$1"
  # The verifier thread's own CPU time per GiB, on this file (once: it is the same at every size).
  if [ -z "${verifier_cpu:-}" ]; then
    "$verifier_bench" --file "$local_file" 3 >"$work/verifier.txt" || die "verify_throughput failed"
    cat "$work/verifier.txt" >&2
    verifier_cpu=$(awk -v way="${VERIFY_INFLATE:-isal}" '$1 == "cpu-seconds-per-gib" && $2 == way { print $3 }' "$work/verifier.txt")
    [ -n "$verifier_cpu" ] || die "verify_throughput measured no ${VERIFY_INFLATE:-isal} (a build without ISA-L? set VERIFY_INFLATE=zlib-rs)"
  fi
  finish_size
}

# --- reporting ------------------------------------------------------------------------------------

# the_command: how to run this again with the same settings.
the_command() {
  local cmd var
  if [ -n "${MAKELEVEL:-}" ]; then cmd="make bench"; else cmd="tests/bench/copy-throughput.sh"; fi
  for var in BENCH_SIZES BENCH_REPEAT BENCH_TMPDIR; do
    [ -z "${!var:-}" ] || cmd="$var=\"${!var}\" $cmd"
  done
  echo "$cmd"
}

# section: the generated Markdown (machine, tools, command, table).
section() {
  local commit dirty=""
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  # Read-only (no index refresh); the report this script rewrites does not count as a change.
  [ -z "$(GIT_OPTIONAL_LOCKS=0 git -C "$root" status --porcelain --untracked-files=no -- . \
    ':!docs/performance.md' 2>/dev/null)" ] || dirty=" with uncommitted changes"
  echo "<!-- bench:begin (written by tests/bench/copy-throughput.sh; edits here are overwritten) -->"
  [ -z "${BENCH_NOTE:-}" ] || printf '> %s\n\n' "$BENCH_NOTE"
  cat <<EOF
Measured $(date -u +%Y-%m-%dT%H:%MZ) with \`$(the_command)\`; $repeat run(s) of each way per size$( ((repeat > 1)) && echo " (median time, largest peak RSS)").

- Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(uname -sr); files and S3 root on $(df --output=fstype "$work" | tail -1); load average $load_at_start at the start
- Source: commit $commit$dirty; \`fauna-logs-export\` built $(date -u -r "$bin/fauna-logs-export" +%Y-%m-%dT%H:%MZ), default \`PART_SIZE_MIB\` and \`MAX_PARTS_IN_FLIGHT\`, \`VERIFY_INFLATE=${VERIFY_INFLATE:-isal}\`
- Tools: $("$s3s_fs" --version), $("$aws" --version 2>&1 | cut -d' ' -f1,4), $(curl --version | head -1 | cut -d' ' -f1,2)

| size | bytes | ours MiB/s | ours RSS MiB | aws cp file MiB/s | RSS MiB | curl \| aws cp MiB/s | RSS MiB | ours CPU s per GiB | ours / file | ours / pipe | goals met (≥ 0.95 file / ≥ 1.0 pipe / RSS ≤ 64) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
EOF
  printf '%s\n' "${rows[@]}"
  cat <<EOF

**Lambda GB-seconds per exported GiB**, from ours' CPU time per GiB at ${sizes[-1]} (user + sys,
GNU time) and the verifier thread's alone ($verifier_cpu s per GiB: \`crates/verify/examples/verify_throughput.rs
--file\` on the ${sizes[0]} file, median of 3), by [tests/bench/lambda-cost.py](../tests/bench/lambda-cost.py):

EOF
  "$root/tests/bench/lambda-cost.py" --copy-cpu "$cpu_per_gib" --verifier-cpu "$verifier_cpu"
  echo "<!-- bench:end -->"
}

# write_report FILE: replaces the marked section of FILE (or appends one) with the new section.
write_report() {
  local file=$1 new=$work/section.md
  section >"$new"
  if [ -f "$file" ] && grep -q '^<!-- bench:begin' "$file"; then
    awk -v new="$new" '
      /^<!-- bench:begin/ { while ((getline line < new) > 0) print line; skip = 1; next }
      /^<!-- bench:end/   { skip = 0; next }
      !skip' "$file" >"$work/report.md"
    cat "$work/report.md" >"$file"
  else
    { [ ! -s "$file" ] || echo; cat "$new"; } >>"$file"
  fi
  log "wrote $file"
}

main() {
  check_prerequisites
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  work=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/fauna-bench.XXXXXX")
  check_disk
  load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
  aws_env
  start_s3
  log "s3s-fs at $s3_url; sizes: ${sizes[*]}; $repeat run(s) per way"
  local size
  for size in "${sizes[@]}"; do run_size "$size"; done
  echo
  section | grep -v '^<!--'
  [ "$report" = - ] || write_report "$report"
}

main "$@"
