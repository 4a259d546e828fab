//! The fault matrix's bucket rows, in-process: one whole export per fault, through the command
//! line's loop against the Fauna simulator served in the test's runtime, into the in-memory
//! bucket (which passes S3's conformance suite, `store::conformance`) behind
//! `store::faulty::FaultyStore`, on tokio's paused clock: the backoff between step runs passes at
//! once, so a row that takes a minute of real waits in a process takes well under a second.
//!
//! Each row checks what a row of `tests/fault_matrix.rs` checks: the outcome and its typed
//! `errorType`; that the stored bytes equal the simulator's file with a manifest beside them, or
//! that nothing is at the key and no manifest either (or, for a failed manifest, the object
//! alone); that no multipart upload is left open; that no secret reached the job, the progress
//! lines or the log; that the Fauna calls, downloads and step runs stay within their bounds; and
//! that the fault fired as often as it must. Without the AWS SDK in the path, each bucket call is
//! one attempt, so the bounds are those of the process rows with one attempt per call.
//!
//! What only the S3 protocol can show stays in the process matrix, against the strict S3 front:
//! the SDK's own retries absorbing a burst, and a body corrupted on the wire.

use crate::support;

use fauna_logs_export::cli::STEP_RETRIES;
use fauna_logs_export::job::Step;
use fauna_logs_export::keys::manifest_key;
use fauna_logs_export::step::MAX_COPY_FAILURES;
use fauna_logs_export::store::faulty::{Fault, FaultyStore, Operation};
use fauna_logs_export::store::memory::MemoryStore;
use support::in_process::{FilesDir, export, memory_contents, sim_with_file_ready};

/// Status polls of a log request that ends Complete (the simulator's `--polls-to-complete 2`).
const POLLS: u64 = 3;
/// Fauna API calls of one log request: the POST and its polls.
const REQUEST_CALLS: u64 = 1 + POLLS;
/// A clean export: one log request, and the status read that starts the copy step.
const CLEAN_CALLS: u64 = REQUEST_CALLS + 1;
/// Runs of one step at most: the first and `STEP_RETRIES` more after a retryable failure.
const STEP_RUNS: u64 = 1 + STEP_RETRIES as u64;
/// Copy steps of a window that may stop on a transient fault before the export fails.
const COPY_FAILURES: u64 = MAX_COPY_FAILURES as u64;
/// A file of two multipart parts (8 MiB and about 3.6 MB).
const TWO_PARTS: &str = "12000000";
/// The CRC32C a lying bucket reports (`AAAAAA==`).
const WRONG_CRC: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// `done`: the object's bytes equal the simulator's file, with a manifest beside it.
    Stored,
    /// `failed` with this errorType: nothing at the key, no manifest.
    Failed(&'static str),
    /// `failed` with this errorType after the object was stored: the object is whole and
    /// correct, but has no manifest, the completeness marker (a re-run writes both again).
    FailedBeforeManifest(&'static str),
}

/// One row: the simulator's flags, the exporter's settings, the bucket's faults, and what must
/// come of them.
struct Row {
    /// The fault, in words (the table's first column).
    fault: &'static str,
    sim: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    faults: Vec<Fault>,
    expect: Expect,
    max_api_calls: u64,
    max_downloads: u64,
    step_retries: u64,
    /// The operation whose faults must have fired, at least and at most this often.
    fired: (Operation, u64, u64),
    /// Text the log or the progress lines must hold (what the client saw).
    says: &'static [&'static str],
}

impl Row {
    fn new(fault: &'static str, faults: Vec<Fault>, fired: (Operation, u64, u64)) -> Row {
        Row {
            fault,
            sim: &[],
            env: &[],
            faults,
            expect: Expect::Stored,
            max_api_calls: CLEAN_CALLS,
            max_downloads: 1,
            step_retries: 0,
            fired,
            says: &[],
        }
    }

    async fn run(self) {
        let started = tokio::time::Instant::now();
        let files = FilesDir::new();
        let sim = sim_with_file_ready(self.sim, &files).await;
        let memory = MemoryStore::default();
        let store = FaultyStore::new(memory.clone(), self.faults.clone());
        let run = export(&sim, store.clone(), self.env).await;
        // What `run` would print: its progress lines, its log, and the failure it ends with.
        let failure = run
            .job
            .error
            .as_ref()
            .map(|f| format!("{} {}", f.error_type, f.message));
        let said = format!("{}{}{}", run.progress, run.log, failure.unwrap_or_default());
        let context = format!("{:?}\n{said}", self.faults);

        run.assert_no_secrets();
        for text in self.says {
            assert!(
                said.contains(text),
                "the export never said {text:?}: {context}"
            );
        }
        let key = run.job.key.clone();
        let (mut keys, stored, open) = memory_contents(&memory, &key);
        assert_eq!(open, 0, "a multipart upload was left open: {context}");
        match self.expect {
            Expect::Stored => assert_eq!(run.job.step, Step::Done, "{context}"),
            Expect::Failed(error_type) | Expect::FailedBeforeManifest(error_type) => {
                assert_eq!(run.job.step, Step::Failed, "{context}");
                let failure = run.job.error.as_ref().expect("a failed job says why");
                assert_eq!(failure.error_type, error_type, "{context}");
            }
        }
        let mut expected = match self.expect {
            Expect::Stored => vec![key.clone(), manifest_key(&key)],
            Expect::Failed(_) => vec![],
            Expect::FailedBeforeManifest(_) => vec![key.clone()],
        };
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "what the bucket holds: {context}");
        if let Some(stored) = stored {
            let request_id = run
                .job
                .request_id
                .clone()
                .expect("the job names its request");
            let source = sim.file(&request_id).await;
            assert!(
                stored == source,
                "the stored bytes differ from the simulator's file ({} stored, {} in the source): {context}",
                stored.len(),
                source.len()
            );
            if self.expect == Expect::Stored {
                assert_eq!(run.job.bytes, Some(source.len() as u64), "{context}");
                let (_, manifest, _) = memory_contents(&memory, &manifest_key(&key));
                let manifest: serde_json::Value =
                    serde_json::from_slice(&manifest.expect("a manifest")).expect("manifest JSON");
                assert_eq!(manifest["request_id"], request_id.as_str(), "{manifest}");
                assert_eq!(
                    manifest["bytes"].as_u64(),
                    Some(source.len() as u64),
                    "{manifest}"
                );
            }
        }

        assert_eq!(
            run.step_retries(),
            self.step_retries,
            "steps run again: {context}"
        );
        let stats = sim.stats().await;
        let count = |name: &str| support::counter(&stats, name);
        let (calls, downloads) = (count("api_calls"), count("downloads"));
        assert!(
            calls <= self.max_api_calls,
            "{calls} Fauna API calls, bound {}: {stats}\n{context}",
            self.max_api_calls
        );
        assert!(
            downloads <= self.max_downloads,
            "{downloads} downloads, bound {}: {stats}\n{context}",
            self.max_downloads
        );
        let (operation, min, max) = self.fired;
        let fired = store.fired(operation);
        assert!(
            (min..=max).contains(&fired),
            "the {operation:?} fault fired {fired} times, expected {min} to {max}: {context}"
        );
        // The row of docs/reliability.md's in-process table (`-- --nocapture` prints it).
        println!(
            "| {} | {:?} | {:?} | {} | {calls} (≤ {}) | {downloads} (≤ {}) | {fired} ({min}–{max}) | {:.0} s |",
            self.fault,
            self.faults,
            self.expect,
            run.step_retries(),
            self.max_api_calls,
            self.max_downloads,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Every UploadPart fails: each copy step stops at its first failed part (the second part's too
/// if it started before the copy saw the first fail), counting a failure in the job; after
/// COPY_FAILURES copy steps, one status read and one download each, the export fails
/// S3Unavailable, the upload aborted.
#[tokio::test(start_paused = true)]
async fn every_upload_part_failing_fails_the_export_after_its_copy_failures() {
    Row {
        sim: &["--file-size", TWO_PARTS],
        expect: Expect::Failed("S3Unavailable"),
        max_api_calls: REQUEST_CALLS + COPY_FAILURES,
        max_downloads: COPY_FAILURES,
        ..Row::new(
            "S3 UploadPart 500 on every attempt",
            vec![Fault::answer(Operation::UploadPart, 500, "InternalError")],
            (Operation::UploadPart, COPY_FAILURES, COPY_FAILURES * 2),
        )
    }
    .run()
    .await;
}

/// A file under one part is one PutObject; it never succeeds.
#[tokio::test(start_paused = true)]
async fn every_put_object_failing_fails_the_export_after_its_copy_failures() {
    Row {
        expect: Expect::Failed("S3Unavailable"),
        max_api_calls: REQUEST_CALLS + COPY_FAILURES,
        max_downloads: COPY_FAILURES,
        ..Row::new(
            "S3 PutObject 500 on every attempt",
            vec![Fault::answer(Operation::PutObject, 500, "InternalError")],
            (Operation::PutObject, COPY_FAILURES, COPY_FAILURES),
        )
    }
    .run()
    .await;
}

/// Only the manifest's PutObject fails: the object is stored, the step fails after it, and the
/// loop runs it STEP_RUNS times in all.
#[tokio::test(start_paused = true)]
async fn a_manifest_that_cannot_be_written_leaves_the_object_without_one() {
    Row {
        expect: Expect::FailedBeforeManifest("S3Unavailable"),
        step_retries: STEP_RUNS - 1,
        max_api_calls: REQUEST_CALLS + STEP_RUNS,
        max_downloads: STEP_RUNS,
        ..Row::new(
            "S3 PutObject 500 on the manifest only",
            vec![
                Fault::answer(Operation::PutObject, 500, "InternalError")
                    .on_keys_ending(".manifest.json"),
            ],
            (Operation::PutObject, STEP_RUNS, STEP_RUNS),
        )
    }
    .run()
    .await;
}

/// HeadObject reports a CRC32C other than the stored one, once: the copy deletes what it stored
/// and stops (ChecksumMismatch, counted in the job); the next copy step stores the file.
#[tokio::test(start_paused = true)]
async fn a_checksum_reported_wrong_once_costs_one_more_copy() {
    Row {
        max_api_calls: CLEAN_CALLS + 1,
        max_downloads: 2,
        says: &["ChecksumMismatch"],
        ..Row::new(
            "S3 HeadObject reports another CRC32C once",
            vec![Fault::report_crc32c(Operation::HeadObject, WRONG_CRC).times(1)],
            (Operation::HeadObject, 1, 1),
        )
    }
    .run()
    .await;
}

/// ... on every copy: the object is deleted each time, ChecksumMismatch after COPY_FAILURES copy
/// steps.
#[tokio::test(start_paused = true)]
async fn a_checksum_always_reported_wrong_fails_the_export_with_nothing_stored() {
    Row {
        expect: Expect::Failed("ChecksumMismatch"),
        max_api_calls: REQUEST_CALLS + COPY_FAILURES,
        max_downloads: COPY_FAILURES,
        ..Row::new(
            "S3 HeadObject reports another CRC32C every time",
            vec![Fault::report_crc32c(Operation::HeadObject, WRONG_CRC)],
            (Operation::HeadObject, COPY_FAILURES, COPY_FAILURES),
        )
    }
    .run()
    .await;
}

/// The bucket refuses the write: S3WriteRejected at once, nothing retried, nothing stored.
#[tokio::test(start_paused = true)]
async fn access_denied_fails_at_once() {
    Row {
        expect: Expect::Failed("S3WriteRejected"),
        says: &["AccessDenied"],
        ..Row::new(
            "S3 PutObject 403 AccessDenied",
            vec![Fault::answer(Operation::PutObject, 403, "AccessDenied")],
            (Operation::PutObject, 1, 1),
        )
    }
    .run()
    .await;
}

/// The bucket is gone mid-upload: S3WriteRejected, the upload aborted. The second part may have
/// started before the copy saw the first refused.
#[tokio::test(start_paused = true)]
async fn a_bucket_gone_mid_upload_fails_at_once_and_aborts_the_upload() {
    Row {
        sim: &["--file-size", TWO_PARTS],
        expect: Expect::Failed("S3WriteRejected"),
        says: &["NoSuchBucket"],
        ..Row::new(
            "S3 UploadPart 404 NoSuchBucket",
            vec![Fault::answer(Operation::UploadPart, 404, "NoSuchBucket")],
            (Operation::UploadPart, 1, 2),
        )
    }
    .run()
    .await;
}

/// A paused copy resumes from its checkpoint, trusting the part checksums ListParts gives for
/// the full-object CRC32C; twice ListParts lists a wrong one. The completion is refused (the
/// in-memory bucket checks the full-object CRC32C against the bytes: BadDigest; S3 checks each
/// listed part's: InvalidPart; both are a checksum refused): the copy stops, keeping its whole
/// parts, and the next step, listing the true checksums, completes. 30 MB with
/// STEP_TIME_LIMIT_SECONDS=0: a part and a pause, a part and a pause, the rest (refused), the last
/// part again.
///
/// On the real clock: on a paused one no time passes while a copy step works (its verifier, a
/// blocking task, holds the clock still), so a step limit of 0 s is never passed and the copy
/// never pauses. The waits here are the copy's own, a few seconds.
#[tokio::test]
async fn a_wrong_listed_part_checksum_is_refused_and_the_next_step_completes() {
    Row {
        sim: &["--file-size", "30000000"],
        env: &[("STEP_TIME_LIMIT_SECONDS", "0")],
        max_api_calls: REQUEST_CALLS + 4,
        max_downloads: 4,
        says: &["BadDigest"],
        ..Row::new(
            "ListParts lists a wrong part checksum to a resumed copy",
            vec![Fault::report_crc32c(Operation::ListParts, WRONG_CRC).times(2)],
            (Operation::ListParts, 2, 2),
        )
    }
    .run()
    .await;
}
