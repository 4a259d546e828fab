# fauna-logs-export: the two commands are `make demo` and `make test`; both install what they need.

SHELL        := /bin/bash
.SHELLFLAGS  := -euo pipefail -c
.ONESHELL:
PYTHON       ?= python3
VENV         := .venv
VENV_READY   := $(VENV)/.ready
# Python-side tools, pinned: moto 5.2.1 returns a CompleteMultipartUpload body aws-sdk-s3 cannot parse.
PY_TOOLS     := moto[server,s3crc32c]==5.2.5 cargo-lambda==1.9.2
export PATH  := $(CURDIR)/$(VENV)/bin:$(PATH)

DEMO_DATABASE ?= us-std/ECommerce
DEMO_START    ?= 2026-11-24T00:00:00Z
DEMO_END      ?= 2026-11-25T00:00:00Z
DEMO_SIZE     ?= 24000000
DEMO_BUCKET   ?= fauna-logs-demo

.PHONY: test demo tools fmt clippy unit build release deploy clean

## test: every check (format, lints, unit and end-to-end tests); installs what it needs
test: tools
	cargo fmt --check
	cargo clippy --all-targets --all-features -- -D warnings
	cargo test --all-features

## tools: the project's Python virtualenv with moto (local S3) and cargo-lambda
tools: $(VENV_READY)

$(VENV_READY):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

build:
	cargo build --all-features --bins

## release: the Lambda binary for arm64 (needs zig: `pip install ziglang` or cargo lambda's prompt)
release: tools
	cargo lambda build --release --arm64

## demo: a whole export on the embedded defaults: Fauna simulator + moto S3 on loopback
demo: tools build
	@work=$$(mktemp -d)
	trap 'kill $$(jobs -p) 2>/dev/null; rm -rf "$$work"' EXIT
	s3_port=$$($(PYTHON) -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	moto_server -H 127.0.0.1 -p $$s3_port > "$$work/moto.log" 2>&1 &
	coproc SIM { exec target/debug/fauna-sim --addr 127.0.0.1:0 --account-key demo-account-key --file-size $(DEMO_SIZE) 2>"$$work/sim.log"; }
	read -r -u "$${SIM[0]}" sim_line
	fauna_url=$${sim_line##* }
	export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
	export AWS_ENDPOINT_URL=http://127.0.0.1:$$s3_port S3_FORCE_PATH_STYLE=true
	export FAUNA_ACCOUNT_URL=$$fauna_url FAUNA_ACCOUNT_KEY=demo-account-key
	export LOGS_BUCKET=$(DEMO_BUCKET) POLL_INTERVAL_SECONDS=1
	until $(VENV)/bin/python -c "import urllib.request as u; u.urlopen('$$AWS_ENDPOINT_URL')" 2>/dev/null; do sleep 0.1; done
	echo "Fauna simulator: $$fauna_url"
	echo "Local S3 (moto): $$AWS_ENDPOINT_URL"
	$(VENV)/bin/python -c "import boto3; boto3.client('s3', endpoint_url='$$AWS_ENDPOINT_URL').create_bucket(Bucket='$(DEMO_BUCKET)')"
	echo "Exporting $(DEMO_DATABASE) from $(DEMO_START) to $(DEMO_END)..."
	target/debug/fauna-logs-export run --database $(DEMO_DATABASE) --start $(DEMO_START) --end $(DEMO_END) > "$$work/job.json"
	echo "Final job: $$(cat "$$work/job.json")"
	$(VENV)/bin/python - "$$work/job.json" <<'PY'
	import gzip, json, os, sys, boto3
	job = json.load(open(sys.argv[1]))
	s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
	obj = s3.get_object(Bucket=os.environ["LOGS_BUCKET"], Key=job["key"])["Body"].read()
	lines = gzip.decompress(obj).splitlines()
	first, last = json.loads(lines[0]), json.loads(lines[-1])
	print(f"\nStored  s3://{os.environ['LOGS_BUCKET']}/{job['key']}")
	print(f"Size    {len(obj):,} bytes (gzip JSON Lines)")
	print(f"Records {len(lines):,}, TS {first['TS']} ... {last['TS']}")
	PY

## deploy: build for arm64 and deploy the function with cargo lambda (see README for SAM)
deploy: release
	cargo lambda deploy --binary-name fauna-logs-export

clean:
	cargo clean
	rm -rf $(VENV)
