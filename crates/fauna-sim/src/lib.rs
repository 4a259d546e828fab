//! `fauna-sim`: a local simulator of Fauna's Logs API (the hosted service is retired).
//!
//! [`serve`] runs it on a listener until a shutdown future resolves: tests start it in-process
//! on port 0, on whatever clock their runtime keeps (every time the simulator reads is tokio's,
//! so a paused clock holds a renewal for minutes in no time). [`main`] is the process around it:
//! argument parsing, logging to stderr, binding and announcing the address on stdout
//! (`fauna-sim listening on http://HOST:PORT`), and a clean shutdown on SIGTERM, SIGINT or (with
//! `--exit-on-stdin-eof`) end of stdin. The exporter's package builds the `fauna-sim` binary
//! from it (`src/bin/fauna-sim.rs`).

mod api;
mod app;
mod body;
mod chaos;
pub mod cli;
mod cli_faults;
mod conn;
mod datadir;
mod faults;
mod filecache;
mod files;
mod logfile;
mod range;
mod record_gen;
mod renewal;
mod state;
mod stats;
mod store;
mod timefmt;

#[cfg(test)]
mod http_tests;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::app::Sim;
pub use crate::cli::Args;
use crate::conn::{ConnHandle, ResettableListener};
use crate::datadir::DataDir;
use crate::faults::Faults;

/// How long open connections (e.g. downloads) may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The simulator's process: parses the arguments, serves until a signal, exits 0 (2 on bad
/// arguments).
pub fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if let Err(message) = args.validate() {
        eprintln!("fauna-sim: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fauna-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let listener = TcpListener::bind(args.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        // The one line tests read to learn the port.
        {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "fauna-sim listening on http://{local}")
                .and_then(|()| out.flush())
                .is_err()
            {
                warn!("could not write the listening line to stdout");
            }
        }
        let exit_on_stdin_eof = args.exit_on_stdin_eof;
        serve(listener, args, async move {
            let reason = shutdown_signal(exit_on_stdin_eof).await;
            info!("shutting down ({reason})");
        })
        .await
    });
    // Do not wait for a file generation that is still running.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the simulator `args` describe on `listener` until `shutdown` resolves, then lets open
/// connections finish for a grace period, stops any file generation and removes its data
/// directory (unless `--data-dir` named one). An error says why it could not serve.
pub async fn serve(
    listener: TcpListener,
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    args.validate()?;
    let data_dir = DataDir::prepare(args.data_dir.clone())
        .map_err(|e| format!("cannot prepare the data directory: {e}"))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let served = run(
        listener,
        args,
        data_dir.path.clone(),
        Arc::clone(&cancel),
        shutdown,
    )
    .await;
    filecache::cancel_generation(&cancel);
    data_dir.cleanup();
    served
}

async fn run(
    listener: TcpListener,
    args: Args,
    data_dir: PathBuf,
    cancel: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let base_url = args
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{local}"));
    let active_faults = Faults::describe(&args.faults);
    let sim = Arc::new(Sim::from_args(&args, base_url, data_dir.clone(), cancel));
    info!(
        addr = %local,
        region_groups = %sim.region_groups.join(","),
        polls_to_complete = args.polls_to_complete,
        url_lifetime_seconds = args.url_lifetime_seconds,
        creating_new_url_polls = args.creating_new_url_polls,
        creating_new_url_seconds = args.creating_new_url_seconds,
        strict_region_group = args.strict_region_group,
        file_size = args.file_size,
        seed = args.seed,
        data_dir = %data_dir.display(),
        faults = %if active_faults.is_empty() { "none".to_owned() } else { active_faults.join(", ") },
        "fauna-sim starting"
    );

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let service = app::router(sim).into_make_service_with_connect_info::<ConnHandle>();
    let server =
        axum::serve(ResettableListener(listener), service).with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        });
    let mut server = tokio::spawn(async move { server.await });

    tokio::select! {
        () = shutdown => {}
        joined = &mut server => {
            return match joined {
                Ok(Ok(())) => Err("the server stopped unexpectedly".into()),
                Ok(Err(e)) => Err(format!("server error: {e}")),
                Err(e) => Err(format!("server task failed: {e}")),
            };
        }
    };
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!("server error during shutdown: {e}"),
        Ok(Err(e)) => warn!("server task failed during shutdown: {e}"),
        Err(_) => info!("closing connections still open after the grace period"),
    }
    Ok(())
}

/// Resolves with the reason once SIGINT, SIGTERM or (optionally) end of stdin arrives.
async fn shutdown_signal(watch_stdin: bool) -> &'static str {
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    if watch_stdin {
        let tx = tx.clone();
        // A plain thread: tokio's stdin read cannot be cancelled and would hold up shutdown.
        let spawned = std::thread::Builder::new()
            .name("stdin-eof".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 1024];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send("stdin closed");
            });
        if let Err(e) = spawned {
            warn!("cannot watch stdin: {e}");
        }
    }
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send("SIGINT");
            }
        });
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if term.recv().await.is_some() {
                        let _ = tx.send("SIGTERM");
                    }
                });
            }
            Err(e) => warn!("cannot listen for SIGTERM: {e}"),
        }
    }
    drop(tx);
    match rx.recv().await {
        Some(reason) => reason,
        // Every watcher failed to start: run until killed.
        None => std::future::pending().await,
    }
}
