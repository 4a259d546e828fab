//! Seeded probabilistic faults: the chaos mode (`--chaos-seed`, `--chaos-percent`,
//! `--chaos-kinds`, `--chaos-stall-ms`).
//!
//! Owns the mode's random generator and its decisions. Each API call (past the account-key
//! check) and each file download (a `GET` whose URL passed its checks) draws once: with
//! probability P % it gets one fault, chosen uniformly among the enabled kinds that apply to it
//! (API calls: 429, 503, a reset after the call took effect, and for a `POST /api/v1/logs` a
//! request that ends `Failed`; downloads: the URL expires, the body is cut, or it stalls and is
//! then cut), with a random point in the body for a cut or a stall. Every draw takes the same
//! values from one generator seeded with the seed, so the same seed and the same order of calls
//! give the same faults. The counters of what it injected are in `stats.rs`.

use std::sync::Mutex;
use std::time::Duration;

use clap::ValueEnum;

use crate::cli_faults::FaultArgs;
use crate::stats::{ChaosCounters, bump};

/// The chance of a fault when `--chaos-seed` is given without `--chaos-percent`.
pub const DEFAULT_PERCENT: u8 = 5;
/// How long a chaos stall lasts when `--chaos-stall-ms` is not given.
pub const DEFAULT_STALL_MS: u64 = 3000;

/// A kind of fault the chaos mode injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum ChaosKind {
    /// API call answered 429 with `Retry-After: --retry-after`.
    Throttle,
    /// API call answered 503.
    ServerError,
    /// API call takes effect, then its connection is reset with no answer.
    Reset,
    /// `POST /api/v1/logs` that creates a request: the request ends `Failed`.
    Failed,
    /// Download refused 403 "Request has expired": the URL expires now, for good.
    ExpiredUrl,
    /// Download body cut at a random byte.
    Drop,
    /// Download body stops at a random byte, stays silent for `--chaos-stall-ms`, then is cut.
    Stall,
}

impl ChaosKind {
    pub const ALL: [ChaosKind; 7] = [
        ChaosKind::Throttle,
        ChaosKind::ServerError,
        ChaosKind::Reset,
        ChaosKind::Failed,
        ChaosKind::ExpiredUrl,
        ChaosKind::Drop,
        ChaosKind::Stall,
    ];

    fn applies_to_api(self, creates_request: bool) -> bool {
        match self {
            ChaosKind::Throttle | ChaosKind::ServerError | ChaosKind::Reset => true,
            ChaosKind::Failed => creates_request,
            ChaosKind::ExpiredUrl | ChaosKind::Drop | ChaosKind::Stall => false,
        }
    }

    fn applies_to_download(self) -> bool {
        matches!(
            self,
            ChaosKind::ExpiredUrl | ChaosKind::Drop | ChaosKind::Stall
        )
    }

    /// Its name on the command line and in `/_sim/stats`' `chaos` object (with `_`).
    pub fn name(self) -> &'static str {
        match self {
            ChaosKind::Throttle => "throttle",
            ChaosKind::ServerError => "server_error",
            ChaosKind::Reset => "reset",
            ChaosKind::Failed => "failed",
            ChaosKind::ExpiredUrl => "expired_url",
            ChaosKind::Drop => "drop",
            ChaosKind::Stall => "stall",
        }
    }
}

/// What one draw decided for a download: the fault, and where in the body a cut or a stall
/// happens, as a fraction of the body in `[0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DownloadChaos {
    pub kind: ChaosKind,
    pub at: f64,
}

impl DownloadChaos {
    /// The byte of a `len`-byte body where the cut or stall happens (always inside the body).
    pub fn offset(&self, len: u64) -> u64 {
        let at = (len as f64 * self.at) as u64;
        at.min(len.saturating_sub(1))
    }
}

/// The chaos mode: off unless `--chaos-seed` is given.
#[derive(Debug)]
pub struct Chaos {
    percent: u8,
    kinds: Vec<ChaosKind>,
    pub stall: Duration,
    rng: Mutex<fastrand::Rng>,
}

impl Chaos {
    pub fn from_args(args: &FaultArgs) -> Option<Chaos> {
        let seed = args.chaos_seed?;
        let mut kinds: Vec<ChaosKind> = if args.chaos_kinds.is_empty() {
            ChaosKind::ALL.to_vec()
        } else {
            args.chaos_kinds.clone()
        };
        // The order of the list must not change what a seed means.
        kinds.sort_by_key(|k| ChaosKind::ALL.iter().position(|a| a == k));
        kinds.dedup();
        Some(Chaos {
            percent: args.chaos_percent.unwrap_or(DEFAULT_PERCENT),
            kinds,
            stall: Duration::from_millis(args.chaos_stall_ms.unwrap_or(DEFAULT_STALL_MS)),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        })
    }

    /// One draw: the same three values every time (whether a fault, which one, where), so that
    /// the stream of draws does not depend on what was decided.
    fn draw(&self, applies: impl Fn(ChaosKind) -> bool) -> Option<DownloadChaos> {
        let (roll, pick, at) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.u8(0..100), rng.usize(..), rng.f64())
        };
        if roll >= self.percent {
            return None;
        }
        let candidates: Vec<ChaosKind> =
            self.kinds.iter().copied().filter(|k| applies(*k)).collect();
        if candidates.is_empty() {
            return None;
        }
        Some(DownloadChaos {
            kind: candidates[pick % candidates.len()],
            at,
        })
    }

    /// The fault of an API call, if it gets one; `creates_request` for `POST /api/v1/logs`.
    pub fn api_call(&self, counters: &ChaosCounters, creates_request: bool) -> Option<ChaosKind> {
        bump(&counters.api_draws);
        self.draw(|k| k.applies_to_api(creates_request))
            .map(|d| d.kind)
    }

    /// The fault of a download, if it gets one.
    pub fn download(&self, counters: &ChaosCounters) -> Option<DownloadChaos> {
        bump(&counters.download_draws);
        self.draw(ChaosKind::applies_to_download)
    }

    /// Names of the mode's settings, for the startup log line.
    pub fn describe(args: &FaultArgs) -> Option<String> {
        let seed = args.chaos_seed?;
        let kinds: Vec<&str> = if args.chaos_kinds.is_empty() {
            vec!["all"]
        } else {
            args.chaos_kinds.iter().map(|k| k.name()).collect()
        };
        Some(format!(
            "chaos seed={seed} percent={} kinds={} stall_ms={}",
            args.chaos_percent.unwrap_or(DEFAULT_PERCENT),
            kinds.join(","),
            args.chaos_stall_ms.unwrap_or(DEFAULT_STALL_MS)
        ))
    }
}

/// A `POST /api/v1/logs` whose chaos draw chose [`ChaosKind::Failed`]: the request it creates
/// (if it creates one) ends `Failed`. Passed from the API guard to the handler as a request
/// extension.
#[derive(Clone, Copy, Debug)]
pub struct FailThisRequest;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn chaos(extra: &[&str]) -> Chaos {
        let base = ["fauna-sim", "--account-key", "k"];
        let args = crate::cli::Args::try_parse_from(base.iter().chain(extra))
            .unwrap_or_else(|e| panic!("{e}"));
        args.validate().unwrap_or_else(|e| panic!("{e}"));
        Chaos::from_args(&args.faults).unwrap_or_else(|| panic!("chaos is off"))
    }

    fn api_draws(c: &Chaos, n: usize) -> Vec<Option<ChaosKind>> {
        let counters = ChaosCounters::default();
        (0..n).map(|i| c.api_call(&counters, i % 3 == 0)).collect()
    }

    #[test]
    fn a_seed_decides_the_faults() {
        let a = api_draws(&chaos(&["--chaos-seed", "7", "--chaos-percent", "30"]), 500);
        let b = api_draws(&chaos(&["--chaos-seed", "7", "--chaos-percent", "30"]), 500);
        let c = api_draws(&chaos(&["--chaos-seed", "8", "--chaos-percent", "30"]), 500);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let faulted = a.iter().flatten().count();
        assert!((100..=200).contains(&faulted), "{faulted} of 500 at 30 %");
        // Failed only on calls that create a request (every third one here).
        for (i, d) in a.iter().enumerate() {
            assert!(*d != Some(ChaosKind::Failed) || i % 3 == 0, "{i}: {d:?}");
            assert!(!matches!(
                d,
                Some(ChaosKind::Drop | ChaosKind::Stall | ChaosKind::ExpiredUrl)
            ));
        }
        for kind in [
            ChaosKind::Throttle,
            ChaosKind::ServerError,
            ChaosKind::Reset,
            ChaosKind::Failed,
        ] {
            assert!(a.contains(&Some(kind)), "{kind:?} never drawn");
        }
    }

    #[test]
    fn the_order_of_the_kinds_does_not_change_a_seed() {
        let a = api_draws(
            &chaos(&["--chaos-seed", "3", "--chaos-kinds", "reset,throttle"]),
            300,
        );
        let b = api_draws(
            &chaos(&["--chaos-seed", "3", "--chaos-kinds", "throttle,reset,reset"]),
            300,
        );
        assert_eq!(a, b);
        assert!(
            a.iter()
                .flatten()
                .all(|k| matches!(k, ChaosKind::Reset | ChaosKind::Throttle))
        );
    }

    #[test]
    fn zero_and_a_hundred_percent() {
        assert!(
            api_draws(&chaos(&["--chaos-seed", "1", "--chaos-percent", "0"]), 300)
                .iter()
                .all(Option::is_none)
        );
        let c = chaos(&["--chaos-seed", "1", "--chaos-percent", "100"]);
        let counters = ChaosCounters::default();
        for _ in 0..300 {
            let d = c.download(&counters).unwrap_or_else(|| panic!("no fault"));
            assert!(d.kind.applies_to_download(), "{d:?}");
            assert!((0.0..1.0).contains(&d.at));
            assert!(d.offset(1000) < 1000 && d.offset(1) == 0);
        }
        let snapshot = counters.snapshot();
        assert_eq!((snapshot.download_draws, snapshot.api_draws), (300, 0));
    }
}
