# fauna-logs-export: the two commands are `make demo` and `make test`; both install what they need.

SHELL        := /bin/bash
.SHELLFLAGS  := -euo pipefail -c
.ONESHELL:
PYTHON       ?= python3
VENV         := .venv
# Python-side tools, pinned: moto 5.2.1 returns a CompleteMultipartUpload body aws-sdk-s3 cannot parse.
PY_TOOLS     := moto[server,s3crc32c,stepfunctions]==5.2.5 cargo-lambda==1.9.2 cfn-lint==1.58.0 \
                aws-sam-translator==1.115.0 sqlglot==30.30.0 duckdb==2.0.1
# The venv is made for these exact pins: its stamp is named after them, so changing a pin
# rebuilds it from scratch.
VENV_READY   := $(VENV)/.ready-$(shell echo '$(PY_TOOLS)' | sha1sum | cut -c1-12)
# cargo-nextest runs the Rust tests (.config/nextest.toml); its test priorities need 0.9.91 or
# later. The machine's own is used when it is recent enough, else this pin is installed here.
NEXTEST_VERSION := 0.9.143
NEXTEST_TOOLS   := $(CURDIR)/target/nextest-tools
export PATH  := $(CURDIR)/$(VENV)/bin:$(NEXTEST_TOOLS)/bin:$(PATH)

.PHONY: test demo rss tools native-tools nextest-tools build release deploy invoke clean bench bench-backfill bench-init athena-template chaos fuzz-build

# Settings that would make `make test` check less than all of it; it runs without them.
SHRINKING_KNOBS := FAULT_MATRIX_ROWS PROPTEST_CASES FUZZ_SECONDS FUZZ_FLAGS FUZZ_SEED FUZZ_CORPUS

## test: every check (format, lints, the SAM template and its transformed form, the strict S3
## front's own tests, unit and
## end-to-end tests, the state machine run in moto against the real function, the Athena table,
## view and saved queries on DuckDB over real exports (tests/athena), 30 s of fuzzing the job
## parser and the redaction side by side, seed 1); installs what it needs. It ignores
## FAULT_MATRIX_ROWS, PROPTEST_CASES and the FUZZ_ knobs (and says so when they are set): a pass
## means the whole suite ran.
test: tools
	for knob in $(SHRINKING_KNOBS); do
	  if [ -n "$${!knob-}" ]; then echo "make test: ignoring $$knob=$${!knob} (the whole suite runs)"; fi
	done
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	# Without ISA-L (the zlib-rs-only build); with every other feature, so the dependencies are
	# resolved as above and only the crate itself is checked again.
	cargo clippy --lib --bins --no-default-features --features simulator -- -D warnings
	cfn-lint infra/template.yaml
	$(VENV)/bin/python -m unittest discover -s tests/infra
	$(VENV)/bin/python -m unittest tests/support/test_s3_front.py
	env -u FAULT_MATRIX_ROWS -u PROPTEST_CASES cargo test --workspace --all-features --no-run
	# The fuzz targets' build (the core crate alone, in release, under the sanitizer)
	# goes on while the tests run, which mostly wait on servers and real intervals. Nothing is
	# left running if a test fails: the exit waits for it.
	$(MAKE) --no-print-directory fuzz-build >fuzz/build.log 2>&1 & fuzz_build=$$!
	trap 'status=$$?; wait; exit $$status' EXIT
	env -u FAULT_MATRIX_ROWS -u PROPTEST_CASES cargo nextest run --workspace --all-features
	cargo test --workspace --all-features --doc
	cargo build --all-features --bins
	$(VENV)/bin/python -m unittest discover -s tests/athena
	if ! wait $$fuzz_build; then cat fuzz/build.log; echo "fuzz: the target did not build"; exit 1; fi
	rm -rf target/fuzz-test-corpus
	env -u FUZZ_SECONDS -u FUZZ_FLAGS -u FUZZ_SEED -u FUZZ_CORPUS $(MAKE) --no-print-directory fuzz \
	  FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) FUZZ_FLAGS='$(TEST_FUZZ_FLAGS)' FUZZ_SEED=1 FUZZ_CORPUS=target/fuzz-test-corpus

## athena-template: rewrite the generated block of infra/template.yaml (the saved queries and the
## typed view) from infra/athena/*.sql; tests/athena fails while it is not current
athena-template: tools
	$(VENV)/bin/python tests/athena/athena_template.py

## chaos: the large chaos test (docs/reliability.md, "Chaos at scale"): a backfill of 72 hourly
## windows over 3 databases with seeded random faults in the Fauna simulator and the S3 front and
## SIGKILLs of the exporter, re-run until every window is done, then checked; prints its figures.
## CHAOS_SEED (default 20261130, printed) decides the faults; CHAOS_HOURS (default 24) the hours
## per database. `make test` runs a small version (8 windows, one kill).
CHAOS_SEED ?= 20261130
HOSTILE_SEEDS ?= 2000
chaos: tools
	CHAOS_SEED=$(CHAOS_SEED) cargo test --all-features --test integration chaos:: -- --ignored --nocapture
	# The hostile Fauna (src/hostile/): 2,000 seeds here, 64 in make test (HOSTILE_SEED=N reruns one).
	HOSTILE_SEEDS=$(HOSTILE_SEEDS) cargo test --all-features --lib hostile:: -- --nocapture

## tools: the project's Python virtualenv with moto (local S3) and cargo-lambda
tools: $(VENV_READY) native-tools nextest-tools

nextest-tools:
	@cargo nextest --version 2>/dev/null \
	  | awk '/^cargo-nextest /{split($$2, v, "."); ok = v[1] > 0 || v[2] > 9 || v[3] >= 91} END{exit !ok}' \
	  || cargo install cargo-nextest@$(NEXTEST_VERSION) --locked --root $(NEXTEST_TOOLS)

# What ISA-L's build from source needs (the `isal` feature, on by default: the verifier's fast
# inflate). Installed with apt-get when missing; elsewhere install autoconf, automake, libtool and
# nasm with the system's package manager, or build with --no-default-features (zlib-rs only).
NATIVE_TOOLS := autoconf automake libtoolize nasm
native-tools:
	@missing=""; for t in $(NATIVE_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing ISA-L's build tools (missing:$$missing)"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq autoconf automake libtool nasm >/dev/null; \
	fi

$(VENV_READY):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

build:
	cargo build --all-features --bins

## release: the Lambda binary for arm64 (cross-compiles with the zig that cargo-lambda brings into .venv)
release: tools
	cargo lambda build --release --arm64
	echo "release: target/lambda/fauna-logs-export/bootstrap is $$(stat -c %s target/lambda/fauna-logs-export/bootstrap) bytes"

## demo: a whole export on the embedded defaults (Fauna simulator + moto S3 on loopback), then one
## saved Athena query over what landed, run by DuckDB locally
demo: tools build
	tests/support/local-export.sh

## rss: peak RSS of `run` copying a 256 MiB log file (release build, /usr/bin/time -v)
rss: tools
	cargo build --release --all-features --bins
	tests/support/local-export.sh --release --measure --size 268435456

## bench: copy throughput and peak RSS of `run` against `aws s3 cp FILE` and `curl | aws s3 cp -`
## into a local s3s-fs, for 256 MiB, 1 GiB and 4 GiB files; prints the table and writes it into
## docs/performance.md. Settings: BENCH_SIZES="256MiB 1GiB", BENCH_REPEAT, BENCH_NOTE, BENCH_TMPDIR
## (see tests/bench/copy-throughput.sh). Installs s3s-fs into target/bench-tools, awscli into .venv.
bench: tools
	target/bench-tools/bin/s3s-fs --version 2>/dev/null | grep -x 's3s-fs 0.14.1' >/dev/null \
	  || cargo install s3s-fs@0.14.1 --features binary --locked --root target/bench-tools
	$(VENV)/bin/aws --version 2>&1 | grep '^aws-cli/1\.46\.3 ' >/dev/null \
	  || $(VENV)/bin/pip install --quiet --disable-pip-version-check awscli==1.46.3
	cargo build --release --all-features --bins
	cargo build --release -p fauna-logs-verify --example verify_throughput
	tests/bench/copy-throughput.sh

## bench-backfill: exports per minute of `backfill` at concurrency 1, 4 and 16 against the
## simulator and moto (release build). Settings: BENCH_CONCURRENCY, BENCH_HOURS, BENCH_FILE_SIZE,
## BENCH_POLL_SECONDS, BENCH_POLLS (see tests/bench/backfill-rate.sh).
bench-backfill: tools
	cargo build --release --all-features --bins
	tests/bench/backfill-rate.sh

## bench-init: cold start of the Lambda binary (exec to its first GET next; to a first poll step
## answered) next to a minimal lambda_runtime binary, over a fake Runtime API on loopback; medians
## of BENCH_INIT_RUNS (21) runs, written into docs/performance.md (tests/bench/cold-init.py)
BENCH_INIT_RUNS ?= 21
bench-init: tools
	cargo build --release --all-features --bins --example minimal_runtime
	$(VENV)/bin/python tests/bench/cold-init.py --runs $(BENCH_INIT_RUNS) --write docs/performance.md

## deploy: build and deploy the whole stack with SAM (asks for its parameters the first time)
deploy: tools
	command -v sam >/dev/null || $(VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli
	sam build --template-file infra/template.yaml
	sam deploy --guided

## invoke: run one step of the function locally (cargo lambda watch) on a fixture, e.g.
## `make invoke EVENT=events/scheduler-daily.json` (start `cargo lambda watch` first, with the env)
EVENT ?= events/manual-request-database.json
invoke: tools
	cargo lambda invoke fauna-logs-export --data-file $(EVENT)

## mutants: mutation testing with cargo-mutants (pinned, into target/mutants-tools): every mutant
## of the core crate against its tests, then of the copy engine and the step against the
## exporter's in-process tests (the library's own, no servers), then of the verifier crate
## against its tests. Reports under
## target/mutants/ (caught.txt, missed.txt, unviable.txt, timeout.txt); docs/testing.md has the
## last figures and why each missed mutant is left. MUTANTS_JOBS (2) builds run at once;
## MUTANTS_ARGS adds cargo-mutants flags, e.g. MUTANTS_ARGS='-f crates/core/src/keys.rs'.
CARGO_MUTANTS_VERSION := 27.1.0
MUTANTS_TOOLS         := $(CURDIR)/target/mutants-tools
MUTANTS_JOBS          ?= 2
MUTANTS_ARGS          ?=
.PHONY: mutants mutants-tools
mutants-tools:
	$(MUTANTS_TOOLS)/bin/cargo-mutants --version 2>/dev/null | grep -x 'cargo-mutants $(CARGO_MUTANTS_VERSION)' >/dev/null \
	  || cargo install cargo-mutants@$(CARGO_MUTANTS_VERSION) --locked --root $(MUTANTS_TOOLS)
mutants: mutants-tools
	export PATH="$(MUTANTS_TOOLS)/bin:$$PATH"
	# Exit 2 (missed mutants) and 3 (timeouts) are findings, reported below; 1 (usage) and 4 (the
	# unmutated tree fails its tests) stop here.
	mkdir -p target/mutants
	cargo mutants -p fauna-logs-core -j $(MUTANTS_JOBS) -o target/mutants/core $(MUTANTS_ARGS) \
	  || { status=$$?; [ $$status -eq 2 ] || [ $$status -eq 3 ]; }
	cargo mutants -p fauna-logs-export --all-features -j $(MUTANTS_JOBS) -o target/mutants/exporter \
	  -f 'src/copy/**' -f 'src/step/**' --cargo-test-arg=--lib $(MUTANTS_ARGS) \
	  || { status=$$?; [ $$status -eq 2 ] || [ $$status -eq 3 ]; }
	cargo mutants -p fauna-logs-verify -j $(MUTANTS_JOBS) -o target/mutants/verify $(MUTANTS_ARGS) \
	  || { status=$$?; [ $$status -eq 2 ] || [ $$status -eq 3 ]; }
	for part in core exporter verify; do
	  out=target/mutants/$$part/mutants.out
	  echo "$$part: $$(wc -l <$$out/caught.txt) caught, $$(wc -l <$$out/missed.txt) missed, $$(wc -l <$$out/unviable.txt) unviable, $$(wc -l <$$out/timeout.txt) timeout"
	done

## fuzz-build: the fuzz targets, built under AddressSanitizer with libFuzzer's coverage (the flags
## are fuzz/.cargo/config.toml's; no cargo-fuzz needed). make test builds them while its tests run.
FUZZ_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_BIN    := fuzz/target/$(FUZZ_TRIPLE)/release
.PHONY: fuzz fuzz-build
fuzz-build:
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo build --release --target $(FUZZ_TRIPLE) --bins

## fuzz: the job parser and the redaction of upstream text (fuzz_targets/redact.rs), side by side
## (one core each), under libFuzzer (fuzz/, docs/fuzzing.md) for FUZZ_SECONDS, seeded with
## events/*.json and the inputs of past findings (fuzz/regressions/); new inputs go to FUZZ_CORPUS,
## a crash's input to fuzz/artifacts/<target>/ and fails the run. FUZZ_SEED=0 lets libFuzzer draw
## the seed; make test runs seed 1 from an empty corpus, so a run here is the run CI makes. Each
## target's whole output goes to fuzz/last-run-<target>.log: printed if the run fails, else only
## its figures.
TEST_FUZZ_SECONDS := 30
TEST_FUZZ_FLAGS   := -max_len=8192 -dict=fuzz/job_payload.dict -print_final_stats=1
FUZZ_SECONDS ?= $(TEST_FUZZ_SECONDS)
FUZZ_FLAGS   ?= $(TEST_FUZZ_FLAGS)
FUZZ_SEED    ?= 0
FUZZ_CORPUS  ?= fuzz/corpus
# ASan's ODR check misfires on Rust binaries (cargo-fuzz turns it off too).
FUZZ_RUN      = ASAN_OPTIONS=detect_odr_violation=0 $(FUZZ_BIN)
fuzz: fuzz-build
	mkdir -p $(FUZZ_CORPUS)/job_payload $(FUZZ_CORPUS)/redact fuzz/artifacts/job_payload fuzz/artifacts/redact
	echo "fuzz: running job_payload and redact for $(FUZZ_SECONDS) s each, side by side, seed $(FUZZ_SEED) (logs: fuzz/last-run-*.log)"
	$(FUZZ_RUN)/job_payload $(FUZZ_CORPUS)/job_payload events -artifact_prefix=fuzz/artifacts/job_payload/ \
	  -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) $(FUZZ_FLAGS) >fuzz/last-run-job_payload.log 2>&1 & job_payload=$$!
	$(FUZZ_RUN)/redact $(FUZZ_CORPUS)/redact fuzz/regressions/redact -artifact_prefix=fuzz/artifacts/redact/ \
	  -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -max_len=4096 -dict=fuzz/redact.dict -print_final_stats=1 \
	  >fuzz/last-run-redact.log 2>&1 & redact=$$!
	failed=""
	wait $$job_payload || failed="$$failed job_payload"
	wait $$redact || failed="$$failed redact"
	for target in job_payload redact; do
	  if [[ " $$failed " == *" $$target "* ]]; then cat fuzz/last-run-$$target.log; fi
	  echo "$$target:"; grep -E '^(Done |stat::)' fuzz/last-run-$$target.log || true
	done
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (docs/fuzzing.md: reproduce a crash)"; exit 1; fi

clean:
	cargo clean
	rm -rf $(VENV)
